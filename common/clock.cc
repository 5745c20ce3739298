#include "common/clock.h"

#include <cstdio>
#include <ctime>

namespace vmk {

RealClock* RealClock::Get() {
  static RealClock clock;
  return &clock;
}

FakeClock::FakeClock(WallTime wall_start) : wall_start_(wall_start) {}

MonoTime FakeClock::Now() const {
  MutexLock l(&mu_);
  return MonoTime(std::chrono::hours(1)) + offset_;
}

WallTime FakeClock::WallNow() const {
  MutexLock l(&mu_);
  return wall_start_ + std::chrono::duration_cast<WallTime::duration>(offset_);
}

void FakeClock::WaitUntil(std::unique_lock<std::mutex>& lock, std::condition_variable& cv,
                          MonoTime deadline) {
  auto key = std::make_pair(lock.mutex(), &cv);
  {
    // Checking the deadline and registering under one lock: an Advance() either comes before
    // (and is seen here) or after (and wakes us through our mutex). Never lost in between.
    MutexLock l(&mu_);
    if (MonoTime(std::chrono::hours(1)) + offset_ >= deadline) return;
    waiters_.insert(key);
  }
  cv.wait(lock);
  MutexLock l(&mu_);
  waiters_.erase(key);
}

void FakeClock::Advance(Duration d) {
  std::set<std::pair<std::mutex*, std::condition_variable*>> waiters;
  {
    MutexLock l(&mu_);
    offset_ += d;
    waiters = waiters_;
  }
  for (auto& [m, cv] : waiters) {
    // Taking the waiter's mutex orders this wake-up after its predicate check.
    std::lock_guard<std::mutex> l(*m);
    cv->notify_all();
  }
}

}  // namespace vmk
