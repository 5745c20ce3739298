#include "reconciler/health/host_verdict.h"

#include <gtest/gtest.h>

#include <vector>

namespace vmk::reconciler {
namespace {

using providers::PowerState;

// The data plane's five shapes, as DataPlaneEvidence of three probed VMs.
DataPlaneEvidence None() { return {}; }
DataPlaneEvidence Answers() { return {3, 1, 1, 0, 0}; }
DataPlaneEvidence Failing() { return {3, 2, 0, 1, 0}; }
DataPlaneEvidence Silent() { return {3, 0, 3, 0, 0}; }
DataPlaneEvidence Pending() { return {3, 0, 1, 0, 0}; }

HostEvidence Evidence(HostHealthState management, HeartbeatOutcome beat, DataPlaneEvidence data,
                      PowerState power = PowerState::kUnknown, bool alert = false,
                      bool fence_policy = false) {
  HostEvidence e;
  e.management = management;
  e.last_beat = beat;
  e.data = data;
  e.power = power;
  e.alert_firing = alert;
  e.fence_on_management_loss = fence_policy;
  return e;
}

bool Fences(HostVerdict v) { return v == HostVerdict::kDead || v == HostVerdict::kFailed; }

TEST(DataPlaneSummaryTest, NamesEachShape) {
  EXPECT_EQ(DataPlaneSummary(None()), "none");
  EXPECT_EQ(DataPlaneSummary(Answers()), "answers");
  EXPECT_EQ(DataPlaneSummary(Failing()), "failing");
  EXPECT_EQ(DataPlaneSummary(Silent()), "silent");
  EXPECT_EQ(DataPlaneSummary(Pending()), "pending");
  // One Unhealthy VM is failing even when another answers: it needs a restart only a failover
  // can give it now.
  EXPECT_EQ(DataPlaneSummary({3, 2, 0, 1, 0}), "failing");
}

// Every combination of the channels, against the table's invariants.
TEST(DecideHostTest, InvariantsHoldOverEveryCombinationOfSignals) {
  const std::vector<HostHealthState> managements = {HostHealthState::kUnknown, HostHealthState::kReady,
                                                    HostHealthState::kSuspect,
                                                    HostHealthState::kNotReady};
  const std::vector<HeartbeatOutcome> beats = {HeartbeatOutcome::kRefused, HeartbeatOutcome::kNoAnswer,
                                               HeartbeatOutcome::kError};
  const std::vector<DataPlaneEvidence> datas = {None(), Answers(), Failing(), Silent(), Pending()};
  const std::vector<PowerState> powers = {PowerState::kUnknown, PowerState::kOn, PowerState::kOff};
  int combinations = 0;
  for (auto m : managements) {
    for (auto b : beats) {
      for (const auto& d : datas) {
        for (auto p : powers) {
          for (bool alert : {false, true}) {
            for (bool policy : {false, true}) {
              for (int opted_out : {0, 1}) {
                HostEvidence e = Evidence(m, b, d, p, alert, policy);
                e.data.opted_out = opted_out;
                const HostDecision got = DecideHost(e);
                ++combinations;
                SCOPED_TRACE(std::string(HostHealthStateName(m)) + " beat=" +
                             providers::HeartbeatOutcomeName(b) + " data=" + DataPlaneSummary(d) +
                             " power=" + providers::PowerStateName(p) +
                             " alert=" + std::to_string(alert) + " policy=" +
                             std::to_string(policy) + " optedOut=" + std::to_string(opted_out) +
                             " -> " + HostVerdictName(got.verdict) + ": " + got.why);
                EXPECT_FALSE(got.reason.empty());
                EXPECT_FALSE(got.why.empty());
                // A host whose management plane answers is healthy, whatever else is said.
                if (m == HostHealthState::kReady) {
                  EXPECT_EQ(got.verdict, HostVerdict::kHealthy);
                }
                // Never a fence while guests answer, unless the admin chose it.
                if (DataPlaneSummary(d) == "answers" && !policy && opted_out == 0) {
                  EXPECT_FALSE(Fences(got.verdict));
                }
                // A fence needs the heartbeats' verdict, or the fast path's certainty: a
                // refused connection or a power device saying off.
                if (Fences(got.verdict) && m != HostHealthState::kNotReady) {
                  EXPECT_EQ(got.verdict, HostVerdict::kDead);
                  EXPECT_TRUE(b == HeartbeatOutcome::kRefused || p == PowerState::kOff);
                }
                // The fast path needs a second signal besides the refusal.
                if (got.verdict == HostVerdict::kDead) {
                  EXPECT_TRUE(p == PowerState::kOff || DataPlaneSummary(d) == "silent" ||
                              (DataPlaneSummary(d) == "none" && alert));
                }
                // The heartbeats gave up and no guest answers: failed over.
                if (m == HostHealthState::kNotReady && DataPlaneSummary(d) != "answers" &&
                    DataPlaneSummary(d) != "pending") {
                  EXPECT_TRUE(Fences(got.verdict));
                }
                // ManagementUnreachable only at the heartbeats' verdict, with guests answering.
                if (got.verdict == HostVerdict::kManagementUnreachable) {
                  EXPECT_EQ(m, HostHealthState::kNotReady);
                  EXPECT_EQ(DataPlaneSummary(d), "answers");
                }
              }
            }
          }
        }
      }
    }
  }
  EXPECT_EQ(combinations, 4 * 3 * 5 * 3 * 2 * 2 * 2);
}

// The table's named cells (docs/failure-detection.md), one by one.
TEST(DecideHostTest, KilledHostIsDeadAtOnceWhenItsGuestsAgree) {
  auto d = DecideHost(Evidence(HostHealthState::kSuspect, HeartbeatOutcome::kRefused, Silent()));
  EXPECT_EQ(d.verdict, HostVerdict::kDead);
  EXPECT_EQ(d.reason, "HostDown");
}

TEST(DecideHostTest, KilledHostIsDeadAtOnceWhenThePowerDeviceSaysOff) {
  auto d = DecideHost(
      Evidence(HostHealthState::kSuspect, HeartbeatOutcome::kRefused, None(), PowerState::kOff));
  EXPECT_EQ(d.verdict, HostVerdict::kDead);
  EXPECT_EQ(d.reason, "PoweredOff");
}

TEST(DecideHostTest, RefusedWithoutASecondSignalWaitsForTheThreshold) {
  EXPECT_EQ(DecideHost(Evidence(HostHealthState::kSuspect, HeartbeatOutcome::kRefused, None(),
                                PowerState::kOn))
                .verdict,
            HostVerdict::kSuspect);
  EXPECT_EQ(DecideHost(Evidence(HostHealthState::kSuspect, HeartbeatOutcome::kRefused, Pending()))
                .verdict,
            HostVerdict::kSuspect);
  // An alert agrees only where no probe can say otherwise.
  EXPECT_EQ(DecideHost(Evidence(HostHealthState::kSuspect, HeartbeatOutcome::kRefused, None(),
                                PowerState::kUnknown, /*alert=*/true))
                .verdict,
            HostVerdict::kDead);
  EXPECT_EQ(DecideHost(Evidence(HostHealthState::kSuspect, HeartbeatOutcome::kRefused, Answers(),
                                PowerState::kUnknown, /*alert=*/true))
                .verdict,
            HostVerdict::kSuspect);
}

TEST(DecideHostTest, HungManagementWithAnsweringGuestsIsManagementUnreachable) {
  auto d = DecideHost(Evidence(HostHealthState::kNotReady, HeartbeatOutcome::kNoAnswer, Answers()));
  EXPECT_EQ(d.verdict, HostVerdict::kManagementUnreachable);
  // A libvirtd restart: refused, guests answering: the same.
  d = DecideHost(Evidence(HostHealthState::kNotReady, HeartbeatOutcome::kRefused, Answers()));
  EXPECT_EQ(d.verdict, HostVerdict::kManagementUnreachable);
  // A power device saying off is contradicted by the guests, and said so.
  d = DecideHost(Evidence(HostHealthState::kNotReady, HeartbeatOutcome::kRefused, Answers(),
                          PowerState::kOff));
  EXPECT_EQ(d.verdict, HostVerdict::kManagementUnreachable);
  EXPECT_NE(d.why.find("check spec.fencing"), std::string::npos);
}

TEST(DecideHostTest, TheAdminsFencePolicyFencesAtTheHeartbeatsVerdict) {
  auto d = DecideHost(Evidence(HostHealthState::kNotReady, HeartbeatOutcome::kNoAnswer, Answers(),
                               PowerState::kUnknown, false, /*fence_policy=*/true));
  EXPECT_EQ(d.verdict, HostVerdict::kFailed);
  EXPECT_EQ(d.reason, "ManagementLost");
  HostEvidence vm_opt_out = Evidence(HostHealthState::kNotReady, HeartbeatOutcome::kNoAnswer, Answers());
  vm_opt_out.data.opted_out = 1;
  EXPECT_EQ(DecideHost(vm_opt_out).verdict, HostVerdict::kFailed);
  // Before the verdict, the policy waits like everyone else.
  EXPECT_EQ(DecideHost(Evidence(HostHealthState::kSuspect, HeartbeatOutcome::kNoAnswer, Answers(),
                                PowerState::kUnknown, false, true))
                .verdict,
            HostVerdict::kSuspect);
}

TEST(DecideHostTest, AFrozenHostFailsAtTheHeartbeatsVerdict) {
  auto d = DecideHost(Evidence(HostHealthState::kNotReady, HeartbeatOutcome::kNoAnswer, Silent()));
  EXPECT_EQ(d.verdict, HostVerdict::kFailed);
  EXPECT_EQ(d.reason, "HostFrozen");
}

TEST(DecideHostTest, AVmFailingItsProbeOnAnUnreachableHostFailsTheHostOver) {
  auto d = DecideHost(Evidence(HostHealthState::kNotReady, HeartbeatOutcome::kNoAnswer, Failing()));
  EXPECT_EQ(d.verdict, HostVerdict::kFailed);
  EXPECT_EQ(d.reason, "VmFailedOnUnreachableHost");
}

TEST(DecideHostTest, WithoutProbesTheManagementPlaneDecides) {
  auto d = DecideHost(Evidence(HostHealthState::kNotReady, HeartbeatOutcome::kNoAnswer, None()));
  EXPECT_EQ(d.verdict, HostVerdict::kFailed);
  EXPECT_EQ(d.reason, "HostNotReady");
}

TEST(DecideHostTest, ProbesStillToAnswerAreWaitedFor) {
  auto d = DecideHost(Evidence(HostHealthState::kNotReady, HeartbeatOutcome::kNoAnswer, Pending()));
  EXPECT_EQ(d.verdict, HostVerdict::kAwaitingDataPlane);
  d = DecideHost(Evidence(HostHealthState::kNotReady, HeartbeatOutcome::kNoAnswer, Pending(),
                          PowerState::kOff));
  EXPECT_EQ(d.verdict, HostVerdict::kDead);
}

}  // namespace
}  // namespace vmk::reconciler
