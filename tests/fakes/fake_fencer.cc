#include "tests/fakes/fake_fencer.h"

#include <utility>

namespace vmk::providers {

FakeFencer::FakeFencer(Clock* clock) : clock_(clock) {}

Status FakeFencer::Fence(const FenceRequest& request) {
  MutexLock lock(&mu_);
  requests_.push_back(request);
  HostState& host = hosts_[request.host];
  ++host.calls;
  FakeFenceOutcome outcome = host.default_outcome;
  if (!host.script.empty()) {
    outcome = std::move(host.script.front());
    host.script.pop_front();
  }
  Status result;
  switch (outcome.kind) {
    case FakeFenceOutcome::Kind::kOk:
      break;
    case FakeFenceOutcome::Kind::kFail:
      result = outcome.failure;
      break;
    case FakeFenceOutcome::Kind::kHang: {
      const MonoTime deadline = clock_->Now() + request.timeout;
      const uint64_t generation = host.release_generation;
      ++host.hanging;
      changed_.notify_all();
      // `host` stays valid: map nodes are stable and never erased.
      while (host.release_generation == generation && clock_->Now() < deadline) {
        clock_->WaitUntil(lock.native(), changed_, deadline);
      }
      --host.hanging;
      if (host.release_generation != generation) {
        result = host.release_result;
      } else {
        result = Status::DeadlineExceeded("fake fence agent for host " + request.host +
                                          " timed out after " +
                                          std::to_string(request.timeout.count()) + "s");
      }
      break;
    }
  }
  changed_.notify_all();
  std::function<void(const FenceRequest&)> hook = result.ok() ? on_fenced_ : nullptr;
  lock.Unlock();
  if (hook) hook(request);
  return result;
}

StatusOr<PowerState> FakeFencer::PowerStatus(const FenceRequest& request) {
  MutexLock l(&mu_);
  HostState& h = hosts_[request.host];
  ++h.power_calls;
  if (!h.power) return Status::FailedPrecondition("no power state scripted for " + request.host);
  return *h.power;
}

void FakeFencer::SetPowerState(const std::string& host, StatusOr<PowerState> state) {
  MutexLock l(&mu_);
  hosts_[host].power = std::move(state);
}

int FakeFencer::power_status_calls(const std::string& host) const {
  MutexLock l(&mu_);
  auto it = hosts_.find(host);
  return it == hosts_.end() ? 0 : it->second.power_calls;
}

void FakeFencer::SetDefaultOutcome(const std::string& host, FakeFenceOutcome outcome) {
  MutexLock lock(&mu_);
  hosts_[host].default_outcome = std::move(outcome);
}

void FakeFencer::ScriptOutcomes(const std::string& host, std::vector<FakeFenceOutcome> outcomes) {
  MutexLock lock(&mu_);
  HostState& state = hosts_[host];
  for (FakeFenceOutcome& o : outcomes) state.script.push_back(std::move(o));
}

void FakeFencer::Release(const std::string& host, Status result) {
  MutexLock lock(&mu_);
  HostState& state = hosts_[host];
  ++state.release_generation;
  state.release_result = std::move(result);
  changed_.notify_all();
}

void FakeFencer::ReleaseAll() {
  MutexLock lock(&mu_);
  for (auto& [name, state] : hosts_) {
    ++state.release_generation;
    state.release_result = Status::Aborted("fake fencer released all calls");
  }
  changed_.notify_all();
}

void FakeFencer::SetOnFenced(std::function<void(const FenceRequest&)> hook) {
  MutexLock lock(&mu_);
  on_fenced_ = std::move(hook);
}

int FakeFencer::calls(const std::string& host) const {
  MutexLock lock(&mu_);
  auto it = hosts_.find(host);
  return it == hosts_.end() ? 0 : it->second.calls;
}

int FakeFencer::total_calls() const {
  MutexLock lock(&mu_);
  return static_cast<int>(requests_.size());
}

int FakeFencer::hanging(const std::string& host) const {
  MutexLock lock(&mu_);
  auto it = hosts_.find(host);
  return it == hosts_.end() ? 0 : it->second.hanging;
}

std::vector<FenceRequest> FakeFencer::requests() const {
  MutexLock lock(&mu_);
  return requests_;
}

bool FakeFencer::WaitForCalls(const std::string& host, int n,
                              std::chrono::milliseconds timeout) const {
  MutexLock lock(&mu_);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto reached = [&]() REQUIRES(mu_) {
    auto it = hosts_.find(host);
    return it != hosts_.end() && it->second.calls >= n;
  };
  while (!reached() && lock.WaitUntil(changed_, deadline)) {}
  return reached();
}

bool FakeFencer::WaitForHanging(const std::string& host, int n,
                                std::chrono::milliseconds timeout) const {
  MutexLock lock(&mu_);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto reached = [&]() REQUIRES(mu_) {
    auto it = hosts_.find(host);
    return it != hosts_.end() && it->second.hanging >= n;
  };
  while (!reached() && lock.WaitUntil(changed_, deadline)) {}
  return reached();
}

}  // namespace vmk::providers
