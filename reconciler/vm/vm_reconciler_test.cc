#include "reconciler/store/store_wrapper.h"
#include "reconciler/vm/domain_config.h"
#include "reconciler/vm/vm_reconciler.h"

#include "reconciler/core/placement_history.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/fakes/reconcile_fixture.h"

namespace vmk::reconciler {
namespace {

using providers::DomainState;
using providers::FakeOp;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::Not;

class VmReconcilerTest : public ReconcileFixture {
 protected:
  // Two hosts, one VM, everything synced and the VM running.
  void StartOneVm() {
    Apply(HostYaml("hv01") + HostYaml("hv02") + VmYaml("wms01"));
    SyncHost("hv01");
    SyncHost("hv02");
    ReconcileVmOk("wms01");
    host_ = StatusOf("wms01").host;
    ASSERT_FALSE(host_.empty());
    other_ = host_ == "hv01" ? "hv02" : "hv01";
  }
  std::string host_, other_;
};

TEST_F(VmReconcilerTest, PlacesDefinesAndStartsANewVm) {
  StartOneVm();
  auto domain = Host(host_).Domain("wms01");
  ASSERT_TRUE(domain.has_value());
  EXPECT_TRUE(domain->owned);
  EXPECT_EQ(domain->state, DomainState::kRunning);
  ASSERT_TRUE(domain->config.has_value());
  EXPECT_EQ(domain->config->cpus, 2);
  EXPECT_EQ(domain->config->memoryMiB, 2048);
  EXPECT_EQ(domain->config->generation, 1);
  ASSERT_EQ(domain->config->disks.size(), 1u);
  EXPECT_EQ(domain->config->disks[0].source, "/images/wms01.qcow2");
  EXPECT_FALSE(Host(other_).Domain("wms01").has_value());

  VmStatus status = StatusOf("wms01");
  EXPECT_EQ(status.state, "running");
  EXPECT_EQ(status.observedGeneration, 1);
  EXPECT_EQ(ConditionStatus("wms01", "Ready"), "True/Running");
  EXPECT_EQ(ConditionStatus("wms01", "Scheduled"), "True/Scheduled");
  EXPECT_THAT(Reasons("wms01"), ElementsAre("Scheduled", "Defined", "Started"));
}

TEST_F(VmReconcilerTest, ASecondReconcileChangesNothing) {
  StartOneVm();
  Host(host_).ResetCallCounts();
  ReconcileVmOk("wms01");
  EXPECT_EQ(Host(host_).MutatingCallCount(), 0);
  EXPECT_EQ(Reasons("wms01").size(), 3u);
}

TEST_F(VmReconcilerTest, PlacementIsStoredBeforeTheDomainIsDefined) {
  Apply(HostYaml("hv01") + VmYaml("wms01"));
  SyncHost("hv01");
  Host("hv01").InjectFailure(FakeOp::kDefine, Status::Unavailable("disk full"));
  auto r = ReconcileVm("wms01");
  EXPECT_FALSE(r.status.ok());
  // The intent survived the failure: a restarted controller resumes on the same host.
  EXPECT_EQ(StatusOf("wms01").host, "hv01");
  EXPECT_FALSE(Host("hv01").Domain("wms01").has_value());
  EXPECT_THAT(Reasons("wms01"), Contains("DefineFailed"));
  ReconcileVmOk("wms01");
  EXPECT_EQ(Host("hv01").Domain("wms01")->state, DomainState::kRunning);
}

TEST_F(VmReconcilerTest, PlacementSurvivesAControllerRestart) {
  Apply(HostYaml("hv01") + HostYaml("hv02") + VmYaml("wms01"));
  SyncHost("hv01");
  SyncHost("hv02");
  ReconcileVmOk("wms01");
  const std::string placed = StatusOf("wms01").host;
  // A new controller: fresh registry and book over the same store and hosts (not even
  // restored from the store: the VM's stored status alone must keep it where it is).
  ControlLoop restarted(&store_, &factory_, &clock_, LoopOptions(&fencer_, &prober_, storage_.get()));
  ASSERT_TRUE(restarted.Run(HostKey("hv01"), CancelToken()).status.ok());
  ASSERT_TRUE(restarted.Run(HostKey("hv02"), CancelToken()).status.ok());
  ASSERT_TRUE(restarted.Run(VmKey("wms01"), CancelToken()).status.ok());
  EXPECT_EQ(StatusOf("wms01").host, placed);
  EXPECT_EQ(Host("hv01").DomainNames().size() + Host("hv02").DomainNames().size(), 1u);
}

TEST_F(VmReconcilerTest, AVmStoppedBehindOurBackIsStartedAgain) {
  StartOneVm();
  ASSERT_TRUE(Host(host_).SetRunning("wms01", false).ok());
  ReconcileVmOk("wms01");
  EXPECT_EQ(Host(host_).Domain("wms01")->state, DomainState::kRunning);
  EXPECT_EQ(StatusOf("wms01").restartCount, 1);
  EXPECT_THAT(Reasons("wms01"), Contains("Restarted"));
}

TEST_F(VmReconcilerTest, ACrashedVmIsStartedAgain) {
  StartOneVm();
  ASSERT_TRUE(Host(host_).CrashDomain("wms01").ok());
  ReconcileVmOk("wms01");
  EXPECT_EQ(Host(host_).Domain("wms01")->state, DomainState::kRunning);
  EXPECT_EQ(StatusOf("wms01").restartCount, 1);
}

TEST_F(VmReconcilerTest, ADefinitionEditedBehindOurBackIsRestored) {
  StartOneVm();
  ASSERT_TRUE(Host(host_)
                  .EditDefinition("wms01", [](providers::DomainConfig* c) { c->memoryMiB = 99; })
                  .ok());
  ReconcileVmOk("wms01");
  EXPECT_EQ(Host(host_).Domain("wms01")->config->memoryMiB, 2048);
  EXPECT_THAT(Reasons("wms01"), Contains("DefinitionRestored"));
}

TEST_F(VmReconcilerTest, ASpecChangeRedefinesAndRestartsIntoTheNewGeneration) {
  StartOneVm();
  std::string changed = VmYaml("wms01");
  changed.replace(changed.find("memoryMiB: 2048"), 15, "memoryMiB: 4096");
  Apply(HostYaml("hv01") + HostYaml("hv02") + changed);
  ReconcileVmOk("wms01");
  auto domain = Host(host_).Domain("wms01");
  EXPECT_EQ(domain->config->memoryMiB, 4096);
  EXPECT_EQ(domain->config->generation, 2);
  EXPECT_EQ(domain->live_generation, 2);
  EXPECT_EQ(domain->state, DomainState::kRunning);
  EXPECT_EQ(StatusOf("wms01").observedGeneration, 2);
  EXPECT_THAT(Reasons("wms01"), Contains("Updated"));
  EXPECT_THAT(Reasons("wms01"), Contains("RestartedForUpdate"));
  EXPECT_EQ(StatusOf("wms01").restartCount, 0) << "an update is not a failure";
}

TEST_F(VmReconcilerTest, RunningFalseShutsDownThenPowersOffAfterTheGrace) {
  StartOneVm();
  Host(host_).SetIgnoreShutdown(true);
  Apply(HostYaml("hv01") + HostYaml("hv02") + VmYaml("wms01", "  running: false\n"));
  auto r = ReconcileVm("wms01");
  ASSERT_TRUE(r.status.ok());
  ASSERT_TRUE(r.requeue_after.has_value());
  EXPECT_EQ(*r.requeue_after, std::chrono::seconds(60));
  EXPECT_EQ(Host(host_).Domain("wms01")->state, DomainState::kRunning);
  EXPECT_EQ(ConditionStatus("wms01", "Ready"), "False/Stopping");
  clock_.Advance(std::chrono::seconds(30));
  r = ReconcileVm("wms01");
  ASSERT_TRUE(r.requeue_after.has_value());
  EXPECT_EQ(*r.requeue_after, std::chrono::seconds(30));
  EXPECT_EQ(Host(host_).CallCount(FakeOp::kShutdown), 1) << "asked once, not again";
  clock_.Advance(std::chrono::seconds(30));
  ReconcileVmOk("wms01");
  EXPECT_EQ(Host(host_).Domain("wms01")->state, DomainState::kShutoff);
  EXPECT_EQ(ConditionStatus("wms01", "Ready"), "True/Stopped");
  EXPECT_THAT(Reasons("wms01"), Contains("StoppedForcefully"));
  // And it stays off: nothing restarts a VM declared stopped.
  ReconcileVmOk("wms01");
  EXPECT_EQ(Host(host_).Domain("wms01")->state, DomainState::kShutoff);
}

TEST_F(VmReconcilerTest, ADeletedVmIsStoppedAndUndefined) {
  StartOneVm();
  ASSERT_TRUE(applier_.Delete(specs::Kind::kVirtualMachine, "wms01").ok());
  ReconcileVmOk("wms01");
  EXPECT_FALSE(Host(host_).Domain("wms01").has_value());
  EXPECT_FALSE(book_.Get("wms01").has_value());
}

TEST_F(VmReconcilerTest, AForeignDomainIsNeverTouchedAndItsNameIsAvoided) {
  Apply(HostYaml("hv01") + HostYaml("hv02"));
  ASSERT_TRUE(Host("hv01").DefineForeignDomain("wms01", /*running=*/true).ok());
  SyncHost("hv01");
  SyncHost("hv02");
  Host("hv01").ResetCallCounts();
  Apply(HostYaml("hv01") + HostYaml("hv02") + VmYaml("wms01"));
  ReconcileVmOk("wms01");
  EXPECT_EQ(StatusOf("wms01").host, "hv02");
  EXPECT_EQ(Host("hv01").MutatingCallCount(), 0);
  auto foreign = Host("hv01").Domain("wms01");
  ASSERT_TRUE(foreign.has_value());
  EXPECT_FALSE(foreign->owned);
  EXPECT_EQ(foreign->state, DomainState::kRunning);
}

TEST_F(VmReconcilerTest, AVmThatFitsNowhereIsUnschedulableWithOneEvent) {
  Apply(HostYaml("hv01", "{rack: r1}") + VmYaml("wms01", "  placement: {hostSelector: {rack: r9}}\n"));
  SyncHost("hv01");
  auto r = ReconcileVm("wms01");
  ASSERT_TRUE(r.status.ok());
  EXPECT_TRUE(r.requeue_after.has_value());
  EXPECT_EQ(ConditionStatus("wms01", "Scheduled"), "False/Unschedulable");
  EXPECT_EQ(ConditionStatus("wms01", "Ready"), "False/Unschedulable");
  (void)ReconcileVm("wms01");
  EXPECT_THAT(Reasons("wms01"), ElementsAre("FailedScheduling"));
  EXPECT_TRUE(Host("hv01").DomainNames().empty());
}

// A host this controller never listed (a wrong URI, a host not racked yet) may hold a copy only
// of the VMs once placed there: those wait for it, saying so; a new VM is placed at once (it
// used to wait, silently, for as long as the bad Host existed).
TEST_F(VmReconcilerTest, AHostNeverListedHoldsUpOnlyTheVmsItMayHold) {
  Apply(HostYaml("hv01") + HostYaml("hv02") + VmYaml("wms01") + VmYaml("ce01"));
  SyncHost("hv01");
  registry_.Upsert("hv02", *specs::HostSpecFromJson(
                               store_.Get(specs::Kind::kHost, "hv02")->value().spec),
                   {});
  // Before it is listed or known down nothing is placed: it may be the host a VM prefers.
  auto early = ReconcileVm("wms01");
  ASSERT_TRUE(early.status.ok());
  EXPECT_TRUE(early.requeue_after.has_value());
  EXPECT_EQ(StatusOf("wms01").host, "");
  // It does not answer (a wrong URI, a host not racked yet): a failed attempt alone is not
  // enough (it may be coming up, and be the host a VM prefers)...
  Host("hv02").SetReachable(false);
  EXPECT_FALSE(ReconcileHost("hv02").status.ok());
  EXPECT_TRUE(ReconcileVm("wms01").requeue_after.has_value());
  EXPECT_EQ(StatusOf("wms01").host, "");
  // ... its heartbeats calling it NotReady is.
  Heartbeats("hv02", 3);
  ASSERT_EQ(health_.Get("hv02").state, HostHealthState::kNotReady);
  // ce01 was placed on hv02 once (by an earlier controller, or before a failover).
  ASSERT_TRUE(RecordPlacement(store_, "hv02", "ce01").ok());
  ReconcileVmOk("wms01");
  EXPECT_EQ(StatusOf("wms01").host, "hv01");
  EXPECT_TRUE(Host("hv01").Domain("wms01").has_value());

  auto r = ReconcileVm("ce01");
  ASSERT_TRUE(r.status.ok());
  EXPECT_TRUE(r.requeue_after.has_value());
  EXPECT_EQ(StatusOf("ce01").host, "");
  EXPECT_EQ(ConditionStatus("ce01", "Scheduled"), "False/WaitingForHost");
  (void)ReconcileVm("ce01");
  EXPECT_THAT(Reasons("ce01"), ElementsAre("WaitingForHost")) << "said once, not every retry";
  // The host says which VMs it holds up.
  (void)ReconcileHost("hv02");
  EXPECT_EQ(HostCondition("hv02", "HoldingUpVms"), "True/NeverListed");
  // Listed (and holding no copy): ce01 is placed. Its heartbeat answering comes first: while
  // the heartbeats say NotReady its reconcile does not reconnect (a hung host would hold it).
  Host("hv02").SetReachable(true);
  Heartbeats("hv02", 1);
  SyncHost("hv02");
  ReconcileVmOk("ce01");
  EXPECT_FALSE(StatusOf("ce01").host.empty());
  EXPECT_EQ(HostCondition("hv02", "HoldingUpVms"), "False/Listed");
}

// Every placement leaves its record before the placement itself.
TEST_F(VmReconcilerTest, EveryPlacementIsRecorded) {
  StartOneVm();
  EXPECT_TRUE(*MayHoldCopy(store_, host_, "wms01"));
  EXPECT_FALSE(*MayHoldCopy(store_, other_, "wms01"));
  EXPECT_FALSE(*MayHoldCopy(store_, host_, "wms0")) << "an exact name, not a prefix";
}

// A store from before placement history: a start records each VM's host, once.
TEST_F(VmReconcilerTest, PlacementsOfAnOlderStoreAreRecordedOnceAtStart) {
  specs::Object old_vm;
  old_vm.metadata.name = "old";
  old_vm.status = specs::Json{{"host", "hv02"}};
  ASSERT_TRUE(BackfillPlacementHistory(store_, {old_vm}).ok());
  EXPECT_TRUE(*MayHoldCopy(store_, "hv02", "old"));
  specs::Object later = old_vm;
  later.metadata.name = "later";
  ASSERT_TRUE(BackfillPlacementHistory(store_, {later}).ok());
  EXPECT_FALSE(*MayHoldCopy(store_, "hv02", "later")) << "done once, not at every start";
}

TEST_F(VmReconcilerTest, AnUnreachableHostKeepsItsVmsWhereTheyAre) {
  StartOneVm();
  Host(host_).SetReachable(false);
  auto hr = ReconcileHost(host_);
  EXPECT_FALSE(hr.status.ok());
  ReconcileVmOk("wms01");
  EXPECT_EQ(StatusOf("wms01").host, host_);
  EXPECT_EQ(ConditionStatus("wms01", "Ready"), "False/HostUnreachable");
  EXPECT_FALSE(Host(other_).Domain("wms01").has_value()) << "no failover without fencing";
}

// A host whose domains live and die with vmkeeperd (the embedded default) loses them with the
// controller: starting the VM again there is not a failure restart. Elsewhere a vanished
// domain is one.
TEST_F(VmReconcilerTest, ADomainLostWithAnEphemeralHostIsStartedWithoutCountingARestart) {
  StartOneVm();
  providers::HostInfo info;
  info.cpus = 16;
  info.memoryMiB = 65536;
  info.hypervisor = "TEST";
  info.ephemeral = true;
  Host(host_).SetHostInfo(info);
  SyncHost(host_);
  ASSERT_TRUE(Host(host_).RemoveDomain("wms01").ok());
  SyncHost(host_);
  ReconcileVmOk("wms01");
  EXPECT_EQ(Host(host_).Domain("wms01")->state, DomainState::kRunning);
  EXPECT_EQ(StatusOf("wms01").restartCount, 0);
  EXPECT_THAT(Reasons("wms01"), Not(Contains("Restarted")));
  auto incidents = incidents_.List(ObjectRef{specs::Kind::kVirtualMachine, "wms01"});
  ASSERT_TRUE(incidents.ok());
  EXPECT_TRUE(incidents->empty());

  info.ephemeral = false;
  Host(host_).SetHostInfo(info);
  SyncHost(host_);
  ASSERT_TRUE(Host(host_).RemoveDomain("wms01").ok());
  SyncHost(host_);
  ReconcileVmOk("wms01");
  EXPECT_EQ(StatusOf("wms01").restartCount, 1);
  EXPECT_THAT(Reasons("wms01"), Contains("Restarted"));
}

TEST_F(VmReconcilerTest, AStrayCopyOnAnotherHostIsRemoved) {
  StartOneVm();
  // An owned copy appears on the other host (say, an interrupted earlier migration).
  providers::FakeHypervisor direct(factory_.host("test:///embedded/" + other_));
  ASSERT_TRUE(direct.Connect().ok());
  ASSERT_TRUE(direct.DefineDomain(DesiredDomainConfig(
                  "wms01", *specs::VirtualMachineSpecFromJson(
                               store_.Get(specs::Kind::kVirtualMachine, "wms01")->value().spec),
                  1, StatusOf("wms01").disks)).ok());
  ASSERT_TRUE(direct.StartDomain("wms01").ok());
  SyncHost(other_);
  EXPECT_GE(queue_.Len(), 1u) << "the host sync enqueues the VM it found out of place";
  ReconcileVmOk("wms01");
  EXPECT_FALSE(Host(other_).Domain("wms01").has_value());
  EXPECT_EQ(Host(host_).Domain("wms01")->state, DomainState::kRunning);
  EXPECT_THAT(Reasons("wms01"), Contains("DuplicateRemoved"));
}

TEST_F(VmReconcilerTest, AnExistingOwnedDomainIsAdoptedNotDuplicated) {
  Apply(HostYaml("hv01") + HostYaml("hv02"));
  providers::FakeHypervisor direct(factory_.host("test:///embedded/hv02"));
  ASSERT_TRUE(direct.Connect().ok());
  specs::VirtualMachineSpec spec;
  spec.cpus = 2;
  spec.memoryMiB = 2048;
  specs::DiskSpec root;
  root.name = "root";
  root.image = "/images/wms01.qcow2";
  root.format = "qcow2";
  spec.disks.push_back(root);
  DiskRecord record{"root", "/images/wms01.qcow2", "", "", "/images/wms01.qcow2", "qcow2"};
  ASSERT_TRUE(direct.DefineDomain(DesiredDomainConfig("wms01", spec, 1, {record})).ok());
  SyncHost("hv01");
  SyncHost("hv02");
  Apply(HostYaml("hv01") + HostYaml("hv02") + VmYaml("wms01"));
  ReconcileVmOk("wms01");
  EXPECT_EQ(StatusOf("wms01").host, "hv02");
  EXPECT_FALSE(Host("hv01").Domain("wms01").has_value());
  EXPECT_EQ(Host("hv02").Domain("wms01")->state, DomainState::kRunning);
  EXPECT_THAT(Reasons("wms01"), Contains("Adopted"));
}

TEST_F(VmReconcilerTest, AFailedStartIsReportedAndRetried) {
  Apply(HostYaml("hv01") + VmYaml("wms01"));
  SyncHost("hv01");
  Host("hv01").InjectFailure(FakeOp::kStart, Status::Internal("qemu died"));
  auto r = ReconcileVm("wms01");
  EXPECT_FALSE(r.status.ok());
  EXPECT_EQ(ConditionStatus("wms01", "Ready"), "False/StartFailed");
  EXPECT_THAT(Reasons("wms01"), Contains("StartFailed"));
  ReconcileVmOk("wms01");
  EXPECT_EQ(ConditionStatus("wms01", "Ready"), "True/Running");
  EXPECT_EQ(StatusOf("wms01").restartCount, 0);
}

// Another writer (a second controller replica, once the store is shared) places the VM between
// this reconcile's read of its status and its write: the write is refused (compare-and-swap on
// the status revision), nothing is defined on the strength of the stale read, and the next pass
// decides on what the other writer wrote.
TEST_F(VmReconcilerTest, AStatusChangedMeanwhileByAnotherWriterIsNotOverwritten) {
  Apply(HostYaml("hv01") + HostYaml("hv02") + VmYaml("wms01", "  placement: {preferredHosts: [hv01]}\n"));
  SyncHost("hv01");
  SyncHost("hv02");
  struct Interloper : StoreWrapper {
    using StoreWrapper::StoreWrapper;
    StatusOr<int64_t> PutStatusIf(const StatusWrite& write) override {
      if (!interfered) {
        interfered = true;
        EXPECT_TRUE(target()->PutStatus(write.kind, write.name, specs::Json{{"host", "hv02"}}, true).ok());
      }
      return StoreWrapper::PutStatusIf(write);
    }
    bool interfered = false;
  } interloper(&store_);
  ReconcileContext ctx = ctx_;
  ctx.store = &interloper;
  VmReconciler vms(ctx);
  auto r = vms.Reconcile({"wms01", {}});
  EXPECT_EQ(r.status.code(), StatusCode::kAborted) << r.status.ToString();
  EXPECT_FALSE(Host("hv01").Domain("wms01").has_value());
  EXPECT_FALSE(Host("hv02").Domain("wms01").has_value());

  ReconcileVmOk("wms01");
  EXPECT_EQ(StatusOf("wms01").host, "hv02") << "the other writer's placement holds";
  EXPECT_FALSE(Host("hv01").Domain("wms01").has_value());
  EXPECT_EQ(Host("hv02").Domain("wms01")->state, DomainState::kRunning);
}

}  // namespace
}  // namespace vmk::reconciler
