#include "reconciler/vm/restart_policy.h"

#include <gtest/gtest.h>

namespace vmk::reconciler {
namespace {

using std::chrono::seconds;

class RestartPolicyTest : public ::testing::Test {
 protected:
  RestartVerdict Decide() { return DecideFailureRestart(spec_, now_, &times_); }
  specs::RestartSpec spec_{/*limit=*/3, /*windowSeconds=*/600};
  WallTime now_ = WallTime(seconds(1'800'000'000));
  std::vector<std::string> times_;
};

TEST_F(RestartPolicyTest, TheFirstRestartIsAllowedAndRecorded) {
  RestartVerdict v = Decide();
  EXPECT_TRUE(v.allowed);
  EXPECT_EQ(times_, std::vector<std::string>{FormatRfc3339(now_)});
}

TEST_F(RestartPolicyTest, RestartsBackOffExponentially) {
  ASSERT_TRUE(Decide().allowed);
  now_ += seconds(2);
  RestartVerdict v = Decide();
  EXPECT_FALSE(v.allowed);
  EXPECT_EQ(v.reason, "BackOff");
  ASSERT_TRUE(v.wait.has_value());
  EXPECT_EQ(*v.wait, seconds(3)) << "5 s after the first restart";
  now_ += seconds(3);
  ASSERT_TRUE(Decide().allowed);
  now_ += seconds(9);
  v = Decide();
  EXPECT_EQ(v.reason, "BackOff");
  EXPECT_EQ(*v.wait, seconds(1)) << "10 s after the second";
}

TEST_F(RestartPolicyTest, TheLimitHoldsUntilTheOldestRestartLeavesTheWindow) {
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(Decide().allowed) << i;
    now_ += seconds(60);
  }
  RestartVerdict v = Decide();
  EXPECT_FALSE(v.allowed);
  EXPECT_EQ(v.reason, "RestartLimitReached");
  EXPECT_NE(v.message.find("spec.restart.limit 3"), std::string::npos) << v.message;
  ASSERT_TRUE(v.wait.has_value());
  EXPECT_EQ(*v.wait, seconds(600 - 180));
  now_ += *v.wait;
  EXPECT_TRUE(Decide().allowed);
  EXPECT_EQ(times_.size(), 3u) << "the oldest left the window";
}

TEST_F(RestartPolicyTest, UnreadableTimesAreDropped) {
  times_ = {"not a time", FormatRfc3339(now_ - seconds(700))};
  EXPECT_TRUE(Decide().allowed);
  EXPECT_EQ(times_.size(), 1u);
}

}  // namespace
}  // namespace vmk::reconciler
