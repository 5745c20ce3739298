// One behavioural suite run against both providers: the real libvirt provider on embedded test
// hosts (libvirt's test:/// driver) and FakeHypervisor. Whatever the reconciler's unit tests
// learn from the fake must hold for the real thing.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <vector>

#include "tests/fakes/fake_hypervisor.h"
#include "providers/hypervisor/hypervisor.h"
#include "providers/hypervisor/libvirt/libvirt_hypervisor.h"

namespace vmk::providers {
namespace {

using namespace std::chrono_literals;

// Collects events; Wait* block on a condition variable with a deadline (never sleep).
class EventRecorder {
 public:
  void OnDomain(const DomainEvent& e) {
    std::lock_guard<std::mutex> l(mu_);
    domain_events_.push_back(e);
    cv_.notify_all();
  }
  bool WaitForDomainEvent(const std::string& domain, DomainEventType type,
                          std::chrono::milliseconds timeout = 5s) {
    std::unique_lock<std::mutex> l(mu_);
    return cv_.wait_for(l, timeout, [&] {
      for (const auto& e : domain_events_) {
        if (e.domain == domain && e.type == type) return true;
      }
      return false;
    });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<DomainEvent> domain_events_;
};

enum class Backend { kLibvirt, kFake };

class HypervisorBehaviorTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/vmk-hv-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    options_.embedded_host_dir = dir_;
    options_.embedded_cpus = 4;
    options_.embedded_memory_mib = 8192;
    options_.open_timeout = 5s;
    if (GetParam() == Backend::kLibvirt) {
      factory_ = std::make_unique<LibvirtHypervisorFactory>();
    } else {
      auto fake = std::make_unique<FakeHypervisorFactory>();
      fake_ = fake.get();
      factory_ = std::move(fake);
    }
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<Hypervisor> Connected(const std::string& name) {
    auto hv = factory_->Create(name, "test:///embedded/" + name, options_);
    Status s = hv->Connect();
    EXPECT_TRUE(s.ok()) << s.ToString();
    return hv;
  }

  // A domain vmkeeper does not own, made the way an admin would.
  void DefineForeign(Hypervisor* hv, const std::string& name) {
    if (fake_ != nullptr) {
      ASSERT_TRUE(fake_->host(hv->uri())->DefineForeignDomain(name).ok());
    } else {
      std::string xml = "<domain type='test'><name>" + name +
                        "</name><memory unit='MiB'>256</memory><vcpu>1</vcpu>"
                        "<os><type>hvm</type></os></domain>";
      Status s = static_cast<LibvirtHypervisor*>(hv)->DefineRawXmlForTest(xml);
      ASSERT_TRUE(s.ok()) << s.ToString();
    }
  }

  static DomainConfig Config(const std::string& name, int64_t generation = 1) {
    DomainConfig c;
    c.name = name;
    c.cpus = 2;
    c.memoryMiB = 512;
    c.generation = generation;
    c.disks = {{"root", "/var/lib/vmkeeper/images/" + name + ".qcow2", "vda"}};
    return c;
  }

  static DomainInfo MustGet(Hypervisor* hv, const std::string& name) {
    auto d = hv->GetDomain(name);
    EXPECT_TRUE(d.ok()) << d.status().ToString();
    if (!d.ok() || !d->has_value()) {
      ADD_FAILURE() << "domain " << name << " missing";
      return DomainInfo();
    }
    return **d;
  }

  std::string dir_;
  ConnectOptions options_;
  std::unique_ptr<HypervisorFactory> factory_;
  FakeHypervisorFactory* fake_ = nullptr;
};

TEST_P(HypervisorBehaviorTest, CallsBeforeConnectAreUnavailable) {
  auto hv = factory_->Create("h", "test:///embedded/h", options_);
  EXPECT_FALSE(hv->IsAlive());
  EXPECT_EQ(hv->ListDomains().status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(hv->StartDomain("x").code(), StatusCode::kUnavailable);
  ASSERT_TRUE(hv->Connect().ok());
  EXPECT_TRUE(hv->IsAlive());
  EXPECT_TRUE(hv->Connect().ok());  // idempotent
}

TEST_P(HypervisorBehaviorTest, HostInfoReflectsEmbeddedSize) {
  auto hv = Connected("sized");
  auto info = hv->GetHostInfo();
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->cpus, 4);
  EXPECT_EQ(info->memoryMiB, 8192);
}

TEST_P(HypervisorBehaviorTest, FullLifecycle) {
  auto hv = Connected("hv01");
  auto empty = hv->ListDomains();
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());

  ASSERT_TRUE(hv->DefineDomain(Config("wms01", 3)).ok());
  auto list = hv->ListDomains();
  ASSERT_TRUE(list.ok()) << list.status().ToString();
  ASSERT_EQ(list->size(), 1u);
  const DomainInfo& d = (*list)[0];
  EXPECT_EQ(d.name, "wms01");
  EXPECT_TRUE(d.owned);
  EXPECT_TRUE(d.persistent);
  EXPECT_FALSE(d.uuid.empty());
  EXPECT_EQ(d.state, DomainState::kShutoff);
  ASSERT_TRUE(d.config.has_value());
  EXPECT_TRUE(d.config->SameManagedConfig(Config("wms01")));
  EXPECT_EQ(d.config->generation, 3);
  EXPECT_EQ(d.config->disks[0].name, "root");
  EXPECT_EQ(d.live_generation, 0);

  ASSERT_TRUE(hv->StartDomain("wms01").ok());
  DomainInfo running = MustGet(hv.get(), "wms01");
  EXPECT_EQ(running.state, DomainState::kRunning);
  EXPECT_EQ(running.live_generation, 3);
  EXPECT_EQ(running.uuid, d.uuid);
  EXPECT_TRUE(hv->StartDomain("wms01").ok());  // already running

  ASSERT_TRUE(hv->ShutdownDomain("wms01").ok());
  EXPECT_EQ(MustGet(hv.get(), "wms01").state, DomainState::kShutoff);
  EXPECT_TRUE(hv->ShutdownDomain("wms01").ok());  // already off

  ASSERT_TRUE(hv->StartDomain("wms01").ok());
  ASSERT_TRUE(hv->DestroyDomain("wms01").ok());
  EXPECT_EQ(MustGet(hv.get(), "wms01").state, DomainState::kShutoff);
  EXPECT_TRUE(hv->DestroyDomain("wms01").ok());  // already off

  ASSERT_TRUE(hv->UndefineDomain("wms01").ok());
  auto gone = hv->GetDomain("wms01");
  ASSERT_TRUE(gone.ok());
  EXPECT_FALSE(gone->has_value());
  EXPECT_TRUE(hv->UndefineDomain("wms01").ok());  // already absent
}

TEST_P(HypervisorBehaviorTest, MissingDomainIsNotFound) {
  auto hv = Connected("hv01");
  EXPECT_EQ(hv->StartDomain("nope").code(), StatusCode::kNotFound);
  EXPECT_EQ(hv->ShutdownDomain("nope").code(), StatusCode::kNotFound);
  EXPECT_EQ(hv->DestroyDomain("nope").code(), StatusCode::kNotFound);
}

TEST_P(HypervisorBehaviorTest, InvalidConfigIsRefused) {
  auto hv = Connected("hv01");
  DomainConfig c = Config("bad");
  c.memoryMiB = 0;
  EXPECT_EQ(hv->DefineDomain(c).code(), StatusCode::kInvalidArgument);
  c = Config("");
  EXPECT_EQ(hv->DefineDomain(c).code(), StatusCode::kInvalidArgument);
}

TEST_P(HypervisorBehaviorTest, RedefineWhileRunningChangesConfigNotLiveGeneration) {
  auto hv = Connected("hv01");
  ASSERT_TRUE(hv->DefineDomain(Config("ce01", 1)).ok());
  std::string uuid = MustGet(hv.get(), "ce01").uuid;
  ASSERT_TRUE(hv->StartDomain("ce01").ok());

  DomainConfig changed = Config("ce01", 2);
  changed.memoryMiB = 2048;
  changed.disks.push_back({"data", "/var/lib/vmkeeper/images/ce01-data.img", "vdb"});
  ASSERT_TRUE(hv->DefineDomain(changed).ok());

  DomainInfo d = MustGet(hv.get(), "ce01");
  EXPECT_EQ(d.uuid, uuid);
  EXPECT_EQ(d.state, DomainState::kRunning);
  ASSERT_TRUE(d.config.has_value());
  EXPECT_EQ(d.config->memoryMiB, 2048);
  EXPECT_EQ(d.config->generation, 2);
  EXPECT_TRUE(d.config->SameManagedConfig(changed));
  EXPECT_EQ(d.live_generation, 1);  // the running instance still has the old definition

  ASSERT_TRUE(hv->DestroyDomain("ce01").ok());
  ASSERT_TRUE(hv->StartDomain("ce01").ok());
  EXPECT_EQ(MustGet(hv.get(), "ce01").live_generation, 2);
}

TEST_P(HypervisorBehaviorTest, UndefineRunningLeavesTransientUntilStopped) {
  auto hv = Connected("hv01");
  ASSERT_TRUE(hv->DefineDomain(Config("ui01")).ok());
  ASSERT_TRUE(hv->StartDomain("ui01").ok());
  ASSERT_TRUE(hv->UndefineDomain("ui01").ok());
  DomainInfo d = MustGet(hv.get(), "ui01");
  EXPECT_FALSE(d.persistent);
  EXPECT_TRUE(IsActive(d.state));
  EXPECT_TRUE(d.owned);
  ASSERT_TRUE(hv->DestroyDomain("ui01").ok());
  auto gone = hv->GetDomain("ui01");
  ASSERT_TRUE(gone.ok());
  EXPECT_FALSE(gone->has_value());
}

TEST_P(HypervisorBehaviorTest, EmbeddedHostsAreIndependent) {
  auto a = Connected("hv-a");
  auto b = Connected("hv-b");
  ASSERT_TRUE(a->DefineDomain(Config("only-on-a")).ok());
  ASSERT_TRUE(a->StartDomain("only-on-a").ok());
  auto on_b = b->ListDomains();
  ASSERT_TRUE(on_b.ok());
  EXPECT_TRUE(on_b->empty());
  ASSERT_TRUE(b->DefineDomain(Config("only-on-a", 5)).ok());  // same name, other host
  EXPECT_EQ(MustGet(a.get(), "only-on-a").state, DomainState::kRunning);
  EXPECT_EQ(MustGet(b.get(), "only-on-a").state, DomainState::kShutoff);
  EXPECT_EQ(MustGet(a.get(), "only-on-a").config->generation, 1);
}

TEST_P(HypervisorBehaviorTest, ForeignDomainIsListedAndNeverTouched) {
  auto hv = Connected("hv01");
  DefineForeign(hv.get(), "legacy");
  auto list = hv->ListDomains();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].name, "legacy");
  EXPECT_FALSE((*list)[0].owned);
  EXPECT_FALSE((*list)[0].config.has_value());

  EXPECT_EQ(hv->DefineDomain(Config("legacy")).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(hv->StartDomain("legacy").code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(hv->ShutdownDomain("legacy").code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(hv->DestroyDomain("legacy").code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(hv->UndefineDomain("legacy").code(), StatusCode::kFailedPrecondition);

  DomainInfo after = MustGet(hv.get(), "legacy");
  EXPECT_FALSE(after.owned);
  EXPECT_EQ(after.state, DomainState::kShutoff);
  EXPECT_TRUE(after.persistent);
}

TEST_P(HypervisorBehaviorTest, LifecycleEventsAreDelivered) {
  EventRecorder events;
  auto hv = factory_->Create("ev", "test:///embedded/ev", options_);
  hv->SetDomainEventHandler([&](const DomainEvent& e) { events.OnDomain(e); });
  ASSERT_TRUE(hv->Connect().ok());
  ASSERT_TRUE(hv->DefineDomain(Config("bdii01")).ok());
  EXPECT_TRUE(events.WaitForDomainEvent("bdii01", DomainEventType::kDefined));
  ASSERT_TRUE(hv->StartDomain("bdii01").ok());
  EXPECT_TRUE(events.WaitForDomainEvent("bdii01", DomainEventType::kStarted));
  ASSERT_TRUE(hv->DestroyDomain("bdii01").ok());
  EXPECT_TRUE(events.WaitForDomainEvent("bdii01", DomainEventType::kStopped));
  ASSERT_TRUE(hv->UndefineDomain("bdii01").ok());
  EXPECT_TRUE(events.WaitForDomainEvent("bdii01", DomainEventType::kUndefined));
}

INSTANTIATE_TEST_SUITE_P(Providers, HypervisorBehaviorTest,
                         ::testing::Values(Backend::kLibvirt, Backend::kFake),
                         [](const ::testing::TestParamInfo<Backend>& info) {
                           return info.param == Backend::kLibvirt ? std::string("Libvirt")
                                                                  : std::string("Fake");
                         });

}  // namespace
}  // namespace vmk::providers
