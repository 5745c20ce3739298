// VmDeleter: the deletion of a Terminating VirtualMachine (metadata.deletionTimestamp set by the
// applier), the VM reconcile's path for such an object (docs/storage.md, "Deleting a VM and its
// volumes").
//
// A VM with a volume disk whose deletePolicy is Delete is not removed from the store at once:
// its status is the only record of the volumes vmkeeper made for it, and those must not be
// deleted while a domain may still write them. So, each step recorded in status.deletion before
// it is taken (a stopped controller resumes from the record):
//   1. RemovingDomains: the domain is destroyed and undefined on every reachable host. A host
//      that may hold it (the VM's host, a host whose cache shows it, a host never listed) and
//      does not answer holds the deletion until it answers or is fenced: never a volume
//      deleted under a domain that may run.
//   2. DeletingVolumes: the volumes to delete are listed (synced) first: every layer this VM's
//      disks with deletePolicy Delete have (the tops of status.disks, the layers of
//      status.snapshots, a rollback's new tops, a prune's files), only names vmkeeper gives
//      this VM's layers, never a base image; then deleted top down (what nothing is layered on
//      first, as the pool's chains say). Disks with deletePolicy Retain keep every layer.
//   3. The object goes with its status (a delete conditioned on the revision it was read at).
// A volume the pool refuses to delete (something else is layered on it) or a pool no host
// reaches keeps the finalizer: condition VolumesDeleted=False, an event, a later look.
//
// Thread-compatible: one per reconcile pass, under the VM's lock.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "reconciler/core/object_status.h"
#include "reconciler/core/reconcile_context.h"
#include "reconciler/core/reconciler.h"
#include "specs/types.h"

namespace vmk::reconciler {

// The volumes a deletion deletes and keeps, from the spec (each disk's deletePolicy) and the
// status (what vmkeeper made). Layers of disks no longer in the spec are kept (no policy says
// otherwise). Tops first, then snapshot layers newest first; each volume once.
struct VolumeDeletionPlan {
  std::vector<DeletionVolume> deleted;
  std::vector<DeletionVolume> retained;
};
VolumeDeletionPlan PlanVolumeDeletion(const std::string& vm, const specs::VirtualMachineSpec& spec,
                                      const VmStatus& status);

class VmDeleter {
 public:
  explicit VmDeleter(const ReconcileContext& ctx) : ctx_(ctx) {}

  // One pass over `object`, a Terminating VM read with its status. Done once the object is
  // gone; After(...) while it waits for a host, a pool or an admin; Error when a call failed
  // (retried with backoff, resumed from the record).
  ReconcileResult Run(const specs::Object& object);

 private:
  using StepResult = std::optional<ReconcileResult>;
  StepResult RemoveDomains();
  StepResult RecordVolumes();
  StepResult DeleteVolumes();
  // Deletes the planned volumes of one pool, top down. nullopt when all are gone.
  StepResult DeletePoolVolumes(const std::string& pool);
  ReconcileResult RemoveObject();
  // Waits (condition VolumesDeleted=False/`reason`, an event when the reason changes) and
  // looks again after `retry`.
  ReconcileResult Wait(const std::string& reason, const std::string& message, bool warning,
                       Duration retry);
  Status WriteStatus(bool sync);

  const ReconcileContext& ctx_;
  std::string name_;
  specs::Object object_;
  specs::VirtualMachineSpec spec_;
  VmStatus status_;
  int64_t status_revision_ = 0;
};

}  // namespace vmk::reconciler
