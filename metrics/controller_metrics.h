// ControllerMetrics: the controller's Prometheus metrics (names after controller-runtime's;
// Prometheus naming: vmkeeper_ prefix, base units, _total counters) and their text exposition.
// Every family is exposed from start; those whose label values are known in advance
// (reconcilers, queues, results, probe types) have every child from start at 0, per-object
// children (a host, a VM) appear with the object.
// docs/metrics.md lists every family; a test reads /metrics and checks them.
//
// Thread-safe (prometheus-cpp metrics are atomic; the child maps have a lock). References to
// the children are kept because Family::Add is slow.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/mutex.h"
#include "metrics/vm_metrics.h"

namespace prometheus {
struct MetricFamily;
class Registry;
class Counter;
class Gauge;
class Histogram;
template <typename T> class Family;
}  // namespace prometheus

namespace vmk::metrics {

class ControllerMetrics;
enum class ReconcileResult { kSuccess, kError, kRequeue };
enum class Queue { kReconcile, kProbe };

// One reconciler's children, resolved once (AddReconciler) so that the worker's hot path takes
// no lock and allocates nothing.
class ReconcilerMetrics {
 public:
  void Observe(ReconcileResult result, double seconds);
  void CountPanic();

 private:
  friend class ControllerMetrics;
  prometheus::Counter* results_[3] = {nullptr, nullptr, nullptr};
  prometheus::Histogram* seconds_ = nullptr;
  prometheus::Counter* panics_ = nullptr;
};

class ControllerMetrics {
 public:
  // `vm_label_keys`: the VM metadata labels exported in vmkeeper_vm_labels.
  explicit ControllerMetrics(std::vector<std::string> vm_label_keys = {"service"});
  ~ControllerMetrics();

  // The per-VM families (docs/metrics.md), written after these by ExpositionText.
  VmMetrics& vms() { return vm_metrics_; }

  // A reconciler's children, at 0 (reconcile totals by result, duration, panics), labelled
  // kind=<its name> ("vm", "host", "heartbeat", "probe"). The handle lives as long as this.
  ReconcilerMetrics* AddReconciler(const std::string& kind);
  void SetQueueDepth(Queue queue, double depth);
  void SetActiveWorkers(Queue queue, double workers);
  void SetHostUp(const std::string& host, bool up);
  // The host's Ready condition; whether it failed and could not be fenced (its VMs stay).
  void SetHostReady(const std::string& host, bool ready);
  void SetHostFailoverBlocked(const std::string& host, bool blocked);
  // The host's management plane is out while its guests answer (not fenced, VMs left running).
  void SetHostManagementUnreachable(const std::string& host, bool unreachable);
  // How long a key was ready in `queue` before a worker took it.
  void ObserveQueueWait(Queue queue, double seconds);
  void RemoveHost(const std::string& host);
  // Count of managed VMs by observed state ("running", "shutoff", "unplaced", ...).
  void SetVmsByState(const std::map<std::string, int>& counts);
  void CountEvent(const std::string& type, const std::string& reason);
  // One fencing attempt of a host: vmkeeper_fencing_total{host, result="success|failure"}.
  void CountFencing(const std::string& host, bool success);
  // One heartbeat: its latency (all hosts, one histogram) and, when it failed, a count per host.
  void ObserveHeartbeat(const std::string& host, bool ok, double seconds);
  // One health probe of a VM: vmkeeper_probe_total{vm, result}, and its latency by probe type
  // ("http" | "tcp" | "exec").
  void ObserveProbe(const std::string& vm, const std::string& type, bool healthy, double seconds);
  // The admin notifier's own counts since it started (absolute; the counters follow them).
  void SetNotificationCounts(uint64_t sent, uint64_t failed, uint64_t dropped, uint64_t attempts);

  // Every family, the per-VM ones last with `vm_figures` (each VM's availability counters).
  std::string ExpositionText(const std::map<std::string, VmAvailabilityFigures>& vm_figures = {});
  std::shared_ptr<prometheus::Registry> registry() const { return registry_; }

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  // Every family, without children, in registration order (see ExpositionText).
  std::vector<prometheus::MetricFamily> families_;
  prometheus::Family<prometheus::Counter>* reconcile_total_;
  prometheus::Family<prometheus::Histogram>* reconcile_seconds_;
  prometheus::Family<prometheus::Counter>* reconcile_panics_;
  prometheus::Family<prometheus::Gauge>* queue_depth_;
  prometheus::Family<prometheus::Gauge>* active_workers_;
  prometheus::Family<prometheus::Gauge>* host_up_;
  prometheus::Family<prometheus::Gauge>* host_ready_;
  prometheus::Family<prometheus::Gauge>* host_failover_blocked_;
  prometheus::Family<prometheus::Gauge>* host_management_unreachable_;
  prometheus::Histogram* queue_waits_[2] = {nullptr, nullptr};
  prometheus::Family<prometheus::Gauge>* vms_;
  prometheus::Family<prometheus::Counter>* events_total_;
  prometheus::Family<prometheus::Counter>* fencing_total_;
  prometheus::Histogram* heartbeat_seconds_;
  prometheus::Family<prometheus::Counter>* heartbeat_failures_;
  prometheus::Family<prometheus::Counter>* probe_total_;
  prometheus::Family<prometheus::Histogram>* probe_seconds_;
  prometheus::Family<prometheus::Counter>* notifications_total_;
  prometheus::Counter* notification_attempts_;

  mutable Mutex mu_;
  // Children by their label values joined with '/'.
  std::map<std::string, prometheus::Counter*> counters_ GUARDED_BY(mu_);
  std::map<std::string, prometheus::Gauge*> gauges_ GUARDED_BY(mu_);
  std::map<std::string, prometheus::Histogram*> histograms_ GUARDED_BY(mu_);
  // sent, failed, dropped, attempts
  uint64_t notifications_seen_[4] GUARDED_BY(mu_) = {0, 0, 0, 0};
  std::map<std::string, std::unique_ptr<ReconcilerMetrics>> reconcilers_ GUARDED_BY(mu_);
  // By Queue; set in the constructor, read-only after.
  prometheus::Gauge* queue_depths_[2] = {nullptr, nullptr};
  prometheus::Gauge* queue_workers_[2] = {nullptr, nullptr};
  VmMetrics vm_metrics_;
};

}  // namespace vmk::metrics
