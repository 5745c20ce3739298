// Deleting a VM whose volumes go with it (deletePolicy: Delete), through the applier's mark and
// the VM reconciler over fake hosts and a fake shared storage.
#include "reconciler/vm/vm_deleter.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "reconciler/store/store_wrapper.h"
#include "tests/fakes/reconcile_fixture.h"

namespace vmk::reconciler {
namespace {

using providers::FakeOp;
using providers::FakeStorageOp;
using providers::ImageFormat;
using specs::Kind;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::Not;

// A controller that dies before its `kill_at`-th store write (1-based): that write and every
// one after fail, as nothing after a kill reaches the store.
class KillingStore : public StoreWrapper {
 public:
  KillingStore(Store* target, int kill_at) : StoreWrapper(target), kill_at_(kill_at) {}
  StatusOr<int64_t> CommitApply(const ApplyBatch& batch) override {
    if (Dead()) return Status::Unavailable("killed");
    return StoreWrapper::CommitApply(batch);
  }
  StatusOr<int64_t> PutStatusIf(const StatusWrite& write) override {
    if (Dead()) return Status::Unavailable("killed");
    return StoreWrapper::PutStatusIf(write);
  }
  int writes() const { return writes_; }

 private:
  bool Dead() { return ++writes_ >= kill_at_; }
  const int kill_at_;
  int writes_ = 0;
};

class VmDeleterTest : public ReconcileFixture {
 protected:
  void SetUp() override {
    storage_->AddPool("shared", "/srv/pool");
    storage_->AddImage("/images/base.raw", ImageFormat::kRaw, 1 << 30, "base");
    Apply(HostYaml("hv01") + HostYaml("hv02") +
          "apiVersion: vmkeeper/v1\nkind: StoragePool\nmetadata: {name: shared}\n"
          "spec: {path: /srv/pool}\n---\n");
    Host("hv01").AttachStorage(storage_, {"shared"});
    Host("hv02").AttachStorage(storage_, {"shared"});
    SyncHost("hv01");
    SyncHost("hv02");
    // A volume of no VM of vmkeeper's: never touched.
    ASSERT_TRUE(storage_->Pool("shared", nullptr)->CreateVolume({"scratch", "", std::nullopt, 1}).ok());
  }
  // `name` with a root disk over the base image (`root_policy`) and an empty data disk
  // (`data_policy`), running, with `snapshots` snapshots taken by hand: each disk a chain of
  // snapshots + 1 layers.
  void StartVm(const std::string& name, const std::string& root_policy,
               const std::string& data_policy, int snapshots) {
    Apply("apiVersion: vmkeeper/v1\nkind: VirtualMachine\nmetadata: {name: " + name +
          "}\nspec:\n  placement: {requiredHosts: [hv01]}\n  disks:\n"
          "  - {name: root, volume: {pool: shared, baseImage: /images/base.raw, "
          "deletePolicy: " + root_policy + "}}\n"
          "  - {name: data, volume: {pool: shared, sizeGiB: 1, deletePolicy: " + data_policy +
          "}}\n---\n");
    ReconcileVmOk(name);
    ASSERT_TRUE(Host("hv01").Domain(name).has_value());
    for (int i = 0; i < snapshots; ++i) {
      ASSERT_TRUE(loop_.RequestSnapshot(name, "s" + std::to_string(i + 1) + "x").ok());
      ReconcileVmOk(name);
    }
    ASSERT_EQ(StatusOf(name).snapshots.size(), static_cast<size_t>(snapshots));
  }
  // The volumes of `vm` in the pool, by name.
  std::vector<std::string> VolumesOf(const std::string& vm) {
    std::vector<std::string> out;
    for (const auto& v : storage_->Volumes("shared")) {
      if (v.name.rfind(vm + ".", 0) == 0) out.push_back(v.name);
    }
    return out;
  }
  std::vector<std::string> VolumesOfDisk(const std::string& vm, const std::string& disk) {
    std::vector<std::string> out;
    for (const auto& v : VolumesOf(vm)) {
      if (v.rfind(vm + "." + disk + ".", 0) == 0) out.push_back(v);
    }
    return out;
  }
  std::optional<specs::Object> Stored(const std::string& vm) {
    auto o = store_.Get(Kind::kVirtualMachine, vm);
    EXPECT_TRUE(o.ok());
    return o.ok() ? *o : std::nullopt;
  }
  void Delete(const std::string& vm) {
    Status s = applier_.Delete(Kind::kVirtualMachine, vm);
    ASSERT_TRUE(s.ok()) << s.ToString();
  }
  std::vector<std::string> EventMessages(const std::string& vm, const std::string& reason) {
    auto events = store_.ListEvents(ObjectRef{Kind::kVirtualMachine, vm}, 0, 1000);
    std::vector<std::string> out;
    if (events.ok()) {
      for (const auto& e : *events) {
        if (e.reason == reason) out.push_back(e.message);
      }
    }
    return out;
  }
  // The base image and the foreign volume are there, as they were.
  void ExpectOthersUntouched() {
    EXPECT_EQ(storage_->ReadData("/images/base.raw"), "base");
    EXPECT_TRUE(storage_->VolumeAt("/srv/pool/scratch").has_value());
  }
};

TEST(PlanVolumeDeletionTest, EveryRecordedLayerOfTheDeleteDisksOnlyTopsFirstEachOnce) {
  specs::VirtualMachineSpec spec;
  spec.disks.resize(2);
  spec.disks[0].name = "root";
  spec.disks[0].volume = specs::VolumeDiskSpec{"p", "", std::nullopt, 1, /*deleteWithVm=*/true};
  spec.disks[1].name = "data";
  spec.disks[1].volume = specs::VolumeDiskSpec{"p", "", std::nullopt, 1, /*deleteWithVm=*/false};
  VmStatus status;
  status.disks = {{"root", "", "p", "vm.root.2.qcow2", "/p/vm.root.2.qcow2", "qcow2"},
                  {"data", "", "p", "vm.data.1.qcow2", "/p/vm.data.1.qcow2", "qcow2"},
                  {"gone", "", "p", "vm.gone.0.qcow2", "/p/vm.gone.0.qcow2", "qcow2"}};
  SnapshotRecord s1;
  s1.layers = {{"root", "p", "vm.root.0.qcow2", "vm.root.1.qcow2"},
               {"data", "p", "vm.data.0.qcow2", "vm.data.1.qcow2"}};
  SnapshotRecord s2;
  s2.layers = {{"root", "p", "vm.root.1.qcow2", "vm.root.2.qcow2"},
               // A record that names what vmkeeper never made for this disk: never acted upon.
               {"root", "p", "base.qcow2", "other.root.0.qcow2"}};
  status.snapshots = {s1, s2};
  status.pruning.steps = {{"root", "p", "vm.root.0.qcow2", "", "delete", "", "vm.root.9.qcow2"}};
  VolumeDeletionPlan plan = PlanVolumeDeletion("vm", spec, status);
  std::vector<std::string> deleted, retained;
  for (const auto& v : plan.deleted) deleted.push_back(v.disk + ":" + v.volume);
  for (const auto& v : plan.retained) retained.push_back(v.disk + ":" + v.volume);
  EXPECT_THAT(deleted, ElementsAre("root:vm.root.2.qcow2", "root:vm.root.1.qcow2",
                                   "root:vm.root.0.qcow2", "root:vm.root.9.qcow2"));
  EXPECT_THAT(retained, ElementsAre("data:vm.data.1.qcow2", "gone:vm.gone.0.qcow2",
                                    "data:vm.data.0.qcow2"))
      << "Retain, and a disk no longer in the spec: kept";
}

TEST_F(VmDeleterTest, DeletePolicyDeletesEveryLayerTopDownThenTheObject) {
  StartVm("wms01", "Delete", "Retain", 2);
  const std::vector<std::string> data_layers = VolumesOfDisk("wms01", "data");
  ASSERT_EQ(VolumesOfDisk("wms01", "root").size(), 3u);
  ASSERT_EQ(data_layers.size(), 3u);
  StartVm("other", "Delete", "Delete", 1);
  const std::vector<std::string> other_layers = VolumesOf("other");

  Delete("wms01");
  auto marked = Stored("wms01");
  ASSERT_TRUE(marked.has_value()) << "kept until its volumes are gone";
  EXPECT_TRUE(marked->metadata.terminating());
  EXPECT_THAT(marked->metadata.finalizers, ElementsAre(specs::kVolumesFinalizer));
  EXPECT_EQ(VolumesOfDisk("wms01", "root").size(), 3u) << "nothing deleted by the apply";

  ReconcileVmOk("wms01");
  EXPECT_FALSE(Stored("wms01").has_value());
  EXPECT_FALSE(Host("hv01").Domain("wms01").has_value());
  EXPECT_THAT(VolumesOfDisk("wms01", "root"), IsEmpty());
  EXPECT_EQ(VolumesOfDisk("wms01", "data"), data_layers) << "deletePolicy Retain";
  EXPECT_EQ(VolumesOf("other"), other_layers) << "another VM's volumes";
  ExpectOthersUntouched();
  // The top first, then each layer under it: the pool refuses a layer something sits on.
  EXPECT_THAT(EventMessages("wms01", "VolumeDeleted"),
              ElementsAre("disk root: volume wms01.root.2.qcow2 deleted from pool shared",
                          "disk root: volume wms01.root.1.qcow2 deleted from pool shared",
                          "disk root: volume wms01.root.0.qcow2 deleted from pool shared"));
  EXPECT_EQ(EventMessages("wms01", "VolumesRetained").size(), 1u);
  EXPECT_THAT(Reasons("wms01"), Contains("Finalized"));
  EXPECT_FALSE(book_.Get("wms01").has_value());
  // The object's removal enqueues nothing the Deleted path would trip on.
  ReconcileVmOk("wms01");
}

TEST_F(VmDeleterTest, RetainKeepsEveryVolumeAndTheVmGoesAtOnce) {
  StartVm("wms01", "Retain", "Retain", 1);
  const std::vector<std::string> layers = VolumesOf("wms01");
  Delete("wms01");
  EXPECT_FALSE(Stored("wms01").has_value()) << "no finalizer: deleted as before";
  ReconcileVmOk("wms01");
  EXPECT_FALSE(Host("hv01").Domain("wms01").has_value());
  EXPECT_EQ(VolumesOf("wms01"), layers);
}

TEST_F(VmDeleterTest, AKillAtEachStepIsResumedFromTheRecord) {
  // One VM per kill point: killed before its k-th store write of the deletion, then resumed by
  // the controller's next pass. Writes: the RemovingDomains record, the volumes' list, one per
  // volume deleted (3 layers of each disk), the last record, the object's removal.
  constexpr int kWrites = 10;
  for (int k = 1; k <= kWrites + 1; ++k) {
    SCOPED_TRACE("killed before write " + std::to_string(k));
    const std::string vm = "vm" + std::to_string(k);
    StartVm(vm, "Delete", "Delete", 2);
    Delete(vm);
    KillingStore killing(&store_, k);
    ReconcileContext ctx = ctx_;
    ctx.store = &killing;
    auto marked = Stored(vm);
    ASSERT_TRUE(marked.has_value());
    ReconcileResult killed = VmDeleter(ctx).Run(*marked);
    if (k == kWrites + 1) {
      EXPECT_TRUE(killed.status.ok()) << "no kill: every write was counted";
      EXPECT_EQ(killing.writes(), kWrites);
    } else {
      EXPECT_FALSE(killed.status.ok());
      ASSERT_TRUE(Stored(vm).has_value()) << "never removed before its volumes are";
      const VmStatus status = StatusOf(vm);
      if (k >= 3) {
        EXPECT_EQ(status.deletion.phase, "DeletingVolumes");
        EXPECT_EQ(status.deletion.volumes.size(), 6u) << "3 layers of each disk";
      }
      ReconcileVmOk(vm);
    }
    EXPECT_FALSE(Stored(vm).has_value());
    EXPECT_FALSE(Host("hv01").Domain(vm).has_value());
    EXPECT_THAT(VolumesOf(vm), IsEmpty());
    ExpectOthersUntouched();
  }
}

TEST_F(VmDeleterTest, AHostThatDoesNotAnswerHoldsTheDeletionUntilItAnswers) {
  StartVm("wms01", "Delete", "Retain", 1);
  const std::vector<std::string> layers = VolumesOf("wms01");
  Host("hv01").SetReachable(false);
  (void)ReconcileHost("hv01");
  Delete("wms01");
  auto r = ReconcileVm("wms01");
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_TRUE(r.requeue_after.has_value());
  EXPECT_EQ(ConditionStatus("wms01", "VolumesDeleted"), "False/WaitingForHost");
  EXPECT_EQ(ConditionStatus("wms01", "Ready"), "False/Terminating");
  EXPECT_EQ(VolumesOf("wms01"), layers) << "its domain may still run there";
  EXPECT_EQ(Host("hv01").Domain("wms01")->state, providers::DomainState::kRunning);

  Host("hv01").SetReachable(true);
  SyncHost("hv01");
  ReconcileVmOk("wms01");
  EXPECT_FALSE(Stored("wms01").has_value());
  EXPECT_FALSE(Host("hv01").Domain("wms01").has_value());
  EXPECT_THAT(VolumesOfDisk("wms01", "root"), IsEmpty());
  EXPECT_EQ(VolumesOfDisk("wms01", "data").size(), 2u);
}

TEST_F(VmDeleterTest, AFencedHostNoLongerHoldsIt) {
  StartVm("wms01", "Delete", "Delete", 0);
  Host("hv01").SetReachable(false);
  (void)ReconcileHost("hv01");
  Delete("wms01");
  auto r = ReconcileVm("wms01");
  ASSERT_TRUE(r.status.ok());
  EXPECT_EQ(ConditionStatus("wms01", "VolumesDeleted"), "False/WaitingForHost");
  // Its failover fenced it (powered off): its copy is known dead. hv02 reaches the pool.
  registry_.Get("hv01")->SetFenced(true);
  ReconcileVmOk("wms01");
  EXPECT_FALSE(Stored("wms01").has_value());
  EXPECT_THAT(VolumesOf("wms01"), IsEmpty());
}

TEST_F(VmDeleterTest, AVolumeThePoolRefusesKeepsTheFinalizerAndSaysWhy) {
  StartVm("wms01", "Delete", "Retain", 1);
  // Someone built on the VM's frozen layer: it cannot go without breaking that.
  const std::string frozen = StatusOf("wms01").snapshots[0].layers[0].volume;
  ASSERT_EQ(frozen, "wms01.root.0.qcow2");
  ASSERT_TRUE(storage_->Pool("shared", nullptr)
                  ->CreateVolume({"clone", "/srv/pool/" + frozen, ImageFormat::kQcow2, 0})
                  .ok());
  Delete("wms01");
  auto r = ReconcileVm("wms01");
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_TRUE(r.requeue_after.has_value());
  auto marked = Stored("wms01");
  ASSERT_TRUE(marked.has_value());
  EXPECT_THAT(marked->metadata.finalizers, ElementsAre(specs::kVolumesFinalizer));
  EXPECT_EQ(ConditionStatus("wms01", "VolumesDeleted"), "False/VolumeDeleteFailed");
  EXPECT_THAT(StatusOf("wms01").deletion.message, ::testing::HasSubstr("clone"));
  EXPECT_THAT(VolumesOfDisk("wms01", "root"), ElementsAre(frozen)) << "the top went";
  EXPECT_TRUE(storage_->VolumeAt("/srv/pool/clone").has_value());
  EXPECT_EQ(EventMessages("wms01", "VolumeDeleteFailed").size(), 1u);
  (void)ReconcileVm("wms01");
  EXPECT_EQ(EventMessages("wms01", "VolumeDeleteFailed").size(), 1u) << "said once";

  // A refusal of the pool itself, the same way.
  ASSERT_TRUE(storage_->Pool("shared", nullptr)->DeleteVolume("clone").ok());
  storage_->InjectFailure(FakeStorageOp::kDelete, Status::FailedPrecondition("volume is busy"));
  r = ReconcileVm("wms01");
  ASSERT_TRUE(r.status.ok());
  EXPECT_TRUE(Stored("wms01").has_value());
  EXPECT_THAT(StatusOf("wms01").deletion.message, ::testing::HasSubstr("volume is busy"));

  ReconcileVmOk("wms01");
  EXPECT_FALSE(Stored("wms01").has_value());
  EXPECT_THAT(VolumesOfDisk("wms01", "root"), IsEmpty());
  ExpectOthersUntouched();
}

TEST_F(VmDeleterTest, APoolNoHostReachesHoldsIt) {
  StartVm("wms01", "Delete", "Retain", 0);
  Delete("wms01");
  storage_->InjectFailure(FakeStorageOp::kList, Status::NotFound("pool shared not found"), 2);
  auto r = ReconcileVm("wms01");
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_EQ(ConditionStatus("wms01", "VolumesDeleted"), "False/PoolUnavailable");
  EXPECT_FALSE(Host("hv01").Domain("wms01").has_value()) << "the domain went first";
  ReconcileVmOk("wms01");
  EXPECT_FALSE(Stored("wms01").has_value());
}

TEST_F(VmDeleterTest, ATerminatingVmIsNeitherSnapshottedNorRolledBackNorStarted) {
  StartVm("wms01", "Delete", "Retain", 1);
  const size_t starts = EventMessages("wms01", "Started").size();
  Host("hv01").InjectFailure(FakeOp::kDestroy, Status::Unavailable("keepalive"));
  Delete("wms01");
  EXPECT_FALSE(ReconcileVm("wms01").status.ok());
  EXPECT_FALSE(loop_.RequestSnapshot("wms01", "late").ok());
  EXPECT_FALSE(loop_.RequestRollback("wms01", "s1x", true).ok());
  ASSERT_TRUE(Host("hv01").SetRunning("wms01", false).ok());
  ReconcileVmOk("wms01");
  EXPECT_FALSE(Stored("wms01").has_value());
  EXPECT_EQ(EventMessages("wms01", "Started").size(), starts);
  EXPECT_THAT(Reasons("wms01"), Not(Contains("Restarted")));
}

}  // namespace
}  // namespace vmk::reconciler
