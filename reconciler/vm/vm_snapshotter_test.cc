// Snapshots through the VM reconciler (VmSnapshotter): scheduled by the policy, asked for by
// hand, and settled after a controller stopped while taking one.
#include "reconciler/vm/vm_snapshotter.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/fakes/reconcile_fixture.h"

namespace vmk::reconciler {
namespace {

using providers::DomainState;
using providers::FakeOp;
using providers::ImageFormat;
using ::testing::Contains;
using ::testing::Not;

constexpr char kRoot0[] = "/srv/pool/wms01.root.0.qcow2";
constexpr char kRoot1[] = "/srv/pool/wms01.root.1.qcow2";

class VmSnapshotterTest : public ReconcileFixture {
 protected:
  void SetUp() override {
    storage_->AddPool("shared", "/srv/pool");
    storage_->AddImage("/images/base.raw", ImageFormat::kRaw, 1 << 30, "base");
  }
  // One host that mounts the pool; wms01 on a volume, under an hourly policy keeping 3.
  void StartVm(const std::string& extra = "  snapshotPolicy: hourly\n") {
    Apply(HostYaml("hv01") +
          "apiVersion: vmkeeper/v1\nkind: StoragePool\nmetadata: {name: shared}\n"
          "spec: {path: /srv/pool}\n---\n"
          "apiVersion: vmkeeper/v1\nkind: SnapshotPolicy\nmetadata: {name: hourly}\n"
          "spec: {intervalSeconds: 3600, keep: 3}\n---\n"
          "apiVersion: vmkeeper/v1\nkind: VirtualMachine\nmetadata: {name: wms01}\nspec:\n"
          "  disks: [{name: root, volume: {pool: shared, baseImage: /images/base.raw}}]\n" +
          extra + "---\n");
    Host("hv01").AttachStorage(storage_, {"shared"});
    SyncHost("hv01");
  }
  std::string DomainDisk() { return Host("hv01").Domain("wms01")->config->disks[0].source; }
  // What a controller killed between the intent and the record of snapshot s1 leaves.
  void LeavePendingSnapshot() {
    VmStatus status = StatusOf("wms01");
    status.snapshotSeq = 1;
    SnapshotRecord pending;
    pending.name = "s1";
    pending.reason = "manual";
    pending.phase = "Pending";
    pending.layers = {{"root", "shared", "wms01.root.0.qcow2", "wms01.root.1.qcow2"}};
    status.snapshots = {pending};
    PutStatus(status);
  }
  void PutStatus(const VmStatus& status) {
    ASSERT_TRUE(store_.PutStatus(specs::Kind::kVirtualMachine, "wms01", status.ToJson(), true).ok());
  }
};

TEST_F(VmSnapshotterTest, TheFirstScheduledSnapshotIsTheHealthyBaselineThenOnePerInterval) {
  StartVm();
  auto r = ReconcileVm("wms01");
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  VmStatus status = StatusOf("wms01");
  ASSERT_EQ(status.snapshots.size(), 1u);
  const SnapshotRecord& s1 = status.snapshots[0];
  EXPECT_EQ(s1.name, "s1");
  EXPECT_EQ(s1.reason, "scheduled");
  EXPECT_EQ(s1.phase, "Taken");
  EXPECT_TRUE(s1.healthy);
  EXPECT_EQ(s1.generation, 1);
  ASSERT_EQ(s1.layers.size(), 1u);
  EXPECT_EQ(s1.layers[0].volume, "wms01.root.0.qcow2");
  // The VM runs on the new top, and the record says so: nothing is redefined back.
  EXPECT_EQ(DomainDisk(), kRoot1);
  EXPECT_EQ(status.disks[0].path, kRoot1);
  ASSERT_TRUE(r.requeue_after.has_value());
  EXPECT_LE(*r.requeue_after, std::chrono::seconds(3600));
  EXPECT_THAT(Reasons("wms01"), Contains("SnapshotTaken"));

  Host("hv01").ResetCallCounts();
  ReconcileVmOk("wms01");
  for (FakeOp op : {FakeOp::kDefine, FakeOp::kStart, FakeOp::kShutdown, FakeOp::kDestroy}) {
    EXPECT_EQ(Host("hv01").CallCount(op), 0) << providers::FakeOpName(op);
  }
  EXPECT_EQ(StatusOf("wms01").snapshots.size(), 1u) << "not due yet";

  clock_.Advance(std::chrono::seconds(3600));
  ReconcileVmOk("wms01");
  status = StatusOf("wms01");
  ASSERT_EQ(status.snapshots.size(), 2u);
  EXPECT_EQ(status.snapshots[1].layers[0].volume, "wms01.root.1.qcow2");
  EXPECT_EQ(DomainDisk(), "/srv/pool/wms01.root.2.qcow2");
}

TEST_F(VmSnapshotterTest, AFrozenLayerKeepsTheStateOfItsInstant) {
  StartVm("");
  ReconcileVmOk("wms01");
  ASSERT_TRUE(storage_->WriteData(kRoot0, "state-at-snapshot").ok());
  ASSERT_TRUE(loop_.RequestSnapshot("wms01", "before-upgrade").ok());
  ReconcileVmOk("wms01");
  VmStatus status = StatusOf("wms01");
  ASSERT_EQ(status.snapshots.size(), 1u);
  EXPECT_EQ(status.snapshots[0].name, "before-upgrade");
  EXPECT_EQ(status.snapshots[0].reason, "manual");
  EXPECT_TRUE(status.snapshotRequests.empty());
  ASSERT_TRUE(storage_->WriteData(DomainDisk(), "later").ok());
  EXPECT_EQ(storage_->ReadData(kRoot0), "state-at-snapshot");
  EXPECT_EQ(storage_->ReadData(DomainDisk()), "later");
}

TEST_F(VmSnapshotterTest, AStoppedVmIsFrozenWithoutItsHypervisor) {
  StartVm("  running: false\n");
  ReconcileVmOk("wms01");
  ASSERT_TRUE(loop_.RequestSnapshot("wms01", "cold").ok());
  auto r = ReconcileVm("wms01");
  ASSERT_TRUE(r.status.ok());
  EXPECT_EQ(r.requeue_after, Duration::zero()) << "the definition follows at once";
  VmStatus status = StatusOf("wms01");
  ASSERT_EQ(status.snapshots.size(), 1u);
  EXPECT_EQ(status.snapshots[0].phase, "Taken");
  EXPECT_EQ(Host("hv01").CallCount(FakeOp::kSnapshotDisks), 0);
  EXPECT_EQ(storage_->VolumeAt(kRoot1)->backing_path, kRoot0);
  auto again = ReconcileVm("wms01");
  ASSERT_TRUE(again.status.ok());
  EXPECT_EQ(DomainDisk(), kRoot1) << "redefined onto the new top";
  EXPECT_EQ(Host("hv01").Domain("wms01")->state, DomainState::kShutoff);
}

TEST_F(VmSnapshotterTest, ARefusedSnapshotIsRecordedFailedAndLeavesNothing) {
  StartVm("");
  ReconcileVmOk("wms01");
  Host("hv01").InjectFailure(FakeOp::kSnapshotDisks,
                             Status::FailedPrecondition("QEMU said no"));
  ASSERT_TRUE(loop_.RequestSnapshot("wms01", "x").ok());
  ReconcileVmOk("wms01");
  VmStatus status = StatusOf("wms01");
  ASSERT_EQ(status.snapshots.size(), 1u);
  EXPECT_EQ(status.snapshots[0].phase, "Failed");
  EXPECT_THAT(status.snapshots[0].message, ::testing::HasSubstr("QEMU said no"));
  EXPECT_EQ(DomainDisk(), kRoot0);
  EXPECT_FALSE(storage_->VolumeAt(kRoot1).has_value());
  EXPECT_THAT(Reasons("wms01"), Contains("SnapshotFailed"));
}

// The host did not answer: it may have switched the disks. The snapshot stays Pending and the
// next pass decides from what the host shows.
TEST_F(VmSnapshotterTest, AnUnansweredSnapshotStaysPendingAndIsSettledByWhatTheHostShows) {
  StartVm("");
  ReconcileVmOk("wms01");
  Host("hv01").InjectFailure(FakeOp::kSnapshotDisks, Status::Unavailable("keepalive"));
  ASSERT_TRUE(loop_.RequestSnapshot("wms01", "x").ok());
  EXPECT_FALSE(ReconcileVm("wms01").status.ok());
  EXPECT_EQ(StatusOf("wms01").snapshots[0].phase, "Pending");
  ReconcileVmOk("wms01");
  // Nothing moved on the host: failed, and the VM stays on its top.
  EXPECT_EQ(StatusOf("wms01").snapshots[0].phase, "Failed");
  EXPECT_EQ(DomainDisk(), kRoot0);
}

// Killed after the host switched the disks but before the record said so: the next pass finds
// the domain on the new top and records the snapshot as taken (and never redefines the domain
// back onto the frozen layer).
TEST_F(VmSnapshotterTest, AKillAfterTheSwitchIsResumedAsTaken) {
  StartVm("");
  ReconcileVmOk("wms01");
  LeavePendingSnapshot();
  providers::FakeHypervisor direct(factory_.host("test:///embedded/hv01"));
  ASSERT_TRUE(direct.Connect().ok());
  ASSERT_TRUE(direct.SnapshotDisks("wms01", {{"vda", kRoot1}}).ok());
  Host("hv01").ResetCallCounts();
  ReconcileVmOk("wms01");
  EXPECT_EQ(StatusOf("wms01").snapshots[0].phase, "Taken");
  EXPECT_EQ(StatusOf("wms01").disks[0].path, kRoot1);
  EXPECT_EQ(DomainDisk(), kRoot1);
  EXPECT_EQ(Host("hv01").CallCount(FakeOp::kDefine), 0);
}

// Killed after the new top was created but before a running domain moved onto it: the orphan
// goes, the snapshot failed, the domain stays on its top.
TEST_F(VmSnapshotterTest, AKillBeforeTheSwitchIsResumedAsFailedAndTheOrphanGoes) {
  StartVm("");
  ReconcileVmOk("wms01");
  LeavePendingSnapshot();
  ASSERT_TRUE(storage_->Pool("shared", nullptr)
                  ->CreateVolume({"wms01.root.1.qcow2", kRoot0, ImageFormat::kQcow2, 0})
                  .ok());
  ReconcileVmOk("wms01");
  EXPECT_EQ(StatusOf("wms01").snapshots[0].phase, "Failed");
  EXPECT_FALSE(storage_->VolumeAt(kRoot1).has_value());
  EXPECT_EQ(DomainDisk(), kRoot0);
}

// The API's way in (ControlPlane::RequestSnapshot): recorded in the status, then taken by the
// VM's reconcile.
TEST_F(VmSnapshotterTest, ASnapshotAskedForIsCheckedRecordedAndTaken) {
  StartVm("");
  ReconcileVmOk("wms01");
  EXPECT_EQ(loop_.RequestSnapshot("wms01", "Not_A_Label").status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(loop_.RequestSnapshot("nope", "x").status().code(), StatusCode::kNotFound);
  auto named = loop_.RequestSnapshot("wms01", "pre-upgrade");
  ASSERT_TRUE(named.ok()) << named.status().ToString();
  EXPECT_EQ(*named, "pre-upgrade");
  EXPECT_EQ(loop_.RequestSnapshot("wms01", "pre-upgrade").status().code(),
            StatusCode::kAlreadyExists);
  auto made_up = loop_.RequestSnapshot("wms01", "");
  ASSERT_TRUE(made_up.ok());
  EXPECT_THAT(*made_up, ::testing::MatchesRegex("m[0-9]{8}-[0-9]{6}"));
  EXPECT_EQ(StatusOf("wms01").snapshotRequests.size(), 2u);
  EXPECT_GE(queue_.Len(), 1u) << "the VM is enqueued";
  ReconcileVmOk("wms01");
  VmStatus status = StatusOf("wms01");
  ASSERT_EQ(status.snapshots.size(), 2u);
  EXPECT_EQ(status.snapshots[0].name, "pre-upgrade");
  EXPECT_EQ(status.snapshots[0].phase, "Taken");
  EXPECT_EQ(status.snapshots[1].name, *made_up);
  EXPECT_TRUE(status.snapshotRequests.empty());
  EXPECT_EQ(loop_.RequestSnapshot("wms01", "pre-upgrade").status().code(),
            StatusCode::kAlreadyExists);
}

// Flow 1 with storage: the failed host is fenced, the VM's disks are frozen as they were left
// (the crash state, kept), and it starts elsewhere on a new top over them. A freeze that fails
// never holds the failover up.
class FailoverSnapshotTest : public VmSnapshotterTest {
 protected:
  void StartOnHv01(bool before_failover) {
    Apply(HostYaml("hv01", "{}", ", fencing: {agent: fence_test, args: {ip: 10.0.0.1}}") +
          HostYaml("hv02") +
          "apiVersion: vmkeeper/v1\nkind: StoragePool\nmetadata: {name: shared}\n"
          "spec: {path: /srv/pool}\n---\n"
          "apiVersion: vmkeeper/v1\nkind: SnapshotPolicy\nmetadata: {name: p}\n"
          "spec: {intervalSeconds: 86400, beforeFailover: " +
          std::string(before_failover ? "true" : "false") +
          "}\n---\n"
          "apiVersion: vmkeeper/v1\nkind: VirtualMachine\nmetadata: {name: wms01}\nspec:\n"
          "  disks: [{name: root, volume: {pool: shared, baseImage: /images/base.raw}}]\n"
          "  snapshotPolicy: p\n  placement: {preferredHosts: [hv01]}\n---\n");
    for (const char* h : {"hv01", "hv02"}) {
      Host(h).AttachStorage(storage_, {"shared"});
      SyncHost(h);
    }
    ReconcileVmOk("wms01");
    ASSERT_EQ(StatusOf("wms01").host, "hv01");
    Heartbeats("hv01", 1);
  }
  void CrashHv01AndFailOver() {
    ASSERT_TRUE(storage_->WriteData(StatusOf("wms01").disks[0].path, "crash-state").ok());
    Host("hv01").Crash();
    Heartbeats("hv01", 3);
    ASSERT_TRUE(ReconcileHost("hv01").status.ok());
    ASSERT_EQ(StatusOf("wms01").host, "hv02");
  }
};

TEST_F(FailoverSnapshotTest, TheCrashStateIsKeptBeforeTheVmStartsElsewhere) {
  StartOnHv01(/*before_failover=*/true);
  const std::string crashed_top = StatusOf("wms01").disks[0].volume;  // after the baseline
  CrashHv01AndFailOver();
  EXPECT_EQ(StatusOf("wms01").snapshotBeforeStart, "before-failover");
  ReconcileVmOk("wms01");
  VmStatus status = StatusOf("wms01");
  const SnapshotRecord& crash = status.snapshots.back();
  EXPECT_EQ(crash.reason, "before-failover");
  EXPECT_EQ(crash.phase, "Taken");
  EXPECT_FALSE(crash.healthy);
  EXPECT_EQ(crash.layers[0].volume, crashed_top);
  EXPECT_TRUE(status.snapshotBeforeStart.empty());
  auto domain = Host("hv02").Domain("wms01");
  ASSERT_TRUE(domain.has_value());
  EXPECT_EQ(domain->state, DomainState::kRunning);
  EXPECT_EQ(domain->config->disks[0].source, status.disks[0].path);
  EXPECT_NE(status.disks[0].volume, crashed_top) << "it runs on a new top";
  ASSERT_TRUE(storage_->WriteData(status.disks[0].path, "after").ok());
  EXPECT_EQ(storage_->ReadData("/srv/pool/" + crashed_top), "crash-state");
}

TEST_F(FailoverSnapshotTest, AFailedFreezeDoesNotHoldTheFailoverUp) {
  StartOnHv01(/*before_failover=*/true);
  CrashHv01AndFailOver();
  storage_->InjectFailure(providers::FakeStorageOp::kFreeze, Status::Unavailable("nfs is slow"));
  ReconcileVmOk("wms01");
  VmStatus status = StatusOf("wms01");
  EXPECT_EQ(status.snapshots.back().phase, "Failed");
  EXPECT_THAT(Reasons("wms01"), Contains("SnapshotFailed"));
  EXPECT_EQ(Host("hv02").Domain("wms01")->state, DomainState::kRunning);
}

TEST_F(FailoverSnapshotTest, WithoutBeforeFailoverNoneIsTaken) {
  StartOnHv01(/*before_failover=*/false);
  const size_t before = StatusOf("wms01").snapshots.size();
  CrashHv01AndFailOver();
  ReconcileVmOk("wms01");
  EXPECT_EQ(StatusOf("wms01").snapshots.size(), before);
  EXPECT_EQ(Host("hv02").Domain("wms01")->state, DomainState::kRunning);
}

TEST_F(VmSnapshotterTest, AVmWithoutVolumesHasNoSnapshots) {
  Apply(HostYaml("hv01") + VmYaml("wms01", "  snapshotPolicy: hourly\n") +
        "apiVersion: vmkeeper/v1\nkind: SnapshotPolicy\nmetadata: {name: hourly}\n"
        "spec: {intervalSeconds: 3600}\n---\n");
  SyncHost("hv01");
  ReconcileVmOk("wms01");
  EXPECT_TRUE(StatusOf("wms01").snapshots.empty());
  EXPECT_EQ(StatusOf("wms01").snapshotSeq, 0);
}

}  // namespace
}  // namespace vmk::reconciler
