// What the reconcile functions share: the store, the hosts, the placement book, the event
// recorder, the queue (to enqueue related keys) and the clock. Owned by the Controller.
#pragma once

#include <chrono>
#include <functional>
#include <optional>

#include "common/clock.h"
#include "providers/fencing/fencer.h"
#include "providers/probes/prober.h"
#include "reconciler/queue/key_locks.h"
#include "reconciler/incidents/event_recorder.h"
#include "reconciler/health/host_health.h"
#include "reconciler/incidents/incident_tracker.h"
#include "reconciler/health/vm_health.h"
#include "reconciler/observed/host_registry.h"
#include "reconciler/scheduling/placement_book.h"
#include "reconciler/store/store.h"
#include "reconciler/queue/work_queue.h"

namespace vmk::reconciler {

struct ReconcileContext {
  Store* store = nullptr;
  HostRegistry* hosts = nullptr;
  PlacementBook* book = nullptr;
  EventRecorder* events = nullptr;
  WorkQueue* queue = nullptr;
  Clock* clock = nullptr;
  std::chrono::seconds stop_grace{60};
  // Told the observed state of each VM after its reconcile ("" once the VM is gone); for the
  // VMs-by-state metric. May be empty.
  std::function<void(const std::string& vm, const std::string& state)> on_vm_state;
  HostHealthBook* health = nullptr;
  IncidentTracker* incidents = nullptr;
  providers::Fencer* fencer = nullptr;
  metrics::ControllerMetrics* metrics = nullptr;  // may be null
  VmHealthBook* vm_health = nullptr;              // with prober: spec.health is acted upon
  providers::Prober* prober = nullptr;
  // Serialises the writers of one VM's placement: its own reconcile and a host's failover.
  // May be null in unit tests that run one reconcile at a time.
  KeyLocks* vm_locks = nullptr;
  // Where probe keys go: a queue of their own with its own workers, so that a probe waiting for
  // its timeout never holds a worker that a failover needs. Null = `queue`.
  WorkQueue* probe_queue = nullptr;
};

inline std::string VmKey(const std::string& name) { return "vm/" + name; }
inline std::string HostKey(const std::string& name) { return "host/" + name; }
inline std::string HeartbeatKey(const std::string& name) { return "hb/" + name; }
inline std::string ProbeKey(const std::string& name) { return "probe/" + name; }

// What a reconcile asks of its worker: nothing more (ok), a retry with backoff (error), or
// another look after a delay (requeue_after).
struct ReconcileResult {
  Status status;
  std::optional<Duration> requeue_after;

  static ReconcileResult Done() { return {}; }
  static ReconcileResult Error(Status s) { return {std::move(s), std::nullopt}; }
  static ReconcileResult After(Duration d) { return {Status::Ok(), d}; }
};

}  // namespace vmk::reconciler
