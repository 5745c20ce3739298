#include "reconciler/incidents/incident_tracker.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/fakes/memory_store.h"

namespace vmk::reconciler {
namespace {

using specs::Kind;
using std::chrono::seconds;

class IncidentTrackerTest : public ::testing::Test {
 protected:
  FakeClock clock_;
  MemoryStore store_;
  IncidentTracker tracker_{&store_, &clock_};
};

TEST_F(IncidentTrackerTest, SignalsOfOneFailureMakeOneIncidentWithTheEarliestEvidence) {
  WallTime now = clock_.WallNow();
  auto first = tracker_.Open(Kind::kHost, "hv02", "HostFailure", now - seconds(3), "heartbeat");
  ASSERT_TRUE(first.ok());
  clock_.Advance(seconds(1));
  auto second = tracker_.Open(Kind::kHost, "hv02", "HostFailure", now - seconds(10), "alert");
  ASSERT_TRUE(second.ok());
  auto third = tracker_.Open(Kind::kHost, "hv02", "HostFailure", now - seconds(1), "alert");
  ASSERT_TRUE(third.ok());
  EXPECT_EQ(first->id, third->id);
  EXPECT_EQ(third->occurred, FormatRfc3339(now - seconds(10)));
  EXPECT_EQ(third->detected, FormatRfc3339(now));
  EXPECT_THAT(third->sources, ::testing::ElementsAre("heartbeat", "alert"));
  auto all = tracker_.List(std::nullopt);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 1u);
}

TEST_F(IncidentTrackerTest, ResolveClosesAndTheNextFailureIsANewIncident) {
  ASSERT_TRUE(tracker_.Open(Kind::kVirtualMachine, "wms01", "VmCrashed", clock_.WallNow(), "event").ok());
  ASSERT_TRUE(tracker_.AddAction(Kind::kVirtualMachine, "wms01", "started on hv01").ok());
  clock_.Advance(seconds(5));
  auto resolved = tracker_.Resolve(Kind::kVirtualMachine, "wms01");
  ASSERT_TRUE(resolved.ok() && resolved->has_value());
  EXPECT_FALSE((*resolved)->open());
  EXPECT_EQ((*resolved)->actions.size(), 1u);
  EXPECT_FALSE(tracker_.OpenIncident(Kind::kVirtualMachine, "wms01").has_value());
  clock_.Advance(seconds(60));
  ASSERT_TRUE(tracker_.Open(Kind::kVirtualMachine, "wms01", "VmCrashed", clock_.WallNow(), "event").ok());
  auto list = tracker_.List(ObjectRef{Kind::kVirtualMachine, "wms01"});
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_FALSE((*list)[0].open());
  EXPECT_TRUE((*list)[1].open());
  auto none = tracker_.Resolve(Kind::kVirtualMachine, "other");
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
}

TEST_F(IncidentTrackerTest, OpenIncidentsSurviveARestart) {
  ASSERT_TRUE(tracker_.Open(Kind::kHost, "hv01", "HostFailure", clock_.WallNow(), "heartbeat").ok());
  IncidentTracker restarted(&store_, &clock_);
  ASSERT_TRUE(restarted.Load().ok());
  auto open = restarted.OpenIncident(Kind::kHost, "hv01");
  ASSERT_TRUE(open.has_value());
  auto joined = restarted.Open(Kind::kHost, "hv01", "HostFailure", clock_.WallNow(), "alert");
  ASSERT_TRUE(joined.ok());
  EXPECT_EQ(joined->id, open->id);
}

TEST_F(IncidentTrackerTest, EvidenceFromTheFutureIsClampedToNow) {
  auto i = tracker_.Open(Kind::kHost, "hv01", "HostFailure", clock_.WallNow() + seconds(30), "alert");
  ASSERT_TRUE(i.ok());
  EXPECT_EQ(i->occurred, i->detected);
}

}  // namespace
}  // namespace vmk::reconciler

namespace vmk::reconciler {
namespace {

const char* ChangeName(IncidentTracker::Change change) {
  switch (change) {
    case IncidentTracker::Change::kOpened: return "opened";
    case IncidentTracker::Change::kConfirmed: return "confirmed";
    case IncidentTracker::Change::kResolved: return "resolved";
  }
  return "?";
}

TEST(IncidentTrackerListenerTest, IsToldOfEachNewIncidentAndEachRecoveryOnce) {
  FakeClock clock;
  MemoryStore store;
  IncidentTracker tracker(&store, &clock);
  std::vector<std::string> told;
  tracker.SetListener([&](const Incident& i, IncidentTracker::Change change) {
    told.push_back(std::string(ChangeName(change)) + " " + i.name + " " + i.type);
  });
  ASSERT_TRUE(tracker.Open(specs::Kind::kVirtualMachine, "wms01", "VmCrashed", clock.WallNow(), "libvirt").ok());
  ASSERT_TRUE(tracker.Open(specs::Kind::kVirtualMachine, "wms01", "VmCrashed", clock.WallNow(), "alert").ok());
  ASSERT_TRUE(tracker.Resolve(specs::Kind::kVirtualMachine, "wms01").ok());
  ASSERT_TRUE(tracker.Resolve(specs::Kind::kVirtualMachine, "wms01").ok());
  EXPECT_EQ(told, (std::vector<std::string>{"opened wms01 VmCrashed", "resolved wms01 VmCrashed"}));
}

// A VMDown alert opens an unconfirmed incident; what vmkeeper sees itself confirms it and names
// it; an alert joining a confirmed incident changes nothing of that. Stored and reloaded as such.
TEST(IncidentTrackerListenerTest, AnAlertAloneIsUnconfirmedUntilVmkeeperSeesTheFailure) {
  FakeClock clock;
  MemoryStore store;
  IncidentTracker tracker(&store, &clock);
  std::vector<std::string> told;
  tracker.SetListener([&](const Incident& i, IncidentTracker::Change change) {
    told.push_back(std::string(ChangeName(change)) + " " + i.name + " " + i.type +
                   (i.confirmed ? "" : " (unconfirmed)"));
  });
  const WallTime starts_at = clock.WallNow() - std::chrono::seconds(30);
  auto alert = tracker.Open(specs::Kind::kVirtualMachine, "wms01", "VmAlert", starts_at, "alert");
  ASSERT_TRUE(alert.ok());
  EXPECT_FALSE(alert->confirmed);
  // Reported but never seen: it closes unconfirmed.
  ASSERT_TRUE(tracker.Resolve(specs::Kind::kVirtualMachine, "wms01").ok());
  // Reported, then seen by libvirt: confirmed, typed by what was seen, from the alert's time.
  ASSERT_TRUE(tracker.Open(specs::Kind::kVirtualMachine, "ce01", "VmAlert", starts_at, "alert").ok());
  auto seen = tracker.Open(specs::Kind::kVirtualMachine, "ce01", "VmCrashed", clock.WallNow(), "libvirt");
  ASSERT_TRUE(seen.ok());
  EXPECT_TRUE(seen->confirmed);
  EXPECT_EQ(seen->type, "VmCrashed");
  EXPECT_EQ(seen->occurred, FormatRfc3339(starts_at));
  ASSERT_TRUE(tracker.Open(specs::Kind::kVirtualMachine, "ce01", "VmAlert", starts_at, "alert").ok());
  EXPECT_EQ(told, (std::vector<std::string>{"opened wms01 VmAlert (unconfirmed)",
                                            "resolved wms01 VmAlert (unconfirmed)",
                                            "opened ce01 VmAlert (unconfirmed)",
                                            "confirmed ce01 VmCrashed"}));
  IncidentTracker reloaded(&store, &clock);
  ASSERT_TRUE(reloaded.Load().ok());
  auto open = reloaded.OpenIncident(specs::Kind::kVirtualMachine, "ce01");
  ASSERT_TRUE(open.has_value());
  EXPECT_TRUE(open->confirmed);
  auto all = reloaded.List(ObjectRef{specs::Kind::kVirtualMachine, "wms01"});
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 1u);
  EXPECT_FALSE((*all)[0].confirmed);
}

}  // namespace
}  // namespace vmk::reconciler
