// VmSnapshotter: snapshots of one VM's volume disks (docs/storage.md), taken so that a
// controller killed at any instant resumes without losing a layer or leaving the VM on a file
// its record does not name.
//
//   1. recorded:  the snapshot, Pending, with the frozen layer and the new top of every volume
//                 disk, and the sequence number used (status written, synced);
//   2. taken:     a running domain is switched by its host at one instant (SnapshotDisks: the
//                 new tops over the current ones); a stopped one gets new tops over its volumes
//                 (FreezeVolumes, all or none);
//   3. recorded:  Taken (the disks' records now name the new tops) or Failed with why.
//
// Resume settles a Pending snapshot before anything compares the domain's definition with the
// record: taken when every new top exists and the domain (if it runs) already names them;
// otherwise Failed, and new tops nothing uses are deleted. Image disks are not snapshotted (a
// VM without volume disks has no snapshots). Thread-compatible: one per reconcile pass.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "common/clock.h"
#include "common/status.h"
#include "providers/hypervisor/hypervisor.h"
#include "reconciler/core/object_status.h"
#include "reconciler/incidents/event_recorder.h"
#include "specs/types.h"

namespace vmk::reconciler {

// When the next scheduled snapshot of a VM under `policy` is due: at once when none was asked
// for yet, else the policy's interval after the last one.
WallTime NextScheduledSnapshot(const VmStatus& status, const specs::SnapshotPolicySpec& policy,
                               WallTime now);

class VmSnapshotter {
 public:
  // Writes the VM's status, synced (the reconcile pass's conditioned write).
  using Persist = std::function<Status()>;

  VmSnapshotter(std::string vm, providers::Hypervisor* host, EventRecorder* events, Clock* clock)
      : vm_(std::move(vm)), host_(host), events_(events), clock_(clock) {}

  // Settles Pending snapshots of `status` (see above). `domain`: the VM's domain on its host.
  Status Resume(VmStatus* status, const std::optional<providers::DomainInfo>& domain,
                const Persist& persist);

  struct Request {
    std::string name;    // "" = "s<seq>"
    std::string reason;  // scheduled, manual, before-change, before-failover, before-rollback
    bool healthy = false;
    int64_t generation = 0;
    bool domain_active = false;  // the domain runs: its host switches the disks
  };
  // Takes a snapshot now. nullopt when the VM has no volume disk. A failure to take it is a
  // Failed record (and a Warning event), not an error; an error means the status could not be
  // written and the pass must be retried.
  StatusOr<std::optional<SnapshotRecord>> Take(VmStatus* status, const Request& request,
                                               const Persist& persist);

 private:
  // Performs step 2 for `record` (Pending, in `status`); the disks' records follow on success.
  Status Switch(VmStatus* status, SnapshotRecord& record, bool domain_active);
  // Whether every new top of `record` exists; their paths by disk into `paths`.
  StatusOr<bool> NewTopsExist(const SnapshotRecord& record,
                              std::map<std::string, std::string>* paths);
  void DeleteUnusedTops(const SnapshotRecord& record);

  const std::string vm_;
  providers::Hypervisor* const host_;
  EventRecorder* const events_;
  Clock* const clock_;
};

}  // namespace vmk::reconciler
