#include "reconciler/incidents/event_recorder.h"

#include "common/log.h"

namespace vmk::reconciler {

void EventRecorder::Record(specs::Kind kind, const std::string& name, const std::string& type,
                           const std::string& reason, const std::string& message) {
  Event e;
  e.time = FormatRfc3339(clock_->WallNow());
  e.kind = kind;
  e.name = name;
  e.type = type;
  e.reason = reason;
  e.message = message;
  log::Write(type == "Warning" ? log::Level::kWarning : log::Level::kInfo, message,
             {{"event", reason}, {"object", std::string(specs::KindName(kind)) + "/" + name}});
  if (metrics_) {
    metrics_->CountEvent(type, reason);
    // The per-VM outcomes whose one place of record is their event.
    if (kind == specs::Kind::kVirtualMachine) {
      if (reason == "RolledBack" || reason == "RollbackFailed") {
        metrics_->vms().CountRollback(name, reason == "RolledBack");
      } else if (reason == "SnapshotTaken" || reason == "SnapshotFailed") {
        metrics_->vms().CountSnapshot(name, reason == "SnapshotTaken");
      }
    }
  }
  if (notifier_ && type == "Warning" &&
      (reason == "RestartLimitReached" || reason == "FencingFailed" ||
       reason == "FailoverBlocked" || reason == "ChangeFailed" || reason == "RolledBack" ||
       reason == "RollbackFailed" || reason == "ManagementUnreachable")) {
    providers::Notification n;
    n.kind = std::string(specs::KindName(kind));
    n.name = name;
    n.event = reason == "RestartLimitReached" ? "GaveUp" : reason;
    n.message = message;
    n.detected = e.time;
    notifier_->Notify(std::move(n));
  }
  auto seq = store_->AppendEvent(std::move(e));
  if (!seq.ok()) {
    log::Error("cannot store event", {{"reason", reason}, {"error", seq.status().ToString()}});
  }
}

}  // namespace vmk::reconciler
