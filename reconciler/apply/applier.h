// Applier: turns manifest files into one atomic change of desired state (apply), or into a
// preview of it (diff): decode and validate everything first, then compute per object whether it
// is created, configured or unchanged (generation bumped only when the canonical spec changes),
// and, with prune, which stored objects go. Nothing is written unless every file is valid.
//
// Thread-safe: applies and deletes are serialised by an internal mutex, so generations are
// computed against the state they are committed over.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/mutex.h"
#include "reconciler/store/store.h"

namespace vmk::reconciler {

// A manifest file as the user has it: its path (for error messages) and its text.
struct ManifestFile {
  std::string name;
  std::string content;
};

struct ApplyOptions {
  bool dry_run = false;
  // Delete stored objects that the applied files do not contain.
  bool prune = false;
};

struct ApplyResultItem {
  specs::Kind kind = specs::Kind::kVirtualMachine;
  std::string name;
  // created | configured | unchanged | pruned (a VM whose volumes go with it: marked
  // Terminating, removed once they are deleted)
  std::string action;
};

struct ApplyOutcome {
  // The store revision the apply took (0 when nothing was written).
  int64_t revision = 0;
  // Validation errors, "file:line:col: field.path: message". Non-empty = nothing was changed.
  std::vector<std::string> errors;
  std::vector<ApplyResultItem> results;
};

struct DiffOutcome {
  std::vector<std::string> errors;  // as in ApplyOutcome
  bool changed = false;
  std::string diff;                   // unified diff of canonical manifests (stored -> applied)
  std::vector<std::string> actions;   // what the controller would do, e.g. "start wms01 on hv02"
};


class Applier {
 public:
  // Called after a commit with the objects that changed (to enqueue them).
  using ChangeHandler = std::function<void(const std::vector<ObjectRef>& changed)>;
  // For diff: the host a new VM would be placed on, or a reason it would not be placed.
  using PlacementPreview = std::function<std::string(const specs::Object& vm)>;

  // `clock` stamps the deletion marks (metadata.deletionTimestamp).
  Applier(Store* store, ChangeHandler on_change, PlacementPreview preview,
          Clock* clock = RealClock::Get())
      : store_(store), on_change_(std::move(on_change)), preview_(std::move(preview)),
        clock_(clock) {}

  StatusOr<ApplyOutcome> Apply(const std::vector<ManifestFile>& files, const ApplyOptions& options);
  StatusOr<DiffOutcome> Diff(const std::vector<ManifestFile>& files, bool prune);
  // NotFound / FailedPrecondition (a Host with VMs placed on it, a SnapshotPolicy or StoragePool
  // that VMs name). A VM with a volume disk whose deletePolicy is Delete is not removed but
  // marked (metadata.deletionTimestamp and the finalizer kVolumesFinalizer): its reconcile
  // deletes the volumes once its domain is gone, then the object (reconciler/vm/vm_deleter.h).
  // Deleting a VM that is already Terminating changes nothing.
  Status Delete(specs::Kind kind, const std::string& name);

 private:
  struct Plan {
    std::vector<std::string> errors;
    std::vector<specs::Object> applied;           // with generation set
    std::vector<std::optional<specs::Object>> stored;  // parallel to applied
    std::vector<std::string> actions;             // created | configured | unchanged
    std::vector<specs::Object> pruned;
  };
  StatusOr<Plan> MakePlan(const std::vector<ManifestFile>& files, bool prune);
  // What the controller would do about an applied object that is not unchanged, and about a
  // pruned one, in the words of `vmkeeper diff` ("define and start wms01 on hv02").
  StatusOr<std::string> PlannedAction(const specs::Object& object,
                                      const std::optional<specs::Object>& stored) const;
  // ", after a before-change snapshot ...; rolled back ..." when the VM's reconcile will watch
  // this change (a Ready VM under a policy with beforeChange); "" otherwise.
  StatusOr<std::string> ChangeWatchNote(const specs::Object& stored,
                                        const specs::Object& applied) const;
  StatusOr<std::string> VmAction(const specs::Object& vm,
                                 const std::optional<specs::Object>& stored) const;
  static std::string PrunedAction(const specs::Object& object);
  // What goes into the batch for a VM, Host, ... being deleted: the delete itself, or, for a VM
  // whose volumes go with it, the object marked Terminating. Returns whether it was marked.
  bool AddRemoval(const specs::Object& stored, ApplyBatch* batch) const;
  // Errors for StoragePools that would be removed while a VM being deleted (now or by this
  // apply, `marked`) still has volumes to delete in them.
  StatusOr<std::vector<std::string>> CheckPoolRemovals(const std::vector<std::string>& pools,
                                                       const std::vector<std::string>& marked);
  // The stored VMs whose spec names the SnapshotPolicy or StoragePool `name`.
  StatusOr<std::vector<std::string>> VmsReferringTo(specs::Kind kind, const std::string& name);
  // Errors for Hosts that would be removed while VMs that stay are placed on them.
  StatusOr<std::vector<std::string>> CheckHostRemovals(const std::vector<std::string>& hosts,
                                                       const std::vector<std::string>& removed_vms);

  Store* const store_;
  ChangeHandler on_change_;
  PlacementPreview preview_;
  Clock* const clock_;
  Mutex mu_;  // serialises Apply and Delete
};

// Unified diff of two texts (3 lines of context), with ---/+++ headers; "" when equal.
std::string UnifiedDiff(const std::string& from_name, const std::string& from,
                        const std::string& to_name, const std::string& to);

}  // namespace vmk::reconciler
