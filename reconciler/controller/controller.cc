#include "reconciler/controller/controller.h"

#include <atomic>
#include <set>
#include <unordered_map>
#include <thread>

#include "common/log.h"
#include "metrics/controller_metrics.h"
#include "providers/alerts/alert_signal.h"
#include "providers/probes/network_prober.h"
#include "reconciler/alerts/alert_intake.h"
#include "reconciler/apply/applier.h"
#include "reconciler/host/host_reconciler.h"
#include "reconciler/core/object_status.h"
#include "reconciler/controller/restore.h"
#include "reconciler/vm/vm_reconciler.h"

namespace vmk::reconciler {

using specs::Kind;

class ControllerImpl {
  friend class Controller;

 public:
  ControllerImpl(Store* store, providers::HypervisorFactory* factory, Clock* clock,
                 ControllerOptions options)
      : store_(store),
        clock_(clock),
        options_(std::move(options)),
        recorder_(store, clock, &metrics_),
        queue_(clock),
        probe_queue_(clock),
        health_(HostHealthOptions{std::chrono::duration_cast<Duration>(options_.heartbeat_interval),
                                  options_.heartbeat_failures}),
        incidents_(store, clock),
        vm_health_(clock),
        registry_(factory, options_.connect,
                  [this](const std::string& host, const providers::DomainEvent& e) {
                    OnDomainEvent(host, e);
                  },
                  [this](const std::string& host, const providers::ConnectionEvent& e) {
                    OnConnectionEvent(host, e);
                  }),
        ctx_{store, &registry_, &book_, &recorder_, &queue_, clock, options_.stop_grace,
             [this](const std::string& vm, const std::string& state) { ObserveVmState(vm, state); },
             &health_, &incidents_, options_.fencer, &metrics_, &vm_health_,
             options_.prober ? options_.prober : &own_prober_, &vm_locks_, &probe_queue_},
        vm_reconciler_(ctx_),
        host_reconciler_(ctx_, &metrics_),
        alert_intake_(ctx_),
        applier_(
            store, [this](const std::vector<ObjectRef>& changed) { OnDesiredStateChanged(changed); },
            [this](const specs::Object& vm) { return PreviewPlacement(vm); }) {}

  ~ControllerImpl() { Stop(); }

  Status Start() {
    recorder_.SetNotifier(options_.notifier);
    if (options_.notifier) {
      // Every failure and every recovery reaches the admins, whatever flow handled it.
      incidents_.SetListener([this](const Incident& incident, bool opened) {
        providers::Notification n;
        n.kind = std::string(specs::KindName(incident.kind));
        n.name = incident.name;
        n.event = opened ? "Failed" : "Recovered";
        n.incident_id = incident.id;
        n.type = incident.type;
        n.occurred = incident.occurred;
        n.detected = incident.detected;
        n.recovered = incident.recovered;
        n.actions = incident.actions;
        n.message = opened ? incident.type + " detected (signals: " +
                                 (incident.sources.empty() ? "" : incident.sources.front()) + ")"
                           : "recovered";
        options_.notifier->Notify(std::move(n));
      });
    }
    VMK_RETURN_IF_ERROR(incidents_.Load());
    VMK_ASSIGN_OR_RETURN(RestoredCounts restored, RestoreFromStore(*store_, registry_, book_));
    log::Info("controller starting", {{"hosts", std::to_string(restored.hosts)},
                                      {"vms", std::to_string(restored.vms)},
                                      {"workers", std::to_string(options_.workers)}});
    running_ = true;
    for (int i = 0; i < std::max(1, options_.workers); ++i) {
      workers_.emplace_back([this] { WorkerLoop(queue_); });
    }
    for (int i = 0; i < kProbeWorkers; ++i) {
      workers_.emplace_back([this] { WorkerLoop(probe_queue_); });
    }
    EnqueueAll();
    resync_thread_ = std::thread([this] { ResyncLoop(); });
    return Status::Ok();
  }

  void Stop() {
    if (!running_.exchange(false)) return;
    queue_.ShutDown();
    probe_queue_.ShutDown();
    {
      std::lock_guard<std::mutex> l(resync_mu_);
      resync_cv_.notify_all();
    }
    if (resync_thread_.joinable()) resync_thread_.join();
    for (auto& t : workers_) t.join();
    workers_.clear();
    for (const auto& host : registry_.All()) registry_.Remove(host->name());
    log::Info("controller stopped");
  }

  bool Ready() {
    if (!running_) return false;
    for (const auto& host : registry_.All()) {
      if (!host->view().sync_attempted) return false;
    }
    return true;
  }

  void ResyncNow() { EnqueueAll(); }

  // Alerts are one more failure signal; AlertIntake says how they are taken (never a failover
  // by themselves).
  StatusOr<AlertIntakeOutcome> IngestAlerts(const std::string& body) {
    VMK_ASSIGN_OR_RETURN(providers::AlertParseResult parsed,
                         providers::ParseAlertmanagerWebhook(body, options_.alert_labels));
    VMK_ASSIGN_OR_RETURN(AlertIntakeOutcome outcome, alert_intake_.Ingest(parsed.signals));
    outcome.skipped.insert(outcome.skipped.begin(), parsed.skipped.begin(), parsed.skipped.end());
    return outcome;
  }
  Applier& applier() { return applier_; }
  Store* store() { return store_; }
  metrics::ControllerMetrics& metrics() { return metrics_; }
  HostRegistry& registry() { return registry_; }
  WorkQueue& queue() { return queue_; }

 private:
  // Every host and VM, in the low lane: what events and applies enqueue goes first.
  void EnqueueAll() {
    auto hosts = store_->ListNames(Kind::kHost);
    auto vms = store_->ListNames(Kind::kVirtualMachine);
    if (!hosts.ok() || !vms.ok()) {
      log::Error("resync cannot list the store",
                 {{"error", (!hosts.ok() ? hosts.status() : vms.status()).ToString()}});
      return;
    }
    std::set<std::string> host_names(hosts->begin(), hosts->end());
    // Hosts removed from the store but still connected (their cleanup is pending).
    for (const auto& h : registry_.All()) host_names.insert(h->name());
    for (const auto& h : host_names) {
      queue_.Add(HostKey(h), WorkQueue::Priority::kLow);
      // Keeps at most one heartbeat pending per host (the earliest deadline wins).
      queue_.AddAfter(HeartbeatKey(h), health_.options().interval);
    }
    for (const auto& v : *vms) queue_.Add(VmKey(v), WorkQueue::Priority::kLow);
    PublishVmStates();
  }

  void ObserveVmState(const std::string& vm, const std::string& state) {
    std::lock_guard<std::mutex> l(vm_states_mu_);
    if (state.empty()) {
      vm_states_.erase(vm);
    } else {
      vm_states_[vm] = state;
    }
  }

  void PublishVmStates() {
    std::map<std::string, int> by_state;
    {
      std::lock_guard<std::mutex> l(vm_states_mu_);
      for (const auto& [vm, state] : vm_states_) ++by_state[state];
    }
    metrics_.SetVmsByState(by_state);
  }

  void ResyncLoop() {
    std::unique_lock<std::mutex> l(resync_mu_);
    MonoTime next = clock_->Now() + options_.resync_period;
    while (running_) {
      clock_->WaitUntil(l, resync_cv_, next);
      if (!running_) break;
      if (clock_->Now() < next) continue;
      next = clock_->Now() + options_.resync_period;
      l.unlock();
      EnqueueAll();
      l.lock();
    }
  }

  // Runs the keys of `queue` (the reconcile queue, or the probe queue) until it shuts down.
  void WorkerLoop(WorkQueue& queue) {
    std::string key;
    while (queue.Get(&key)) {
      ++active_;
      metrics_.SetActiveWorkers(active_);
      metrics_.SetQueueDepth(static_cast<double>(queue_.Len()));
      MonoTime start = clock_->Now();
      const bool is_vm = key.rfind("vm/", 0) == 0;
      const bool is_heartbeat = key.rfind("hb/", 0) == 0;
      const bool is_probe = key.rfind("probe/", 0) == 0;
      const std::string name = key.substr(key.find('/') + 1);
      ReconcileResult result;
      try {
        result = is_vm          ? vm_reconciler_.Reconcile(name)
                 : is_heartbeat ? host_reconciler_.Heartbeat(name)
                 : is_probe     ? vm_reconciler_.Probe(name)
                                : host_reconciler_.Reconcile(name);
      } catch (const std::exception& e) {
        // A bug, not a state of the world: keep the controller alive and retry with backoff.
        result = ReconcileResult::Error(Status::Internal(std::string("exception: ") + e.what()));
      }
      double seconds = std::chrono::duration<double>(clock_->Now() - start).count();
      metrics::ReconcileResult kind;
      if (!result.status.ok()) {
        kind = metrics::ReconcileResult::kError;
        log::Warning("reconcile failed", {{"key", key}, {"error", result.status.ToString()},
                                          {"retries", std::to_string(queue.NumRequeues(key))}});
        queue.AddRateLimited(key);
      } else if (result.requeue_after) {
        kind = metrics::ReconcileResult::kRequeue;
        queue.Forget(key);
        queue.AddAfter(key, *result.requeue_after);
      } else {
        kind = metrics::ReconcileResult::kSuccess;
        queue.Forget(key);
      }
      if (!is_heartbeat && !is_probe) {
        metrics_.ObserveReconcile(is_vm ? "vm" : "host", kind, seconds);
      }
      --active_;
      metrics_.SetActiveWorkers(active_);
      queue.Done(key);
    }
  }

  void OnDomainEvent(const std::string& host, const providers::DomainEvent& event) {
    log::Debug("domain event", {{"host", host}, {"domain", event.domain},
                                {"type", providers::DomainEventTypeName(event.type)}});
    if (auto entry = registry_.Get(host)) entry->MarkStale(event.domain, event.time, event.type);
    queue_.Add(VmKey(event.domain));
  }

  void OnConnectionEvent(const std::string& host, const providers::ConnectionEvent& event) {
    log::Info("host connection event", {{"host", host}, {"alive", event.alive ? "true" : "false"},
                                        {"reason", event.reason}});
    queue_.Add(HostKey(host));
  }

  void OnDesiredStateChanged(const std::vector<ObjectRef>& changed) {
    bool hosts_changed = false;
    for (const auto& ref : changed) {
      if (ref.kind == Kind::kHost) {
        hosts_changed = true;
        queue_.Add(HostKey(ref.name));
        queue_.AddAfter(HeartbeatKey(ref.name), health_.options().interval);
      } else if (ref.kind == Kind::kVirtualMachine) {
        queue_.Add(VmKey(ref.name));
      }
    }
    // New or relabelled hosts may make unplaced VMs placeable.
    if (hosts_changed) {
      auto vms = store_->List(Kind::kVirtualMachine);
      if (vms.ok()) {
        for (const auto& v : *vms) {
          if (VmStatus::FromJson(v.status).host.empty()) queue_.Add(VmKey(v.metadata.name));
        }
      }
    }
  }

  std::string PreviewPlacement(const specs::Object& vm) {
    auto spec = specs::VirtualMachineSpecFromJson(vm.spec);
    if (!spec.ok()) return "";
    SchedulingRequest request{vm.metadata.name, vm.metadata.labels, &*spec};
    auto host = book_.Preview(request, registry_.Candidates(vm.metadata.name));
    return host.ok() ? *host : "";
  }

  Store* const store_;
  Clock* const clock_;
  const ControllerOptions options_;
  metrics::ControllerMetrics metrics_;
  EventRecorder recorder_;
  WorkQueue queue_;
  // Probes, with their own workers (see ReconcileContext::probe_queue).
  static constexpr int kProbeWorkers = 2;
  WorkQueue probe_queue_;
  HostHealthBook health_;
  IncidentTracker incidents_;
  VmHealthBook vm_health_;
  providers::NetworkProber own_prober_;
  PlacementBook book_;
  KeyLocks vm_locks_;
  HostRegistry registry_;
  ReconcileContext ctx_;
  VmReconciler vm_reconciler_;
  HostReconciler host_reconciler_;
  AlertIntake alert_intake_;
  Applier applier_;

  std::atomic<bool> running_{false};
  std::atomic<int> active_{0};
  std::vector<std::thread> workers_;
  std::thread resync_thread_;
  std::mutex resync_mu_;
  std::condition_variable resync_cv_;
  std::mutex vm_states_mu_;
  std::unordered_map<std::string, std::string> vm_states_;  // GUARDED_BY(vm_states_mu_)
};

Controller::Controller(Store* store, providers::HypervisorFactory* factory, Clock* clock,
                       ControllerOptions options)
    : impl_(std::make_unique<ControllerImpl>(store, factory, clock, std::move(options))) {}

Controller::~Controller() = default;

Status Controller::Start() { return impl_->Start(); }
void Controller::Stop() { impl_->Stop(); }

StatusOr<ApplyOutcome> Controller::Apply(const std::vector<ManifestFile>& files,
                                         const ApplyOptions& options) {
  return impl_->applier().Apply(files, options);
}

StatusOr<DiffOutcome> Controller::Diff(const std::vector<ManifestFile>& files, bool prune) {
  return impl_->applier().Diff(files, prune);
}

StatusOr<std::vector<specs::Object>> Controller::List(Kind kind) {
  return impl_->store()->List(kind);
}

StatusOr<std::optional<specs::Object>> Controller::Get(Kind kind, const std::string& name) {
  return impl_->store()->Get(kind, name);
}

Status Controller::Delete(Kind kind, const std::string& name) {
  return impl_->applier().Delete(kind, name);
}

StatusOr<std::vector<Event>> Controller::Events(std::optional<ObjectRef> object, int64_t after_seq,
                                                size_t limit) {
  return impl_->store()->ListEvents(object, after_seq, limit);
}

bool Controller::Ready() { return impl_->Ready(); }

StatusOr<std::vector<Incident>> Controller::Incidents(std::optional<ObjectRef> object) {
  return impl_->incidents_.List(object);
}

StatusOr<AlertIntakeOutcome> Controller::IngestAlerts(const std::string& body) {
  return impl_->IngestAlerts(body);
}

void Controller::ResyncNow() { impl_->ResyncNow(); }

std::string Controller::MetricsText() {
  impl_->metrics().SetQueueDepth(static_cast<double>(impl_->queue().Len()));
  impl_->PublishVmStates();
  return impl_->metrics().ExpositionText();
}

providers::Hypervisor* Controller::HostConnectionForTest(const std::string& host) {
  auto entry = impl_->registry().Get(host);
  return entry ? entry->connection().get() : nullptr;
}

bool Controller::WaitIdle(std::chrono::milliseconds timeout) {
  return impl_->queue().WaitIdle(timeout);
}

}  // namespace vmk::reconciler
