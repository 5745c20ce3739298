// FenceAgentFencer: a Fencer that runs a ClusterLabs fence-agents compatible command
// (fence_ipmilan, fence_virsh, the test agent in tests/e2e/fence_test_agent, ...).
//
// The agent gets no command-line arguments; its options arrive as "key=value" lines on stdin,
// followed by "action=off" (the fence-agents stdin convention), and exit status 0 means done.
// It runs through RunSubprocess (common/subprocess.h): never through a shell, in its own
// process group, stdout and stderr captured (their tail, bounded), the deadline measured on the
// injected Clock. When the request's timeout passes, the whole group gets SIGTERM, then SIGKILL
// after options.kill_grace; the agent is always reaped and anything it left running in its
// group is killed, so no zombie and no stray process outlives a call. What is specific to
// fencing stays here: resolving the agent, its options, secrets and messages.
//
// Secrets (the rule is common/secrets.h's, docs/secrets.md explains it): an arg whose key ends
// in "File" (passwordFile, api_tokenFile) names a file whose content (one trailing newline
// trimmed) is passed as the key without the suffix (password=...). Every value the agent is
// given that came from such a file or whose key is secret (password, api_token, community, ...)
// is replaced by "***" in every message, log line and output excerpt this class produces,
// wherever the agent echoes it, under whatever key.
//
// Thread-safe: calls share no mutable state, and several may run at once (one per host).
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "providers/fencing/fencer.h"

namespace vmk::providers {

struct FenceAgentFencerOptions {
  // Where an agent given by bare name (fence_ipmilan) is looked up, in order.
  std::vector<std::string> agent_dirs = {"/usr/sbin", "/usr/local/sbin"};
  // After the timeout: time between SIGTERM and SIGKILL to the agent's process group.
  std::chrono::milliseconds kill_grace{2000};
  // Bytes kept of each of stdout and stderr (the tail: the last lines carry the error).
  size_t max_output_bytes = 64 * 1024;
};

class FenceAgentFencer : public Fencer {
 public:
  // `clock` must outlive this object; the deadline of each call is measured on it.
  FenceAgentFencer(FenceAgentFencerOptions options, Clock* clock);

  // Runs the agent with action=off. See Fencer::Fence. Also InvalidArgument for a bad agent
  // name or malformed args, FailedPrecondition for a missing agent or unreadable secret file.
  Status Fence(const FenceRequest& request) override;
  // Runs the agent with action=status. See Fencer::PowerStatus.
  StatusOr<PowerState> PowerStatus(const FenceRequest& request) override;

  // Runs the agent with action=monitor: is the fence device reachable with these options?
  // Same errors as Fence. For startup or apply-time checks that may take the timeout.
  Status Monitor(const FenceRequest& request);

  // Checks without running anything: the agent name is acceptable and resolves to an
  // executable file, the args are well formed, every secret file is readable.
  Status Validate(const FenceRequest& request) const;

  // The executable `agent` resolves to (absolute path), or the error Validate would return.
  StatusOr<std::string> ResolveAgent(const std::string& agent) const;

 private:
  struct PreparedRun;
  StatusOr<PreparedRun> Prepare(const FenceRequest& request, const std::string& action) const;
  // `exit_code`, when given, receives the agent's exit status (if it exited).
  Status Run(const FenceRequest& request, const std::string& action,
             std::optional<int>* exit_code = nullptr);

  const FenceAgentFencerOptions options_;
  Clock* const clock_;
};

}  // namespace vmk::providers
