// Rollback after the restart limit (flow 2), through the VM reconciler over fake hosts and a
// fake shared storage whose images carry data, so each disk state is told apart.
#include "reconciler/vm/vm_rollback.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/fakes/reconcile_fixture.h"

namespace vmk::reconciler {
namespace {

using providers::DomainState;
using providers::ImageFormat;
using ::testing::Contains;
using ::testing::Not;

class VmRollbackTest : public ReconcileFixture {
 protected:
  void SetUp() override {
    storage_->AddPool("shared", "/srv/pool");
    storage_->AddImage("/images/base.raw", ImageFormat::kRaw, 1 << 30, "base");
  }
  // wms01 on a volume, hourly snapshots, rolled back up to `depth` snapshots, 2 restarts in
  // 10 min. Started and Ready: the healthy baseline snapshot s1 is taken.
  void StartVm(int depth = 2) {
    Apply(HostYaml("hv01") +
          "apiVersion: vmkeeper/v1\nkind: StoragePool\nmetadata: {name: shared}\n"
          "spec: {path: /srv/pool}\n---\n"
          "apiVersion: vmkeeper/v1\nkind: SnapshotPolicy\nmetadata: {name: hourly}\n"
          "spec: {intervalSeconds: 3600, rollbackDepth: " + std::to_string(depth) + "}\n---\n"
          "apiVersion: vmkeeper/v1\nkind: VirtualMachine\nmetadata: {name: wms01}\nspec:\n"
          "  disks: [{name: root, volume: {pool: shared, baseImage: /images/base.raw}}]\n"
          "  snapshotPolicy: hourly\n  restart: {limit: 2, windowSeconds: 600}\n---\n");
    Host("hv01").AttachStorage(storage_, {"shared"});
    SyncHost("hv01");
    ASSERT_TRUE(storage_->Pool("shared", nullptr)
                    ->CreateVolume({"scratch", "", std::nullopt, 1})
                    .ok());  // a volume of another VM: never touched
    ReconcileVmOk("wms01");
    ASSERT_EQ(StatusOf("wms01").snapshots.size(), 1u);
  }
  std::string Top() { return StatusOf("wms01").disks[0].path; }
  // Crashes the guest and reconciles (past the backoff) until the limit is used up.
  void CrashUntilTheLimit() {
    for (int i = 0; i < 10; ++i) {
      ASSERT_TRUE(Host("hv01").CrashDomain("wms01").ok());
      clock_.Advance(std::chrono::seconds(30));
      ReconcileVmOk("wms01");
      if (StatusOf("wms01").rollback.phase != "Done" &&
          !StatusOf("wms01").rollback.phase.empty()) {
        return;
      }
    }
    FAIL() << "the limit was never reached";
  }
  void ReconcileUntilRunning() {
    for (int i = 0; i < 3; ++i) {
      auto r = ReconcileVm("wms01");
      ASSERT_TRUE(r.status.ok()) << r.status.ToString();
      auto d = Host("hv01").Domain("wms01");
      if (d && d->state == DomainState::kRunning) return;
    }
    FAIL() << "not started";
  }
};

TEST(PickRollbackTargetTest, NewestHealthyTakenNotTriedWithinTheDepth) {
  VmStatus status;
  auto add = [&](const std::string& name, bool healthy, const std::string& phase) {
    SnapshotRecord r;
    r.name = name;
    r.healthy = healthy;
    r.phase = phase;
    status.snapshots.push_back(r);
  };
  add("s1", true, "Taken");
  add("s2", false, "Taken");
  add("s3", true, "Failed");
  add("s4", true, "Taken");
  EXPECT_EQ(PickRollbackTarget(status, {}, 2)->name, "s4");
  EXPECT_EQ(PickRollbackTarget(status, {"s4"}, 2)->name, "s1");
  EXPECT_EQ(PickRollbackTarget(status, {"s4", "s1"}, 3), nullptr) << "none left";
  EXPECT_EQ(PickRollbackTarget(status, {"s4"}, 1), nullptr) << "the depth is used up";
  EXPECT_EQ(PickRollbackTarget(status, {}, 0), nullptr);
}

TEST_F(VmRollbackTest, AVmThatKeepsCrashingComesBackFromItsLastHealthySnapshot) {
  StartVm();
  const std::string healthy_layer = StatusOf("wms01").snapshots[0].layers[0].volume;
  ASSERT_TRUE(storage_->WriteData(Top(), "broken-by-an-update").ok());
  const std::string failed_top = Top();
  CrashUntilTheLimit();
  VmStatus status = StatusOf("wms01");
  EXPECT_EQ(status.rollback.phase, "Watching");
  EXPECT_EQ(status.rollback.target, "s1");
  EXPECT_EQ(ConditionStatus("wms01", "Ready"), "False/RollingBack");
  EXPECT_THAT(Reasons("wms01"), Contains("RolledBack"));
  // The failed state is kept, as a snapshot of its own.
  const SnapshotRecord& kept = status.snapshots.back();
  EXPECT_EQ(kept.reason, "before-rollback");
  EXPECT_EQ("/srv/pool/" + kept.layers[0].volume, failed_top);
  EXPECT_EQ(storage_->ReadData(failed_top), "broken-by-an-update");
  // The disk is a new top over the healthy layer.
  EXPECT_EQ(storage_->VolumeAt(Top())->backing_path, "/srv/pool/" + healthy_layer);
  EXPECT_EQ(storage_->ReadData(Top()), "base");
  EXPECT_TRUE(status.restartTimes.empty()) << "a fresh budget";
  EXPECT_TRUE(storage_->VolumeAt("/srv/pool/scratch").has_value());

  const int restarts = status.restartCount;
  ReconcileUntilRunning();
  EXPECT_EQ(Host("hv01").Domain("wms01")->config->disks[0].source, Top());
  EXPECT_EQ(StatusOf("wms01").restartCount, restarts) << "the start after a rollback is no failure";
  EXPECT_EQ(StatusOf("wms01").rollback.phase, "Watching") << "until Ready for a restart window";
  clock_.Advance(std::chrono::seconds(600));
  ReconcileVmOk("wms01");
  EXPECT_EQ(StatusOf("wms01").rollback.phase, "Done");
  EXPECT_THAT(Reasons("wms01"), Contains("RollbackSucceeded"));
  EXPECT_EQ(ConditionStatus("wms01", "Ready"), "True/Running");
}

TEST_F(VmRollbackTest, FailingAgainGoesFurtherBackThenTheVmIsFailed) {
  StartVm(/*depth=*/2);
  clock_.Advance(std::chrono::seconds(3600));
  ReconcileVmOk("wms01");  // s2, healthy
  ASSERT_EQ(StatusOf("wms01").snapshots.size(), 2u);
  CrashUntilTheLimit();
  EXPECT_EQ(StatusOf("wms01").rollback.target, "s2");
  // It fails before it is Ready again: the one before.
  for (int i = 0; i < 10 && StatusOf("wms01").rollback.tried.size() < 2; ++i) {
    (void)ReconcileVm("wms01");
    (void)Host("hv01").CrashDomain("wms01");
    clock_.Advance(std::chrono::seconds(30));
  }
  EXPECT_EQ(StatusOf("wms01").rollback.target, "s1");
  for (int i = 0; i < 10 && StatusOf("wms01").rollback.phase != "Failed"; ++i) {
    (void)ReconcileVm("wms01");
    (void)Host("hv01").CrashDomain("wms01");
    clock_.Advance(std::chrono::seconds(30));
  }
  EXPECT_EQ(StatusOf("wms01").rollback.phase, "Failed");
  EXPECT_EQ(ConditionStatus("wms01", "Ready"), "False/RollbackFailed");
  EXPECT_THAT(Reasons("wms01"), Contains("RollbackFailed"));
  auto incidents = incidents_.List(ObjectRef{specs::Kind::kVirtualMachine, "wms01"});
  ASSERT_TRUE(incidents.ok());
  ASSERT_FALSE(incidents->empty());
  EXPECT_TRUE(incidents->back().open()) << "the incident stays open";
}

TEST_F(VmRollbackTest, WithoutAHealthySnapshotTheVmIsHeldAndSaysWhy) {
  StartVm(/*depth=*/0);
  for (int i = 0; i < 10 && ConditionStatus("wms01", "Ready") != "False/RestartLimitReached";
       ++i) {
    (void)Host("hv01").CrashDomain("wms01");
    clock_.Advance(std::chrono::seconds(30));
    ReconcileVmOk("wms01");
  }
  // rollbackDepth 0: the ordinary hold of the restart limit.
  EXPECT_EQ(ConditionStatus("wms01", "Ready"), "False/RestartLimitReached");
  EXPECT_THAT(Reasons("wms01"), Not(Contains("RolledBack")));
}

// vmkeeper rollback: shown first (dry run), then asked for; the running VM is powered off, its
// disk goes back to the snapshot, the state it had is kept, and it starts again.
TEST_F(VmRollbackTest, AnAdminsRollbackRestoresTheSnapshotAskedForAndKeepsTheState) {
  StartVm();
  ASSERT_TRUE(storage_->WriteData(Top(), "changed").ok());
  const std::string changed_top = Top();
  const int restarts = StatusOf("wms01").restartCount;
  auto plan = loop_.RequestRollback("wms01", "", /*dry_run=*/true);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  EXPECT_EQ(plan->target, "s1");
  EXPECT_TRUE(plan->target_healthy);
  ASSERT_EQ(plan->restore.size(), 1u);
  EXPECT_EQ(plan->restore[0].second, "wms01.root.0.qcow2");
  EXPECT_EQ("/srv/pool/" + plan->keep[0].second, changed_top);
  EXPECT_TRUE(StatusOf("wms01").rollbackRequest.empty()) << "a dry run changes nothing";
  EXPECT_EQ(loop_.RequestRollback("wms01", "nope", false).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(loop_.RequestRollback("absent", "", false).status().code(), StatusCode::kNotFound);

  ASSERT_TRUE(loop_.RequestRollback("wms01", "s1", false).ok());
  EXPECT_EQ(loop_.RequestRollback("wms01", "s1", false).status().code(),
            StatusCode::kFailedPrecondition)
      << "one at a time";
  ReconcileVmOk("wms01");
  EXPECT_EQ(StatusOf("wms01").rollback.phase, "Watching");
  EXPECT_TRUE(StatusOf("wms01").rollbackRequest.empty());
  ReconcileUntilRunning();
  EXPECT_EQ(storage_->ReadData(Top()), "base");
  EXPECT_EQ(storage_->ReadData(changed_top), "changed") << "the state it had is kept";
  EXPECT_EQ(StatusOf("wms01").snapshots.back().reason, "before-rollback");
  EXPECT_EQ(StatusOf("wms01").restartCount, restarts) << "not a failure";
}

// Killed after the new top was made but before the record said Watching: the next pass adopts
// the top it made and finishes.
TEST_F(VmRollbackTest, AKillMidwayIsResumed) {
  StartVm();
  VmStatus status = StatusOf("wms01");
  ASSERT_TRUE(Host("hv01").SetRunning("wms01", false).ok());
  status.state = "shutoff";
  status.snapshotSeq += 1;
  status.rollback.phase = "Restoring";
  status.rollback.target = "s1";
  status.rollback.tried = {"s1"};
  const std::string frozen = status.snapshots[0].layers[0].volume;
  const std::string next = "wms01.root.9.qcow2";
  status.rollback.restore = {{"root", "shared", frozen, next}};
  ASSERT_TRUE(store_.PutStatus(specs::Kind::kVirtualMachine, "wms01", status.ToJson(), true).ok());
  ASSERT_TRUE(storage_->Pool("shared", nullptr)
                  ->CreateVolume({next, "/srv/pool/" + frozen, ImageFormat::kQcow2, 0})
                  .ok());
  ReconcileVmOk("wms01");
  status = StatusOf("wms01");
  EXPECT_EQ(status.rollback.phase, "Watching");
  EXPECT_EQ(status.disks[0].volume, next);
  EXPECT_EQ(Host("hv01").Domain("wms01")->config->disks[0].source, "/srv/pool/" + next);
}

}  // namespace
}  // namespace vmk::reconciler
