// HostHealth: the heartbeat verdict of one host (Ready → Suspect → NotReady), from the outcomes
// of cheap periodic calls. One failed heartbeat makes a host Suspect, never NotReady: a host that
// is merely slow must not be declared dead by one late answer. It becomes NotReady after
// `failure_threshold` consecutive failures spanning at least (threshold - 1) intervals, and Ready
// again after one success. The last good heartbeat is kept: it is the evidence of when a failure
// began. Pure logic over times the caller gives; thread-compatible (the controller guards it).
#pragma once

#include <map>
#include <string>
#include <utility>

#include "common/clock.h"
#include "common/mutex.h"
#include "providers/hypervisor/hypervisor.h"

namespace vmk::reconciler {

enum class HostHealthState { kUnknown, kReady, kSuspect, kNotReady };
const char* HostHealthStateName(HostHealthState state);  // "Unknown", "Ready", ...

// When a host's first heartbeat is due after it is added: a fixed phase in [0, interval) from a
// hash of its name. Each heartbeat then asks for the next one interval later, so the hosts keep
// their phases: 100 hosts added at once (a start of the controller) beat spread over the
// interval instead of all together, and a rack that fails at once is not probed in one burst.
// Deterministic, so a host's beats do not drift between restarts and tests stay reproducible.
Duration HeartbeatPhase(const std::string& host, Duration interval);

struct HostHealthOptions {
  Duration interval = std::chrono::seconds(1);
  int failure_threshold = 3;
  // The longest one heartbeat waits for its answer (Hypervisor::Heartbeat). Below the interval,
  // so that a hung host's first unanswered beat is failed before the next one is due.
  Duration timeout = std::chrono::milliseconds(500);
};

using HeartbeatOutcome = providers::HeartbeatResult::Outcome;

class HostHealth {
 public:
  explicit HostHealth(HostHealthOptions options = {}) : options_(options) {}

  // Each returns whether the state changed.
  bool RecordSuccess(MonoTime now, WallTime wall_now);
  // `sent`: when the failed heartbeat was sent. A beat that hung failed from then on: its
  // silence, not the moment the wait for it ended, is the evidence, so a frozen host is found
  // NotReady (threshold - 1) intervals after its first unanswered beat was sent.
  bool RecordFailure(MonoTime sent, const std::string& error,
                     HeartbeatOutcome outcome = HeartbeatOutcome::kNoAnswer);

  HostHealthState state() const { return state_; }
  int consecutive_failures() const { return failures_; }
  const std::string& last_error() const { return last_error_; }
  // How the last failed heartbeat failed (kAnswered while the last one answered).
  HeartbeatOutcome last_outcome() const { return last_outcome_; }
  // When the current run of failures began (the first failed beat's send); meaningful while
  // consecutive_failures() > 0.
  MonoTime failing_since() const { return first_failure_; }
  // Wall time of the last successful heartbeat (epoch 0 if never).
  WallTime last_good() const { return last_good_; }
  bool ever_good() const { return ever_good_; }
  // When to send the next heartbeat: every interval, except that a suspect host is looked at
  // again exactly when its failures span the threshold, so that it is found NotReady
  // (threshold - 1) intervals after its first failure rather than up to one interval later
  // (heartbeats keep their own phase, unrelated to when the host failed).
  Duration NextHeartbeatIn(MonoTime now) const;

 private:
  HostHealthOptions options_;
  HostHealthState state_ = HostHealthState::kUnknown;
  int failures_ = 0;
  MonoTime first_failure_{};
  WallTime last_good_{};
  bool ever_good_ = false;
  std::string last_error_;
  HeartbeatOutcome last_outcome_ = HeartbeatOutcome::kAnswered;
};

// The HostHealth of every host, for the heartbeat workers and the host reconciler.
// Thread-safe.
class HostHealthBook {
 public:
  explicit HostHealthBook(HostHealthOptions options = {}) : options_(options) {}

  // HostHealth::NextHeartbeatIn of the host (the interval for an unknown host).
  Duration NextHeartbeatIn(const std::string& host, MonoTime now) const;

  struct Snapshot {
    HostHealthState state = HostHealthState::kUnknown;
    int consecutive_failures = 0;
    std::string last_error;
    WallTime last_good{};
    bool ever_good = false;
    HeartbeatOutcome last_outcome = HeartbeatOutcome::kAnswered;
    MonoTime failing_since{};  // meaningful while consecutive_failures > 0
  };

  // Each returns the state before and after.
  std::pair<HostHealthState, HostHealthState> RecordSuccess(const std::string& host, MonoTime now,
                                                            WallTime wall_now);
  std::pair<HostHealthState, HostHealthState> RecordFailure(
      const std::string& host, MonoTime sent, const std::string& error,
      HeartbeatOutcome outcome = HeartbeatOutcome::kNoAnswer);
  Snapshot Get(const std::string& host) const;
  void Remove(const std::string& host);
  const HostHealthOptions& options() const { return options_; }

 private:
  const HostHealthOptions options_;
  mutable Mutex mu_;
  std::map<std::string, HostHealth> hosts_ GUARDED_BY(mu_);
};

}  // namespace vmk::reconciler
