// RestartPolicy: whether a failure restart of a VM (crashed, stopped behind our back, failing
// its probe) may happen now under its spec.restart: at most `limit` restarts within
// `windowSeconds`, and an exponential backoff between them (5 s, 10 s, 20 s, ... 5 min).
// Restarts the admin asked for (a new generation) do not count. Pure logic over the VM's
// recorded restart times and the time given; thread-compatible.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "specs/types.h"

namespace vmk::reconciler {

struct RestartVerdict {
  bool allowed = false;
  // Why not, for the Ready condition: "RestartLimitReached" or "BackOff"; empty when allowed.
  std::string reason;
  std::string message;
  std::optional<Duration> wait;  // try again after this
};

// `restart_times` (RFC 3339, oldest first) are the failure restarts recorded in the VM's
// status: those outside the window are dropped, and when the restart is allowed `now` is
// appended (the caller records it, synced, before restarting: see VmReconciler).
RestartVerdict DecideFailureRestart(const specs::RestartSpec& spec, WallTime now,
                                    std::vector<std::string>* restart_times);

}  // namespace vmk::reconciler
