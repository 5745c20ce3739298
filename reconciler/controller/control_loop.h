// ControlLoop: the one wiring of the controller's parts. It owns everything a controller
// incarnation keeps in memory (work queues, observed-state cache with its host connections,
// placement book, health books, incident tracker, event recorder, metrics), builds the
// ReconcileContext over them, registers the reconcilers (vm, probe, host, heartbeat) and the
// entry points that change state from outside (the applier, the alert intake). What an apply
// changed reaches the work queue through the store's change feed (OnStoreChanges), not through
// the applier: the same path an apply made by another controller replica would take.
//
// It runs no thread of its own. The daemon's Controller adds worker threads (ProcessNext) and
// the periodic resync; the unit-test fixture and the failover simulation drive the same object
// one work item at a time (Run, Finish), so all three run the same wiring.
//
// Lifecycle: construct, Restore() (state kept in the store), EnqueueAll(), then work items;
// CloseHosts() (or the destructor) after the last one. Thread-safe after Restore().
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "common/cancellation.h"
#include "common/clock.h"
#include "common/mutex.h"
#include "metrics/controller_metrics.h"
#include "providers/alerts/alert_signal.h"
#include "providers/fencing/fencer.h"
#include "providers/hypervisor/hypervisor.h"
#include "providers/notify/notifier.h"
#include "providers/probes/prober.h"
#include "reconciler/alerts/alert_intake.h"
#include "reconciler/apply/applier.h"
#include "reconciler/controller/control_plane.h"
#include "reconciler/core/reconcile_context.h"
#include "reconciler/core/reconciler.h"
#include "reconciler/host/heartbeat_reconciler.h"
#include "reconciler/host/host_reconciler.h"
#include "reconciler/storage/pool_reconciler.h"
#include "reconciler/vm/probe_reconciler.h"
#include "reconciler/vm/vm_reconciler.h"

namespace vmk::reconciler {

struct ControlLoopOptions {
  providers::ConnectOptions connect;  // connect.embedded_host_dir: where test:///embedded/ hosts live
  // Grace period between a graceful shutdown request and a hard stop.
  std::chrono::seconds stop_grace{60};
  // Host heartbeats: a host is NotReady after `heartbeat_failures` failed heartbeats spanning
  // (failures - 1) intervals.
  std::chrono::milliseconds heartbeat_interval{1000};
  int heartbeat_failures = 3;
  // The longest one heartbeat waits for its answer; below the interval (a hung host's first
  // beat fails before the next is due). Capped at the interval.
  std::chrono::milliseconds heartbeat_timeout{500};
  // Runs the fence agents of failed hosts; must outlive the loop. Without one, a host with
  // spec.fencing cannot be fenced (FencingFailed) and nothing fails over from it.
  providers::Fencer* fencer = nullptr;
  // Fence agents that may run at once (FenceSlots); the other failed hosts wait their turn
  // without holding a worker.
  int max_concurrent_fences = 2;
  // Runs the health probes of VMs with spec.health; must outlive the loop. Null = the
  // production prober (HTTP, TCP, exec).
  providers::Prober* prober = nullptr;
  // Reads the format of disk images that do not declare it; must outlive the loop. Null =
  // qemu-img on this machine (QemuImg).
  providers::ImageInspector* images = nullptr;
  // Tells the admins about failures and recoveries (a webhook); may be null. Must outlive the
  // loop.
  providers::Notifier* notifier = nullptr;
  // Which alert labels name a host or a VM in Alertmanager's webhook payloads.
  providers::AlertLabelNames alert_labels;
  // The VM metadata labels exported in vmkeeper_vm_labels (label_<key>), for per-service
  // availability in PromQL.
  std::vector<std::string> metrics_vm_labels = {"service"};
  // Probe keys on a queue of their own (served by workers of their own, so a probe waiting for
  // its timeout never holds a worker a failover needs). False: they share the reconcile queue
  // (a driver that runs one work item at a time, like the simulation).
  bool separate_probe_queue = true;
  // The longest one reconcile goes on before its steps stop (its CancelToken's deadline).
  Duration reconcile_timeout = std::chrono::minutes(5);
};

class ControlLoop {
 public:
  // store, factory and clock must outlive the loop.
  ControlLoop(Store* store, providers::HypervisorFactory* factory, Clock* clock,
              ControlLoopOptions options);
  ~ControlLoop();  // closes the host connections

  ControlLoop(const ControlLoop&) = delete;
  ControlLoop& operator=(const ControlLoop&) = delete;

  // What a (re)starting controller rebuilds from the store before any reconcile: the open
  // incidents, one registry entry per Host (not yet connected), the placement book from the
  // VMs' stored status. Also connects the notifier to the incidents.
  Status Restore();
  // The resync: every host (and its heartbeat) and VM, in the work queue's low lane, so what
  // events and applies enqueue goes first.
  void EnqueueAll();

  // One work item as a worker runs it: takes a key from `queue` (blocking), runs it, does the
  // queue's bookkeeping. False once the queue shut down.
  bool ProcessNext(WorkQueue& queue, const CancelToken& cancel);
  // The reconcile a key stands for, with its metrics and the capture of exceptions (a bug, not a
  // state of the world: counted in vmkeeper_reconcile_panics_total and retried with backoff).
  ReconcileResult Run(const std::string& key, const CancelToken& cancel);
  // What a worker does with a result: retry with backoff, look again later, or forget.
  static void Finish(WorkQueue& queue, const std::string& key, const ReconcileResult& result);

  // Desired-state changes from the store's change feed (StoreWatcher): applied and deleted
  // objects are enqueued; status writes (the reconcilers' own) are not.
  void OnStoreChanges(const std::vector<Change>& changes);

  // The Alertmanager webhook: parsed, then taken as failure signals (never a failover alone).
  StatusOr<AlertIntakeOutcome> IngestAlerts(const std::string& body);
  // Closes every host connection (the destructor does too).
  void CloseHosts();
  // Publishes what is computed on demand: VMs by state, queue depths, the notifier's counts.
  void PublishGauges();
  // The text exposition of every metric, the per-VM availability counters computed now.
  std::string MetricsText();
  // ControlPlane::Availability.
  StatusOr<AvailabilityReport> Availability(const AvailabilityQuery& query);
  // Every host's view has seen one listing attempt (readiness of the controller).
  bool AllHostsAttempted() const;

  // The parts, for the controller, tests and benchmarks.
  Store& store() { return *store_; }
  Clock& clock() { return *clock_; }
  WorkQueue& queue() { return queue_; }
  WorkQueue& probe_queue() { return options_.separate_probe_queue ? probe_queue_ : queue_; }
  HostRegistry& hosts() { return registry_; }
  PlacementBook& book() { return book_; }
  HostHealthBook& health() { return health_; }
  HostSignalBook& signals() { return signals_; }
  IncidentTracker& incidents() { return incidents_; }
  FenceSlots& fence_slots() { return fence_slots_; }
  AvailabilityLedger& ledger() { return ledger_; }
  VmHealthBook& vm_health() { return vm_health_; }
  EventRecorder& events() { return recorder_; }
  metrics::ControllerMetrics& metrics() { return metrics_; }
  const ReconcileContext& context() const { return ctx_; }
  const ControlLoopOptions& options() const { return options_; }
  Applier& applier() { return applier_; }
  // ControlPlane::RequestSnapshot: recorded in the VM's status (status.snapshotRequests, a
  // write conditioned on the revision read, retried on a conflict) and the VM enqueued.
  StatusOr<std::string> RequestSnapshot(const std::string& vm, const std::string& name);
  // ControlPlane::RequestRollback, recorded the same way (status.rollbackRequest).
  StatusOr<RollbackPlan> RequestRollback(const std::string& vm, const std::string& to,
                                         bool dry_run);
  AlertIntake& alert_intake() { return alert_intake_; }
  const ReconcilerSet& reconcilers() const { return reconcilers_; }
  VmReconciler& vm_reconciler() { return vm_reconciler_; }
  ProbeReconciler& probe_reconciler() { return probe_reconciler_; }
  HostReconciler& host_reconciler() { return host_reconciler_; }
  HeartbeatReconciler& heartbeat_reconciler() { return heartbeat_reconciler_; }
  PoolReconciler& pool_reconciler() { return pool_reconciler_; }

 private:
  // The VM an API request (snapshot, rollback) is about: NotFound when absent,
  // FailedPrecondition while it is being deleted.
  StatusOr<specs::Object> VmForRequest(const std::string& vm);
  ReconcileContext MakeContext();
  metrics::ReconcilerMetrics* MetricsOf(const Reconciler* reconciler) const;
  void OnDomainEvent(const std::string& host, const providers::DomainEvent& event);
  void OnConnectionEvent(const std::string& host, const providers::ConnectionEvent& event);
  void OnDesiredStateChanged(const std::vector<ObjectRef>& changed);
  std::string PreviewPlacement(const specs::Object& vm);
  void ObserveVmState(const std::string& vm, const std::string& state);
  // The incident tracker's listener: the admins' notifier, the ledger and the metrics.
  void OnIncident(const Incident& incident, IncidentTracker::Change change);
  void NotifyIncident(const Incident& incident, bool opened);

  Store* const store_;
  Clock* const clock_;
  const ControlLoopOptions options_;
  metrics::ControllerMetrics metrics_;
  EventRecorder recorder_;
  WorkQueue queue_;
  WorkQueue probe_queue_;
  HostHealthBook health_;
  HostSignalBook signals_;
  IncidentTracker incidents_;
  AvailabilityLedger ledger_;
  VmHealthBook vm_health_;
  std::unique_ptr<providers::Prober> own_prober_;  // when options.prober is null
  std::unique_ptr<providers::ImageInspector> own_images_;  // when options.images is null
  PlacementBook book_;
  KeyLocks vm_locks_;
  FenceSlots fence_slots_;
  HostRegistry registry_;
  ReconcileContext ctx_;
  VmReconciler vm_reconciler_;
  ProbeReconciler probe_reconciler_;
  HostReconciler host_reconciler_;
  HeartbeatReconciler heartbeat_reconciler_;
  PoolReconciler pool_reconciler_;
  ReconcilerSet reconcilers_;
  // Each reconciler's metrics (a few: a scan is cheapest). Set in the constructor.
  std::vector<std::pair<const Reconciler*, metrics::ReconcilerMetrics*>> reconciler_metrics_;
  AlertIntake alert_intake_;
  Applier applier_;

  std::atomic<int> active_reconcile_workers_{0};
  std::atomic<int> active_probe_workers_{0};
  Mutex vm_states_mu_;
  std::unordered_map<std::string, std::string> vm_states_ GUARDED_BY(vm_states_mu_);
};

}  // namespace vmk::reconciler
