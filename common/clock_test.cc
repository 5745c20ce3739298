#include "common/clock.h"

#include <atomic>
#include <future>

#include <gtest/gtest.h>

namespace vmk {
namespace {

TEST(Rfc3339Test, RoundTripsAndAcceptsFractionsAndOffsets) {
  WallTime t;
  ASSERT_TRUE(ParseRfc3339("2026-11-27T14:20:54.123Z", &t));
  EXPECT_EQ(FormatRfc3339(t), "2026-11-27T14:20:54.123Z");
  ASSERT_TRUE(ParseRfc3339("2026-11-27T15:20:54.123456789+01:00", &t));
  EXPECT_EQ(FormatRfc3339(t), "2026-11-27T14:20:54.123Z");
  ASSERT_TRUE(ParseRfc3339("2026-11-27T14:20:54Z", &t));
}

TEST(Rfc3339Test, RefusesMalformedInput) {
  WallTime t;
  for (const char* bad : {"", "soon", "2026-11-27", "2026-11-27T14:20:54", "2026-13-01T00:00:00Z",
                          "2026-11-27T25:00:00Z", "2026-11-27T14:20:54+5:00",
                          "2026-11-27T14:20:54+05", "2026-11-27T14:20:54.Z",
                          "2026-11-27T14:20:54Zjunk"}) {
    EXPECT_FALSE(ParseRfc3339(bad, &t)) << bad;
  }
}

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
