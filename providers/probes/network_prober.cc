#include "providers/probes/network_prober.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <exception>
#include <mutex>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/log.h"

extern char** environ;

namespace vmk::providers {
namespace {

// An owned file descriptor, closed on every path out of a probe.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) {
      Reset();
      fd_ = other.fd_;
      other.fd_ = -1;
    }
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { Reset(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  void Reset() {
    // close() is not retried on EINTR: on Linux the descriptor is gone either way.
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

std::string ErrnoText(int err) {
  char buf[256];
  // GNU strerror_r: returns a pointer to the message, which may or may not be buf.
  return ::strerror_r(err, buf, sizeof(buf));
}

MonoTime Now() { return RealClock::Get()->Now(); }

// Milliseconds left until `deadline`, rounded up so that poll never wakes just before it.
int RemainingMs(MonoTime deadline) {
  auto left = deadline - Now();
  if (left <= Duration::zero()) return 0;
  auto ms = std::chrono::ceil<std::chrono::milliseconds>(left).count();
  return static_cast<int>(std::min<int64_t>(ms, INT_MAX));
}

// Waits for `events` on `fd` until the deadline. Returns 1 when ready, 0 on timeout, -1 with
// errno on error. Retries on EINTR with the time that is left.
int PollUntil(int fd, short events, MonoTime deadline) {
  while (true) {
    pollfd p{fd, events, 0};
    int r = ::poll(&p, 1, RemainingMs(deadline));
    if (r < 0 && errno == EINTR) continue;
    if (r == 0 && Now() < deadline) continue;  // woke early (coarse timers): wait the rest
    return r;
  }
}

std::string TimedOut(const ProbeSpec& spec, const char* what) {
  return "timed out after " + std::to_string(spec.timeout.count()) + " ms (" + what + ")";
}

std::string Endpoint(const std::string& address, int port) {
  bool ipv6_literal = address.find(':') != std::string::npos;
  return (ipv6_literal ? "[" + address + "]" : address) + ":" + std::to_string(port);
}

// Resolves address:port to TCP endpoints. Numeric addresses take a fast path that never
// consults DNS; names go through getaddrinfo, which blocks and ignores the probe's deadline.
bool Resolve(const ProbeSpec& spec, std::vector<sockaddr_storage>* addrs,
             std::vector<socklen_t>* lens, std::string* error) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_protocol = IPPROTO_TCP;
  hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
  std::string service = std::to_string(spec.port);
  addrinfo* list = nullptr;
  int rc = ::getaddrinfo(spec.address.c_str(), service.c_str(), &hints, &list);
  if (rc == EAI_NONAME) {
    hints.ai_flags = AI_NUMERICSERV | AI_ADDRCONFIG;
    rc = ::getaddrinfo(spec.address.c_str(), service.c_str(), &hints, &list);
  }
  if (rc != 0) {
    *error = "cannot resolve " + spec.address + ": " +
             (rc == EAI_SYSTEM ? ErrnoText(errno) : std::string(::gai_strerror(rc)));
    return false;
  }
  for (addrinfo* ai = list; ai != nullptr; ai = ai->ai_next) {
    if (ai->ai_addrlen > sizeof(sockaddr_storage)) continue;
    sockaddr_storage ss{};
    std::memcpy(&ss, ai->ai_addr, ai->ai_addrlen);
    addrs->push_back(ss);
    lens->push_back(ai->ai_addrlen);
  }
  ::freeaddrinfo(list);
  if (addrs->empty()) {
    *error = "cannot resolve " + spec.address + ": no TCP address";
    return false;
  }
  return true;
}

enum class ConnectOutcome { kConnected, kTimedOut, kFailed };

// Non-blocking connect to one endpoint, bounded by the deadline.
ConnectOutcome ConnectOne(const sockaddr_storage& addr, socklen_t len, MonoTime deadline,
                          Fd* out, std::string* error) {
  Fd fd(::socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP));
  if (!fd.valid()) {
    *error = "socket failed: " + ErrnoText(errno);
    return ConnectOutcome::kFailed;
  }
  int err = 0;
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), len) != 0) {
    if (errno != EINPROGRESS && errno != EINTR) {
      err = errno;
    } else {
      int r = PollUntil(fd.get(), POLLOUT, deadline);
      if (r == 0) return ConnectOutcome::kTimedOut;
      if (r < 0) {
        err = errno;
      } else {
        socklen_t err_len = sizeof(err);
        if (::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &err_len) != 0) err = errno;
      }
    }
  }
  if (err != 0) {
    *error = err == ECONNREFUSED ? "connection refused" : "connect failed: " + ErrnoText(err);
    return ConnectOutcome::kFailed;
  }
  *out = std::move(fd);
  return ConnectOutcome::kConnected;
}

// Connects to the first endpoint of the spec that accepts. On failure `result` says why.
bool Connect(const ProbeSpec& spec, MonoTime deadline, Fd* out, ProbeResult* result) {
  std::vector<sockaddr_storage> addrs;
  std::vector<socklen_t> lens;
  std::string error;
  if (!Resolve(spec, &addrs, &lens, &error)) {
    result->message = error;
    return false;
  }
  for (size_t i = 0; i < addrs.size(); ++i) {
    switch (ConnectOne(addrs[i], lens[i], deadline, out, &error)) {
      case ConnectOutcome::kConnected:
        return true;
      case ConnectOutcome::kTimedOut:
        result->message = TimedOut(spec, "connecting");
        return false;
      case ConnectOutcome::kFailed:
        break;  // try the next address; the last error is reported
    }
    if (Now() >= deadline) {
      result->message = TimedOut(spec, "connecting");
      return false;
    }
  }
  result->message = error;
  return false;
}

std::string HostHeader(const ProbeSpec& spec) {
  bool ipv6_literal = spec.address.find(':') != std::string::npos;
  std::string host = ipv6_literal ? "[" + spec.address + "]" : spec.address;
  if (spec.port != 80) host += ":" + std::to_string(spec.port);
  return host;
}

// Printable excerpt of an answer for messages: peers may send anything.
std::string Excerpt(const std::string& text) {
  std::string out;
  for (char c : text.substr(0, 40)) {
    out += (c >= 0x20 && c < 0x7f) ? c : '?';
  }
  return "\"" + out + (text.size() > 40 ? "...\"" : "\"");
}

// Parses "HTTP/1.1 204 No Content" (CR already stripped). Returns the code or -1.
int ParseStatusLine(const std::string& line) {
  auto digit = [](char c) { return c >= '0' && c <= '9'; };
  // "HTTP/" d "." d SP d d d [SP reason]
  if (line.size() < 12 || line.compare(0, 5, "HTTP/") != 0) return -1;
  if (!digit(line[5]) || line[6] != '.' || !digit(line[7]) || line[8] != ' ') return -1;
  if (!digit(line[9]) || !digit(line[10]) || !digit(line[11])) return -1;
  if (line.size() > 12 && line[12] != ' ') return -1;
  return (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
}

ProbeResult ProbeHttp(const ProbeSpec& spec, MonoTime deadline) {
  ProbeResult result;
  std::string path = spec.path.empty() ? "/" : spec.path;
  if (path[0] != '/' || path.find_first_of(" \r\n") != std::string::npos) {
    result.message = "invalid probe: HTTP path must start with / and hold no spaces or newlines";
    return result;
  }
  Fd fd;
  if (!Connect(spec, deadline, &fd, &result)) return result;

  std::string request = "GET " + path + " HTTP/1.1\r\nHost: " + HostHeader(spec) +
                        "\r\nUser-Agent: vmkeeper-probe\r\nAccept: */*\r\n"
                        "Connection: close\r\n\r\n";
  size_t sent = 0;
  while (sent < request.size()) {
    ssize_t n = ::send(fd.get(), request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      int r = PollUntil(fd.get(), POLLOUT, deadline);
      if (r == 0) {
        result.message = TimedOut(spec, "sending the request");
        return result;
      }
      if (r > 0) continue;
    }
    result.message = "send failed: " + ErrnoText(errno);
    return result;
  }

  // Read until the status line is complete; the rest of the answer does not matter.
  constexpr size_t kMaxStatusLine = 4096;
  std::string answer;
  size_t eol;
  while ((eol = answer.find('\n')) == std::string::npos) {
    if (answer.size() > kMaxStatusLine) {
      result.message = "bad HTTP answer: status line too long";
      return result;
    }
    int r = PollUntil(fd.get(), POLLIN, deadline);
    if (r == 0) {
      result.message = TimedOut(spec, "waiting for the HTTP answer");
      return result;
    }
    if (r < 0) {
      result.message = "receive failed: " + ErrnoText(errno);
      return result;
    }
    char buf[1024];
    ssize_t n = ::recv(fd.get(), buf, sizeof(buf), 0);
    if (n > 0) {
      answer.append(buf, static_cast<size_t>(n));
    } else if (n == 0) {
      result.message = answer.empty() ? "connection closed without an answer"
                                      : "bad HTTP answer: " + Excerpt(answer);
      return result;
    } else if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK) {
      result.message = errno == ECONNRESET ? "connection reset by peer"
                                           : "receive failed: " + ErrnoText(errno);
      return result;
    }
  }
  std::string line = answer.substr(0, eol);
  if (!line.empty() && line.back() == '\r') line.pop_back();
  int code = ParseStatusLine(line);
  if (code < 0) {
    result.message = "bad HTTP answer: " + Excerpt(line);
    return result;
  }
  result.healthy = code >= 200 && code <= 299;
  result.message = "HTTP " + std::to_string(code);
  return result;
}

ProbeResult ProbeTcp(const ProbeSpec& spec, MonoTime deadline) {
  ProbeResult result;
  Fd fd;
  if (!Connect(spec, deadline, &fd, &result)) return result;
  result.healthy = true;
  result.message = "connected to " + Endpoint(spec.address, spec.port);
  return result;
}

// Waits until the child `pid` has exited, without reaping it (so its pid and process group
// stay reserved). Returns false when the deadline passed first.
bool WaitForExit(pid_t pid, MonoTime deadline) {
  Fd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  if (pidfd.valid()) {
    // A pidfd becomes readable when the process exits.
    int r = PollUntil(pidfd.get(), POLLIN, deadline);
    if (r >= 0) return r > 0;
    // poll on a pidfd failing is not expected; the fallback below still honours the deadline.
  }
  // Kernels without pidfd_open (before 5.3) or sandboxes that forbid it: check with
  // waitid(WNOWAIT) on a short, growing interval. Polling is bounded by the probe's timeout.
  static std::once_flag warned;
  int pidfd_errno = errno;
  std::call_once(warned, [pidfd_errno] {
    log::Warning("pidfd_open unavailable; exec probes poll for their child's exit",
                 {{"error", ErrnoText(pidfd_errno)}});
  });
  int interval_ms = 1;
  while (true) {
    siginfo_t info{};
    if (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) != 0) {
      if (errno == EINTR) continue;
      return true;  // ECHILD: someone else reaped it; nothing is left to wait for
    }
    if (info.si_pid != 0) return true;
    int left = RemainingMs(deadline);
    if (left == 0) return false;
    ::poll(nullptr, 0, std::min(interval_ms, left));
    interval_ms = std::min(interval_ms * 2, 50);
  }
}

ProbeResult ProbeExec(const ProbeSpec& spec, MonoTime deadline) {
  ProbeResult result;
  if (spec.command.empty() || spec.command[0].empty()) {
    result.message = "invalid probe: exec command is empty";
    return result;
  }
  std::vector<char*> argv;
  for (const std::string& arg : spec.command) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);

  // posix_spawn rather than fork+exec: it is safe in a multi-threaded daemon (glibc uses
  // clone(CLONE_VFORK), no async-signal-safety traps between fork and exec) and reports exec
  // failures (ENOENT, EACCES) as its return value.
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  if (posix_spawn_file_actions_init(&actions) != 0) {
    result.message = "exec failed: cannot set up file actions";
    return result;
  }
  if (posix_spawnattr_init(&attr) != 0) {
    posix_spawn_file_actions_destroy(&actions);
    result.message = "exec failed: cannot set up spawn attributes";
    return result;
  }
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
  // Descriptors other threads opened without O_CLOEXEC must not leak into the command.
  posix_spawn_file_actions_addclosefrom_np(&actions, 3);
#endif
  // A process group of its own, so a timeout kills everything the command started; signals
  // the daemon blocks or ignores (SIGPIPE, ...) are restored to their defaults.
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                      POSIX_SPAWN_SETSIGDEF);
  posix_spawnattr_setpgroup(&attr, 0);
  sigset_t mask;
  sigemptyset(&mask);
  posix_spawnattr_setsigmask(&attr, &mask);
  sigset_t defaults;
  sigemptyset(&defaults);
  for (int sig : {SIGPIPE, SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGCHLD, SIGUSR1, SIGUSR2}) {
    sigaddset(&defaults, sig);
  }
  posix_spawnattr_setsigdefault(&attr, &defaults);

  pid_t pid = -1;
  int rc = ::posix_spawnp(&pid, argv[0], &actions, &attr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    result.message = "exec failed: " + ErrnoText(rc);
    return result;
  }

  bool exited = WaitForExit(pid, deadline);
  // The child is not reaped yet, so its pid is still its group's id: kill the group. On a
  // timeout this stops the command; after an exit it stops whatever it left running.
  ::kill(-pid, SIGKILL);
  int status = 0;
  pid_t waited;
  do {
    waited = ::waitpid(pid, &status, 0);
  } while (waited < 0 && errno == EINTR);

  if (!exited) {
    result.message = TimedOut(spec, "command killed");
    return result;
  }
  if (waited < 0) {
    result.message = "exit status unknown: " + ErrnoText(errno);
  } else if (WIFEXITED(status)) {
    result.healthy = WEXITSTATUS(status) == 0;
    result.message = "exit status " + std::to_string(WEXITSTATUS(status));
  } else if (WIFSIGNALED(status)) {
    result.message = "killed by signal " + std::to_string(WTERMSIG(status));
  } else {
    result.message = "exit status unknown";
  }
  return result;
}

}  // namespace

ProbeResult NetworkProber::Probe(const ProbeSpec& spec) {
  try {
    ProbeResult result;
    if (spec.timeout.count() <= 0) {
      result.message = "invalid probe: timeout must be positive";
      return result;
    }
    if (spec.type != ProbeSpec::Type::kExec && (spec.port < 1 || spec.port > 65535)) {
      result.message = "invalid probe: port " + std::to_string(spec.port) + " out of range";
      return result;
    }
    MonoTime deadline = Now() + spec.timeout;
    switch (spec.type) {
      case ProbeSpec::Type::kHttp:
      case ProbeSpec::Type::kTcp: {
        // "[::1]" as written in URLs is the address ::1.
        ProbeSpec target = spec;
        if (target.address.size() > 2 && target.address.front() == '[' &&
            target.address.back() == ']') {
          target.address = target.address.substr(1, target.address.size() - 2);
        }
        return spec.type == ProbeSpec::Type::kHttp ? ProbeHttp(target, deadline)
                                                   : ProbeTcp(target, deadline);
      }
      case ProbeSpec::Type::kExec:
        return ProbeExec(spec, deadline);
    }
    result.message = "invalid probe: unknown type";
    return result;
  } catch (const std::exception& e) {
    return ProbeResult{false, std::string("probe failed: ") + e.what()};
  } catch (...) {
    return ProbeResult{false, "probe failed"};
  }
}

}  // namespace vmk::providers
