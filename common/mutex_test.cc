#include "common/mutex.h"

#include <chrono>
#include <functional>
#include <future>
#include <thread>

#include <gtest/gtest.h>

#include "common/clock.h"

namespace vmk {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

// Whether another thread can take `mu` right now.
bool FreeForOthers(Mutex* mu) {
  return std::async(std::launch::async, [mu] {
           if (!mu->TryLock()) return false;
           mu->Unlock();
           return true;
         }).get();
}

// A counter written the way the project's classes are: guarded state, waits as loops.
class Counter {
 public:
  void Add() {
    MutexLock l(&mu_);
    ++n_;
    changed_.notify_all();
  }
  int Get() const {
    MutexLock l(&mu_);
    return n_;
  }
  void WaitFor(int n) {
    MutexLock l(&mu_);
    while (n_ < n) l.Wait(changed_);
  }
  bool WaitFor(int n, steady_clock::time_point deadline) {
    MutexLock l(&mu_);
    while (n_ < n && l.WaitUntil(changed_, deadline)) {}
    return n_ >= n;
  }
  // Called with the lock held; drops it around `during`.
  int AddAround(const std::function<void()>& during) REQUIRES(mu_) {
    ++n_;
    {
      MutexUnlock unlock(&mu_);
      during();
    }
    return n_;
  }
  Mutex* mu() RETURN_CAPABILITY(mu_) { return &mu_; }

 private:
  mutable Mutex mu_;
  std::condition_variable changed_;
  int n_ GUARDED_BY(mu_) = 0;
};

TEST(MutexTest, AMutexLockHoldsItsMutexForItsScope) {
  Mutex mu;
  {
    MutexLock l(&mu);
    EXPECT_TRUE(l.native().owns_lock());
    EXPECT_FALSE(FreeForOthers(&mu));
  }
  EXPECT_TRUE(FreeForOthers(&mu));
}

TEST(MutexTest, UnlockAndLockInTheMiddleOfAScope) {
  Mutex mu;
  MutexLock l(&mu);
  l.Unlock();
  EXPECT_FALSE(l.native().owns_lock());
  EXPECT_TRUE(FreeForOthers(&mu));
  l.Lock();
  EXPECT_FALSE(FreeForOthers(&mu));
  l.Unlock();  // the destructor releases only what the scope still holds
}

TEST(MutexTest, TryLockFailsWhileAnotherThreadHoldsTheMutex) {
  Mutex mu;
  if (mu.TryLock()) {
    EXPECT_FALSE(FreeForOthers(&mu));
    mu.Unlock();
  } else {
    ADD_FAILURE() << "TryLock failed on a free mutex";
  }
  EXPECT_TRUE(FreeForOthers(&mu));
}

TEST(MutexTest, WaitReturnsOnceAnotherThreadChangedTheState) {
  Counter counter;
  std::thread adder([&] {
    for (int i = 0; i < 3; ++i) counter.Add();
  });
  counter.WaitFor(3);
  adder.join();
  EXPECT_EQ(counter.Get(), 3);
}

TEST(MutexTest, WaitUntilIsFalseOncePastTheDeadline) {
  Counter counter;
  const auto start = steady_clock::now();
  EXPECT_FALSE(counter.WaitFor(1, start + milliseconds(20)));
  EXPECT_GE(steady_clock::now() - start, milliseconds(20));
  counter.Add();
  EXPECT_TRUE(counter.WaitFor(1, steady_clock::now()));  // already true: no wait
}

TEST(MutexTest, WaitUntilReturnsWhenNotifiedBeforeTheDeadline) {
  Counter counter;
  std::thread adder([&] { counter.Add(); });
  EXPECT_TRUE(counter.WaitFor(1, steady_clock::now() + std::chrono::seconds(30)));
  adder.join();
}

TEST(MutexTest, MutexUnlockReleasesForItsScopeAndTakesTheMutexBack) {
  Counter counter;
  MutexLock l(counter.mu());
  bool free_during = false;
  EXPECT_EQ(counter.AddAround([&] { free_during = FreeForOthers(counter.mu()); }), 1);
  EXPECT_TRUE(free_during);
  EXPECT_FALSE(FreeForOthers(counter.mu()));
  EXPECT_TRUE(l.native().owns_lock());
}

TEST(MutexTest, TheNativeLockServesTheClock) {
  FakeClock clock;
  Mutex mu;
  std::condition_variable cv;
  MutexLock l(&mu);
  clock.WaitUntil(l.native(), cv, clock.Now());  // due already: returns at once
  EXPECT_FALSE(FreeForOthers(&mu));
}

}  // namespace
}  // namespace vmk
