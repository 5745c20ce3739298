// AlertIntake over a MemoryStore and a FakeClock: what an alert records, what it enqueues, that
// repeats and other signals of the same failure make one incident, and that an alert alone
// never fences a host that answers.
#include "reconciler/alerts/alert_intake.h"

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/fakes/reconcile_fixture.h"

namespace vmk::reconciler {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::Not;
using providers::AlertSignal;
using specs::Kind;

class AlertIntakeTest : public ReconcileFixture {
 protected:
  AlertIntakeTest() : intake_(ctx_) {
    Apply(HostYaml("hv01", "{}", ", fencing: {agent: fence_test, args: {ip: 10.0.0.1}}") +
          VmYaml("vm01"));
  }

  AlertSignal HostDown(const std::string& host, std::chrono::seconds ago,
                       const std::string& fingerprint = "fp-host") {
    AlertSignal s;
    s.target = AlertSignal::Target::kHost;
    s.name = host;
    s.starts_at = clock_.WallNow() - ago;
    s.alert_name = "HostDown";
    s.fingerprint = fingerprint;
    s.summary = host + " does not answer";
    return s;
  }
  AlertSignal VmDown(const std::string& vm, std::chrono::seconds ago) {
    AlertSignal s;
    s.target = AlertSignal::Target::kVirtualMachine;
    s.name = vm;
    s.starts_at = clock_.WallNow() - ago;
    s.alert_name = "ServiceDown";
    s.fingerprint = "fp-vm-" + vm;
    return s;
  }
  AlertIntakeOutcome IngestOk(std::vector<AlertSignal> signals) {
    auto out = intake_.Ingest(signals);
    EXPECT_TRUE(out.ok()) << out.status().ToString();
    return out.ok() ? *out : AlertIntakeOutcome{};
  }
  // Everything the queue would hand out now.
  std::vector<std::string> Enqueued() {
    std::vector<std::string> keys;
    std::string key;
    while (queue_.Len() > 0 && queue_.Get(&key)) {
      queue_.Done(key);
      keys.push_back(key);
    }
    return keys;
  }
  std::vector<Incident> IncidentsOf(Kind kind, const std::string& name) {
    auto all = incidents_.List(ObjectRef{kind, name});
    EXPECT_TRUE(all.ok()) << all.status().ToString();
    return all.ok() ? *all : std::vector<Incident>{};
  }

  AlertIntake intake_;
};

TEST_F(AlertIntakeTest, HostAlertOpensAnIncidentFromStartsAtAndAsksForALook) {
  const AlertSignal alert = HostDown("hv01", std::chrono::seconds(30));
  AlertIntakeOutcome out = IngestOk({alert});
  EXPECT_EQ(out.accepted, 1);
  EXPECT_EQ(out.repeated, 0);
  EXPECT_THAT(out.skipped, IsEmpty());

  auto incidents = IncidentsOf(Kind::kHost, "hv01");
  ASSERT_EQ(incidents.size(), 1u);
  EXPECT_TRUE(incidents[0].open());
  EXPECT_EQ(incidents[0].type, "HostFailure");
  EXPECT_EQ(incidents[0].occurred, FormatRfc3339(alert.starts_at));
  EXPECT_EQ(incidents[0].detected, FormatRfc3339(clock_.WallNow()));
  EXPECT_THAT(incidents[0].sources, ElementsAre("alert"));
  EXPECT_THAT(HostReasons("hv01"), ElementsAre("AlertFiring"));
  // Evidence on its own channel, not a failed heartbeat: the heartbeats' verdict is theirs.
  EXPECT_TRUE(loop_.signals().Get("hv01").alert_firing);
  EXPECT_EQ(health_.Get("hv01").consecutive_failures, 0);
  std::vector<std::string> keys = Enqueued();
  EXPECT_THAT(keys, Contains(HeartbeatKey("hv01")));
  EXPECT_THAT(keys, Contains("host/hv01"));
  EXPECT_EQ(fencer_.total_calls(), 0);
}

TEST_F(AlertIntakeTest, RepeatsAreDroppedAndMakeNoSecondIncident) {
  const AlertSignal alert = HostDown("hv01", std::chrono::seconds(5));
  EXPECT_EQ(IngestOk({alert}).accepted, 1);
  (void)Enqueued();
  clock_.Advance(std::chrono::minutes(5));
  AlertIntakeOutcome again = IngestOk({alert, alert});
  EXPECT_EQ(again.accepted, 0);
  EXPECT_EQ(again.repeated, 2);
  EXPECT_EQ(IncidentsOf(Kind::kHost, "hv01").size(), 1u);
  EXPECT_THAT(HostReasons("hv01"), ElementsAre("AlertFiring"));
  EXPECT_THAT(Enqueued(), IsEmpty()) << "a repeat asks for nothing";
  EXPECT_TRUE(loop_.signals().Get("hv01").alert_firing);
}

TEST_F(AlertIntakeTest, AlertsOfAnotherSourceJoinTheOpenIncidentWithTheEarliestEvidence) {
  // The heartbeats saw it first (detected now); the alert says it began a minute ago.
  ASSERT_TRUE(incidents_.Open(Kind::kHost, "hv01", "HostFailure", clock_.WallNow(), "heartbeat")
                  .ok());
  clock_.Advance(std::chrono::seconds(2));
  const AlertSignal alert = HostDown("hv01", std::chrono::seconds(60));
  // And a second, distinct alert rule about the same host.
  const AlertSignal other = HostDown("hv01", std::chrono::seconds(10), "fp-other-rule");
  AlertIntakeOutcome out = IngestOk({alert, other});
  EXPECT_EQ(out.accepted, 2);
  auto incidents = IncidentsOf(Kind::kHost, "hv01");
  ASSERT_EQ(incidents.size(), 1u);
  EXPECT_EQ(incidents[0].occurred, FormatRfc3339(alert.starts_at));
  EXPECT_THAT(incidents[0].sources, Contains("heartbeat"));
  EXPECT_THAT(incidents[0].sources, Contains("alert"));
}

TEST_F(AlertIntakeTest, VmAlertOpensAVmIncidentAndLeavesTheHostAlone) {
  AlertIntakeOutcome out = IngestOk({VmDown("vm01", std::chrono::seconds(3))});
  EXPECT_EQ(out.accepted, 1);
  auto incidents = IncidentsOf(Kind::kVirtualMachine, "vm01");
  ASSERT_EQ(incidents.size(), 1u);
  EXPECT_EQ(incidents[0].type, "VmAlert");
  EXPECT_THAT(Reasons("vm01"), ElementsAre("AlertFiring"));
  EXPECT_THAT(Enqueued(), ElementsAre("vm/vm01"));
  EXPECT_EQ(health_.Get("hv01").state, HostHealthState::kUnknown);
  EXPECT_THAT(IncidentsOf(Kind::kHost, "hv01"), IsEmpty());
}

TEST_F(AlertIntakeTest, AlertsNamingNothingKnownAreSkipped) {
  AlertIntakeOutcome out =
      IngestOk({HostDown("hv99", std::chrono::seconds(1)), VmDown("vm99", std::chrono::seconds(1))});
  EXPECT_EQ(out.accepted, 0);
  EXPECT_THAT(out.skipped, ElementsAre("HostDown: no Host named hv99",
                                       "ServiceDown: no VirtualMachine named vm99"));
  auto all = incidents_.List(std::nullopt);
  ASSERT_TRUE(all.ok());
  EXPECT_THAT(*all, IsEmpty());
  EXPECT_THAT(Enqueued(), IsEmpty());
}

TEST_F(AlertIntakeTest, ResolvedAlertAsksForALookButClosesNothingItself) {
  AlertSignal alert = HostDown("hv01", std::chrono::seconds(5));
  IngestOk({alert});
  (void)Enqueued();
  alert.firing = false;
  alert.ends_at = clock_.WallNow();
  AlertIntakeOutcome out = IngestOk({alert});
  EXPECT_EQ(out.accepted, 1);
  EXPECT_THAT(HostReasons("hv01"), ElementsAre("AlertFiring", "AlertResolved"));
  EXPECT_THAT(Enqueued(), ElementsAre("host/hv01"));
  // The host reconciler decides when the failure is over, not the alert.
  auto incidents = IncidentsOf(Kind::kHost, "hv01");
  ASSERT_EQ(incidents.size(), 1u);
  EXPECT_TRUE(incidents[0].open());
}

TEST_F(AlertIntakeTest, AnAlertAloneNeverFencesAHostThatAnswers) {
  SyncHost("hv01");
  // Three distinct alert rules, spanning more than the failure threshold's intervals, about a
  // host that is in fact fine.
  for (int i = 0; i < 3; ++i) {
    IngestOk({HostDown("hv01", std::chrono::seconds(1), "fp-rule-" + std::to_string(i))});
    clock_.Advance(std::chrono::seconds(2));
  }
  // The alerts are evidence of their own; the heartbeats (run by the keys they asked for) say
  // the host answers.
  ASSERT_TRUE(loop_.signals().Get("hv01").alert_firing);
  for (const auto& key : Enqueued()) {
    auto r = loop_.Run(key, CancelToken());
    EXPECT_TRUE(r.status.ok()) << key << ": " << r.status.ToString();
  }
  EXPECT_EQ(fencer_.total_calls(), 0);
  EXPECT_EQ(HostCondition("hv01", "Ready"), "True/Connected");
  EXPECT_EQ(HostStatusOf("hv01").failover.phase, "");
  EXPECT_THAT(HostReasons("hv01"), Not(Contains("HostFailed")));
  // The host answered: the alerts' incident is over.
  auto incidents = IncidentsOf(Kind::kHost, "hv01");
  ASSERT_EQ(incidents.size(), 1u);
  EXPECT_FALSE(incidents[0].open());
}

// A store whose reads fail (a broken disk under RocksDB).
class UnreadableStore : public MemoryStore {
 public:
  StatusOr<std::optional<specs::Object>> Get(Kind, const std::string&) override {
    return Status::Unavailable("disk on fire");
  }
};

TEST_F(AlertIntakeTest, AStoreFailureIsReturnedAndNothingIsTaken) {
  UnreadableStore broken;
  ReconcileContext ctx = ctx_;
  ctx.store = &broken;
  AlertIntake intake(ctx);
  auto out = intake.Ingest({HostDown("hv01", std::chrono::seconds(1))});
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), StatusCode::kUnavailable);
  EXPECT_THAT(Enqueued(), IsEmpty());
  EXPECT_EQ(health_.Get("hv01").state, HostHealthState::kUnknown);
}

}  // namespace
}  // namespace vmk::reconciler
