#include "providers/fencing/fence_agent_fencer.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
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

extern char** environ;

namespace vmk::providers {

struct FenceAgentFencer::PreparedRun {
  std::string agent_path;
  std::string stdin_text;             // "key=value\n" lines, secrets included: never logged
  std::vector<std::string> secrets;   // values to redact from anything we report
};

namespace {

constexpr char kRedacted[] = "***";
constexpr size_t kMaxExcerptChars = 400;
// Longest single poll(): bounds how late a deadline on a non-real Clock is noticed, and how
// late the agent's exit is noticed where pidfd_open is unavailable.
constexpr std::chrono::milliseconds kMaxPollSlice{100};

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

bool IsSecretFileKey(const std::string& key) { return key.size() > 4 && EndsWith(key, "File"); }

bool IsSecretKey(const std::string& key) {
  const std::string lower = Lower(key);
  return lower.find("password") != std::string::npos || lower.find("passwd") != std::string::npos;
}

bool HasLineBreakOrNul(const std::string& s) {
  return s.find_first_of(std::string("\r\n\0", 3)) != std::string::npos;
}

bool IsExecutableFile(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(path.c_str(), X_OK) == 0;
}

// Replaces every occurrence of each secret with "***". Longer secrets first, so one secret that
// contains another is not left half visible.
std::string Redact(std::string text, std::vector<std::string> secrets) {
  std::sort(secrets.begin(), secrets.end(),
            [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  for (const std::string& secret : secrets) {
    if (secret.empty()) continue;
    for (size_t pos = text.find(secret); pos != std::string::npos;
         pos = text.find(secret, pos + sizeof(kRedacted) - 1)) {
      text.replace(pos, secret.size(), kRedacted);
    }
  }
  return text;
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

// Keeps the tail of an agent's output within `limit` bytes. When it has to cut, it cuts after a
// line break so no partial line (which could hold the tail of a secret the redaction would no
// longer recognise) is kept.
void AppendBounded(std::string* buffer, const char* data, size_t n, size_t limit) {
  buffer->append(data, n);
  if (buffer->size() <= limit) return;
  size_t cut = buffer->size() - limit;
  size_t newline = buffer->find('\n', cut);
  buffer->erase(0, newline == std::string::npos ? buffer->size() : newline + 1);
}

// While alive, SIGPIPE is blocked in this thread, so writing to an agent that exited without
// reading stdin yields EPIPE instead of killing the daemon. A SIGPIPE raised meanwhile is
// consumed before the mask is restored.
class ScopedSigpipeBlock {
 public:
  ScopedSigpipeBlock() {
    sigset_t pending;
    sigemptyset(&pending);
    sigpending(&pending);
    was_pending_ = sigismember(&pending, SIGPIPE) == 1;
    sigset_t block;
    sigemptyset(&block);
    sigaddset(&block, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &block, &old_mask_);
  }
  ~ScopedSigpipeBlock() {
    if (!was_pending_) {
      sigset_t pipe_only;
      sigemptyset(&pipe_only);
      sigaddset(&pipe_only, SIGPIPE);
      const struct timespec zero = {0, 0};
      while (sigtimedwait(&pipe_only, nullptr, &zero) == SIGPIPE) {
      }
    }
    pthread_sigmask(SIG_SETMASK, &old_mask_, nullptr);
  }
  ScopedSigpipeBlock(const ScopedSigpipeBlock&) = delete;
  ScopedSigpipeBlock& operator=(const ScopedSigpipeBlock&) = delete;

 private:
  sigset_t old_mask_;
  bool was_pending_ = false;
};

class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() { Close(); }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  bool open() const { return fd_ >= 0; }
  void Reset(int fd) { Close(); fd_ = fd; }
  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

struct Pipe {
  Fd read_end, write_end;
  int Open() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return errno;
    read_end.Reset(fds[0]);
    write_end.Reset(fds[1]);
    return 0;
  }
};

void SetNonBlocking(int fd) { ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK); }

int PidfdOpen(pid_t pid) {
#ifdef SYS_pidfd_open
  return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
#else
  (void)pid;
  return -1;
#endif
}

// A spawned agent, leader of its own process group. Whatever path leaves the scope, the group
// is killed and the leader reaped, so no zombie or stray process is left behind.
class AgentProcess {
 public:
  AgentProcess() = default;
  ~AgentProcess() {
    if (pid_ > 0 && !reaped_) {
      KillGroup(SIGKILL);
      int status;
      Reap(&status);
    }
  }
  AgentProcess(const AgentProcess&) = delete;
  AgentProcess& operator=(const AgentProcess&) = delete;

  // Returns 0 or an errno value.
  int Spawn(const std::string& path) {
    if (int e = stdin_.Open()) return e;
    if (int e = stdout_.Open()) return e;
    if (int e = stderr_.Open()) return e;

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, stdin_.read_end.get(), STDIN_FILENO);
    posix_spawn_file_actions_adddup2(&actions, stdout_.write_end.get(), STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&actions, stderr_.write_end.get(), STDERR_FILENO);
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
    // The daemon's other descriptors (sockets, the store) are none of the agent's business.
    posix_spawn_file_actions_addclosefrom_np(&actions, STDERR_FILENO + 1);
#endif
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    // Own process group (so the timeout can kill all the agent started), an empty signal mask
    // and default dispositions (the daemon may ignore SIGPIPE or block signals in this thread).
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                        POSIX_SPAWN_SETSIGDEF);
    posix_spawnattr_setpgroup(&attr, 0);
    sigset_t empty, all;
    sigemptyset(&empty);
    sigfillset(&all);
    sigdelset(&all, SIGKILL);
    sigdelset(&all, SIGSTOP);
    posix_spawnattr_setsigmask(&attr, &empty);
    posix_spawnattr_setsigdefault(&attr, &all);

    std::vector<char*> argv = {const_cast<char*>(path.c_str()), nullptr};
    pid_t pid = -1;
    int rc = posix_spawn(&pid, path.c_str(), &actions, &attr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    stdin_.read_end.Close();
    stdout_.write_end.Close();
    stderr_.write_end.Close();
    if (rc != 0) return rc;
    pid_ = pid;
    pidfd_.Reset(PidfdOpen(pid));
    SetNonBlocking(stdin_.write_end.get());
    SetNonBlocking(stdout_.read_end.get());
    SetNonBlocking(stderr_.read_end.get());
    return 0;
  }

  // Exited (or was killed) but not reaped yet: the pid, and so the group id, stays reserved.
  bool Exited() const {
    siginfo_t info;
    std::memset(&info, 0, sizeof(info));
    if (::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT) != 0) {
      return true;  // ECHILD: nothing left to wait for
    }
    return info.si_pid == pid_;
  }

  void KillGroup(int signal) const {
    if (pid_ > 0 && !reaped_) ::kill(-pid_, signal);
  }

  // Blocks until the leader is gone; only called once it exited or was sent SIGKILL.
  void Reap(int* status) {
    while (::waitpid(pid_, status, 0) < 0 && errno == EINTR) {
    }
    reaped_ = true;
  }

  pid_t pid() const { return pid_; }
  Fd& stdin_fd() { return stdin_.write_end; }
  Fd& stdout_fd() { return stdout_.read_end; }
  Fd& stderr_fd() { return stderr_.read_end; }
  const Fd& pidfd() const { return pidfd_; }

 private:
  Pipe stdin_, stdout_, stderr_;
  Fd pidfd_;
  pid_t pid_ = -1;
  bool reaped_ = false;
};

// Reads what is available; returns false at EOF or on a hard error (the fd is then closed).
bool ReadAvailable(Fd* fd, std::string* buffer, size_t limit) {
  char chunk[4096];
  while (true) {
    ssize_t n = ::read(fd->get(), chunk, sizeof(chunk));
    if (n > 0) {
      AppendBounded(buffer, chunk, static_cast<size_t>(n), limit);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
    fd->Close();
    return false;
  }
}

int PollTimeoutMs(MonoTime now, MonoTime until) {
  auto left = std::chrono::ceil<std::chrono::milliseconds>(until - now);
  left = std::clamp(left, std::chrono::milliseconds(0), kMaxPollSlice);
  return static_cast<int>(left.count());
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
      name = key.substr(0, key.size() - 4);
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
    } else if (IsSecretKey(key)) {
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

Status FenceAgentFencer::Run(const FenceRequest& request, const std::string& action) {
  VMK_ASSIGN_OR_RETURN(PreparedRun run, Prepare(request, action));
  const std::string who = "fence agent " + request.agent + " for host " + request.host;
  const MonoTime start = clock_->Now();
  const MonoTime deadline = start + request.timeout;
  log::Info("running fence agent",
            {{"host", request.host}, {"agent", run.agent_path}, {"action", action}});

  ScopedSigpipeBlock no_sigpipe;
  AgentProcess agent;
  if (int err = agent.Spawn(run.agent_path)) {
    return Status::Unavailable(who + " could not be started: " + std::strerror(err));
  }

  std::string out, err;
  size_t written = 0;
  bool timed_out = false, sent_kill = false;
  MonoTime kill_at{};
  while (true) {
    if (agent.Exited()) {
      // It wrote all it will write; take what is buffered without waiting for descendants that
      // may still hold the pipes (they are killed below).
      if (agent.stdout_fd().open()) ReadAvailable(&agent.stdout_fd(), &out, options_.max_output_bytes);
      if (agent.stderr_fd().open()) ReadAvailable(&agent.stderr_fd(), &err, options_.max_output_bytes);
      break;
    }
    const MonoTime now = clock_->Now();
    if (!timed_out && now >= deadline) {
      timed_out = true;
      agent.stdin_fd().Close();
      agent.KillGroup(SIGTERM);
      kill_at = now + options_.kill_grace;
    }
    if (timed_out && now >= kill_at) {
      sent_kill = true;
      break;  // SIGKILL below; nothing more worth reading
    }

    std::vector<pollfd> fds;
    auto watch = [&fds](const Fd& fd, short events) {
      if (fd.open()) fds.push_back({fd.get(), events, 0});
    };
    const bool stdin_pending = agent.stdin_fd().open() && written < run.stdin_text.size();
    if (!stdin_pending) agent.stdin_fd().Close();  // EOF: the agent starts working
    watch(agent.stdin_fd(), POLLOUT);
    watch(agent.stdout_fd(), POLLIN);
    watch(agent.stderr_fd(), POLLIN);
    watch(agent.pidfd(), POLLIN);
    int rc = ::poll(fds.data(), fds.size(), PollTimeoutMs(now, timed_out ? kill_at : deadline));
    if (rc < 0 && errno != EINTR) {
      return Status::Internal(who + ": poll failed: " + std::strerror(errno));
    }
    if (rc <= 0) continue;
    for (const pollfd& p : fds) {
      if (p.revents == 0) continue;
      if (p.fd == agent.stdin_fd().get()) {
        ssize_t n = ::write(p.fd, run.stdin_text.data() + written, run.stdin_text.size() - written);
        if (n > 0) {
          written += static_cast<size_t>(n);
        } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
          agent.stdin_fd().Close();  // EPIPE: the agent does not read its options; its business
        }
      } else if (p.fd == agent.stdout_fd().get()) {
        ReadAvailable(&agent.stdout_fd(), &out, options_.max_output_bytes);
      } else if (p.fd == agent.stderr_fd().get()) {
        ReadAvailable(&agent.stderr_fd(), &err, options_.max_output_bytes);
      }
    }
  }

  // Whatever the agent left in its group goes too; the unreaped leader keeps the group id ours.
  agent.KillGroup(SIGKILL);
  int wait_status = 0;
  agent.Reap(&wait_status);
  const auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(clock_->Now() - start);

  std::string excerpt = LastLine(Redact(err, run.secrets));
  if (excerpt.empty()) excerpt = LastLine(Redact(out, run.secrets));
  if (excerpt.empty()) excerpt = "(no output)";

  Status result;
  if (timed_out) {
    result = Status::DeadlineExceeded(who + " timed out after " +
                                      std::to_string(request.timeout.count()) + "s and was " +
                                      (sent_kill ? "killed (SIGKILL)" : "terminated (SIGTERM)") +
                                      "; last output: " + excerpt);
  } else if (WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 0) {
    result = Status::Ok();
  } else if (WIFEXITED(wait_status)) {
    result = Status::Unavailable(who + " failed with exit status " +
                                 std::to_string(WEXITSTATUS(wait_status)) + ": " + excerpt);
  } else if (WIFSIGNALED(wait_status)) {
    int sig = WTERMSIG(wait_status);
    result = Status::Internal(who + " was killed by signal " + std::to_string(sig) + " (" +
                              strsignal(sig) + "): " + excerpt);
  } else {
    result = Status::Internal(who + " ended with wait status " + std::to_string(wait_status));
  }

  if (result.ok()) {
    log::Info("fence agent succeeded", {{"host", request.host}, {"agent", run.agent_path},
                                        {"action", action},
                                        {"elapsed_ms", std::to_string(elapsed.count())}});
  } else {
    log::Warning("fence agent failed", {{"host", request.host}, {"agent", run.agent_path},
                                        {"action", action}, {"error", result.ToString()},
                                        {"elapsed_ms", std::to_string(elapsed.count())}});
  }
  return result;
}

}  // namespace vmk::providers
