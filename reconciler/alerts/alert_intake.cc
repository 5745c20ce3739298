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
      if (is_host && ctx_.signals) ctx_.signals->SetAlert(signal.name, false, signal.alert_name);
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
      // Evidence of its own channel (docs/failure-detection.md): with a refused connection and
      // no probes to say otherwise it fails the host over at once; it never outweighs guests
      // that answer, nor a heartbeat that does. A heartbeat now, not at its phase.
      if (ctx_.signals) ctx_.signals->SetAlert(signal.name, true, signal.alert_name);
      ctx_.queue->Add(HeartbeatKey(signal.name));
      ctx_.queue->Add(HostKey(signal.name));
    } else {
      ctx_.queue->Add(VmKey(signal.name));
    }
  }
  return outcome;
}

}  // namespace vmk::reconciler
