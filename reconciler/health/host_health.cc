#include "reconciler/health/host_health.h"

namespace vmk::reconciler {

const char* HostHealthStateName(HostHealthState state) {
  switch (state) {
    case HostHealthState::kUnknown: return "Unknown";
    case HostHealthState::kReady: return "Ready";
    case HostHealthState::kSuspect: return "Suspect";
    case HostHealthState::kNotReady: return "NotReady";
  }
  return "Unknown";
}

bool HostHealth::RecordSuccess(MonoTime now, WallTime wall_now) {
  (void)now;
  failures_ = 0;
  last_error_.clear();
  last_outcome_ = HeartbeatOutcome::kAnswered;
  last_good_ = wall_now;
  ever_good_ = true;
  bool changed = state_ != HostHealthState::kReady;
  state_ = HostHealthState::kReady;
  return changed;
}

bool HostHealth::RecordFailure(MonoTime now, const std::string& error,
                               HeartbeatOutcome outcome) {
  if (failures_ == 0) first_failure_ = now;
  // Beats are recorded when they end, and a hung one ends after a later refused one may have:
  // the run began at the earliest send.
  if (now < first_failure_) first_failure_ = now;
  ++failures_;
  last_error_ = error;
  last_outcome_ = outcome == HeartbeatOutcome::kAnswered ? HeartbeatOutcome::kError : outcome;
  HostHealthState next = HostHealthState::kSuspect;
  // Both a count and a span: a burst of failed calls within one interval (say a retry storm
  // after one dropped connection) is not yet proof that the host is gone.
  if (failures_ >= options_.failure_threshold &&
      now - first_failure_ >= options_.interval * (options_.failure_threshold - 1)) {
    next = HostHealthState::kNotReady;
  }
  if (state_ == HostHealthState::kNotReady) next = HostHealthState::kNotReady;
  bool changed = next != state_;
  state_ = next;
  return changed;
}

Duration HostHealth::NextHeartbeatIn(MonoTime now) const {
  Duration next = options_.interval;
  if (state_ == HostHealthState::kSuspect && failures_ > 0) {
    Duration until_span = first_failure_ + options_.interval * (options_.failure_threshold - 1) - now;
    if (until_span > Duration::zero() && until_span < next) next = until_span;
  }
  return next;
}

Duration HostHealthBook::NextHeartbeatIn(const std::string& host, MonoTime now) const {
  MutexLock l(&mu_);
  auto it = hosts_.find(host);
  return it == hosts_.end() ? options_.interval : it->second.NextHeartbeatIn(now);
}

std::pair<HostHealthState, HostHealthState> HostHealthBook::RecordSuccess(const std::string& host,
                                                                          MonoTime now,
                                                                          WallTime wall_now) {
  MutexLock l(&mu_);
  HostHealth& h = hosts_.try_emplace(host, options_).first->second;
  HostHealthState before = h.state();
  h.RecordSuccess(now, wall_now);
  return {before, h.state()};
}

std::pair<HostHealthState, HostHealthState> HostHealthBook::RecordFailure(
    const std::string& host, MonoTime sent, const std::string& error, HeartbeatOutcome outcome) {
  MutexLock l(&mu_);
  HostHealth& h = hosts_.try_emplace(host, options_).first->second;
  HostHealthState before = h.state();
  h.RecordFailure(sent, error, outcome);
  return {before, h.state()};
}

HostHealthBook::Snapshot HostHealthBook::Get(const std::string& host) const {
  MutexLock l(&mu_);
  auto it = hosts_.find(host);
  if (it == hosts_.end()) return {};
  const HostHealth& h = it->second;
  return {h.state(),     h.consecutive_failures(), h.last_error(),    h.last_good(),
          h.ever_good(), h.last_outcome(),          h.failing_since()};
}

void HostHealthBook::Remove(const std::string& host) {
  MutexLock l(&mu_);
  hosts_.erase(host);
}

Duration HeartbeatPhase(const std::string& host, Duration interval) {
  if (interval <= Duration::zero()) return Duration::zero();
  uint64_t hash = 14695981039346656037ull;  // FNV-1a
  for (unsigned char c : host) {
    hash ^= c;
    hash *= 1099511628211ull;
  }
  return Duration(static_cast<Duration::rep>(hash % static_cast<uint64_t>(interval.count())));
}

}  // namespace vmk::reconciler
