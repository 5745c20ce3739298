#include "common/cancellation.h"

#include <thread>

#include <gtest/gtest.h>

namespace vmk {
namespace {

TEST(CancellationTest, ADefaultTokenIsNeverDone) {
  CancelToken token;
  EXPECT_FALSE(token.Done());
  EXPECT_TRUE(token.Err().ok());
}

TEST(CancellationTest, CancellingTheSourceEndsEveryTokenWithTheFirstReason) {
  CancelSource source;
  CancelToken before = source.Token();
  source.Cancel("shutting down");
  source.Cancel("a second reason is ignored");
  CancelToken after = source.Token();
  EXPECT_TRUE(source.cancelled());
  for (const CancelToken& token : {before, after}) {
    EXPECT_TRUE(token.Done());
    EXPECT_EQ(token.Err().code(), StatusCode::kAborted);
    EXPECT_EQ(token.Err().message(), "cancelled: shutting down");
  }
}

TEST(CancellationTest, ADeadlineEndsOnlyItsOwnTokenAndTheEarlierDeadlineWins) {
  FakeClock clock;
  CancelSource source;
  CancelToken parent = source.Token();
  CancelToken soon = CancelToken::WithDeadline(parent, &clock, clock.Now() + std::chrono::seconds(5));
  CancelToken later = CancelToken::WithDeadline(soon, &clock, clock.Now() + std::chrono::seconds(60));
  clock.Advance(std::chrono::seconds(4));
  EXPECT_FALSE(soon.Done());
  clock.Advance(std::chrono::seconds(1));
  EXPECT_EQ(soon.Err().code(), StatusCode::kDeadlineExceeded);
  EXPECT_EQ(later.Err().code(), StatusCode::kDeadlineExceeded) << "the parent's deadline holds";
  EXPECT_FALSE(parent.Done());
  source.Cancel("lost leadership");
  EXPECT_EQ(soon.Err().code(), StatusCode::kAborted) << "cancellation is reported first";
}

TEST(CancellationTest, CancelRacesWithReaders) {
  CancelSource source;
  CancelToken token = source.Token();
  std::atomic<int> seen{0};
  std::vector<std::thread> readers;
  for (int i = 0; i < 4; ++i) {
    readers.emplace_back([&] {
      while (!token.Done()) {
      }
      if (token.Err().message() == "cancelled: stop") ++seen;
    });
  }
  source.Cancel("stop");
  for (auto& t : readers) t.join();
  EXPECT_EQ(seen.load(), 4);
}

}  // namespace
}  // namespace vmk
