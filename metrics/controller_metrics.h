// ControllerMetrics: the controller's Prometheus metrics (names after controller-runtime's),
// all present from start at 0, and their text exposition. Thread-safe (prometheus-cpp metrics
// are atomic); references to the metric children are kept because Family::Add is slow.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace prometheus {
class Registry;
class Counter;
class Gauge;
class Histogram;
template <typename T> class Family;
}  // namespace prometheus

namespace vmk::metrics {

enum class ReconcileResult { kSuccess, kError, kRequeue };

class ControllerMetrics {
 public:
  ControllerMetrics();
  ~ControllerMetrics();

  // kind: "vm" | "host".
  void ObserveReconcile(const std::string& kind, ReconcileResult result, double seconds);
  void SetQueueDepth(double depth);
  void SetActiveWorkers(double workers);
  void SetHostUp(const std::string& host, bool up);
  void RemoveHost(const std::string& host);
  // Count of managed VMs by observed state ("running", "shutoff", "unplaced", ...).
  void SetVmsByState(const std::map<std::string, int>& counts);
  void CountEvent(const std::string& type, const std::string& reason);
  // One fencing attempt of a host: vmkeeper_fencing_total{host, result="success|failure"}.
  void CountFencing(const std::string& host, bool success);

  std::string ExpositionText() const;
  std::shared_ptr<prometheus::Registry> registry() const { return registry_; }

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>* reconcile_total_;
  prometheus::Family<prometheus::Histogram>* reconcile_seconds_;
  prometheus::Gauge* queue_depth_;
  prometheus::Gauge* active_workers_;
  prometheus::Family<prometheus::Gauge>* host_up_;
  prometheus::Family<prometheus::Gauge>* vms_;
  prometheus::Family<prometheus::Counter>* events_total_;
  prometheus::Family<prometheus::Counter>* fencing_total_;
  mutable std::mutex mu_;
  std::map<std::string, prometheus::Gauge*> host_up_children_;  // GUARDED_BY(mu_)
  std::map<std::string, prometheus::Gauge*> vm_state_children_; // GUARDED_BY(mu_)
  std::map<std::string, prometheus::Counter*> event_children_;  // GUARDED_BY(mu_)
  std::map<std::string, prometheus::Counter*> fencing_children_;  // GUARDED_BY(mu_)
  std::map<std::string, prometheus::Counter*> reconcile_children_;  // GUARDED_BY(mu_)
  std::map<std::string, prometheus::Histogram*> seconds_children_;  // GUARDED_BY(mu_)
};

}  // namespace vmk::metrics
