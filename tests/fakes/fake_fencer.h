// FakeFencer: a Fencer for the reconciler's unit tests. It records every request and answers
// with what the test scripted for that host: ok, fail (any Status), or hang until the test
// releases it or the request's timeout passes on the injected Clock (DeadlineExceeded, as the
// real fencer reports a killed agent). Scripted outcomes are consumed one per call, in order;
// when none is left, the host's default outcome applies (Ok unless set).
//
// An optional hook runs after every successful fence (outside the lock), e.g. to crash the
// FakeHost that was "powered off".
//
// Thread-safe: Fence may block in several threads at once while the test inspects and releases.
#pragma once

#include <chrono>
#include <cstdint>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/mutex.h"
#include "providers/fencing/fencer.h"

namespace vmk::providers {

struct FakeFenceOutcome {
  enum class Kind { kOk, kFail, kHang };
  Kind kind = Kind::kOk;
  Status failure;  // what a kFail call returns

  static FakeFenceOutcome Ok() { return {Kind::kOk, Status::Ok()}; }
  static FakeFenceOutcome Fail(
      Status failure = Status::Unavailable("fake fence agent failed with exit status 1")) {
    return {Kind::kFail, std::move(failure)};
  }
  // Blocks until Release() for the host, or until the request's timeout passes.
  static FakeFenceOutcome Hang() { return {Kind::kHang, Status::Ok()}; }
};

class FakeFencer : public Fencer {
 public:
  // `clock` measures the requests' timeouts while hanging; it must outlive this object.
  explicit FakeFencer(Clock* clock);

  Status Fence(const FenceRequest& request) override;
  // What SetPowerState scripted for the host (FailedPrecondition when nothing was: a device
  // that cannot tell); counted in power_status_calls.
  StatusOr<PowerState> PowerStatus(const FenceRequest& request) override;

  // --- Scripting ------------------------------------------------------------------------------
  // The outcome of every call for `host` once its script is used up.
  void SetDefaultOutcome(const std::string& host, FakeFenceOutcome outcome);
  // Outcomes for the next calls for `host`, one per call, before the default applies again.
  void ScriptOutcomes(const std::string& host, std::vector<FakeFenceOutcome> outcomes);
  // Hanging calls for `host` return `result` (Ok: the agent finally confirmed).
  void Release(const std::string& host, Status result = Status::Ok());
  // What PowerStatus answers for `host` from now on.
  void SetPowerState(const std::string& host, StatusOr<PowerState> state);
  // Every hanging call returns Aborted; for test teardown.
  void ReleaseAll();
  // Runs after each successful Fence, with the request, on the calling thread.
  void SetOnFenced(std::function<void(const FenceRequest&)> hook);

  // --- Inspection -----------------------------------------------------------------------------
  int calls(const std::string& host) const;
  int total_calls() const;
  int power_status_calls(const std::string& host) const;
  int hanging(const std::string& host) const;  // calls blocked right now
  std::vector<FenceRequest> requests() const;  // every request so far, in call order
  // Waits (real time: other threads make progress) until at least `n` calls for `host` have
  // been made (counted on entry). False if `timeout` passes first.
  bool WaitForCalls(const std::string& host, int n, std::chrono::milliseconds timeout) const;
  // Waits until at least `n` calls for `host` are hanging at once.
  bool WaitForHanging(const std::string& host, int n, std::chrono::milliseconds timeout) const;

 private:
  struct HostState {
    FakeFenceOutcome default_outcome = FakeFenceOutcome::Ok();
    std::deque<FakeFenceOutcome> script;
    int calls = 0;
    int hanging = 0;
    uint64_t release_generation = 0;  // bumped by Release; a hanging call waits for a change
    Status release_result;
    std::optional<StatusOr<PowerState>> power;
    int power_calls = 0;
  };

  Clock* const clock_;
  mutable Mutex mu_;
  // Signalled on every change a waiter may look for (release, new call, new hang).
  mutable std::condition_variable changed_;
  std::map<std::string, HostState> hosts_ GUARDED_BY(mu_);
  std::vector<FenceRequest> requests_ GUARDED_BY(mu_);
  std::function<void(const FenceRequest&)> on_fenced_ GUARDED_BY(mu_);
};

}  // namespace vmk::providers
