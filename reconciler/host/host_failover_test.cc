// Host failure (flow 1): heartbeats → NotReady → fence → relocate by priority → host returns and
// is cleaned, with the fake hypervisor, the fake fencer and a fake clock. The safety invariant
// (a VM never runs on two hosts) is checked after every step.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <condition_variable>
#include <functional>
#include <thread>
#include <future>

#include "common/mutex.h"
#include "reconciler/queue/key_locks.h"
#include "tests/fakes/fake_notifier.h"
#include "tests/fakes/reconcile_fixture.h"
#include "reconciler/controller/restore.h"
#include "reconciler/store/store_wrapper.h"

namespace vmk::reconciler {
namespace {

using providers::DomainState;
using providers::FakeFenceOutcome;
using ::testing::Contains;
using ::testing::Not;

const char kFencing[] = ", fencing: {agent: fence_test, args: {ip: 10.0.0.1}}";

class HostFailoverTest : public ReconcileFixture {
 protected:
  // hv01 (preferred by every VM) and two spare hosts; three VMs of different priority.
  void StartFleet(const std::string& hv01_extra = kFencing, const std::string& spare_capacity = "") {
    fleet_ = HostYaml("hv01", "{}", hv01_extra) + HostYaml("hv02", "{}", spare_capacity) +
             HostYaml("hv03", "{}", spare_capacity) +
             VmYaml("gold", "  placement: {preferredHosts: [hv01], priority: 100}\n") +
             VmYaml("silver", "  placement: {preferredHosts: [hv01], priority: 50}\n") +
             VmYaml("bronze", "  placement: {preferredHosts: [hv01], priority: 10}\n");
    Apply(fleet_);
    for (const char* h : {"hv01", "hv02", "hv03"}) SyncHost(h);
    for (const char* vm : {"gold", "silver", "bronze"}) {
      ReconcileVmOk(vm);
      ASSERT_EQ(StatusOf(vm).host, "hv01");
    }
    Heartbeats("hv01", 1);
    CheckNoVmRunsTwice();
  }
  void ReconcileAllVms() {
    for (const char* vm : {"gold", "silver", "bronze"}) (void)ReconcileVm(vm);
  }
  void ReconcileAllVmsOf(std::initializer_list<const char*> vms) {
    for (const char* vm : vms) (void)ReconcileVm(vm);
  }
  void CheckNoVmRunsTwice() {
    for (const char* vm : {"gold", "silver", "bronze"}) {
      int running = 0;
      for (const char* h : {"hv01", "hv02", "hv03"}) {
        auto d = Host(h).Domain(vm);
        if (d && providers::IsActive(d->state)) ++running;
      }
      EXPECT_LE(running, 1) << vm << " runs on " << running << " hosts";
    }
  }
  std::string fleet_;
};

// A refused connection alone is not certainty: with no probe to say the guests are gone and no
// power device to say the host is off, the heartbeats' threshold decides. The host's own
// reconcile is not a heartbeat: it never hastens the verdict.
TEST_F(HostFailoverTest, ACrashedHostWithoutASecondSignalFailsOverAtTheHeartbeatsVerdict) {
  StartFleet();
  Host("hv01").Crash();
  Heartbeats("hv01", 1);
  ASSERT_EQ(health_.Get("hv01").state, HostHealthState::kSuspect);
  ASSERT_EQ(health_.Get("hv01").last_outcome, HeartbeatOutcome::kRefused);

  // Its reconcile sends a heartbeat of its own before a decision that could fence (refused
  // again), asks the power device (it cannot tell), and waits.
  auto r = ReconcileHost("hv01");
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_EQ(health_.Get("hv01").state, HostHealthState::kSuspect);
  EXPECT_EQ(health_.Get("hv01").consecutive_failures, 2);
  EXPECT_EQ(fencer_.total_calls(), 0);
  EXPECT_EQ(fencer_.power_status_calls("hv01"), 1) << "the power device is asked when refused";

  Heartbeats("hv01", 1);
  SyncHost("hv01");  // its beat spans the threshold: NotReady, and no probe says otherwise
  ASSERT_EQ(health_.Get("hv01").state, HostHealthState::kNotReady);
  EXPECT_EQ(fencer_.calls("hv01"), 1);
  EXPECT_EQ(HostStatusOf("hv01").failover.phase, "Relocated");
  for (const char* vm : {"gold", "silver", "bronze"}) EXPECT_NE(StatusOf(vm).host, "hv01") << vm;
  ReconcileAllVms();
  CheckNoVmRunsTwice();
}

// --- Evidence from the guests (docs/failure-detection.md) ------------------------------------

constexpr char kProbe[] =
    "  health: {tcp: {port: 80}, periodSeconds: 1, timeoutSeconds: 1, failureThreshold: 2, "
    "startupGraceSeconds: 0}\n";

class HostDetectionTest : public HostFailoverTest {
 protected:
  // hv01 (with fencing) runs gold and silver, both probed and answering; hv02 is the spare.
  void StartProbedFleet(const std::string& hv01_extra = kFencing,
                        const std::string& silver_health = kProbe) {
    Apply(HostYaml("hv01", "{}", hv01_extra) + HostYaml("hv02") +
          VmYaml("gold", std::string(kProbe) + "  placement: {preferredHosts: [hv01]}\n") +
          VmYaml("silver", silver_health + "  placement: {preferredHosts: [hv01]}\n"));
    for (const char* h : {"hv01", "hv02"}) SyncHost(h);
    // Fencing powers the host off: its guests die with it.
    fencer_.SetOnFenced([this](const providers::FenceRequest& r) { Host(r.host).Crash(); });
    for (const char* vm : {"gold", "silver"}) {
      prober_.SetResult(vm, providers::ProbeResult{true, "TCP connect ok"});
      ReconcileVmOk(vm);  // starts it and its probe loop
      (void)ProbeVm(vm);
      ReconcileVmOk(vm);
      ASSERT_EQ(StatusOf(vm).host, "hv01");
      ASSERT_EQ(ConditionStatus(vm, "Ready"), "True/Running") << vm;
    }
    Heartbeats("hv01", 1);
  }
  // One heartbeat of hv01 and a probe of each of its VMs, one interval, then the host's look.
  void Interval() {
    (void)heartbeats_.Reconcile({"hv01", {}});
    for (const char* vm : {"gold", "silver"}) (void)ProbeVm(vm);
    clock_.Advance(std::chrono::seconds(1));
    (void)ReconcileHost("hv01");
  }
  bool AnyOnHv01() {
    for (const char* vm : {"gold", "silver"}) {
      if (StatusOf(vm).host == "hv01") return true;
    }
    return false;
  }
};

// libvirtd down or hung, guests serving: ManagementUnreachable, never fenced, the VMs stay and
// stay Ready; once one of them fails its probe, the host is fenced and both move.
TEST_F(HostDetectionTest, AManagementOnlyOutageIsNotFencedUntilAGuestStopsAnswering) {
  StartProbedFleet();
  providers::FakeNotifier notifier;
  recorder_.SetNotifier(&notifier);
  Host("hv01").SetReachable(false);  // the daemon refuses; the domains keep running
  for (int i = 0; i < 6; ++i) Interval();
  EXPECT_EQ(health_.Get("hv01").state, HostHealthState::kNotReady);
  EXPECT_EQ(fencer_.total_calls(), 0);
  EXPECT_EQ(HostCondition("hv01", "ManagementUnreachable"), "True/GuestsAnswer");
  EXPECT_EQ(HostCondition("hv01", "Ready"), "False/ManagementUnreachable");
  EXPECT_EQ(HostStatusOf("hv01").signals.dataPlane, "2/2-answer");
  EXPECT_EQ(HostStatusOf("hv01").signals.management, "refused");
  EXPECT_THAT(HostReasons("hv01"), Contains("ManagementUnreachable"));
  auto reasons = HostReasons("hv01");
  EXPECT_EQ(std::count(reasons.begin(), reasons.end(), "ManagementUnreachable"), 1)
      << "said once";
  auto sent = notifier.notifications();
  ASSERT_EQ(sent.size(), 1u) << "the admins are told, once";
  EXPECT_EQ(sent[0].event, "ManagementUnreachable");
  EXPECT_EQ(sent[0].kind, "Host");
  EXPECT_EQ(sent[0].name, "hv01");
  recorder_.SetNotifier(nullptr);
  for (const char* vm : {"gold", "silver"}) {
    ReconcileVmOk(vm);
    EXPECT_EQ(StatusOf(vm).host, "hv01");
    EXPECT_EQ(ConditionStatus(vm, "Ready"), "True/ManagementUnreachable") << vm;
    EXPECT_TRUE(Host("hv01").Domain(vm)->state == DomainState::kRunning);
  }
  EXPECT_TRUE(incidents_.OpenIncident(specs::Kind::kVirtualMachine, "gold") == std::nullopt)
      << "serving VMs are not down";

  // silver's service stops answering: only a failover can restart it now.
  prober_.SetResult("silver", providers::ProbeResult{false, "connection refused"});
  for (int i = 0; i < 4 && AnyOnHv01(); ++i) Interval();
  EXPECT_EQ(fencer_.calls("hv01"), 1);
  EXPECT_FALSE(AnyOnHv01());
  EXPECT_EQ(HostCondition("hv01", "ManagementUnreachable"), "False/FailedOver");
  ReconcileAllVmsOf({"gold", "silver"});
  CheckNoVmRunsTwice();
}

// A killed host: the daemon refuses and every probed guest fails: fenced at the first look,
// without waiting out the heartbeats' threshold.
TEST_F(HostDetectionTest, AKilledHostIsFailedOverOnTheFastPathWhenItsGuestsAgree) {
  StartProbedFleet();
  Host("hv01").Crash();
  for (const char* vm : {"gold", "silver"}) {
    prober_.SetResult(vm, providers::ProbeResult{false, "connection refused"});
  }
  (void)heartbeats_.Reconcile({"hv01", {}});  // refused: Suspect; the probes are asked for now
  ASSERT_EQ(health_.Get("hv01").state, HostHealthState::kSuspect);
  for (const char* vm : {"gold", "silver"}) (void)ProbeVm(vm);  // no guest answers
  SyncHost("hv01");
  EXPECT_EQ(health_.Get("hv01").state, HostHealthState::kSuspect) << "before the threshold";
  EXPECT_EQ(fencer_.calls("hv01"), 1);
  EXPECT_EQ(fencer_.power_status_calls("hv01"), 0) << "the guests said enough";
  EXPECT_FALSE(AnyOnHv01());
  EXPECT_EQ(HostStatusOf("hv01").signals.verdict, "Dead");
  ReconcileAllVmsOf({"gold", "silver"});
  CheckNoVmRunsTwice();
}

// A failover whose fence failed is decided again before the next attempt: guests that answer
// by then call it off.
TEST_F(HostDetectionTest, AFailoverNotFencedYetIsCalledOffWhenTheGuestsAnswer) {
  StartProbedFleet();
  fencer_.SetDefaultOutcome("hv01", FakeFenceOutcome::Fail());
  Host("hv01").SetReachable(false);
  for (const char* vm : {"gold", "silver"}) {
    prober_.SetResult(vm, providers::ProbeResult{false, "timed out"});
  }
  for (int i = 0; i < 4 && fencer_.calls("hv01") == 0; ++i) Interval();
  ASSERT_EQ(fencer_.calls("hv01"), 1);
  ASSERT_EQ(HostStatusOf("hv01").failover.phase, "Fencing");
  // The guests were only slow: they answer again.
  for (const char* vm : {"gold", "silver"}) {
    prober_.SetResult(vm, providers::ProbeResult{true, "TCP connect ok"});
  }
  Interval();
  EXPECT_EQ(HostStatusOf("hv01").failover.phase, "");
  EXPECT_EQ(HostCondition("hv01", "Fenced"), "False/FailoverCancelled");
  EXPECT_THAT(HostReasons("hv01"), Contains("FailoverCancelled"));
  EXPECT_EQ(fencer_.calls("hv01"), 1) << "no second attempt";
  EXPECT_EQ(StatusOf("gold").host, "hv01");
  EXPECT_FALSE(incidents_.OpenIncident(specs::Kind::kVirtualMachine, "gold").has_value());
  Interval();
  EXPECT_EQ(HostCondition("hv01", "ManagementUnreachable"), "True/GuestsAnswer");
}

// The admin's choice: Pacemaker's rule for the host, or for one VM on it.
TEST_F(HostDetectionTest, ManagementOutageFenceFencesAtTheHeartbeatsVerdictWhateverTheGuestsSay) {
  StartProbedFleet(std::string(kFencing) + ", managementOutage: Fence");
  Host("hv01").SetReachable(false);
  for (int i = 0; i < 4 && fencer_.calls("hv01") == 0; ++i) Interval();
  EXPECT_EQ(fencer_.calls("hv01"), 1);
  EXPECT_EQ(health_.Get("hv01").state, HostHealthState::kNotReady) << "not before the verdict";
  EXPECT_FALSE(AnyOnHv01());
}

TEST_F(HostDetectionTest, AVmAskingForFenceOnManagementLossFencesItsHost) {
  StartProbedFleet(kFencing,
                   "  health: {tcp: {port: 80}, periodSeconds: 1, timeoutSeconds: 1, "
                   "failureThreshold: 2, startupGraceSeconds: 0, managementOutage: Fence}\n");
  Host("hv01").SetReachable(false);
  for (int i = 0; i < 4 && fencer_.calls("hv01") == 0; ++i) Interval();
  EXPECT_EQ(fencer_.calls("hv01"), 1);
  EXPECT_FALSE(AnyOnHv01());
}

// The management plane comes back: ManagementReachable, nothing moved, Ready again.
TEST_F(HostDetectionTest, TheManagementPlaneComingBackEndsTheOutageWithNothingMoved) {
  StartProbedFleet();
  Host("hv01").SetReachable(false);
  for (int i = 0; i < 4; ++i) Interval();
  ASSERT_EQ(HostCondition("hv01", "ManagementUnreachable"), "True/GuestsAnswer");
  Host("hv01").SetReachable(true);
  Interval();
  EXPECT_EQ(HostCondition("hv01", "Ready"), "True/Connected");
  EXPECT_EQ(HostCondition("hv01", "ManagementUnreachable"), "False/ManagementAnswers");
  EXPECT_THAT(HostReasons("hv01"), Contains("ManagementReachable"));
  EXPECT_TRUE(HostStatusOf("hv01").signals.empty());
  EXPECT_EQ(fencer_.total_calls(), 0);
  for (const char* vm : {"gold", "silver"}) EXPECT_EQ(StatusOf(vm).host, "hv01");
}

// The fast path: a connection refused at once and a power device that says off agree. The
// host is failed over at its first failed heartbeat, not at the threshold.
TEST_F(HostFailoverTest, ACrashedHostWhosePowerDeviceSaysOffFailsOverAtItsFirstRefusedHeartbeat) {
  StartFleet();
  fencer_.SetPowerState("hv01", providers::PowerState::kOff);
  Host("hv01").Crash();
  Heartbeats("hv01", 1);
  ASSERT_EQ(health_.Get("hv01").state, HostHealthState::kSuspect);

  SyncHost("hv01");
  EXPECT_EQ(fencer_.power_status_calls("hv01"), 1);
  EXPECT_EQ(fencer_.calls("hv01"), 1) << "fenced all the same: off is made sure of";
  EXPECT_EQ(HostStatusOf("hv01").failover.phase, "Relocated");
  EXPECT_EQ(HostStatusOf("hv01").signals.verdict, "Dead");
  for (const char* vm : {"gold", "silver", "bronze"}) EXPECT_NE(StatusOf(vm).host, "hv01") << vm;
  auto events = store_.ListEvents(ObjectRef{specs::Kind::kHost, "hv01"}, 0, 1000);
  ASSERT_TRUE(events.ok());
  bool said = false;
  for (const auto& e : *events) {
    said = said || (e.reason == "HostFailed" &&
                    e.message.find("power device says off") != std::string::npos);
  }
  EXPECT_TRUE(said) << "HostFailed names the evidence";
  ReconcileAllVms();
  CheckNoVmRunsTwice();
}

// Waits (real time, for threads of the test) until `condition` holds, at most 10 s.
bool WaitForCondition(const std::function<bool()>& condition) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

// A store whose first PutStatus of one VM blocks until released: holds one reconcile between
// its read of the VM's status and its write of it. Later writes (another thread's) pass.
class GatedStore : public StoreWrapper {
 public:
  explicit GatedStore(Store* inner) : StoreWrapper(inner) {}
  void Arm(const std::string& vm) {
    MutexLock l(&mu_);
    gated_ = vm;
  }
  bool Blocked() {
    MutexLock l(&mu_);
    return blocked_;
  }
  void Release() {
    {
      MutexLock l(&mu_);
      gated_.clear();
    }
    cv_.notify_all();
  }

  StatusOr<int64_t> PutStatusIf(const StatusWrite& write) override {
    {
      MutexLock l(&mu_);
      if (write.kind == specs::Kind::kVirtualMachine && write.name == gated_ && !taken_) {
        taken_ = true;
        blocked_ = true;
        while (gated_ == write.name) l.Wait(cv_);
        blocked_ = false;
      }
    }
    return StoreWrapper::PutStatusIf(write);
  }

 private:
  Mutex mu_;
  std::condition_variable cv_;
  std::string gated_ GUARDED_BY(mu_);
  bool blocked_ GUARDED_BY(mu_) = false;
  bool taken_ GUARDED_BY(mu_) = false;  // the one blocked write happened
};

// A VM's reconcile that read its status (still on the failed host) and has not written it yet,
// while the host's failover re-places the VM: the failover waits for it, then decides on the
// status it wrote. Without the VM's lock, the failover placed the VM elsewhere first and the
// VM's reconcile then wrote the failed host back over the new placement.
TEST_F(HostFailoverTest, AVmReconcileRacingItsHostsFailoverNeverWritesTheOldHostBack) {
  StartFleet();
  Host("hv01").Crash();
  Heartbeats("hv01", 3);
  ASSERT_EQ(health_.Get("hv01").state, HostHealthState::kNotReady);

  GatedStore gated(&store_);
  KeyLocks locks;
  ReconcileContext ctx = ctx_;
  ctx.store = &gated;
  ctx.vm_locks = &locks;
  VmReconciler vms(ctx);
  HostReconciler hosts(ctx);

  gated.Arm("gold");
  // Declared before the release below, so destroyed after it: a future's destructor waits for
  // its thread, which must not be left blocked at the gate.
  std::future<ReconcileResult> vm_reconcile;
  std::future<ReconcileResult> failover;
  // Released on every way out, so that a failed assertion never leaves a thread blocked.
  struct ReleaseOnExit {
    GatedStore* store;
    ~ReleaseOnExit() { store->Release(); }
  } release_on_exit{&gated};
  vm_reconcile = std::async(std::launch::async, [&] { return vms.Reconcile({"gold", {}}); });
  ASSERT_TRUE(WaitForCondition([&] { return gated.Blocked(); }))
      << "the VM reconcile never got to writing its status";
  failover = std::async(std::launch::async, [&] { return hosts.Reconcile({"hv01", {}}); });
  // Either the failover waits for the VM's lock (as it must), or it finished without waiting.
  ASSERT_TRUE(WaitForCondition([&] {
    return locks.Waiters("gold") > 0 ||
           failover.wait_for(std::chrono::milliseconds(0)) == std::future_status::ready;
  }));
  gated.Release();
  ASSERT_TRUE(vm_reconcile.get().status.ok());
  auto r = failover.get();
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();

  EXPECT_EQ(HostStatusOf("hv01").failover.phase, "Relocated");
  const std::string placed = StatusOf("gold").host;
  EXPECT_NE(placed, "hv01") << "the failed host was written back over the new placement";
  auto booked = book_.Get("gold");
  ASSERT_TRUE(booked.has_value());
  EXPECT_EQ(booked->host, placed);
}

TEST_F(HostFailoverTest, ACrashedHostIsFencedAndItsVmsRunElsewhere) {
  StartFleet();
  Host("hv01").Crash();
  Heartbeats("hv01", 2);
  EXPECT_EQ(health_.Get("hv01").state, HostHealthState::kSuspect);
  EXPECT_EQ(fencer_.total_calls(), 0) << "a suspect host is not failed over";
  Heartbeats("hv01", 1);
  EXPECT_EQ(health_.Get("hv01").state, HostHealthState::kNotReady);
  EXPECT_THAT(HostReasons("hv01"), Contains("HostSuspect"));
  EXPECT_THAT(HostReasons("hv01"), Contains("HostNotReady"));

  auto r = ReconcileHost("hv01");
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_EQ(fencer_.calls("hv01"), 1);
  EXPECT_EQ(fencer_.requests()[0].agent, "fence_test");
  EXPECT_EQ(HostStatusOf("hv01").failover.phase, "Relocated");
  EXPECT_EQ(HostCondition("hv01", "Fenced"), "True/FenceAgent");
  EXPECT_EQ(HostCondition("hv01", "Ready"), "False/NotReady");
  EXPECT_THAT(HostReasons("hv01"), Contains("HostFailed"));
  EXPECT_THAT(HostReasons("hv01"), Contains("HostFenced"));
  for (const char* vm : {"gold", "silver", "bronze"}) {
    EXPECT_NE(StatusOf(vm).host, "hv01") << vm;
    EXPECT_EQ(ConditionStatus(vm, "Scheduled"), "True/FailedOver") << vm;
  }
  ReconcileAllVms();
  CheckNoVmRunsTwice();
  for (const char* vm : {"gold", "silver", "bronze"}) {
    auto d = Host(StatusOf(vm).host).Domain(vm);
    ASSERT_TRUE(d.has_value()) << vm;
    EXPECT_EQ(d->state, DomainState::kRunning) << vm;
    EXPECT_EQ(ConditionStatus(vm, "Ready"), "True/Running") << vm;
    EXPECT_THAT(Reasons(vm), Contains("Recovered")) << vm;
  }
  // One incident per VM, with the last good heartbeat as its start, now closed.
  auto incidents = incidents_.List(ObjectRef{specs::Kind::kVirtualMachine, "gold"});
  ASSERT_TRUE(incidents.ok());
  ASSERT_EQ(incidents->size(), 1u);
  EXPECT_EQ((*incidents)[0].type, "HostFailure");
  EXPECT_FALSE((*incidents)[0].open());
  EXPECT_EQ((*incidents)[0].occurred, FormatRfc3339(health_.Get("hv01").last_good));
  EXPECT_LT((*incidents)[0].occurred, (*incidents)[0].detected);

  // The host returns (its heartbeat answers): its stale copies go before it is used again.
  Host("hv01").SetReachable(true);
  ASSERT_FALSE(Host("hv01").DomainNames().empty()) << "the crashed host kept its definitions";
  Heartbeats("hv01", 1);
  SyncHost("hv01");
  EXPECT_TRUE(Host("hv01").DomainNames().empty());
  EXPECT_EQ(HostStatusOf("hv01").failover.phase, "");
  EXPECT_EQ(HostCondition("hv01", "Fenced"), "False/Recovered");
  EXPECT_EQ(HostCondition("hv01", "Ready"), "True/Connected");
  EXPECT_THAT(HostReasons("hv01"), Contains("HostRecovered"));
  EXPECT_THAT(Reasons("gold"), Contains("StaleCopyRemoved"));
  ReconcileAllVms();
  CheckNoVmRunsTwice();
}

// A rack losing power fails many hosts at once: no more fence agents run at once than the
// controller allows; a host that finds no free slot says so, holds no worker, and is fenced once
// one is free.
TEST_F(HostFailoverTest, FenceAgentsRunAtMostSoManyAtOnceAndTheOthersWaitTheirTurn) {
  StartFleet();
  ASSERT_EQ(loop_.fence_slots().limit(), 2);
  FenceSlots::Slot busy1 = loop_.fence_slots().TryAcquire();
  FenceSlots::Slot busy2 = loop_.fence_slots().TryAcquire();
  ASSERT_TRUE(busy1 && busy2);
  EXPECT_FALSE(loop_.fence_slots().TryAcquire()) << "the limit holds";
  Host("hv01").Crash();
  Heartbeats("hv01", 3);
  auto r = ReconcileHost("hv01");
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  ASSERT_TRUE(r.requeue_after.has_value());
  EXPECT_LE(*r.requeue_after, std::chrono::seconds(1));
  EXPECT_EQ(fencer_.total_calls(), 0);
  EXPECT_EQ(HostCondition("hv01", "Fenced"), "False/Queued");
  (void)ReconcileHost("hv01");
  const std::vector<std::string> reasons = HostReasons("hv01");
  EXPECT_EQ(std::count(reasons.begin(), reasons.end(), "FencingQueued"), 1) << "said once";
  for (const char* vm : {"gold", "silver", "bronze"}) EXPECT_EQ(StatusOf(vm).host, "hv01");
  busy1 = FenceSlots::Slot();  // one agent finished
  r = ReconcileHost("hv01");
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_EQ(fencer_.calls("hv01"), 1);
  EXPECT_EQ(HostCondition("hv01", "Fenced"), "True/FenceAgent");
  EXPECT_EQ(loop_.fence_slots().in_use(), 1) << "its slot is given back after the fence";
  for (const char* vm : {"gold", "silver", "bronze"}) EXPECT_NE(StatusOf(vm).host, "hv01");
}

// Whatever fencer reports the host's inline secret, the event, the condition and the error
// show it masked.
TEST_F(HostFailoverTest, AFencersMessageShowsNoInlineSecret) {
  StartFleet(", fencing: {agent: fence_test, args: {ip: 10.0.0.1, api_token: tok-fo-31}}");
  fencer_.SetDefaultOutcome(
      "hv01", FakeFenceOutcome::Fail(Status::Unavailable("agent said: api_token=tok-fo-31")));
  Host("hv01").SetReachable(false);
  Heartbeats("hv01", 3);
  auto r = ReconcileHost("hv01");
  EXPECT_FALSE(r.status.ok());
  EXPECT_THAT(r.status.message(), ::testing::HasSubstr("api_token=***"));
  EXPECT_THAT(r.status.message(), Not(::testing::HasSubstr("tok-fo-31")));
  const HostStatus status = HostStatusOf("hv01");
  const auto* fenced = specs::FindCondition(status.conditions, "Fenced");
  ASSERT_NE(fenced, nullptr);
  EXPECT_EQ(fenced->message, "agent said: api_token=***");
  auto events = store_.ListEvents(ObjectRef{specs::Kind::kHost, "hv01"}, 0, 1000);
  ASSERT_TRUE(events.ok());
  bool reported = false;
  for (const auto& e : *events) {
    EXPECT_THAT(e.message, Not(::testing::HasSubstr("tok-fo-31"))) << e.reason;
    reported = reported || e.reason == "FencingFailed";
  }
  EXPECT_TRUE(reported);
}

TEST_F(HostFailoverTest, WhenFencingFailsNothingFailsOverAndItIsRetried) {
  StartFleet();
  fencer_.SetDefaultOutcome("hv01", FakeFenceOutcome::Fail());
  Host("hv01").SetReachable(false);  // partitioned: its guests may still run
  Heartbeats("hv01", 3);
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto r = ReconcileHost("hv01");
    EXPECT_FALSE(r.status.ok()) << "a failed fencing is an error, retried with backoff";
  }
  EXPECT_EQ(fencer_.calls("hv01"), 2);
  EXPECT_EQ(HostCondition("hv01", "Fenced"), "False/FencingFailed");
  EXPECT_EQ(HostStatusOf("hv01").failover.phase, "Fencing");
  auto reasons = HostReasons("hv01");
  EXPECT_EQ(std::count(reasons.begin(), reasons.end(), "FencingFailed"), 1)
      << "one event per distinct failure, not one per retry";
  EXPECT_THAT(metrics_.ExpositionText(),
              ::testing::HasSubstr("vmkeeper_fencing_total{host=\"hv01\",result=\"failure\"} 2"));
  ReconcileAllVms();
  for (const char* vm : {"gold", "silver", "bronze"}) {
    EXPECT_EQ(StatusOf(vm).host, "hv01") << vm << " moved without fencing";
    EXPECT_FALSE(Host("hv02").Domain(vm).has_value());
    EXPECT_FALSE(Host("hv03").Domain(vm).has_value());
    EXPECT_EQ(ConditionStatus(vm, "Ready"), "False/HostUnreachable");
  }
  // The agent works again: the host is fenced (power off) and the VMs move.
  fencer_.SetDefaultOutcome("hv01", FakeFenceOutcome::Ok());
  fencer_.SetOnFenced([this](const providers::FenceRequest&) { Host("hv01").Crash(); });
  ASSERT_TRUE(ReconcileHost("hv01").status.ok());
  ReconcileAllVms();
  CheckNoVmRunsTwice();
  for (const char* vm : {"gold", "silver", "bronze"}) {
    EXPECT_NE(StatusOf(vm).host, "hv01");
    EXPECT_EQ(ConditionStatus(vm, "Ready"), "True/Running") << vm;
  }
}

TEST_F(HostFailoverTest, WithoutFencingVmsStayUnlessAcknowledgedUnsafe) {
  StartFleet(/*hv01_extra=*/"");
  Host("hv01").Crash();
  Heartbeats("hv01", 3);
  ASSERT_TRUE(ReconcileHost("hv01").status.ok());
  EXPECT_EQ(HostCondition("hv01", "Fenced"), "False/NoFencing");
  EXPECT_THAT(HostReasons("hv01"), Contains("FailoverBlocked"));
  ReconcileAllVms();
  for (const char* vm : {"gold", "silver", "bronze"}) EXPECT_EQ(StatusOf(vm).host, "hv01");

  Apply(HostYaml("hv01", "{}", ", acknowledgeUnsafe: true") + fleet_.substr(fleet_.find("---\n") + 4));
  ASSERT_TRUE(ReconcileHost("hv01").status.ok());
  EXPECT_EQ(HostCondition("hv01", "Fenced"), "True/AcknowledgedUnsafe");
  EXPECT_THAT(HostReasons("hv01"), Contains("FailoverWithoutFencing"));
  EXPECT_EQ(fencer_.total_calls(), 0);
  ReconcileAllVms();
  for (const char* vm : {"gold", "silver", "bronze"}) EXPECT_NE(StatusOf(vm).host, "hv01");
}

TEST_F(HostFailoverTest, WhenCapacityIsShortTheLowestPriorityIsLeftUnplaced) {
  StartFleet(kFencing, ", capacity: {cpus: 2, memoryMiB: 2048}");
  Host("hv01").Crash();
  Heartbeats("hv01", 3);
  ASSERT_TRUE(ReconcileHost("hv01").status.ok());
  EXPECT_NE(StatusOf("gold").host, "");
  EXPECT_NE(StatusOf("silver").host, "");
  EXPECT_EQ(StatusOf("bronze").host, "");
  EXPECT_EQ(ConditionStatus("bronze", "Scheduled"), "False/Unschedulable");
  EXPECT_THAT(Reasons("bronze"), Contains("FailedScheduling"));
  ReconcileAllVms();
  CheckNoVmRunsTwice();
  EXPECT_EQ(StatusOf("bronze").host, "") << "not put back on the fenced host";
  EXPECT_TRUE(Host("hv01").DomainNames().size() == 3u) << "nothing new defined on hv01";
}

TEST_F(HostFailoverTest, ARestartedControllerResumesAFailoverFromTheStore) {
  StartFleet();
  fencer_.SetDefaultOutcome("hv01", FakeFenceOutcome::Fail());
  Host("hv01").Crash();
  Heartbeats("hv01", 3);
  EXPECT_FALSE(ReconcileHost("hv01").status.ok());
  ASSERT_EQ(HostStatusOf("hv01").failover.phase, "Fencing");

  // A new controller over the same store and hosts, with fresh memory, wired as the daemon
  // wires it.
  providers::FakeFencer fencer(&clock_);
  ControlLoop restarted(&store_, &factory_, &clock_, LoopOptions(&fencer, &prober_, storage_.get()));
  ASSERT_TRUE(restarted.Restore().ok());
  auto run = [&](const std::string& key) { return restarted.Run(key, CancelToken()); };
  for (const char* h : {"hv02", "hv03"}) ASSERT_TRUE(run(HostKey(h)).status.ok());
  EXPECT_FALSE(run(HostKey("hv01")).status.ok()) << "unreachable: heartbeats must decide first";
  for (int i = 0; i < 3; ++i) {
    (void)run(HeartbeatKey("hv01"));
    clock_.Advance(std::chrono::seconds(1));
  }
  ASSERT_TRUE(run(HostKey("hv01")).status.ok());
  EXPECT_EQ(fencer.calls("hv01"), 1) << "fencing is repeated (it is idempotent): its result was unknown";
  for (const char* vm : {"gold", "silver", "bronze"}) ASSERT_TRUE(run(VmKey(vm)).status.ok());
  CheckNoVmRunsTwice();
  for (const char* vm : {"gold", "silver", "bronze"}) {
    EXPECT_NE(StatusOf(vm).host, "hv01");
    EXPECT_EQ(ConditionStatus(vm, "Ready"), "True/Running");
  }
  auto open = restarted.incidents().OpenIncident(specs::Kind::kVirtualMachine, "gold");
  EXPECT_FALSE(open.has_value()) << "the incident opened before the restart was closed after it";
}

// A failover whose reconcile is cancelled (shutdown, lost leadership) stops between its steps:
// no fence is started, nothing is placed, and the next pass resumes from the record.
TEST_F(HostFailoverTest, ACancelledFailoverStartsNoFenceAndResumesLater) {
  StartFleet();
  Host("hv01").Crash();
  Heartbeats("hv01", 3);
  CancelSource cancel;
  cancel.Cancel("the controller is stopping");
  auto r = hosts_.Reconcile({"hv01", cancel.Token()});
  EXPECT_EQ(r.status.code(), StatusCode::kAborted) << r.status.ToString();
  EXPECT_EQ(fencer_.total_calls(), 0);
  EXPECT_EQ(HostStatusOf("hv01").failover.phase, "Fencing") << "the intent is recorded";
  for (const char* vm : {"gold", "silver", "bronze"}) EXPECT_EQ(StatusOf(vm).host, "hv01");

  ASSERT_TRUE(ReconcileHost("hv01").status.ok());
  EXPECT_EQ(fencer_.total_calls(), 1);
  EXPECT_EQ(HostStatusOf("hv01").failover.phase, "Relocated");
  ReconcileAllVms();
  CheckNoVmRunsTwice();
  for (const char* vm : {"gold", "silver", "bronze"}) EXPECT_NE(StatusOf(vm).host, "hv01");
}

// The relocation checks its token between VMs: cancelled after the first placement, the others
// stay where the record says and the failover stays Relocating; the first VM's placement is
// durable and it starts.
TEST_F(HostFailoverTest, ACancelledRelocationKeepsWhatItPlacedAndFinishesLater) {
  StartFleet();
  Host("hv01").Crash();
  Heartbeats("hv01", 3);
  CancelSource cancel;
  // Cancelled by the first placement's status write (the highest priority VM goes first).
  struct CancelOnFirstPlacement : StoreWrapper {
    CancelOnFirstPlacement(Store* target, CancelSource* cancel)
        : StoreWrapper(target), cancel(cancel) {}
    StatusOr<int64_t> PutStatusIf(const StatusWrite& write) override {
      auto written = StoreWrapper::PutStatusIf(write);
      if (write.kind == specs::Kind::kVirtualMachine) cancel->Cancel("lost leadership");
      return written;
    }
    CancelSource* cancel;
  } store(&store_, &cancel);
  ReconcileContext ctx = ctx_;
  ctx.store = &store;
  HostReconciler hosts(ctx);
  auto r = hosts.Reconcile({"hv01", cancel.Token()});
  EXPECT_EQ(r.status.code(), StatusCode::kAborted) << r.status.ToString();
  EXPECT_EQ(HostStatusOf("hv01").failover.phase, "Relocating");
  EXPECT_NE(StatusOf("gold").host, "hv01") << "placed before the cancellation";
  EXPECT_EQ(StatusOf("silver").host, "hv01");
  EXPECT_EQ(StatusOf("bronze").host, "hv01");

  ASSERT_TRUE(ReconcileHost("hv01").status.ok());
  EXPECT_EQ(HostStatusOf("hv01").failover.phase, "Relocated");
  EXPECT_EQ(fencer_.total_calls(), 1) << "fenced once: the record said so";
  ReconcileAllVms();
  CheckNoVmRunsTwice();
  for (const char* vm : {"gold", "silver", "bronze"}) EXPECT_NE(StatusOf(vm).host, "hv01");
}

}  // namespace
}  // namespace vmk::reconciler
