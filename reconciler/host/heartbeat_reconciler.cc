#include "reconciler/host/heartbeat_reconciler.h"

namespace vmk::reconciler {

using specs::Kind;

ReconcileResult HeartbeatReconciler::Reconcile(const ReconcileRequest& request) {
  const std::string& name = request.name;
  auto entry = ctx_.hosts->Get(name);
  if (!entry || !ctx_.health) return ReconcileResult::Done();
  auto& conn = *entry->connection();
  const MonoTime start = ctx_.clock->Now();
  Status beat = conn.IsAlive() ? conn.CheckAlive() : Status::Unavailable("not connected");
  if (ctx_.metrics) {
    ctx_.metrics->ObserveHeartbeat(
        name, beat.ok(), std::chrono::duration<double>(ctx_.clock->Now() - start).count());
  }
  auto [before, after] =
      beat.ok() ? ctx_.health->RecordSuccess(name, ctx_.clock->Now(), ctx_.clock->WallNow())
                : ctx_.health->RecordFailure(name, ctx_.clock->Now(), beat.message());
  if (before != after) {
    ReportHostHealthChange(ctx_, name, after, beat.message());
    ctx_.queue->Add(HostKey(name));
  }
  return ReconcileResult::After(ctx_.health->NextHeartbeatIn(name, ctx_.clock->Now()));
}

void ReportHostHealthChange(const ReconcileContext& ctx, const std::string& host,
                            HostHealthState now, const std::string& error) {
  if (now == HostHealthState::kSuspect) {
    ctx.events->Warning(Kind::kHost, host, "HostSuspect", "heartbeat failed: " + error);
  } else if (now == HostHealthState::kNotReady) {
    ctx.events->Warning(Kind::kHost, host, "HostNotReady",
                        std::to_string(ctx.health->Get(host).consecutive_failures) +
                            " heartbeats failed: " + error);
  }
}

}  // namespace vmk::reconciler
