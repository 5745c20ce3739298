#include "reconciler/host/heartbeat_reconciler.h"

namespace vmk::reconciler {

using specs::Kind;

ReconcileResult HeartbeatReconciler::Reconcile(const ReconcileRequest& request) {
  const std::string& name = request.name;
  auto entry = ctx_.hosts->Get(name);
  if (!entry || !ctx_.health) return ReconcileResult::Done();
  auto& conn = *entry->connection();
  const MonoTime sent = ctx_.clock->Now();
  const auto timeout =
      std::chrono::duration_cast<std::chrono::milliseconds>(ctx_.health->options().timeout);
  providers::HeartbeatResult beat = conn.Heartbeat(timeout);
  if (ctx_.metrics) {
    ctx_.metrics->ObserveHeartbeat(
        name, beat.ok(), std::chrono::duration<double>(ctx_.clock->Now() - sent).count());
  }
  auto [before, after] =
      beat.ok() ? ctx_.health->RecordSuccess(name, ctx_.clock->Now(), ctx_.clock->WallNow())
                : ctx_.health->RecordFailure(name, sent, beat.message, beat.outcome);
  if (before != after) {
    if (before == HostHealthState::kReady || before == HostHealthState::kUnknown) {
      // The management plane went quiet: fresh evidence from the guests themselves, now rather
      // than at their next period, so the verdict at NotReady can weigh it.
      if (after != HostHealthState::kReady) ProbeVmsOfHostNow(ctx_, name);
    }
    if (after == HostHealthState::kNotReady) {
      // A call hung on the main connection would hold the host's reconcile (and with it the
      // decision) until keepalive closes it or libvirt times out.
      conn.Abandon();
    }
    ReportHostHealthChange(ctx_, name, after, beat.message);
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

void ProbeVmsOfHostNow(const ReconcileContext& ctx, const std::string& host) {
  if (!ctx.vm_health || !ctx.prober) return;
  for (const auto& vm : ctx.book->VmsOn(host)) {
    if (ctx.vm_health->ProbeSoon(vm)) ProbeQueueOf(ctx).Add(ProbeKey(vm));
  }
}

}  // namespace vmk::reconciler
