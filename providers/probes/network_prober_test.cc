// NetworkProber against real loopback servers run by the test (the shared LoopbackHttpServer),
// real closed ports and real child processes.
#include "providers/probes/network_prober.h"

#include <signal.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "tests/fakes/closed_port.h"
#include "tests/fakes/loopback_http_server.h"
#include "tests/fakes/process_inspection.h"

namespace vmk::providers {
namespace {

using fakes::ClosedPort;
using fakes::Reply;
using LoopbackServer = fakes::LoopbackHttpServer;
using std::chrono::milliseconds;
using SteadyClock = std::chrono::steady_clock;

// Replies of the loopback server (tests/fakes/loopback_http_server.h) these tests use.
// Answers every request with `response`, then closes.
Reply Answer(std::string response) { return Reply::Raw(std::move(response)); }

// Accepts, reads the request, and never answers (QEMU's forwarded port before the guest
// listens behaves like this, as far as the prober can tell).
const Reply NeverAnswer = Reply::NeverAnswer();

// Sends a valid 200 status line one byte every 100 ms: each byte arrives well within the
// probe's timeout, the whole line does not.
const Reply SlowDrip = Reply::Drip("HTTP/1.1 200 OK\r\n\r\n", milliseconds(100));

ProbeSpec Http(int port, milliseconds timeout = milliseconds(2000), std::string path = "/") {
  ProbeSpec spec;
  spec.type = ProbeSpec::Type::kHttp;
  spec.address = "127.0.0.1";
  spec.port = port;
  spec.path = std::move(path);
  spec.timeout = timeout;
  return spec;
}

ProbeSpec Tcp(int port, milliseconds timeout = milliseconds(2000)) {
  ProbeSpec spec = Http(port, timeout);
  spec.type = ProbeSpec::Type::kTcp;
  return spec;
}

ProbeSpec Exec(std::vector<std::string> command, milliseconds timeout = milliseconds(2000)) {
  ProbeSpec spec;
  spec.type = ProbeSpec::Type::kExec;
  spec.command = std::move(command);
  spec.timeout = timeout;
  return spec;
}



// Child processes of this test (running or zombie) whose command name is `comm`. Other tests
// in the binary may have children of their own; they are not "sleep".
int ChildrenNamed(const std::string& comm) {
  int n = 0;
  std::string parent = std::to_string(::getpid());
  for (const auto& e : std::filesystem::directory_iterator("/proc")) {
    std::ifstream stat(e.path() / "stat");
    std::string line;
    if (!stat || !std::getline(stat, line)) continue;
    auto open = line.find('(');
    auto close = line.rfind(')');
    if (open == std::string::npos || close == std::string::npos || close + 4 >= line.size()) {
      continue;
    }
    // "pid (comm) state ppid ..."
    std::string name = line.substr(open + 1, close - open - 1);
    std::string rest = line.substr(close + 4);
    std::string ppid = rest.substr(0, rest.find(' '));
    if (name == comm && ppid == parent) ++n;
  }
  return n;
}

// Waits (up to `timeout`) for `condition`, checking every 10 ms.
bool Eventually(const std::function<bool()>& condition, milliseconds timeout) {
  auto deadline = SteadyClock::now() + timeout;
  while (!condition()) {
    if (SteadyClock::now() >= deadline) return false;
    std::this_thread::sleep_for(milliseconds(10));
  }
  return true;
}

// Reads a pid a probe command wrote to `path`.
pid_t ReadPid(const std::string& path) {
  std::ifstream in(path);
  pid_t pid = -1;
  in >> pid;
  return pid;
}

std::string TempPath(const std::string& name) {
  return testing::TempDir() + "/vmk_prober_" + std::to_string(::getpid()) + "_" + name;
}

class NetworkProberTest : public ::testing::Test {
 protected:
  NetworkProber prober_;
};

// ---- HTTP ------------------------------------------------------------------------------------

TEST_F(NetworkProberTest, Http200IsHealthyAndRequestIsWellFormed) {
  LoopbackServer server(Answer("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"));
  ProbeResult r = prober_.Probe(Http(server.port(), milliseconds(2000), "/health?x=1"));
  EXPECT_TRUE(r.healthy);
  EXPECT_EQ(r.message, "HTTP 200");

  std::string request = server.last_request().head;
  EXPECT_EQ(request.rfind("GET /health?x=1 HTTP/1.1\r\n", 0), 0u) << request;
  EXPECT_NE(request.find("\r\nHost: 127.0.0.1:" + std::to_string(server.port()) + "\r\n"),
            std::string::npos)
      << request;
  EXPECT_NE(request.find("\r\nConnection: close\r\n"), std::string::npos) << request;
}

TEST_F(NetworkProberTest, AnyTwoHundredIsHealthyEvenWithoutReasonPhrase) {
  LoopbackServer server(Answer("HTTP/1.0 204\r\n\r\n"));
  ProbeResult r = prober_.Probe(Http(server.port()));
  EXPECT_TRUE(r.healthy);
  EXPECT_EQ(r.message, "HTTP 204");
}

TEST_F(NetworkProberTest, Http503IsUnhealthy) {
  LoopbackServer server(
      Answer("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n"));
  ProbeResult r = prober_.Probe(Http(server.port()));
  EXPECT_FALSE(r.healthy);
  EXPECT_EQ(r.message, "HTTP 503");
}

TEST_F(NetworkProberTest, RedirectIsUnhealthy) {
  LoopbackServer server(Answer("HTTP/1.1 301 Moved Permanently\r\nLocation: /x\r\n\r\n"));
  ProbeResult r = prober_.Probe(Http(server.port()));
  EXPECT_FALSE(r.healthy);
  EXPECT_EQ(r.message, "HTTP 301");
}

TEST_F(NetworkProberTest, AcceptingServerThatNeverAnswersTimesOut) {
  LoopbackServer server(NeverAnswer);
  auto start = SteadyClock::now();
  ProbeResult r = prober_.Probe(Http(server.port(), milliseconds(500)));
  auto elapsed = SteadyClock::now() - start;
  EXPECT_FALSE(r.healthy);
  EXPECT_EQ(r.message.rfind("timed out after 500 ms", 0), 0u) << r.message;
  EXPECT_GE(elapsed, milliseconds(500));
  EXPECT_LT(elapsed, milliseconds(500 + 2000));
}

TEST_F(NetworkProberTest, ClosedPortIsConnectionRefused) {
  ClosedPort closed;
  ProbeResult r = prober_.Probe(Http(closed.port()));
  EXPECT_FALSE(r.healthy);
  EXPECT_EQ(r.message, "connection refused");
}

TEST_F(NetworkProberTest, GarbageAnswerIsBadHttpAnswer) {
  LoopbackServer server(Answer("SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n"));
  ProbeResult r = prober_.Probe(Http(server.port()));
  EXPECT_FALSE(r.healthy);
  EXPECT_EQ(r.message.rfind("bad HTTP answer", 0), 0u) << r.message;
}

TEST_F(NetworkProberTest, TruncatedStatusLineIsBadHttpAnswer) {
  LoopbackServer server(Answer("HTTP/1.1 20"));
  ProbeResult r = prober_.Probe(Http(server.port()));
  EXPECT_FALSE(r.healthy);
  EXPECT_EQ(r.message.rfind("bad HTTP answer", 0), 0u) << r.message;
}

TEST_F(NetworkProberTest, ServerClosingWithoutAnswerIsUnhealthy) {
  LoopbackServer server(Answer(""));
  ProbeResult r = prober_.Probe(Http(server.port()));
  EXPECT_FALSE(r.healthy);
  EXPECT_EQ(r.message, "connection closed without an answer");
}

TEST_F(NetworkProberTest, SlowDripExceedsTheOneOverallDeadline) {
  LoopbackServer server(SlowDrip);
  auto start = SteadyClock::now();
  ProbeResult r = prober_.Probe(Http(server.port(), milliseconds(500)));
  auto elapsed = SteadyClock::now() - start;
  EXPECT_FALSE(r.healthy);
  EXPECT_EQ(r.message.rfind("timed out after 500 ms", 0), 0u) << r.message;
  EXPECT_LT(elapsed, milliseconds(500 + 2000));
}

TEST_F(NetworkProberTest, HostNameIsResolved) {
  // localhost may resolve to ::1 first, where nothing listens: the prober moves on to
  // 127.0.0.1.
  LoopbackServer server(Answer("HTTP/1.1 200 OK\r\n\r\n"));
  ProbeSpec spec = Http(server.port());
  spec.address = "localhost";
  ProbeResult r = prober_.Probe(spec);
  EXPECT_TRUE(r.healthy) << r.message;
}

TEST_F(NetworkProberTest, InvalidSpecsAreUnhealthyWithoutTouchingTheNetwork) {
  EXPECT_EQ(prober_.Probe(Http(0)).message.rfind("invalid probe", 0), 0u);
  EXPECT_EQ(prober_.Probe(Http(70000)).message.rfind("invalid probe", 0), 0u);
  EXPECT_EQ(prober_.Probe(Http(80, milliseconds(0))).message.rfind("invalid probe", 0), 0u);
  EXPECT_EQ(prober_.Probe(Http(80, milliseconds(100), "/a b\r\nX: y")).message.rfind(
                "invalid probe", 0),
            0u);
  EXPECT_EQ(prober_.Probe(Exec({})).message.rfind("invalid probe", 0), 0u);
  EXPECT_FALSE(prober_.Probe(Http(0)).healthy);
}

TEST_F(NetworkProberTest, LeaksNoDescriptors) {
  int before = fakes::OpenDescriptorCount();
  {
    LoopbackServer ok(Answer("HTTP/1.1 200 OK\r\n\r\n"));
    LoopbackServer garbage(Answer("nonsense\r\n"));
    LoopbackServer silent(NeverAnswer);
    ClosedPort closed;
    for (int i = 0; i < 5; ++i) {
      EXPECT_TRUE(prober_.Probe(Http(ok.port())).healthy);
      EXPECT_FALSE(prober_.Probe(Http(garbage.port())).healthy);
      EXPECT_FALSE(prober_.Probe(Http(closed.port())).healthy);
      EXPECT_TRUE(prober_.Probe(Tcp(ok.port())).healthy);
      EXPECT_TRUE(prober_.Probe(Exec({"/bin/true"})).healthy);
    }
    EXPECT_FALSE(prober_.Probe(Http(silent.port(), milliseconds(100))).healthy);
    EXPECT_FALSE(prober_.Probe(Exec({"/bin/sleep", "10"}, milliseconds(100))).healthy);
  }
  EXPECT_EQ(fakes::OpenDescriptorCount(), before);
}

TEST_F(NetworkProberTest, ConcurrentProbesDoNotInterfere) {
  LoopbackServer ok(Answer("HTTP/1.1 200 OK\r\n\r\n"));
  ClosedPort closed;
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10; ++i) {
        bool expect_healthy = (t % 2) == 0;
        ProbeResult r = prober_.Probe(Http(expect_healthy ? ok.port() : closed.port()));
        if (r.healthy != expect_healthy) wrong++;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
}

// ---- TCP -------------------------------------------------------------------------------------

TEST_F(NetworkProberTest, TcpOpenPortIsHealthy) {
  LoopbackServer server(NeverAnswer);
  ProbeResult r = prober_.Probe(Tcp(server.port()));
  EXPECT_TRUE(r.healthy);
  EXPECT_EQ(r.message, "connected to 127.0.0.1:" + std::to_string(server.port()));
}

TEST_F(NetworkProberTest, TcpClosedPortIsRefused) {
  ClosedPort closed;
  ProbeResult r = prober_.Probe(Tcp(closed.port()));
  EXPECT_FALSE(r.healthy);
  EXPECT_EQ(r.message, "connection refused");
}

// ---- Exec ------------------------------------------------------------------------------------

TEST_F(NetworkProberTest, ExecExitZeroIsHealthy) {
  ProbeResult r = prober_.Probe(Exec({"/bin/true"}));
  EXPECT_TRUE(r.healthy);
  EXPECT_EQ(r.message, "exit status 0");
}

TEST_F(NetworkProberTest, ExecNonZeroExitIsUnhealthy) {
  ProbeResult r = prober_.Probe(Exec({"/bin/false"}));
  EXPECT_FALSE(r.healthy);
  EXPECT_EQ(r.message, "exit status 1");
}

TEST_F(NetworkProberTest, ExecSearchesPathAndPassesArgumentsWithoutShell) {
  // "exit 3" reaches sh as one argument, not split or interpreted by a shell of ours.
  ProbeResult r = prober_.Probe(Exec({"sh", "-c", "exit 3"}));
  EXPECT_FALSE(r.healthy);
  EXPECT_EQ(r.message, "exit status 3");
  // A literal "$HOME;" argument is not expanded: test(1) compares it as given.
  EXPECT_TRUE(prober_.Probe(Exec({"test", "$HOME;", "=", "$HOME;"})).healthy);
}

TEST_F(NetworkProberTest, ExecMissingCommandIsUnhealthy) {
  ProbeResult r = prober_.Probe(Exec({"/nonexistent/vmk-probe"}));
  EXPECT_FALSE(r.healthy);
  EXPECT_EQ(r.message, "exec failed: No such file or directory");
}

TEST_F(NetworkProberTest, ExecOutputIsDiscarded) {
  // A command writing a lot must neither block on a full pipe nor reach our stdout.
  ProbeResult r = prober_.Probe(Exec({"sh", "-c", "head -c 1000000 /dev/zero; echo err >&2"}));
  EXPECT_TRUE(r.healthy) << r.message;
}

TEST_F(NetworkProberTest, ExecHangingCommandIsKilledAndReaped) {
  std::string pid_file = TempPath("hang.pid");
  std::filesystem::remove(pid_file);
  auto start = SteadyClock::now();
  // sh writes its pid, then becomes sleep (exec keeps the pid).
  ProbeResult r = prober_.Probe(
      Exec({"/bin/sh", "-c", "echo $$ > " + pid_file + "; exec /bin/sleep 10"},
           milliseconds(300)));
  auto elapsed = SteadyClock::now() - start;
  EXPECT_FALSE(r.healthy);
  EXPECT_EQ(r.message.rfind("timed out after 300 ms", 0), 0u) << r.message;
  EXPECT_LT(elapsed, milliseconds(300 + 2000));

  pid_t pid = ReadPid(pid_file);
  ASSERT_GT(pid, 0);
  // Killed and reaped by the prober: no such process any more (not even a zombie).
  EXPECT_EQ(::kill(pid, 0), -1);
  EXPECT_EQ(errno, ESRCH);
  EXPECT_EQ(ChildrenNamed("sleep"), 0);
  std::filesystem::remove(pid_file);
}

TEST_F(NetworkProberTest, ExecPlainSleepTimesOut) {
  auto start = SteadyClock::now();
  ProbeResult r = prober_.Probe(Exec({"/bin/sleep", "10"}, milliseconds(300)));
  EXPECT_FALSE(r.healthy);
  EXPECT_NE(r.message.find("timed out"), std::string::npos) << r.message;
  EXPECT_LT(SteadyClock::now() - start, milliseconds(300 + 2000));
  EXPECT_EQ(ChildrenNamed("sleep"), 0);  // neither running nor a zombie
}

TEST_F(NetworkProberTest, ExecTimeoutKillsTheWholeProcessGroup) {
  std::string pid_file = TempPath("grandchild.pid");
  std::filesystem::remove(pid_file);
  // The command starts a grandchild and waits for it; a timeout must take both down.
  ProbeResult r = prober_.Probe(Exec(
      {"/bin/sh", "-c", "/bin/sleep 10 & echo $! > " + pid_file + "; wait"}, milliseconds(300)));
  EXPECT_FALSE(r.healthy);
  ASSERT_TRUE(Eventually([&] { return ReadPid(pid_file) > 0; }, milliseconds(2000)));
  pid_t grandchild = ReadPid(pid_file);
  // The grandchild was re-parented when its parent died; it must be dead (at most a zombie
  // waiting for its new parent).
  EXPECT_TRUE(Eventually([&] { return fakes::ProcessGone(grandchild); }, milliseconds(2000)));
  std::filesystem::remove(pid_file);
}

TEST_F(NetworkProberTest, ExecKilledBySignalIsUnhealthy) {
  ProbeResult r = prober_.Probe(Exec({"/bin/sh", "-c", "kill -TERM $$"}));
  EXPECT_FALSE(r.healthy);
  EXPECT_EQ(r.message, "killed by signal " + std::to_string(SIGTERM));
}

}  // namespace
}  // namespace vmk::providers
