#include "reconciler/apply/applier.h"

#include <algorithm>
#include <set>
#include <sstream>

#include <dtl/dtl.hpp>

#include "common/rfc3339.h"
#include "reconciler/core/object_status.h"
#include "specs/canonical.h"
#include "specs/decoder.h"
#include "specs/redaction.h"
#include "specs/validator.h"

namespace vmk::reconciler {

using specs::Kind;
using specs::Object;

namespace {

std::vector<std::string> SplitLines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) lines.push_back(line);
  return lines;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

// Canonical manifest without status or generation: what the user wrote, with defaults.
std::string ManifestText(const Object& object) {
  Object copy = object;
  copy.metadata.generation = 0;
  copy.metadata.deletionTimestamp.clear();
  copy.metadata.finalizers.clear();
  copy.status = specs::Json::object();
  return specs::CanonicalYaml(copy, /*include_status=*/false);
}

// Whether the VM names the SnapshotPolicy or StoragePool `name` (what deleting it would break).
bool RefersTo(const specs::VirtualMachineSpec& vm, Kind kind, const std::string& name) {
  if (kind == Kind::kSnapshotPolicy) return vm.snapshotPolicy == name;
  if (kind != Kind::kStoragePool) return false;
  return std::any_of(vm.disks.begin(), vm.disks.end(), [&](const specs::DiskSpec& disk) {
    return disk.volume && disk.volume->pool == name;
  });
}

// The disks of a VM whose volumes are deleted with it (deletePolicy: Delete); empty = none, the
// VM is removed at once as before.
std::vector<std::string> DisksDeletedWithVm(const Object& vm) {
  std::vector<std::string> disks;
  if (vm.kind != Kind::kVirtualMachine) return disks;
  auto spec = specs::VirtualMachineSpecFromJson(vm.spec);
  if (!spec.ok()) return disks;
  for (const specs::DiskSpec& disk : spec->disks) {
    if (disk.volume && disk.volume->deleteWithVm) disks.push_back(disk.name);
  }
  return disks;
}

std::string Join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : ", ") + item;
  return out;
}

std::string TerminatingNote(const Object& object) {
  std::string finalizers = Join(object.metadata.finalizers);
  return "being deleted since " + object.metadata.deletionTimestamp +
         (finalizers.empty() ? std::string() : " (finalizer " + finalizers + ")");
}

}  // namespace

std::string UnifiedDiff(const std::string& from_name, const std::string& from,
                        const std::string& to_name, const std::string& to) {
  if (from == to) return "";
  std::vector<std::string> a = SplitLines(from);
  std::vector<std::string> b = SplitLines(to);
  dtl::Diff<std::string> diff(a, b);
  diff.onHuge();
  diff.compose();
  diff.composeUnifiedHunks();
  std::ostringstream out;
  out << "--- " << from_name << "\n+++ " << to_name << "\n";
  diff.printUnifiedFormat(out);
  return out.str();
}

StatusOr<Applier::Plan> Applier::MakePlan(const std::vector<ManifestFile>& files, bool prune) {
  Plan plan;
  specs::DecodeResult decoded;
  for (const auto& file : files) decoded.Append(specs::DecodeManifests(file.content, file.name));
  if (files.empty()) plan.errors.push_back("no manifests given");

  // With prune the applied set is the whole truth: a reference to an object only the store has
  // would dangle once that object is pruned.
  Status store_error;
  auto exists_in_store = [&](Kind kind, const std::string& name) {
    if (prune) return false;
    auto got = store_->Get(kind, name);
    if (!got.ok()) {
      store_error = got.status();
      return false;
    }
    return got->has_value();
  };
  std::vector<specs::Diagnostic> diagnostics = decoded.errors;
  auto cross = specs::ValidateObjectSet(decoded.objects, exists_in_store);
  VMK_RETURN_IF_ERROR(store_error);
  diagnostics.insert(diagnostics.end(), cross.begin(), cross.end());
  for (const auto& d : diagnostics) plan.errors.push_back(d.ToString());
  if (plan.errors.empty() && decoded.objects.empty() && !files.empty()) {
    // As kubectl: an apply of nothing is a mistake (and with prune it would delete everything).
    std::string names;
    for (const auto& f : files) names += (names.empty() ? "" : ", ") + f.name;
    plan.errors.push_back(names + ": no objects found");
  }
  if (!plan.errors.empty()) return plan;

  std::set<ObjectRef> in_set;
  for (Object& object : decoded.objects) {
    object.status = specs::Json::object();  // controller-owned: never applied
    in_set.insert({object.kind, object.metadata.name});
    VMK_ASSIGN_OR_RETURN(std::optional<Object> stored, store_->Get(object.kind, object.metadata.name));
    if (stored && stored->metadata.terminating()) {
      // As Kubernetes: an object being deleted is not brought back by an apply. The VM's
      // volumes are being deleted; applied again now, it would be created over what goes.
      plan.errors.push_back(
          specs::Diagnostic{object.LocationOf("metadata.name"), "metadata.name",
                            object.Key() + " must not be applied while it is " +
                                TerminatingNote(*stored) + "; apply it again once it is gone"}
              .ToString());
      continue;
    }
    object.metadata.generation = specs::NextGeneration(stored, object);
    std::string action = "unchanged";
    if (!stored) {
      action = "created";
    } else if (!specs::SpecEquals(stored->spec, object.spec) ||
               !specs::LabelsEqual(*stored, object)) {
      action = "configured";
    }
    plan.applied.push_back(std::move(object));
    plan.stored.push_back(std::move(stored));
    plan.actions.push_back(action);
  }
  if (prune) {
    for (Kind kind : specs::kAllKinds) {
      VMK_ASSIGN_OR_RETURN(std::vector<Object> all, store_->List(kind));
      for (auto& object : all) {
        // One being deleted already goes: pruning it again would change nothing.
        if (object.metadata.terminating()) continue;
        if (!in_set.count({kind, object.metadata.name})) plan.pruned.push_back(std::move(object));
      }
    }
  }
  if (!plan.errors.empty()) return plan;
  // A VM whose volumes go with it stays (Terminating) until they are deleted: its host must
  // stay to remove its domain, its pools to delete its volumes.
  std::vector<std::string> removed_hosts, removed_pools, removed_vms, marked_vms;
  for (const auto& object : plan.pruned) {
    if (object.kind == Kind::kHost) removed_hosts.push_back(object.metadata.name);
    if (object.kind == Kind::kStoragePool) removed_pools.push_back(object.metadata.name);
    if (object.kind != Kind::kVirtualMachine) continue;
    (DisksDeletedWithVm(object).empty() ? removed_vms : marked_vms)
        .push_back(object.metadata.name);
  }
  VMK_ASSIGN_OR_RETURN(plan.errors, CheckHostRemovals(removed_hosts, removed_vms));
  VMK_ASSIGN_OR_RETURN(std::vector<std::string> pool_errors,
                       CheckPoolRemovals(removed_pools, marked_vms));
  plan.errors.insert(plan.errors.end(), pool_errors.begin(), pool_errors.end());
  return plan;
}

StatusOr<std::vector<std::string>> Applier::CheckHostRemovals(
    const std::vector<std::string>& hosts, const std::vector<std::string>& removed_vms) {
  std::vector<std::string> errors;
  if (hosts.empty()) return errors;
  VMK_ASSIGN_OR_RETURN(std::vector<Object> vms, store_->List(Kind::kVirtualMachine));
  std::set<std::string> going(removed_vms.begin(), removed_vms.end());
  for (const auto& host : hosts) {
    std::vector<std::string> blocking;
    for (const auto& vm : vms) {
      if (going.count(vm.metadata.name)) continue;
      if (VmStatus::FromJson(vm.status).host == host) blocking.push_back(vm.metadata.name);
    }
    if (blocking.empty()) continue;
    std::string list;
    for (const auto& b : blocking) list += (list.empty() ? "" : ", ") + b;
    errors.push_back("Host/" + host + ": cannot be removed while VMs are placed on it (" + list +
                     "): delete or move them first");
  }
  return errors;
}

StatusOr<std::vector<std::string>> Applier::CheckPoolRemovals(
    const std::vector<std::string>& pools, const std::vector<std::string>& marked) {
  std::vector<std::string> errors;
  if (pools.empty()) return errors;
  VMK_ASSIGN_OR_RETURN(std::vector<Object> vms, store_->List(Kind::kVirtualMachine));
  const std::set<std::string> marking(marked.begin(), marked.end());
  for (const auto& pool : pools) {
    std::vector<std::string> blocking;
    for (const auto& vm : vms) {
      if (!vm.metadata.terminating() && !marking.count(vm.metadata.name)) continue;
      auto spec = specs::VirtualMachineSpecFromJson(vm.spec);
      if (!spec.ok()) continue;
      for (const specs::DiskSpec& disk : spec->disks) {
        if (disk.volume && disk.volume->deleteWithVm && disk.volume->pool == pool) {
          blocking.push_back(vm.Key());
          break;
        }
      }
    }
    if (blocking.empty()) continue;
    errors.push_back("StoragePool/" + pool + ": cannot be removed while " + Join(blocking) +
                     " is being deleted: the volumes it has there (deletePolicy Delete) are "
                     "deleted first; prune it once the VM is gone");
  }
  return errors;
}

bool Applier::AddRemoval(const Object& stored, ApplyBatch* batch) const {
  const ObjectRef ref{stored.kind, stored.metadata.name};
  batch->expected_revisions[ref] = stored.revision;
  if (DisksDeletedWithVm(stored).empty()) {
    batch->deletes.push_back(ref);
    return false;
  }
  // Kept, marked: its status (the record of its volumes) must outlive its domain. The same
  // spec and generation; only the mark differs, conditioned like any write of the object.
  Object marked = stored;
  marked.status = specs::Json::object();
  marked.metadata.deletionTimestamp = FormatRfc3339(clock_->WallNow());
  marked.metadata.finalizers = {specs::kVolumesFinalizer};
  batch->puts.push_back(std::move(marked));
  return true;
}

StatusOr<ApplyOutcome> Applier::Apply(const std::vector<ManifestFile>& files,
                                      const ApplyOptions& options) {
  MutexLock l(&mu_);
  VMK_ASSIGN_OR_RETURN(Plan plan, MakePlan(files, options.prune));
  ApplyOutcome outcome;
  if (!plan.errors.empty()) {
    outcome.errors = std::move(plan.errors);
    return outcome;
  }
  ApplyBatch batch;
  std::vector<ObjectRef> changed;
  for (size_t i = 0; i < plan.applied.size(); ++i) {
    const Object& object = plan.applied[i];
    outcome.results.push_back({object.kind, object.metadata.name, plan.actions[i]});
    if (plan.actions[i] == "unchanged") continue;
    const ObjectRef ref{object.kind, object.metadata.name};
    batch.puts.push_back(object);
    // Generations were computed against what was read: commit only over that (a writer that is
    // not this applier, e.g. another controller replica, makes the apply fail, not clobber).
    batch.expected_revisions[ref] = plan.stored[i] ? plan.stored[i]->revision : 0;
    changed.push_back(ref);
  }
  for (const auto& object : plan.pruned) {
    outcome.results.push_back({object.kind, object.metadata.name, "pruned"});
    AddRemoval(object, &batch);
    changed.push_back({object.kind, object.metadata.name});
  }
  if (options.dry_run || (batch.puts.empty() && batch.deletes.empty())) return outcome;
  VMK_ASSIGN_OR_RETURN(outcome.revision, store_->CommitApply(batch));
  if (on_change_) on_change_(changed);
  return outcome;
}

StatusOr<DiffOutcome> Applier::Diff(const std::vector<ManifestFile>& files, bool prune) {
  VMK_ASSIGN_OR_RETURN(Plan plan, MakePlan(files, prune));
  DiffOutcome outcome;
  if (!plan.errors.empty()) {
    outcome.errors = std::move(plan.errors);
    return outcome;
  }
  std::ostringstream diff;
  for (size_t i = 0; i < plan.applied.size(); ++i) {
    const Object& object = plan.applied[i];
    const auto& stored = plan.stored[i];
    const std::string key = object.Key();
    // Compared with their secrets (the plan's actions did), shown without them.
    std::optional<Object> live = stored;
    Object applied = object;
    specs::RedactForDiff(live ? &*live : nullptr, &applied);
    diff << UnifiedDiff(live ? "live/" + key : "/dev/null", live ? ManifestText(*live) : "",
                        "applied/" + key, ManifestText(applied));
    if (plan.actions[i] == "unchanged") continue;
    outcome.changed = true;
    VMK_ASSIGN_OR_RETURN(std::string action, PlannedAction(object, stored));
    outcome.actions.push_back(std::move(action));
  }
  for (const auto& object : plan.pruned) {
    diff << UnifiedDiff("live/" + object.Key(), ManifestText(specs::RedactObject(object)),
                        "/dev/null", "");
    outcome.changed = true;
    outcome.actions.push_back(PrunedAction(object));
  }
  outcome.diff = diff.str();
  return outcome;
}

StatusOr<std::string> Applier::PlannedAction(const Object& object,
                                             const std::optional<Object>& stored) const {
  const std::string& name = object.metadata.name;
  switch (object.kind) {
    case Kind::kHost: {
      auto spec = specs::HostSpecFromJson(object.spec);
      return (stored ? "reconnect host " : "connect to host ") + name +
             (spec.ok() ? " at " + spec->uri : "");
    }
    case Kind::kSnapshotPolicy:
      return (stored ? "update snapshot policy " : "create snapshot policy ") + name;
    case Kind::kStoragePool:
      // Stored only: the controller does not define pools on hosts yet.
      return (stored ? "update storage pool " : "create storage pool ") + name;
    case Kind::kVirtualMachine:
      return VmAction(object, stored);
  }
  return Status::Internal("no action for " + object.Key());
}

StatusOr<std::string> Applier::VmAction(const Object& object,
                                        const std::optional<Object>& stored) const {
  const std::string& name = object.metadata.name;
  auto spec = specs::VirtualMachineSpecFromJson(object.spec);
  if (!spec.ok()) return spec.status();
  std::string host = stored ? VmStatus::FromJson(stored->status).host : "";
  if (host.empty()) host = preview_ ? preview_(object) : "";
  const std::string where = host.empty() ? "" : " on " + host;
  if (!stored) return (spec->running ? "define and start " : "define ") + name + where;
  if (object.metadata.generation == stored->metadata.generation) return "relabel " + name;
  auto old_spec = specs::VirtualMachineSpecFromJson(stored->spec);
  bool was_running = old_spec.ok() && old_spec->running;
  if (was_running && !spec->running) return "stop " + name + where;
  if (!was_running && spec->running) return "start " + name + where;
  std::string act = "redefine " + name + where + " (generation " +
                    std::to_string(object.metadata.generation) + ")";
  if (!spec->running) return act;
  act += " and restart it";
  VMK_ASSIGN_OR_RETURN(std::string watched, ChangeWatchNote(*stored, object));
  return act + watched;
}

// What the VM's reconcile will do around a change of a healthy VM's definition under a policy
// with beforeChange (docs/storage.md, "Rollback of a failed change"): "" when nothing.
StatusOr<std::string> Applier::ChangeWatchNote(const Object& stored, const Object& applied) const {
  static const char* const kDefinitionFields[] = {"cpus", "memoryMiB", "disks", "boot",
                                                  "console", "interfaces"};
  bool redefined = false;
  for (const char* field : kDefinitionFields) {
    redefined = redefined || stored.spec.value(field, specs::Json()) != applied.spec.value(field, specs::Json());
  }
  const VmStatus status = VmStatus::FromJson(stored.status);
  const specs::Condition* ready = specs::FindCondition(status.conditions, "Ready");
  const std::string policy_name = applied.spec.value("snapshotPolicy", "");
  if (!redefined || policy_name.empty() || !ready || ready->status != "True") return std::string();
  VMK_ASSIGN_OR_RETURN(auto policy_object, store_->Get(Kind::kSnapshotPolicy, policy_name));
  if (!policy_object) return std::string();
  auto policy = specs::SnapshotPolicySpecFromJson(policy_object->spec);
  if (!policy.ok() || !policy->beforeChange) return std::string();
  bool volumes = false;
  for (const DiskRecord& d : status.disks) volumes = volumes || !d.volume.empty();
  return std::string(volumes ? ", after a before-change snapshot of its disks" : "") +
         "; rolled back to generation " + std::to_string(stored.metadata.generation) +
         " if not Ready within its startup grace";
}

std::string Applier::PrunedAction(const Object& object) {
  const std::string& name = object.metadata.name;
  switch (object.kind) {
    case Kind::kVirtualMachine: {
      std::string host = VmStatus::FromJson(object.status).host;
      std::vector<std::string> disks = DisksDeletedWithVm(object);
      return "stop and remove " + name + (host.empty() ? "" : " from " + host) +
             (disks.empty() ? ""
                            : ", then delete the volumes of its disks " + Join(disks) +
                                  " (deletePolicy Delete; Terminating until then)");
    }
    case Kind::kHost: return "disconnect from host " + name;
    case Kind::kSnapshotPolicy: return "delete snapshot policy " + name;
    case Kind::kStoragePool: return "delete storage pool " + name;
  }
  return "delete " + object.Key();
}

StatusOr<std::vector<std::string>> Applier::VmsReferringTo(Kind kind, const std::string& name) {
  VMK_ASSIGN_OR_RETURN(std::vector<Object> vms, store_->List(Kind::kVirtualMachine));
  std::vector<std::string> users;
  for (const auto& vm : vms) {
    auto spec = specs::VirtualMachineSpecFromJson(vm.spec);
    if (!spec.ok() || !RefersTo(*spec, kind, name)) continue;
    // A VM being deleted still needs its pool (its volumes are deleted there) until it is gone.
    users.push_back(vm.metadata.name + (vm.metadata.terminating() ? " (being deleted)" : ""));
  }
  return users;
}

Status Applier::Delete(Kind kind, const std::string& name) {
  MutexLock l(&mu_);
  VMK_ASSIGN_OR_RETURN(std::optional<Object> stored, store_->Get(kind, name));
  if (!stored) {
    return Status::NotFound(Lower(specs::KindName(kind)) + " \"" + name + "\" not found");
  }
  if (stored->metadata.terminating()) return Status::Ok();  // asked for already: it goes
  if (kind == Kind::kHost) {
    VMK_ASSIGN_OR_RETURN(std::vector<std::string> errors, CheckHostRemovals({name}, {}));
    if (!errors.empty()) return Status::FailedPrecondition(errors.front());
  }
  if (kind == Kind::kSnapshotPolicy || kind == Kind::kStoragePool) {
    VMK_ASSIGN_OR_RETURN(std::vector<std::string> users, VmsReferringTo(kind, name));
    if (!users.empty()) {
      std::string list;
      for (const auto& vm : users) list += (list.empty() ? "" : ", ") + ("VirtualMachine/" + vm);
      return Status::FailedPrecondition(std::string(specs::KindName(kind)) + "/" + name +
                                        " is used by " + list +
                                        ": delete or change those VMs first");
    }
  }
  ApplyBatch batch;
  AddRemoval(*stored, &batch);
  VMK_RETURN_IF_ERROR(store_->CommitApply(batch).status());
  if (on_change_) on_change_({{kind, name}});
  return Status::Ok();
}

}  // namespace vmk::reconciler
