// VmRollback: a VM that used up spec.restart.limit comes back from its latest snapshot taken
// while it was healthy (flow 2 of the design; docs/storage.md). Steps, each recorded in the
// VM's status before it is taken, so a controller killed midway resumes it:
//
//   1. Restoring: the target snapshot and, per volume disk, the new top to make over the
//      target's frozen layer (written synced);
//   2. the new tops are made (an existing one of that name is this rollback's own, made before
//      a kill);
//   3. Watching: the disks' records name the new tops, the tops the VM failed on are kept as a
//      before-rollback snapshot (never destroyed), the restart budget starts afresh (written
//      synced); the VM is then defined onto the new tops and started by the next pass.
//
// Ready again: Done. Failing again (the limit used up once more): the healthy snapshot before
// the one tried, up to the policy's rollbackDepth; then Failed (the VM stays down, its incident
// open). Never while the domain runs: the caller stops it first. Thread-compatible: one per pass.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "providers/hypervisor/hypervisor.h"
#include "reconciler/core/object_status.h"
#include "reconciler/incidents/event_recorder.h"

namespace vmk::reconciler {

// The snapshot to roll back to: the newest Taken, healthy one not tried in this episode; none
// when there is none or `depth` were tried already.
const SnapshotRecord* PickRollbackTarget(const VmStatus& status,
                                         const std::vector<std::string>& tried, int depth);

class VmRollback {
 public:
  using Persist = std::function<Status()>;  // writes the status, synced

  // `generation`: the spec generation the VM runs (recorded with the failed state).
  VmRollback(std::string vm, int64_t generation, providers::Hypervisor* host,
             EventRecorder* events, Clock* clock)
      : vm_(std::move(vm)), generation_(generation), host_(host), events_(events), clock_(clock) {}

  // The restart limit is used up (the domain is not running): starts a rollback to the next
  // target, or marks it Failed. Returns whether the VM was rolled back (to be started).
  StatusOr<bool> Begin(VmStatus* status, int depth, const Persist& persist);
  // An admin asked for it (vmkeeper rollback): to `target` (a Taken snapshot), whatever its
  // health, as the first attempt of an episode. The domain is not running.
  Status BeginTo(VmStatus* status, const std::string& target, const Persist& persist);
  // Finishes a rollback left Restoring (steps 2 and 3).
  Status Continue(VmStatus* status, const Persist& persist);

 private:
  // Steps 1 to 3 towards `target`, after the attempts `tried`.
  Status Restore(VmStatus* status, const SnapshotRecord& target, std::vector<std::string> tried,
                 const Persist& persist);

  const std::string vm_;
  const int64_t generation_;
  providers::Hypervisor* const host_;
  EventRecorder* const events_;
  Clock* const clock_;
};

}  // namespace vmk::reconciler
