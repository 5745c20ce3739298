#include "cli/rate_limiter.h"

#include <string>

#include <gtest/gtest.h>

namespace vmk::cli {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// Takes until the first refusal; the number taken.
int TakeAll(RateLimiter& limiter, const std::string& key) {
  int taken = 0;
  while (!limiter.Take(key).has_value() && taken < 1000) ++taken;
  return taken;
}

TEST(RateLimiterTest, BurstThenRefusedWithTheWaitForTheNextToken) {
  FakeClock clock;
  RateLimiter limiter({/*per_second=*/5, /*burst=*/20}, &clock);
  EXPECT_EQ(TakeAll(limiter, "ci-deploy"), 20);
  std::optional<Duration> wait = limiter.Take("ci-deploy");
  ASSERT_TRUE(wait.has_value());
  // Empty bucket, 5 tokens a second: the next one is 200 ms away.
  EXPECT_EQ(std::chrono::duration_cast<milliseconds>(*wait).count(), 200);
  EXPECT_EQ(RateLimiter::RetryAfterSeconds(*wait), 1);  // at least 1
  // A refused request takes nothing: after 200 ms exactly one more is allowed.
  clock.Advance(milliseconds(200));
  EXPECT_FALSE(limiter.Take("ci-deploy").has_value());
  EXPECT_TRUE(limiter.Take("ci-deploy").has_value());
}

TEST(RateLimiterTest, RefillsAtTheRateUpToTheBurst) {
  FakeClock clock;
  RateLimiter limiter({/*per_second=*/2, /*burst=*/4}, &clock);
  EXPECT_EQ(TakeAll(limiter, "k"), 4);
  clock.Advance(milliseconds(1500));  // 3 tokens
  EXPECT_EQ(TakeAll(limiter, "k"), 3);
  clock.Advance(seconds(3600));  // capped at the burst
  EXPECT_EQ(TakeAll(limiter, "k"), 4);
}

TEST(RateLimiterTest, RetryAfterIsTheWholeSecondsUntilTheNextToken) {
  FakeClock clock;
  RateLimiter limiter({/*per_second=*/0.25, /*burst=*/1}, &clock);  // one every 4 s
  EXPECT_FALSE(limiter.Take("k").has_value());
  std::optional<Duration> wait = limiter.Take("k");
  ASSERT_TRUE(wait.has_value());
  EXPECT_EQ(RateLimiter::RetryAfterSeconds(*wait), 4);
  clock.Advance(milliseconds(2500));
  wait = limiter.Take("k");
  ASSERT_TRUE(wait.has_value());
  EXPECT_EQ(std::chrono::duration_cast<milliseconds>(*wait).count(), 1500);
  EXPECT_EQ(RateLimiter::RetryAfterSeconds(*wait), 2);  // 1.5 s rounds up
  clock.Advance(milliseconds(1500));
  EXPECT_FALSE(limiter.Take("k").has_value());
  EXPECT_EQ(RateLimiter::RetryAfterSeconds(milliseconds(1)), 1);
  EXPECT_EQ(RateLimiter::RetryAfterSeconds(seconds(3)), 3);
}

TEST(RateLimiterTest, KeysHaveBucketsOfTheirOwn) {
  FakeClock clock;
  RateLimiter limiter({/*per_second=*/1, /*burst=*/3}, &clock);
  EXPECT_EQ(TakeAll(limiter, "editor-a"), 3);
  EXPECT_TRUE(limiter.Take("editor-a").has_value());
  EXPECT_EQ(TakeAll(limiter, "editor-b"), 3);
}

TEST(RateLimiterTest, OffWhenTheRateIsZero) {
  FakeClock clock;
  RateLimiter limiter({/*per_second=*/0, /*burst=*/1}, &clock);
  EXPECT_FALSE(limiter.enabled());
  for (int i = 0; i < 100; ++i) EXPECT_FALSE(limiter.Take("k").has_value());
  EXPECT_EQ(limiter.bucket_count(), 0u);
}

// A flood of distinct keys (client addresses) never holds more than max_keys buckets; the
// least recently used goes first, so a busy key keeps its (empty) bucket.
TEST(RateLimiterTest, BucketsAreBoundedAndTheLeastRecentlyUsedIsEvicted) {
  FakeClock clock;
  RateLimiter limiter({/*per_second=*/1, /*burst=*/2, /*max_keys=*/100}, &clock);
  EXPECT_EQ(TakeAll(limiter, "busy"), 2);
  for (int i = 0; i < 10000; ++i) {
    limiter.Take("10.0." + std::to_string(i / 256) + "." + std::to_string(i % 256));
    if (i % 50 == 0) {
      EXPECT_TRUE(limiter.Take("busy").has_value());  // used, so kept, still empty
    }
    ASSERT_LE(limiter.bucket_count(), 100u);
  }
  EXPECT_EQ(limiter.bucket_count(), 100u);
  EXPECT_TRUE(limiter.Take("busy").has_value());
  // The first addresses were evicted: they start again with a full bucket.
  EXPECT_EQ(TakeAll(limiter, "10.0.0.0"), 2);
}

// Idle buckets that have refilled are dropped as traffic goes on: the set shrinks after a flood.
TEST(RateLimiterTest, FullIdleBucketsAreDropped) {
  FakeClock clock;
  RateLimiter limiter({/*per_second=*/10, /*burst=*/5, /*max_keys=*/1000}, &clock);
  for (int i = 0; i < 1000; ++i) limiter.Take("flood-" + std::to_string(i));
  EXPECT_EQ(limiter.bucket_count(), 1000u);
  clock.Advance(seconds(1));  // every flood bucket is full again
  for (int i = 0; i < 100; ++i) limiter.Take("steady");
  EXPECT_EQ(limiter.bucket_count(), 1000u - 2 * 100 + 1);  // two dropped per call
  for (int i = 0; i < 400; ++i) limiter.Take("steady");
  EXPECT_EQ(limiter.bucket_count(), 1u);
}

}  // namespace
}  // namespace vmk::cli
