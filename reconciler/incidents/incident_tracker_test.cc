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

TEST(IncidentTrackerListenerTest, IsToldOfEachNewIncidentAndEachRecoveryOnce) {
  FakeClock clock;
  MemoryStore store;
  IncidentTracker tracker(&store, &clock);
  std::vector<std::string> told;
  tracker.SetListener([&](const Incident& i, bool opened) {
    told.push_back(std::string(opened ? "opened " : "recovered ") + i.name + " " + i.type);
  });
  ASSERT_TRUE(tracker.Open(specs::Kind::kVirtualMachine, "wms01", "VmCrashed", clock.WallNow(), "libvirt").ok());
  ASSERT_TRUE(tracker.Open(specs::Kind::kVirtualMachine, "wms01", "VmCrashed", clock.WallNow(), "alert").ok());
  ASSERT_TRUE(tracker.Resolve(specs::Kind::kVirtualMachine, "wms01").ok());
  ASSERT_TRUE(tracker.Resolve(specs::Kind::kVirtualMachine, "wms01").ok());
  EXPECT_EQ(told, (std::vector<std::string>{"opened wms01 VmCrashed", "recovered wms01 VmCrashed"}));
}

}  // namespace
}  // namespace vmk::reconciler
