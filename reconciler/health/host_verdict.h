// DecideHost: the decision table of failure detection (docs/failure-detection.md). Whether a
// host whose management plane stopped answering is dead, frozen, cut off from the controller
// only, or fine, from the evidence of several independent channels:
//   management  the heartbeats (HostHealth): Ready, Suspect or NotReady, and how the last one
//               failed (a connection refused at once, or no answer);
//   data plane  the health probes of the VMs placed there, run straight at the guests: do
//               they answer since the management plane went quiet?
//   power       the fence agent's `status` action (on, off), asked only when the host looks
//               dead and nothing else can tell;
//   alerts      a firing Alertmanager alert about the host.
// Availability is the product: a host whose guests answer is never fenced for its management
// plane alone, unless the admin chose Pacemaker's "fence whenever it stops answering" (a Host's
// or a VM's `managementOutage: Fence`). Certainty makes it fast: a refused connection with a
// second signal that agrees fences at once, without waiting out the heartbeat threshold.
// Pure: no clock, no I/O; the caller gathers the evidence.
#pragma once

#include <string>

#include "providers/fencing/fencer.h"
#include "reconciler/health/host_health.h"

namespace vmk::reconciler {

// What the probes of a host's VMs say since its management plane went quiet.
struct DataPlaneEvidence {
  int probed = 0;      // VMs placed there whose probes count (spec.health, not opted out)
  int answered = 0;    // of those: a probe passed since the management plane went quiet
  int failed = 0;      // of those: only failed probes since then
  int unhealthy = 0;   // of those: Unhealthy by their probe's verdict (failureThreshold)
  int opted_out = 0;   // VMs there with spec.health.managementOutage: Fence
};

using providers::PowerState;

struct HostEvidence {
  HostHealthState management = HostHealthState::kUnknown;
  HeartbeatOutcome last_beat = HeartbeatOutcome::kAnswered;
  DataPlaneEvidence data;
  PowerState power = PowerState::kUnknown;
  bool alert_firing = false;
  // spec.managementOutage of the Host: Fence = Pacemaker's behaviour for every VM there.
  bool fence_on_management_loss = false;
};

enum class HostVerdict {
  kHealthy,                // the management plane answers
  kSuspect,                // not enough evidence yet: keep looking
  kAwaitingDataPlane,      // NotReady; the probes asked for have not answered yet
  kManagementUnreachable,  // management plane gone, guests answer: keep them running
  kFailed,                 // fence and fail over (threshold reached)
  kDead,                   // fence and fail over now: the fast path
};
const char* HostVerdictName(HostVerdict verdict);  // "Healthy", "Suspect", ...

struct HostDecision {
  HostVerdict verdict = HostVerdict::kHealthy;
  std::string reason;  // one CamelCase word, for conditions and events
  std::string why;     // a sentence naming the evidence
};

// The data plane in one word: kNone (no probed VMs), kAnswers (one answers, none Unhealthy),
// kFailing (a VM Unhealthy), kSilent (every probed VM failed), kPending (results to come).
enum class DataPlane { kNone, kAnswers, kFailing, kSilent, kPending };
DataPlane SummariseDataPlane(const DataPlaneEvidence& data);
// "none", "answers", "failing", "silent", "pending".
std::string DataPlaneSummary(const DataPlaneEvidence& data);

HostDecision DecideHost(const HostEvidence& evidence);

}  // namespace vmk::reconciler
