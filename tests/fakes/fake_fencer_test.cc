#include "tests/fakes/fake_fencer.h"

#include <chrono>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace vmk::providers {
namespace {

using namespace std::chrono_literals;

FenceRequest Request(const std::string& host, std::chrono::seconds timeout = 60s) {
  FenceRequest r;
  r.host = host;
  r.agent = "fence_ipmilan";
  r.args = {{"ip", "10.0.0.11"}};
  r.timeout = timeout;
  return r;
}

TEST(FakeFencerTest, OkByDefaultAndRecordsEveryRequest) {
  FakeClock clock;
  FakeFencer fencer(&clock);
  EXPECT_TRUE(fencer.Fence(Request("hv01")).ok());
  EXPECT_TRUE(fencer.Fence(Request("hv02")).ok());
  EXPECT_TRUE(fencer.Fence(Request("hv01")).ok());
  EXPECT_EQ(fencer.calls("hv01"), 2);
  EXPECT_EQ(fencer.calls("hv02"), 1);
  EXPECT_EQ(fencer.calls("hv03"), 0);
  EXPECT_EQ(fencer.total_calls(), 3);
  ASSERT_EQ(fencer.requests().size(), 3u);
  EXPECT_EQ(fencer.requests()[1].host, "hv02");
  EXPECT_EQ(fencer.requests()[1].args.at("ip"), "10.0.0.11");
}

TEST(FakeFencerTest, ScriptedOutcomesComeFirstThenTheDefault) {
  FakeClock clock;
  FakeFencer fencer(&clock);
  fencer.SetDefaultOutcome("hv01", FakeFenceOutcome::Fail(Status::Internal("killed by signal 9")));
  fencer.ScriptOutcomes("hv01", {FakeFenceOutcome::Fail(), FakeFenceOutcome::Ok()});
  EXPECT_EQ(fencer.Fence(Request("hv01")).code(), StatusCode::kUnavailable);
  EXPECT_TRUE(fencer.Fence(Request("hv01")).ok());
  EXPECT_EQ(fencer.Fence(Request("hv01")).code(), StatusCode::kInternal);
  EXPECT_TRUE(fencer.Fence(Request("hv02")).ok());  // other hosts are not affected
}

TEST(FakeFencerTest, HangsUntilReleased) {
  FakeClock clock;
  FakeFencer fencer(&clock);
  fencer.SetDefaultOutcome("hv01", FakeFenceOutcome::Hang());
  Status result = Status::Internal("not returned");
  std::thread caller([&] { result = fencer.Fence(Request("hv01")); });
  ASSERT_TRUE(fencer.WaitForHanging("hv01", 1, 10s));
  EXPECT_TRUE(fencer.Fence(Request("hv02")).ok());  // one hung host does not block another
  fencer.Release("hv01", Status::Ok());
  caller.join();
  EXPECT_TRUE(result.ok()) << result.ToString();
  EXPECT_EQ(fencer.hanging("hv01"), 0);
}

TEST(FakeFencerTest, HangEndsWithDeadlineExceededWhenTheClockPassesTheTimeout) {
  FakeClock clock;
  FakeFencer fencer(&clock);
  fencer.ScriptOutcomes("hv01", {FakeFenceOutcome::Hang()});
  Status result;
  std::thread caller([&] { result = fencer.Fence(Request("hv01", 30s)); });
  ASSERT_TRUE(fencer.WaitForHanging("hv01", 1, 10s));
  clock.Advance(29s);
  EXPECT_EQ(fencer.hanging("hv01"), 1);  // not yet: may still be waiting or just re-checked
  clock.Advance(1s);
  caller.join();
  EXPECT_EQ(result.code(), StatusCode::kDeadlineExceeded) << result.ToString();
}

TEST(FakeFencerTest, OnFencedHookRunsOnlyAfterSuccess) {
  FakeClock clock;
  FakeFencer fencer(&clock);
  std::vector<std::string> powered_off;
  fencer.SetOnFenced([&](const FenceRequest& r) { powered_off.push_back(r.host); });
  fencer.SetDefaultOutcome("hv02", FakeFenceOutcome::Fail());
  EXPECT_TRUE(fencer.Fence(Request("hv01")).ok());
  EXPECT_FALSE(fencer.Fence(Request("hv02")).ok());
  EXPECT_THAT(powered_off, ::testing::ElementsAre("hv01"));
  EXPECT_TRUE(fencer.WaitForCalls("hv02", 1, 1s));
}

}  // namespace
}  // namespace vmk::providers
