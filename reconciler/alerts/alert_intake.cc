#include "reconciler/alerts/alert_intake.h"

#include <optional>
#include <string>

namespace vmk::reconciler {

using specs::Kind;

AlertIntake::AlertIntake(ReconcileContext ctx, providers::AlertDedupOptions dedup)
    : ctx_(ctx), dedup_(ctx.clock, dedup) {}

StatusOr<AlertIntakeOutcome> AlertIntake::Ingest(
    const std::vector<providers::AlertSignal>& signals) {
  AlertIntakeOutcome outcome;
  for (const auto& signal : signals) {
    const bool is_host = signal.target == providers::AlertSignal::Target::kHost;
    const Kind kind = is_host ? Kind::kHost : Kind::kVirtualMachine;
    VMK_ASSIGN_OR_RETURN(std::optional<specs::Object> object, ctx_.store->Get(kind, signal.name));
    if (!object) {
      outcome.skipped.push_back(signal.alert_name + ": no " + std::string(specs::KindName(kind)) +
                                " named " + signal.name);
      continue;
    }
    if (dedup_.Observe(signal) == providers::AlertVerdict::kRepeat) {
      ++outcome.repeated;
      continue;
    }
    ++outcome.accepted;
    const std::string what =
        signal.alert_name + (signal.summary.empty() ? "" : ": " + signal.summary);
    if (!signal.firing) {
      // A resolved alert proves nothing: the reconcilers look and decide.
      ctx_.events->Normal(kind, signal.name, "AlertResolved", what);
      ctx_.queue->Add(is_host ? HostKey(signal.name) : VmKey(signal.name));
      continue;
    }
    ctx_.events->Warning(kind, signal.name, "AlertFiring", what);
    VMK_RETURN_IF_ERROR(ctx_.incidents
                            ->Open(kind, signal.name, is_host ? "HostFailure" : "VmAlert",
                                   signal.starts_at, "alert")
                            .status());
    if (is_host) {
      // One failed heartbeat's worth of evidence: it can hasten a NotReady verdict that the
      // heartbeats confirm, never replace it (a host that answers is Ready again at once).
      ctx_.health->RecordFailure(signal.name, ctx_.clock->Now(),
                                 "alert " + signal.alert_name + " firing");
      ctx_.queue->Add(HeartbeatKey(signal.name));
      ctx_.queue->Add(HostKey(signal.name));
    } else {
      ctx_.queue->Add(VmKey(signal.name));
    }
  }
  return outcome;
}

}  // namespace vmk::reconciler
