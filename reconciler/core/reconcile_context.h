// What the reconcilers share: the store, the hosts and their observed state, the placement
// book, the health books, incidents and events, the queues (to enqueue related keys), the
// edges they act through (fencer, prober) and the clock. Built and owned by the ControlLoop
// (reconciler/controller/control_loop.h), the one wiring of the controller's parts.
#pragma once

#include <chrono>
#include <functional>
#include <optional>

#include "common/clock.h"
#include "metrics/controller_metrics.h"
#include "reconciler/core/fence_slots.h"
#include "reconciler/core/reconciler.h"
#include "providers/fencing/fencer.h"
#include "providers/probes/prober.h"
#include "providers/storage/qemu_img.h"
#include "reconciler/queue/key_locks.h"
#include "reconciler/incidents/event_recorder.h"
#include "reconciler/health/host_health.h"
#include "reconciler/health/host_signals.h"
#include "reconciler/incidents/availability_ledger.h"
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
  // Alerts, power and connection closes per host, for failure detection; may be null.
  HostSignalBook* signals = nullptr;
  IncidentTracker* incidents = nullptr;
  // Planned stops and the accounting of VMs for availability; may be null in unit tests.
  AvailabilityLedger* ledger = nullptr;
  providers::Fencer* fencer = nullptr;
  // Bounds the fence agents running at once; null = unbounded (unit tests of one host).
  FenceSlots* fence_slots = nullptr;
  metrics::ControllerMetrics* metrics = nullptr;  // may be null
  VmHealthBook* vm_health = nullptr;              // with prober: spec.health is acted upon
  providers::Prober* prober = nullptr;
  // Serialises the writers of one VM's placement: its own reconcile and a host's failover.
  // May be null in unit tests that run one reconcile at a time.
  KeyLocks* vm_locks = nullptr;
  // Reads the format of images whose disks do not declare it; null = they must declare it.
  providers::ImageInspector* images = nullptr;
  // Where probe keys go: a queue of their own with its own workers, so that a probe waiting for
  // its timeout never holds a worker that a failover needs. Null = `queue`.
  WorkQueue* probe_queue = nullptr;
};

// The reconcilers' names: the first part of their work keys.
inline constexpr std::string_view kVmReconciler = "vm";
inline constexpr std::string_view kProbeReconciler = "probe";
inline constexpr std::string_view kHostReconciler = "host";
inline constexpr std::string_view kHeartbeatReconciler = "heartbeat";

inline std::string VmKey(const std::string& name) { return WorkKey(kVmReconciler, name); }
inline std::string HostKey(const std::string& name) { return WorkKey(kHostReconciler, name); }
inline std::string HeartbeatKey(const std::string& name) {
  return WorkKey(kHeartbeatReconciler, name);
}
inline std::string ProbeKey(const std::string& name) { return WorkKey(kProbeReconciler, name); }

// Where probe keys go (ReconcileContext::probe_queue, else the main queue).
inline WorkQueue& ProbeQueueOf(const ReconcileContext& ctx) {
  return ctx.probe_queue ? *ctx.probe_queue : *ctx.queue;
}

}  // namespace vmk::reconciler
