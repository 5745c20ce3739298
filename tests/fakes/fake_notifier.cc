#include "tests/fakes/fake_notifier.h"

#include <utility>

namespace vmk::providers {

void FakeNotifier::Notify(Notification n) {
  std::lock_guard<std::mutex> l(mu_);
  notifications_.push_back(std::move(n));
  arrived_.notify_all();
}

std::vector<Notification> FakeNotifier::notifications() const {
  std::lock_guard<std::mutex> l(mu_);
  return notifications_;
}

bool FakeNotifier::WaitFor(size_t n, std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> l(mu_);
  return arrived_.wait_for(l, timeout, [&] { return notifications_.size() >= n; });
}

void FakeNotifier::Clear() {
  std::lock_guard<std::mutex> l(mu_);
  notifications_.clear();
}

}  // namespace vmk::providers
