#include "reconciler/health/probe_tracker.h"

#include <algorithm>

namespace vmk::providers {
namespace {

ProbeSettings Sanitized(ProbeSettings s) {
  s.period = std::max<Duration>(s.period, std::chrono::milliseconds(1));
  s.failureThreshold = std::max(s.failureThreshold, 1);
  s.startupGrace = std::max<Duration>(s.startupGrace, Duration::zero());
  return s;
}

}  // namespace

const char* ProbeHealthName(ProbeHealth health) {
  switch (health) {
    case ProbeHealth::kUnknown:
      return "Unknown";
    case ProbeHealth::kStarting:
      return "Starting";
    case ProbeHealth::kHealthy:
      return "Healthy";
    case ProbeHealth::kUnhealthy:
      return "Unhealthy";
  }
  return "Unknown";
}

ProbeTracker::ProbeTracker(Clock* clock, ProbeSettings settings)
    : clock_(clock), settings_(Sanitized(settings)), next_probe_at_(clock->Now()) {}

ProbeTime ProbeTracker::Stamp(MonoTime mono) const {
  // The wall time of a monotonic moment, as the wall clock stood that long ago.
  MonoTime now = clock_->Now();
  WallTime wall_now = clock_->WallNow();
  return ProbeTime{mono, wall_now - std::chrono::duration_cast<WallTime::duration>(now - mono)};
}

void ProbeTracker::Started(MonoTime at) {
  health_ = ProbeHealth::kStarting;
  consecutive_failures_ = 0;
  first_failure_.reset();
  started_at_ = Stamp(at);
  if (settings_.startupGrace > Duration::zero()) {
    grace_ends_at_ = at + settings_.startupGrace;
  } else {
    grace_ends_at_.reset();
  }
  // A probe in flight now is about the previous incarnation: its result will be dropped when
  // it is recorded, and the next probe is due as soon as it is.
  last_probe_start_.reset();
  next_probe_at_ = at;
}

void ProbeTracker::UpdateSettings(ProbeSettings settings) {
  const Duration old_period = settings_.period;
  settings_ = Sanitized(settings);
  if (grace_ends_at_ && started_at_) {
    grace_ends_at_ = started_at_->mono + settings_.startupGrace;
  }
  // Only a new period moves the next probe: the same settings applied again (every probe pass
  // does) must not undo a ProbeSoon().
  if (!in_flight_ && last_probe_start_ && settings_.period != old_period) {
    next_probe_at_ = *last_probe_start_ + settings_.period;
  }
}

bool ProbeTracker::InGrace() const {
  return grace_ends_at_.has_value() && clock_->Now() < *grace_ends_at_;
}

void ProbeTracker::ProbeStarted() {
  in_flight_ = true;
  probe_started_at_ = clock_->Now();
}

ProbeUpdate ProbeTracker::RecordResult(const ProbeResult& result) {
  ProbeUpdate update;
  update.previous = health_;
  MonoTime now = clock_->Now();
  MonoTime began = in_flight_ ? probe_started_at_ : now;
  if (in_flight_ && started_at_ && probe_started_at_ < started_at_->mono) {
    // The probe began before the latest (re)start: it says nothing about this incarnation.
    in_flight_ = false;
    update.current = health_;
    return update;
  }
  in_flight_ = false;
  last_probe_start_ = began;
  next_probe_at_ = std::max(began + settings_.period, now);
  last_result_ = result;
  last_result_at_ = now;

  if (result.healthy) {
    consecutive_failures_ = 0;
    first_failure_.reset();
    last_success_ = Stamp(now);
    grace_ends_at_.reset();  // the first success ends the startup grace
    health_ = ProbeHealth::kHealthy;
  } else {
    if (consecutive_failures_ == 0) first_failure_ = Stamp(now);
    ++consecutive_failures_;
    if (!InGrace() && consecutive_failures_ >= settings_.failureThreshold) {
      health_ = ProbeHealth::kUnhealthy;
    }
  }
  update.current = health_;
  return update;
}

void ProbeTracker::ProbeSoon() {
  if (!in_flight_) next_probe_at_ = std::min(next_probe_at_, clock_->Now());
}

std::optional<ProbeTime> ProbeTracker::FailureBegan() const {
  if (consecutive_failures_ == 0) return std::nullopt;
  std::optional<ProbeTime> best = last_success_;
  if (started_at_ && (!best || started_at_->mono > best->mono)) best = started_at_;
  if (!best) best = first_failure_;
  return best;
}

}  // namespace vmk::providers
