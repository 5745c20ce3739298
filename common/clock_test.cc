#include "common/clock.h"

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
  std::unique_lock<std::mutex> lock(mu);
  MonoTime deadline = clock.Now() + std::chrono::seconds(5);
  // Already due: returns at once without waiting.
  clock.WaitUntil(lock, cv, clock.Now());
  EXPECT_LT(clock.Now(), deadline);
}

}  // namespace
}  // namespace vmk
