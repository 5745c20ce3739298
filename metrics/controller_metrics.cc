#include "metrics/controller_metrics.h"

#include <sstream>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

namespace vmk::metrics {

namespace {
const char* ResultName(ReconcileResult r) {
  switch (r) {
    case ReconcileResult::kSuccess: return "success";
    case ReconcileResult::kError: return "error";
    case ReconcileResult::kRequeue: return "requeue";
  }
  return "error";
}
// Bounds at the thresholds people alert on: reconciles are ms-scale, libvirt timeouts seconds.
const prometheus::Histogram::BucketBoundaries kReconcileBuckets = {
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
}  // namespace

ControllerMetrics::ControllerMetrics() : registry_(std::make_shared<prometheus::Registry>()) {
  reconcile_total_ = &prometheus::BuildCounter()
                          .Name("vmkeeper_reconcile_total")
                          .Help("Reconciles by kind and result.")
                          .Register(*registry_);
  reconcile_seconds_ = &prometheus::BuildHistogram()
                            .Name("vmkeeper_reconcile_duration_seconds")
                            .Help("Time of one reconcile, by kind.")
                            .Register(*registry_);
  queue_depth_ = &prometheus::BuildGauge()
                      .Name("vmkeeper_workqueue_depth")
                      .Help("Keys ready to be reconciled.")
                      .Register(*registry_)
                      .Add({});
  active_workers_ = &prometheus::BuildGauge()
                         .Name("vmkeeper_workqueue_active_workers")
                         .Help("Workers reconciling a key now.")
                         .Register(*registry_)
                         .Add({});
  host_up_ = &prometheus::BuildGauge()
                  .Name("vmkeeper_host_up")
                  .Help("1 when the host's hypervisor answers, else 0.")
                  .Register(*registry_);
  vms_ = &prometheus::BuildGauge()
              .Name("vmkeeper_vms")
              .Help("Managed VMs by observed state.")
              .Register(*registry_);
  events_total_ = &prometheus::BuildCounter()
                       .Name("vmkeeper_events_total")
                       .Help("Events recorded, by type and reason.")
                       .Register(*registry_);
  fencing_total_ = &prometheus::BuildCounter()
                        .Name("vmkeeper_fencing_total")
                        .Help("Fencing attempts of failed hosts, by host and result.")
                        .Register(*registry_);
  // Present from start at 0.
  for (const char* kind : {"vm", "host"}) {
    for (auto r : {ReconcileResult::kSuccess, ReconcileResult::kError, ReconcileResult::kRequeue}) {
      reconcile_children_[std::string(kind) + "/" + ResultName(r)] =
          &reconcile_total_->Add({{"kind", kind}, {"result", ResultName(r)}});
    }
    seconds_children_[kind] = &reconcile_seconds_->Add({{"kind", kind}}, kReconcileBuckets);
  }
}

ControllerMetrics::~ControllerMetrics() = default;

void ControllerMetrics::ObserveReconcile(const std::string& kind, ReconcileResult result,
                                         double seconds) {
  std::lock_guard<std::mutex> l(mu_);
  std::string key = kind + "/" + ResultName(result);
  auto it = reconcile_children_.find(key);
  if (it == reconcile_children_.end()) {
    it = reconcile_children_
             .emplace(key, &reconcile_total_->Add({{"kind", kind}, {"result", ResultName(result)}}))
             .first;
  }
  it->second->Increment();
  auto h = seconds_children_.find(kind);
  if (h == seconds_children_.end()) {
    h = seconds_children_.emplace(kind, &reconcile_seconds_->Add({{"kind", kind}}, kReconcileBuckets))
            .first;
  }
  h->second->Observe(seconds);
}

void ControllerMetrics::SetQueueDepth(double depth) { queue_depth_->Set(depth); }
void ControllerMetrics::SetActiveWorkers(double workers) { active_workers_->Set(workers); }

void ControllerMetrics::SetHostUp(const std::string& host, bool up) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = host_up_children_.find(host);
  if (it == host_up_children_.end()) {
    it = host_up_children_.emplace(host, &host_up_->Add({{"host", host}})).first;
  }
  it->second->Set(up ? 1 : 0);
}

void ControllerMetrics::RemoveHost(const std::string& host) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = host_up_children_.find(host);
  if (it == host_up_children_.end()) return;
  host_up_->Remove(it->second);
  host_up_children_.erase(it);
}

void ControllerMetrics::SetVmsByState(const std::map<std::string, int>& counts) {
  std::lock_guard<std::mutex> l(mu_);
  for (auto& [state, gauge] : vm_state_children_) gauge->Set(0);
  for (const auto& [state, n] : counts) {
    auto it = vm_state_children_.find(state);
    if (it == vm_state_children_.end()) {
      it = vm_state_children_.emplace(state, &vms_->Add({{"state", state}})).first;
    }
    it->second->Set(n);
  }
}

void ControllerMetrics::CountEvent(const std::string& type, const std::string& reason) {
  std::lock_guard<std::mutex> l(mu_);
  std::string key = type + "/" + reason;
  auto it = event_children_.find(key);
  if (it == event_children_.end()) {
    it = event_children_.emplace(key, &events_total_->Add({{"type", type}, {"reason", reason}}))
             .first;
  }
  it->second->Increment();
}

void ControllerMetrics::CountFencing(const std::string& host, bool success) {
  std::lock_guard<std::mutex> l(mu_);
  const char* result = success ? "success" : "failure";
  std::string key = host + "/" + result;
  auto it = fencing_children_.find(key);
  if (it == fencing_children_.end()) {
    // Both results appear together, so a rate() over failures works from the first attempt.
    for (const char* r : {"success", "failure"}) {
      fencing_children_.emplace(host + "/" + r, &fencing_total_->Add({{"host", host}, {"result", r}}));
    }
    it = fencing_children_.find(key);
  }
  it->second->Increment();
}

std::string ControllerMetrics::ExpositionText() const {
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, registry_->Collect());
  return out.str();
}

}  // namespace vmk::metrics
