// Fencer: powers a failed host off, or otherwise proves its VMs are dead, before any of them is
// started elsewhere. Implementations: FenceAgentFencer (runs a ClusterLabs fence-agents
// compatible command) and FakeFencer (unit tests). Thread-safe; every call is bounded by the
// request's timeout.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>

#include "common/status.h"

namespace vmk::providers {

struct FenceRequest {
  std::string host;    // the Host object's name (for logs)
  std::string agent;   // command: a name looked up in the agent directories, or an absolute path
  // Options passed to the agent as "key=value" lines on stdin, plus action=off.
  // A key ending in "File" (e.g. passwordFile) is read from that file and passed without the
  // suffix (password=...); its value never appears in logs, events or error messages.
  std::map<std::string, std::string> args;
  std::chrono::seconds timeout{60};
};

// A host's power as its fence device reports it (the `status` action).
enum class PowerState { kUnknown, kOn, kOff };
const char* PowerStateName(PowerState state);  // "unknown", "on", "off"

class Fencer {
 public:
  virtual ~Fencer() = default;
  // Ok only when the agent confirmed the host is off (exit status 0 of action=off).
  // DeadlineExceeded on timeout (the agent is killed), Unavailable/Internal otherwise, with a
  // message that names the agent and its exit status and stderr (secrets redacted).
  virtual Status Fence(const FenceRequest& request) = 0;
  // The host's power as the device reports it (action=status: exit status 0 = on, 2 = off, as
  // the ClusterLabs convention defines it). Evidence only: failure detection asks it when a
  // host looks dead; it never changes anything. The default: FailedPrecondition.
  virtual StatusOr<PowerState> PowerStatus(const FenceRequest& request);
};

}  // namespace vmk::providers
