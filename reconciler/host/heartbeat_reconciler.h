// HeartbeatReconciler: the "heartbeat" reconciler. One heartbeat of a host: a cheap call on its
// live connection (Hypervisor::CheckAlive, which never waits behind a slow call), never a
// reconnect (a dead host would stall the heartbeats). Feeds the HostHealthBook; on a change of
// verdict (HostSuspect, HostNotReady) it records an event and enqueues the host, whose
// reconcile handles the failure. Asks to run again after the heartbeat interval (or exactly
// when a suspect host's failures span the threshold), until the host is gone.
// Thread-safe for different names.
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

// The event of a host health change (HostSuspect, HostNotReady), whoever saw it: a heartbeat or
// the host's own reconcile.
void ReportHostHealthChange(const ReconcileContext& ctx, const std::string& host,
                            HostHealthState now, const std::string& error);

}  // namespace vmk::reconciler
