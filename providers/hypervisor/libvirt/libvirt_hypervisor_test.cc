// Tests specific to the libvirt provider: test:///default, open timeouts against a hung daemon,
// the event loop, and cost at 10,000 domains. The shared behaviour is in
// hypervisor_behavior_test.cc.
#include "providers/hypervisor/libvirt/libvirt_hypervisor.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <future>
#include <iostream>
#include <mutex>

#include "providers/hypervisor/libvirt/libvirt_event_loop.h"

namespace vmk::providers {
namespace {

using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

class LibvirtHypervisorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/vmk-lv-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    options_.embedded_host_dir = dir_;
    options_.open_timeout = 5s;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  static DomainConfig Config(const std::string& name) {
    DomainConfig c;
    c.name = name;
    c.cpus = 1;
    c.memoryMiB = 256;
    c.generation = 1;
    c.disks = {{"root", "/images/" + name + ".qcow2", "vda"}};
    return c;
  }

  static DomainState MustState(Hypervisor* hv, const std::string& name) {
    auto d = hv->GetDomain(name);
    if (!d.ok() || !d->has_value()) return DomainState::kNoState;
    return (*d)->state;
  }

  std::string dir_;
  ConnectOptions options_;
  LibvirtHypervisorFactory factory_;
};

TEST_F(LibvirtHypervisorTest, EmbeddedUriMapsToNodeDocument) {
  LibvirtHypervisor hv("hv01", "test:///embedded/hv01", options_, RealClock::Get());
  EXPECT_EQ(hv.uri(), "test:///embedded/hv01");
  EXPECT_EQ(hv.open_uri(), "test://" + dir_ + "/hv01.xml");
  ASSERT_TRUE(hv.Connect().ok());
  EXPECT_TRUE(std::filesystem::exists(dir_ + "/hv01.xml"));
  auto info = hv.GetHostInfo();
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->hypervisor, "TEST");  // what the test driver calls itself
  EXPECT_EQ(info->cpus, 16);
  EXPECT_EQ(info->memoryMiB, 65536);
}

TEST_F(LibvirtHypervisorTest, BadEmbeddedNameIsRefused) {
  auto hv = factory_.Create("x", "test:///embedded/../etc", options_);
  EXPECT_EQ(hv->Connect().code(), StatusCode::kInvalidArgument);
}

TEST_F(LibvirtHypervisorTest, OtherUrisPassUnchanged) {
  LibvirtHypervisor hv("default", "test:///default", options_, RealClock::Get());
  EXPECT_EQ(hv.open_uri(), "test:///default");
  ASSERT_TRUE(hv.Connect().ok());
  // test:///default comes with a domain named "test" that is not ours.
  auto test = hv.GetDomain("test");
  ASSERT_TRUE(test.ok()) << test.status().ToString();
  ASSERT_TRUE(test->has_value());
  EXPECT_FALSE((*test)->owned);
  EXPECT_EQ(hv.DestroyDomain("test").code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(MustState(&hv, "test"), DomainState::kRunning);

  ASSERT_TRUE(hv.DefineDomain(Config("vmk-default-probe")).ok());
  auto d = hv.GetDomain("vmk-default-probe");
  ASSERT_TRUE(d.ok() && d->has_value());
  EXPECT_TRUE((*d)->owned);
  ASSERT_TRUE(hv.UndefineDomain("vmk-default-probe").ok());
}

// A QEMU guest's boot, console and interfaces survive define -> get on the test driver, which
// drops <qemu:commandline> (the user-mode forwards then come from the owner mark): otherwise
// the controller would see definition drift and redefine forever.
TEST_F(LibvirtHypervisorTest, GuestConfigSurvivesDefineOnTheTestDriver) {
  LibvirtHypervisor hv("default", "test:///default", options_, RealClock::Get());
  ASSERT_TRUE(hv.Connect().ok());
  DomainConfig c = Config("vmk-guest-roundtrip");
  c.boot = {"/srv/guest/vmlinux", "/srv/guest/initramfs.cpio.gz", "console=ttyS0 panic=-1"};
  c.console_log_file = "/srv/guest/logs/vmk-guest-roundtrip.log";
  c.interfaces = {
      {"net0",
       InterfaceConfig::Type::kUser,
       "",
       {{"127.0.0.1", 18080, 80}, {"127.0.0.1", 18022, 22}}},
      {"lan", InterfaceConfig::Type::kBridge, "br0", {}},
      {"mgmt", InterfaceConfig::Type::kNetwork, "default", {}},
  };
  ASSERT_TRUE(hv.DefineDomain(c).ok());
  auto d = hv.GetDomain(c.name);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  ASSERT_TRUE(d->has_value());
  ASSERT_TRUE((*d)->config.has_value());
  const DomainConfig& back = *(*d)->config;
  EXPECT_TRUE(back.SameManagedConfig(c));
  EXPECT_EQ(back.boot.kernel, "/srv/guest/vmlinux");
  EXPECT_EQ(back.console_log_file, "/srv/guest/logs/vmk-guest-roundtrip.log");
  ASSERT_EQ(back.interfaces.size(), 3u);
  ASSERT_EQ(back.interfaces[0].port_forwards.size(), 2u);
  EXPECT_EQ(back.interfaces[0].port_forwards[0].host_port, 18080);
  EXPECT_EQ(back.interfaces[1].source, "br0");
  EXPECT_EQ(back.interfaces[2].name, "mgmt");

  // Redefining with a changed forward is read back as changed, then equal again.
  c.interfaces[0].port_forwards[0].host_port = 18081;
  EXPECT_FALSE(back.SameManagedConfig(c));
  ASSERT_TRUE(hv.DefineDomain(c).ok());
  d = hv.GetDomain(c.name);
  ASSERT_TRUE(d.ok() && d->has_value() && (*d)->config.has_value());
  EXPECT_TRUE((*d)->config->SameManagedConfig(c));
  ASSERT_TRUE(hv.UndefineDomain(c.name).ok());
}

TEST_F(LibvirtHypervisorTest, UnknownUriFailsAsUnavailable) {
  auto hv = factory_.Create("x", "bogus-driver:///nothing", options_);
  Status s = hv->Connect();
  EXPECT_EQ(s.code(), StatusCode::kUnavailable) << s.ToString();
  EXPECT_FALSE(s.message().empty());
  EXPECT_FALSE(hv->IsAlive());
}

// A unix socket that accepts connections into its backlog and never answers: a hung daemon.
class HungDaemon {
 public:
  explicit HungDaemon(const std::string& path) : path_(path) {
    fd_ = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
    ok_ = fd_ >= 0 && ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
          ::listen(fd_, 16) == 0;
  }
  ~HungDaemon() { Close(); }
  // Resets every queued connection: clients waiting on it see the connection drop.
  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    ::unlink(path_.c_str());
  }
  bool ok() const { return ok_; }

 private:
  std::string path_;
  int fd_ = -1;
  bool ok_ = false;
};

TEST_F(LibvirtHypervisorTest, OpenTimeoutOnHungHostDoesNotStallOthers) {
  HungDaemon daemon(dir_ + "/hung.sock");
  ASSERT_TRUE(daemon.ok());
  ConnectOptions hung_options = options_;
  hung_options.open_timeout = 700ms;
  auto hung = factory_.Create("hung", "test+unix:///default?socket=" + dir_ + "/hung.sock",
                              hung_options);
  auto healthy = factory_.Create("ok", "test:///embedded/ok", options_);

  auto started = SteadyClock::now();
  std::atomic<bool> hung_returned{false};
  auto hung_connect = std::async(std::launch::async, [&] {
    Status s = hung->Connect();
    hung_returned = true;
    return s;
  });

  // While the hung host's Connect waits, another host works normally.
  ASSERT_TRUE(healthy->Connect().ok());
  ASSERT_TRUE(healthy->DefineDomain(Config("se01")).ok());
  ASSERT_TRUE(healthy->StartDomain("se01").ok());
  auto list = healthy->ListDomains();
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->size(), 1u);
  EXPECT_FALSE(hung_returned) << "the healthy host's calls waited for the hung one";

  Status s = hung_connect.get();
  auto elapsed = SteadyClock::now() - started;
  EXPECT_EQ(s.code(), StatusCode::kDeadlineExceeded) << s.ToString();
  EXPECT_GE(elapsed, 650ms);
  EXPECT_LT(elapsed, 3s);
  EXPECT_FALSE(hung->IsAlive());
  EXPECT_EQ(hung->ListDomains().status().code(), StatusCode::kUnavailable);

  // A second Connect waits on the same attempt rather than starting another thread.
  EXPECT_EQ(LibvirtHypervisor::PendingOpensForTest(), 1);
  EXPECT_EQ(hung->Connect().code(), StatusCode::kDeadlineExceeded);
  EXPECT_EQ(LibvirtHypervisor::PendingOpensForTest(), 1);

  // The daemon goes away: the background attempt fails and its thread ends.
  daemon.Close();
  EXPECT_TRUE(LibvirtHypervisor::WaitForPendingOpensForTest(10s));
  Status after = hung->Connect();
  EXPECT_FALSE(after.ok());
  EXPECT_EQ(LibvirtHypervisor::WaitForPendingOpensForTest(10s), true);
  EXPECT_TRUE(healthy->IsAlive());
}

TEST_F(LibvirtHypervisorTest, DestroyingWhileOpenIsPendingIsSafe) {
  HungDaemon daemon(dir_ + "/hung2.sock");
  ASSERT_TRUE(daemon.ok());
  ConnectOptions o = options_;
  o.open_timeout = 200ms;
  {
    auto hung = factory_.Create("hung", "test+unix:///default?socket=" + dir_ + "/hung2.sock", o);
    EXPECT_EQ(hung->Connect().code(), StatusCode::kDeadlineExceeded);
  }
  daemon.Close();
  EXPECT_TRUE(LibvirtHypervisor::WaitForPendingOpensForTest(10s));
}

TEST_F(LibvirtHypervisorTest, EventLoopStopsAndRestarts) {
  LibvirtEventLoop* loop = LibvirtEventLoop::Get();
  ASSERT_TRUE(loop->Start().ok());
  EXPECT_TRUE(loop->running());
  loop->Stop();
  EXPECT_FALSE(loop->running());
  loop->Stop();  // idempotent

  // Connect restarts it; events flow again.
  std::mutex mu;
  std::condition_variable cv;
  bool started = false;
  auto hv = factory_.Create("loop", "test:///embedded/loop", options_);
  hv->SetDomainEventHandler([&](const DomainEvent& e) {
    std::lock_guard<std::mutex> l(mu);
    if (e.domain == "wn01" && e.type == DomainEventType::kStarted) started = true;
    cv.notify_all();
  });
  ASSERT_TRUE(hv->Connect().ok());
  EXPECT_TRUE(loop->running());
  ASSERT_TRUE(hv->DefineDomain(Config("wn01")).ok());
  ASSERT_TRUE(hv->StartDomain("wn01").ok());
  std::unique_lock<std::mutex> l(mu);
  EXPECT_TRUE(cv.wait_for(l, 5s, [&] { return started; }));
}

TEST_F(LibvirtHypervisorTest, NoHandlerCallAfterDestruction) {
  std::atomic<int> calls{0};
  auto hv = factory_.Create("gone", "test:///embedded/gone", options_);
  hv->SetDomainEventHandler([&](const DomainEvent&) { ++calls; });
  ASSERT_TRUE(hv->Connect().ok());
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(hv->DefineDomain(Config("d" + std::to_string(i))).ok());
  hv.reset();
  int after_reset = calls.load();
  // A fresh connection's round trip through the event loop: anything queued before is done.
  std::mutex mu;
  std::condition_variable cv;
  bool seen = false;
  auto other = factory_.Create("other", "test:///embedded/other", options_);
  other->SetDomainEventHandler([&](const DomainEvent&) {
    std::lock_guard<std::mutex> l(mu);
    seen = true;
    cv.notify_all();
  });
  ASSERT_TRUE(other->Connect().ok());
  ASSERT_TRUE(other->DefineDomain(Config("x")).ok());
  {
    std::unique_lock<std::mutex> l(mu);
    ASSERT_TRUE(cv.wait_for(l, 5s, [&] { return seen; }));
  }
  EXPECT_EQ(calls.load(), after_reset);
}

// Cost at scale on one embedded host: 10,000 owned domains defined and started, then listed.
TEST_F(LibvirtHypervisorTest, TenThousandDomainsOnOneHost) {
  constexpr int kDomains = 10000;
  auto hv = factory_.Create("big", "test:///embedded/big", options_);
  ASSERT_TRUE(hv->Connect().ok());
  auto t0 = SteadyClock::now();
  for (int i = 0; i < kDomains; ++i) {
    std::string name = "vm" + std::to_string(i);
    ASSERT_TRUE(hv->DefineDomain(Config(name)).ok());
    ASSERT_TRUE(hv->StartDomain(name).ok());
  }
  auto t1 = SteadyClock::now();
  auto list = hv->ListDomains();
  auto t2 = SteadyClock::now();
  ASSERT_TRUE(list.ok()) << list.status().ToString();
  ASSERT_EQ(list->size(), static_cast<size_t>(kDomains));
  for (const DomainInfo& d : *list) {
    ASSERT_TRUE(d.owned);
    ASSERT_EQ(d.live_generation, 1);
  }
  auto us = [](auto d) { return std::chrono::duration_cast<std::chrono::microseconds>(d).count(); };
  std::cout << "[ metrics  ] define+start per domain: " << us(t1 - t0) / kDomains
            << " us; ListDomains(" << kDomains << "): " << us(t2 - t1) / 1000 << " ms\n";
  RecordProperty("define_start_us_per_domain", static_cast<int>(us(t1 - t0) / kDomains));
  RecordProperty("list_10k_ms", static_cast<int>(us(t2 - t1) / 1000));
  EXPECT_LT(t2 - t1, 10s);
}

}  // namespace
}  // namespace vmk::providers
