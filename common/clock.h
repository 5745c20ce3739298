// Clock: the only way production code reads time or waits for it (Envoy's TimeSource).
// RealClock uses steady_clock/system_clock; FakeClock is advanced by tests, which never sleep.
// Both are thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <set>
#include <string>
#include <utility>

#include "common/mutex.h"
#include "common/rfc3339.h"  // how these times are written and read

namespace vmk {

using MonoTime = std::chrono::steady_clock::time_point;
using WallTime = std::chrono::system_clock::time_point;
using Duration = std::chrono::steady_clock::duration;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual MonoTime Now() const = 0;
  virtual WallTime WallNow() const = 0;
  // Blocks on `cv` (whose mutex `lock` holds) until notified or until Now() >= deadline.
  // Spurious returns are allowed: callers re-check their predicate, like cv.wait_until.
  // A caller holding a vmk::Mutex passes its MutexLock's native() lock.
  virtual void WaitUntil(std::unique_lock<std::mutex>& lock, std::condition_variable& cv,
                         MonoTime deadline) = 0;
};

class RealClock : public Clock {
 public:
  MonoTime Now() const override { return std::chrono::steady_clock::now(); }
  WallTime WallNow() const override { return std::chrono::system_clock::now(); }
  void WaitUntil(std::unique_lock<std::mutex>& lock, std::condition_variable& cv,
                 MonoTime deadline) override {
    cv.wait_until(lock, deadline);
  }
  static RealClock* Get();
};

// Time moves only when Advance() is called. A waiter is woken by Advance() through its own mutex,
// so no wake-up is lost between the waiter's check and its wait.
class FakeClock : public Clock {
 public:
  explicit FakeClock(WallTime wall_start = WallTime(std::chrono::seconds(1'800'000'000)));
  MonoTime Now() const override;
  WallTime WallNow() const override;
  void WaitUntil(std::unique_lock<std::mutex>& lock, std::condition_variable& cv,
                 MonoTime deadline) override;
  void Advance(Duration d);

 private:
  mutable Mutex mu_;
  Duration offset_ GUARDED_BY(mu_) = Duration::zero();
  WallTime wall_start_;
  std::set<std::pair<std::mutex*, std::condition_variable*>> waiters_ GUARDED_BY(mu_);
};


}  // namespace vmk
