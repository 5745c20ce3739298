// Pruning to a SnapshotPolicy's keep and cap (SnapshotPruner), through the VM reconciler over
// fake hosts and a fake shared storage whose layers carry data: every test checks that what
// each kept snapshot's reader sees is what it saw when it was taken.
#include "reconciler/vm/snapshot_pruner.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>

#include "tests/fakes/reconcile_fixture.h"

namespace vmk::reconciler {
namespace {

using providers::FakeOp;
using providers::FakeStorageOp;
using providers::ImageFormat;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::Not;

constexpr int64_t kMiB = int64_t{1} << 20;

SnapshotRecord Record(const std::string& name, const std::string& reason, bool healthy,
                      const std::string& phase = "Taken") {
  SnapshotRecord r;
  r.name = name;
  r.reason = reason;
  r.healthy = healthy;
  r.phase = phase;
  return r;
}

TEST(PruneRulesTest, KeepCountsScheduledSnapshotsOnlyAndSparesTheLatestHealthy) {
  VmStatus status;
  status.snapshots = {Record("s1", "scheduled", true),        Record("m1", "manual", true),
                      Record("s2", "scheduled", true),        Record("f1", "before-failover", false),
                      Record("s3", "scheduled", false, "Failed"), Record("s4", "scheduled", true),
                      Record("s5", "scheduled", true)};
  EXPECT_THAT(SnapshotsBeyondKeep(status, 2), ElementsAre("s1", "s2"))
      << "the newest 2 scheduled Taken ones are kept; a failed one is no snapshot";
  EXPECT_THAT(SnapshotsBeyondKeep(status, 4), IsEmpty());
  EXPECT_THAT(SnapshotsTheCapMayPrune(status), ElementsAre("s1", "s2", "s4"))
      << "never the latest healthy one (s5), nor one taken by hand or before a failover";

  // The VM has not been healthy since s2: s2 is what a rollback goes back to, kept whatever
  // keep says.
  status.snapshots[5].healthy = false;
  status.snapshots[6].healthy = false;
  EXPECT_EQ(LatestHealthySnapshot(status)->name, "s2");
  EXPECT_THAT(SnapshotsBeyondKeep(status, 1), ElementsAre("s1", "s4"));
  EXPECT_THAT(SnapshotsBeyondKeep(status, 2), ElementsAre("s1"));
}

TEST(PruneRulesTest, NothingIsPrunedWhileASnapshotIsPendingOrARollbackRuns) {
  VmStatus status;
  status.snapshots = {Record("s1", "scheduled", true), Record("s2", "scheduled", true)};
  EXPECT_EQ(PruneBlocker(status), "");
  status.snapshots.push_back(Record("s3", "scheduled", true, "Pending"));
  EXPECT_THAT(PruneBlocker(status), ::testing::HasSubstr("s3 is being taken"));
  status.snapshots.pop_back();
  for (const char* phase : {"Restoring", "Watching"}) {
    status.rollback.phase = phase;
    EXPECT_NE(PruneBlocker(status), "") << phase;
  }
  status.rollback.phase = "Done";
  EXPECT_EQ(PruneBlocker(status), "");
  status.rollbackRequest = "s1";
  EXPECT_NE(PruneBlocker(status), "");
}

TEST(PruneRecordTest, RoundTripsAndAnOldStatusHasNone) {
  VmStatus status;
  status.pruning.phase = "Deleting";
  status.pruning.snapshot = "s1";
  status.pruning.reason = "keep";
  status.pruning.started = "2026-12-05T01:00:00.000Z";
  status.pruning.steps = {{"root", "shared", "wms01.root.0.qcow2", "wms01.root.1.qcow2",
                           "commit", "wms01.root.2.qcow2", "wms01.root.1.qcow2"},
                          {"data", "shared", "wms01.data.0.qcow2", "", "delete", "", ""}};
  VmStatus back = VmStatus::FromJson(status.ToJson());
  EXPECT_EQ(back.pruning.ToJson(), status.pruning.ToJson());
  ASSERT_EQ(back.pruning.steps.size(), 2u);
  EXPECT_EQ(back.pruning.steps[0].over, "wms01.root.2.qcow2");
  EXPECT_EQ(back.pruning.steps[1].child, "");

  // Written before pruning existed.
  VmStatus old = VmStatus::FromJson(specs::Json::parse(
      R"({"state": "running", "snapshots": [{"name": "s1", "phase": "Taken"}]})"));
  EXPECT_EQ(old.pruning.phase, "");
  EXPECT_TRUE(old.pruning.steps.empty());
  EXPECT_FALSE(old.ToJson().contains("pruning"));
}

class SnapshotPrunerTest : public ReconcileFixture {
 protected:
  void SetUp() override {
    storage_->AddPool("shared", "/srv/pool");
    storage_->AddImage("/images/base.raw", ImageFormat::kRaw, 1 << 30, "base");
  }
  // wms01 on a volume over the base image, hourly snapshots under `policy`; started and Ready:
  // the baseline s1 is taken (its layer reads "base").
  void StartVm(const std::string& policy, const std::string& vm_extra = "") {
    Apply(HostYaml("hv01") +
          "apiVersion: vmkeeper/v1\nkind: StoragePool\nmetadata: {name: shared}\n"
          "spec: {path: /srv/pool}\n---\n" + Policy(policy) +
          "apiVersion: vmkeeper/v1\nkind: VirtualMachine\nmetadata: {name: wms01}\nspec:\n"
          "  disks: [{name: root, volume: {pool: shared, baseImage: /images/base.raw}}]\n"
          "  snapshotPolicy: hourly\n  restart: {limit: 2, windowSeconds: 600}\n" +
          vm_extra + "---\n");
    Host("hv01").AttachStorage(storage_, {"shared"});
    SyncHost("hv01");
    ReconcileVmOk("wms01");
    ASSERT_EQ(StatusOf("wms01").snapshots.size(), 1u);
    seen_["s1"] = "base";
  }
  static std::string Policy(const std::string& spec) {
    return "apiVersion: vmkeeper/v1\nkind: SnapshotPolicy\nmetadata: {name: hourly}\n"
           "spec: {intervalSeconds: 3600, " + spec + "}\n---\n";
  }
  std::string Top() { return StatusOf("wms01").disks[0].path; }
  // spec.running: false, reconciled until the domain is off.
  void StopVm() {
    Apply("apiVersion: vmkeeper/v1\nkind: VirtualMachine\nmetadata: {name: wms01}\nspec:\n"
          "  disks: [{name: root, volume: {pool: shared, baseImage: /images/base.raw}}]\n"
          "  snapshotPolicy: hourly\n  restart: {limit: 2, windowSeconds: 600}\n"
          "  running: false\n---\n");
    for (int i = 0; i < 5 && StatusOf("wms01").state != "shutoff"; ++i) {
      clock_.Advance(std::chrono::seconds(120));  // past a graceful stop's grace
      ReconcileVmOk("wms01");
    }
    ASSERT_EQ(StatusOf("wms01").state, "shutoff");
  }
  // An hour of the guest's life: it writes `data` (taking `bytes` in its top), then the next
  // scheduled snapshot freezes it, and what is due is pruned.
  ReconcileResult Hour(const std::string& data, int64_t bytes = 0) {
    EXPECT_TRUE(storage_->WriteData(Top(), data).ok());
    if (bytes > 0) {
      EXPECT_TRUE(storage_->SetAllocation(Top(), bytes).ok());
    }
    clock_.Advance(std::chrono::seconds(3600));
    ReconcileResult r = ReconcileVm("wms01");
    VmStatus status = StatusOf("wms01");
    for (const SnapshotRecord& s : status.snapshots) {
      if (seen_.count(s.name) == 0 && s.phase == "Taken") seen_[s.name] = data;
    }
    return r;
  }
  void HourOk(const std::string& data, int64_t bytes = 0) {
    ReconcileResult r = Hour(data, bytes);
    ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  }
  // What each recorded snapshot's reader sees now, by name.
  std::map<std::string, std::string> Reads() {
    std::map<std::string, std::string> reads;
    for (const SnapshotRecord& s : StatusOf("wms01").snapshots) {
      reads[s.name] = storage_->ReadData("/srv/pool/" + s.layers[0].volume).value_or("<none>");
    }
    return reads;
  }
  // What they saw when they were taken, for those still recorded.
  std::map<std::string, std::string> Seen() {
    std::map<std::string, std::string> seen;
    for (const SnapshotRecord& s : StatusOf("wms01").snapshots) {
      seen[s.name] = seen_.count(s.name) ? seen_[s.name] : "<unknown>";
    }
    return seen;
  }
  std::vector<std::string> Names() {
    std::vector<std::string> names;
    for (const SnapshotRecord& s : StatusOf("wms01").snapshots) names.push_back(s.name);
    return names;
  }
  std::vector<std::string> PoolFiles() {
    std::vector<std::string> names;
    for (const auto& v : storage_->Volumes("shared")) names.push_back(v.name);
    return names;
  }
  // Every volume of the pool is either a recorded snapshot's layer or the disk's top: nothing
  // leaked, nothing recorded is missing, and the top's chain reaches the base image.
  void ExpectPoolMatchesTheRecord() {
    VmStatus status = StatusOf("wms01");
    std::vector<std::string> expected;
    for (const SnapshotRecord& s : status.snapshots) {
      for (const SnapshotLayer& l : s.layers) expected.push_back(l.volume);
    }
    expected.push_back(status.disks[0].volume);
    std::sort(expected.begin(), expected.end());
    EXPECT_EQ(PoolFiles(), expected);
    auto chain = providers::VolumeChain(storage_->Volumes("shared"), status.disks[0].volume);
    ASSERT_TRUE(chain.ok()) << chain.status().ToString();
    EXPECT_EQ(chain->back().backing_path, "/images/base.raw");
  }

  std::map<std::string, std::string> seen_;
};

// keep 2 on a running VM: each hour's snapshot prunes the oldest scheduled one by an online
// commit of its child into its layer; the pool holds the 2 kept layers and the top.
TEST_F(SnapshotPrunerTest, KeepIsRespectedOnARunningVmAndEveryKeptSnapshotReadsTheSame) {
  StartVm("keep: 2");
  HourOk("hour-1");
  EXPECT_EQ(Names(), (std::vector<std::string>{"s1", "s2"}));
  EXPECT_EQ(Host("hv01").CallCount(FakeOp::kCommitDiskLayer), 0);
  for (int hour = 2; hour <= 5; ++hour) {
    HourOk("hour-" + std::to_string(hour));
    ASSERT_EQ(StatusOf("wms01").snapshots.size(), 2u) << "hour " << hour;
    EXPECT_EQ(Reads(), Seen()) << "hour " << hour;
    ExpectPoolMatchesTheRecord();
  }
  EXPECT_EQ(Names(), (std::vector<std::string>{"s5", "s6"}));
  EXPECT_EQ(Host("hv01").CallCount(FakeOp::kCommitDiskLayer), 4);
  EXPECT_EQ(storage_->ReadData(Top()), "hour-5") << "the guest's disk reads the same";
  EXPECT_EQ(StatusOf("wms01").pruning.phase, "");
  EXPECT_THAT(Reasons("wms01"), Contains("SnapshotPruned"));
  // A commit keeps the pruned layer's file, now holding the next snapshot's state.
  EXPECT_EQ(StatusOf("wms01").snapshots[0].layers[0].volume, "wms01.root.0.qcow2");
  EXPECT_EQ(Host("hv01").CallCount(FakeOp::kDefine), 1) << "the domain is never redefined";
}

// Snapshots an admin or a failure made are not the schedule's to prune: they do not count
// toward keep and stay; the scheduled one under a manual snapshot is still pruned, its data
// going into the manual snapshot's state, which is then recorded on the merged layer.
TEST_F(SnapshotPrunerTest, SnapshotsTakenByHandAreNeverPrunedNorCounted) {
  StartVm("keep: 1");
  ASSERT_TRUE(storage_->WriteData(Top(), "before-upgrade").ok());
  ASSERT_TRUE(loop_.RequestSnapshot("wms01", "before-upgrade").ok());
  ReconcileVmOk("wms01");
  seen_["before-upgrade"] = "before-upgrade";
  EXPECT_EQ(Names(), (std::vector<std::string>{"s1", "before-upgrade"}));
  HourOk("hour-1");
  HourOk("hour-2");
  EXPECT_EQ(Names(), (std::vector<std::string>{"before-upgrade", "s4"}));
  EXPECT_EQ(Reads(), Seen());
  EXPECT_EQ(StatusOf("wms01").snapshots[0].layers[0].volume, "wms01.root.0.qcow2")
      << "s1's layer now holds before-upgrade's state";
  ExpectPoolMatchesTheRecord();
}

// After a rollback to s1, s1's layer carries two chains (the old one and the restored top): it
// is kept whatever keep says. s2's layer carries only the failed top, which no domain runs: it
// is rebased (qemu-img) while the VM runs on its other branch, and the failed state reads the
// same.
TEST_F(SnapshotPrunerTest, ALayerARestoreSitsOnIsKeptAndABranchNoDomainRunsIsRebased) {
  StartVm("keep: 2");
  HourOk("hour-1");
  ASSERT_TRUE(storage_->WriteData(Top(), "broken").ok());
  ASSERT_TRUE(loop_.RequestRollback("wms01", "s1", false).ok());
  ReconcileVmOk("wms01");  // powered off and restored; started by the next pass
  ASSERT_EQ(StatusOf("wms01").rollback.phase, "Watching");
  for (int i = 0; i < 3 && StatusOf("wms01").state != "running"; ++i) ReconcileVmOk("wms01");
  ASSERT_EQ(StatusOf("wms01").state, "running");
  seen_["s3-failed"] = "broken";
  EXPECT_EQ(Names(), (std::vector<std::string>{"s1", "s2", "s3-failed"}));
  clock_.Advance(std::chrono::seconds(600));
  ReconcileVmOk("wms01");
  ASSERT_EQ(StatusOf("wms01").rollback.phase, "Done");

  HourOk("hour-2");
  EXPECT_EQ(Names(), (std::vector<std::string>{"s1", "s2", "s3-failed", "s4"}))
      << "s1 is beyond keep, but the restored top sits on its layer";
  HourOk("hour-3");
  EXPECT_EQ(Names(), (std::vector<std::string>{"s1", "s3-failed", "s4", "s5"}))
      << "s2 pruned: its layer carried only the failed top";
  EXPECT_EQ(storage_->CallCount(FakeStorageOp::kMerge), 1);
  EXPECT_EQ(Host("hv01").CallCount(FakeOp::kCommitDiskLayer), 0);
  EXPECT_EQ(Reads(), Seen());
  ExpectPoolMatchesTheRecord();
  HourOk("hour-4");
  EXPECT_EQ(Names(), (std::vector<std::string>{"s1", "s3-failed", "s5", "s6"}))
      << "s4 pruned by a commit in the running chain; s1 still carries the failed branch";
  EXPECT_EQ(Host("hv01").CallCount(FakeOp::kCommitDiskLayer), 1);
  EXPECT_EQ(Reads(), Seen());
  ExpectPoolMatchesTheRecord();
}

// A stopped VM's layers are merged offline: the child rebased onto the layer's parent, the
// layer deleted; the hypervisor is not asked.
TEST_F(SnapshotPrunerTest, AStoppedVmIsPrunedByRebase) {
  StartVm("keep: 3");
  HourOk("hour-1");
  HourOk("hour-2");
  ASSERT_EQ(StatusOf("wms01").snapshots.size(), 3u);
  StopVm();
  Apply(Policy("keep: 1"));
  ReconcileVmOk("wms01");
  EXPECT_EQ(Names(), (std::vector<std::string>{"s3"}));
  EXPECT_EQ(storage_->CallCount(FakeStorageOp::kMerge), 2);
  EXPECT_EQ(Host("hv01").CallCount(FakeOp::kCommitDiskLayer), 0);
  EXPECT_EQ(Reads(), Seen());
  EXPECT_EQ(storage_->ReadData(Top()), "hour-2");
  ExpectPoolMatchesTheRecord();
}

// Killed (or refused) at each step, the prune is finished by a later pass from its record and
// what the pool shows: never merged twice, never a layer lost, every snapshot reading the same.
TEST_F(SnapshotPrunerTest, ARefusedCommitIsAnEventAndALaterPassFinishesIt) {
  StartVm("keep: 1");
  HourOk("hour-1");
  Host("hv01").InjectFailure(FakeOp::kCommitDiskLayer, Status::FailedPrecondition("job refused"));
  HourOk("hour-2");
  VmStatus status = StatusOf("wms01");
  EXPECT_EQ(status.pruning.phase, "Merging");
  EXPECT_EQ(status.pruning.snapshot, "s2") << "s1 went at hour 1";
  EXPECT_THAT(Reasons("wms01"), Contains("SnapshotPruneFailed"));
  EXPECT_EQ(Reads(), Seen());
  ReconcileVmOk("wms01");
  EXPECT_EQ(StatusOf("wms01").pruning.phase, "");
  EXPECT_EQ(Names(), (std::vector<std::string>{"s3"}));
  EXPECT_EQ(Reads(), Seen());
  ExpectPoolMatchesTheRecord();
}

TEST_F(SnapshotPrunerTest, ThePrunedSnapshotIsNoRollbackTargetWhileItIsMerged) {
  StartVm("keep: 1");
  Host("hv01").InjectFailure(FakeOp::kCommitDiskLayer, Status::FailedPrecondition("job refused"));
  HourOk("hour-1");
  VmStatus status = StatusOf("wms01");
  ASSERT_EQ(status.pruning.phase, "Merging");
  ASSERT_EQ(status.pruning.snapshot, "s1");
  EXPECT_EQ(status.snapshots[0].phase, "Pruning");
  EXPECT_FALSE(loop_.RequestRollback("wms01", "s1", true).ok());
}

TEST_F(SnapshotPrunerTest, AnUnansweredCommitIsResumedFromTheRecord) {
  StartVm("keep: 1");
  Host("hv01").InjectFailure(FakeOp::kCommitDiskLayer, Status::Unavailable("keepalive"));
  EXPECT_FALSE(Hour("hour-1").status.ok());
  VmStatus status = StatusOf("wms01");
  ASSERT_EQ(status.pruning.phase, "Merging");
  EXPECT_EQ(status.pruning.snapshot, "s1");
  EXPECT_EQ(status.pruning.steps[0].method, "commit") << "recorded before it was tried";
  EXPECT_EQ(Reads(), Seen());
  ReconcileVmOk("wms01");
  EXPECT_EQ(Names(), (std::vector<std::string>{"s2"}));
  EXPECT_EQ(Reads(), Seen());
  ExpectPoolMatchesTheRecord();
}

TEST_F(SnapshotPrunerTest, AKillAfterTheCommitIsResumedWithoutCommittingAgain) {
  StartVm("keep: 2");
  HourOk("hour-1");
  Host("hv01").InjectFailure(FakeOp::kCommitDiskLayer, Status::Unavailable("keepalive"));
  EXPECT_FALSE(Hour("hour-2").status.ok());
  VmStatus status = StatusOf("wms01");
  ASSERT_EQ(status.pruning.phase, "Merging");
  const PruneStep step = status.pruning.steps[0];
  // QEMU did it after all; the controller stopped before it recorded anything.
  providers::FakeHypervisor direct(factory_.host("test:///embedded/hv01"));
  ASSERT_TRUE(direct.Connect().ok());
  ASSERT_TRUE(direct
                  .CommitDiskLayer("wms01",
                                   {"vda", "/srv/pool/" + step.layer, "/srv/pool/" + step.child},
                                   std::chrono::seconds(1))
                  .ok());
  Host("hv01").ResetCallCounts();
  ReconcileVmOk("wms01");
  EXPECT_EQ(Host("hv01").CallCount(FakeOp::kCommitDiskLayer), 0);
  EXPECT_EQ(Names(), (std::vector<std::string>{"s2", "s3"}));
  EXPECT_EQ(StatusOf("wms01").snapshots[0].layers[0].volume, step.layer);
  EXPECT_FALSE(storage_->VolumeAt("/srv/pool/" + step.child).has_value());
  EXPECT_EQ(Reads(), Seen());
  ExpectPoolMatchesTheRecord();
}

TEST_F(SnapshotPrunerTest, AKillBeforeTheObsoleteFileIsDeletedIsResumed) {
  StartVm("keep: 2");
  HourOk("hour-1");
  storage_->InjectFailure(FakeStorageOp::kDelete, Status::Unavailable("keepalive"));
  EXPECT_FALSE(Hour("hour-2").status.ok());
  VmStatus status = StatusOf("wms01");
  ASSERT_EQ(status.pruning.phase, "Deleting");
  EXPECT_EQ(Names(), (std::vector<std::string>{"s2", "s3"})) << "recorded before the delete";
  const std::string obsolete = status.pruning.steps[0].obsolete;
  EXPECT_TRUE(storage_->VolumeAt("/srv/pool/" + obsolete).has_value());
  EXPECT_EQ(Reads(), Seen());
  ReconcileVmOk("wms01");
  EXPECT_EQ(StatusOf("wms01").pruning.phase, "");
  EXPECT_FALSE(storage_->VolumeAt("/srv/pool/" + obsolete).has_value());
  EXPECT_EQ(Reads(), Seen());
  ExpectPoolMatchesTheRecord();
}

TEST_F(SnapshotPrunerTest, AKillDuringAStoppedVmsRebaseIsResumed) {
  StartVm("keep: 3");
  HourOk("hour-1");
  HourOk("hour-2");
  StopVm();
  storage_->InjectFailure(FakeStorageOp::kMerge, Status::Unavailable("keepalive"));
  Apply(Policy("keep: 1"));
  EXPECT_FALSE(ReconcileVm("wms01").status.ok());
  VmStatus status = StatusOf("wms01");
  ASSERT_EQ(status.pruning.phase, "Merging");
  EXPECT_EQ(status.pruning.snapshot, "s1");
  EXPECT_EQ(status.pruning.steps[0].method, "rebase");
  // The rebase was done after all; the controller stopped before it recorded anything.
  ASSERT_TRUE(storage_->Pool("shared", nullptr)
                  ->MergeBackingIntoChild(status.pruning.steps[0].child)
                  .ok());
  const int merges = storage_->CallCount(FakeStorageOp::kMerge);
  ReconcileVmOk("wms01");
  EXPECT_EQ(storage_->CallCount(FakeStorageOp::kMerge), merges + 1)
      << "s1 not merged twice; s2 merged once";
  EXPECT_EQ(Names(), (std::vector<std::string>{"s3"}));
  EXPECT_EQ(Host("hv01").CallCount(FakeOp::kCommitDiskLayer), 0);
  EXPECT_EQ(Reads(), Seen());
  ExpectPoolMatchesTheRecord();
}

// maxSnapshotGiB: beyond it the oldest scheduled snapshots go, even within keep, until the
// layers fit; the condition says so.
TEST_F(SnapshotPrunerTest, TheCapPrunesTheOldestScheduledSnapshotsEvenWithinKeep) {
  StartVm("keep: 10, maxSnapshotGiB: 1");
  ASSERT_TRUE(storage_->SetAllocation("/srv/pool/wms01.root.0.qcow2", 400 * kMiB).ok());
  HourOk("hour-1", 400 * kMiB);
  EXPECT_EQ(Names(), (std::vector<std::string>{"s1", "s2"})) << "800 MiB: within the cap";
  EXPECT_EQ(ConditionStatus("wms01", "SnapshotSpace"), "True/WithinCap");
  HourOk("hour-2", 400 * kMiB);
  EXPECT_EQ(Names(), (std::vector<std::string>{"s2", "s3"})) << "1200 MiB: s1 pruned";
  EXPECT_EQ(ConditionStatus("wms01", "SnapshotSpace"), "True/WithinCap");
  EXPECT_EQ(Reads(), Seen());
  ExpectPoolMatchesTheRecord();
}

// The space is held by what must stay (snapshots taken by hand): the scheduled one goes, then
// an event and the condition say the cap cannot be met, and nothing else is deleted.
TEST_F(SnapshotPrunerTest, WhenTheCapCannotBeMetNothingUnsafeIsDeletedAndTheConditionSaysSo) {
  StartVm("keep: 10, maxSnapshotGiB: 1");
  for (const char* name : {"a", "b"}) {
    ASSERT_TRUE(storage_->WriteData(Top(), name).ok());
    ASSERT_TRUE(storage_->SetAllocation(Top(), 600 * kMiB).ok());
    ASSERT_TRUE(loop_.RequestSnapshot("wms01", name).ok());
    ReconcileVmOk("wms01");
    seen_[name] = name;
  }
  EXPECT_EQ(Names(), (std::vector<std::string>{"a", "b"})) << "s1 pruned by the cap";
  EXPECT_EQ(ConditionStatus("wms01", "SnapshotSpace"), "False/CapExceeded");
  EXPECT_THAT(Reasons("wms01"), Contains("SnapshotCapExceeded"));
  EXPECT_THAT(Reasons("wms01"), Contains("SnapshotPruned"));
  EXPECT_EQ(Reads(), Seen());
  ExpectPoolMatchesTheRecord();
  // Another pass: the same verdict, no second event, nothing more deleted.
  ReconcileVmOk("wms01");
  int exceeded = 0;
  for (const std::string& r : Reasons("wms01")) exceeded += r == "SnapshotCapExceeded";
  EXPECT_EQ(exceeded, 1);
  EXPECT_EQ(Names(), (std::vector<std::string>{"a", "b"}));
  // The cap lifted: no verdict left on it.
  Apply(Policy("keep: 10"));
  ReconcileVmOk("wms01");
  EXPECT_EQ(ConditionStatus("wms01", "SnapshotSpace"), "<none>");
}

}  // namespace
}  // namespace vmk::reconciler
