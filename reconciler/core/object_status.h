// Typed views of the status the controller writes for VMs and hosts, with JSON round trips.
// Plain data.
#pragma once

#include <string>
#include <vector>

#include "common/clock.h"
#include "reconciler/store/store.h"
#include "specs/types.h"

namespace vmk::metrics {
class ControllerMetrics;
}  // namespace vmk::metrics

namespace vmk::reconciler {

// What one of a VM's disks is on storage, as the controller recorded it (status.disks[]). The
// record, not the spec, says which file the VM writes: a snapshot moves a volume disk to a new
// top, and a raw image's format is read once (a guest can write a qcow2 header into a raw
// disk; reading it again would trust the guest).
struct DiskRecord {
  std::string name;    // the spec's disk name
  std::string image;   // image disks: the image whose format was read
  std::string pool;    // volume disks: the pool, and the volume the VM writes (its top)
  std::string volume;
  std::string path;    // the file the domain opens ("" until the volume exists)
  std::string format;  // "raw" | "qcow2" ("" = not known yet)

  static DiskRecord FromJson(const specs::Json& json);
  specs::Json ToJson() const;
};

// One frozen layer of a snapshot: the volume that holds a disk's state at the snapshot.
struct SnapshotLayer {
  std::string disk;
  std::string pool;
  std::string volume;    // frozen from the snapshot on
  std::string next_top;  // the top created over it (while Pending: the one being created)
};

// A snapshot of a VM's volume disks (status.snapshots[]), recorded before it is taken
// (Pending), then Taken or Failed. docs/storage.md.
struct SnapshotRecord {
  std::string name;    // "s<seq>", unique within the VM
  std::string time;    // RFC 3339, when it was taken (asked for, while Pending)
  std::string reason;  // scheduled, manual, before-change, before-failover, before-rollback
  bool healthy = false;     // the VM was Ready then
  int64_t generation = 0;   // the spec generation the VM ran
  std::string phase;        // Pending, Taken, Failed, Pruning (being merged away: never restored)
  std::string message;      // why it failed
  std::vector<SnapshotLayer> layers;

  static SnapshotRecord FromJson(const specs::Json& json);
  specs::Json ToJson() const;
};

// A rollback of a VM that used up its restarts (status.rollback): Restoring (new tops over the
// target snapshot's layers being made; recorded before) → Watching (started on them; Done when
// Ready) or, when no healthy snapshot is left within the depth, Failed.
struct RollbackRecord {
  std::string phase;                 // "", Restoring, Watching, Done, Failed
  std::string target;                // the snapshot restored
  std::vector<std::string> tried;    // snapshots restored in this episode, newest first
  std::string started;               // RFC 3339
  std::string message;
  std::vector<SnapshotLayer> restore;  // per disk: target's layer and the new top over it

  static RollbackRecord FromJson(const specs::Json& json);
  specs::Json ToJson() const;
};

// A change of a running, healthy VM's definition (status.change; docs/storage.md, "Rollback of
// a failed change"): Watching from its start until the VM is Ready on it (Succeeded) or its
// startup grace runs out (Failed: the before-change snapshot and the previous definition are
// restored, and the change is not tried again until the spec changes). A newer spec while one
// is watched: Superseded.
struct ChangeRecord {
  std::string phase;           // "", Watching, Succeeded, Failed, Superseded
  int64_t fromGeneration = 0;  // the generation the VM ran, healthy, before
  int64_t toGeneration = 0;
  std::string snapshot;        // the before-change snapshot ("" = none taken)
  std::string started;         // RFC 3339: when the new definition was started
  std::string deadline;        // RFC 3339: started + the startup grace
  std::string message;
  specs::Json previousSpec;    // the spec of fromGeneration: what a failed change goes back to

  static ChangeRecord FromJson(const specs::Json& json);
  specs::Json ToJson() const;
};

// One disk's part of a prune (status.pruning.steps[]): the pruned snapshot's frozen layer and
// how its data goes into the one layer built on it (docs/storage.md, Pruning).
struct PruneStep {
  std::string disk;
  std::string pool;
  std::string layer;  // the pruned snapshot's frozen layer (L)
  std::string child;  // the one volume layered on it (C); "" = none, L is simply deleted
  // How C and L are merged, chosen (and recorded) before it is done: "commit" (C into L by the
  // QEMU running the chain; `over`, the volume on C, is then layered on L), "rebase" (L into C,
  // qemu-img: nothing runs the chain), "delete" (no child); "" = not chosen yet.
  std::string method;
  std::string over;
  // Once merged: the file nothing needs any more (C after a commit, L after a rebase or alone).
  std::string obsolete;
};

// A prune in progress (status.pruning), recorded before each step is taken so that a stopped
// controller resumes it: Merging (the snapshot marked Pruning; each disk's layers merged, which
// the real chain tells apart from not merged) → Deleting (the records name the merged layers,
// the snapshot is gone from status.snapshots; the obsolete files are being deleted) → cleared.
struct PruneRecord {
  std::string phase;     // "", Merging, Deleting
  std::string snapshot;  // the snapshot pruned
  std::string reason;    // keep | cap: which rule of the policy pruned it
  std::string started;   // RFC 3339
  std::vector<PruneStep> steps;

  static PruneRecord FromJson(const specs::Json& json);
  specs::Json ToJson() const;
};

// One volume of a Terminating VM's disks (status.deletion.volumes[] and .retained[]).
struct DeletionVolume {
  std::string disk;
  std::string pool;
  std::string volume;
  bool deleted = false;  // gone (deleted by this deletion, or found absent)
};

// The deletion of a Terminating VM that has the volumes finalizer (status.deletion;
// reconciler/vm/vm_deleter.h), recorded before each step so that a stopped controller resumes
// it: RemovingDomains (its domain destroyed and undefined on every host that may hold it) →
// DeletingVolumes (`volumes` listed, synced, before the first is deleted; each marked once
// gone) → the object is removed with its status.
struct DeletionRecord {
  std::string phase;    // "", RemovingDomains, DeletingVolumes
  std::string started;  // RFC 3339
  std::vector<DeletionVolume> volumes;   // of disks whose deletePolicy is Delete
  std::vector<DeletionVolume> retained;  // of disks whose deletePolicy is Retain: kept
  std::string message;  // what it waits for, when it waits

  static DeletionRecord FromJson(const specs::Json& json);
  specs::Json ToJson() const;
};

struct VmStatus {
  std::string host;   // where the VM is placed ("" = unplaced)
  std::string state;  // observed domain state: running, shutoff, ... or "unknown"
  int64_t observedGeneration = 0;
  std::vector<specs::Condition> conditions;
  int restartCount = 0;  // starts after the VM was found stopped while it should run
  // When the recent failure restarts happened (RFC 3339), for spec.restart's limit and backoff.
  std::vector<std::string> restartTimes;
  std::string message;
  std::string stopRequestedAt;  // RFC 3339 of a pending graceful shutdown
  std::vector<DiskRecord> disks;  // in spec order once resolved
  std::vector<SnapshotRecord> snapshots;  // oldest first
  int64_t snapshotSeq = 0;                // the last snapshot's sequence number
  std::string lastScheduledSnapshot;      // RFC 3339 of the last scheduled one asked for
  std::vector<std::string> snapshotRequests;  // names of manual snapshots asked for (the API)
  // The reason of a snapshot to take before the domain starts again ("before-failover", set by
  // a host's failover); "" = none.
  std::string snapshotBeforeStart;
  RollbackRecord rollback;
  std::string rollbackRequest;  // a snapshot an admin asked to roll back to (the API); "" = none
  // The last generation the VM was Ready on, and its spec: what a failed change goes back to.
  // Kept only for VMs whose SnapshotPolicy watches changes (beforeChange).
  int64_t healthyGeneration = 0;
  specs::Json healthySpec;
  ChangeRecord change;
  PruneRecord pruning;          // a snapshot being pruned (phase "" = none)
  DeletionRecord deletion;      // a Terminating VM's deletion (phase "" = none)

  const DiskRecord* Disk(const std::string& name) const;
  static VmStatus FromJson(const specs::Json& json);
  specs::Json ToJson() const;
};

// A host failure being handled, recorded (synced) before each step so that a restarted
// controller resumes it: Fencing → Relocating → Relocated; cleared when the host is back and its
// stale copies are gone.
struct FailoverRecord {
  std::string phase;     // "" (none), Fencing, Relocating, Relocated
  std::string since;     // RFC 3339, when the failure was detected
  std::string fencedBy;  // fence agent, or "acknowledgeUnsafe"
};

// One host's view of a pool, as status.hosts[] holds it.
struct PoolHostStatus {
  std::string host;
  bool ready = false;
  std::string reason;  // when not ready
  std::string message;
  int64_t capacityBytes = 0;
  int64_t availableBytes = 0;

  static PoolHostStatus FromJson(const specs::Json& json);
  specs::Json ToJson() const;
};

// The hosts a pool's status says do not see it (for the scheduler).
std::vector<std::string> HostsNotSeeingPool(const specs::Json& pool_status);

// A condition whose lastTransitionTime is now (SetCondition keeps the old time when only the
// reason or message changes).
specs::Condition MakeCondition(const Clock& clock, const std::string& type, bool ok,
                               const std::string& reason, const std::string& message);

// What failure detection saw of a host, channel by channel (docs/failure-detection.md), for
// `get hosts` and `describe host`. Empty while every heartbeat answers.
struct HostSignals {
  std::string management;  // "answers", "refused", "no answer", "error"
  std::string dataPlane;   // "2/3 answer", "silent", "none", ...
  std::string power;       // "on", "off", "unknown"
  std::string alert;       // the firing alert's name; empty = none
  std::string verdict;     // host_verdict.h: "ManagementUnreachable", "Dead", ...
  std::string why;

  bool empty() const { return management.empty(); }
};

struct HostStatus {
  std::vector<specs::Condition> conditions;
  FailoverRecord failover;
  HostSignals signals;
  specs::Capacity capacity;
  specs::Capacity allocated;
  int vms = 0;
  std::string hypervisor;
  std::string lastSeen;  // RFC 3339 of the last successful sync

  static HostStatus FromJson(const specs::Json& json);
  specs::Json ToJson() const;
};

// Writes a host's status; a host deleted meanwhile is not an error (nothing left to describe).
// With `metrics`, publishes what it says: vmkeeper_host_ready, vmkeeper_host_failover_blocked.
Status WriteHostStatus(Store& store, const std::string& host, const HostStatus& status, bool sync,
                       metrics::ControllerMetrics* metrics = nullptr);

}  // namespace vmk::reconciler
