// Harness for end-to-end tests: a real vmkeeperd process on a free loopback port with its own
// state directory, the real vmkeeper CLI run as a process, and waits on conditions with
// deadlines. Header-only; used by the tests in tests/e2e/ (binary cli_test).
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace vmk::e2e {

namespace fs = std::filesystem;

inline std::string BinDir() { return VMK_BIN_DIR; }
inline std::string SourceDir() { return VMK_SOURCE_DIR; }

// Waits for `condition` until the deadline, looking again every 20 ms.
inline bool WaitFor(const std::function<bool()>& condition,
                    std::chrono::milliseconds deadline = std::chrono::seconds(30)) {
  auto until = std::chrono::steady_clock::now() + deadline;
  while (std::chrono::steady_clock::now() < until) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return condition();
}

inline std::string ReadFile(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

inline void WriteFile(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << text;
}

// A loopback port that was free a moment ago (bind to port 0, read it, close).
inline int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  int port = ntohs(addr.sin_port);
  close(fd);
  return port;
}

// A TCP connection to 127.0.0.1:port whose sends and receives each wait at most `timeout`; -1
// if it cannot be made.
inline int ConnectLoopback(int port, std::chrono::milliseconds timeout) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  timeval tv{static_cast<time_t>(timeout.count() / 1000),
             static_cast<suseconds_t>((timeout.count() % 1000) * 1000)};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

struct HttpResult {
  int status = 0;     // 0 = no answer (refused, reset, timed out)
  std::string body;
};

// One HTTP/1.0 request to 127.0.0.1:port, bounded by `timeout` for connect, send and each read.
// Small on purpose: the e2e tests probe guests and post to Alertmanager with it.
inline HttpResult HttpRequest(int port, const std::string& method, const std::string& path,
                              const std::string& body = "",
                              std::chrono::milliseconds timeout = std::chrono::seconds(2)) {
  HttpResult result;
  const int fd = ConnectLoopback(port, timeout);
  if (fd < 0) return result;
  std::string request = method + " " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n";
  if (!body.empty() || method == "POST") {
    request += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
               "\r\n";
  }
  request += "\r\n" + body;
  if (send(fd, request.data(), request.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(request.size())) {
    close(fd);
    return result;
  }
  std::string answer;
  char buffer[4096];
  for (;;) {
    ssize_t n = recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) break;  // end of the answer, a reset or a timeout
    answer.append(buffer, static_cast<size_t>(n));
  }
  close(fd);
  // "HTTP/1.x NNN ..." then headers, a blank line and the body.
  if (answer.size() < 12 || answer.compare(0, 5, "HTTP/") != 0) return result;
  result.status = std::atoi(answer.c_str() + answer.find(' ') + 1);
  size_t header_end = answer.find("\r\n\r\n");
  if (header_end != std::string::npos) result.body = answer.substr(header_end + 4);
  return result;
}

struct CommandResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs argv (argv[0] a path) with stdout/stderr captured, in `cwd`, with extra environment.
inline CommandResult RunCommand(const std::vector<std::string>& argv, const fs::path& scratch,
                         const std::vector<std::string>& env = {}, const std::string& cwd = "") {
  static int counter = 0;
  fs::path out = scratch / ("cmd-" + std::to_string(++counter) + ".out");
  fs::path err = scratch / ("cmd-" + std::to_string(counter) + ".err");
  pid_t pid = fork();
  if (pid == 0) {
    int o = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int e = open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int in = open("/dev/null", O_RDONLY);
    dup2(o, 1);
    dup2(e, 2);
    dup2(in, 0);
    if (!cwd.empty() && chdir(cwd.c_str()) != 0) _exit(127);
    for (const auto& kv : env) putenv(const_cast<char*>(kv.c_str()));
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  CommandResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = ReadFile(out);
  r.err = ReadFile(err);
  return r;
}

// Runs tests/e2e/libvirt_hosts.sh with `args` on the hosts kept under `base`.
inline CommandResult LibvirtHosts(const fs::path& base, const fs::path& scratch,
                                  const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"/bin/bash", SourceDir() + "/tests/e2e/libvirt_hosts.sh"};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunCommand(argv, scratch, {"BASE=" + base.string()});
}

// A vmkeeperd process. Start() waits until it listens (its --ready-file appears).
class Daemon {
 public:
  explicit Daemon(fs::path state_dir) : state_dir_(std::move(state_dir)) {}
  ~Daemon() { Kill(); }

  bool Start(const std::vector<std::string>& extra_args = {}) {
    port_ = FreePort();
    fs::path ready = state_dir_ / "ready";
    fs::remove(ready);
    fs::create_directories(state_dir_);
    std::vector<std::string> argv = {BinDir() + "/vmkeeperd",
                                     "--store", (state_dir_ / "store").string(),
                                     "--listen", "127.0.0.1:" + std::to_string(port_),
                                     "--embedded-host-dir", (state_dir_ / "embedded").string(),
                                     "--ready-file", ready.string(),
                                     "--resync-seconds", "2"};
    argv.insert(argv.end(), extra_args.begin(), extra_args.end());
    pid_ = fork();
    if (pid_ == 0) {
      int log = open((state_dir_ / "vmkeeperd.log").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      dup2(log, 1);
      dup2(log, 2);
      std::vector<char*> args;
      for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      execv(args[0], args.data());
      _exit(127);
    }
    return WaitFor([&] { return fs::exists(ready) || !Alive(); }) && Alive();
  }

  bool Alive() {
    if (pid_ <= 0) return false;
    int status;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      exit_status_ = status;
      pid_ = -1;
      return false;
    }
    return true;
  }

  void Kill() { Signal(SIGKILL); }
  // Sends SIGTERM and waits for the exit; returns the exit code (or 128+signal).
  int Terminate() {
    if (pid_ <= 0) return -1;
    kill(pid_, SIGTERM);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

  std::string server() const { return "http://127.0.0.1:" + std::to_string(port_); }
  // With --tls-cert/--tls-key the same listener speaks only TLS.
  std::string https_server() const { return "https://127.0.0.1:" + std::to_string(port_); }
  int port() const { return port_; }
  pid_t pid() const { return pid_; }
  std::string Log() const { return ReadFile(state_dir_ / "vmkeeperd.log"); }

 private:
  void Signal(int sig) {
    if (pid_ <= 0) return;
    kill(pid_, sig);
    int status;
    waitpid(pid_, &status, 0);
    pid_ = -1;
  }

  fs::path state_dir_;
  pid_t pid_ = -1;
  int port_ = 0;
  int exit_status_ = 0;
};

// A fresh directory under the system temp dir, removed at the end.
class ScratchDir {
 public:
  explicit ScratchDir(const std::string& name)
      : path_(fs::temp_directory_path() / ("vmk-e2e-" + name + "-" + std::to_string(getpid()))) {
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~ScratchDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

}  // namespace vmk::e2e
