#include "reconciler/host_health.h"

#include <gtest/gtest.h>

namespace vmk::reconciler {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

class HostHealthTest : public ::testing::Test {
 protected:
  MonoTime t0_ = MonoTime(seconds(1000));
  WallTime w0_ = WallTime(seconds(1'800'000'000));
};

TEST_F(HostHealthTest, StartsUnknownThenReadyOnFirstSuccess) {
  HostHealth h;
  EXPECT_EQ(h.state(), HostHealthState::kUnknown);
  EXPECT_TRUE(h.RecordSuccess(t0_, w0_));
  EXPECT_EQ(h.state(), HostHealthState::kReady);
  EXPECT_FALSE(h.RecordSuccess(t0_ + seconds(1), w0_ + seconds(1)));
  EXPECT_EQ(h.last_good(), w0_ + seconds(1));
}

TEST_F(HostHealthTest, OneLateAnswerMakesASuspectNotADeadHost) {
  HostHealth h;
  h.RecordSuccess(t0_, w0_);
  EXPECT_TRUE(h.RecordFailure(t0_ + seconds(1), "timeout"));
  EXPECT_EQ(h.state(), HostHealthState::kSuspect);
  EXPECT_TRUE(h.RecordSuccess(t0_ + seconds(2), w0_ + seconds(2)));
  EXPECT_EQ(h.state(), HostHealthState::kReady);
  EXPECT_EQ(h.consecutive_failures(), 0);
}

TEST_F(HostHealthTest, ThresholdFailuresOverTheirIntervalsMakeItNotReady) {
  HostHealth h({seconds(1), 3});
  h.RecordSuccess(t0_, w0_);
  h.RecordFailure(t0_ + seconds(1), "eof");
  h.RecordFailure(t0_ + seconds(2), "eof");
  EXPECT_EQ(h.state(), HostHealthState::kSuspect);
  EXPECT_TRUE(h.RecordFailure(t0_ + seconds(3), "eof"));
  EXPECT_EQ(h.state(), HostHealthState::kNotReady);
  EXPECT_EQ(h.last_good(), w0_) << "evidence of when the failure began";
  EXPECT_EQ(h.last_error(), "eof");
  EXPECT_FALSE(h.RecordFailure(t0_ + seconds(4), "eof"));
  EXPECT_EQ(h.state(), HostHealthState::kNotReady);
}

TEST_F(HostHealthTest, ABurstOfFailuresWithinOneIntervalIsNotEnough) {
  HostHealth h({seconds(1), 3});
  h.RecordSuccess(t0_, w0_);
  for (int i = 0; i < 10; ++i) h.RecordFailure(t0_ + milliseconds(100 + i), "reset");
  EXPECT_EQ(h.state(), HostHealthState::kSuspect);
  h.RecordFailure(t0_ + milliseconds(2100), "reset");
  EXPECT_EQ(h.state(), HostHealthState::kNotReady);
}

TEST_F(HostHealthTest, ReadyAgainAfterOneSuccess) {
  HostHealth h({seconds(1), 1});
  h.RecordSuccess(t0_, w0_);
  EXPECT_TRUE(h.RecordFailure(t0_ + seconds(1), "eof"));
  EXPECT_EQ(h.state(), HostHealthState::kNotReady) << "threshold 1: the first failure is enough";
  EXPECT_TRUE(h.RecordSuccess(t0_ + seconds(5), w0_ + seconds(5)));
  EXPECT_EQ(h.state(), HostHealthState::kReady);
}

}  // namespace
}  // namespace vmk::reconciler
