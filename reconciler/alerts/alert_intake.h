// AlertIntake: turns alerts (Alertmanager's, already parsed into providers::AlertSignals) into
// failure signals for the reconcile logic. An alert is one more signal into the same path as
// heartbeats and lifecycle events: a firing alert records an event, opens (or joins) its
// object's incident with the alert's startsAt as evidence, and asks for a look at once; for a
// host it also counts as one failed heartbeat in the HostHealthBook. It never fences or fails a
// host over by itself: the heartbeats decide, so a wrong alert cannot make a VM run twice.
// Alertmanager re-sends every alert of a group many times; repeats are dropped (remembered by
// the AlertDeduplicator this intake owns, so they live as long as the controller process).
// Thread-safe (everything it touches through the ReconcileContext is).
#pragma once

#include <vector>

#include "common/status.h"
#include "reconciler/health/alert_dedup.h"
#include "providers/alerts/alert_signal.h"
#include "reconciler/core/reconcile_context.h"

namespace vmk::reconciler {

// What an Alertmanager webhook delivery did.
struct AlertIntakeOutcome {
  int accepted = 0;   // new failure signals (or resolutions) taken into the failure handling
  int repeated = 0;   // notifications of alerts already known (Alertmanager re-sends them)
  std::vector<std::string> skipped;  // alerts that name no known host or VM, with the reason
};


class AlertIntake {
 public:
  // Uses ctx.store, ctx.events, ctx.incidents, ctx.health, ctx.queue and ctx.clock (all
  // required); they must outlive the intake.
  explicit AlertIntake(ReconcileContext ctx, providers::AlertDedupOptions dedup = {});

  AlertIntake(const AlertIntake&) = delete;
  AlertIntake& operator=(const AlertIntake&) = delete;

  // Takes one delivery's signals, in order. Signals naming no stored Host or VirtualMachine go
  // to outcome.skipped. A store failure stops the intake there and is returned (Alertmanager
  // retries a failed delivery; what was taken before is then a repeat).
  StatusOr<AlertIntakeOutcome> Ingest(const std::vector<providers::AlertSignal>& signals);

 private:
  ReconcileContext ctx_;
  providers::AlertDeduplicator dedup_;
};

}  // namespace vmk::reconciler
