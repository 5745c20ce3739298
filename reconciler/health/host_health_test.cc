#include "reconciler/health/host_health.h"

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

// Heartbeats run at their own phase; a host that fails just after one is still found NotReady
// (threshold - 1) intervals after its first failure, not up to an interval later.
TEST_F(HostHealthTest, ASuspectHostIsLookedAtAgainWhenItsFailuresSpanTheThreshold) {
  HostHealth h({seconds(1), 3});
  h.RecordSuccess(t0_, w0_);
  EXPECT_EQ(h.NextHeartbeatIn(t0_), seconds(1)) << "a ready host: every interval";
  const MonoTime failed = t0_ + milliseconds(300);  // e.g. a closed connection, between beats
  h.RecordFailure(failed, "eof");
  MonoTime beat = t0_ + seconds(1);  // the next heartbeat, at its own phase
  h.RecordFailure(beat, "eof");
  EXPECT_EQ(h.NextHeartbeatIn(beat), seconds(1));
  beat += seconds(1);
  h.RecordFailure(beat, "eof");
  ASSERT_EQ(h.state(), HostHealthState::kSuspect) << "three failures, but over 1.7 s only";
  // 2 s after the first failure is 300 ms away, sooner than the next interval.
  EXPECT_EQ(h.NextHeartbeatIn(beat), milliseconds(300));
  h.RecordFailure(beat + milliseconds(300), "eof");
  EXPECT_EQ(h.state(), HostHealthState::kNotReady);
  EXPECT_EQ(h.NextHeartbeatIn(beat + milliseconds(300)), seconds(1));
}

TEST_F(HostHealthTest, ReadyAgainAfterOneSuccess) {
  HostHealth h({seconds(1), 1});
  h.RecordSuccess(t0_, w0_);
  EXPECT_TRUE(h.RecordFailure(t0_ + seconds(1), "eof"));
  EXPECT_EQ(h.state(), HostHealthState::kNotReady) << "threshold 1: the first failure is enough";
  EXPECT_TRUE(h.RecordSuccess(t0_ + seconds(5), w0_ + seconds(5)));
  EXPECT_EQ(h.state(), HostHealthState::kReady);
}

// 100 hosts added together beat spread over the interval, each at the same phase every time.
TEST(HeartbeatPhaseTest, HostsAreSpreadOverTheIntervalDeterministically) {
  const Duration interval = std::chrono::seconds(1);
  int tenths[10] = {};
  for (int i = 0; i < 100; ++i) {
    const std::string host = "hv" + std::to_string(i);
    const Duration phase = HeartbeatPhase(host, interval);
    ASSERT_GE(phase, Duration::zero());
    ASSERT_LT(phase, interval);
    EXPECT_EQ(phase, HeartbeatPhase(host, interval));
    ++tenths[phase * 10 / interval];
  }
  for (int t = 0; t < 10; ++t) {
    EXPECT_GE(tenths[t], 3) << "tenth " << t;
    EXPECT_LE(tenths[t], 20) << "tenth " << t;
  }
  EXPECT_EQ(HeartbeatPhase("hv01", Duration::zero()), Duration::zero());
}

}  // namespace
}  // namespace vmk::reconciler
