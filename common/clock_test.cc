#include "common/clock.h"

#include <atomic>
#include <future>

#include <gtest/gtest.h>

namespace vmk {
namespace {

TEST(FakeClockTest, AdvanceWakesAWaiterAtItsDeadline) {
  FakeClock clock;
  std::mutex mu;
  std::condition_variable cv;
  const MonoTime deadline = clock.Now() + std::chrono::seconds(5);
  std::atomic<bool> waiting{false};
  auto waiter = std::async(std::launch::async, [&] {
    std::unique_lock<std::mutex> lock(mu);
    waiting = true;
    while (clock.Now() < deadline) clock.WaitUntil(lock, cv, deadline);
    return clock.Now();
  });
  // Advances race with the waiter's registration on purpose: none may be lost.
  for (int i = 0; i < 5; ++i) clock.Advance(std::chrono::seconds(1));
  ASSERT_EQ(waiter.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_GE(waiter.get(), deadline);
}

TEST(FakeClockTest, AnAlreadyDueWaitReturnsAtOnce) {
  FakeClock clock;
  std::mutex mu;
  std::condition_variable cv;
  std::unique_lock<std::mutex> lock(mu);
  clock.WaitUntil(lock, cv, clock.Now());  // would block forever if it waited
  SUCCEED();
}

}  // namespace
}  // namespace vmk
