// A real Alertmanager (Debian's prometheus-alertmanager, installed by scripts/install-deps.sh)
// for end-to-end tests: started on a free loopback port with its own config, storage and log in
// a directory the test owns, without clustering, and killed when the object goes. Tests post
// alerts to its API as Prometheus would and read its /metrics to see what it delivered.
// Header-only, like daemon_harness.h. Thread-compatible: one test drives one process.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <string>

#include "tests/e2e/daemon_harness.h"

namespace vmk::e2e {

class AlertmanagerProcess {
 public:
  static constexpr char kBinary[] = "/usr/bin/prometheus-alertmanager";
  static bool Installed() { return access(kBinary, X_OK) == 0; }

  // `dir` holds alertmanager.yml, data/ and alertmanager.log.
  explicit AlertmanagerProcess(fs::path dir) : dir_(std::move(dir)) {}
  ~AlertmanagerProcess() { Kill(); }
  AlertmanagerProcess(const AlertmanagerProcess&) = delete;
  AlertmanagerProcess& operator=(const AlertmanagerProcess&) = delete;

  // Writes `config_yaml` as its config, starts it and waits until /-/ready answers 200. False
  // when it exits first (a config it refuses: see Log()) or is not ready within `deadline`.
  bool Start(const std::string& config_yaml,
             std::chrono::milliseconds deadline = std::chrono::seconds(30)) {
    port_ = FreePort();
    WriteFile(dir_ / "alertmanager.yml", config_yaml);
    pid_ = fork();
    if (pid_ == 0) {
      int log = open((dir_ / "alertmanager.log").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      dup2(log, 1);
      dup2(log, 2);
      // An empty cluster address turns the gossip mesh off: no port besides the web one.
      execl(kBinary, "prometheus-alertmanager",
            ("--config.file=" + (dir_ / "alertmanager.yml").string()).c_str(),
            ("--storage.path=" + (dir_ / "data").string()).c_str(),
            ("--web.listen-address=127.0.0.1:" + std::to_string(port_)).c_str(),
            "--cluster.listen-address=", static_cast<char*>(nullptr));
      _exit(127);
    }
    return WaitFor([&] { return !Alive() || HttpRequest(port_, "GET", "/-/ready").status == 200; },
                   deadline) &&
           Alive();
  }

  bool Alive() {
    if (pid_ <= 0) return false;
    if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
      pid_ = -1;
      return false;
    }
    return true;
  }

  void Kill() {
    if (pid_ <= 0) return;
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

  // POST /api/v2/alerts with a JSON array of alerts, as Prometheus sends them.
  HttpResult PostAlerts(const std::string& alerts_json) {
    return HttpRequest(port_, "POST", "/api/v2/alerts", alerts_json);
  }

  // The value of one sample of its /metrics, named as exposed (e.g.
  // `alertmanager_notifications_total{integration="webhook"}`); -1 when it is not there.
  double Metric(const std::string& sample) {
    const std::string text = HttpRequest(port_, "GET", "/metrics").body;
    const std::string line_start = sample + " ";
    for (size_t at = text.find(line_start); at != std::string::npos;
         at = text.find(line_start, at + 1)) {
      if (at == 0 || text[at - 1] == '\n') return std::atof(text.c_str() + at + line_start.size());
    }
    return -1;
  }

  int port() const { return port_; }
  std::string Log() const { return ReadFile(dir_ / "alertmanager.log"); }

 private:
  fs::path dir_;
  pid_t pid_ = -1;
  int port_ = 0;
};

// Now as RFC 3339 in UTC to the second, for an alert's startsAt.
inline std::string AlertTimeNow() {
  std::time_t now = std::time(nullptr);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  return text;
}

}  // namespace vmk::e2e
