// FakeNotifier: a Notifier for the reconciler's unit tests. It records every notification, in
// call order, and lets tests wait (real time, for other threads to make progress) until enough
// have arrived.
//
// Thread-safe: Notify may run in several workers while the test inspects.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <vector>

#include "common/mutex.h"
#include "providers/notify/notifier.h"

namespace vmk::providers {

class FakeNotifier : public Notifier {
 public:
  FakeNotifier() = default;
  FakeNotifier(const FakeNotifier&) = delete;
  FakeNotifier& operator=(const FakeNotifier&) = delete;

  void Notify(Notification n) override;

  // Every notification so far, in call order.
  std::vector<Notification> notifications() const;
  // Waits until at least `n` notifications have arrived. False if `timeout` passes first.
  bool WaitFor(size_t n, std::chrono::milliseconds timeout) const;
  // Forgets what was recorded (WaitFor counts from here on).
  void Clear();

 private:
  mutable Mutex mu_;
  mutable std::condition_variable arrived_;
  std::vector<Notification> notifications_ GUARDED_BY(mu_);
};

}  // namespace vmk::providers
