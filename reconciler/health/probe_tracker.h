// ProbeTracker: the health-probe state machine of one VM. Pure logic over a Clock: it runs no
// probe itself; the caller asks when the next probe is due, runs it (a Prober), and reports
// the result. It decides whether the VM is Healthy, Unhealthy, Starting or Unknown.
//
// Semantics (modelled on Kubernetes liveness + startup probes):
//   - Probes run every `period`, start to start: the next is due at the start of the last one
//     plus the period (or at once, if the probe itself took longer than that).
//   - Unknown: nothing is known yet (a VM the controller found running, before its first
//     success or `failureThreshold` failures), or no start was ever reported and no probe ran.
//   - Started(at) reports a (re)start of the VM: the failure streak is cleared, the state is
//     Starting, and a startup grace runs from `at` to `at + startupGrace`; the first probe is
//     due at `at`.
//   - Starting: failures during the grace never make the VM Unhealthy, and the first success
//     ends the grace at once (like a startupProbe). Failures during the grace are still added
//     to the streak: once the grace is over, a VM that never succeeded becomes Unhealthy at its
//     first failure after the grace (the streak already exceeds the threshold), rather than
//     `failureThreshold` periods later. "Did not become healthy within its grace period" is
//     then noticed one period after the grace, which is what change-rollback needs; a VM that
//     answered even once during the grace starts a fresh streak from that success.
//   - Healthy after any success (outside or inside the grace). A success resets the streak.
//   - Unhealthy when the streak reaches `failureThreshold` consecutive failures outside the
//     grace; it stays Unhealthy until a success or a Started().
//
// Evidence for incident accounting (MTTR counts from when the failure happened, not when it
// was detected): the time of the last successful probe is recorded; it survives Started(), as
// "the last time the service was seen good". FailureBegan() gives the best evidence of when
// the current failure began: the last good probe, or the (re)start if that is later (a VM
// stopped on purpose for a week and failing after its start did not fail a week ago). Callers
// opening an incident read it when the failure is detected, before they restart the VM.
//
// A result whose probe began (ProbeStarted) before the latest Started() is stale — it
// probed the previous incarnation — and is ignored.
//
// Thread-compatible: one tracker per VM, used by one thread at a time (the work queue never
// hands a key to two workers). The Clock must outlive the tracker.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "common/clock.h"
#include "providers/probes/prober.h"

namespace vmk::providers {

// The tracker's view of a VM's health spec (specs::HealthSpec with durations).
struct ProbeSettings {
  Duration period = std::chrono::seconds(5);
  Duration timeout = std::chrono::seconds(2);  // for building the ProbeSpec; not used here
  int failureThreshold = 3;
  Duration startupGrace = std::chrono::seconds(120);
};

enum class ProbeHealth { kUnknown, kStarting, kHealthy, kUnhealthy };
const char* ProbeHealthName(ProbeHealth health);  // "Unknown", "Starting", "Healthy", "Unhealthy"

// A moment as both clocks saw it: monotonic for scheduling, wall for incidents and status.
struct ProbeTime {
  MonoTime mono;
  WallTime wall;
};

// What one reported result did to the state.
struct ProbeUpdate {
  ProbeHealth previous = ProbeHealth::kUnknown;
  ProbeHealth current = ProbeHealth::kUnknown;
  bool changed() const { return previous != current; }
};

class ProbeTracker {
 public:
  // Settings are assumed validated; a period or threshold below its minimum (1 ms, 1) is
  // raised to it, and a negative grace is taken as none. The first probe is due at once.
  ProbeTracker(Clock* clock, ProbeSettings settings);

  // --- Driving --------------------------------------------------------------------------------
  // The VM was (re)started at `at` (may be in the past, e.g. a boot time read back after a
  // controller restart). See the semantics above.
  void Started(MonoTime at);
  void Started() { Started(clock_->Now()); }
  // Replaces the settings (a spec edit); the state, streak and times are kept, a running grace
  // is re-measured from its start with the new length.
  void UpdateSettings(ProbeSettings settings);

  // Scheduling.
  MonoTime NextProbeAt() const { return next_probe_at_; }
  bool ProbeDue() const { return !in_flight_ && clock_->Now() >= next_probe_at_; }
  // Marks the start of a probe (now): the next one is due a period after it, and ProbeDue()
  // is false until its result is recorded, so every ProbeStarted() must be followed by one
  // RecordResult() (Probe() is bounded by its timeout, so that is soon). Optional:
  // RecordResult() without it takes "now" as the start.
  void ProbeStarted();
  // Reports the result of the probe (now).
  ProbeUpdate RecordResult(const ProbeResult& result);
  // The next probe is due now, not a period after the last one (unless one is in flight): the
  // host's management plane went quiet and failure detection wants fresh evidence of the guest.
  void ProbeSoon();

  // --- State ----------------------------------------------------------------------------------
  ProbeHealth health() const { return health_; }
  bool InGrace() const;  // a grace is running and no success has ended it
  int consecutive_failures() const { return consecutive_failures_; }
  const ProbeSettings& settings() const { return settings_; }
  const std::optional<ProbeResult>& last_result() const { return last_result_; }
  // When the probe of last_result() began, and when its result was recorded.
  std::optional<MonoTime> last_probe_start() const { return last_probe_start_; }
  std::optional<MonoTime> last_result_at() const { return last_result_at_; }

  // --- Evidence -------------------------------------------------------------------------------
  std::optional<ProbeTime> started_at() const { return started_at_; }
  std::optional<ProbeTime> last_success() const { return last_success_; }
  // The first failure of the current streak; empty while the last result was a success.
  std::optional<ProbeTime> first_failure() const { return first_failure_; }
  // Best evidence of when the current failure began: the later of the last good probe and the
  // last Started(); with neither, the first failure of the streak. Empty while the streak is
  // empty (the last result was a success, or nothing failed since Started()).
  std::optional<ProbeTime> FailureBegan() const;

 private:
  ProbeTime Stamp(MonoTime mono) const;

  Clock* clock_;
  ProbeSettings settings_;
  ProbeHealth health_ = ProbeHealth::kUnknown;
  int consecutive_failures_ = 0;
  std::optional<ProbeTime> started_at_;
  std::optional<MonoTime> grace_ends_at_;  // empty: no grace running (never, ended, or over)
  MonoTime next_probe_at_;
  bool in_flight_ = false;
  MonoTime probe_started_at_;
  std::optional<MonoTime> last_probe_start_;
  std::optional<ProbeResult> last_result_;
  std::optional<MonoTime> last_result_at_;
  std::optional<ProbeTime> last_success_;
  std::optional<ProbeTime> first_failure_;
};

}  // namespace vmk::providers
