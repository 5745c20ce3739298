// The fake's own controls (the behaviour it shares with libvirt is in
// hypervisor_behavior_test.cc).
#include "tests/fakes/fake_hypervisor.h"

#include <gtest/gtest.h>

#include <vector>

namespace vmk::providers {
namespace {

class FakeHypervisorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    hv_ = factory_.Create("hv01", "qemu+ssh://hv01/system", ConnectOptions());
    hv_->SetDomainEventHandler([this](const DomainEvent& e) { domain_events_.push_back(e); });
    hv_->SetConnectionEventHandler(
        [this](const ConnectionEvent& e) { connection_events_.push_back(e); });
    ASSERT_TRUE(hv_->Connect().ok());
    host_ = factory_.host("qemu+ssh://hv01/system");
  }

  static DomainConfig Config(const std::string& name, int64_t generation = 1) {
    DomainConfig c;
    c.name = name;
    c.cpus = 2;
    c.memoryMiB = 1024;
    c.generation = generation;
    c.disks = {{"root", "/images/" + name + ".qcow2", ""}};
    return c;
  }

  bool SawEvent(const std::string& domain, DomainEventType type) const {
    for (const auto& e : domain_events_) {
      if (e.domain == domain && e.type == type) return true;
    }
    return false;
  }

  FakeClock clock_;
  FakeHypervisorFactory factory_{&clock_};
  std::unique_ptr<Hypervisor> hv_;
  std::shared_ptr<FakeHost> host_;
  std::vector<DomainEvent> domain_events_;
  std::vector<ConnectionEvent> connection_events_;
};

TEST_F(FakeHypervisorTest, SameUriSharesHostAndEventsCarryClockTime) {
  auto second = factory_.Create("hv01", "qemu+ssh://hv01/system", ConnectOptions());
  ASSERT_TRUE(second->Connect().ok());
  ASSERT_TRUE(hv_->DefineDomain(Config("a")).ok());
  auto seen = second->GetDomain("a");
  ASSERT_TRUE(seen.ok() && seen->has_value());
  ASSERT_FALSE(domain_events_.empty());
  EXPECT_EQ(domain_events_[0].time, clock_.WallNow());
  EXPECT_EQ(factory_.created(), 2);
  // Empty disk targets are filled in, as the XML round trip does.
  EXPECT_EQ((*seen)->config->disks[0].target, "vda");
}

TEST_F(FakeHypervisorTest, PartitionKeepsDomainsRunningAndDropsConnection) {
  ASSERT_TRUE(hv_->DefineDomain(Config("wms01")).ok());
  ASSERT_TRUE(hv_->StartDomain("wms01").ok());
  host_->SetReachable(false);
  ASSERT_EQ(connection_events_.size(), 1u);
  EXPECT_FALSE(connection_events_[0].alive);
  EXPECT_EQ(connection_events_[0].reason, "keepalive");
  EXPECT_FALSE(hv_->IsAlive());
  EXPECT_EQ(hv_->ListDomains().status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(hv_->Connect().code(), StatusCode::kUnavailable);
  EXPECT_EQ(host_->Domain("wms01")->state, DomainState::kRunning);

  host_->SetReachable(true);
  EXPECT_FALSE(hv_->IsAlive());  // must reconnect
  EXPECT_EQ(hv_->ListDomains().status().code(), StatusCode::kUnavailable);
  ASSERT_TRUE(hv_->Connect().ok());
  EXPECT_TRUE(hv_->IsAlive());
  EXPECT_EQ(hv_->GetDomain("wms01").value()->state, DomainState::kRunning);
}

TEST_F(FakeHypervisorTest, CrashStopsEverything) {
  ASSERT_TRUE(hv_->DefineDomain(Config("wms01")).ok());
  ASSERT_TRUE(hv_->StartDomain("wms01").ok());
  ASSERT_TRUE(hv_->DefineDomain(Config("tmp")).ok());
  ASSERT_TRUE(hv_->StartDomain("tmp").ok());
  ASSERT_TRUE(hv_->UndefineDomain("tmp").ok());  // transient now
  host_->Crash();
  ASSERT_EQ(connection_events_.size(), 1u);
  EXPECT_EQ(connection_events_[0].reason, "eof");
  host_->SetReachable(true);
  ASSERT_TRUE(hv_->Connect().ok());
  auto list = hv_->ListDomains();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].state, DomainState::kShutoff);
  EXPECT_EQ((*list)[0].live_generation, 0);
}

TEST_F(FakeHypervisorTest, InjectedFailuresAreCountedAndExpire) {
  host_->InjectFailure(FakeOp::kStart, Status::Internal("boom"), 2);
  ASSERT_TRUE(hv_->DefineDomain(Config("x")).ok());
  EXPECT_EQ(hv_->StartDomain("x").code(), StatusCode::kInternal);
  EXPECT_EQ(hv_->StartDomain("x").code(), StatusCode::kInternal);
  EXPECT_TRUE(hv_->StartDomain("x").ok());
  EXPECT_EQ(host_->CallCount(FakeOp::kStart), 3);
  EXPECT_EQ(host_->MutatingCallCount(), 4);

  host_->InjectFailure(FakeOp::kListDomains, Status::DeadlineExceeded("slow"), -1);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(hv_->ListDomains().status().code(), StatusCode::kDeadlineExceeded);
  }
  host_->ClearFailures();
  EXPECT_TRUE(hv_->ListDomains().ok());
  host_->ResetCallCounts();
  EXPECT_EQ(host_->CallCount(FakeOp::kListDomains), 0);
}

TEST_F(FakeHypervisorTest, IgnoredShutdownKeepsGuestRunning) {
  ASSERT_TRUE(hv_->DefineDomain(Config("x")).ok());
  ASSERT_TRUE(hv_->StartDomain("x").ok());
  host_->SetIgnoreShutdown(true);
  ASSERT_TRUE(hv_->ShutdownDomain("x").ok());
  EXPECT_EQ(host_->Domain("x")->state, DomainState::kRunning);
  ASSERT_TRUE(hv_->DestroyDomain("x").ok());
  EXPECT_EQ(host_->Domain("x")->state, DomainState::kShutoff);
}

TEST_F(FakeHypervisorTest, ChangesBehindTheControllersBack) {
  ASSERT_TRUE(hv_->DefineDomain(Config("ce01", 4)).ok());
  ASSERT_TRUE(hv_->StartDomain("ce01").ok());

  ASSERT_TRUE(host_->EditDefinition("ce01", [](DomainConfig* c) { c->memoryMiB = 99; }).ok());
  auto edited = hv_->GetDomain("ce01").value();
  EXPECT_FALSE(edited->config->SameManagedConfig(Config("ce01")));
  EXPECT_EQ(edited->config->generation, 4);

  ASSERT_TRUE(host_->SetRunning("ce01", false).ok());
  EXPECT_TRUE(SawEvent("ce01", DomainEventType::kStopped));
  ASSERT_TRUE(host_->SetRunning("ce01", true).ok());
  ASSERT_TRUE(host_->CrashDomain("ce01").ok());
  EXPECT_TRUE(SawEvent("ce01", DomainEventType::kCrashed));
  EXPECT_EQ(host_->Domain("ce01")->state, DomainState::kShutoff);

  ASSERT_TRUE(host_->StripOwnerMark("ce01").ok());
  EXPECT_EQ(hv_->StartDomain("ce01").code(), StatusCode::kFailedPrecondition);
  ASSERT_TRUE(host_->RemoveDomain("ce01").ok());
  EXPECT_TRUE(host_->DomainNames().empty());
  EXPECT_TRUE(SawEvent("ce01", DomainEventType::kUndefined));

  ASSERT_TRUE(host_->DefineForeignDomain("legacy", /*running=*/true).ok());
  EXPECT_EQ(host_->DefineForeignDomain("legacy").code(), StatusCode::kAlreadyExists);
  host_->ResetCallCounts();
  EXPECT_EQ(hv_->DestroyDomain("legacy").code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(host_->Domain("legacy")->state, DomainState::kRunning);
}

TEST_F(FakeHypervisorTest, ManualEventDelivery) {
  host_->SetManualEventDelivery(true);
  ASSERT_TRUE(hv_->DefineDomain(Config("x")).ok());
  ASSERT_TRUE(hv_->StartDomain("x").ok());
  EXPECT_TRUE(domain_events_.empty());
  EXPECT_EQ(host_->DeliverPendingEvents(), 2u);
  ASSERT_EQ(domain_events_.size(), 2u);
  EXPECT_EQ(domain_events_[0].type, DomainEventType::kDefined);
  EXPECT_EQ(domain_events_[1].type, DomainEventType::kStarted);

  DomainEvent custom;
  custom.domain = "x";
  custom.type = DomainEventType::kSuspended;
  host_->EmitDomainEvent(custom);
  EXPECT_EQ(domain_events_.size(), 2u);
  host_->SetManualEventDelivery(false);  // flushes
  ASSERT_EQ(domain_events_.size(), 3u);
  EXPECT_EQ(domain_events_[2].type, DomainEventType::kSuspended);
}

TEST_F(FakeHypervisorTest, HandlerMayTriggerFurtherEventsWithoutDeadlock) {
  auto other = factory_.Create("hv01", "qemu+ssh://hv01/system", ConnectOptions());
  ASSERT_TRUE(other->Connect().ok());
  std::vector<DomainEventType> seen;
  other->SetDomainEventHandler([&](const DomainEvent& e) {
    seen.push_back(e.type);
    // Against the contract for real handlers, but the fake must not deadlock on it.
    if (e.type == DomainEventType::kDefined) {
      ASSERT_TRUE(host_->SetRunning("x", true).ok());
    }
  });
  ASSERT_TRUE(hv_->DefineDomain(Config("x")).ok());
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[1], DomainEventType::kStarted);
}

TEST_F(FakeHypervisorTest, NoEventsAfterDestruction) {
  auto other = factory_.Create("hv01", "qemu+ssh://hv01/system", ConnectOptions());
  int calls = 0;
  other->SetDomainEventHandler([&](const DomainEvent&) { ++calls; });
  ASSERT_TRUE(other->Connect().ok());
  ASSERT_TRUE(hv_->DefineDomain(Config("x")).ok());
  EXPECT_EQ(calls, 1);
  other.reset();
  ASSERT_TRUE(hv_->StartDomain("x").ok());
  EXPECT_EQ(calls, 1);
}

TEST_F(FakeHypervisorTest, EmbeddedHostGetsConfiguredSize) {
  ConnectOptions o;
  o.embedded_cpus = 3;
  o.embedded_memory_mib = 3000;
  auto hv = factory_.Create("e", "test:///embedded/e", o);
  ASSERT_TRUE(hv->Connect().ok());
  auto info = hv->GetHostInfo();
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->cpus, 3);
  EXPECT_EQ(info->memoryMiB, 3000);
  EXPECT_EQ(info->hypervisor, "TEST");
}

}  // namespace
}  // namespace vmk::providers
