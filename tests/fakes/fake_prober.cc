#include "tests/fakes/fake_prober.h"

namespace vmk::providers {

FakeProber::FakeProber() = default;

ProbeResult FakeProber::Probe(const ProbeSpec& spec) {
  Handler handler;
  ProbeResult result;
  {
    MutexLock l(&mu_);
    calls_[{spec.address, spec.port}]++;
    history_.push_back(spec);
    handler = handler_;
    if (!handler) result = NextResultLocked(spec);
  }
  calls_changed_.notify_all();
  // The handler runs unlocked: it may block (a hanging service) or call back into the fake.
  if (handler) return handler(spec);
  return result;
}

std::optional<ProbeResult> FakeProber::TakeFrom(Target* target) {
  if (!target->script.empty()) {
    ProbeResult r = std::move(target->script.front());
    target->script.pop_front();
    return r;
  }
  return target->sticky;
}

ProbeResult FakeProber::NextResultLocked(const ProbeSpec& spec) {
  for (const Key& key : {Key{spec.address, spec.port}, Key{spec.address, kAnyPort}}) {
    auto it = targets_.find(key);
    if (it == targets_.end()) continue;
    if (auto r = TakeFrom(&it->second)) return *r;
  }
  if (default_result_) return *default_result_;
  return ProbeResult{false, "no probe result scripted for " + spec.address + ":" +
                                std::to_string(spec.port)};
}

void FakeProber::SetResult(const std::string& address, int port, ProbeResult result) {
  MutexLock l(&mu_);
  targets_[{address, port}].sticky = std::move(result);
}

void FakeProber::SetResult(const std::string& address, ProbeResult result) {
  MutexLock l(&mu_);
  targets_[{address, kAnyPort}].sticky = std::move(result);
}

void FakeProber::SetHealthy(const std::string& address, int port) {
  SetResult(address, port, ProbeResult{true, "HTTP 200"});
}

void FakeProber::SetUnhealthy(const std::string& address, int port, const std::string& message) {
  SetResult(address, port, ProbeResult{false, message});
}

void FakeProber::Script(const std::string& address, int port, std::vector<ProbeResult> results) {
  MutexLock l(&mu_);
  auto& script = targets_[{address, port}].script;
  for (auto& r : results) script.push_back(std::move(r));
}

void FakeProber::Script(const std::string& address, std::vector<ProbeResult> results) {
  MutexLock l(&mu_);
  auto& script = targets_[{address, kAnyPort}].script;
  for (auto& r : results) script.push_back(std::move(r));
}

void FakeProber::SetDefaultResult(ProbeResult result) {
  MutexLock l(&mu_);
  default_result_ = std::move(result);
}

void FakeProber::SetHandler(Handler handler) {
  MutexLock l(&mu_);
  handler_ = std::move(handler);
}

void FakeProber::Reset() {
  {
    MutexLock l(&mu_);
    targets_.clear();
    default_result_.reset();
    handler_ = nullptr;
    calls_.clear();
    history_.clear();
  }
  calls_changed_.notify_all();
}

int FakeProber::Calls(const std::string& address, int port) const {
  MutexLock l(&mu_);
  auto it = calls_.find({address, port});
  return it == calls_.end() ? 0 : it->second;
}

int FakeProber::Calls(const std::string& address) const {
  MutexLock l(&mu_);
  int total = 0;
  for (const auto& [key, count] : calls_) {
    if (key.first == address) total += count;
  }
  return total;
}

int FakeProber::TotalCalls() const {
  MutexLock l(&mu_);
  return static_cast<int>(history_.size());
}

std::vector<ProbeSpec> FakeProber::History() const {
  MutexLock l(&mu_);
  return history_;
}

std::optional<ProbeSpec> FakeProber::LastSpec() const {
  MutexLock l(&mu_);
  if (history_.empty()) return std::nullopt;
  return history_.back();
}

bool FakeProber::WaitForCalls(int n, std::chrono::milliseconds timeout) const {
  MutexLock l(&mu_);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (static_cast<int>(history_.size()) < n && l.WaitUntil(calls_changed_, deadline)) {}
  return static_cast<int>(history_.size()) >= n;
}

}  // namespace vmk::providers
