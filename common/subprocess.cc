#include "common/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>
#include <vector>

extern char** environ;

namespace vmk {
namespace {

// Longest single poll(): bounds how late a deadline on a non-real Clock is noticed, and how
// late the child's exit is noticed where pidfd_open is unavailable.
constexpr std::chrono::milliseconds kMaxPollSlice{100};

std::string ErrnoText(int err) {
  char buf[256];
  return ::strerror_r(err, buf, sizeof(buf));  // GNU variant: returns the message
}

// While alive, SIGPIPE is blocked in this thread, so writing to a child that exited without
// reading its stdin yields EPIPE instead of killing the daemon. A SIGPIPE raised meanwhile is
// consumed before the mask is restored (unless one was already pending before: not ours).
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

// An owned file descriptor.
class Fd {
 public:
  Fd() = default;
  ~Fd() { Close(); }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  bool open() const { return fd_ >= 0; }
  void Reset(int fd) {
    Close();
    fd_ = fd;
  }
  void Close() {
    // close() is not retried on EINTR: on Linux the descriptor is gone either way.
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

// Keeps the tail of a stream within `limit` bytes. When it has to cut, it cuts after a line
// break, so no partial line (which could hold the tail of a secret a caller's redaction would
// no longer recognise) is kept.
void AppendBounded(std::string* buffer, const char* data, size_t n, size_t limit) {
  buffer->append(data, n);
  if (buffer->size() <= limit) return;
  size_t cut = buffer->size() - limit;
  size_t newline = buffer->find('\n', cut);
  buffer->erase(0, newline == std::string::npos ? buffer->size() : newline + 1);
}

// Reads what is available; at EOF or on a hard error the descriptor is closed.
void ReadAvailable(Fd* fd, std::string* buffer, size_t limit) {
  char chunk[4096];
  while (true) {
    ssize_t n = ::read(fd->get(), chunk, sizeof(chunk));
    if (n > 0) {
      AppendBounded(buffer, chunk, static_cast<size_t>(n), limit);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    fd->Close();
    return;
  }
}

// A spawned child, leader of its own process group. Whatever path leaves the scope, the group
// is killed and the leader reaped, so no zombie or stray process is left behind.
class Child {
 public:
  Child() = default;
  ~Child() {
    if (pid_ > 0 && !reaped_) {
      KillGroup(SIGKILL);
      int status;
      Reap(&status);
    }
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  // Returns 0 or an errno value.
  int Spawn(const SubprocessOptions& options) {
    if (options.stdin_data) {
      if (int e = stdin_.Open()) return e;
    }
    if (options.capture_output) {
      if (int e = stdout_.Open()) return e;
      if (int e = stderr_.Open()) return e;
    }
    posix_spawn_file_actions_t actions;
    if (int e = posix_spawn_file_actions_init(&actions)) return e;
    posix_spawnattr_t attr;
    if (int e = posix_spawnattr_init(&attr)) {
      posix_spawn_file_actions_destroy(&actions);
      return e;
    }
    SetUpDescriptors(options, &actions);
    SetUpAttributes(&attr);

    std::vector<char*> argv;
    for (const std::string& arg : options.argv) argv.push_back(const_cast<char*>(arg.c_str()));
    argv.push_back(nullptr);
    pid_t pid = -1;
    // posix_spawn rather than fork+exec: safe in a multi-threaded daemon (glibc uses
    // clone(CLONE_VFORK), no async-signal-safety traps between fork and exec), and exec
    // failures (ENOENT, EACCES) come back as its result.
    int rc = options.search_path
                 ? posix_spawnp(&pid, argv[0], &actions, &attr, argv.data(), environ)
                 : posix_spawn(&pid, argv[0], &actions, &attr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    stdin_.read_end.Close();  // the child's ends: ours are the others
    stdout_.write_end.Close();
    stderr_.write_end.Close();
    if (rc != 0) return rc;
    pid_ = pid;
    pidfd_.Reset(PidfdOpen(pid));
    if (stdin_.write_end.open()) SetNonBlocking(stdin_.write_end.get());
    if (stdout_.read_end.open()) SetNonBlocking(stdout_.read_end.get());
    if (stderr_.read_end.open()) SetNonBlocking(stderr_.read_end.get());
    return 0;
  }

  // Exited (or was killed) but not reaped yet: the pid, and so the group id, stays reserved.
  bool Exited() const {
    siginfo_t info;
    std::memset(&info, 0, sizeof(info));
    if (::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT) != 0) {
      return errno != EINTR;  // ECHILD: nothing left to wait for
    }
    return info.si_pid == pid_;
  }

  void KillGroup(int signal) const {
    if (pid_ > 0 && !reaped_) ::kill(-pid_, signal);
  }

  // Blocks until the leader is gone; only called once it exited or was sent SIGKILL. False
  // when its status could not be collected.
  bool Reap(int* status) {
    int r;
    while ((r = ::waitpid(pid_, status, 0)) < 0 && errno == EINTR) {
    }
    reaped_ = true;
    return r == pid_;
  }

  Fd& stdin_fd() { return stdin_.write_end; }
  Fd& stdout_fd() { return stdout_.read_end; }
  Fd& stderr_fd() { return stderr_.read_end; }
  const Fd& pidfd() const { return pidfd_; }

 private:
  void SetUpDescriptors(const SubprocessOptions& options, posix_spawn_file_actions_t* actions) {
    if (stdin_.read_end.open()) {
      posix_spawn_file_actions_adddup2(actions, stdin_.read_end.get(), STDIN_FILENO);
    } else {
      posix_spawn_file_actions_addopen(actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    }
    if (options.capture_output) {
      posix_spawn_file_actions_adddup2(actions, stdout_.write_end.get(), STDOUT_FILENO);
      posix_spawn_file_actions_adddup2(actions, stderr_.write_end.get(), STDERR_FILENO);
    } else {
      posix_spawn_file_actions_addopen(actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
      posix_spawn_file_actions_adddup2(actions, STDOUT_FILENO, STDERR_FILENO);
    }
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
    // The daemon's other descriptors (sockets, the store), even those another thread opened
    // without O_CLOEXEC, are none of the child's business.
    posix_spawn_file_actions_addclosefrom_np(actions, STDERR_FILENO + 1);
#endif
  }

  static void SetUpAttributes(posix_spawnattr_t* attr) {
    // Own process group (so a timeout can kill all the child started), an empty signal mask
    // and default dispositions (the daemon may ignore SIGPIPE or block signals in this thread).
    posix_spawnattr_setflags(attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                       POSIX_SPAWN_SETSIGDEF);
    posix_spawnattr_setpgroup(attr, 0);
    sigset_t empty, all;
    sigemptyset(&empty);
    sigfillset(&all);
    sigdelset(&all, SIGKILL);
    sigdelset(&all, SIGSTOP);
    posix_spawnattr_setsigmask(attr, &empty);
    posix_spawnattr_setsigdefault(attr, &all);
  }

  Pipe stdin_, stdout_, stderr_;
  Fd pidfd_;
  pid_t pid_ = -1;
  bool reaped_ = false;
};

// Drives one running child to its end: feeds stdin, drains output, enforces the deadline.
class Supervisor {
 public:
  Supervisor(const SubprocessOptions& options, Clock* clock, Child* child, MonoTime start)
      : options_(options), clock_(clock), child_(child), deadline_(start + options.timeout) {}

  // Returns when the child exited, or was given up after the deadline (and grace). Internal
  // when poll fails; the caller's Child then kills and reaps.
  Status Run() {
    while (true) {
      if (child_->Exited()) {
        // It wrote all it will write; take what is buffered without waiting for descendants
        // that may still hold the pipes (they are killed next).
        Drain(&child_->stdout_fd(), &result_.stdout_tail);
        Drain(&child_->stderr_fd(), &result_.stderr_tail);
        return Status::Ok();
      }
      const MonoTime now = clock_->Now();
      if (EnforceDeadline(now)) return Status::Ok();
      VMK_RETURN_IF_ERROR(PollOnce(now));
    }
  }

  SubprocessResult& result() { return result_; }

 private:
  // Signals the group once the deadline has passed. True when the child is to be given up
  // (SIGKILL is due).
  bool EnforceDeadline(MonoTime now) {
    if (!result_.timed_out && now >= deadline_) {
      result_.timed_out = true;
      child_->stdin_fd().Close();
      if (options_.kill_grace <= Duration::zero()) {
        result_.sigkilled = true;
        return true;
      }
      child_->KillGroup(SIGTERM);
      kill_at_ = now + options_.kill_grace;
    }
    if (result_.timed_out && now >= kill_at_) {
      result_.sigkilled = true;
      return true;
    }
    return false;
  }

  // Waits (one slice at most) for stdin to take bytes, output to arrive, or the child to exit,
  // and handles what is ready.
  Status PollOnce(MonoTime now) {
    static const std::string kNoInput;
    const std::string& input = options_.stdin_data ? *options_.stdin_data : kNoInput;
    if (child_->stdin_fd().open() && written_ >= input.size()) {
      child_->stdin_fd().Close();  // EOF: the child may start working
    }
    std::vector<pollfd> fds;
    auto watch = [&fds](const Fd& fd, short events) {
      if (fd.open()) fds.push_back({fd.get(), events, 0});
    };
    watch(child_->stdin_fd(), POLLOUT);
    watch(child_->stdout_fd(), POLLIN);
    watch(child_->stderr_fd(), POLLIN);
    watch(child_->pidfd(), POLLIN);
    const MonoTime until = result_.timed_out ? kill_at_ : deadline_;
    auto wait = std::chrono::ceil<std::chrono::milliseconds>(until - now);
    wait = std::clamp(wait, std::chrono::milliseconds(0), kMaxPollSlice);
    int rc = ::poll(fds.data(), fds.size(), static_cast<int>(wait.count()));
    if (rc < 0 && errno != EINTR) return Status::Internal("poll failed: " + ErrnoText(errno));
    if (rc <= 0) return Status::Ok();
    for (const pollfd& p : fds) {
      if (p.revents == 0) continue;
      if (p.fd == child_->stdin_fd().get()) {
        WriteInput(input);
      } else if (p.fd == child_->stdout_fd().get()) {
        ReadAvailable(&child_->stdout_fd(), &result_.stdout_tail, options_.max_output_bytes);
      } else if (p.fd == child_->stderr_fd().get()) {
        ReadAvailable(&child_->stderr_fd(), &result_.stderr_tail, options_.max_output_bytes);
      }
    }
    return Status::Ok();
  }

  void WriteInput(const std::string& input) {
    ssize_t n = ::write(child_->stdin_fd().get(), input.data() + written_, input.size() - written_);
    if (n > 0) {
      written_ += static_cast<size_t>(n);
    } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
      child_->stdin_fd().Close();  // EPIPE: the child does not read its input; its business
    }
  }

  void Drain(Fd* fd, std::string* buffer) {
    if (fd->open()) ReadAvailable(fd, buffer, options_.max_output_bytes);
  }

  const SubprocessOptions& options_;
  Clock* const clock_;
  Child* const child_;
  const MonoTime deadline_;
  MonoTime kill_at_{};
  size_t written_ = 0;
  SubprocessResult result_;
};

Status Validate(const SubprocessOptions& options, Clock* clock) {
  if (clock == nullptr) return Status::InvalidArgument("subprocess needs a clock");
  if (options.argv.empty() || options.argv[0].empty()) {
    return Status::InvalidArgument("subprocess command is empty");
  }
  if (options.timeout <= Duration::zero()) {
    return Status::InvalidArgument("subprocess timeout must be positive");
  }
  return Status::Ok();
}

}  // namespace

StatusOr<SubprocessResult> RunSubprocess(const SubprocessOptions& options, Clock* clock) {
  VMK_RETURN_IF_ERROR(Validate(options, clock));
  std::optional<ScopedSigpipeBlock> no_sigpipe;
  if (options.stdin_data) no_sigpipe.emplace();

  const MonoTime start = clock->Now();
  Child child;
  if (int err = child.Spawn(options)) return Status::Unavailable(ErrnoText(err));
  Supervisor supervisor(options, clock, &child, start);
  VMK_RETURN_IF_ERROR(supervisor.Run());

  // Whatever the child left in its group goes too; the unreaped leader keeps the group id ours.
  child.KillGroup(SIGKILL);
  int status = 0;
  SubprocessResult& result = supervisor.result();
  if (child.Reap(&status)) {
    if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
    if (WIFSIGNALED(status)) result.term_signal = WTERMSIG(status);
  }
  result.elapsed = clock->Now() - start;
  return std::move(result);
}

}  // namespace vmk
