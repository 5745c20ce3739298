// VmHealthBook: the probe state (providers::ProbeTracker) of every VM that declares
// `spec.health`, shared by the probe workers (which record results) and the VM reconciler (which
// restarts a VM that became Unhealthy and tells the tracker it started again). Thread-safe.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>

#include "common/mutex.h"
#include "reconciler/health/probe_tracker.h"
#include "specs/types.h"

namespace vmk::reconciler {

// The probe settings of a health spec (seconds → durations).
providers::ProbeSettings ProbeSettingsOf(const specs::HealthSpec& health);
// The probe a health spec asks for, at `address` (the VM's name when the spec names none).
providers::ProbeSpec ProbeSpecOf(const specs::HealthSpec& health, const std::string& vm);

class VmHealthBook {
 public:
  explicit VmHealthBook(Clock* clock) : clock_(clock) {}

  struct Snapshot {
    providers::ProbeHealth health = providers::ProbeHealth::kUnknown;
    std::string last_message;      // of the last probe
    std::optional<WallTime> failure_began;  // evidence of when it stopped being healthy
    std::optional<MonoTime> next_probe;
    // Evidence for failure detection (host_verdict.h): when the last good probe answered, when
    // the last recorded probe began and whether it passed.
    std::optional<MonoTime> last_success;
    std::optional<MonoTime> last_probe_start;
    std::optional<MonoTime> last_result_at;
    bool last_passed = false;
    std::optional<MonoTime> started_at;  // the (re)start its tracker counts from
    providers::ProbeSettings settings;
  };

  // Creates the tracker (or updates its settings). Returns whether it was new.
  bool Configure(const std::string& vm, const providers::ProbeSettings& settings);
  // The VM was (re)started now: grace begins again, failures are forgotten.
  void Started(const std::string& vm);
  // Whether a probe is due now; if so it is marked in flight.
  bool BeginProbeIfDue(const std::string& vm);
  // ProbeTracker::ProbeSoon of the VM; false when it has no tracker (nothing to probe).
  bool ProbeSoon(const std::string& vm);
  providers::ProbeUpdate Record(const std::string& vm, const providers::ProbeResult& result);
  std::optional<Snapshot> Get(const std::string& vm) const;
  void Remove(const std::string& vm);

 private:
  Clock* const clock_;
  mutable Mutex mu_;
  std::map<std::string, std::unique_ptr<providers::ProbeTracker>> trackers_ GUARDED_BY(mu_);
};

}  // namespace vmk::reconciler
