// HostReconciler: keeps one Host's connection and observed state current (level-triggered).
//
// Each call connects if needed, lists the host's domains into the cache, writes the host's
// status (Ready, capacity, allocation) and enqueues the VMs that need a look: those placed there
// when the host changes reachability, and vmkeeper-owned domains found there that are not
// placed there (stray copies, orphans of deleted VMs). A Host whose object is gone has its
// leftover owned domains of deleted VMs removed, then its connection closed.
//
// Host failure (flow 1 of the design): when its heartbeats make it NotReady, the host's VMs are
// failed over in steps, each recorded (synced) in the host's status before it is taken:
// Fencing (run the fence agent; without one, only `acknowledgeUnsafe: true` lets it go on) →
// Relocating (each VM, highest priority first, is booked on another host through the scheduler
// and its new host written to its status) → Relocated. When fencing fails nothing fails over:
// the host gets Fenced=False/FencingFailed, an event and a metric, and fencing is retried with
// backoff. When the host answers again, the copies it still has of VMs now placed elsewhere are
// destroyed and undefined before it is used again.
// Thread-safe for different keys.
#pragma once

#include <string>

#include "metrics/controller_metrics.h"
#include "reconciler/core/object_status.h"
#include "reconciler/core/reconcile_context.h"

namespace vmk::reconciler {

class HostReconciler {
 public:
  HostReconciler(ReconcileContext ctx, metrics::ControllerMetrics* metrics)
      : ctx_(ctx), metrics_(metrics) {}
  ReconcileResult Reconcile(const std::string& name);
  // One heartbeat of the host (a cheap call on its live connection). Feeds the HostHealthBook;
  // on a change of verdict it records an event and enqueues the host. Asks to run again after
  // the heartbeat interval, until the host is gone.
  ReconcileResult Heartbeat(const std::string& name);

 private:
  ReconcileResult Remove(const std::string& name);
  ReconcileResult HandleFailure(const specs::Object& object, const specs::HostSpec& spec,
                                HostEntry& entry, HostStatus status);
  ReconcileResult Relocate(const std::string& host, HostStatus* status);
  // Destroys and undefines what a returning host still has of VMs placed elsewhere; returns the
  // names removed.
  StatusOr<std::vector<std::string>> RemoveStaleCopies(const std::string& host,
                                                       providers::Hypervisor& conn,
                                                       const std::vector<providers::DomainInfo>& domains);
  Status WriteStatus(const std::string& host, const HostStatus& status, bool sync);
  // The event of a host health change (HostSuspect, HostNotReady), whoever saw it.
  void ReportHealthChange(const std::string& name, HostHealthState now, const std::string& error);

  ReconcileContext ctx_;
  metrics::ControllerMetrics* const metrics_;
};

}  // namespace vmk::reconciler
