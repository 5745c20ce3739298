// ProbeTracker on a FakeClock (threshold, grace, scheduling, evidence, restarts), and the
// FakeProber that reconciler tests script.
#include "reconciler/health/probe_tracker.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "common/clock.h"
#include "tests/fakes/fake_prober.h"

namespace vmk::providers {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

const ProbeResult kOk{true, "HTTP 200"};
const ProbeResult kFail{false, "HTTP 503"};

class ProbeTrackerTest : public ::testing::Test {
 protected:
  static ProbeSettings Settings(int threshold = 3, seconds grace = seconds(60)) {
    ProbeSettings s;
    s.period = seconds(5);
    s.timeout = seconds(2);
    s.failureThreshold = threshold;
    s.startupGrace = grace;
    return s;
  }

  // One probe cycle: wait for the due time, probe (taking 1 s), record.
  ProbeUpdate Cycle(ProbeTracker& t, const ProbeResult& r) {
    if (clock_.Now() < t.NextProbeAt()) clock_.Advance(t.NextProbeAt() - clock_.Now());
    EXPECT_TRUE(t.ProbeDue());
    t.ProbeStarted();
    clock_.Advance(seconds(1));
    return t.RecordResult(r);
  }

  FakeClock clock_;
};

TEST_F(ProbeTrackerTest, StartsUnknownWithFirstProbeDueAtOnce) {
  ProbeTracker t(&clock_, Settings());
  EXPECT_EQ(t.health(), ProbeHealth::kUnknown);
  EXPECT_EQ(t.NextProbeAt(), clock_.Now());
  EXPECT_TRUE(t.ProbeDue());
  EXPECT_FALSE(t.InGrace());
  EXPECT_FALSE(t.last_success().has_value());
  EXPECT_FALSE(t.FailureBegan().has_value());
  EXPECT_FALSE(t.last_result().has_value());
}

TEST_F(ProbeTrackerTest, NeedsThresholdConsecutiveFailures) {
  ProbeTracker t(&clock_, Settings(3));
  EXPECT_TRUE(Cycle(t, kOk).changed());
  EXPECT_EQ(t.health(), ProbeHealth::kHealthy);

  EXPECT_FALSE(Cycle(t, kFail).changed());
  EXPECT_FALSE(Cycle(t, kFail).changed());
  EXPECT_EQ(t.health(), ProbeHealth::kHealthy);
  EXPECT_EQ(t.consecutive_failures(), 2);

  ProbeUpdate third = Cycle(t, kFail);
  EXPECT_TRUE(third.changed());
  EXPECT_EQ(third.previous, ProbeHealth::kHealthy);
  EXPECT_EQ(third.current, ProbeHealth::kUnhealthy);
  EXPECT_EQ(t.last_result()->message, "HTTP 503");

  // Further failures do not flip it again.
  EXPECT_FALSE(Cycle(t, kFail).changed());
  EXPECT_EQ(t.consecutive_failures(), 4);
}

TEST_F(ProbeTrackerTest, SuccessResetsTheStreak) {
  ProbeTracker t(&clock_, Settings(3));
  Cycle(t, kOk);
  Cycle(t, kFail);
  Cycle(t, kFail);
  Cycle(t, kOk);
  EXPECT_EQ(t.consecutive_failures(), 0);
  Cycle(t, kFail);
  Cycle(t, kFail);
  EXPECT_EQ(t.health(), ProbeHealth::kHealthy);
  Cycle(t, kFail);
  EXPECT_EQ(t.health(), ProbeHealth::kUnhealthy);
}

TEST_F(ProbeTrackerTest, UnhealthyUntilASuccess) {
  ProbeTracker t(&clock_, Settings(1));
  EXPECT_EQ(Cycle(t, kFail).current, ProbeHealth::kUnhealthy);
  ProbeUpdate back = Cycle(t, kOk);
  EXPECT_TRUE(back.changed());
  EXPECT_EQ(back.current, ProbeHealth::kHealthy);
}

TEST_F(ProbeTrackerTest, WithoutStartFailuresBelowThresholdStayUnknown) {
  // A VM found running (controller restart): no grace, no verdict before the threshold.
  ProbeTracker t(&clock_, Settings(3));
  Cycle(t, kFail);
  Cycle(t, kFail);
  EXPECT_EQ(t.health(), ProbeHealth::kUnknown);
  Cycle(t, kFail);
  EXPECT_EQ(t.health(), ProbeHealth::kUnhealthy);
}

TEST_F(ProbeTrackerTest, FailuresDuringGraceDoNotMakeItUnhealthy) {
  ProbeTracker t(&clock_, Settings(3, seconds(60)));
  t.Started();
  EXPECT_EQ(t.health(), ProbeHealth::kStarting);
  EXPECT_TRUE(t.InGrace());
  MonoTime grace_end = clock_.Now() + seconds(60);
  int failures = 0;
  while (clock_.Now() + seconds(5) < grace_end) {
    ProbeUpdate u = Cycle(t, kFail);
    ++failures;
    EXPECT_EQ(u.current, ProbeHealth::kStarting) << "failure " << failures;
  }
  EXPECT_GE(failures, 10);
  EXPECT_TRUE(t.InGrace());
  EXPECT_EQ(t.consecutive_failures(), failures);

  // Grace over without a single success: the first failure after it makes the verdict.
  clock_.Advance(grace_end - clock_.Now());
  EXPECT_FALSE(t.InGrace());
  EXPECT_EQ(t.health(), ProbeHealth::kStarting);
  ProbeUpdate u = Cycle(t, kFail);
  EXPECT_TRUE(u.changed());
  EXPECT_EQ(u.current, ProbeHealth::kUnhealthy);
}

TEST_F(ProbeTrackerTest, FirstSuccessEndsTheGraceEarly) {
  ProbeTracker t(&clock_, Settings(3, seconds(120)));
  t.Started();
  Cycle(t, kFail);
  Cycle(t, kFail);
  ProbeUpdate up = Cycle(t, kOk);
  EXPECT_EQ(up.previous, ProbeHealth::kStarting);
  EXPECT_EQ(up.current, ProbeHealth::kHealthy);
  EXPECT_FALSE(t.InGrace());
  // Well inside the original 120 s, failures now count from a fresh streak.
  Cycle(t, kFail);
  Cycle(t, kFail);
  EXPECT_EQ(t.health(), ProbeHealth::kHealthy);
  EXPECT_EQ(Cycle(t, kFail).current, ProbeHealth::kUnhealthy);
  EXPECT_LT(clock_.Now(), t.started_at()->mono + seconds(120));
}

TEST_F(ProbeTrackerTest, ZeroGraceCountsFailuresAtOnce) {
  ProbeTracker t(&clock_, Settings(2, seconds(0)));
  t.Started();
  EXPECT_FALSE(t.InGrace());
  EXPECT_EQ(Cycle(t, kFail).current, ProbeHealth::kStarting);
  EXPECT_EQ(Cycle(t, kFail).current, ProbeHealth::kUnhealthy);
}

TEST_F(ProbeTrackerTest, StartInThePastShortensTheGrace) {
  // The controller restarted and read back a boot time 200 s ago: the 120 s grace is over.
  ProbeTracker t(&clock_, Settings(1, seconds(120)));
  t.Started(clock_.Now() - seconds(200));
  EXPECT_FALSE(t.InGrace());
  EXPECT_TRUE(t.ProbeDue());
  EXPECT_EQ(Cycle(t, kFail).current, ProbeHealth::kUnhealthy);
}

TEST_F(ProbeTrackerTest, ProbesArePeriodicStartToStart) {
  ProbeTracker t(&clock_, Settings());
  MonoTime t0 = clock_.Now();
  t.ProbeStarted();
  EXPECT_FALSE(t.ProbeDue());  // in flight
  clock_.Advance(seconds(1));
  t.RecordResult(kOk);
  EXPECT_EQ(t.NextProbeAt(), t0 + seconds(5));
  EXPECT_FALSE(t.ProbeDue());
  clock_.Advance(seconds(3));
  EXPECT_FALSE(t.ProbeDue());
  clock_.Advance(seconds(1));
  EXPECT_TRUE(t.ProbeDue());

  // In flight past the due time: not due again until the result is in.
  MonoTime t1 = clock_.Now();
  t.ProbeStarted();
  clock_.Advance(seconds(7));  // a probe longer than the period
  EXPECT_FALSE(t.ProbeDue());
  t.RecordResult(kOk);
  EXPECT_EQ(t.NextProbeAt(), clock_.Now());  // not t1 + 5 s in the past: no backlog
  EXPECT_GT(t.NextProbeAt(), t1 + seconds(5));
  EXPECT_TRUE(t.ProbeDue());
}

TEST_F(ProbeTrackerTest, RecordWithoutProbeStartedSchedulesFromNow) {
  ProbeTracker t(&clock_, Settings());
  clock_.Advance(seconds(2));
  t.RecordResult(kOk);
  EXPECT_EQ(t.NextProbeAt(), clock_.Now() + seconds(5));
}

TEST_F(ProbeTrackerTest, RecordsLastGoodProbeAsEvidenceOfWhenTheFailureBegan) {
  ProbeTracker t(&clock_, Settings(3));
  Cycle(t, kOk);
  Cycle(t, kOk);
  MonoTime good_mono = clock_.Now();
  WallTime good_wall = clock_.WallNow();
  EXPECT_FALSE(t.FailureBegan().has_value());

  Cycle(t, kFail);
  MonoTime first_fail = clock_.Now();
  Cycle(t, kFail);
  Cycle(t, kFail);
  ASSERT_EQ(t.health(), ProbeHealth::kUnhealthy);

  ASSERT_TRUE(t.last_success().has_value());
  EXPECT_EQ(t.last_success()->mono, good_mono);
  EXPECT_EQ(t.last_success()->wall, good_wall);
  ASSERT_TRUE(t.first_failure().has_value());
  EXPECT_EQ(t.first_failure()->mono, first_fail);
  ASSERT_TRUE(t.FailureBegan().has_value());
  EXPECT_EQ(t.FailureBegan()->wall, good_wall);
  EXPECT_LT(t.FailureBegan()->mono, clock_.Now() - seconds(10));  // earlier than detection

  Cycle(t, kOk);
  EXPECT_FALSE(t.FailureBegan().has_value());
  EXPECT_FALSE(t.first_failure().has_value());
}

TEST_F(ProbeTrackerTest, FailureBeganWithoutAnySuccess) {
  ProbeTracker t(&clock_, Settings(3));
  Cycle(t, kFail);
  MonoTime first = clock_.Now();
  Cycle(t, kFail);
  ASSERT_TRUE(t.FailureBegan().has_value());
  EXPECT_EQ(t.FailureBegan()->mono, first);  // never seen good, never started: first failure
}

TEST_F(ProbeTrackerTest, RestartResetsStreakAndGraceButKeepsLastGoodProbe) {
  ProbeTracker t(&clock_, Settings(3, seconds(60)));
  Cycle(t, kOk);
  MonoTime good = clock_.Now();
  Cycle(t, kFail);
  Cycle(t, kFail);
  Cycle(t, kFail);
  ASSERT_EQ(t.health(), ProbeHealth::kUnhealthy);
  EXPECT_EQ(t.FailureBegan()->mono, good);  // read by the caller before it restarts the VM

  clock_.Advance(seconds(30));
  MonoTime restart = clock_.Now();
  t.Started();
  EXPECT_EQ(t.health(), ProbeHealth::kStarting);
  EXPECT_EQ(t.consecutive_failures(), 0);
  EXPECT_TRUE(t.InGrace());
  EXPECT_FALSE(t.first_failure().has_value());
  EXPECT_FALSE(t.FailureBegan().has_value());
  EXPECT_EQ(t.last_success()->mono, good);  // kept: still the last time it was seen good
  EXPECT_EQ(t.started_at()->mono, restart);
  EXPECT_EQ(t.NextProbeAt(), restart);

  // Failing again after the restart: the restart is the later evidence.
  Cycle(t, kFail);
  EXPECT_EQ(t.health(), ProbeHealth::kStarting);
  EXPECT_EQ(t.FailureBegan()->mono, restart);
}

TEST_F(ProbeTrackerTest, ResultOfAProbeStartedBeforeARestartIsIgnored) {
  ProbeTracker t(&clock_, Settings(1, seconds(0)));
  t.ProbeStarted();
  clock_.Advance(seconds(1));
  t.Started();
  EXPECT_FALSE(t.ProbeDue());  // the old probe is still out
  clock_.Advance(seconds(1));
  ProbeUpdate u = t.RecordResult(kFail);
  EXPECT_FALSE(u.changed());
  EXPECT_EQ(t.health(), ProbeHealth::kStarting);
  EXPECT_EQ(t.consecutive_failures(), 0);
  EXPECT_FALSE(t.last_result().has_value());
  EXPECT_TRUE(t.ProbeDue());  // a probe of the new incarnation is due at once
  EXPECT_EQ(Cycle(t, kFail).current, ProbeHealth::kUnhealthy);
}

TEST_F(ProbeTrackerTest, UpdateSettingsKeepsStateAndReschedules) {
  ProbeSettings s = Settings(5, seconds(60));
  s.period = seconds(300);
  ProbeTracker t(&clock_, s);
  t.Started();
  MonoTime start = clock_.Now();
  t.ProbeStarted();
  t.RecordResult(kFail);
  EXPECT_EQ(t.NextProbeAt(), start + seconds(300));

  s.period = seconds(5);
  s.failureThreshold = 2;
  s.startupGrace = seconds(10);
  t.UpdateSettings(s);
  EXPECT_EQ(t.NextProbeAt(), start + seconds(5));
  EXPECT_EQ(t.health(), ProbeHealth::kStarting);
  EXPECT_EQ(t.consecutive_failures(), 1);
  clock_.Advance(seconds(10));  // the shortened grace, measured from the start, is over
  EXPECT_FALSE(t.InGrace());
  EXPECT_EQ(Cycle(t, kFail).current, ProbeHealth::kUnhealthy);
}

// Failure detection asks for a probe now (the host's heartbeats failed); the probe pass that
// runs it applies the same settings again first, which must not push the probe back a period
// (seen: a killed host's VM was probed 900 ms late, and its host failed over that much later).
TEST_F(ProbeTrackerTest, ProbeSoonSurvivesTheSameSettingsAppliedAgain) {
  ProbeSettings s = Settings(3, seconds(0));
  s.period = seconds(5);
  ProbeTracker t(&clock_, s);
  t.Started();
  t.ProbeStarted();
  t.RecordResult(kOk);
  clock_.Advance(seconds(1));
  EXPECT_FALSE(t.ProbeDue());
  t.ProbeSoon();
  t.UpdateSettings(s);
  EXPECT_TRUE(t.ProbeDue());
  EXPECT_EQ(t.NextProbeAt(), clock_.Now());
}

TEST_F(ProbeTrackerTest, NonsenseSettingsAreRaisedToMinimums) {
  ProbeSettings s;
  s.period = seconds(0);
  s.failureThreshold = 0;
  s.startupGrace = seconds(-5);
  ProbeTracker t(&clock_, s);
  EXPECT_EQ(t.settings().failureThreshold, 1);
  EXPECT_GT(t.settings().period, Duration::zero());
  t.Started();
  EXPECT_FALSE(t.InGrace());
  t.RecordResult(kFail);
  EXPECT_GT(t.NextProbeAt(), clock_.Now());
  EXPECT_EQ(t.health(), ProbeHealth::kUnhealthy);
}

TEST(ProbeHealthNameTest, Names) {
  EXPECT_STREQ(ProbeHealthName(ProbeHealth::kUnknown), "Unknown");
  EXPECT_STREQ(ProbeHealthName(ProbeHealth::kStarting), "Starting");
  EXPECT_STREQ(ProbeHealthName(ProbeHealth::kHealthy), "Healthy");
  EXPECT_STREQ(ProbeHealthName(ProbeHealth::kUnhealthy), "Unhealthy");
}

// ---- FakeProber --------------------------------------------------------------------------------

ProbeSpec Target(const std::string& address, int port) {
  ProbeSpec spec;
  spec.address = address;
  spec.port = port;
  return spec;
}

TEST(FakeProberTest, UnscriptedTargetsAreUnhealthyByDefault) {
  FakeProber fake;
  ProbeResult r = fake.Probe(Target("10.0.0.5", 8443));
  EXPECT_FALSE(r.healthy);
  EXPECT_EQ(r.message, "no probe result scripted for 10.0.0.5:8443");
  fake.SetDefaultResult(kOk);
  EXPECT_TRUE(fake.Probe(Target("10.0.0.5", 8443)).healthy);
}

TEST(FakeProberTest, MostSpecificKeyWins) {
  FakeProber fake;
  fake.SetResult("wms01", ProbeResult{false, "vm-wide"});
  fake.SetHealthy("wms01", 8443);
  EXPECT_TRUE(fake.Probe(Target("wms01", 8443)).healthy);
  EXPECT_EQ(fake.Probe(Target("wms01", 22)).message, "vm-wide");
  EXPECT_FALSE(fake.Probe(Target("ce01", 8443)).healthy);
}

TEST(FakeProberTest, ScriptsAreConsumedInOrderThenStickyApplies) {
  FakeProber fake;
  fake.SetHealthy("wms01", 8443);
  fake.Script("wms01", 8443, {kFail, ProbeResult{false, "timed out after 2000 ms"}});
  EXPECT_EQ(fake.Probe(Target("wms01", 8443)).message, "HTTP 503");
  EXPECT_EQ(fake.Probe(Target("wms01", 8443)).message, "timed out after 2000 ms");
  EXPECT_TRUE(fake.Probe(Target("wms01", 8443)).healthy);
  EXPECT_TRUE(fake.Probe(Target("wms01", 8443)).healthy);

  // A VM-wide script applies to every port without its own result.
  fake.Script("ce01", {kOk, kFail});
  EXPECT_TRUE(fake.Probe(Target("ce01", 80)).healthy);
  EXPECT_FALSE(fake.Probe(Target("ce01", 443)).healthy);
  EXPECT_EQ(fake.Probe(Target("ce01", 80)).message, "no probe result scripted for ce01:80");
}

TEST(FakeProberTest, CountsAndRecordsCalls) {
  FakeProber fake;
  fake.SetDefaultResult(kOk);
  fake.Probe(Target("wms01", 8443));
  fake.Probe(Target("wms01", 8443));
  fake.Probe(Target("wms01", 22));
  fake.Probe(Target("ce01", 8443));
  EXPECT_EQ(fake.Calls("wms01", 8443), 2);
  EXPECT_EQ(fake.Calls("wms01", 22), 1);
  EXPECT_EQ(fake.Calls("wms01"), 3);
  EXPECT_EQ(fake.Calls("se01"), 0);
  EXPECT_EQ(fake.TotalCalls(), 4);
  ASSERT_EQ(fake.History().size(), 4u);
  EXPECT_EQ(fake.LastSpec()->address, "ce01");
  fake.Reset();
  EXPECT_EQ(fake.TotalCalls(), 0);
  EXPECT_FALSE(fake.LastSpec().has_value());
  EXPECT_FALSE(fake.Probe(Target("wms01", 8443)).healthy);  // default forgotten too
}

TEST(FakeProberTest, HandlerOverridesAndMayBlockWhileOthersWaitForCalls) {
  FakeProber fake;
  std::mutex mu;
  std::condition_variable cv;
  bool release = false;
  fake.SetHandler([&](const ProbeSpec& spec) {
    std::unique_lock<std::mutex> l(mu);
    cv.wait(l, [&] { return release; });
    return ProbeResult{true, "handled " + spec.address};
  });
  ProbeResult result;
  std::thread prober([&] { result = fake.Probe(Target("wms01", 8443)); });
  // The call is counted on entry, while the handler still blocks.
  EXPECT_TRUE(fake.WaitForCalls(1, milliseconds(5000)));
  EXPECT_EQ(fake.Calls("wms01", 8443), 1);
  {
    std::lock_guard<std::mutex> l(mu);
    release = true;
  }
  cv.notify_all();
  prober.join();
  EXPECT_TRUE(result.healthy);
  EXPECT_EQ(result.message, "handled wms01");
  EXPECT_FALSE(fake.WaitForCalls(2, milliseconds(10)));
}

TEST(FakeProberTest, ConcurrentProbesAreAllCounted) {
  FakeProber fake;
  fake.SetDefaultResult(kOk);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 250; ++i) fake.Probe(Target("wms01", 8443));
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(fake.Calls("wms01", 8443), 1000);
  EXPECT_EQ(fake.TotalCalls(), 1000);
}

TEST_F(ProbeTrackerTest, TrackerDrivenByFakeProber) {
  // The loop a reconciler runs: probe when due, record, act on the transition.
  FakeProber fake;
  fake.Script("wms01", 8443, {kOk, kOk, kFail, kFail, kFail});
  fake.SetHealthy("wms01", 8443);
  ProbeTracker t(&clock_, Settings(3, seconds(0)));
  std::vector<ProbeHealth> transitions;
  for (int i = 0; i < 7; ++i) {
    clock_.Advance(t.NextProbeAt() - clock_.Now());
    ASSERT_TRUE(t.ProbeDue());
    t.ProbeStarted();
    ProbeUpdate u = t.RecordResult(fake.Probe(Target("wms01", 8443)));
    if (u.changed()) transitions.push_back(u.current);
  }
  EXPECT_EQ(transitions,
            (std::vector<ProbeHealth>{ProbeHealth::kHealthy, ProbeHealth::kUnhealthy,
                                      ProbeHealth::kHealthy}));
  EXPECT_EQ(fake.Calls("wms01", 8443), 7);
}

}  // namespace
}  // namespace vmk::providers
