// api_bench: the REST API's `get vms` (GET /api/v1/virtualmachines) over a real vmkeeperd with
// 1,000 VMs, with authentication and TLS off and on, and during a connection flood.
//
// A real vmkeeperd (the built binary) on a RocksDB store in a scratch directory, hosts on
// libvirt's test driver (test:///embedded/NAME); the fleet is applied over the API as the CLI
// would (POST /api/v1/apply). The daemon is started three times on the same store: plain HTTP
// without credentials, plain HTTP with a tokens file, and TLS (a certificate of a test CA made
// with tests/fakes/test_pki.h) with the tokens file; each time the bench waits until every VM is
// Ready and the work queue idle before it measures. Per mode, --requests GETs one after the
// other, on a new connection per request (what the CLI does: one process, one connection; the
// TLS handshake is included, never resumed) and on one kept-alive connection.
//
// The flood (plain HTTP with tokens, the daemon's default connection limits): --flood TCP
// connections that send nothing (idle) or one byte of a never-ending header per second
// (slowloris), reopened as soon as the server resets them. First the flood opens its
// connections without reopening them, and the bench times how long the ConnectionReaper takes to
// bring them down to --max-connections (default 256); then it reopens every reset connection,
// and a separate, well-behaved client measures `get vms` as above, against the same figures
// without a flood.
//
//   api_bench [--vms 1000] [--hosts 10] [--requests 200] [--flood 1000] [--no-slowloris]
//
// Prints a table and one line `JSON {...}`. Needs no root. Hold the build lock while it runs.
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "bench/bench_util.h"
#include "cli/token_authenticator.h"
#include "tests/e2e/daemon_harness.h"
#include "tests/fakes/test_pki.h"

namespace vmk::bench {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr const char kViewerToken[] = "api-bench-viewer-token-0123456789abcdef";
constexpr const char kVmsPath[] = "/api/v1/virtualmachines";
constexpr int kDefaultMaxConnections = 256;  // vmkeeperd's --max-connections default

struct Flags {
  int vms = 1000;
  int hosts = 10;
  int requests = 200;
  int flood = 1000;
  bool slowloris = true;
  int resync_seconds = 3600;
  int timeout_seconds = 300;
  std::string dir;
  bool keep_dir = false;
};

// ---------------------------------------------------------------------------------------------
// An HTTP/1.1 client connection to 127.0.0.1, plain or TLS: blocking socket, 30 s per read.

struct Answer {
  int status = 0;
  size_t body_bytes = 0;
  std::string body;
  bool server_closes = false;  // Connection: close, or HTTP/1.0
};

class ApiConnection {
 public:
  // Connects (and with `tls`, does the whole handshake, verifying 127.0.0.1 in the certificate).
  static std::unique_ptr<ApiConnection> Open(int port, SSL_CTX* tls, std::string* error) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      *error = std::string("socket: ") + std::strerror(errno);
      return nullptr;
    }
    std::unique_ptr<ApiConnection> conn(new ApiConnection(fd));
    timeval tv{30, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(port));
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      *error = std::string("connect: ") + std::strerror(errno);
      return nullptr;
    }
    if (tls != nullptr) {
      conn->ssl_ = SSL_new(tls);
      SSL_set_fd(conn->ssl_, fd);
      X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(conn->ssl_), "127.0.0.1");
      if (SSL_connect(conn->ssl_) != 1) {
        char text[256];
        ERR_error_string_n(ERR_get_error(), text, sizeof text);
        ERR_clear_error();
        *error = std::string("TLS handshake: ") + text;
        return nullptr;
      }
    }
    return conn;
  }

  ~ApiConnection() {
    if (ssl_ != nullptr) {
      SSL_shutdown(ssl_);
      SSL_free(ssl_);
    }
    close(fd_);
  }
  ApiConnection(const ApiConnection&) = delete;
  ApiConnection& operator=(const ApiConnection&) = delete;

  // One request and its whole answer (Content-Length, chunked, or up to the close).
  bool Request(const std::string& method, const std::string& path, const std::string& token,
               const std::string& body, bool keep_alive, Answer* answer, std::string* error) {
    std::string request = method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
    if (!token.empty()) request += "Authorization: Bearer " + token + "\r\n";
    if (!keep_alive) request += "Connection: close\r\n";
    if (!body.empty()) {
      request += "Content-Type: application/json\r\nContent-Length: " +
                 std::to_string(body.size()) + "\r\n";
    }
    request += "\r\n" + body;
    if (!WriteAll(request)) {
      *error = "write failed";
      return false;
    }
    *answer = Answer{};
    size_t head_end;
    while ((head_end = buffered_.find("\r\n\r\n")) == std::string::npos) {
      if (!ReadMore()) {
        *error = buffered_.empty() ? "no answer (closed or reset)" : "answer head cut off";
        return false;
      }
    }
    const std::string head = buffered_.substr(0, head_end + 2);
    buffered_.erase(0, head_end + 4);
    if (head.compare(0, 5, "HTTP/") != 0) {
      *error = "not HTTP";
      return false;
    }
    answer->status = std::atoi(head.c_str() + head.find(' ') + 1);
    answer->server_closes = head.compare(0, 8, "HTTP/1.0") == 0;
    long content_length = -1;
    bool chunked = false;
    for (size_t at = head.find("\r\n") + 2; at < head.size();) {
      size_t eol = head.find("\r\n", at);
      std::string line = head.substr(at, eol - at);
      at = eol + 2;
      size_t colon = line.find(':');
      if (colon == std::string::npos) continue;
      std::string name = line.substr(0, colon);
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      std::string value = line.substr(std::min(line.size(), line.find_first_not_of(' ', colon + 1)));
      for (char& c : value) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (name == "content-length") content_length = std::atol(value.c_str());
      if (name == "transfer-encoding" && value.find("chunked") != std::string::npos) chunked = true;
      if (name == "connection" && value == "close") answer->server_closes = true;
    }
    if (chunked) {
      for (;;) {
        size_t eol;
        while ((eol = buffered_.find("\r\n")) == std::string::npos) {
          if (!ReadMore()) return Cut(error);
        }
        const size_t size = std::strtoul(buffered_.c_str(), nullptr, 16);
        while (buffered_.size() < eol + 2 + size + 2) {
          if (!ReadMore()) return Cut(error);
        }
        answer->body.append(buffered_, eol + 2, size);
        buffered_.erase(0, eol + 2 + size + 2);
        if (size == 0) break;  // (no trailers from cpprestsdk)
      }
    } else if (content_length >= 0) {
      while (buffered_.size() < static_cast<size_t>(content_length)) {
        if (!ReadMore()) return Cut(error);
      }
      answer->body = buffered_.substr(0, static_cast<size_t>(content_length));
      buffered_.erase(0, static_cast<size_t>(content_length));
    } else {
      while (ReadMore()) {
      }
      answer->body = std::move(buffered_);
      buffered_.clear();
      answer->server_closes = true;
    }
    answer->body_bytes = answer->body.size();
    return true;
  }

 private:
  explicit ApiConnection(int fd) : fd_(fd) {}

  static bool Cut(std::string* error) {
    *error = "answer body cut off";
    return false;
  }

  bool WriteAll(const std::string& data) {
    size_t done = 0;
    while (done < data.size()) {
      ssize_t n = ssl_ != nullptr
                      ? SSL_write(ssl_, data.data() + done, static_cast<int>(data.size() - done))
                      : send(fd_, data.data() + done, data.size() - done, MSG_NOSIGNAL);
      if (n <= 0) return false;
      done += static_cast<size_t>(n);
    }
    return true;
  }

  bool ReadMore() {
    char buffer[65536];
    ssize_t n = ssl_ != nullptr ? SSL_read(ssl_, buffer, sizeof buffer)
                                : recv(fd_, buffer, sizeof buffer, 0);
    if (n <= 0) {
      ERR_clear_error();
      return false;
    }
    buffered_.append(buffer, static_cast<size_t>(n));
    return true;
  }

  int fd_;
  SSL* ssl_ = nullptr;
  std::string buffered_;  // bytes read past the answer handled last
};

// ---------------------------------------------------------------------------------------------
// vmkeeperd as a child process, on a free loopback port.

class DaemonProcess {
 public:
  DaemonProcess(fs::path dir, std::vector<std::string> extra_args)
      : dir_(std::move(dir)), extra_args_(std::move(extra_args)) {}
  ~DaemonProcess() { Stop(); }

  bool Start(int resync_seconds) {
    port_ = e2e::FreePort();
    const fs::path ready = dir_ / "ready";
    fs::remove(ready);
    std::vector<std::string> argv = {e2e::BinDir() + "/vmkeeperd",
                                     "--store", (dir_ / "store").string(),
                                     "--embedded-host-dir", (dir_ / "embedded").string(),
                                     "--ready-file", ready.string(),
                                     "--listen", "127.0.0.1:" + std::to_string(port_),
                                     "--resync-seconds", std::to_string(resync_seconds),
                                     "--log-level", "warning"};
    argv.insert(argv.end(), extra_args_.begin(), extra_args_.end());
    pid_ = fork();
    if (pid_ == 0) {
      int log = open((dir_ / "vmkeeperd.log").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      dup2(log, 1);
      dup2(log, 2);
      std::vector<char*> c_args;
      for (const auto& a : argv) c_args.push_back(const_cast<char*>(a.c_str()));
      c_args.push_back(nullptr);
      execv(c_args[0], c_args.data());
      _exit(127);
    }
    return e2e::WaitFor([&] { return fs::exists(ready) || !Alive(); }) && Alive();
  }

  bool Alive() {
    if (pid_ <= 0) return false;
    if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
      pid_ = -1;
      return false;
    }
    return true;
  }

  void Stop() {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

  int port() const { return port_; }

  // The ConnectionReaper's warnings so far: {"scans": lines, "<counter>": sum, ...}.
  Json ReaperCounts() const {
    Json counts = {{"scans", 0}, {"overConnectionLimit", 0}, {"idleTimeouts", 0},
                   {"requestTimeouts", 0}, {"requestTooLarge", 0}};
    std::istringstream log(e2e::ReadFile(dir_ / "vmkeeperd.log"));
    for (std::string line; std::getline(log, line);) {
      const Json record = Json::parse(line, nullptr, false);
      if (record.is_discarded() || record.value("msg", "") != "closed client connections") {
        continue;
      }
      counts["scans"] = counts["scans"].get<int64_t>() + 1;
      for (const char* key : {"overConnectionLimit", "idleTimeouts", "requestTimeouts",
                              "requestTooLarge"}) {
        counts[key] = counts[key].get<int64_t>() + std::atoll(record.value(key, "0").c_str());
      }
    }
    return counts;
  }

  std::string LogTail() const {
    const std::string log = e2e::ReadFile(dir_ / "vmkeeperd.log");
    return log.size() > 2000 ? log.substr(log.size() - 2000) : log;
  }

 private:
  fs::path dir_;
  std::vector<std::string> extra_args_;
  pid_t pid_ = -1;
  int port_ = 0;
};

// ---------------------------------------------------------------------------------------------
// The flood: connections that never complete a request, reopened when the server resets them.

class Flood {
 public:
  enum class Kind { kIdle, kSlowloris };

  Flood(int port, int connections, Kind kind) : port_(port), target_(connections), kind_(kind) {}
  ~Flood() { Stop(); }

  void Start() { thread_ = std::thread([this] { Run(); }); }
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  void set_reopen(bool reopen) { reopen_ = reopen; }

  int open() const { return open_; }                // connected, not yet reset
  int64_t opened() const { return opened_; }        // connections made so far
  int64_t ended() const { return ended_; }          // reset or closed by the server
  int64_t bytes_sent() const { return bytes_sent_; }

 private:
  struct Slot {
    int fd = -1;
    bool connected = false;
    size_t sent = 0;  // slowloris: header bytes sent
  };

  // A never-ending head: the request line and headers, then one header value forever.
  static char HeadByte(size_t at) {
    static const std::string head =
        "GET /api/v1/virtualmachines HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ";
    return at < head.size() ? head[at] : 'a';
  }

  void Connect(Slot* slot) {
    slot->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    slot->connected = false;
    slot->sent = 0;
    if (slot->fd < 0) return;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(port_));
    if (connect(slot->fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
      slot->connected = true;
      ++opened_;
    } else if (errno != EINPROGRESS) {
      close(slot->fd);
      slot->fd = -1;
    }
  }

  void Run() {
    std::vector<Slot> slots(static_cast<size_t>(target_));
    for (Slot& slot : slots) Connect(&slot);
    auto next_dribble = Clock::now() + std::chrono::seconds(1);
    std::vector<pollfd> fds(slots.size());
    while (!stop_) {
      for (size_t i = 0; i < slots.size(); ++i) {
        fds[i] = {slots[i].fd, static_cast<short>(slots[i].connected ? POLLIN : POLLOUT), 0};
      }
      // The timeout paces the slowloris bytes and the reopening; events wake it at once.
      poll(fds.data(), fds.size(), 100);
      int open = 0;
      for (size_t i = 0; i < slots.size(); ++i) {
        Slot& slot = slots[i];
        if (slot.fd < 0) {
          if (reopen_) Connect(&slot);
          continue;
        }
        if (!slot.connected && (fds[i].revents & POLLOUT) != 0) {
          int err = 0;
          socklen_t len = sizeof err;
          getsockopt(slot.fd, SOL_SOCKET, SO_ERROR, &err, &len);
          if (err == 0) {
            slot.connected = true;
            ++opened_;
          } else {
            close(slot.fd);
            slot.fd = -1;
            continue;
          }
        } else if (slot.connected && (fds[i].revents & (POLLIN | POLLERR | POLLHUP)) != 0) {
          // The server never answers a flood connection: readable means reset or closed.
          char byte;
          ssize_t n = recv(slot.fd, &byte, 1, 0);
          if (n <= 0 && !(n < 0 && errno == EAGAIN)) {
            close(slot.fd);
            slot.fd = -1;
            ++ended_;
            if (reopen_) Connect(&slot);
            continue;
          }
        }
        if (slot.connected) ++open;
      }
      open_ = open;
      if (kind_ == Kind::kSlowloris && Clock::now() >= next_dribble) {
        next_dribble += std::chrono::seconds(1);
        for (Slot& slot : slots) {
          if (!slot.connected) continue;
          char byte = HeadByte(slot.sent);
          if (send(slot.fd, &byte, 1, MSG_NOSIGNAL) == 1) {
            ++slot.sent;
            ++bytes_sent_;
          }
        }
      }
    }
    for (Slot& slot : slots) {
      if (slot.fd >= 0) close(slot.fd);
    }
    open_ = 0;
  }

  const int port_;
  const int target_;
  const Kind kind_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> reopen_{false};
  std::atomic<int> open_{0};
  std::atomic<int64_t> opened_{0};
  std::atomic<int64_t> ended_{0};
  std::atomic<int64_t> bytes_sent_{0};
};

// ---------------------------------------------------------------------------------------------
// The benchmark.

std::string HostName(int i) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "hv%03d", i);
  return buf;
}

// hosts.yaml and vms.yaml of the fleet: 1-CPU, 256 MiB VMs, hosts with room for twice their
// even share.
std::string ApplyBody(const Flags& flags) {
  const int per_host = (flags.vms + flags.hosts - 1) / flags.hosts;
  std::string hosts;
  for (int i = 0; i < flags.hosts; ++i) {
    hosts += "apiVersion: vmkeeper/v1\nkind: Host\nmetadata:\n  name: " + HostName(i) +
             "\nspec:\n  uri: test:///embedded/" + HostName(i) + "\n  capacity: {cpus: " +
             std::to_string(std::max(64, 2 * per_host)) + ", memoryMiB: " +
             std::to_string(std::max(262144, 512 * per_host)) + "}\n---\n";
  }
  std::string vms;
  for (int i = 0; i < flags.vms; ++i) {
    char name[16];
    std::snprintf(name, sizeof name, "vm%05d", i);
    vms += "apiVersion: vmkeeper/v1\nkind: VirtualMachine\nmetadata:\n  name: " +
           std::string(name) + "\n  labels: {service: svc" + std::to_string(i % 100) +
           "}\nspec:\n  cpus: 1\n  memoryMiB: 256\n  disks:\n    - {name: root, image: "
           "/var/lib/vmkeeper/images/" + name + ".qcow2, format: qcow2, sizeGiB: 1}\n---\n";
  }
  return Json{{"files", {{{"name", "hosts.yaml"}, {"content", hosts}},
                         {{"name", "vms.yaml"}, {"content", vms}}}}}
      .dump();
}

class ApiBench {
 public:
  explicit ApiBench(Flags flags) : flags_(std::move(flags)) {}
  ~ApiBench() {
    if (tls_ != nullptr) SSL_CTX_free(tls_);
    if (!flags_.keep_dir && !dir_.empty()) {
      std::error_code ec;
      fs::remove_all(dir_, ec);
    }
  }

  int Run() {
    if (!Setup()) return 1;
    report_["config"] = {{"vms", flags_.vms},         {"hosts", flags_.hosts},
                         {"requests", flags_.requests}, {"flood", flags_.flood},
                         {"resync_seconds", flags_.resync_seconds}};
    std::printf("%-44s %9s %9s %9s %9s %11s %6s\n", "get vms (ms)", "p50", "p99", "max", "mean",
                "body bytes", "fails");

    // 1. Plain HTTP, no credentials: the fleet is applied here.
    {
      DaemonProcess daemon(dir_, {});
      if (!StartAndSettle(&daemon, nullptr, "", true)) return 1;
      if (!Measure("plain, no auth, new connection", daemon.port(), nullptr, "", false)) return 1;
      if (!Measure("plain, no auth, kept-alive", daemon.port(), nullptr, "", true)) return 1;
    }
    // 2. Plain HTTP with bearer tokens; the floods run here.
    {
      DaemonProcess daemon(dir_, {"--token-file", tokens_file_});
      if (!StartAndSettle(&daemon, nullptr, kViewerToken, false)) return 1;
      if (!Measure("plain + token, new connection", daemon.port(), nullptr, kViewerToken, false)) {
        return 1;
      }
      if (!Measure("plain + token, kept-alive", daemon.port(), nullptr, kViewerToken, true)) {
        return 1;
      }
      if (flags_.flood > 0) {
        if (!RunFlood(Flood::Kind::kIdle, daemon)) return 1;
        if (flags_.slowloris && !RunFlood(Flood::Kind::kSlowloris, daemon)) return 1;
      }
    }
    // 3. TLS with bearer tokens.
    {
      DaemonProcess daemon(dir_, {"--token-file", tokens_file_, "--tls-cert", server_cert_,
                                  "--tls-key", server_key_});
      if (!StartAndSettle(&daemon, tls_, kViewerToken, false)) return 1;
      if (!Measure("TLS + token, new connection (handshake)", daemon.port(), tls_, kViewerToken,
                   false)) {
        return 1;
      }
      if (!Measure("TLS + token, kept-alive", daemon.port(), tls_, kViewerToken, true)) return 1;
    }
    std::printf("JSON %s\n", report_.dump().c_str());
    return 0;
  }

 private:
  bool Setup() {
    struct rlimit files;
    getrlimit(RLIMIT_NOFILE, &files);
    const rlim_t needed = static_cast<rlim_t>(flags_.flood) + 256;
    if (files.rlim_cur < needed) {
      files.rlim_cur = std::min(files.rlim_max, std::max(needed, files.rlim_cur));
      setrlimit(RLIMIT_NOFILE, &files);  // vmkeeperd inherits it (and raises its own to the max)
      getrlimit(RLIMIT_NOFILE, &files);
      if (files.rlim_cur < needed) {
        std::fprintf(stderr, "api_bench: the flood needs %llu open files, the hard limit is %llu\n",
                     static_cast<unsigned long long>(needed),
                     static_cast<unsigned long long>(files.rlim_max));
        return false;
      }
    }
    dir_ = flags_.dir.empty()
               ? fs::temp_directory_path() / ("vmk-api-bench-" + std::to_string(getpid()))
               : fs::path(flags_.dir);
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    fakes::TestPki pki(dir_.string(), "api-bench");
    fakes::IssuedCertificate server = pki.Issue("vmkeeperd", {"IP:127.0.0.1", "DNS:localhost"});
    server_cert_ = server.certificate_file;
    server_key_ = server.key_file;
    tls_ = SSL_CTX_new(TLS_client_method());
    if (SSL_CTX_load_verify_locations(tls_, pki.ca_file().c_str(), nullptr) != 1) {
      std::fprintf(stderr, "api_bench: cannot load %s\n", pki.ca_file().c_str());
      return false;
    }
    SSL_CTX_set_verify(tls_, SSL_VERIFY_PEER, nullptr);
    // No session cache: every new connection is a full handshake, as a new CLI process makes.
    SSL_CTX_set_session_cache_mode(tls_, SSL_SESS_CACHE_OFF);
    tokens_file_ = (dir_ / "tokens").string();
    e2e::WriteFile(tokens_file_, "bench-viewer viewer sha256:" + cli::Sha256Hex(kViewerToken) + "\n");
    return true;
  }

  // One request on a fresh connection; false with `error` on any failure.
  bool OneShot(int port, SSL_CTX* tls, const std::string& method, const std::string& path,
               const std::string& token, const std::string& body, Answer* answer,
               std::string* error) {
    auto conn = ApiConnection::Open(port, tls, error);
    return conn && conn->Request(method, path, token, body, false, answer, error);
  }

  // Starts the daemon, applies the fleet if asked, and waits until every VM is Ready, each was
  // reconciled since this start, and the work queue is idle.
  bool StartAndSettle(DaemonProcess* daemon, SSL_CTX* tls, const std::string& token,
                      bool apply) {
    if (!daemon->Start(flags_.resync_seconds)) {
      std::fprintf(stderr, "api_bench: vmkeeperd did not start:\n%s\n", daemon->LogTail().c_str());
      return false;
    }
    Answer answer;
    std::string error;
    if (apply) {
      const auto start = Clock::now();
      if (!OneShot(daemon->port(), tls, "POST", "/api/v1/apply", token, ApplyBody(flags_),
                   &answer, &error) ||
          answer.status != 200) {
        std::fprintf(stderr, "api_bench: apply: %s %d %s\n", error.c_str(), answer.status,
                     answer.body.substr(0, 500).c_str());
        return false;
      }
      report_["apply_ms"] = MsBetween(start, Clock::now());
    }
    const auto start = Clock::now();
    std::string last;
    bool settled = e2e::WaitFor(
        [&] {
          if (!OneShot(daemon->port(), tls, "GET", "/metrics", token, "", &answer, &error) ||
              answer.status != 200) {
            last = "metrics: " + error;
            return false;
          }
          const double reconciled =
              MetricSum(answer.body, "vmkeeper_reconcile_total", {"kind=\"vm\""});
          const double busy = MetricSum(answer.body, "vmkeeper_workqueue_depth") +
                              MetricSum(answer.body, "vmkeeper_workqueue_active_workers");
          if (reconciled < flags_.vms || busy > 0) {
            last = "reconciled " + std::to_string(reconciled) + ", queue " + std::to_string(busy);
            return false;
          }
          if (!OneShot(daemon->port(), tls, "GET", kVmsPath, token, "", &answer, &error) ||
              answer.status != 200) {
            last = "list: " + error;
            return false;
          }
          const Json list = Json::parse(answer.body, nullptr, false);
          if (list.is_discarded() || !list.contains("items")) return false;
          int ready = 0;
          for (const Json& item : list.at("items")) {
            if (!item.contains("status") || !item.at("status").is_object()) continue;
            for (const Json& c : item.at("status").value("conditions", Json::array())) {
              if (c.value("type", "") == "Ready" && c.value("status", "") == "True") ++ready;
            }
          }
          last = std::to_string(ready) + " of " + std::to_string(list.at("items").size()) + " Ready";
          return ready == flags_.vms;
        },
        std::chrono::seconds(flags_.timeout_seconds));
    if (!settled) {
      std::fprintf(stderr, "api_bench: the fleet did not settle: %s\n%s\n", last.c_str(),
                   daemon->LogTail().c_str());
      return false;
    }
    report_["settle_ms"].push_back(MsBetween(start, Clock::now()));
    return true;
  }

  // --requests GETs of the VM list, one after the other; the first 5 are warm-up, not counted.
  bool Measure(const std::string& name, int port, SSL_CTX* tls, const std::string& token,
               bool keep_alive, Json* out = nullptr) {
    std::vector<double> samples;
    size_t body_bytes = 0;
    int failures = 0;
    std::string first_error;
    std::unique_ptr<ApiConnection> conn;
    for (int i = -5; i < flags_.requests; ++i) {
      Answer answer;
      std::string error;
      const auto start = Clock::now();
      if (!keep_alive || !conn) conn = ApiConnection::Open(port, tls, &error);
      bool ok = conn && conn->Request("GET", kVmsPath, token, "", keep_alive, &answer, &error);
      const double ms = MsBetween(start, Clock::now());
      if (!keep_alive || answer.server_closes) conn.reset();
      if (!ok || answer.status != 200) {
        conn.reset();
        if (i >= 0) ++failures;
        if (first_error.empty()) {
          first_error = ok ? "status " + std::to_string(answer.status) : error;
        }
        continue;
      }
      body_bytes = answer.body_bytes;
      if (i >= 0) samples.push_back(ms);
    }
    std::sort(samples.begin(), samples.end());
    const Summary s = Summarize(samples);
    const double p99 = Percentile(samples, 0.99);
    std::printf("%-44s %9.2f %9.2f %9.2f %9.2f %11zu %6d%s\n", name.c_str(), s.median, p99, s.max,
                s.mean, body_bytes, failures,
                first_error.empty() ? "" : ("  (first: " + first_error + ")").c_str());
    std::fflush(stdout);
    Json entry = s.ToJson();
    entry["p99"] = p99;
    entry["body_bytes"] = body_bytes;
    entry["failures"] = failures;
    entry["first_error"] = first_error;
    report_["modes"][name] = entry;
    if (out != nullptr) *out = entry;
    return !samples.empty();
  }

  // Nearest rank, on sorted samples.
  static double Percentile(const std::vector<double>& sorted, double p) {
    if (sorted.empty()) return 0;
    size_t rank = static_cast<size_t>(std::ceil(p * static_cast<double>(sorted.size())));
    return sorted[std::clamp<size_t>(rank, 1, sorted.size()) - 1];
  }

  bool RunFlood(Flood::Kind kind, const DaemonProcess& daemon) {
    const int port = daemon.port();
    const Json reaped_before = daemon.ReaperCounts();
    const char* kind_name = kind == Flood::Kind::kIdle ? "idle" : "slowloris";
    Json result;
    Flood flood(port, flags_.flood, kind);
    const auto start = Clock::now();
    flood.Start();
    // Every connection made once, then brought down to the cap by the reaper.
    const bool all_opened = e2e::WaitFor([&] { return flood.opened() >= flags_.flood; },
                                         std::chrono::seconds(30));
    const double opened_ms = MsBetween(start, Clock::now());
    const bool capped = e2e::WaitFor([&] { return flood.open() <= kDefaultMaxConnections; },
                                     std::chrono::seconds(30));
    const double capped_ms = MsBetween(start, Clock::now());
    result["opened_all"] = all_opened;
    result["opened_ms"] = opened_ms;
    result["down_to_cap"] = capped;
    result["down_to_cap_ms"] = capped_ms;
    result["open_at_cap"] = flood.open();
    result["ended_by_server_before_reopen"] = flood.ended();
    std::printf("  %s flood of %d: all connected after %.0f ms; %s %d open after %.0f ms "
                "(%lld ended by the server)\n",
                kind_name, flags_.flood, opened_ms, capped ? "down to" : "NOT down to the cap:",
                flood.open(), capped_ms, static_cast<long long>(flood.ended()));
    // From here every connection the server ends is opened again at once.
    flood.set_reopen(true);
    const int64_t ended_before = flood.ended();
    const auto measure_start = Clock::now();
    Json figures;
    const bool measured =
        Measure(std::string("plain + token, new connection, ") + kind_name + " flood", port,
                nullptr, kViewerToken, false, &figures);
    const double seconds = MsBetween(measure_start, Clock::now()) / 1000;
    result["get_vms"] = figures;
    result["ended_per_second_during"] =
        static_cast<double>(flood.ended() - ended_before) / seconds;
    result["open_at_end"] = flood.open();
    result["slowloris_bytes_sent"] = flood.bytes_sent();
    std::printf("  during the measurement (%.1f s): the server ended %.0f flood connections/s, "
                "%d open at the end\n",
                seconds, result["ended_per_second_during"].get<double>(), flood.open());
    flood.Stop();
    result["reaper"] = Delta(daemon.ReaperCounts(), reaped_before);
    std::printf("  the daemon's reaper: %s\n", result["reaper"].dump().c_str());
    report_["floods"][kind_name] = result;
    return measured;
  }

  Flags flags_;
  fs::path dir_;
  std::string tokens_file_, server_cert_, server_key_;
  SSL_CTX* tls_ = nullptr;
  Json report_;
};

}  // namespace
}  // namespace vmk::bench

int main(int argc, char** argv) {
  signal(SIGPIPE, SIG_IGN);
  vmk::bench::Flags flags;
  CLI::App app{"api_bench: get vms over vmkeeperd's REST API, with auth and TLS, under a flood"};
  app.add_option("--vms", flags.vms, "VMs applied")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--hosts", flags.hosts, "test:/// hosts")->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--requests", flags.requests, "measured GETs per mode (after 5 warm-up)")
      ->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--flood", flags.flood, "flood connections (0: no flood)")->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_flag("!--no-slowloris", flags.slowloris, "skip the slowloris flood");
  app.add_option("--resync-seconds", flags.resync_seconds,
                 "vmkeeperd's --resync-seconds (a full resync must not land in a measurement)")
      ->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--timeout-seconds", flags.timeout_seconds, "deadline to settle the fleet")
      ->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--dir", flags.dir, "work directory (default <tmp>/vmk-api-bench-<pid>)");
  app.add_flag("--keep-dir", flags.keep_dir, "keep the work directory");
  CLI11_PARSE(app, argc, argv);
  return vmk::bench::ApiBench(std::move(flags)).Run();
}
