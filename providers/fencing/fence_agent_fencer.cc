#include "providers/fencing/fence_agent_fencer.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <regex>
#include <sstream>
#include <utility>

#include "common/log.h"
#include "common/secrets.h"
#include "common/subprocess.h"

namespace vmk::providers {

struct FenceAgentFencer::PreparedRun {
  std::string agent_path;
  std::string stdin_text;             // "key=value\n" lines, secrets included: never logged
  std::vector<std::string> secrets;   // values to redact from anything we report
};

namespace {

constexpr size_t kMaxExcerptChars = 400;

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

bool HasLineBreakOrNul(const std::string& s) {
  return s.find_first_of(std::string("\r\n\0", 3)) != std::string::npos;
}

bool IsExecutableFile(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(path.c_str(), X_OK) == 0;
}

// The last non-empty line of `output`, shortened to kMaxExcerptChars.
std::string LastLine(const std::string& output) {
  size_t end = output.find_last_not_of(" \t\r\n");
  if (end == std::string::npos) return "";
  size_t begin = output.rfind('\n', end);
  begin = begin == std::string::npos ? 0 : begin + 1;
  std::string line = output.substr(begin, end + 1 - begin);
  if (line.size() > kMaxExcerptChars) line = line.substr(0, kMaxExcerptChars) + "...";
  return line;
}

std::string JoinDirs(const std::vector<std::string>& dirs) {
  std::string out;
  for (const std::string& d : dirs) out += (out.empty() ? "" : ":") + d;
  return out;
}

}  // namespace

FenceAgentFencer::FenceAgentFencer(FenceAgentFencerOptions options, Clock* clock)
    : options_(std::move(options)), clock_(clock) {}

StatusOr<std::string> FenceAgentFencer::ResolveAgent(const std::string& agent) const {
  if (!agent.empty() && agent[0] == '/') {
    if (!IsExecutableFile(agent)) {
      return Status::FailedPrecondition("fence agent " + agent + " is not an executable file");
    }
    return agent;
  }
  static const std::regex kAgentName("^fence_[A-Za-z0-9_]+$");
  if (!std::regex_match(agent, kAgentName)) {
    return Status::InvalidArgument("fence agent \"" + agent +
                                   "\" must be an absolute path or a name like fence_ipmilan "
                                   "(fence_ followed by letters, digits or _)");
  }
  for (const std::string& dir : options_.agent_dirs) {
    std::string path = dir + "/" + agent;
    if (IsExecutableFile(path)) return path;
  }
  return Status::FailedPrecondition("fence agent " + agent + " not found (or not executable) in " +
                                    JoinDirs(options_.agent_dirs));
}

StatusOr<FenceAgentFencer::PreparedRun> FenceAgentFencer::Prepare(const FenceRequest& request,
                                                                  const std::string& action) const {
  if (request.timeout.count() <= 0) {
    return Status::InvalidArgument("fencing timeout for host " + request.host + " must be positive");
  }
  PreparedRun run;
  VMK_ASSIGN_OR_RETURN(run.agent_path, ResolveAgent(request.agent));

  std::map<std::string, std::string> options;  // what the agent gets, secrets resolved
  for (const auto& [key, value] : request.args) {
    if (key.empty() || key.find('=') != std::string::npos || HasLineBreakOrNul(key)) {
      return Status::InvalidArgument("fencing arg \"" + key +
                                     "\": a key must be non-empty, without '=' or line breaks");
    }
    const std::string lower = Lower(key);
    if (lower == "action" || lower == "option") {
      return Status::InvalidArgument("fencing arg " + key + " must not be set: vmkeeper chooses the action");
    }
    if (HasLineBreakOrNul(value)) {
      return Status::InvalidArgument("fencing arg " + key + ": the value must not contain line breaks");
    }
    std::string name = key;
    std::string resolved = value;
    if (IsSecretFileKey(key)) {
      name = SecretFileTarget(key);
      std::ifstream in(value, std::ios::binary);
      std::ostringstream content;
      struct stat st;
      if (::stat(value.c_str(), &st) != 0 || !S_ISREG(st.st_mode) || !in ||
          !(content << in.rdbuf())) {
        return Status::FailedPrecondition("fencing arg " + key + ": cannot read secret file " + value);
      }
      resolved = content.str();
      if (EndsWith(resolved, "\n")) resolved.pop_back();
      // A line break would smuggle further options in; the content itself is never reported.
      if (HasLineBreakOrNul(resolved)) {
        return Status::FailedPrecondition("fencing arg " + key + ": secret file " + value +
                                          " must hold a single line");
      }
      run.secrets.push_back(resolved);
    } else if (IsSecretOptionKey(key)) {
      run.secrets.push_back(value);
    }
    if (!options.emplace(name, resolved).second) {  // password and passwordFile
      return Status::InvalidArgument("fencing args " + name + " and " + name +
                                     "File must not both be set");
    }
  }
  for (const auto& [key, value] : options) run.stdin_text += key + "=" + value + "\n";
  run.stdin_text += "action=" + action + "\n";
  return run;
}

Status FenceAgentFencer::Validate(const FenceRequest& request) const {
  return Prepare(request, "off").status();
}

Status FenceAgentFencer::Fence(const FenceRequest& request) { return Run(request, "off"); }

Status FenceAgentFencer::Monitor(const FenceRequest& request) { return Run(request, "monitor"); }

StatusOr<PowerState> FenceAgentFencer::PowerStatus(const FenceRequest& request) {
  std::optional<int> exit_code;
  Status s = Run(request, "status", &exit_code);
  if (s.ok()) return PowerState::kOn;
  if (exit_code && *exit_code == 2) return PowerState::kOff;
  return s;
}

namespace {

// What a finished agent run means: its exit status, or why there is none, with the last line
// it wrote (secrets redacted).
Status Outcome(const FenceRequest& request, const std::string& who, const SubprocessResult& ran,
               const std::vector<std::string>& secrets) {
  std::string excerpt = LastLine(RedactSecrets(ran.stderr_tail, secrets));
  if (excerpt.empty()) excerpt = LastLine(RedactSecrets(ran.stdout_tail, secrets));
  if (excerpt.empty()) excerpt = "(no output)";

  if (ran.timed_out) {
    return Status::DeadlineExceeded(who + " timed out after " +
                                    std::to_string(request.timeout.count()) + "s and was " +
                                    (ran.sigkilled ? "killed (SIGKILL)" : "terminated (SIGTERM)") +
                                    "; last output: " + excerpt);
  }
  if (ran.exit_code == 0) return Status::Ok();
  if (ran.exit_code) {
    return Status::Unavailable(who + " failed with exit status " +
                               std::to_string(*ran.exit_code) + ": " + excerpt);
  }
  if (ran.term_signal) {
    const int sig = *ran.term_signal;
    return Status::Internal(who + " was killed by signal " + std::to_string(sig) + " (" +
                            strsignal(sig) + "): " + excerpt);
  }
  return Status::Internal(who + " ended, but its exit status could not be collected");
}

}  // namespace

Status FenceAgentFencer::Run(const FenceRequest& request, const std::string& action,
                             std::optional<int>* exit_code) {
  VMK_ASSIGN_OR_RETURN(PreparedRun run, Prepare(request, action));
  const std::string who = "fence agent " + request.agent + " for host " + request.host;
  log::Info("running fence agent",
            {{"host", request.host}, {"agent", run.agent_path}, {"action", action}});

  SubprocessOptions agent;
  agent.argv = {run.agent_path};  // no arguments: the options go to stdin
  agent.stdin_data = run.stdin_text;
  agent.capture_output = true;
  agent.max_output_bytes = options_.max_output_bytes;
  agent.timeout = request.timeout;
  agent.kill_grace = options_.kill_grace;
  StatusOr<SubprocessResult> ran = RunSubprocess(agent, clock_);
  if (!ran.ok()) {
    Status failed = ran.status().code() == StatusCode::kUnavailable
                        ? Status::Unavailable(who + " could not be started: " +
                                              ran.status().message())
                        : Status::Internal(who + ": " + ran.status().message());
    log::Warning("fence agent failed", {{"host", request.host}, {"agent", run.agent_path},
                                        {"action", action}, {"error", failed.ToString()}});
    return failed;
  }
  if (exit_code) *exit_code = ran->timed_out ? std::nullopt : ran->exit_code;
  Status result = Outcome(request, who, *ran, run.secrets);
  const std::string elapsed_ms = std::to_string(
      std::chrono::duration_cast<std::chrono::milliseconds>(ran->elapsed).count());
  if (result.ok() || (action == "status" && ran->exit_code == 2)) {  // 2: off, an answer
    log::Info("fence agent succeeded", {{"host", request.host}, {"agent", run.agent_path},
                                        {"action", action}, {"elapsed_ms", elapsed_ms}});
  } else {
    log::Warning("fence agent failed", {{"host", request.host}, {"agent", run.agent_path},
                                        {"action", action}, {"error", result.ToString()},
                                        {"elapsed_ms", elapsed_ms}});
  }
  return result;
}

}  // namespace vmk::providers
