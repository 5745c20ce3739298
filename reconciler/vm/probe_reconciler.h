// ProbeReconciler: the "probe" reconciler. One health probe of a VM that declares spec.health
// and runs (HTTP, TCP or exec, through the Prober edge), fed to the VM's ProbeTracker in the
// VmHealthBook. On a change of verdict it records an event (Unhealthy, Healthy) and enqueues the
// VM, whose reconcile restarts it within spec.restart. Asks to run again after the probe period,
// until the VM no longer declares a probe or is gone.
//
// Probe keys run on a queue and workers of their own (ReconcileContext::probe_queue): a probe
// waiting for its timeout never holds a worker that a failover needs. Thread-safe for
// different names.
#pragma once

#include "reconciler/core/reconcile_context.h"
#include "reconciler/core/reconciler.h"

namespace vmk::reconciler {

class ProbeReconciler : public Reconciler {
 public:
  explicit ProbeReconciler(ReconcileContext ctx) : ctx_(ctx) {}
  std::string_view Name() const override { return kProbeReconciler; }
  ReconcileResult Reconcile(const ReconcileRequest& request) override;

 private:
  // Runs the probe and reports a change of verdict.
  void ProbeNow(const std::string& name, const specs::HealthSpec& health);

  ReconcileContext ctx_;
};

}  // namespace vmk::reconciler
