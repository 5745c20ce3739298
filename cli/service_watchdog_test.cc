#include "cli/service_watchdog.h"

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <mutex>

namespace vmk::cli {
namespace {

using std::chrono::seconds;

// What the watchdog did, for the test thread to wait on (with a deadline, never a sleep).
class Recorder {
 public:
  bool Check() {
    std::lock_guard<std::mutex> l(mu_);
    ++checks_;
    cv_.notify_all();
    return alive_;
  }
  void Pet() {
    std::lock_guard<std::mutex> l(mu_);
    ++pets_;
  }
  void SetAlive(bool alive) {
    std::lock_guard<std::mutex> l(mu_);
    alive_ = alive;
  }
  // Waits until `n` checks have run; the check's pet (if any) is recorded before the next
  // check begins, and the tests read pets only after a later check or Stop().
  bool WaitChecks(int n) {
    std::unique_lock<std::mutex> l(mu_);
    return cv_.wait_for(l, seconds(10), [&] { return checks_ >= n; });
  }
  int pets() {
    std::lock_guard<std::mutex> l(mu_);
    return pets_;
  }
  int checks() {
    std::lock_guard<std::mutex> l(mu_);
    return checks_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int checks_ = 0;
  int pets_ = 0;
  bool alive_ = true;
};

TEST(ServiceWatchdogTest, PetsEveryHalfPeriodOnlyWhileAlive) {
  FakeClock clock;
  Recorder recorder;
  ServiceWatchdog watchdog(
      &clock, seconds(10), [&] { return recorder.Check(); }, [&] { recorder.Pet(); });
  watchdog.Start();
  ASSERT_TRUE(recorder.WaitChecks(1));  // at once

  recorder.SetAlive(false);
  clock.Advance(seconds(5));
  ASSERT_TRUE(recorder.WaitChecks(2));
  EXPECT_EQ(recorder.pets(), 1);  // the first check's pet; the failed one is not petted

  recorder.SetAlive(true);
  clock.Advance(seconds(5));
  ASSERT_TRUE(recorder.WaitChecks(3));
  watchdog.Stop();
  EXPECT_EQ(recorder.pets(), 2);
  EXPECT_EQ(recorder.checks(), 3);
}

TEST(ServiceWatchdogTest, StopWakesTheWaitingThread) {
  FakeClock clock;  // never advanced: only Stop() can end the wait
  Recorder recorder;
  ServiceWatchdog watchdog(
      &clock, seconds(30), [&] { return recorder.Check(); }, [&] { recorder.Pet(); });
  watchdog.Start();
  ASSERT_TRUE(recorder.WaitChecks(1));
  watchdog.Stop();
  watchdog.Stop();  // idempotent
  EXPECT_EQ(recorder.checks(), 1);
  EXPECT_EQ(recorder.pets(), 1);
}

}  // namespace
}  // namespace vmk::cli
