// Availability accounting over scripted histories: downtime from `occurred`, overlapping and
// nested incidents counted once, open ones up to the window's end, the window clipped to the
// VM's life, planned stops, alert-only reports, controller restarts in the middle of an
// incident, and several VMs' figures added up (a host failure that took many down).
#include "reconciler/incidents/availability.h"

#include <gtest/gtest.h>

#include "common/rfc3339.h"

namespace vmk::reconciler {
namespace {

using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;

const WallTime kT0 = WallTime(std::chrono::hours(24 * 20000));  // a day in 2024

std::string At(Duration since_t0) { return FormatRfc3339(kT0 + since_t0); }

Incident Vm(Duration occurred, std::optional<Duration> recovered, const std::string& name = "a") {
  Incident i;
  i.kind = specs::Kind::kVirtualMachine;
  i.name = name;
  i.type = "VmCrashed";
  i.occurred = At(occurred);
  i.detected = At(occurred + seconds(1));
  if (recovered) i.recovered = At(*recovered);
  return i;
}

const AvailabilityWindow kDay{kT0, kT0 + hours(24)};

Availability AccountAvailability(std::vector<Incident> incidents, WallTime since,
                                 AvailabilityWindow window, std::vector<PlannedStop> planned = {},
                                 std::vector<ControllerGap> gaps = {}) {
  return reconciler::AccountAvailability(
      VmHistory{since, std::move(planned), std::move(incidents)}, gaps, window);
}

TEST(AvailabilityTest, NoIncidentIsFullyAvailableWithNoMttrNorMtbf) {
  Availability a = AccountAvailability({}, kT0 - hours(1), kDay);
  EXPECT_EQ(a.observed, hours(24));
  EXPECT_EQ(a.downtime, Duration::zero());
  EXPECT_DOUBLE_EQ(a.Ratio(), 1.0);
  EXPECT_FALSE(a.Mttr().has_value());
  EXPECT_FALSE(a.Mtbf().has_value());
}

// Two outages of 6 and 12 minutes: MTTR 9 min from `occurred`, MTBF = up time / 2, and
// availability = MTBF / (MTBF + MTTR) as the design defines it.
TEST(AvailabilityTest, DowntimeAndMttrCountFromWhenItFailed) {
  Availability a = AccountAvailability(
      {Vm(hours(1), hours(1) + minutes(6)), Vm(hours(10), hours(10) + minutes(12))}, kT0, kDay);
  EXPECT_EQ(a.downtime, minutes(18));
  EXPECT_EQ(a.failures, 2);
  EXPECT_EQ(a.recoveries, 2);
  EXPECT_EQ(*a.Mttr(), minutes(9));
  EXPECT_EQ(*a.Mtbf(), (hours(24) - minutes(18)) / 2);
  const double mtbf = std::chrono::duration<double>(*a.Mtbf()).count();
  const double mttr = std::chrono::duration<double>(*a.Mttr()).count();
  EXPECT_NEAR(a.Ratio(), mtbf / (mtbf + mttr), 1e-12);
  EXPECT_NEAR(a.Ratio(), 1.0 - 18.0 / (24 * 60), 1e-12);
}

// A crash during a host failure, and one overlapping its end: the VM was down once, from the
// first failure to the last recovery.
TEST(AvailabilityTest, OverlappingAndNestedIncidentsCountOnce) {
  Availability a = AccountAvailability({Vm(hours(2), hours(2) + minutes(30)),
                                        Vm(hours(2) + minutes(5), hours(2) + minutes(10)),
                                        Vm(hours(2) + minutes(20), hours(2) + minutes(40))},
                                       kT0, kDay);
  EXPECT_EQ(a.downtime, minutes(40));
  EXPECT_EQ(a.failures, 1) << "one outage";
  EXPECT_EQ(*a.Mttr(), minutes(40));
}

// An incident still open is downtime up to the window's end; one that began before the window
// counts only inside it, and is not a failure of this window (but its recovery is).
TEST(AvailabilityTest, OpenIncidentsAndIncidentsAcrossTheWindowAreClipped) {
  Availability a = AccountAvailability(
      {Vm(-minutes(30), minutes(15)), Vm(hours(23), std::nullopt)}, kT0 - hours(5), kDay);
  EXPECT_EQ(a.downtime, minutes(15) + hours(1));
  EXPECT_EQ(a.failures, 1);
  EXPECT_EQ(a.recoveries, 1);
  EXPECT_EQ(*a.Mttr(), minutes(45)) << "from when it failed, before the window";
}

// A VM created at noon is observed for half the day; incidents of other kinds (its host's)
// and unreadable times are not its downtime.
TEST(AvailabilityTest, OnlyTheVmsLifeAndItsOwnIncidentsCount) {
  Incident host = Vm(hours(13), hours(14));
  host.kind = specs::Kind::kHost;
  Incident garbled = Vm(hours(15), hours(16));
  garbled.occurred = "yesterday";
  Availability a = AccountAvailability({host, garbled, Vm(hours(18), hours(18) + minutes(12))},
                                       kT0 + hours(12), kDay);
  EXPECT_EQ(a.observed, hours(12));
  EXPECT_EQ(a.downtime, minutes(12));
  EXPECT_NEAR(a.Ratio(), 1.0 - 12.0 / (12 * 60), 1e-12);
  EXPECT_EQ(AccountAvailability({}, kT0 + hours(30), kDay).observed, Duration::zero())
      << "created after the window";
}

// A fleet's figures are VM-time: one VM down for 6 h of a day and another never down make a
// fleet 87.5 % available, MTTR that of the one incident.
TEST(AvailabilityTest, SeveralVmsAddUpAsVmTime) {
  Availability fleet;
  fleet.Add(AccountAvailability({Vm(hours(1), hours(7))}, kT0, kDay));
  fleet.Add(AccountAvailability({}, kT0, kDay));
  EXPECT_EQ(fleet.observed, hours(48));
  EXPECT_DOUBLE_EQ(fleet.Ratio(), 1.0 - 6.0 / 48.0);
  EXPECT_EQ(*fleet.Mttr(), hours(6));
  EXPECT_EQ(*fleet.Mtbf(), hours(42));
}

// running: false for 2 h, and a restart for an applied change that took 5 min to be Ready:
// neither up nor down, so they leave the ratio alone; a crash inside the change's restart is
// downtime (down wins over planned).
TEST(AvailabilityTest, PlannedStopsAreNeitherUpNorDown) {
  Availability a = AccountAvailability(
      {Vm(hours(6) + minutes(2), hours(6) + minutes(4))}, kT0, kDay,
      {PlannedStop{kT0 + hours(1), kT0 + hours(3), "stopped"},
       PlannedStop{kT0 + hours(6), kT0 + hours(6) + minutes(5), "change"}});
  EXPECT_EQ(a.planned, hours(2) + minutes(3));
  EXPECT_EQ(a.downtime, minutes(2));
  EXPECT_EQ(a.Accounted(), hours(24) - hours(2) - minutes(3));
  EXPECT_EQ(a.Up(), a.Accounted() - minutes(2));
  const double accounted = std::chrono::duration<double>(a.Accounted()).count();
  EXPECT_NEAR(a.Ratio(), 1.0 - 120.0 / accounted, 1e-12);
  // A stop that still lasts runs to the window's end.
  Availability open = AccountAvailability({}, kT0, kDay,
                                          {PlannedStop{kT0 + hours(20), std::nullopt, "stopped"}});
  EXPECT_EQ(open.planned, hours(4));
  EXPECT_DOUBLE_EQ(open.Ratio(), 1.0);
}

// A VMDown alert about a VM that was running the whole time opens an incident that closes at
// the next look: reported, never seen, so not downtime and no MTTR; counted as unconfirmed.
TEST(AvailabilityTest, AnAlertVmkeeperCouldNotConfirmIsNotDowntime) {
  Incident alert = Vm(hours(3), hours(3) + seconds(1));
  alert.type = "VmAlert";
  alert.confirmed = false;
  Availability a = AccountAvailability({alert}, kT0, kDay);
  EXPECT_EQ(a.downtime, Duration::zero());
  EXPECT_EQ(a.failures, 0);
  EXPECT_FALSE(a.Mttr().has_value());
  EXPECT_EQ(a.unconfirmed, 1);
  EXPECT_DOUBLE_EQ(a.Ratio(), 1.0);
}

// vmkeeperd stopped for 1 h while nothing was wrong: that hour is unobserved, neither up nor
// down. Stopped again for 1 h in the middle of a 3 h incident: the incident is down through
// the gap (failed before, found still failed after), and that hour is said to be unobserved.
TEST(AvailabilityTest, AControllerRestartNeitherInventsNorLosesDowntime) {
  const std::vector<ControllerGap> gaps = {{kT0 + hours(2), kT0 + hours(3)},
                                           {kT0 + hours(11), kT0 + hours(12)}};
  Availability a = AccountAvailability({Vm(hours(10), hours(13))}, kT0, kDay, {}, gaps);
  EXPECT_EQ(a.unobserved, hours(1));
  EXPECT_EQ(a.downtime, hours(3));
  EXPECT_EQ(a.downtime_unobserved, hours(1));
  EXPECT_EQ(a.Up(), hours(20));
  EXPECT_EQ(*a.Mttr(), hours(3));
  // A failure found at the restart, whose evidence says it began inside the gap: down from
  // then; the gap before it stays unobserved.
  Availability found = AccountAvailability({Vm(hours(2) + minutes(40), hours(3) + minutes(5))},
                                           kT0, kDay, {}, {gaps[0]});
  EXPECT_EQ(found.downtime, minutes(25));
  EXPECT_EQ(found.unobserved, minutes(40));
  EXPECT_EQ(found.downtime_unobserved, minutes(20));
  // A planned stop across a gap is planned, not unobserved.
  Availability stopped = AccountAvailability(
      {}, kT0, kDay, {PlannedStop{kT0 + hours(1), kT0 + hours(4), "stopped"}}, {gaps[0]});
  EXPECT_EQ(stopped.planned, hours(3));
  EXPECT_EQ(stopped.unobserved, Duration::zero());
}

// A host failure that took 50 VMs down for 4 min charges each of them once (each VM has its
// own HostFailure incident); the host's own incident charges none. The fleet: 50 failures,
// MTTR 4 min, 200 VM-minutes down of 100 VM-days.
TEST(AvailabilityTest, AHostIncidentChargesEachVmItTookDownOnce) {
  Incident host = Vm(hours(5), hours(5) + minutes(4), "hv02");
  host.kind = specs::Kind::kHost;
  host.type = "HostFailure";
  Availability fleet;
  for (int i = 0; i < 100; ++i) {
    std::vector<Incident> incidents = {host};
    if (i < 50) {
      Incident vm = Vm(hours(5), hours(5) + minutes(4), "vm" + std::to_string(i));
      vm.type = "HostFailure";
      incidents.push_back(vm);
      // The crash the failover's restart reported inside the same outage: still once.
      incidents.push_back(Vm(hours(5) + minutes(1), hours(5) + minutes(3), vm.name));
    }
    fleet.Add(AccountAvailability(incidents, kT0, kDay));
  }
  EXPECT_EQ(fleet.downtime, minutes(200));
  EXPECT_EQ(fleet.failures, 50);
  EXPECT_EQ(*fleet.Mttr(), minutes(4));
  EXPECT_DOUBLE_EQ(fleet.Ratio(), 1.0 - 200.0 / (100 * 24 * 60));
}

}  // namespace
}  // namespace vmk::reconciler
