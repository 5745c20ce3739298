// vmkeeperd as a systemd service: the unit in packaging/systemd passes systemd-analyze verify
// (and a broken copy does not, so the check can fail), its hardening keeps the exposure score
// low, the example config is accepted by the real daemon's parser (--check-config), and the real
// vmkeeperd speaks the notify protocol: READY=1 once it serves, WATCHDOG=1 while it answers,
// STOPPING=1 on SIGTERM, read from a unix datagram socket this test owns ($NOTIFY_SOCKET).
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <regex>
#include <string>
#include <vector>

#include "tests/e2e/daemon_harness.h"

namespace vmk::e2e {
namespace {

// The absolute path of `name` on $PATH, or "" (RunCommand execs a path, not a name).
std::string FindProgram(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::string dirs = path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin";
  size_t start = 0;
  while (start <= dirs.size()) {
    size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    fs::path candidate = fs::path(dirs.substr(start, end - start)) / name;
    if (access(candidate.c_str(), X_OK) == 0) return candidate.string();
    start = end + 1;
  }
  return "";
}

const fs::path kUnit = fs::path(VMK_SOURCE_DIR) / "packaging/systemd/vmkeeperd.service";
const fs::path kExampleConfig = fs::path(VMK_SOURCE_DIR) / "packaging/systemd/vmkeeperd.yaml";

// The unit as shipped, but starting the vmkeeperd just built (verify insists that ExecStart's
// binary exists), written to `dir` under the unit's own name; `edit` may change it further.
fs::path InstallableUnit(const fs::path& dir,
                         const std::function<std::string(std::string)>& edit = nullptr) {
  std::string text = ReadFile(kUnit);
  const std::string exec = "ExecStart=/usr/local/bin/vmkeeperd ";
  size_t at = text.find(exec);
  EXPECT_NE(at, std::string::npos) << "the unit has no " << exec;
  if (at != std::string::npos) {
    text.replace(at, exec.size(), "ExecStart=" + BinDir() + "/vmkeeperd ");
  }
  if (edit) text = edit(text);
  fs::path unit = dir / "vmkeeperd.service";
  WriteFile(unit, text);
  return unit;
}

// systemd-analyze verify's verdict: it exits 0 on warnings (an unknown key, a bad value it
// ignores), so any output at all counts as a failure here.
testing::AssertionResult Verifies(const fs::path& unit, const fs::path& scratch) {
  std::string analyze = FindProgram("systemd-analyze");
  if (analyze.empty()) return testing::AssertionFailure() << "systemd-analyze is not installed";
  CommandResult r = RunCommand({analyze, "verify", unit.string()}, scratch,
                               {"SYSTEMD_LOG_COLOR=0", "SYSTEMD_PAGER="});
  if (r.exit_code != 0 || !r.out.empty() || !r.err.empty()) {
    return testing::AssertionFailure() << "systemd-analyze verify " << unit << " exited "
                                       << r.exit_code << ":\n" << r.out << r.err;
  }
  return testing::AssertionSuccess();
}

TEST(SystemdUnitTest, VerifyAcceptsTheShippedUnit) {
  ScratchDir scratch("unit-verify");
  EXPECT_TRUE(Verifies(InstallableUnit(scratch.path()), scratch.path()));
}

// The check above can fail: a misspelt key, a bad value and a missing binary are each refused.
TEST(SystemdUnitTest, VerifyRefusesBrokenUnits) {
  ScratchDir scratch("unit-broken");
  auto replace = [](std::string from, std::string to) {
    return [from, to](std::string text) {
      size_t at = text.find(from);
      EXPECT_NE(at, std::string::npos) << from;
      if (at != std::string::npos) text.replace(at, from.size(), to);
      return text;
    };
  };
  EXPECT_FALSE(Verifies(
      InstallableUnit(scratch.path(), replace("ProtectHome=yes", "ProtectHomes=yes")),
      scratch.path()));
  EXPECT_FALSE(Verifies(InstallableUnit(scratch.path(), replace("Type=notify", "Type=notifyy")),
                        scratch.path()));
  EXPECT_FALSE(Verifies(InstallableUnit(scratch.path(),
                                        replace(BinDir() + "/vmkeeperd", "/nonexistent/vmkeeperd")),
                        scratch.path()));
}

TEST(SystemdUnitTest, UnitIsNotifyWithWatchdogAndStateDirectory) {
  const std::string text = ReadFile(kUnit);
  for (const char* line :
       {"Type=notify\n", "NotifyAccess=main\n",
        "ExecStart=/usr/local/bin/vmkeeperd --config /etc/vmkeeper/vmkeeperd.yaml\n",
        "Restart=on-failure\n", "StateDirectory=vmkeeper\n", "CapabilityBoundingSet=\n",
        "NoNewPrivileges=yes\n", "ProtectSystem=strict\n",
        "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK\n",
        "SystemCallFilter=@system-service\n"}) {
    EXPECT_NE(text.find(std::string("\n") + line), std::string::npos) << line;
  }
  EXPECT_TRUE(std::regex_search(text, std::regex("\nWatchdogSec=[1-9][0-9]*s\n")));
}

// systemd's own score of the sandbox (0 = locked down, 10 = none): the hardening must stay.
TEST(SystemdUnitTest, HardeningExposureAtMostThree) {
  ScratchDir scratch("unit-security");
  std::string analyze = FindProgram("systemd-analyze");
  ASSERT_FALSE(analyze.empty()) << "systemd-analyze is not installed";
  fs::path unit = InstallableUnit(scratch.path());
  CommandResult r =
      RunCommand({analyze, "security", "--offline=yes", "--threshold=30", "--no-pager",
                  unit.filename().string()},
                 scratch.path(), {"SYSTEMD_LOG_COLOR=0", "SYSTEMD_COLORS=0"}, scratch.path().string());
  std::smatch level;
  std::string out = r.out + r.err;
  ASSERT_TRUE(std::regex_search(out, level, std::regex("Overall exposure level for \\S+: ([0-9.]+)")))
      << out;
  std::cout << "exposure level: " << level[1] << "\n";
  EXPECT_EQ(r.exit_code, 0) << "exposure above 3.0:\n" << out;
}

TEST(DaemonCheckConfigTest, ExampleConfigIsAccepted) {
  ScratchDir scratch("check-config");
  CommandResult r = RunCommand(
      {BinDir() + "/vmkeeperd", "--config", kExampleConfig.string(), "--check-config"},
      scratch.path());
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, kExampleConfig.string() + ": ok\n");
}

TEST(DaemonCheckConfigTest, BadConfigExitsTwoWithItsPlace) {
  ScratchDir scratch("check-config-bad");
  fs::path config = scratch.path() / "bad.yaml";
  WriteFile(config, "listen: 0.0.0.0:7480\nworkers: many\n");
  CommandResult r =
      RunCommand({BinDir() + "/vmkeeperd", "--config", config.string(), "--check-config"},
                 scratch.path());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find(config.string() + ":2:10: workers must be an integer"), std::string::npos)
      << r.err;
  EXPECT_EQ(r.out, "");
  // Nothing was started: no store was created next to the config.
  EXPECT_FALSE(fs::exists(scratch.path() / "vmkeeper-state"));
}

// A unix datagram socket standing in for systemd's notify socket.
class NotifySocket {
 public:
  explicit NotifySocket(const fs::path& path) : path_(path) {
    fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::string p = path.string();
    EXPECT_LT(p.size(), sizeof addr.sun_path) << p;
    p.copy(addr.sun_path, sizeof addr.sun_path - 1);
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0) << p;
  }
  ~NotifySocket() { close(fd_); }

  // Reads datagrams until one contains `line` as a whole line, or the deadline passes.
  bool WaitFor(const std::string& line,
               std::chrono::milliseconds deadline = std::chrono::seconds(30)) {
    auto until = std::chrono::steady_clock::now() + deadline;
    for (;;) {
      for (; seen_ < messages_.size(); ++seen_) {
        if (HasLine(messages_[seen_], line)) {
          ++seen_;
          return true;
        }
      }
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          until - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char buffer[4096];
      ssize_t n = recv(fd_, buffer, sizeof buffer, 0);
      if (n > 0) messages_.emplace_back(buffer, static_cast<size_t>(n));
    }
  }

  const std::vector<std::string>& messages() const { return messages_; }
  std::string All() const {
    std::string all;
    for (const auto& m : messages_) all += "[" + m + "]\n";
    return all;
  }

 private:
  static bool HasLine(const std::string& message, const std::string& line) {
    return ("\n" + message + "\n").find("\n" + line + "\n") != std::string::npos;
  }

  fs::path path_;
  int fd_ = -1;
  std::vector<std::string> messages_;
  size_t seen_ = 0;
};

// Sets environment variables for the daemons started in its scope (they inherit them at fork).
class ScopedEnv {
 public:
  explicit ScopedEnv(std::vector<std::pair<std::string, std::string>> vars) : vars_(std::move(vars)) {
    for (const auto& [k, v] : vars_) setenv(k.c_str(), v.c_str(), 1);
  }
  ~ScopedEnv() {
    for (const auto& [k, v] : vars_) unsetenv(k.c_str());
  }

 private:
  std::vector<std::pair<std::string, std::string>> vars_;
};

TEST(SystemdNotifyTest, ReadyOnceServingAndStoppingOnSigterm) {
  ScratchDir scratch("notify");
  NotifySocket notify(scratch.path() / "notify.sock");
  Daemon daemon(scratch.path() / "state");
  {
    ScopedEnv env({{"NOTIFY_SOCKET", (scratch.path() / "notify.sock").string()}});
    ASSERT_TRUE(daemon.Start()) << daemon.Log();
  }
  ASSERT_TRUE(notify.WaitFor("READY=1")) << notify.All() << daemon.Log();
  // READY=1 means the API serves and the store is open: both answer now.
  int port = std::stoi(daemon.server().substr(daemon.server().rfind(':') + 1));
  EXPECT_EQ(HttpRequest(port, "GET", "/healthz").status, 200);
  EXPECT_EQ(HttpRequest(port, "GET", "/api/v1/hosts").status, 200);
  ASSERT_FALSE(notify.messages().empty());
  EXPECT_NE(notify.All().find("STATUS=serving on 127.0.0.1:" + std::to_string(port)),
            std::string::npos)
      << notify.All();
  // No watchdog was asked for ($WATCHDOG_USEC unset): none is petted.
  EXPECT_EQ(notify.All().find("WATCHDOG=1"), std::string::npos) << notify.All();

  EXPECT_EQ(daemon.Terminate(), 0);
  EXPECT_TRUE(notify.WaitFor("STOPPING=1")) << notify.All() << daemon.Log();
}

TEST(SystemdNotifyTest, WatchdogPettedWhileTheApiAnswers) {
  ScratchDir scratch("watchdog");
  NotifySocket notify(scratch.path() / "notify.sock");
  Daemon daemon(scratch.path() / "state");
  {
    // A 400 ms watchdog: petted every 200 ms.
    ScopedEnv env({{"NOTIFY_SOCKET", (scratch.path() / "notify.sock").string()},
                   {"WATCHDOG_USEC", "400000"}});
    ASSERT_TRUE(daemon.Start()) << daemon.Log();
  }
  ASSERT_TRUE(notify.WaitFor("READY=1")) << notify.All() << daemon.Log();
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(notify.WaitFor("WATCHDOG=1", std::chrono::seconds(10)))
        << "pet " << i << "\n" << notify.All() << daemon.Log();
  }
  EXPECT_EQ(daemon.Terminate(), 0);
  EXPECT_TRUE(notify.WaitFor("STOPPING=1")) << notify.All();
}

}  // namespace
}  // namespace vmk::e2e
