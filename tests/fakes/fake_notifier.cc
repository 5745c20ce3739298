#include "tests/fakes/fake_notifier.h"

#include <utility>

namespace vmk::providers {

void FakeNotifier::Notify(Notification n) {
  MutexLock l(&mu_);
  notifications_.push_back(std::move(n));
  arrived_.notify_all();
}

std::vector<Notification> FakeNotifier::notifications() const {
  MutexLock l(&mu_);
  return notifications_;
}

bool FakeNotifier::WaitFor(size_t n, std::chrono::milliseconds timeout) const {
  MutexLock l(&mu_);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (notifications_.size() < n && l.WaitUntil(arrived_, deadline)) {}
  return notifications_.size() >= n;
}

void FakeNotifier::Clear() {
  MutexLock l(&mu_);
  notifications_.clear();
}

}  // namespace vmk::providers
