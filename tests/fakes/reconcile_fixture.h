// Shared fixture for the reconcile-logic unit tests: the controller's parts wired by the real
// ControlLoop over fakes (a MemoryStore, fake hosts, a fake fencer and prober, a FakeClock), with
// the reconcilers called synchronously so that every decision is deterministic. Manifests go in
// through a real Applier.
#pragma once

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "metrics/controller_metrics.h"
#include "tests/fakes/fake_fencer.h"
#include "tests/fakes/fake_hypervisor.h"
#include "tests/fakes/fake_prober.h"
#include "reconciler/apply/applier.h"
#include "reconciler/controller/control_loop.h"
#include "reconciler/host/host_reconciler.h"
#include "tests/fakes/memory_store.h"
#include "reconciler/core/object_status.h"
#include "reconciler/vm/vm_reconciler.h"

namespace vmk::reconciler {

// The loop's options for a driver that runs one work item at a time (this fixture, the
// failover simulation): default heartbeats (1 s, 3 failures), the given fake edges, and probe
// keys on the one queue.
inline ControlLoopOptions OneWorkerLoopOptions(providers::Fencer* fencer,
                                               providers::Prober* prober,
                                               providers::ImageInspector* images) {
  ControlLoopOptions options;
  options.images = images;
  options.heartbeat_interval = std::chrono::seconds(1);
  options.heartbeat_failures = 3;
  options.fencer = fencer;
  options.prober = prober;
  options.separate_probe_queue = false;
  return options;
}

class ReconcileFixture : public ::testing::Test {
 protected:
  ReconcileFixture()
      : factory_(&clock_),
        fencer_(&clock_),
        loop_(&store_, &factory_, &clock_, LoopOptions(&fencer_, &prober_, storage_.get())),
        metrics_(loop_.metrics()),
        recorder_(loop_.events()),
        queue_(loop_.queue()),
        book_(loop_.book()),
        registry_(loop_.hosts()),
        health_(loop_.health()),
        incidents_(loop_.incidents()),
        vm_health_(loop_.vm_health()),
        ctx_(loop_.context()),
        vms_(loop_.vm_reconciler()),
        probes_(loop_.probe_reconciler()),
        hosts_(loop_.host_reconciler()),
        heartbeats_(loop_.heartbeat_reconciler()),
        applier_(&store_, nullptr, nullptr, &clock_) {}

  static ControlLoopOptions LoopOptions(providers::Fencer* fencer, providers::Prober* prober,
                                        providers::ImageInspector* images) {
    return OneWorkerLoopOptions(fencer, prober, images);
  }

  static std::string HostYaml(const std::string& name, const std::string& labels = "{}",
                              const std::string& spec_extra = "") {
    return "apiVersion: vmkeeper/v1\nkind: Host\nmetadata: {name: " + name + ", labels: " +
           labels + "}\nspec: {uri: \"test:///embedded/" + name + "\"" + spec_extra +
           "}\n---\n";
  }
  // Feeds `n` heartbeats, one interval apart, through the real heartbeat path.
  void Heartbeats(const std::string& host, int n) {
    for (int i = 0; i < n; ++i) {
      (void)heartbeats_.Reconcile({host, {}});
      clock_.Advance(std::chrono::seconds(1));
    }
  }
  std::vector<std::string> HostReasons(const std::string& host) {
    auto events = store_.ListEvents(ObjectRef{specs::Kind::kHost, host}, 0, 1000);
    std::vector<std::string> out;
    if (events.ok()) {
      for (const auto& e : *events) out.push_back(e.reason);
    }
    return out;
  }
  std::string HostCondition(const std::string& host, const std::string& type) {
    auto o = store_.Get(specs::Kind::kHost, host);
    if (!o.ok() || !o->has_value()) return "<absent>";
    auto s = HostStatus::FromJson((*o)->status);
    const auto* c = specs::FindCondition(s.conditions, type);
    return c ? c->status + "/" + c->reason : "<none>";
  }
  HostStatus HostStatusOf(const std::string& host) {
    auto o = store_.Get(specs::Kind::kHost, host);
    return (o.ok() && o->has_value()) ? HostStatus::FromJson((*o)->status) : HostStatus{};
  }
  static std::string VmYaml(const std::string& name, const std::string& spec_extra = "",
                            const std::string& labels = "{}") {
    return "apiVersion: vmkeeper/v1\nkind: VirtualMachine\nmetadata: {name: " + name +
           ", labels: " + labels + "}\nspec:\n  cpus: 2\n  memoryMiB: 2048\n  disks: [{name: root, "
           "image: /images/" + name + ".qcow2, format: qcow2}]\n" + spec_extra + "---\n";
  }

  void Apply(const std::string& yaml, bool prune = false) {
    auto out = applier_.Apply({{"test.yaml", yaml}}, {false, prune});
    ASSERT_TRUE(out.ok()) << out.status().ToString();
    ASSERT_TRUE(out->errors.empty()) << out->errors.front();
  }
  void SyncHost(const std::string& name) {
    auto r = ReconcileHost(name);
    ASSERT_TRUE(r.status.ok()) << name << ": " << r.status.ToString();
  }
  ReconcileResult ReconcileHost(const std::string& name) { return hosts_.Reconcile({name, {}}); }
  ReconcileResult ReconcileVm(const std::string& name) { return vms_.Reconcile({name, {}}); }
  ReconcileResult ProbeVm(const std::string& name) { return probes_.Reconcile({name, {}}); }
  void ReconcileVmOk(const std::string& name) {
    auto r = ReconcileVm(name);
    ASSERT_TRUE(r.status.ok()) << name << ": " << r.status.ToString();
  }
  VmStatus StatusOf(const std::string& vm) {
    auto o = store_.Get(specs::Kind::kVirtualMachine, vm);
    EXPECT_TRUE(o.ok() && o->has_value());
    return (o.ok() && o->has_value()) ? VmStatus::FromJson((*o)->status) : VmStatus{};
  }
  std::string ConditionStatus(const std::string& vm, const std::string& type) {
    auto s = StatusOf(vm);
    const auto* c = specs::FindCondition(s.conditions, type);
    return c ? c->status + "/" + c->reason : "<none>";
  }
  providers::FakeHost& Host(const std::string& name) {
    return *factory_.host("test:///embedded/" + name);
  }
  std::vector<std::string> Reasons(const std::string& vm) {
    auto events = store_.ListEvents(ObjectRef{specs::Kind::kVirtualMachine, vm}, 0, 1000);
    std::vector<std::string> out;
    if (events.ok()) {
      for (const auto& e : *events) out.push_back(e.reason);
    }
    return out;
  }

  FakeClock clock_;
  MemoryStore store_;
  providers::FakeHypervisorFactory factory_;
  providers::FakeFencer fencer_;
  providers::FakeProber prober_;
  // The shared storage the fake hosts may mount (FakeHost::AttachStorage), and the controller's
  // reader of image formats.
  std::shared_ptr<providers::FakeStorage> storage_ = std::make_shared<providers::FakeStorage>();
  // The controller's parts, wired as the daemon wires them (ControlLoop).
  ControlLoop loop_;
  metrics::ControllerMetrics& metrics_;
  EventRecorder& recorder_;
  WorkQueue& queue_;
  PlacementBook& book_;
  HostRegistry& registry_;
  HostHealthBook& health_;
  IncidentTracker& incidents_;
  VmHealthBook& vm_health_;
  const ReconcileContext& ctx_;
  VmReconciler& vms_;
  ProbeReconciler& probes_;
  HostReconciler& hosts_;
  HeartbeatReconciler& heartbeats_;
  // A second applier without change handlers: tests enqueue nothing through it.
  Applier applier_;
};

}  // namespace vmk::reconciler
