// HostFailover: flow 1 of the design, for a host whose heartbeats made it NotReady. Its VMs are
// failed over in steps, each recorded (synced) in the host's status.failover before it is taken,
// so a controller killed at any point resumes where it stopped:
//   ""          → Fencing     the host's and its VMs' incidents are opened (evidence: the last
//                             good heartbeat, or an earlier alert), HostFailed;
//   Fencing     → Relocating  the fence agent powers the host off (ClusterLabs convention);
//                             without spec.fencing only `acknowledgeUnsafe: true` lets it go
//                             on. When fencing fails nothing fails over (a VM must never run
//                             twice): Fenced=False/FencingFailed, an event, the metric, retried
//                             with backoff;
//   Relocating  → Relocated   each VM, highest priority first, is booked on another host by
//                             the scheduler and its new host written to its status (durable
//                             by one Store::Sync per 32 VMs before those VMs are enqueued).
// Relocated lasts until the host answers again (HostReconciler then removes its stale copies).
// Used by HostReconciler; thread-safe for different hosts.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "reconciler/core/object_status.h"
#include "reconciler/core/reconcile_context.h"
#include "reconciler/core/reconciler.h"

namespace vmk::reconciler {

class HostFailover {
 public:
  explicit HostFailover(ReconcileContext ctx) : ctx_(ctx) {}

  // Takes the failover of `object` (found failed: `why` says on what evidence, for its first
  // event) as far as it can now.
  ReconcileResult Handle(const specs::Object& object, const specs::HostSpec& spec,
                         HostEntry& entry, HostStatus status, const CancelToken& cancel,
                         const std::string& why = "");

 private:
  // Once per failed fence (not per retry): each of the host's VMs stays, not failed over.
  void CountBlocked(const std::vector<std::string>& vms);
  // Phase "" → Fencing. Returns a result when the pass ends here (nothing to fail over).
  std::optional<ReconcileResult> Begin(const std::string& host, const std::vector<std::string>& vms,
                                       const std::string& why, HostStatus* status);
  // Phase Fencing → Relocating. Returns a result when the pass ends here (fencing failed or is
  // not allowed).
  std::optional<ReconcileResult> Fence(const std::string& host, const specs::HostSpec& spec,
                                       const std::vector<std::string>& vms, HostStatus* status);
  // Phase Relocating: every VM still placed on `host` is placed elsewhere (or left unplaced).
  ReconcileResult Relocate(const std::string& host, const CancelToken& cancel);
  // One VM of the failed host, under its lock and on a fresh read of its status: booked on
  // another host (or left unplaced) and its new placement written, unsynced; added to `placed`
  // for the caller to make durable and enqueue.
  Status PlaceElsewhere(const std::string& host, const std::string& vm,
                        const std::map<std::string, std::string>& labels,
                        const specs::VirtualMachineSpec& spec, const std::string& now,
                        std::vector<std::string>* placed);

  ReconcileContext ctx_;
};

}  // namespace vmk::reconciler
