#include "reconciler/health/host_verdict.h"

namespace vmk::reconciler {

const char* HostVerdictName(HostVerdict verdict) {
  switch (verdict) {
    case HostVerdict::kHealthy: return "Healthy";
    case HostVerdict::kSuspect: return "Suspect";
    case HostVerdict::kAwaitingDataPlane: return "AwaitingDataPlane";
    case HostVerdict::kManagementUnreachable: return "ManagementUnreachable";
    case HostVerdict::kFailed: return "Failed";
    case HostVerdict::kDead: return "Dead";
  }
  return "Suspect";
}

DataPlane SummariseDataPlane(const DataPlaneEvidence& d) {
  // A VM Unhealthy by its own verdict needs a restart that only a failover can give it now (no
  // management plane to restart it where it is), whatever the others say.
  if (d.unhealthy > 0) return DataPlane::kFailing;
  if (d.probed == 0) return DataPlane::kNone;
  if (d.answered > 0) return DataPlane::kAnswers;
  if (d.failed >= d.probed) return DataPlane::kSilent;
  return DataPlane::kPending;
}

namespace {

std::string Counted(const DataPlaneEvidence& d) {
  return std::to_string(d.answered) + "/" + std::to_string(d.probed);
}

}  // namespace

std::string DataPlaneSummary(const DataPlaneEvidence& data) {
  switch (SummariseDataPlane(data)) {
    case DataPlane::kNone: return "none";
    case DataPlane::kAnswers: return "answers";
    case DataPlane::kFailing: return "failing";
    case DataPlane::kSilent: return "silent";
    case DataPlane::kPending: return "pending";
  }
  return "pending";
}

HostDecision DecideHost(const HostEvidence& e) {
  const DataPlane data = SummariseDataPlane(e.data);
  const bool refused = e.last_beat == HeartbeatOutcome::kRefused;
  const bool power_off = e.power == PowerState::kOff;

  if (e.management == HostHealthState::kReady) {
    return {HostVerdict::kHealthy, "ManagementAnswers", "the management plane answers"};
  }
  if (e.management == HostHealthState::kUnknown) {
    return {HostVerdict::kSuspect, "NoHeartbeatYet", "no heartbeat has answered yet"};
  }

  // Guests that answer are the service running: no fence for the management plane alone, and
  // no other signal outweighs them (a power device saying "off" while guests answer is
  // misconfigured, and fencing through it would not stop them: a VM would run twice).
  if (data == DataPlane::kAnswers) {
    if (e.management == HostHealthState::kSuspect) {
      return {HostVerdict::kSuspect, "HeartbeatFailed",
              "heartbeats fail; " + Counted(e.data) + " probed VMs answer"};
    }
    if (e.fence_on_management_loss || e.data.opted_out > 0) {
      return {HostVerdict::kFailed, "ManagementLost",
              std::string("the management plane is lost and ") +
                  (e.fence_on_management_loss
                       ? "the host's managementOutage is Fence"
                       : std::to_string(e.data.opted_out) + " VM(s) there ask for Fence") +
                  ", although " + Counted(e.data) + " probed VMs answer"};
    }
    std::string why = "the management plane does not answer (" +
                      std::string(providers::HeartbeatOutcomeName(e.last_beat)) + "), but " +
                      Counted(e.data) + " probed VMs answer: they keep running";
    if (power_off) why += "; the power device says off, which the guests contradict: check spec.fencing";
    return {HostVerdict::kManagementUnreachable, "ManagementUnreachable", why};
  }

  // The fast path: the daemon's address refuses at once (the daemon or the host is gone, not
  // slow) and a second, independent channel agrees.
  if (refused) {
    if (power_off) {
      return {HostVerdict::kDead, "PoweredOff",
              "connection refused and the power device says off"};
    }
    if (data == DataPlane::kSilent) {
      return {HostVerdict::kDead, "HostDown",
              "connection refused and all " + std::to_string(e.data.probed) +
                  " probed VMs fail their probes"};
    }
    if (data == DataPlane::kNone && e.alert_firing) {
      return {HostVerdict::kDead, "HostDown",
              "connection refused and an alert about the host is firing"};
    }
  }

  if (e.management == HostHealthState::kSuspect) {
    return {HostVerdict::kSuspect, "HeartbeatFailed",
            std::string("heartbeats fail (") + providers::HeartbeatOutcomeName(e.last_beat) +
                "); the data plane is " + DataPlaneSummary(e.data)};
  }

  // NotReady: the heartbeats' threshold is reached.
  switch (data) {
    case DataPlane::kFailing:
      return {HostVerdict::kFailed, "VmFailedOnUnreachableHost",
              std::to_string(e.data.unhealthy) +
                  " VM(s) there fail their probes while the host's management plane does not "
                  "answer: only a failover can restart them"};
    case DataPlane::kSilent:
      return {HostVerdict::kFailed, "HostFrozen",
              "no heartbeat answers and all " + std::to_string(e.data.probed) +
                  " probed VMs fail their probes"};
    case DataPlane::kNone:
      return {HostVerdict::kFailed, "HostNotReady",
              std::string("no heartbeat answers (") + providers::HeartbeatOutcomeName(e.last_beat) +
                  ") and no VM there has a probe to say otherwise"};
    case DataPlane::kPending:
      if (power_off) {
        return {HostVerdict::kDead, "PoweredOff",
                "no heartbeat answers and the power device says off"};
      }
      return {HostVerdict::kAwaitingDataPlane, "AwaitingProbes",
              "no heartbeat answers; waiting for the probes of " +
                  std::to_string(e.data.probed - e.data.failed) + " VM(s)"};
    case DataPlane::kAnswers:
      break;  // handled above
  }
  return {HostVerdict::kSuspect, "HeartbeatFailed", "heartbeats fail"};
}

}  // namespace vmk::reconciler
