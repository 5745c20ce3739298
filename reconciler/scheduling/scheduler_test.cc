#include "reconciler/scheduling/scheduler.h"

#include <gtest/gtest.h>

namespace vmk::reconciler {
namespace {

HostCandidate MakeHost(const std::string& name, std::map<std::string, std::string> labels = {}) {
  HostCandidate h;
  h.name = name;
  h.labels = std::move(labels);
  h.ready = true;
  h.capacity = {16, 65536};
  return h;
}

class SchedulerTest : public ::testing::Test {
 protected:
  SchedulerTest() {
    spec_.cpus = 2;
    spec_.memoryMiB = 4096;
  }
  StatusOr<std::string> Schedule(const std::vector<HostCandidate>& hosts,
                                 std::map<std::string, std::string> labels = {}) {
    return ScheduleVm({"vm1", std::move(labels), &spec_, {}, {}}, hosts);
  }
  specs::VirtualMachineSpec spec_;
};

TEST_F(SchedulerTest, PicksTheHostWithMostFreeMemoryThenByName) {
  auto a = MakeHost("hv-a"), b = MakeHost("hv-b"), c = MakeHost("hv-c");
  b.allocated = {2, 8192};
  auto chosen = Schedule({b, c, a});
  ASSERT_TRUE(chosen.ok());
  EXPECT_EQ(*chosen, "hv-a") << "a and c tie on memory; name breaks the tie";
}

// A VM on a volume runs only where its pool is mounted; a pool not declared fits nowhere.
TEST_F(SchedulerTest, OnlyHostsThatSeeTheVmsPools) {
  specs::DiskSpec disk;
  disk.name = "root";
  disk.volume = specs::VolumeDiskSpec{};
  disk.volume->pool = "shared";
  spec_.disks = {disk};
  specs::StoragePoolSpec pool;
  pool.path = "/srv/pool";
  pool.hostSelector = {{"storage", "nfs"}};
  SchedulingRequest request{"vm1", {}, &spec_, {{"shared", pool}}, {}};
  auto a = MakeHost("hv01", {{"memory", "big"}});
  a.capacity = {64, 1 << 20};  // would win on memory
  auto b = MakeHost("hv02", {{"storage", "nfs"}});
  auto chosen = ScheduleVm(request, {a, b});
  ASSERT_TRUE(chosen.ok()) << chosen.status().ToString();
  EXPECT_EQ(*chosen, "hv02");
  EXPECT_EQ(RejectionReason(request, a), "does not see storage pool shared");

  // A host the pool's status says has lost it (a missing mount) is not chosen either.
  request.pool_not_seen_on["shared"] = {"hv02"};
  EXPECT_FALSE(ScheduleVm(request, {a, b}).ok());
  request.pool_not_seen_on.clear();

  request.pools.clear();
  auto none = ScheduleVm(request, {a, b});
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.status().message().find("storage pool shared is not declared"),
            std::string::npos)
      << none.status().message();
}

TEST_F(SchedulerTest, HostSelectorFilters) {
  spec_.placement.hostSelector = {{"rack", "r2"}};
  auto chosen = Schedule({MakeHost("hv01", {{"rack", "r1"}}), MakeHost("hv02", {{"rack", "r2"}})});
  ASSERT_TRUE(chosen.ok());
  EXPECT_EQ(*chosen, "hv02");
}

TEST_F(SchedulerTest, RefusesWithEveryHostsReason) {
  auto full = MakeHost("hv01");
  full.allocated = {15, 1000};
  auto down = MakeHost("hv02");
  down.ready = false;
  auto cordoned = MakeHost("hv03");
  cordoned.schedulable = false;
  auto taken = MakeHost("hv04");
  taken.foreign_domains.insert("vm1");
  auto chosen = Schedule({full, down, cordoned, taken});
  ASSERT_FALSE(chosen.ok());
  EXPECT_EQ(chosen.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(chosen.status().message(),
            "no host fits: hv01: needs 2 CPUs, 1 free; hv02: not ready; hv03: not schedulable; "
            "hv04: a domain named vm1 that vmkeeper does not own exists there");
}

TEST_F(SchedulerTest, MemoryMustFit) {
  auto h = MakeHost("hv01");
  h.allocated = {0, 65536 - 4095};
  auto chosen = Schedule({h});
  ASSERT_FALSE(chosen.ok());
  EXPECT_EQ(chosen.status().message(), "no host fits: hv01: needs 4096 MiB, 4095 free");
}

TEST_F(SchedulerTest, RequiredAndPreferredHosts) {
  spec_.placement.requiredHosts = {"hv02", "hv03"};
  spec_.placement.preferredHosts = {"hv03"};
  auto chosen = Schedule({MakeHost("hv01"), MakeHost("hv02"), MakeHost("hv03")});
  ASSERT_TRUE(chosen.ok());
  EXPECT_EQ(*chosen, "hv03");
}

TEST_F(SchedulerTest, SpreadByAvoidsHostsWithTheSameLabelValue) {
  spec_.placement.spreadBy = "service";
  std::map<std::string, std::string> wms = {{"service", "wms"}};
  std::map<std::string, std::string> ce = {{"service", "ce"}};
  auto a = MakeHost("hv-a"), b = MakeHost("hv-b");
  a.vm_labels = {&wms};  // a has more free memory below, but already runs a wms
  b.vm_labels = {&ce};
  b.allocated = {2, 4096};
  auto chosen = Schedule({a, b}, wms);
  ASSERT_TRUE(chosen.ok());
  EXPECT_EQ(*chosen, "hv-b");
}

TEST_F(SchedulerTest, NoHostsDeclared) {
  auto chosen = Schedule({});
  ASSERT_FALSE(chosen.ok());
  EXPECT_EQ(chosen.status().message(), "no hosts are declared");
}

TEST_F(SchedulerTest, DeterministicWhateverTheInputOrder) {
  std::vector<HostCandidate> hosts = {MakeHost("hv03"), MakeHost("hv01"), MakeHost("hv02")};
  auto first = Schedule(hosts);
  std::reverse(hosts.begin(), hosts.end());
  auto second = Schedule(hosts);
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_EQ(*first, *second);
}

}  // namespace
}  // namespace vmk::reconciler
