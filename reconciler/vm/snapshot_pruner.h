// SnapshotPruner: prunes a VM's snapshots to its SnapshotPolicy's `keep` and `maxSnapshotGiB`
// (docs/storage.md, Pruning). A snapshot is a frozen layer per volume disk; pruning it merges
// the layer's data with the one layer built on it, so that what every other snapshot and the
// VM's top read does not change, then deletes the file nothing needs:
//
//   running VM, layer in the chain QEMU holds: QEMU commits the child C into the layer L
//     (Hypervisor::CommitDiskLayer); L then holds C's state, the snapshot that owned C is
//     recorded on L, and C's file goes;
//   otherwise (a stopped VM, or a branch no domain runs): C is rebased onto L's parent
//     (StoragePool::MergeBackingIntoChild), and L's file goes;
//   a layer nothing is built on: its file goes.
//
// What is pruned: by `keep`, the scheduled snapshots beyond the newest `keep` Taken ones; by the
// cap, the oldest scheduled ones while the snapshot layers take more than the cap (even within
// keep). Never a snapshot taken by hand, before a failover or before a rollback (an admin or a
// failure made those: only an admin removes them), never the latest healthy snapshot (what a
// rollback goes back to), never a snapshot a restore depends on (a layer with two children: a
// rollback's new top sits on it beside the old chain), never while a snapshot is Pending or a
// rollback is restoring, watched, or asked for, and never the layer right under a running
// VM's top (QEMU's active commit would be needed).
//
// Each prune is recorded in the VM's status before each step (status.pruning; the snapshot's
// phase becomes Pruning, so no rollback picks it): Merging → (merged, as the real chain shows)
// Deleting, with the records naming the merged layers and the snapshot dropped → the obsolete
// files deleted and the record cleared. A controller killed at any instant resumes from the
// record and what the pool shows. Thread-compatible: one per reconcile pass.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "providers/hypervisor/hypervisor.h"
#include "reconciler/core/object_status.h"
#include "reconciler/incidents/event_recorder.h"
#include "specs/types.h"

namespace vmk::reconciler {

// The snapshot a rollback would go back to: the newest Taken, healthy one (nullptr: none).
const SnapshotRecord* LatestHealthySnapshot(const VmStatus& status);
// The scheduled snapshots that `keep` no longer covers, oldest first: Taken, reason scheduled,
// older than the newest `keep` such; never the latest healthy snapshot.
std::vector<std::string> SnapshotsBeyondKeep(const VmStatus& status, int keep);
// Every snapshot the cap may prune, oldest first: Taken, scheduled, not the latest healthy.
std::vector<std::string> SnapshotsTheCapMayPrune(const VmStatus& status);
// Why nothing may be pruned now ("" = it may): a snapshot Pending, a rollback restoring or
// watched or asked for.
std::string PruneBlocker(const VmStatus& status);

class SnapshotPruner {
 public:
  using Persist = std::function<Status()>;  // writes the status, synced
  // How long a commit's block job is waited for in one call (a big layer on NFS is slow); a
  // job still running then is waited for again by the next pass.
  static constexpr std::chrono::milliseconds kDefaultCommitTimeout{std::chrono::minutes(5)};

  SnapshotPruner(std::string vm, providers::Hypervisor* host, EventRecorder* events, Clock* clock,
                 std::chrono::milliseconds commit_timeout = kDefaultCommitTimeout)
      : vm_(std::move(vm)),
        host_(host),
        events_(events),
        clock_(clock),
        commit_timeout_(commit_timeout) {}

  // Finishes a prune a stopped controller left (status.pruning), then prunes what `policy` says
  // is due, one snapshot at a time, and sets the SnapshotSpace condition when the policy has a
  // cap. `domain_active`: the domain runs on its host (QEMU merges the layers it holds). An
  // error means the status could not be written or the host did not answer in time (the pass
  // is retried; the record says where to resume); a merge the host or pool refuses is a
  // Warning event, and the prune stays recorded for a later pass.
  Status Run(VmStatus* status, const specs::SnapshotPolicySpec& policy, bool domain_active,
             const Persist& persist);

 private:
  // The steps to prune `snapshot` (one per layer), or nullopt with `why` when it cannot be
  // pruned now (a restore depends on it, its layer is gone or under the running top).
  StatusOr<std::optional<std::vector<PruneStep>>> Plan(const VmStatus& status,
                                                       const SnapshotRecord& snapshot,
                                                       bool domain_active, std::string* why);
  // Prunes the first of `candidates` that can be: recorded, then Continue. Whether one was.
  StatusOr<bool> PruneFirst(VmStatus* status, const std::vector<std::string>& candidates,
                            const std::string& reason, bool domain_active,
                            const Persist& persist);
  // Takes status.pruning from where it is to the end; false when a step was refused (an event
  // says why; the record stays).
  StatusOr<bool> Continue(VmStatus* status, bool domain_active, const Persist& persist);
  // Merges one step's layers unless the chain shows them merged; sets step.obsolete.
  Status Merge(VmStatus* status, PruneStep& step, bool domain_active, const Persist& persist);
  // Whether the chain shows the step's layers merged (and which way: step.obsolete).
  StatusOr<bool> Merged(PruneStep& step);
  // Merged everywhere: the records name the merged layers, the snapshot goes (Deleting).
  Status RecordMerged(VmStatus* status, const Persist& persist);
  // Deleting: the obsolete files go, then the record.
  Status DeleteObsolete(VmStatus* status, const Persist& persist);
  // What the frozen layers of the VM's snapshots take in their pools.
  StatusOr<int64_t> SnapshotBytes(const VmStatus& status);
  void CheckCap(VmStatus* status, int64_t bytes, int64_t cap, bool within);

  const std::string vm_;
  providers::Hypervisor* const host_;
  EventRecorder* const events_;
  Clock* const clock_;
  const std::chrono::milliseconds commit_timeout_;
};

}  // namespace vmk::reconciler
