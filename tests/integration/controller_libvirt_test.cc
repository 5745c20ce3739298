// Integration: the real Controller over a real RocksDB store and real libvirt test-driver hosts
// (three independent embedded hosts in this process), driven with the example grid fleet.
// Drift is made through the host connections themselves, behind the reconciler's back, so that
// libvirt's own lifecycle events are what brings the controller back (the periodic resync is set
// far beyond the test deadlines).
#include <algorithm>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <functional>
#include <map>
#include <set>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "providers/hypervisor/libvirt/libvirt_hypervisor.h"
#include "reconciler/controller/controller.h"
#include "reconciler/core/object_status.h"
#include "reconciler/store/rocksdb_store.h"
#include "specs/manifest_files.h"

namespace vmk {
namespace {

namespace fs = std::filesystem;
using reconciler::VmStatus;
using specs::Kind;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr auto kDeadline = seconds(20);

// Waits for `condition` with a deadline, looking again every 10 ms.
bool WaitFor(const std::function<bool()>& condition, std::chrono::milliseconds deadline = kDeadline) {
  auto until = std::chrono::steady_clock::now() + deadline;
  while (std::chrono::steady_clock::now() < until) {
    if (condition()) return true;
    std::this_thread::sleep_for(milliseconds(10));
  }
  return condition();
}

std::vector<reconciler::ManifestFile> GridManifests() {
  auto read = specs::ReadManifestFiles(std::string(VMK_SOURCE_DIR) + "/examples/grid");
  EXPECT_TRUE(read.errors.empty());
  std::vector<reconciler::ManifestFile> files;
  for (auto& f : read.files) files.push_back({f.name, f.content});
  return files;
}

class ControllerLibvirtTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("vmk-integration-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "embedded");
    auto store = reconciler::RocksDbStore::Open((dir_ / "store").string(), {});
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(*store);
    StartController();
  }
  void StartController() {
    reconciler::ControllerOptions options;
    options.workers = 4;
    options.resync_period = std::chrono::hours(1);
    options.connect.embedded_host_dir = (dir_ / "embedded").string();
    options.stop_grace = seconds(5);
    controller_ = std::make_unique<reconciler::Controller>(store_.get(), &factory_,
                                                           RealClock::Get(), options);
    ASSERT_TRUE(controller_->Start().ok());
  }
  void TearDown() override {
    controller_.reset();
    store_.reset();
    fs::remove_all(dir_);
  }

  void ApplyGrid() {
    auto out = controller_->Apply(GridManifests(), {});
    ASSERT_TRUE(out.ok()) << out.status().ToString();
    ASSERT_TRUE(out->errors.empty()) << out->errors.front();
  }
  VmStatus StatusOf(const std::string& vm) {
    auto o = controller_->Get(Kind::kVirtualMachine, vm);
    if (!o.ok() || !*o) return {};
    return VmStatus::FromJson((*o)->status);
  }
  bool IsReady(const std::string& vm) {
    auto s = StatusOf(vm);
    const auto* ready = specs::FindCondition(s.conditions, "Ready");
    return ready && ready->status == "True";
  }
  bool AllReady() {
    auto vms = controller_->List(Kind::kVirtualMachine);
    if (!vms.ok() || vms->empty()) return false;
    for (const auto& vm : *vms) {
      if (!IsReady(vm.metadata.name)) return false;
    }
    return true;
  }
  providers::Hypervisor& HostOf(const std::string& vm) {
    auto* conn = controller_->HostConnectionForTest(StatusOf(vm).host);
    EXPECT_NE(conn, nullptr);
    return *conn;
  }
  std::optional<providers::DomainInfo> DomainOf(const std::string& vm) {
    auto d = HostOf(vm).GetDomain(vm);
    return d.ok() ? *d : std::nullopt;
  }
  std::vector<std::string> Reasons(const std::string& vm) {
    std::vector<std::string> out;
    auto events = controller_->Events(reconciler::ObjectRef{Kind::kVirtualMachine, vm}, 0, 1000);
    if (events.ok()) {
      for (const auto& e : *events) out.push_back(e.reason);
    }
    return out;
  }
  static bool Contains(const std::vector<std::string>& reasons, const std::string& reason) {
    return std::find(reasons.begin(), reasons.end(), reason) != reasons.end();
  }
  // Every owned domain on every host, as "host/name".
  std::multiset<std::string> OwnedDomainNames() {
    std::multiset<std::string> out;
    for (const char* host : {"hv01", "hv02", "hv03"}) {
      auto* conn = controller_->HostConnectionForTest(host);
      if (!conn) continue;
      auto list = conn->ListDomains();
      if (!list.ok()) continue;
      for (const auto& d : *list) {
        if (d.owned) out.insert(d.name);
      }
    }
    return out;
  }

  fs::path dir_;
  providers::LibvirtHypervisorFactory factory_;
  std::unique_ptr<reconciler::RocksDbStore> store_;
  std::unique_ptr<reconciler::Controller> controller_;
};

TEST_F(ControllerLibvirtTest, TheExampleFleetConverges) {
  ApplyGrid();
  ASSERT_TRUE(WaitFor([&] { return AllReady(); })) << "fleet did not become Ready";
  EXPECT_TRUE(controller_->Ready());
  auto vms = controller_->List(Kind::kVirtualMachine);
  ASSERT_TRUE(vms.ok());
  ASSERT_EQ(vms->size(), 6u);
  std::multiset<std::string> expected;
  for (const auto& vm : *vms) {
    expected.insert(vm.metadata.name);
    auto domain = DomainOf(vm.metadata.name);
    ASSERT_TRUE(domain.has_value()) << vm.metadata.name;
    EXPECT_TRUE(domain->owned);
    EXPECT_EQ(domain->state, providers::DomainState::kRunning) << vm.metadata.name;
  }
  EXPECT_EQ(OwnedDomainNames(), expected) << "each VM exactly once";
  // Placement honoured: wms01 on rack r1, the two CEs apart.
  EXPECT_THAT(StatusOf("wms01").host, ::testing::AnyOf("hv01", "hv02"));
  EXPECT_NE(StatusOf("ce01").host, StatusOf("ce02").host);
  // Hosts report themselves Ready with their allocation.
  ASSERT_TRUE(controller_->WaitIdle(milliseconds(10000)));
  auto hosts = controller_->List(Kind::kHost);
  ASSERT_TRUE(hosts.ok());
  int placed = 0;
  for (const auto& h : *hosts) {
    auto status = reconciler::HostStatus::FromJson(h.status);
    const auto* ready = specs::FindCondition(status.conditions, "Ready");
    ASSERT_NE(ready, nullptr);
    EXPECT_EQ(ready->status, "True");
    EXPECT_EQ(status.hypervisor, "TEST");
    EXPECT_EQ(status.capacity.cpus, 16);
    placed += status.vms;
  }
  EXPECT_EQ(placed, 6);
  // Applying the same files again changes nothing.
  auto again = controller_->Apply(GridManifests(), {});
  ASSERT_TRUE(again.ok());
  for (const auto& r : again->results) EXPECT_EQ(r.action, "unchanged") << r.name;
}

// The QEMU guest example (the e2e tests' guest) is a valid manifest next to the grid's hosts.
TEST_F(ControllerLibvirtTest, TheQemuGuestExampleIsAcceptedWithTheGridHosts) {
  auto files = GridManifests();
  auto guest = specs::ReadManifestFiles(std::string(VMK_SOURCE_DIR) + "/examples/qemu-guest");
  ASSERT_TRUE(guest.errors.empty());
  ASSERT_EQ(guest.files.size(), 1u);
  for (auto& f : guest.files) files.push_back({f.name, f.content});
  reconciler::ApplyOptions dry_run;
  dry_run.dry_run = true;
  auto outcome = controller_->Apply(files, dry_run);
  ASSERT_TRUE(outcome.ok()) << outcome.status().ToString();
  bool found = false;
  for (const auto& r : outcome->results) found = found || r.name == "web01";
  EXPECT_TRUE(found);
}

// On the embedded default the hosts live inside vmkeeperd and their domains go with it: a
// restart of the controller is not a failure of every VM (no restart counted, no incident).
TEST_F(ControllerLibvirtTest, RestartingTheControllerIsNotAFailureOfTheVmsOfItsEmbeddedHosts) {
  ApplyGrid();
  ASSERT_TRUE(WaitFor([&] { return AllReady(); }));
  for (int restart = 0; restart < 3; ++restart) {
    controller_.reset();
    StartController();
    ASSERT_TRUE(WaitFor([&] {
      return AllReady() && DomainOf("wms01") &&
             DomainOf("wms01")->state == providers::DomainState::kRunning;
    })) << "restart " << restart;
  }
  auto vms = controller_->List(Kind::kVirtualMachine);
  ASSERT_TRUE(vms.ok());
  for (const auto& vm : *vms) {
    EXPECT_EQ(VmStatus::FromJson(vm.status).restartCount, 0) << vm.metadata.name;
    EXPECT_FALSE(Contains(Reasons(vm.metadata.name), "Restarted")) << vm.metadata.name;
    auto incidents =
        controller_->Incidents(reconciler::ObjectRef{Kind::kVirtualMachine, vm.metadata.name});
    ASSERT_TRUE(incidents.ok());
    EXPECT_TRUE(incidents->empty()) << vm.metadata.name;
  }
}

TEST_F(ControllerLibvirtTest, ADomainDestroyedBehindOurBackIsRestarted) {
  ApplyGrid();
  ASSERT_TRUE(WaitFor([&] { return AllReady(); }));
  ASSERT_TRUE(HostOf("bdii01").DestroyDomain("bdii01").ok());
  ASSERT_TRUE(WaitFor([&] {
    auto d = DomainOf("bdii01");
    return StatusOf("bdii01").restartCount == 1 && d &&
           d->state == providers::DomainState::kRunning;
  })) << "not restarted";
  // The event is stored after the domain is started: wait for it rather than race it.
  EXPECT_TRUE(WaitFor([&] { return Contains(Reasons("bdii01"), "Restarted"); }))
      << ::testing::PrintToString(Reasons("bdii01"));
}

TEST_F(ControllerLibvirtTest, ADefinitionEditedBehindOurBackIsRestored) {
  ApplyGrid();
  ASSERT_TRUE(WaitFor([&] { return AllReady(); }));
  auto domain = DomainOf("ui01");
  ASSERT_TRUE(domain && domain->config);
  providers::DomainConfig edited = *domain->config;
  edited.memoryMiB = 512;
  ASSERT_TRUE(HostOf("ui01").DefineDomain(edited).ok());
  ASSERT_TRUE(WaitFor([&] {
    auto d = DomainOf("ui01");
    return d && d->config && d->config->memoryMiB == 4096;
  })) << "definition not restored";
  // The event is stored after the definition is restored: wait for it rather than race it.
  EXPECT_TRUE(WaitFor([&] { return Contains(Reasons("ui01"), "DefinitionRestored"); }))
      << ::testing::PrintToString(Reasons("ui01"));
}

TEST_F(ControllerLibvirtTest, AForeignDomainIsLeftAlone) {
  ApplyGrid();
  ASSERT_TRUE(WaitFor([&] { return AllReady(); }));
  auto* hv03 = dynamic_cast<providers::LibvirtHypervisor*>(controller_->HostConnectionForTest("hv03"));
  ASSERT_NE(hv03, nullptr);
  ASSERT_TRUE(hv03->DefineRawXmlForTest(
                      "<domain type='test'><name>legacy</name><memory unit='MiB'>256</memory>"
                      "<vcpu>1</vcpu><os><type>hvm</type></os></domain>")
                  .ok());
  ASSERT_TRUE(hv03->StartDomain("legacy").code() == StatusCode::kFailedPrecondition)
      << "the provider itself refuses to touch it";
  // A foreign domain named like a managed VM is not touched either, and is not "restored".
  ASSERT_TRUE(controller_->Apply(GridManifests(), {}).ok());
  ASSERT_TRUE(controller_->WaitIdle(milliseconds(10000)));
  auto legacy = hv03->GetDomain("legacy");
  ASSERT_TRUE(legacy.ok() && legacy->has_value());
  EXPECT_FALSE((*legacy)->owned);
  EXPECT_EQ((*legacy)->state, providers::DomainState::kShutoff);
  EXPECT_EQ((*legacy)->name, "legacy");
}

TEST_F(ControllerLibvirtTest, DeletingAVmRemovesItsDomain) {
  ApplyGrid();
  ASSERT_TRUE(WaitFor([&] { return AllReady(); }));
  const std::string host = StatusOf("se01").host;
  auto* conn = controller_->HostConnectionForTest(host);
  ASSERT_NE(conn, nullptr);
  ASSERT_TRUE(controller_->Delete(Kind::kVirtualMachine, "se01").ok());
  ASSERT_TRUE(WaitFor([&] {
    auto d = conn->GetDomain("se01");
    return d.ok() && !d->has_value();
  })) << "domain still defined";
  EXPECT_EQ(OwnedDomainNames().count("se01"), 0u);
  auto gone = controller_->Get(Kind::kVirtualMachine, "se01");
  ASSERT_TRUE(gone.ok());
  EXPECT_FALSE(gone->has_value());
}

TEST_F(ControllerLibvirtTest, RunningFalseStopsTheDomain) {
  ApplyGrid();
  ASSERT_TRUE(WaitFor([&] { return AllReady(); }));
  auto files = GridManifests();
  for (auto& f : files) {
    auto pos = f.content.find("name: ui01");
    if (pos == std::string::npos) continue;
    auto spec = f.content.find("spec:\n", pos);
    f.content.insert(spec + 6, "  running: false\n");
  }
  auto out = controller_->Apply(files, {});
  ASSERT_TRUE(out.ok());
  ASSERT_TRUE(out->errors.empty()) << out->errors.front();
  ASSERT_TRUE(WaitFor([&] {
    auto d = DomainOf("ui01");
    return d && d->state == providers::DomainState::kShutoff && IsReady("ui01");
  })) << "not stopped";
}

std::string ReadTestData(const std::string& name) {
  std::ifstream in(std::string(VMK_SOURCE_DIR) + "/tests/data/alertmanager/" + name);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST_F(ControllerLibvirtTest, AlertsBecomeIncidentsOnceHoweverOftenTheyAreSent) {
  ApplyGrid();
  ASSERT_TRUE(WaitFor([&] { return AllReady(); }));
  const char* kVms[] = {"wms01", "ce01", "ce02", "bdii01", "se01", "ui01"};
  std::map<std::string, std::string> placed;
  for (const char* vm : kVms) placed[vm] = StatusOf(vm).host;
  // A host-down alert from Alertmanager names hv01 by its `instance` label.
  const std::string firing = ReadTestData("sample_webhook_firing_manual.json");
  auto first = controller_->IngestAlerts(firing);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(first->accepted, 1);
  EXPECT_EQ(first->repeated, 0);
  auto again = controller_->IngestAlerts(firing);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->accepted, 0);
  EXPECT_EQ(again->repeated, 1) << "Alertmanager re-sends: one incident, not two";
  auto incidents = controller_->Incidents(reconciler::ObjectRef{Kind::kHost, "hv01"});
  ASSERT_TRUE(incidents.ok());
  ASSERT_EQ(incidents->size(), 1u);
  EXPECT_EQ((*incidents)[0].occurred, "2026-11-27T13:00:00.000Z") << "startsAt is the evidence";
  EXPECT_THAT((*incidents)[0].sources, ::testing::ElementsAre("alert"));
  // The alert alone never fails the host over: hv01 answers its heartbeats.
  ASSERT_TRUE(controller_->WaitIdle(milliseconds(10000)));
  for (const char* vm : kVms) {
    EXPECT_EQ(StatusOf(vm).host, placed[vm]) << vm << " moved on an alert alone";
    EXPECT_TRUE(IsReady(vm)) << vm;
  }
  // A VM alert and an alert naming nothing vmkeeper knows.
  auto vm_alert = controller_->IngestAlerts(ReadTestData("webhook_vm_probe_failing.json"));
  ASSERT_TRUE(vm_alert.ok());
  EXPECT_EQ(vm_alert->accepted, 1);
  auto wms = controller_->Incidents(reconciler::ObjectRef{Kind::kVirtualMachine, "wms01"});
  ASSERT_TRUE(wms.ok());
  ASSERT_EQ(wms->size(), 1u);
  EXPECT_EQ((*wms)[0].type, "VmAlert");
  auto unrelated = controller_->IngestAlerts(ReadTestData("webhook_unrelated.json"));
  ASSERT_TRUE(unrelated.ok());
  EXPECT_EQ(unrelated->accepted, 0);
  EXPECT_FALSE(unrelated->skipped.empty());
  // Not a webhook payload at all.
  auto bad = controller_->IngestAlerts("{\"version\": \"3\"}");
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace vmk
