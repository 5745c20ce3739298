// VM failure (flow 2): health probes and lifecycle events restart a VM within spec.restart's
// limit, with backoff between restarts, then give up; every failure is an incident.
#include "reconciler/health/vm_health.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/fakes/reconcile_fixture.h"

namespace vmk::reconciler {
namespace {

using providers::DomainState;
using providers::FakeOp;
using providers::ProbeResult;
using ::testing::Contains;
using std::chrono::seconds;

const char kHealth[] =
    "  health: {address: 127.0.0.1, http: {port: 8080, path: /ok}, periodSeconds: 1,\n"
    "           failureThreshold: 2, startupGraceSeconds: 0}\n"
    "  restart: {limit: 2, windowSeconds: 600}\n";

class VmHealthTest : public ReconcileFixture {
 protected:
  void Start() {
    Apply(HostYaml("hv01") + VmYaml("wms01", kHealth));
    SyncHost("hv01");
    ReconcileVmOk("wms01");
  }
  // Runs probes until one actually happened (advancing the clock to when it is due).
  void ProbeOnce() {
    for (int i = 0; i < 3; ++i) {
      int before = prober_.TotalCalls();
      auto r = ProbeVm("wms01");
      ASSERT_TRUE(r.status.ok()) << r.status.ToString();
      if (prober_.TotalCalls() > before) return;
      ASSERT_TRUE(r.requeue_after.has_value());
      clock_.Advance(*r.requeue_after);
    }
    FAIL() << "no probe became due";
  }
  void Healthy() { prober_.SetHealthy("127.0.0.1", 8080); }
  void Unhealthy() { prober_.SetUnhealthy("127.0.0.1", 8080, "HTTP 503"); }
};

TEST_F(VmHealthTest, ReadyMeansTheServiceAnswersNotOnlyThatTheDomainRuns) {
  Unhealthy();
  Start();
  EXPECT_EQ(Host("hv01").Domain("wms01")->state, DomainState::kRunning);
  EXPECT_EQ(ConditionStatus("wms01", "Ready"), "False/Starting");
  Healthy();
  ProbeOnce();
  ReconcileVmOk("wms01");
  EXPECT_EQ(ConditionStatus("wms01", "Ready"), "True/Running");
  auto spec = prober_.LastSpec();
  ASSERT_TRUE(spec.has_value());
  EXPECT_EQ(spec->port, 8080);
  EXPECT_EQ(spec->path, "/ok");
  EXPECT_EQ(spec->type, providers::ProbeSpec::Type::kHttp);
}

// The VM's first start happens before its probe tracker exists (trackers are made when it is
// first seen running): the startup grace still applies, counted from then.
TEST_F(VmHealthTest, AVmsFirstStartGetsItsStartupGrace) {
  Unhealthy();
  Apply(HostYaml("hv01") +
        VmYaml("wms01",
               "  health: {address: 127.0.0.1, http: {port: 8080, path: /ok}, periodSeconds: 1,\n"
               "           failureThreshold: 2, startupGraceSeconds: 30}\n"));
  SyncHost("hv01");
  ReconcileVmOk("wms01");
  for (int i = 0; i < 5; ++i) ProbeOnce();  // 5 failures within the 30 s grace
  ReconcileVmOk("wms01");
  EXPECT_EQ(ConditionStatus("wms01", "Ready"), "False/Starting");
  EXPECT_EQ(StatusOf("wms01").restartCount, 0) << "restarted during its startup grace";

  clock_.Advance(seconds(30));
  ProbeOnce();
  ProbeOnce();
  ReconcileVmOk("wms01");
  EXPECT_EQ(StatusOf("wms01").restartCount, 1) << "not restarted once its grace was over";
}

TEST(ProbeSpecOfTest, EachProbeKindMapsToItsProberType) {
  specs::HealthSpec health;
  health.timeoutSeconds = 4;
  health.exec = specs::ExecProbeSpec{{"/usr/lib/nagios/plugins/check_http", "-H", "10.0.0.5"}};
  providers::ProbeSpec exec = ProbeSpecOf(health, "wms01");
  EXPECT_EQ(exec.type, providers::ProbeSpec::Type::kExec);
  EXPECT_EQ(exec.command,
            (std::vector<std::string>{"/usr/lib/nagios/plugins/check_http", "-H", "10.0.0.5"}));
  EXPECT_EQ(exec.timeout, std::chrono::milliseconds(4000));

  // http, then tcp, win over exec when several are given (the schema says exec is used only
  // when neither is).
  health.tcp = specs::TcpProbeSpec{22};
  EXPECT_EQ(ProbeSpecOf(health, "wms01").type, providers::ProbeSpec::Type::kTcp);
  health.http = specs::HttpProbeSpec{8080, "/ok"};
  EXPECT_EQ(ProbeSpecOf(health, "wms01").type, providers::ProbeSpec::Type::kHttp);
}

TEST_F(VmHealthTest, AnExecProbeRunsTheSpecsCommand) {
  Apply(HostYaml("hv01") +
        VmYaml("wms01",
               "  health: {exec: {command: [/bin/check, -H, wms01]}, periodSeconds: 1,\n"
               "           startupGraceSeconds: 0}\n"));
  SyncHost("hv01");
  prober_.SetHandler([](const providers::ProbeSpec& spec) {
    bool ok = spec.type == providers::ProbeSpec::Type::kExec && spec.command.size() == 3 &&
              spec.command[0] == "/bin/check";
    return ProbeResult{ok, ok ? "exit 0" : "unexpected probe"};
  });
  ReconcileVmOk("wms01");
  EXPECT_EQ(ConditionStatus("wms01", "Ready"), "False/Starting");
  ProbeOnce();
  ReconcileVmOk("wms01");
  EXPECT_EQ(ConditionStatus("wms01", "Ready"), "True/Running");
  auto spec = prober_.LastSpec();
  ASSERT_TRUE(spec.has_value());
  EXPECT_EQ(spec->type, providers::ProbeSpec::Type::kExec);
  EXPECT_EQ(spec->command, (std::vector<std::string>{"/bin/check", "-H", "wms01"}));
}

TEST_F(VmHealthTest, AnUnhealthyVmIsRestartedWithBackoffThenGivenUpAtTheLimit) {
  Healthy();
  Start();
  ProbeOnce();
  ReconcileVmOk("wms01");
  ASSERT_EQ(ConditionStatus("wms01", "Ready"), "True/Running");
  const int starts_before = Host("hv01").CallCount(FakeOp::kStart);

  // Failure 1: two failed probes (the threshold), then a restart.
  Unhealthy();
  ProbeOnce();
  ProbeOnce();
  EXPECT_THAT(Reasons("wms01"), Contains("Unhealthy"));
  ReconcileVmOk("wms01");
  EXPECT_EQ(Host("hv01").CallCount(FakeOp::kStart), starts_before + 1);
  EXPECT_EQ(StatusOf("wms01").restartCount, 1);
  EXPECT_THAT(Reasons("wms01"), Contains("RestartedUnhealthy"));
  auto incident = incidents_.OpenIncident(specs::Kind::kVirtualMachine, "wms01");
  ASSERT_TRUE(incident.has_value());
  EXPECT_EQ(incident->type, "VmUnhealthy");
  EXPECT_LT(incident->occurred, incident->detected) << "counted from the last good probe";

  // Failure 2 comes at once: the restart waits for the 5 s backoff.
  ProbeOnce();
  ProbeOnce();
  auto r = ReconcileVm("wms01");
  ASSERT_TRUE(r.status.ok());
  ASSERT_TRUE(r.requeue_after.has_value());
  EXPECT_EQ(Host("hv01").CallCount(FakeOp::kStart), starts_before + 1) << "no restart in backoff";
  clock_.Advance(*r.requeue_after);
  ReconcileVmOk("wms01");
  EXPECT_EQ(Host("hv01").CallCount(FakeOp::kStart), starts_before + 2);

  // Failure 3: the limit (2 within 600 s) is reached: no more restarts, said loudly.
  ProbeOnce();
  ProbeOnce();
  clock_.Advance(seconds(60));
  r = ReconcileVm("wms01");
  ASSERT_TRUE(r.status.ok());
  EXPECT_EQ(Host("hv01").CallCount(FakeOp::kStart), starts_before + 2);
  EXPECT_EQ(ConditionStatus("wms01", "Ready"), "False/RestartLimitReached");
  EXPECT_THAT(Reasons("wms01"), Contains("RestartLimitReached"));
  ASSERT_TRUE(r.requeue_after.has_value()) << "tried again when the window allows";
  EXPECT_TRUE(incidents_.OpenIncident(specs::Kind::kVirtualMachine, "wms01").has_value());

  // The service recovers by itself: Ready again, and the incident closes.
  Healthy();
  ProbeOnce();
  ReconcileVmOk("wms01");
  EXPECT_EQ(ConditionStatus("wms01", "Ready"), "True/Running");
  EXPECT_FALSE(incidents_.OpenIncident(specs::Kind::kVirtualMachine, "wms01").has_value());
  EXPECT_THAT(Reasons("wms01"), Contains("Recovered"));
}

TEST_F(VmHealthTest, ACrashLoopIsBoundedByTheRestartLimit) {
  Apply(HostYaml("hv01") + VmYaml("ce01", "  restart: {limit: 2, windowSeconds: 600}\n"));
  SyncHost("hv01");
  ReconcileVmOk("ce01");
  for (int crash = 1; crash <= 3; ++crash) {
    ASSERT_TRUE(Host("hv01").CrashDomain("ce01").ok());
    auto r = ReconcileVm("ce01");
    ASSERT_TRUE(r.status.ok());
    if (r.requeue_after && crash == 2) {
      clock_.Advance(*r.requeue_after);  // backoff before the second restart
      r = ReconcileVm("ce01");
    }
    if (crash <= 2) {
      EXPECT_EQ(Host("hv01").Domain("ce01")->state, DomainState::kRunning) << "crash " << crash;
    } else {
      EXPECT_NE(Host("hv01").Domain("ce01")->state, DomainState::kRunning) << "given up";
      EXPECT_EQ(ConditionStatus("ce01", "Ready"), "False/RestartLimitReached");
    }
  }
  EXPECT_EQ(StatusOf("ce01").restartCount, 2);
  // After the window the VM is tried again.
  clock_.Advance(seconds(601));
  ReconcileVmOk("ce01");
  EXPECT_EQ(Host("hv01").Domain("ce01")->state, DomainState::kRunning);
}

}  // namespace
}  // namespace vmk::reconciler

#include "tests/fakes/fake_notifier.h"

namespace vmk::reconciler {
namespace {

TEST_F(VmHealthTest, GivingUpIsToldToTheAdmins) {
  providers::FakeNotifier notifier;
  recorder_.SetNotifier(&notifier);
  Apply(HostYaml("hv01") + VmYaml("ce01", "  restart: {limit: 0, windowSeconds: 600}\n"));
  SyncHost("hv01");
  ReconcileVmOk("ce01");
  ASSERT_TRUE(Host("hv01").CrashDomain("ce01").ok());
  ReconcileVmOk("ce01");
  EXPECT_EQ(ConditionStatus("ce01", "Ready"), "False/RestartLimitReached");
  auto sent = notifier.notifications();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].event, "GaveUp");
  EXPECT_EQ(sent[0].name, "ce01");
  EXPECT_EQ(sent[0].kind, "VirtualMachine");
  auto incident = incidents_.OpenIncident(specs::Kind::kVirtualMachine, "ce01");
  ASSERT_TRUE(incident.has_value()) << "a VM left down is an open incident";
  EXPECT_EQ(incident->type, "VmCrashed");
  recorder_.SetNotifier(nullptr);
}

}  // namespace
}  // namespace vmk::reconciler
