#include "reconciler/storage/pool_reconciler.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/fakes/reconcile_fixture.h"

namespace vmk::reconciler {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;

class PoolReconcilerTest : public ReconcileFixture {
 protected:
  void SetUp() override { storage_->AddPool("shared", "/srv/pool"); }

  // hv01 and hv03 carry storage=nfs (the pool selects them), hv02 does not.
  void Hosts() {
    Apply(HostYaml("hv01", "{storage: nfs}") + HostYaml("hv02") +
          HostYaml("hv03", "{storage: nfs}") +
          "apiVersion: vmkeeper/v1\nkind: StoragePool\nmetadata: {name: shared}\n"
          "spec: {type: dir, path: /srv/pool, hostSelector: {storage: nfs}}\n---\n");
    for (const char* h : {"hv01", "hv02", "hv03"}) SyncHost(h);
  }
  ReconcileResult ReconcilePool() { return loop_.pool_reconciler().Reconcile({"shared", {}}); }
  specs::Json PoolStatus() {
    auto o = store_.Get(specs::Kind::kStoragePool, "shared");
    return o.ok() && o->has_value() ? (*o)->status : specs::Json();
  }
  std::string Ready() {
    auto conditions = specs::ConditionsFromJson(PoolStatus().value("conditions", specs::Json()));
    const auto* c = specs::FindCondition(conditions, "Ready");
    return c ? c->status + "/" + c->reason : "<none>";
  }
  std::vector<std::string> PoolReasons() {
    auto events = store_.ListEvents(ObjectRef{specs::Kind::kStoragePool, "shared"}, 0, 100);
    std::vector<std::string> out;
    if (events.ok()) {
      for (const auto& e : *events) out.push_back(e.reason);
    }
    return out;
  }
};

TEST_F(PoolReconcilerTest, EverySelectedHostSeesIt) {
  Hosts();
  Host("hv01").AttachStorage(storage_, {"shared"});
  Host("hv03").AttachStorage(storage_, {"shared"});
  auto r = ReconcilePool();
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_EQ(r.requeue_after, PoolReconciler::kRecheck);
  EXPECT_EQ(Ready(), "True/Seen");
  auto hosts = PoolStatus()["hosts"];
  ASSERT_EQ(hosts.size(), 2u) << hosts.dump();  // hv02 is not selected
  EXPECT_EQ(hosts[0]["host"], "hv01");
  EXPECT_TRUE(hosts[0]["ready"].get<bool>());
  EXPECT_GT(hosts[0]["capacityBytes"].get<int64_t>(), 0);
  EXPECT_TRUE(HostsNotSeeingPool(PoolStatus()).empty());
}

TEST_F(PoolReconcilerTest, AHostThatLostItIsReportedAndTheVmGoesElsewhere) {
  Hosts();
  Host("hv01").AttachStorage(storage_, {"shared"});
  ASSERT_TRUE(ReconcilePool().status.ok());
  EXPECT_EQ(Ready(), "False/NotSeen");
  EXPECT_THAT(HostsNotSeeingPool(PoolStatus()), ElementsAre("hv03"));
  EXPECT_EQ(PoolStatus()["hosts"][1]["reason"], "NotDefined");
  EXPECT_THAT(PoolReasons(), ElementsAre("PoolNotSeen"));
  ASSERT_TRUE(ReconcilePool().status.ok());
  EXPECT_THAT(PoolReasons(), ElementsAre("PoolNotSeen")) << "told once";

  // hv03 has more free memory, but does not see the pool: the VM goes to hv01.
  Apply("apiVersion: vmkeeper/v1\nkind: Host\nmetadata: {name: hv01, labels: {storage: nfs}}\n"
        "spec: {uri: \"test:///embedded/hv01\", capacity: {cpus: 4, memoryMiB: 8192}}\n---\n");
  SyncHost("hv01");
  storage_->AddImage("/images/base.raw", providers::ImageFormat::kRaw, 1 << 20);
  Apply("apiVersion: vmkeeper/v1\nkind: VirtualMachine\nmetadata: {name: wms01}\nspec:\n"
        "  disks: [{name: root, volume: {pool: shared, baseImage: /images/base.raw}}]\n---\n");
  ReconcileVmOk("wms01");
  EXPECT_EQ(StatusOf("wms01").host, "hv01");

  Host("hv03").AttachStorage(storage_, {"shared"});
  ASSERT_TRUE(ReconcilePool().status.ok());
  EXPECT_EQ(Ready(), "True/Seen");
  EXPECT_THAT(PoolReasons(), Contains("PoolSeen"));
}

TEST_F(PoolReconcilerTest, APoolAtAnotherPathIsNotThePool) {
  Hosts();
  auto elsewhere = std::make_shared<providers::FakeStorage>();
  elsewhere->AddPool("shared", "/local/pool");
  Host("hv01").AttachStorage(storage_, {"shared"});
  Host("hv03").AttachStorage(elsewhere, {"shared"});
  ASSERT_TRUE(ReconcilePool().status.ok());
  EXPECT_EQ(PoolStatus()["hosts"][1]["reason"], "PathMismatch");
  EXPECT_EQ(Ready(), "False/NotSeen");
}

TEST_F(PoolReconcilerTest, AnUnreachableHostIsNotThePoolsNews) {
  Hosts();
  Host("hv01").AttachStorage(storage_, {"shared"});
  Host("hv03").AttachStorage(storage_, {"shared"});
  Host("hv03").SetReachable(false);
  (void)ReconcileHost("hv03");  // fails: the host does not answer
  ASSERT_TRUE(ReconcilePool().status.ok());
  EXPECT_EQ(PoolStatus()["hosts"][1]["reason"], "HostUnreachable");
  EXPECT_TRUE(PoolReasons().empty()) << "the host's own condition says it";
}

}  // namespace
}  // namespace vmk::reconciler
