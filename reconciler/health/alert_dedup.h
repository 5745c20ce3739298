// AlertDeduplicator: tells a new alert from a re-sent one. Alertmanager re-sends every firing
// alert of a group each repeat_interval, and re-sends the whole group whenever any alert in it
// changes, so one failure arrives many times. The deduplicator remembers the active alerts by
// fingerprint and target; a firing alert already remembered is a repeat, not a new signal; a
// resolved one is forgotten. Memory is bounded: an alert not seen again for `expiry` is
// forgotten (its resolved notification was lost, or send_resolved is off), and beyond
// `max_active` alerts the least recently seen is forgotten first. Forgetting only risks one
// extra "new" signal, which the incident tracker absorbs like a duplicate from another source.
// Time comes from the Clock. Thread-safe.
#pragma once

#include <chrono>
#include <cstddef>
#include <list>
#include <string>
#include <unordered_map>

#include "common/clock.h"
#include "common/mutex.h"
#include "providers/alerts/alert_signal.h"

namespace vmk::providers {

struct AlertDedupOptions {
  // Must exceed Alertmanager's repeat_interval (4h by default): a firing alert is refreshed by
  // each re-send, and one forgotten while it still fires comes back as new.
  Duration expiry = std::chrono::hours(12);
  // At most this many active alerts are remembered (at least 1).
  std::size_t max_active = 10000;
};

enum class AlertVerdict {
  kNew,              // firing and not active before: a new failure signal
  kRepeat,           // firing and already active: a re-send of a signal already given
  kResolved,         // resolved and was active: now forgotten
  kResolvedUnknown,  // resolved but not active (never seen, forgotten, or an earlier occurrence)
};

// "New", "Repeat", "Resolved", "ResolvedUnknown": for logs and metric labels.
const char* AlertVerdictName(AlertVerdict verdict);

class AlertDeduplicator {
 public:
  // `clock` must outlive the deduplicator.
  explicit AlertDeduplicator(Clock* clock, AlertDedupOptions options = {});

  AlertDeduplicator(const AlertDeduplicator&) = delete;
  AlertDeduplicator& operator=(const AlertDeduplicator&) = delete;

  // Records one alert notification and says what it is. A firing alert whose startsAt is later
  // than the remembered one is a new occurrence (the alert resolved and fired again while the
  // resolved notification was lost or not sent), so it is kNew. A resolved alert whose startsAt
  // is earlier than the remembered one belongs to an earlier occurrence and leaves the current
  // one active (kResolvedUnknown).
  AlertVerdict Observe(const AlertSignal& signal);

  // Active alerts remembered now (expired ones are dropped first).
  std::size_t ActiveCount();

 private:
  struct Entry {
    WallTime starts_at;
    MonoTime last_seen;
    std::list<std::string>::iterator position;  // in by_last_seen_
  };

  static std::string KeyOf(const AlertSignal& signal);
  void DropExpiredLocked(MonoTime now) REQUIRES(mu_);
  void TouchLocked(Entry* entry, MonoTime now) REQUIRES(mu_);
  void EraseLocked(std::unordered_map<std::string, Entry>::iterator it) REQUIRES(mu_);

  Clock* const clock_;
  const AlertDedupOptions options_;
  Mutex mu_;
  std::unordered_map<std::string, Entry> active_ GUARDED_BY(mu_);
  // Keys, least recently seen first. Every touch moves a key to the back at the clock's (never
  // decreasing) Now(), so the list stays sorted by last_seen and expiry only looks at the front.
  std::list<std::string> by_last_seen_ GUARDED_BY(mu_);
};

}  // namespace vmk::providers
