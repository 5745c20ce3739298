// Rollback of a failed change (flow 3), through the VM reconciler over fake hosts, a fake prober
// and a fake shared storage whose images carry data: a change that leaves the VM unhealthy past
// its startup grace goes back to the definition and the disks it had before, is reported as a
// failed change, and is not tried again until the spec changes.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/fakes/reconcile_fixture.h"

namespace vmk::reconciler {
namespace {

using providers::DomainState;
using providers::FakeStorageOp;
using providers::ImageFormat;
using providers::ProbeResult;
using ::testing::Contains;
using ::testing::Not;
using std::chrono::seconds;

class VmChangeTest : public ReconcileFixture {
 protected:
  void SetUp() override {
    storage_->AddPool("shared", "/srv/pool");
    storage_->AddImage("/images/base.raw", ImageFormat::kRaw, 1 << 30, "base");
    // The service answers unless the running definition is the broken one (4096 MiB): what the
    // probe sees follows what really runs, as with a real guest.
    prober_.SetHandler([this](const providers::ProbeSpec&) {
      auto d = Host("hv01").Domain("wms01");
      if (!d || d->state != DomainState::kRunning || !d->config) {
        return ProbeResult{false, "connection refused"};
      }
      if (d->config->memoryMiB == 4096) return ProbeResult{false, "HTTP 503"};
      return ProbeResult{true, "HTTP 200"};
    });
  }
  static std::string Manifests(int64_t memory, const std::string& policy_extra = "",
                               int grace_seconds = 5) {
    return HostYaml("hv01") +
           "apiVersion: vmkeeper/v1\nkind: StoragePool\nmetadata: {name: shared}\n"
           "spec: {path: /srv/pool}\n---\n"
           "apiVersion: vmkeeper/v1\nkind: SnapshotPolicy\nmetadata: {name: hourly}\n"
           "spec: {intervalSeconds: 3600" + policy_extra + "}\n---\n"
           "apiVersion: vmkeeper/v1\nkind: VirtualMachine\nmetadata: {name: wms01}\nspec:\n"
           "  memoryMiB: " + std::to_string(memory) + "\n"
           "  disks: [{name: root, volume: {pool: shared, baseImage: /images/base.raw}}]\n"
           "  health: {address: 127.0.0.1, http: {port: 8080}, periodSeconds: 1,\n"
           "           failureThreshold: 2, startupGraceSeconds: " + std::to_string(grace_seconds) +
           "}\n"
           "  snapshotPolicy: hourly\n  restart: {limit: 3, windowSeconds: 600}\n---\n";
  }
  // wms01 (1024 MiB) started and Ready; its first scheduled snapshot taken.
  void StartHealthy(const std::string& policy_extra = "", int64_t healthy_generation = 1,
                    int grace_seconds = 5) {
    Apply(Manifests(1024, policy_extra, grace_seconds));
    Host("hv01").AttachStorage(storage_, {"shared"});
    SyncHost("hv01");
    ASSERT_NO_FATAL_FAILURE(RunUntil([&] { return IsReady(); }, grace_seconds + 10));
    ASSERT_EQ(StatusOf("wms01").healthyGeneration, healthy_generation);
  }
  bool IsReady() { return ConditionStatus("wms01", "Ready") == "True/Running"; }
  std::string Top() { return StatusOf("wms01").disks[0].path; }
  // Time passes a second at a time: the probe runs when due, then the VM's reconcile.
  void RunUntil(const std::function<bool()>& done, int max_seconds = 60) {
    for (int i = 0; i < max_seconds; ++i) {
      ReconcileVmOk("wms01");
      if (done()) return;
      clock_.Advance(seconds(1));
      auto probed = ProbeVm("wms01");
      ASSERT_TRUE(probed.status.ok()) << probed.status.ToString();
      if (done()) return;
    }
    FAIL() << "not reached within " << max_seconds << " s";
  }
  const Incident* LastIncident(std::vector<Incident>* all) {
    auto listed = incidents_.List(ObjectRef{specs::Kind::kVirtualMachine, "wms01"});
    if (!listed.ok() || listed->empty()) return nullptr;
    *all = std::move(*listed);
    return &all->back();
  }
};

TEST_F(VmChangeTest, AChangeThatNeverGetsHealthyIsRolledBackAndNotTriedAgain) {
  StartHealthy();
  ASSERT_TRUE(storage_->WriteData(Top(), "written-by-generation-1").ok());

  // The update: a before-change snapshot of the healthy disks, then the new definition.
  Apply(Manifests(4096));
  ReconcileVmOk("wms01");
  VmStatus status = StatusOf("wms01");
  ASSERT_EQ(status.change.phase, "Watching");
  EXPECT_EQ(status.change.fromGeneration, 1);
  EXPECT_EQ(status.change.toGeneration, 2);
  ASSERT_FALSE(status.change.snapshot.empty());
  const SnapshotRecord& before = status.snapshots.back();
  EXPECT_EQ(before.name, status.change.snapshot);
  EXPECT_EQ(before.reason, "before-change");
  EXPECT_TRUE(before.healthy);
  EXPECT_EQ(before.generation, 1);
  EXPECT_EQ(Host("hv01").Domain("wms01")->config->memoryMiB, 4096);
  EXPECT_THAT(Reasons("wms01"), Contains("ChangeStarted"));
  // The broken version writes to its disk, and its service never answers.
  const std::string broken_top = Top();
  ASSERT_TRUE(storage_->WriteData(broken_top, "written-by-generation-2").ok());

  ASSERT_NO_FATAL_FAILURE(RunUntil([&] { return StatusOf("wms01").change.phase == "Failed"; }));
  status = StatusOf("wms01");
  EXPECT_EQ(ConditionStatus("wms01", "ChangeFailed"), "True/RolledBack");
  EXPECT_THAT(status.change.message, ::testing::HasSubstr("generation 2 failed"));
  EXPECT_THAT(Reasons("wms01"), Contains("ChangeFailed"));
  EXPECT_EQ(status.rollback.target, status.change.snapshot);
  // The state it failed in is kept, as a snapshot of its own.
  EXPECT_EQ(status.snapshots.back().reason, "before-rollback");
  EXPECT_EQ("/srv/pool/" + status.snapshots.back().layers[0].volume, broken_top);
  EXPECT_EQ(storage_->ReadData(broken_top), "written-by-generation-2");

  // Back on the definition and the disks it had before the change.
  ASSERT_NO_FATAL_FAILURE(RunUntil([&] { return IsReady(); }));
  auto domain = Host("hv01").Domain("wms01");
  EXPECT_EQ(domain->config->memoryMiB, 1024);
  EXPECT_EQ(domain->config->generation, 1);
  EXPECT_EQ(storage_->ReadData(Top()), "written-by-generation-1");
  EXPECT_EQ(StatusOf("wms01").observedGeneration, 2) << "it has seen the change it refused";
  EXPECT_EQ(ConditionStatus("wms01", "ChangeFailed"), "True/RolledBack") << "until a new spec";
  std::vector<Incident> incidents;
  const Incident* incident = LastIncident(&incidents);
  ASSERT_NE(incident, nullptr);
  EXPECT_EQ(incident->type, "ChangeFailed");
  EXPECT_EQ(incident->occurred, status.change.started) << "down since the changed VM started";
  EXPECT_FALSE(incident->open()) << "recovered on the previous generation";

  // Not tried again: time passes, the VM stays on generation 1.
  const int defined = Host("hv01").CallCount(providers::FakeOp::kDefine);
  for (int i = 0; i < 5; ++i) {
    clock_.Advance(seconds(60));
    ReconcileVmOk("wms01");
  }
  EXPECT_EQ(Host("hv01").Domain("wms01")->config->generation, 1);
  EXPECT_EQ(Host("hv01").CallCount(providers::FakeOp::kDefine), defined);

  // A new spec is a new change: watched again, and this one is healthy.
  Apply(Manifests(1536));
  ReconcileVmOk("wms01");
  EXPECT_EQ(ConditionStatus("wms01", "ChangeFailed"), "<none>");
  EXPECT_EQ(StatusOf("wms01").change.phase, "Watching");
  EXPECT_EQ(StatusOf("wms01").change.fromGeneration, 1);
  ASSERT_NO_FATAL_FAILURE(RunUntil([&] { return StatusOf("wms01").change.phase == "Succeeded"; }));
  EXPECT_TRUE(IsReady());
  EXPECT_EQ(Host("hv01").Domain("wms01")->config->generation, 3);
  EXPECT_EQ(StatusOf("wms01").healthyGeneration, 3);
  EXPECT_THAT(Reasons("wms01"), Contains("ChangeSucceeded"));
}

// A VM that crashes over and over on the new version uses up its restart limit before the grace
// ends: that is a failed change too, rolled back at once (not the restart limit's rollback to
// the latest healthy snapshot, which may be older).
TEST_F(VmChangeTest, CrashingOnTheNewVersionFailsTheChange) {
  StartHealthy("", 1, /*grace_seconds=*/600);
  Apply(Manifests(2048, "", 600));
  ReconcileVmOk("wms01");
  ASSERT_EQ(StatusOf("wms01").change.phase, "Watching");
  const std::string snapshot = StatusOf("wms01").change.snapshot;
  for (int i = 0; i < 10 && StatusOf("wms01").change.phase == "Watching"; ++i) {
    ASSERT_TRUE(Host("hv01").CrashDomain("wms01").ok());
    clock_.Advance(seconds(30));  // past the backoff between restarts
    ReconcileVmOk("wms01");
  }
  EXPECT_EQ(StatusOf("wms01").change.phase, "Failed");
  EXPECT_EQ(StatusOf("wms01").rollback.target, snapshot);
  EXPECT_THAT(StatusOf("wms01").change.message, ::testing::HasSubstr("restart limit"));
  ASSERT_NO_FATAL_FAILURE(RunUntil([&] { return IsReady(); }, 620));
  EXPECT_EQ(Host("hv01").Domain("wms01")->config->memoryMiB, 1024);
}

// Without beforeChange a change is not watched: no snapshot, no rollback (as before).
TEST_F(VmChangeTest, WithoutBeforeChangeAChangeIsNotWatched) {
  StartHealthy(", beforeChange: false", /*healthy_generation=*/0);  // no spec kept for nothing
  Apply(Manifests(4096));
  for (int i = 0; i < 30; ++i) {
    clock_.Advance(seconds(1));
    (void)ProbeVm("wms01");
    ReconcileVmOk("wms01");
  }
  EXPECT_TRUE(StatusOf("wms01").change.phase.empty());
  for (const SnapshotRecord& r : StatusOf("wms01").snapshots) {
    EXPECT_NE(r.reason, "before-change") << r.name;
  }
  EXPECT_EQ(Host("hv01").Domain("wms01")->config->memoryMiB, 4096);
  EXPECT_THAT(Reasons("wms01"), Not(Contains("ChangeFailed")));
}

// A controller killed in the middle of the rollback of a failed change (the new top could not
// be made: the storage refused once) resumes it on the next pass, to the same end.
TEST_F(VmChangeTest, ARollbackOfAFailedChangeInterruptedMidwayIsResumed) {
  StartHealthy();
  ASSERT_TRUE(storage_->WriteData(Top(), "written-by-generation-1").ok());
  Apply(Manifests(4096));
  ReconcileVmOk("wms01");
  storage_->InjectFailure(FakeStorageOp::kCreate, Status::Unavailable("NFS server not responding"));
  bool failed_once = false;
  for (int i = 0; i < 60 && StatusOf("wms01").rollback.phase != "Watching"; ++i) {
    clock_.Advance(seconds(1));
    (void)ProbeVm("wms01");
    auto r = ReconcileVm("wms01");
    failed_once = failed_once || !r.status.ok();
  }
  EXPECT_TRUE(failed_once) << "the injected failure was never hit";
  EXPECT_EQ(StatusOf("wms01").change.phase, "Failed");
  EXPECT_EQ(StatusOf("wms01").rollback.phase, "Watching");
  ASSERT_NO_FATAL_FAILURE(RunUntil([&] { return IsReady(); }));
  EXPECT_EQ(storage_->ReadData(Top()), "written-by-generation-1");
  EXPECT_EQ(Host("hv01").Domain("wms01")->config->memoryMiB, 1024);
}

}  // namespace
}  // namespace vmk::reconciler
