#include "metrics/controller_metrics.h"

#include <sstream>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

namespace vmk::metrics {

namespace {

using prometheus::Counter;
using prometheus::Gauge;
using prometheus::Histogram;
using Labels = std::map<std::string, std::string>;

const char* ResultName(ReconcileResult r) {
  switch (r) {
    case ReconcileResult::kSuccess: return "success";
    case ReconcileResult::kError: return "error";
    case ReconcileResult::kRequeue: return "requeue";
  }
  return "error";
}
constexpr ReconcileResult kAllResults[] = {ReconcileResult::kSuccess, ReconcileResult::kError,
                                           ReconcileResult::kRequeue};

// Bounds at the thresholds people alert on: reconciles are ms-scale, libvirt timeouts seconds.
const Histogram::BucketBoundaries kReconcileBuckets = {
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
// Heartbeats and probes: a healthy answer is ms; timeouts are seconds.
const Histogram::BucketBoundaries kCallBuckets = {0.001, 0.005, 0.01, 0.05, 0.1, 0.25,
                                                  0.5,   1,     2,    5,    10};

template <typename T>
prometheus::Family<T>* Build(prometheus::Registry& registry,
                             std::vector<prometheus::MetricFamily>* families,
                             const std::string& name, const std::string& help) {
  prometheus::MetricFamily family;
  family.name = name;
  family.help = help;
  family.type = std::is_same_v<T, Counter>  ? prometheus::MetricType::Counter
                : std::is_same_v<T, Gauge> ? prometheus::MetricType::Gauge
                                           : prometheus::MetricType::Histogram;
  families->push_back(std::move(family));
  if constexpr (std::is_same_v<T, Counter>) {
    return &prometheus::BuildCounter().Name(name).Help(help).Register(registry);
  } else if constexpr (std::is_same_v<T, Gauge>) {
    return &prometheus::BuildGauge().Name(name).Help(help).Register(registry);
  } else {
    return &prometheus::BuildHistogram().Name(name).Help(help).Register(registry);
  }
}

// The child of `family` with `labels`, made on first use and kept in `cache` under
// name + label values. Called with the lock held.
template <typename T, typename... Extra>
T& Child(std::map<std::string, T*>& cache, prometheus::Family<T>* family, const Labels& labels,
         Extra&&... extra) {
  std::string key = std::to_string(reinterpret_cast<uintptr_t>(family));
  for (const auto& [k, v] : labels) key += "/" + v;
  auto it = cache.find(key);
  if (it == cache.end()) {
    it = cache.emplace(key, &family->Add(labels, std::forward<Extra>(extra)...)).first;
  }
  return *it->second;
}

}  // namespace

ControllerMetrics::ControllerMetrics(std::vector<std::string> vm_label_keys)
    : registry_(std::make_shared<prometheus::Registry>()), vm_metrics_(std::move(vm_label_keys)) {
  auto counter = [this](const char* name, const char* help) {
    return Build<Counter>(*registry_, &families_, name, help);
  };
  auto gauge = [this](const char* name, const char* help) {
    return Build<Gauge>(*registry_, &families_, name, help);
  };
  auto histogram = [this](const char* name, const char* help) {
    return Build<Histogram>(*registry_, &families_, name, help);
  };
  reconcile_total_ = counter("vmkeeper_reconcile_total", "Reconciles by kind and result.");
  reconcile_seconds_ =
      histogram("vmkeeper_reconcile_duration_seconds", "Time of one reconcile, by kind.");
  reconcile_panics_ = counter("vmkeeper_reconcile_panics_total",
                              "Reconciles that threw an exception (a bug), by kind.");
  queue_depth_ = gauge("vmkeeper_workqueue_depth", "Keys ready to be run, by queue.");
  active_workers_ =
      gauge("vmkeeper_workqueue_active_workers", "Workers running a key now, by queue.");
  host_up_ = gauge("vmkeeper_host_up", "1 when the host's hypervisor answers, else 0.");
  host_ready_ = gauge("vmkeeper_host_ready", "1 when the host's Ready condition is True.");
  host_failover_blocked_ =
      gauge("vmkeeper_host_failover_blocked",
            "1 while the host failed and could not be fenced: its VMs are not moved.");
  host_management_unreachable_ =
      gauge("vmkeeper_host_management_unreachable",
            "1 while the host's management plane does not answer but its VMs' probes pass: "
            "not fenced, its VMs keep running where they are.");
  auto* queue_wait = histogram("vmkeeper_workqueue_queue_duration_seconds",
                               "Time a key waited in the queue before a worker took it.");
  auto* build_info = gauge("vmkeeper_build_info", "1, with the version and git revision built.");
  build_info->Add({{"version", VMK_VERSION}, {"revision", VMK_REVISION}}).Set(1);
  vms_ = gauge("vmkeeper_vms", "Managed VMs by observed state.");
  events_total_ = counter("vmkeeper_events_total", "Events recorded, by type and reason.");
  fencing_total_ = counter("vmkeeper_fencing_total",
                           "Fencing attempts of failed hosts, by host and result.");
  heartbeat_seconds_ = &histogram("vmkeeper_heartbeat_duration_seconds",
                                  "Time of one host heartbeat, all hosts.")
                            ->Add({}, kCallBuckets);
  heartbeat_failures_ =
      counter("vmkeeper_heartbeat_failures_total", "Failed host heartbeats, by host.");
  probe_total_ = counter("vmkeeper_probe_total",
                         "Health probes of VMs, by VM and result (success|failure).");
  probe_seconds_ =
      histogram("vmkeeper_probe_duration_seconds", "Time of one health probe, by probe type.");
  notifications_total_ = counter("vmkeeper_notifications_total",
                                 "Admin notifications by result: sent (2xx), failed (given up), "
                                 "dropped (queue full or shutdown).");
  notification_attempts_ =
      &counter("vmkeeper_notification_attempts_total",
               "HTTP attempts to deliver admin notifications, retries included.")
           ->Add({});
  MutexLock l(&mu_);
  for (Queue queue : {Queue::kReconcile, Queue::kProbe}) {
    const char* name = queue == Queue::kReconcile ? "reconcile" : "probe";
    queue_depths_[static_cast<int>(queue)] = &Child(gauges_, queue_depth_, {{"queue", name}});
    queue_workers_[static_cast<int>(queue)] = &Child(gauges_, active_workers_, {{"queue", name}});
    queue_waits_[static_cast<int>(queue)] =
        &Child(histograms_, queue_wait, {{"queue", name}}, kReconcileBuckets);
  }
  for (const char* type : {"http", "tcp", "exec"}) {
    Child(histograms_, probe_seconds_, {{"type", type}}, kCallBuckets);
  }
  for (const char* result : {"sent", "failed", "dropped"}) {
    Child(counters_, notifications_total_, {{"result", result}});
  }
}

ControllerMetrics::~ControllerMetrics() = default;

ReconcilerMetrics* ControllerMetrics::AddReconciler(const std::string& kind) {
  MutexLock l(&mu_);
  std::unique_ptr<ReconcilerMetrics>& handle = reconcilers_[kind];
  if (!handle) {
    handle = std::make_unique<ReconcilerMetrics>();
    for (ReconcileResult result : kAllResults) {
      handle->results_[static_cast<int>(result)] =
          &Child(counters_, reconcile_total_, {{"kind", kind}, {"result", ResultName(result)}});
    }
    handle->seconds_ = &Child(histograms_, reconcile_seconds_, {{"kind", kind}}, kReconcileBuckets);
    handle->panics_ = &Child(counters_, reconcile_panics_, {{"kind", kind}});
  }
  return handle.get();
}

void ReconcilerMetrics::Observe(ReconcileResult result, double seconds) {
  results_[static_cast<int>(result)]->Increment();
  seconds_->Observe(seconds);
}

void ReconcilerMetrics::CountPanic() { panics_->Increment(); }

void ControllerMetrics::SetQueueDepth(Queue queue, double depth) {
  queue_depths_[static_cast<int>(queue)]->Set(depth);
}

void ControllerMetrics::SetActiveWorkers(Queue queue, double workers) {
  queue_workers_[static_cast<int>(queue)]->Set(workers);
}

void ControllerMetrics::SetHostUp(const std::string& host, bool up) {
  MutexLock l(&mu_);
  Child(gauges_, host_up_, {{"host", host}}).Set(up ? 1 : 0);
}

void ControllerMetrics::SetHostReady(const std::string& host, bool ready) {
  MutexLock l(&mu_);
  Child(gauges_, host_ready_, {{"host", host}}).Set(ready ? 1 : 0);
  // A host's fencing counters exist from its first status, at 0: increase() and the
  // FencingFailed alert see the first failure, not a new series.
  Child(counters_, fencing_total_, {{"host", host}, {"result", "success"}});
  Child(counters_, fencing_total_, {{"host", host}, {"result", "failure"}});
}

void ControllerMetrics::SetHostFailoverBlocked(const std::string& host, bool blocked) {
  MutexLock l(&mu_);
  Child(gauges_, host_failover_blocked_, {{"host", host}}).Set(blocked ? 1 : 0);
}

void ControllerMetrics::SetHostManagementUnreachable(const std::string& host, bool unreachable) {
  MutexLock l(&mu_);
  Child(gauges_, host_management_unreachable_, {{"host", host}}).Set(unreachable ? 1 : 0);
}

void ControllerMetrics::ObserveQueueWait(Queue queue, double seconds) {
  queue_waits_[static_cast<int>(queue)]->Observe(seconds);
}

void ControllerMetrics::RemoveHost(const std::string& host) {
  MutexLock l(&mu_);
  for (prometheus::Family<Gauge>* family :
       {host_up_, host_ready_, host_failover_blocked_, host_management_unreachable_}) {
    const std::string key = std::to_string(reinterpret_cast<uintptr_t>(family)) + "/" + host;
    auto it = gauges_.find(key);
    if (it == gauges_.end()) continue;
    family->Remove(it->second);
    gauges_.erase(it);
  }
  for (const char* result : {"success", "failure"}) {
    const std::string key =
        std::to_string(reinterpret_cast<uintptr_t>(fencing_total_)) + "/" + host + "/" + result;
    auto it = counters_.find(key);
    if (it == counters_.end()) continue;
    fencing_total_->Remove(it->second);
    counters_.erase(it);
  }
}

void ControllerMetrics::SetVmsByState(const std::map<std::string, int>& counts) {
  MutexLock l(&mu_);
  const std::string prefix = std::to_string(reinterpret_cast<uintptr_t>(vms_)) + "/";
  for (auto& [key, gauge] : gauges_) {
    if (key.rfind(prefix, 0) == 0) gauge->Set(0);
  }
  for (const auto& [state, n] : counts) Child(gauges_, vms_, {{"state", state}}).Set(n);
}

void ControllerMetrics::CountEvent(const std::string& type, const std::string& reason) {
  MutexLock l(&mu_);
  Child(counters_, events_total_, {{"type", type}, {"reason", reason}}).Increment();
}

void ControllerMetrics::CountFencing(const std::string& host, bool success) {
  MutexLock l(&mu_);
  // Both results appear together, so a rate() over failures works from the first attempt.
  Counter& ok = Child(counters_, fencing_total_, {{"host", host}, {"result", "success"}});
  Counter& failed = Child(counters_, fencing_total_, {{"host", host}, {"result", "failure"}});
  (success ? ok : failed).Increment();
}

void ControllerMetrics::ObserveHeartbeat(const std::string& host, bool ok, double seconds) {
  heartbeat_seconds_->Observe(seconds);
  MutexLock l(&mu_);
  Counter& failures = Child(counters_, heartbeat_failures_, {{"host", host}});
  if (!ok) failures.Increment();
}

void ControllerMetrics::ObserveProbe(const std::string& vm, const std::string& type, bool healthy,
                                     double seconds) {
  MutexLock l(&mu_);
  Counter& success = Child(counters_, probe_total_, {{"vm", vm}, {"result", "success"}});
  Counter& failure = Child(counters_, probe_total_, {{"vm", vm}, {"result", "failure"}});
  (healthy ? success : failure).Increment();
  Child(histograms_, probe_seconds_, {{"type", type}}, kCallBuckets).Observe(seconds);
}

void ControllerMetrics::SetNotificationCounts(uint64_t sent, uint64_t failed, uint64_t dropped,
                                              uint64_t attempts) {
  MutexLock l(&mu_);
  const uint64_t now[4] = {sent, failed, dropped, attempts};
  const char* results[3] = {"sent", "failed", "dropped"};
  for (int i = 0; i < 4; ++i) {
    // The notifier's counts only grow; a smaller one (a new notifier) restarts the delta.
    const uint64_t delta = now[i] >= notifications_seen_[i] ? now[i] - notifications_seen_[i] : now[i];
    notifications_seen_[i] = now[i];
    if (delta == 0) continue;
    if (i < 3) {
      Child(counters_, notifications_total_, {{"result", results[i]}})
          .Increment(static_cast<double>(delta));
    } else {
      notification_attempts_->Increment(static_cast<double>(delta));
    }
  }
}

std::string ControllerMetrics::ExpositionText(
    const std::map<std::string, VmAvailabilityFigures>& vm_figures) {
  // prometheus-cpp leaves out a family without children; every family is shown, in the order
  // it was registered, so that dashboards and alerts find it before its first object or event.
  std::map<std::string, prometheus::MetricFamily> collected;
  for (auto& family : registry_->Collect()) collected[family.name] = std::move(family);
  std::vector<prometheus::MetricFamily> all;
  all.reserve(families_.size());
  for (const prometheus::MetricFamily& empty : families_) {
    auto it = collected.find(empty.name);
    all.push_back(it == collected.end() ? empty : std::move(it->second));
  }
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, all);
  std::string text = out.str();
  vm_metrics_.AppendText(vm_figures, &text);
  return text;
}

}  // namespace vmk::metrics
