// Availability accounting over scripted incidents: downtime from `occurred`, overlapping and
// nested incidents counted once, open ones up to the window's end, the window clipped to the
// VM's life, and several VMs' figures added up.
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
  EXPECT_EQ(a.failures, 3);
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

}  // namespace
}  // namespace vmk::reconciler
