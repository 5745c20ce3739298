// AvailabilityLedger over a fake clock and the in-memory store: planned stops begin and end from
// what each pass saw, level-triggered; a new VM's first boot and a change's restart are planned
// until Ready; controller gaps come from the last sign of life; everything survives a reload.
#include "reconciler/incidents/availability_ledger.h"

#include <gtest/gtest.h>

#include "tests/fakes/memory_store.h"

namespace vmk::reconciler {
namespace {

using std::chrono::seconds;

class AvailabilityLedgerTest : public ::testing::Test {
 protected:
  Availability Lifetime(const AvailabilityLedger& ledger, const std::string& vm) {
    for (const auto& [name, a] : ledger.Lifetimes(clock_.WallNow())) {
      if (name == vm) return a;
    }
    ADD_FAILURE() << vm << " is not accounted";
    return {};
  }
  double S(Duration d) { return std::chrono::duration<double>(d).count(); }

  FakeClock clock_;
  MemoryStore store_;
  IncidentTracker incidents_{&store_, &clock_};
};

TEST_F(AvailabilityLedgerTest, StopsTheAdminsAskedForAndFirstBootsArePlanned) {
  AvailabilityLedger ledger(&store_, &clock_, &incidents_);
  ASSERT_TRUE(ledger.Load().ok());
  // A new VM boots for 20 s before it is Ready: provisioning, not up.
  ASSERT_TRUE(ledger.Observe("wms01", 1, true, false).ok());
  clock_.Advance(seconds(20));
  ASSERT_TRUE(ledger.Observe("wms01", 1, true, true).ok());
  clock_.Advance(seconds(100));
  // running: false for 300 s (each pass sees it again: one stop, not several).
  ASSERT_TRUE(ledger.Observe("wms01", 2, false, false).ok());
  clock_.Advance(seconds(150));
  ASSERT_TRUE(ledger.Observe("wms01", 2, false, false).ok());
  clock_.Advance(seconds(150));
  // Started again (generation 3), Ready 10 s later.
  ASSERT_TRUE(ledger.Observe("wms01", 3, true, false).ok());
  clock_.Advance(seconds(10));
  ASSERT_TRUE(ledger.Observe("wms01", 3, true, true).ok());
  clock_.Advance(seconds(50));
  // Not Ready on the generation it was Ready on: a failure's business (an incident), not planned.
  ASSERT_TRUE(ledger.Observe("wms01", 3, true, false).ok());
  clock_.Advance(seconds(5));
  Availability a = Lifetime(ledger, "wms01");
  EXPECT_DOUBLE_EQ(S(a.observed), 485);
  EXPECT_DOUBLE_EQ(S(a.planned), 20 + 300 + 10);
  EXPECT_DOUBLE_EQ(S(a.Up()), 100 + 50 + 5);

  // The same from the store.
  AvailabilityLedger reloaded(&store_, &clock_, &incidents_);
  ASSERT_TRUE(reloaded.Load().ok());
  Availability b = Lifetime(reloaded, "wms01");
  EXPECT_EQ(b.planned, a.planned);
  EXPECT_EQ(b.observed, a.observed);
}

TEST_F(AvailabilityLedgerTest, AnOpenStopSurvivesAReloadAndEndsWhenReadyAgain) {
  {
    AvailabilityLedger ledger(&store_, &clock_, &incidents_);
    ASSERT_TRUE(ledger.Load().ok());
    ASSERT_TRUE(ledger.Observe("wms01", 1, true, true).ok());
    clock_.Advance(seconds(10));
    ASSERT_TRUE(ledger.Observe("wms01", 2, true, false).ok());  // restarting for a change
  }
  clock_.Advance(seconds(40));
  AvailabilityLedger ledger(&store_, &clock_, &incidents_);
  ASSERT_TRUE(ledger.Load().ok());
  ASSERT_TRUE(ledger.Observe("wms01", 2, true, true).ok());
  clock_.Advance(seconds(5));
  Availability a = Lifetime(ledger, "wms01");
  EXPECT_DOUBLE_EQ(S(a.planned), 40);
  EXPECT_DOUBLE_EQ(S(a.Up()), 15);
}

TEST_F(AvailabilityLedgerTest, TheTimeSinceTheLastSignOfLifeIsAGap) {
  {
    AvailabilityLedger ledger(&store_, &clock_, &incidents_);
    ASSERT_TRUE(ledger.Load().ok());
    ASSERT_TRUE(ledger.Start().ok());
    EXPECT_TRUE(ledger.Gaps().empty()) << "the first start follows nothing";
    ASSERT_TRUE(ledger.Observe("wms01", 1, true, true).ok());
    clock_.Advance(seconds(30));
    ASSERT_TRUE(ledger.Alive(false).ok());
    clock_.Advance(seconds(4));  // killed before its next sign of life
  }
  clock_.Advance(seconds(100));
  AvailabilityLedger ledger(&store_, &clock_, &incidents_);
  ASSERT_TRUE(ledger.Load().ok());
  ASSERT_TRUE(ledger.Start().ok());
  ASSERT_EQ(ledger.Gaps().size(), 1u);
  EXPECT_DOUBLE_EQ(S(ledger.Gaps()[0].to - ledger.Gaps()[0].from), 104);
  clock_.Advance(seconds(6));
  Availability a = Lifetime(ledger, "wms01");
  EXPECT_DOUBLE_EQ(S(a.unobserved), 104);
  EXPECT_DOUBLE_EQ(S(a.Up()), 36);
  // Gaps are kept: a third start still knows the first gap.
  AvailabilityLedger third(&store_, &clock_, &incidents_);
  ASSERT_TRUE(third.Load().ok());
  ASSERT_TRUE(third.Start().ok());
  EXPECT_EQ(third.Gaps().size(), 2u) << "the second controller left no clean stop either";
}

TEST_F(AvailabilityLedgerTest, ClosedIncidentsAreKeptAndADeletedVmStartsAfresh) {
  AvailabilityLedger ledger(&store_, &clock_, &incidents_);
  incidents_.SetListener([&](const Incident& i, IncidentTracker::Change change) {
    ledger.OnIncident(i, change);
  });
  ASSERT_TRUE(ledger.Load().ok());
  ASSERT_TRUE(ledger.Observe("wms01", 1, true, true).ok());
  clock_.Advance(seconds(10));
  ASSERT_TRUE(
      incidents_.Open(specs::Kind::kVirtualMachine, "wms01", "VmCrashed", clock_.WallNow(), "libvirt")
          .ok());
  clock_.Advance(seconds(7));
  EXPECT_DOUBLE_EQ(S(Lifetime(ledger, "wms01").downtime), 7) << "open: from the tracker";
  ASSERT_TRUE(incidents_.Resolve(specs::Kind::kVirtualMachine, "wms01").ok());
  clock_.Advance(seconds(3));
  EXPECT_DOUBLE_EQ(S(Lifetime(ledger, "wms01").downtime), 7) << "closed: kept";
  AvailabilityLedger reloaded(&store_, &clock_, &incidents_);
  ASSERT_TRUE(reloaded.Load().ok());
  EXPECT_DOUBLE_EQ(S(Lifetime(reloaded, "wms01").downtime), 7) << "closed: from the store";

  ASSERT_TRUE(ledger.Forget("wms01").ok());
  EXPECT_FALSE(ledger.History("wms01").has_value());
  AvailabilityLedger after_delete(&store_, &clock_, &incidents_);
  ASSERT_TRUE(after_delete.Load().ok());
  EXPECT_FALSE(after_delete.History("wms01").has_value());
  // Created again under the same name: its own life, without the old one's incident.
  clock_.Advance(seconds(100));
  ASSERT_TRUE(after_delete.Observe("wms01", 1, true, true).ok());
  clock_.Advance(seconds(5));
  Availability fresh = Lifetime(after_delete, "wms01");
  EXPECT_DOUBLE_EQ(S(fresh.observed), 5);
  EXPECT_DOUBLE_EQ(S(fresh.downtime), 0);
}

}  // namespace
}  // namespace vmk::reconciler
