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
  std::string action;  // created | configured | unchanged | pruned
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

  Applier(Store* store, ChangeHandler on_change, PlacementPreview preview)
      : store_(store), on_change_(std::move(on_change)), preview_(std::move(preview)) {}

  StatusOr<ApplyOutcome> Apply(const std::vector<ManifestFile>& files, const ApplyOptions& options);
  StatusOr<DiffOutcome> Diff(const std::vector<ManifestFile>& files, bool prune);
  // NotFound / FailedPrecondition (a Host with VMs placed on it, a SnapshotPolicy or StoragePool
  // that VMs name).
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
  // The stored VMs whose spec names the SnapshotPolicy or StoragePool `name`.
  StatusOr<std::vector<std::string>> VmsReferringTo(specs::Kind kind, const std::string& name);
  // Errors for Hosts that would be removed while VMs that stay are placed on them.
  StatusOr<std::vector<std::string>> CheckHostRemovals(const std::vector<std::string>& hosts,
                                                       const std::vector<std::string>& removed_vms);

  Store* const store_;
  ChangeHandler on_change_;
  PlacementPreview preview_;
  Mutex mu_;  // serialises Apply and Delete
};

// Unified diff of two texts (3 lines of context), with ---/+++ headers; "" when equal.
std::string UnifiedDiff(const std::string& from_name, const std::string& from,
                        const std::string& to_name, const std::string& to);

}  // namespace vmk::reconciler
