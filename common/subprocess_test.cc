// RunSubprocess against real processes (/bin/sh, sleep, cat): exit statuses, stdin and output,
// deadlines on a real and on a fake clock, process groups, reaping.
#include "common/subprocess.h"

#include <signal.h>
#include <unistd.h>

#include <gmock/gmock.h>
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

#include "tests/fakes/process_inspection.h"

namespace vmk {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using ::testing::EndsWith;
using ::testing::HasSubstr;
using SteadyClock = std::chrono::steady_clock;

constexpr milliseconds kWait{10'000};

SubprocessOptions Command(std::vector<std::string> argv,
                          Duration timeout = std::chrono::seconds(10)) {
  SubprocessOptions o;
  o.argv = std::move(argv);
  o.timeout = timeout;
  o.capture_output = true;
  return o;
}

SubprocessOptions Shell(const std::string& script, Duration timeout = std::chrono::seconds(10)) {
  return Command({"/bin/sh", "-c", script}, timeout);
}

SubprocessResult MustRun(const SubprocessOptions& options, Clock* clock = RealClock::Get()) {
  auto result = RunSubprocess(options, clock);
  EXPECT_TRUE(result.ok()) << result.status().ToString();
  return result.ok() ? std::move(result).value() : SubprocessResult{};
}

// Waits (up to `timeout`) for `condition`, checking every 10 ms.
bool Eventually(const std::function<bool()>& condition, milliseconds timeout = kWait) {
  auto deadline = SteadyClock::now() + timeout;
  while (!condition()) {
    if (SteadyClock::now() >= deadline) return false;
    std::this_thread::sleep_for(milliseconds(10));
  }
  return true;
}



std::string TempPath(const std::string& name) {
  return ::testing::TempDir() + "/vmk_subprocess_" + std::to_string(::getpid()) + "_" + name;
}

// --- Running and collecting -------------------------------------------------------------------

TEST(SubprocessTest, ReportsExitCodeAndBothOutputs) {
  SubprocessResult r = MustRun(Shell("echo out; echo err >&2; exit 3"));
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_FALSE(r.term_signal.has_value());
  EXPECT_FALSE(r.timed_out);
  EXPECT_FALSE(r.succeeded());
  EXPECT_EQ(r.stdout_tail, "out\n");
  EXPECT_EQ(r.stderr_tail, "err\n");
  EXPECT_TRUE(MustRun(Command({"/bin/true"})).succeeded());
}

TEST(SubprocessTest, StdinBytesArriveThenEof) {
  SubprocessOptions o = Command({"/bin/cat"});
  o.stdin_data = "key=value\naction=off\n";
  SubprocessResult r = MustRun(o);
  EXPECT_TRUE(r.succeeded());
  EXPECT_EQ(r.stdout_tail, "key=value\naction=off\n");
}

TEST(SubprocessTest, WithoutStdinDataTheChildReadsDevNull) {
  SubprocessResult r = MustRun(Command({"/bin/cat"}));  // would hang on an inherited terminal
  EXPECT_TRUE(r.succeeded());
  EXPECT_EQ(r.stdout_tail, "");
}

TEST(SubprocessTest, WithoutCaptureOutputIsDiscarded) {
  SubprocessOptions o = Shell("head -c 1000000 /dev/zero; echo err >&2");
  o.capture_output = false;
  SubprocessResult r = MustRun(o);
  EXPECT_TRUE(r.succeeded());
  EXPECT_EQ(r.stdout_tail, "");
  EXPECT_EQ(r.stderr_tail, "");
}

TEST(SubprocessTest, ArgumentsReachTheProgramWithoutAShell) {
  SubprocessResult r = MustRun(Command({"/bin/echo", "$HOME;", "*", "a b"}));
  EXPECT_EQ(r.stdout_tail, "$HOME; * a b\n");
}

TEST(SubprocessTest, PathIsSearchedOnlyWhenAsked) {
  SubprocessOptions o = Command({"true"});
  auto without = RunSubprocess(o, RealClock::Get());
  ASSERT_FALSE(without.ok());
  EXPECT_EQ(without.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(without.status().message(), "No such file or directory");
  o.search_path = true;
  EXPECT_TRUE(MustRun(o).succeeded());
}

TEST(SubprocessTest, MissingProgramIsUnavailableWithTheErrnoText) {
  auto r = RunSubprocess(Command({"/nonexistent/vmk-program"}), RealClock::Get());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(r.status().message(), "No such file or directory");
}

TEST(SubprocessTest, KilledBySignalIsReported) {
  SubprocessResult r = MustRun(Shell("kill -TERM $$"));
  EXPECT_FALSE(r.exit_code.has_value());
  EXPECT_EQ(r.term_signal, SIGTERM);
  EXPECT_FALSE(r.timed_out);
}

TEST(SubprocessTest, SignalsTheDaemonIgnoresAreDefaultInTheChild) {
  struct sigaction ignore {}, old {};
  ignore.sa_handler = SIG_IGN;
  ASSERT_EQ(::sigaction(SIGINT, &ignore, &old), 0);
  SubprocessResult r = MustRun(Shell("kill -INT $$; exit 0"));
  ::sigaction(SIGINT, &old, nullptr);
  EXPECT_EQ(r.term_signal, SIGINT);
}

TEST(SubprocessTest, OutputKeepsTheTailFromALineBoundary) {
  SubprocessOptions o = Shell(
      "i=0; while [ $i -lt 5000 ]; do echo \"line $i of some output\"; i=$((i+1)); done;"
      "echo 'final: device busy' >&2; head -c 300000 /dev/zero >&2");
  o.max_output_bytes = 1024;
  SubprocessResult r = MustRun(o);
  EXPECT_TRUE(r.succeeded());
  EXPECT_LE(r.stdout_tail.size(), 1024u);
  EXPECT_THAT(r.stdout_tail, EndsWith("line 4999 of some output\n"));
  EXPECT_EQ(r.stdout_tail.rfind("line ", 0), 0u) << "mid-line: " << r.stdout_tail.substr(0, 40);
  // 300 000 bytes without a line break cannot be kept in 1024 from a line boundary.
  EXPECT_LE(r.stderr_tail.size(), 1024u);
}

TEST(SubprocessTest, ChildThatIgnoresItsStdinDoesNotRaiseSigpipe) {
  SubprocessOptions o = Command({"/bin/true"});
  o.stdin_data = std::string(1024 * 1024, 'a');  // more than a pipe holds
  EXPECT_TRUE(MustRun(o).succeeded());            // and this process is still alive
}

// --- Deadlines and process groups -------------------------------------------------------------

TEST(SubprocessTest, TimeoutSendsSigtermToTheGroup) {
  SubprocessOptions o = Command({"/bin/sleep", "10"}, milliseconds(200));
  o.kill_grace = std::chrono::seconds(5);
  auto start = SteadyClock::now();
  SubprocessResult r = MustRun(o);
  EXPECT_TRUE(r.timed_out);
  EXPECT_FALSE(r.sigkilled);
  EXPECT_EQ(r.term_signal, SIGTERM);
  EXPECT_GE(r.elapsed, milliseconds(200));
  EXPECT_LT(SteadyClock::now() - start, milliseconds(200) + kWait);
}

TEST(SubprocessTest, SigkillFollowsTheGraceWhenSigtermIsIgnored) {
  SubprocessOptions o = Shell("trap '' TERM; while :; do sleep 0.05; done", milliseconds(200));
  o.kill_grace = milliseconds(300);
  SubprocessResult r = MustRun(o);
  EXPECT_TRUE(r.timed_out);
  EXPECT_TRUE(r.sigkilled);
  EXPECT_EQ(r.term_signal, SIGKILL);
  EXPECT_GE(r.elapsed, milliseconds(500));
}

TEST(SubprocessTest, ZeroGraceMeansSigkillAtOnce) {
  SubprocessOptions o = Shell("trap '' TERM; while :; do sleep 0.05; done", milliseconds(200));
  o.kill_grace = Duration::zero();
  SubprocessResult r = MustRun(o);
  EXPECT_TRUE(r.timed_out);
  EXPECT_TRUE(r.sigkilled);
  EXPECT_EQ(r.term_signal, SIGKILL);
}

TEST(SubprocessTest, TimeoutKillsTheWholeGroupAndReapsTheChild) {
  std::string pid_file = TempPath("grandchild.pid");
  fs::remove(pid_file);
  SubprocessOptions o =
      Shell("/bin/sleep 10 & echo $! > " + pid_file + "; echo $$; wait", milliseconds(300));
  o.kill_grace = Duration::zero();
  SubprocessResult r = MustRun(o);
  EXPECT_TRUE(r.timed_out);
  pid_t child = std::stoi(r.stdout_tail);
  EXPECT_EQ(::kill(child, 0), -1);  // reaped: not even a zombie is left
  EXPECT_EQ(errno, ESRCH);
  pid_t grandchild = -1;
  std::ifstream(pid_file) >> grandchild;
  ASSERT_GT(grandchild, 0);
  // Re-parented when its parent died: dead, at most a zombie for its new parent to reap.
  EXPECT_TRUE(Eventually([&] { return fakes::ProcessGone(grandchild); }));
  fs::remove(pid_file);
}

TEST(SubprocessTest, WhatTheChildLeftRunningIsKilledAndDoesNotDelayTheResult) {
  // The background sleep holds the output pipes open; the result must not wait for it.
  auto start = SteadyClock::now();
  SubprocessResult r = MustRun(Shell("/bin/sleep 1000 & echo $!; exit 0"));
  EXPECT_LT(SteadyClock::now() - start, kWait);
  EXPECT_TRUE(r.succeeded());
  pid_t leftover = std::stoi(r.stdout_tail);
  EXPECT_TRUE(Eventually([&] { return fakes::ProcessGone(leftover); }));
}

TEST(SubprocessTest, DeadlineIsMeasuredOnTheGivenClock) {
  std::string started = TempPath("started");
  fs::remove(started);
  FakeClock clock;
  // An hour of fake time: only the clock can end this.
  SubprocessOptions o = Shell("echo > " + started + "; exec /bin/sleep 30", std::chrono::hours(1));
  o.kill_grace = Duration::zero();
  std::thread advancer([&] {
    if (Eventually([&] { return fs::exists(started); })) clock.Advance(std::chrono::hours(2));
  });
  auto start = SteadyClock::now();
  SubprocessResult r = MustRun(o, &clock);
  advancer.join();
  EXPECT_TRUE(r.timed_out);
  EXPECT_LT(SteadyClock::now() - start, kWait);
  EXPECT_GE(r.elapsed, std::chrono::hours(1));
  fs::remove(started);
}

// --- Misuse, resources, threads ---------------------------------------------------------------

TEST(SubprocessTest, InvalidOptionsAreRefused) {
  EXPECT_EQ(RunSubprocess(Command({}), RealClock::Get()).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(RunSubprocess(Command({""}), RealClock::Get()).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(RunSubprocess(Command({"/bin/true"}, Duration::zero()), RealClock::Get())
                .status()
                .code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(RunSubprocess(Command({"/bin/true"}), nullptr).status().code(),
            StatusCode::kInvalidArgument);
}

TEST(SubprocessTest, LeaksNoDescriptors) {
  int before = fakes::OpenDescriptorCount();
  for (int i = 0; i < 5; ++i) {
    SubprocessOptions o = Shell("cat; echo err >&2; exit 1");
    o.stdin_data = "x";
    EXPECT_EQ(MustRun(o).exit_code, 1);
    EXPECT_TRUE(MustRun(Command({"/bin/sleep", "10"}, milliseconds(50))).timed_out);
    EXPECT_FALSE(RunSubprocess(Command({"/nonexistent"}), RealClock::Get()).ok());
  }
  EXPECT_EQ(fakes::OpenDescriptorCount(), before);
}

TEST(SubprocessTest, ConcurrentRunsDoNotInterfere) {
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 5; ++i) {
        SubprocessResult r = MustRun(Shell("echo " + std::to_string(t) + "; exit " +
                                           std::to_string(t)));
        if (r.exit_code != t || r.stdout_tail != std::to_string(t) + "\n") wrong++;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
}

}  // namespace
}  // namespace vmk
