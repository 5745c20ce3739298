// EventRecorder: records an event about an object in the store, in the log and in the event
// metric, in one call. Failing to store an event is logged, never fatal. Thread-safe.
#pragma once

#include <string>

#include "common/clock.h"
#include "providers/notify/notifier.h"
#include "metrics/controller_metrics.h"
#include "reconciler/store/store.h"

namespace vmk::reconciler {

class EventRecorder {
 public:
  EventRecorder(Store* store, Clock* clock, metrics::ControllerMetrics* metrics)
      : store_(store), clock_(clock), metrics_(metrics) {}

  void Normal(specs::Kind kind, const std::string& name, const std::string& reason,
              const std::string& message) {
    Record(kind, name, "Normal", reason, message);
  }
  void Warning(specs::Kind kind, const std::string& name, const std::string& reason,
               const std::string& message) {
    Record(kind, name, "Warning", reason, message);
  }

  // Warnings that need a person (the controller gave up, or is blocked by design) also go to
  // the admins' notifier: RestartLimitReached, FencingFailed, FailoverBlocked, and of storage
  // (ChangeFailed, RolledBack, RollbackFailed). Set before use.
  void SetNotifier(providers::Notifier* notifier) { notifier_ = notifier; }

 private:
  void Record(specs::Kind kind, const std::string& name, const std::string& type,
              const std::string& reason, const std::string& message);

  Store* const store_;
  Clock* const clock_;
  metrics::ControllerMetrics* const metrics_;
  providers::Notifier* notifier_ = nullptr;
};

}  // namespace vmk::reconciler
