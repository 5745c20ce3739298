// FenceAgentFencer against real processes: the shipped test agent (tests/e2e/fence_test_agent)
// and small agents written into a temp dir for the checks the shipped one must not help with
// (a password echoed back, a password printed on stderr).
#include "providers/fencing/fence_agent_fencer.h"

#include <dirent.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace vmk::providers {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;

fs::path TestAgentPath() {
  return fs::path(VMK_SOURCE_DIR) / "tests" / "e2e" / "fence_test_agent";
}

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void WriteFile(const fs::path& path, const std::string& content, fs::perms perms = fs::perms(0600)) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << content;
  fs::permissions(path, perms);
}

// Every file under `dir`, concatenated: to prove a secret was written nowhere.
std::string ReadAllFiles(const fs::path& dir) {
  std::string all;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (entry.is_regular_file()) all += ReadFile(entry.path());
  }
  return all;
}

// Processes of group `pgid` that are still running (zombies excluded: they are dead, only
// waiting for whoever adopted them to reap them).
int LiveGroupMembers(pid_t pgid) {
  int live = 0;
  for (const auto& entry : fs::directory_iterator("/proc")) {
    const std::string name = entry.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::string stat = ReadFile(entry.path() / "stat");
    size_t paren = stat.rfind(')');
    if (paren == std::string::npos) continue;
    std::istringstream fields(stat.substr(paren + 2));
    char state = 0;
    pid_t ppid = 0, pgrp = 0;
    fields >> state >> ppid >> pgrp;
    if (pgrp == pgid && state != 'Z' && state != 'X') ++live;
  }
  return live;
}

// Waits (bounded) until no process of the group runs any more: SIGKILL is delivered
// asynchronously, so a just-killed process may still be scheduled for a moment.
bool GroupGone(pid_t pgid, std::chrono::seconds within = std::chrono::seconds(5)) {
  auto deadline = std::chrono::steady_clock::now() + within;
  while (std::chrono::steady_clock::now() < deadline) {
    if ((::kill(-pgid, 0) == -1 && errno == ESRCH) || LiveGroupMembers(pgid) == 0) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

// The fencer reaped its agent: the pid names no process, not even a zombie.
bool Reaped(pid_t pid) { return ::kill(pid, 0) == -1 && errno == ESRCH; }

class FenceAgentFencerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(fs::exists(TestAgentPath())) << TestAgentPath();
    char tmpl[] = "/tmp/vmk_fence_test_XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    state_dir_ = dir_ / "state";
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  FenceRequest TestAgentRequest(const std::string& behaviour) {
    FenceRequest r;
    r.host = "hv01";
    r.agent = TestAgentPath().string();
    r.args = {{"plug", "hv01"}, {"state_dir", state_dir_.string()}, {"behaviour", behaviour}};
    r.timeout = std::chrono::seconds(30);
    return r;
  }

  // A small agent script in the temp dir; returns its absolute path.
  std::string WriteAgent(const std::string& name, const std::string& body) {
    fs::path path = dir_ / name;
    WriteFile(path, "#!/bin/bash\n" + body, fs::perms(0755));
    return path.string();
  }

  std::string WriteSecret(const std::string& name, const std::string& content) {
    fs::path path = dir_ / name;
    WriteFile(path, content);
    return path.string();
  }

  pid_t AgentPid() { return std::stoi(ReadFile(state_dir_ / "hv01.pid")); }

  fs::path dir_, state_dir_;
  FenceAgentFencer fencer_{FenceAgentFencerOptions{}, RealClock::Get()};
};

TEST_F(FenceAgentFencerTest, OkPowersOffAndNeverWritesThePassword) {
  FenceRequest r = TestAgentRequest("ok");
  r.args["passwordFile"] = WriteSecret("ipmi", "s3cret-pw\n");
  ASSERT_TRUE(fencer_.Validate(r).ok()) << fencer_.Validate(r).ToString();

  Status s = fencer_.Fence(r);

  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(ReadFile(state_dir_ / "hv01.state"), "off\n");
  std::string log = ReadFile(state_dir_ / "calls.log");
  EXPECT_THAT(log, HasSubstr("action=off target=hv01 behaviour=ok"));
  EXPECT_THAT(log, HasSubstr("options=action,behaviour,password,plug,state_dir "));  // delivered
  EXPECT_THAT(ReadAllFiles(state_dir_), Not(HasSubstr("s3cret")));
}

TEST_F(FenceAgentFencerTest, BareNameIsLookedUpInAgentDirsInOrder) {
  fs::create_directory(dir_ / "empty");
  fs::create_directory(dir_ / "sbin");
  fs::create_symlink(TestAgentPath(), dir_ / "sbin" / "fence_test");
  FenceAgentFencer fencer({{(dir_ / "empty").string(), (dir_ / "sbin").string()}},
                          RealClock::Get());
  FenceRequest r = TestAgentRequest("ok");
  r.agent = "fence_test";

  StatusOr<std::string> resolved = fencer.ResolveAgent("fence_test");
  ASSERT_TRUE(resolved.ok()) << resolved.status().ToString();
  EXPECT_EQ(*resolved, (dir_ / "sbin" / "fence_test").string());
  Status s = fencer.Fence(r);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(ReadFile(state_dir_ / "hv01.state"), "off\n");

  Status missing = fencer.Validate([&] { r.agent = "fence_absent"; return r; }());
  EXPECT_EQ(missing.code(), StatusCode::kFailedPrecondition) << missing.ToString();
  EXPECT_THAT(missing.message(), HasSubstr("fence_absent"));
  EXPECT_THAT(missing.message(), HasSubstr((dir_ / "sbin").string()));
}

TEST_F(FenceAgentFencerTest, FailureIsUnavailableWithExitStatusAndNoSecret) {
  FenceRequest r = TestAgentRequest("fail");
  r.args["password"] = "hunter2";

  Status s = fencer_.Fence(r);

  EXPECT_EQ(s.code(), StatusCode::kUnavailable) << s.ToString();
  EXPECT_THAT(s.message(), HasSubstr("fence agent " + TestAgentPath().string() + " for host hv01 "
                                     "failed with exit status 1: fence_test_agent: off of hv01 "
                                     "failed: behaviour=fail"));
  EXPECT_THAT(s.message(), Not(HasSubstr("hunter2")));
  EXPECT_THAT(ReadAllFiles(state_dir_), Not(HasSubstr("hunter2")));
  EXPECT_FALSE(fs::exists(state_dir_ / "hv01.state"));
}

TEST_F(FenceAgentFencerTest, HangingAgentIsKilledAtTheTimeout) {
  FenceRequest r = TestAgentRequest("hang");
  r.timeout = std::chrono::seconds(2);

  auto start = std::chrono::steady_clock::now();
  Status s = fencer_.Fence(r);
  auto elapsed = std::chrono::steady_clock::now() - start;

  EXPECT_EQ(s.code(), StatusCode::kDeadlineExceeded) << s.ToString();
  EXPECT_THAT(s.message(), HasSubstr("timed out after 2s"));
  EXPECT_GE(elapsed, std::chrono::seconds(2));
  // Upper bound only, generous for a loaded 2-core machine: timeout + SIGTERM grace + 5 s.
  EXPECT_LT(elapsed, std::chrono::seconds(2 + 2 + 5));
  pid_t pid = AgentPid();
  EXPECT_TRUE(Reaped(pid)) << "agent " << pid << " left as a zombie or still running";
  EXPECT_TRUE(GroupGone(pid)) << "process group " << pid << " still has live members";
}

TEST_F(FenceAgentFencerTest, AgentIgnoringSigtermGetsSigkillAfterTheGrace) {
  FenceAgentFencerOptions options;
  options.kill_grace = std::chrono::milliseconds(300);
  FenceAgentFencer fencer(options, RealClock::Get());
  FenceRequest r = TestAgentRequest("hang");
  r.args["ignore_sigterm"] = "1";
  r.timeout = std::chrono::seconds(2);

  auto start = std::chrono::steady_clock::now();
  Status s = fencer.Fence(r);
  auto elapsed = std::chrono::steady_clock::now() - start;

  EXPECT_EQ(s.code(), StatusCode::kDeadlineExceeded) << s.ToString();
  EXPECT_THAT(s.message(), HasSubstr("SIGKILL"));
  EXPECT_LT(elapsed, std::chrono::seconds(2 + 5));
  pid_t pid = AgentPid();
  EXPECT_TRUE(Reaped(pid)) << "agent " << pid << " left as a zombie or still running";
  EXPECT_TRUE(GroupGone(pid)) << "process group " << pid << " still has live members";
}

TEST_F(FenceAgentFencerTest, OptionsArriveOnStdinWithTheSecretFileResolved) {
  // A one-off agent that keeps its stdin: proves exactly what an agent receives.
  std::string agent = WriteAgent("fence_capture", "cat > '" + (dir_ / "stdin").string() + "'\n");
  FenceRequest r;
  r.host = "hv01";
  r.agent = agent;
  r.args = {{"plug", "hv01"}, {"passwordFile", WriteSecret("pw", "s3cret pw\n")}, {"ip", "10.0.0.11"}};

  Status s = fencer_.Fence(r);

  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(ReadFile(dir_ / "stdin"), "ip=10.0.0.11\npassword=s3cret pw\nplug=hv01\naction=off\n");
}

TEST_F(FenceAgentFencerTest, MonitorRunsTheMonitorAction) {
  FenceRequest r = TestAgentRequest("ok");
  Status s = fencer_.Monitor(r);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_THAT(ReadFile(state_dir_ / "calls.log"), HasSubstr("action=monitor target=hv01"));
  EXPECT_FALSE(fs::exists(state_dir_ / "hv01.state"));  // nothing was powered off

  EXPECT_EQ(fencer_.Monitor(TestAgentRequest("fail")).code(), StatusCode::kUnavailable);
}

TEST_F(FenceAgentFencerTest, SecretsAreRedactedFromTheAgentsOutput) {
  std::string agent = WriteAgent("fence_leaky",
                                 "while IFS= read -r l; do\n"
                                 "  case $l in password=*) p=${l#password=};; snmp_passwd=*) q=${l#*=};; esac\n"
                                 "done\n"
                                 "echo \"debug: $p\"\n"
                                 "echo \"login with password '$p' (community $q) refused; $p\" >&2\n"
                                 "exit 3\n");
  FenceRequest r;
  r.host = "hv07";
  r.agent = agent;
  r.args = {{"passwordFile", WriteSecret("pw", "t0p-s3cret\n")}, {"snmp_passwd", "c0mmunity"}};

  Status s = fencer_.Fence(r);

  EXPECT_EQ(s.code(), StatusCode::kUnavailable) << s.ToString();
  EXPECT_THAT(s.message(), HasSubstr("fence agent " + agent + " for host hv07 failed with exit "
                                     "status 3: login with password '***' (community ***) "
                                     "refused; ***"));
  EXPECT_THAT(s.message(), Not(HasSubstr("t0p-s3cret")));
  EXPECT_THAT(s.message(), Not(HasSubstr("c0mmunity")));
}

// A hostile agent echoes all it was given on one line: every secret is redacted, whatever its key
// (api_token, ApiKey, community, a second file), in the status and in the log lines.
TEST_F(FenceAgentFencerTest, EverySecretTheAgentEchoesIsRedactedWhateverItsKey) {
  std::string agent = WriteAgent("fence_echo", "tr '\\n' ' ' >&2\nexit 1\n");
  FenceRequest r;
  r.host = "hv08";
  r.agent = agent;
  r.args = {{"api_token", "tok-4f1a9"},           {"ApiKey", "key-77b2c"},
            {"community", "comm-93d1"},           {"password", "pw-inline-1"},
            {"identityFile", WriteSecret("id", "id-file-5e2")}, {"ip", "10.0.0.8"}};
  testing::internal::CaptureStderr();  // the log's lines
  Status s = fencer_.Fence(r);
  const std::string log_text = testing::internal::GetCapturedStderr();

  ASSERT_EQ(s.code(), StatusCode::kUnavailable) << s.ToString();
  EXPECT_THAT(s.message(), HasSubstr("ip=10.0.0.8"));  // what is not secret stays readable
  EXPECT_THAT(s.message(), HasSubstr("api_token=***"));
  EXPECT_THAT(s.message(), HasSubstr("identity=***"));
  for (const char* secret : {"tok-4f1a9", "key-77b2c", "comm-93d1", "pw-inline-1", "id-file-5e2"}) {
    EXPECT_THAT(s.message(), Not(HasSubstr(secret)));
    EXPECT_THAT(log_text, Not(HasSubstr(secret)));
  }
  EXPECT_THAT(log_text, HasSubstr("fence agent failed"));
}

TEST_F(FenceAgentFencerTest, WithoutStderrTheLastStdoutLineIsReported) {
  std::string agent = WriteAgent("fence_stdout",
                                 "cat >/dev/null\necho 'Unable to connect/login to fencing device'\nexit 1\n");
  FenceRequest r;
  r.host = "hv01";
  r.agent = agent;
  Status s = fencer_.Fence(r);
  EXPECT_EQ(s.code(), StatusCode::kUnavailable);
  EXPECT_THAT(s.message(), HasSubstr("exit status 1: Unable to connect/login to fencing device"));
}

TEST_F(FenceAgentFencerTest, AgentKilledBySignalIsInternal) {
  std::string agent = WriteAgent("fence_selfkill", "cat >/dev/null\necho dying >&2\nkill -KILL $$\n");
  FenceRequest r;
  r.host = "hv01";
  r.agent = agent;
  Status s = fencer_.Fence(r);
  EXPECT_EQ(s.code(), StatusCode::kInternal) << s.ToString();
  EXPECT_THAT(s.message(), HasSubstr("killed by signal 9"));
  EXPECT_THAT(s.message(), HasSubstr("dying"));
}

TEST_F(FenceAgentFencerTest, LargeOutputIsBoundedAndTheLastLineKept) {
  // 300 KiB on each stream, more than the pipes and the 64 KiB kept: the agent must not block.
  std::string agent = WriteAgent("fence_chatty",
                                 "cat >/dev/null\n"
                                 "head -c 307200 /dev/zero | tr '\\0' 'x' | fold -w 100; echo\n"
                                 "(head -c 307200 /dev/zero | tr '\\0' 'y' | fold -w 100; echo) >&2\n"
                                 "echo 'final: device busy' >&2\nexit 4\n");
  FenceRequest r;
  r.host = "hv01";
  r.agent = agent;
  r.timeout = std::chrono::seconds(60);
  Status s = fencer_.Fence(r);
  EXPECT_EQ(s.code(), StatusCode::kUnavailable) << s.ToString().substr(0, 500);
  EXPECT_THAT(s.message(), HasSubstr("exit status 4: final: device busy"));
  EXPECT_LT(s.message().size(), 1000u);
}

TEST_F(FenceAgentFencerTest, AgentThatIgnoresItsStdinDoesNotHurtTheCaller) {
  // Exits without reading 256 KiB of options: writes fail with EPIPE, never a SIGPIPE here.
  std::string agent = WriteAgent("fence_deaf", "exit 0\n");
  FenceRequest r;
  r.host = "hv01";
  r.agent = agent;
  r.args = {{"blob", std::string(256 * 1024, 'a')}};
  Status s = fencer_.Fence(r);
  EXPECT_TRUE(s.ok()) << s.ToString().substr(0, 300);
}

TEST_F(FenceAgentFencerTest, WhatTheAgentLeftRunningIsKilled) {
  std::string agent = WriteAgent("fence_forks",
                                 "cat >/dev/null\n"
                                 "sleep 1000 &\n"
                                 "echo $$ > '" + (dir_ / "agent.pid").string() + "'\n"
                                 "exit 0\n");
  FenceRequest r;
  r.host = "hv01";
  r.agent = agent;
  auto start = std::chrono::steady_clock::now();
  Status s = fencer_.Fence(r);
  EXPECT_TRUE(s.ok()) << s.ToString();
  // The sleeping child holds the output pipes: the fencer must not wait for it.
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(20));
  pid_t pgid = std::stoi(ReadFile(dir_ / "agent.pid"));
  EXPECT_TRUE(GroupGone(pgid)) << "the agent's sleep still runs in group " << pgid;
}

TEST_F(FenceAgentFencerTest, BadAgentNamesAreRefusedWithoutRunningAnything) {
  for (const char* name : {"../x", "fence_a;rm", "fence_a b", "fence_", "ipmitool", "",
                                  "bin/fence_x", "fence_x/../../bin/sh", "fence_$(id)"}) {
    FenceRequest r = TestAgentRequest("ok");
    r.agent = name;
    EXPECT_EQ(fencer_.Validate(r).code(), StatusCode::kInvalidArgument) << name;
    EXPECT_EQ(fencer_.Fence(r).code(), StatusCode::kInvalidArgument) << name;
  }
  EXPECT_FALSE(fs::exists(state_dir_));  // no agent ran

  FenceRequest not_executable = TestAgentRequest("ok");
  WriteFile(dir_ / "fence_plain", "#!/bin/sh\nexit 0\n", fs::perms(0644));
  not_executable.agent = (dir_ / "fence_plain").string();
  EXPECT_EQ(fencer_.Validate(not_executable).code(), StatusCode::kFailedPrecondition);
  not_executable.agent = dir_.string();  // a directory
  EXPECT_EQ(fencer_.Fence(not_executable).code(), StatusCode::kFailedPrecondition);
}

TEST_F(FenceAgentFencerTest, UnreadableSecretFileIsNamedButNeverShown) {
  FenceRequest r = TestAgentRequest("ok");
  std::string missing = (dir_ / "no-such-secret").string();
  r.args["passwordFile"] = missing;
  Status v = fencer_.Validate(r);
  EXPECT_EQ(v.code(), StatusCode::kFailedPrecondition) << v.ToString();
  EXPECT_THAT(v.message(), HasSubstr(missing));
  EXPECT_EQ(fencer_.Fence(r).code(), StatusCode::kFailedPrecondition);
  EXPECT_FALSE(fs::exists(state_dir_));  // the agent never ran

  r.args["passwordFile"] = dir_.string();  // a directory is not a secret file
  EXPECT_EQ(fencer_.Validate(r).code(), StatusCode::kFailedPrecondition);

  // Two lines would inject a second option; refused without echoing the content.
  r.args["passwordFile"] = WriteSecret("two-lines", "pw-line-1\naction=on\n");
  Status two = fencer_.Validate(r);
  EXPECT_EQ(two.code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(two.message(), Not(HasSubstr("pw-line-1")));
}

TEST_F(FenceAgentFencerTest, ArgsThatCouldChangeTheActionAreRefused) {
  auto code_with = [&](std::map<std::string, std::string> extra) {
    FenceRequest r = TestAgentRequest("ok");
    for (auto& [k, v] : extra) r.args[k] = v;
    return fencer_.Validate(r).code();
  };
  EXPECT_EQ(code_with({{"action", "on"}}), StatusCode::kInvalidArgument);
  EXPECT_EQ(code_with({{"option", "on"}}), StatusCode::kInvalidArgument);
  EXPECT_EQ(code_with({{"ip", "1\naction=on"}}), StatusCode::kInvalidArgument);
  EXPECT_EQ(code_with({{"a=b", "1"}}), StatusCode::kInvalidArgument);
  EXPECT_EQ(code_with({{"", "1"}}), StatusCode::kInvalidArgument);
  EXPECT_EQ(code_with({{"password", "x"}, {"passwordFile", WriteSecret("pw", "y")}}),
            StatusCode::kInvalidArgument);
  FenceRequest zero = TestAgentRequest("ok");
  zero.timeout = std::chrono::seconds(0);
  EXPECT_EQ(fencer_.Validate(zero).code(), StatusCode::kInvalidArgument);
}

TEST_F(FenceAgentFencerTest, ConcurrentFencesOfDifferentHosts) {
  std::vector<Status> results(4);
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      FenceRequest r = TestAgentRequest(i == 3 ? "fail" : "ok");
      r.host = "hv0" + std::to_string(i);
      r.args["plug"] = r.host;
      results[i] = fencer_.Fence(r);
    });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(results[i].ok()) << results[i].ToString();
    EXPECT_EQ(ReadFile(state_dir_ / ("hv0" + std::to_string(i) + ".state")), "off\n");
  }
  EXPECT_EQ(results[3].code(), StatusCode::kUnavailable);
  EXPECT_THAT(results[3].message(), HasSubstr("for host hv03"));
}

}  // namespace
}  // namespace vmk::providers
