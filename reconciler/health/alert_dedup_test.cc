// AlertDeduplicator: repeats, resolution, re-occurrence, expiry and the memory bound, on a
// FakeClock.
#include "reconciler/health/alert_dedup.h"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

namespace vmk::providers {
namespace {

using std::chrono::hours;
using std::chrono::minutes;

const WallTime kStart = WallTime(std::chrono::seconds(1795784400));  // 2026-11-27T13:00:00Z

AlertSignal Firing(const std::string& name, const std::string& fingerprint,
                   WallTime starts_at = kStart,
                   AlertSignal::Target target = AlertSignal::Target::kHost) {
  AlertSignal s;
  s.target = target;
  s.name = name;
  s.firing = true;
  s.starts_at = starts_at;
  s.alert_name = "HostDown";
  s.fingerprint = fingerprint;
  return s;
}

AlertSignal Resolved(AlertSignal s, WallTime ends_at = kStart + minutes(20)) {
  s.firing = false;
  s.ends_at = ends_at;
  return s;
}

class AlertDedupTest : public ::testing::Test {
 protected:
  AlertDedupOptions Options(Duration expiry, std::size_t max_active = 100) {
    AlertDedupOptions o;
    o.expiry = expiry;
    o.max_active = max_active;
    return o;
  }

  FakeClock clock_;
};

TEST_F(AlertDedupTest, FirstFiringIsNewAndReSendsAreRepeats) {
  AlertDeduplicator dedup(&clock_);
  EXPECT_EQ(dedup.Observe(Firing("hv01", "aa")), AlertVerdict::kNew);
  EXPECT_EQ(dedup.Observe(Firing("hv01", "aa")), AlertVerdict::kRepeat);
  clock_.Advance(hours(4));  // Alertmanager's default repeat_interval
  EXPECT_EQ(dedup.Observe(Firing("hv01", "aa")), AlertVerdict::kRepeat);
  EXPECT_EQ(dedup.ActiveCount(), 1u);
}

TEST_F(AlertDedupTest, ResolvedForgetsSoTheNextFiringIsNew) {
  AlertDeduplicator dedup(&clock_);
  AlertSignal alert = Firing("hv01", "aa");
  EXPECT_EQ(dedup.Observe(alert), AlertVerdict::kNew);
  EXPECT_EQ(dedup.Observe(Resolved(alert)), AlertVerdict::kResolved);
  EXPECT_EQ(dedup.ActiveCount(), 0u);
  // A second resolved notification finds nothing to resolve.
  EXPECT_EQ(dedup.Observe(Resolved(alert)), AlertVerdict::kResolvedUnknown);
  // Same fingerprint, same startsAt even: it was forgotten, so it is a new failure.
  EXPECT_EQ(dedup.Observe(alert), AlertVerdict::kNew);
  EXPECT_EQ(dedup.ActiveCount(), 1u);
}

TEST_F(AlertDedupTest, ResolvedNeverSeenIsUnknown) {
  AlertDeduplicator dedup(&clock_);
  EXPECT_EQ(dedup.Observe(Resolved(Firing("hv01", "aa"))), AlertVerdict::kResolvedUnknown);
  EXPECT_EQ(dedup.ActiveCount(), 0u);
}

TEST_F(AlertDedupTest, FingerprintAndTargetBothIdentifyAnAlert) {
  AlertDeduplicator dedup(&clock_);
  EXPECT_EQ(dedup.Observe(Firing("hv01", "aa")), AlertVerdict::kNew);
  EXPECT_EQ(dedup.Observe(Firing("hv01", "bb")), AlertVerdict::kNew);  // another alert, same host
  EXPECT_EQ(dedup.Observe(Firing("hv02", "aa")), AlertVerdict::kNew);  // another host
  EXPECT_EQ(dedup.Observe(Firing("hv01", "aa", kStart, AlertSignal::Target::kVirtualMachine)),
            AlertVerdict::kNew);  // a VM that happens to share the name
  EXPECT_EQ(dedup.ActiveCount(), 4u);
  // Resolving one leaves the others.
  EXPECT_EQ(dedup.Observe(Resolved(Firing("hv01", "aa"))), AlertVerdict::kResolved);
  EXPECT_EQ(dedup.Observe(Firing("hv01", "bb")), AlertVerdict::kRepeat);
  EXPECT_EQ(dedup.Observe(Firing("hv02", "aa")), AlertVerdict::kRepeat);
  EXPECT_EQ(dedup.ActiveCount(), 3u);
}

TEST_F(AlertDedupTest, ExpiresWhenNotRefreshed) {
  AlertDeduplicator dedup(&clock_, Options(hours(1)));
  EXPECT_EQ(dedup.Observe(Firing("hv01", "aa")), AlertVerdict::kNew);
  clock_.Advance(minutes(59));
  EXPECT_EQ(dedup.Observe(Firing("hv01", "aa")), AlertVerdict::kRepeat);  // refreshes
  clock_.Advance(minutes(59));
  EXPECT_EQ(dedup.Observe(Firing("hv01", "aa")), AlertVerdict::kRepeat);  // 118 min after first
  EXPECT_EQ(dedup.ActiveCount(), 1u);
  clock_.Advance(minutes(60));
  EXPECT_EQ(dedup.ActiveCount(), 0u);
  EXPECT_EQ(dedup.Observe(Firing("hv01", "aa")), AlertVerdict::kNew);
}

TEST_F(AlertDedupTest, ExpiryIsPerAlert) {
  AlertDeduplicator dedup(&clock_, Options(hours(1)));
  dedup.Observe(Firing("hv01", "aa"));
  clock_.Advance(minutes(30));
  dedup.Observe(Firing("hv02", "bb"));
  clock_.Advance(minutes(30));  // hv01 reaches the expiry, hv02 is half-way
  EXPECT_EQ(dedup.ActiveCount(), 1u);
  EXPECT_EQ(dedup.Observe(Firing("hv02", "bb")), AlertVerdict::kRepeat);
  EXPECT_EQ(dedup.Observe(Firing("hv01", "aa")), AlertVerdict::kNew);
}

TEST_F(AlertDedupTest, ResolvedAfterExpiryIsUnknown) {
  AlertDeduplicator dedup(&clock_, Options(hours(1)));
  AlertSignal alert = Firing("hv01", "aa");
  dedup.Observe(alert);
  clock_.Advance(hours(2));
  EXPECT_EQ(dedup.Observe(Resolved(alert)), AlertVerdict::kResolvedUnknown);
}

TEST_F(AlertDedupTest, LaterStartIsANewOccurrenceEvenWithoutResolved) {
  // send_resolved: false, or the resolved notification was lost: the alert fires again with a
  // later startsAt.
  AlertDeduplicator dedup(&clock_);
  EXPECT_EQ(dedup.Observe(Firing("hv01", "aa", kStart)), AlertVerdict::kNew);
  EXPECT_EQ(dedup.Observe(Firing("hv01", "aa", kStart + hours(1))), AlertVerdict::kNew);
  EXPECT_EQ(dedup.Observe(Firing("hv01", "aa", kStart + hours(1))), AlertVerdict::kRepeat);
  EXPECT_EQ(dedup.ActiveCount(), 1u);
}

TEST_F(AlertDedupTest, EarlierStartIsTheSameOccurrence) {
  // Alertmanager merges copies of an alert keeping the earliest startsAt.
  AlertDeduplicator dedup(&clock_);
  EXPECT_EQ(dedup.Observe(Firing("hv01", "aa", kStart)), AlertVerdict::kNew);
  EXPECT_EQ(dedup.Observe(Firing("hv01", "aa", kStart - minutes(5))), AlertVerdict::kRepeat);
  // The remembered start moved earlier: the original start is not "later" any more.
  EXPECT_EQ(dedup.Observe(Firing("hv01", "aa", kStart)), AlertVerdict::kNew);
}

TEST_F(AlertDedupTest, ResolvedOfAnEarlierOccurrenceKeepsTheCurrentOne) {
  AlertDeduplicator dedup(&clock_);
  AlertSignal first = Firing("hv01", "aa", kStart);
  AlertSignal second = Firing("hv01", "aa", kStart + hours(1));
  dedup.Observe(first);
  dedup.Observe(second);  // new occurrence before first's resolution arrived
  EXPECT_EQ(dedup.Observe(Resolved(first)), AlertVerdict::kResolvedUnknown);
  EXPECT_EQ(dedup.Observe(second), AlertVerdict::kRepeat);
  EXPECT_EQ(dedup.Observe(Resolved(second, kStart + hours(2))), AlertVerdict::kResolved);
}

TEST_F(AlertDedupTest, BoundedForgetsLeastRecentlySeenFirst) {
  AlertDeduplicator dedup(&clock_, Options(hours(12), 2));
  dedup.Observe(Firing("hv01", "aa"));
  clock_.Advance(minutes(1));
  dedup.Observe(Firing("hv02", "bb"));
  clock_.Advance(minutes(1));
  EXPECT_EQ(dedup.Observe(Firing("hv01", "aa")), AlertVerdict::kRepeat);  // hv02 now least recent
  clock_.Advance(minutes(1));
  EXPECT_EQ(dedup.Observe(Firing("hv03", "cc")), AlertVerdict::kNew);  // evicts hv02
  EXPECT_EQ(dedup.ActiveCount(), 2u);
  EXPECT_EQ(dedup.Observe(Firing("hv01", "aa")), AlertVerdict::kRepeat);
  EXPECT_EQ(dedup.Observe(Firing("hv03", "cc")), AlertVerdict::kRepeat);
  EXPECT_EQ(dedup.Observe(Firing("hv02", "bb")), AlertVerdict::kNew);  // evicts hv01
  EXPECT_EQ(dedup.ActiveCount(), 2u);
}

TEST_F(AlertDedupTest, ZeroBoundStillRemembersOne) {
  AlertDeduplicator dedup(&clock_, Options(hours(1), 0));
  EXPECT_EQ(dedup.Observe(Firing("hv01", "aa")), AlertVerdict::kNew);
  EXPECT_EQ(dedup.Observe(Firing("hv01", "aa")), AlertVerdict::kRepeat);
  EXPECT_EQ(dedup.Observe(Firing("hv02", "bb")), AlertVerdict::kNew);
  EXPECT_EQ(dedup.ActiveCount(), 1u);
}

TEST_F(AlertDedupTest, ConcurrentCopiesGiveExactlyOneNew) {
  AlertDeduplicator dedup(&clock_);
  std::atomic<int> news{0};
  std::atomic<int> repeats{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 200; ++i) {
        AlertVerdict v = dedup.Observe(Firing("hv01", "aa"));
        (v == AlertVerdict::kNew ? news : repeats)++;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(news.load(), 1);
  EXPECT_EQ(repeats.load(), 8 * 200 - 1);
}

TEST_F(AlertDedupTest, ParsedSamplesEndToEnd) {
  auto read = [](const std::string& name) {
    std::ifstream in(std::filesystem::path(VMK_SOURCE_DIR) / "tests" / "data" /
                     "alertmanager" / name);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
  };
  auto firing = ParseAlertmanagerWebhook(read("sample_webhook_firing_manual.json"), {});
  auto resolved = ParseAlertmanagerWebhook(read("sample_webhook_resolved_manual.json"), {});
  ASSERT_TRUE(firing.ok()) << firing.status().ToString();
  ASSERT_TRUE(resolved.ok()) << resolved.status().ToString();
  ASSERT_EQ(firing->signals.size(), 1u);
  ASSERT_EQ(resolved->signals.size(), 1u);

  AlertDeduplicator dedup(&clock_);
  EXPECT_EQ(dedup.Observe(firing->signals[0]), AlertVerdict::kNew);
  clock_.Advance(minutes(5));  // group_interval: the group is sent again
  EXPECT_EQ(dedup.Observe(firing->signals[0]), AlertVerdict::kRepeat);
  EXPECT_EQ(dedup.Observe(resolved->signals[0]), AlertVerdict::kResolved);
  EXPECT_EQ(dedup.ActiveCount(), 0u);
}

TEST(AlertVerdictNameTest, Names) {
  EXPECT_STREQ(AlertVerdictName(AlertVerdict::kNew), "New");
  EXPECT_STREQ(AlertVerdictName(AlertVerdict::kRepeat), "Repeat");
  EXPECT_STREQ(AlertVerdictName(AlertVerdict::kResolved), "Resolved");
  EXPECT_STREQ(AlertVerdictName(AlertVerdict::kResolvedUnknown), "ResolvedUnknown");
}

}  // namespace
}  // namespace vmk::providers
