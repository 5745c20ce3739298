#include "reconciler/health/alert_dedup.h"

#include <algorithm>
#include <iterator>
#include <utility>

namespace vmk::providers {

const char* AlertVerdictName(AlertVerdict verdict) {
  switch (verdict) {
    case AlertVerdict::kNew:
      return "New";
    case AlertVerdict::kRepeat:
      return "Repeat";
    case AlertVerdict::kResolved:
      return "Resolved";
    case AlertVerdict::kResolvedUnknown:
      return "ResolvedUnknown";
  }
  return "Unknown";
}

AlertDeduplicator::AlertDeduplicator(Clock* clock, AlertDedupOptions options)
    : clock_(clock), options_(options) {}

std::string AlertDeduplicator::KeyOf(const AlertSignal& signal) {
  // Target names are DNS labels (no '/'), so the key cannot be ambiguous whatever the
  // fingerprint holds.
  std::string key = signal.target == AlertSignal::Target::kHost ? "host/" : "vm/";
  key += signal.name;
  key += '/';
  key += signal.fingerprint;
  return key;
}

void AlertDeduplicator::DropExpiredLocked(MonoTime now) {
  while (!by_last_seen_.empty()) {
    auto it = active_.find(by_last_seen_.front());
    if (now - it->second.last_seen < options_.expiry) break;
    EraseLocked(it);
  }
}

void AlertDeduplicator::TouchLocked(Entry* entry, MonoTime now) {
  entry->last_seen = now;
  by_last_seen_.splice(by_last_seen_.end(), by_last_seen_, entry->position);
}

void AlertDeduplicator::EraseLocked(std::unordered_map<std::string, Entry>::iterator it) {
  by_last_seen_.erase(it->second.position);
  active_.erase(it);
}

AlertVerdict AlertDeduplicator::Observe(const AlertSignal& signal) {
  std::string key = KeyOf(signal);
  MutexLock lock(&mu_);
  // Read under the lock so that touches happen in clock order (see by_last_seen_).
  const MonoTime now = clock_->Now();
  DropExpiredLocked(now);
  auto it = active_.find(key);

  if (!signal.firing) {
    if (it == active_.end() || signal.starts_at < it->second.starts_at) {
      return AlertVerdict::kResolvedUnknown;
    }
    EraseLocked(it);
    return AlertVerdict::kResolved;
  }

  if (it != active_.end()) {
    Entry& entry = it->second;
    TouchLocked(&entry, now);
    if (signal.starts_at > entry.starts_at) {
      entry.starts_at = signal.starts_at;
      return AlertVerdict::kNew;
    }
    // Alertmanager merges copies of one alert keeping the earliest startsAt; so do we.
    entry.starts_at = signal.starts_at;
    return AlertVerdict::kRepeat;
  }

  const std::size_t max_active = std::max<std::size_t>(options_.max_active, 1);
  while (active_.size() >= max_active) {
    EraseLocked(active_.find(by_last_seen_.front()));
  }
  by_last_seen_.push_back(key);
  Entry entry{signal.starts_at, now, std::prev(by_last_seen_.end())};
  active_.emplace(std::move(key), entry);
  return AlertVerdict::kNew;
}

std::size_t AlertDeduplicator::ActiveCount() {
  MutexLock lock(&mu_);
  DropExpiredLocked(clock_->Now());
  return active_.size();
}

}  // namespace vmk::providers
