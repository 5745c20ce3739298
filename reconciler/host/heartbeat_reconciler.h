// HeartbeatReconciler: the "heartbeat" reconciler. One heartbeat of a host
// (Hypervisor::Heartbeat: over a connection of its own, bounded by the heartbeat timeout, a
// beat still unanswered counting as no answer at once) feeds the HostHealthBook with its
// outcome and the time it was sent. When a host's heartbeats start failing, the probes of its
// VMs are asked to run now (the data plane's evidence, docs/failure-detection.md); when they
// reach NotReady, the calls in flight on its main connection are abandoned (they would hold the
// host's reconcile until keepalive or libvirt's own timeouts); on a change of verdict
// (HostSuspect, HostNotReady) an event is recorded and the host enqueued, whose reconcile
// decides. Asks to run again after the heartbeat interval (or exactly when a suspect host's
// failures span the threshold), until the host is gone. Thread-safe for different names.
#pragma once

#include <string>

#include "reconciler/core/reconcile_context.h"
#include "reconciler/core/reconciler.h"
#include "reconciler/health/host_health.h"

namespace vmk::reconciler {

class HeartbeatReconciler : public Reconciler {
 public:
  explicit HeartbeatReconciler(ReconcileContext ctx) : ctx_(ctx) {}
  std::string_view Name() const override { return kHeartbeatReconciler; }
  ReconcileResult Reconcile(const ReconcileRequest& request) override;

 private:
  ReconcileContext ctx_;
};

// The event of a host health change (HostSuspect, HostNotReady), whoever saw it.
void ReportHostHealthChange(const ReconcileContext& ctx, const std::string& host,
                            HostHealthState now, const std::string& error);

// Asks the probes of every VM placed on `host` to run now (their probe keys enqueued).
void ProbeVmsOfHostNow(const ReconcileContext& ctx, const std::string& host);

}  // namespace vmk::reconciler
