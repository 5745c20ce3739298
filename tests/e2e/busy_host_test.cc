// End to end, provider level: a host whose daemon is slow to answer one call is busy, not
// dead. The heartbeat (Hypervisor::CheckAlive) must not queue behind that call and must not
// fail while keepalive says the daemon lives; once keepalive gives up on it, it fails. The
// daemon is a real libvirtd (tests/e2e/libvirt_hosts.sh), made slow by SIGSTOP for less than
// its keepalive verdict (1 s x 3). Needs root.
#include <signal.h>

#include <gtest/gtest.h>

#include <future>

#include "common/log.h"
#include "providers/hypervisor/libvirt/libvirt_event_loop.h"
#include "providers/hypervisor/libvirt/libvirt_hypervisor.h"
#include "tests/e2e/daemon_harness.h"

namespace vmk::e2e {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

class BusyHostTest : public ::testing::Test {
 protected:
  BusyHostTest() : scratch_("busy") {}

  void SetUp() override {
    ASSERT_EQ(geteuid(), 0u) << "this test runs a libvirtd host in namespaces and needs root";
    log::SetLevel(log::Level::kError);
    // libvirt's client writes to its socket with write(2), and this test kills the daemon at
    // the other end: as in vmkeeperd (main ignores it), SIGPIPE must not kill the process, the
    // write's EPIPE is the answer (once seen: CI's run ended here with SIGPIPE).
    signal(SIGPIPE, SIG_IGN);
    ASSERT_TRUE(providers::LibvirtEventLoop::Get()->Start().ok());
    auto started = HostCtl({"start", "1"});
    ASSERT_EQ(started.exit_code, 0) << started.err;
    std::string uri = HostCtl({"uri", "1"}).out;
    uri.pop_back();
    providers::ConnectOptions options;  // keepalive 1 s x 3, as vmkeeperd
    host_ = factory_.Create("hv01", uri, options);
    ASSERT_TRUE(host_->Connect().ok());
    ASSERT_TRUE(host_->CheckAlive().ok());
  }
  void TearDown() override {
    HostCtl({"cont", "1"});
    host_.reset();
    HostCtl({"stop-all"});
  }
  CommandResult HostCtl(const std::vector<std::string>& args) {
    return LibvirtHosts(scratch_.path() / "hosts", scratch_.path(), args);
  }

  ScratchDir scratch_;
  providers::LibvirtHypervisorFactory factory_;
  std::unique_ptr<providers::Hypervisor> host_;
};

TEST_F(BusyHostTest, TheHeartbeatDoesNotWaitBehindASlowCallNorFailWhileKeepaliveHolds) {
  ASSERT_EQ(HostCtl({"stop", "1"}).exit_code, 0);
  // A call the daemon cannot answer while it is stopped.
  auto listing = std::async(std::launch::async, [&] { return host_->ListDomains(); });
  ASSERT_TRUE(WaitFor([] { return providers::LibvirtHypervisor::CallsInFlightForTest() > 0; },
                      seconds(5)));

  Status beat = host_->CheckAlive();
  EXPECT_TRUE(beat.ok()) << "a busy host was taken for a dead one: " << beat.ToString();
  EXPECT_EQ(listing.wait_for(milliseconds(0)), std::future_status::timeout)
      << "the heartbeat waited for the slow call to finish";

  ASSERT_EQ(HostCtl({"cont", "1"}).exit_code, 0);
  auto listed = listing.get();
  EXPECT_TRUE(listed.ok()) << listed.status().ToString();
  EXPECT_TRUE(host_->CheckAlive().ok());
}

TEST_F(BusyHostTest, AHungHostFailsItsHeartbeatOnceKeepaliveGivesUp) {
  ASSERT_EQ(HostCtl({"stop", "1"}).exit_code, 0);
  auto listing = std::async(std::launch::async, [&] { return host_->ListDomains(); });
  // Keepalive closes the connection after about interval x (count + 1); from then on the
  // heartbeat fails, and the pending call gives up too.
  EXPECT_TRUE(WaitFor([&] { return !host_->CheckAlive().ok(); }, seconds(30)));
  auto listed = listing.get();
  EXPECT_FALSE(listed.ok());
  EXPECT_FALSE(host_->IsAlive());
}

// Hypervisor::Heartbeat, on its own connection: a hung daemon is "no answer" within the
// heartbeat's timeout (not keepalive's verdict), and at once while that beat still hangs; it
// answers again when the daemon does.
TEST_F(BusyHostTest, AHungDaemonGetsNoAnswerFromTheHeartbeatAndAtOnceWhileItStillHangs) {
  using Outcome = providers::HeartbeatResult::Outcome;
  ASSERT_EQ(host_->Heartbeat(milliseconds(500)).outcome, Outcome::kAnswered);
  ASSERT_EQ(HostCtl({"stop", "1"}).exit_code, 0);
  auto first = host_->Heartbeat(milliseconds(500));
  EXPECT_EQ(first.outcome, Outcome::kNoAnswer) << first.message;
  auto second = host_->Heartbeat(milliseconds(500));
  EXPECT_EQ(second.outcome, Outcome::kNoAnswer) << second.message;
  EXPECT_NE(second.message.find("has no answer"), std::string::npos) << second.message;
  EXPECT_TRUE(host_->IsAlive()) << "the main connection is the heartbeat's business only";
  ASSERT_EQ(HostCtl({"cont", "1"}).exit_code, 0);
  EXPECT_TRUE(WaitFor([&] { return host_->Heartbeat(milliseconds(500)).ok(); }, seconds(30)));
}

// A daemon that is gone: its socket refuses, told apart from one that hangs.
TEST_F(BusyHostTest, AKilledDaemonIsRefusedByTheHeartbeat) {
  using Outcome = providers::HeartbeatResult::Outcome;
  ASSERT_EQ(host_->Heartbeat(milliseconds(500)).outcome, Outcome::kAnswered);
  ASSERT_EQ(HostCtl({"kill", "1"}).exit_code, 0);
  providers::HeartbeatResult beat;
  EXPECT_TRUE(WaitFor(
      [&] {
        beat = host_->Heartbeat(milliseconds(500));
        return beat.outcome == Outcome::kRefused;
      },
      seconds(10)))
      << providers::HeartbeatOutcomeName(beat.outcome) << ": " << beat.message;
}

}  // namespace
}  // namespace vmk::e2e
