// HostEntry's cache of a host's domains: a full listing replaces it, except what was read again
// or reported by an event while the listing was on its way (newer than the listing).
#include "reconciler/observed/host_registry.h"

#include <gtest/gtest.h>

namespace vmk::reconciler {
namespace {

using providers::DomainInfo;
using providers::DomainState;

DomainInfo Domain(const std::string& name, DomainState state) {
  DomainInfo d;
  d.name = name;
  d.owned = true;
  d.state = state;
  return d;
}

class HostEntryTest : public ::testing::Test {
 protected:
  DomainLocator locator_;
  HostEntry entry_{"hv01", nullptr, &locator_};
};

// The race seen in ControllerLibvirtTest (about 1 run in 40): the host's sync listed the
// domains just before a VM's reconcile started one and read it back running; the listing,
// arriving last, said "shut off", and the next pass restarted a running VM as if it had failed.
TEST_F(HostEntryTest, AReadNewerThanTheListingIsKept) {
  entry_.SetListing({Domain("a", DomainState::kShutoff), Domain("b", DomainState::kShutoff)}, {});
  const uint64_t since = entry_.ChangeMark();
  // The listing is read here, then the start and its read land before it is applied.
  entry_.UpdateDomain("a", Domain("a", DomainState::kRunning));
  entry_.SetListing({Domain("a", DomainState::kShutoff), Domain("b", DomainState::kRunning)}, {},
                    since);
  EXPECT_EQ(entry_.Domain("a")->info.state, DomainState::kRunning) << "the newer read";
  EXPECT_EQ(entry_.Domain("b")->info.state, DomainState::kRunning) << "the listing";

  // The next listing, read after that, is newer than everything: it wins.
  const uint64_t later = entry_.ChangeMark();
  entry_.SetListing({Domain("a", DomainState::kShutoff)}, {}, later);
  EXPECT_EQ(entry_.Domain("a")->info.state, DomainState::kShutoff);
  EXPECT_FALSE(entry_.Domain("b").has_value());
  EXPECT_TRUE(locator_.HostsOf("b").empty());
}

// Removed (undefined by a reconcile) or reported by an event while the listing was read.
TEST_F(HostEntryTest, ARemovalOrAnEventNewerThanTheListingIsKept) {
  entry_.SetListing({Domain("a", DomainState::kRunning), Domain("b", DomainState::kRunning)}, {});
  const uint64_t since = entry_.ChangeMark();
  entry_.UpdateDomain("a", std::nullopt);
  entry_.MarkStale("b");
  entry_.MarkStale("c");  // defined after the listing was read
  entry_.SetListing({Domain("a", DomainState::kRunning), Domain("b", DomainState::kRunning)}, {},
                    since);
  EXPECT_FALSE(entry_.Domain("a").has_value()) << "removed after the listing was read";
  EXPECT_TRUE(locator_.HostsOf("a").empty());
  ASSERT_TRUE(entry_.Domain("b").has_value());
  EXPECT_TRUE(entry_.Domain("b")->stale) << "an event came: read it again before trusting it";
  ASSERT_TRUE(entry_.Domain("c").has_value());
  EXPECT_TRUE(entry_.Domain("c")->stale);
  EXPECT_EQ(locator_.HostsOf("c").size(), 1u);
}

}  // namespace
}  // namespace vmk::reconciler
