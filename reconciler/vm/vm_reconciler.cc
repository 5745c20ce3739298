#include "reconciler/vm/vm_reconciler.h"

#include <algorithm>
#include <filesystem>

#include "common/log.h"
#include "common/rfc3339.h"
#include "reconciler/core/placement_history.h"
#include "reconciler/core/scheduling_request.h"
#include "reconciler/vm/disk_resolver.h"
#include "reconciler/vm/domain_config.h"
#include "reconciler/vm/snapshot_pruner.h"
#include "reconciler/vm/vm_deleter.h"
#include "reconciler/vm/vm_rollback.h"
#include "reconciler/vm/vm_snapshotter.h"

namespace vmk::reconciler {

using providers::DomainInfo;
using providers::IsActive;
using specs::Condition;
using specs::Kind;

namespace {

constexpr auto kUnschedulableRetry = std::chrono::seconds(30);
constexpr auto kNameConflictRetry = std::chrono::seconds(60);
constexpr auto kHostNotSyncedRetry = std::chrono::milliseconds(200);
// A disk blocked on something an admin must do (a missing volume, an unreadable image).
constexpr auto kStorageBlockedRetry = std::chrono::seconds(30);

}  // namespace

ReconcileResult VmReconciler::Reconcile(const ReconcileRequest& request) {
  const std::string& name = request.name;
  // Against a failover re-placing this VM meanwhile (see KeyLocks): held from the read of the
  // status to the last write of it.
  KeyLocks::Guard guard = LockIfAny(ctx_.vm_locks, name);
  auto loaded = ctx_.store->Get(Kind::kVirtualMachine, name);
  if (!loaded.ok()) return ReconcileResult::Error(loaded.status());
  std::vector<Copy> copies = FindOwnedCopies(name);
  if (!*loaded) return Deleted(name, copies);
  // Deleted, but its volumes go with it first (a finalizer): VmDeleter, never the steps below.
  if ((*loaded)->metadata.terminating()) {
    // Being deleted: a planned stop, not downtime.
    if (ctx_.ledger) {
      Status s = ctx_.ledger->Observe(name, (*loaded)->metadata.generation,
                                      /*expected_up=*/false, /*ready=*/false);
      if (!s.ok()) return ReconcileResult::Error(s);
    }
    return VmDeleter(ctx_).Run(**loaded);
  }
  auto spec = specs::VirtualMachineSpecFromJson((*loaded)->spec);
  if (!spec.ok()) return ReconcileResult::Error(spec.status());

  Pass pass;
  pass.name = name;
  pass.object = std::move(**loaded);
  pass.spec = std::move(*spec);
  pass.generation = pass.object.metadata.generation;
  pass.status = VmStatus::FromJson(pass.object.status);
  pass.stored_status = std::move(pass.object.status);  // `status` holds it from here on
  pass.status_revision = pass.object.status_revision;
  pass.copies = std::move(copies);
  pass.declared_generation = pass.generation;
  pass.spec_json = pass.object.spec;
  ChangeRecord& change = pass.status.change;
  if (change.toGeneration == pass.generation && change.phase == "Failed") {
    // The declared change failed and was rolled back: the VM runs the spec before it until the
    // spec changes again (never the same broken change twice).
    auto previous = specs::VirtualMachineSpecFromJson(change.previousSpec);
    if (previous.ok()) {
      pass.spec = std::move(*previous);
      pass.generation = change.fromGeneration;
      pass.spec_json = change.previousSpec;
    }
  } else if (change.toGeneration != pass.generation && !change.phase.empty()) {
    // The spec changed again: the failed change is history; one being watched never finished.
    if (change.phase == "Watching") change.phase = "Superseded";
    specs::RemoveCondition(&pass.status.conditions, "ChangeFailed");
  }
  for (StepResult (VmReconciler::*step)(Pass&) :
       {&VmReconciler::PlacementStep, &VmReconciler::SafetyStep, &VmReconciler::StorageStep,
        &VmReconciler::DefinitionStep, &VmReconciler::PowerStep}) {
    // Between steps, never inside one: what a finished step left is where the next pass resumes.
    if (Status cancelled = request.cancel.Err(); !cancelled.ok()) {
      return ReconcileResult::Error(cancelled);
    }
    if (StepResult ended = (this->*step)(pass)) return *ended;
  }
  return StatusStep(pass);
}

// ---- deleted ---------------------------------------------------------------------------------

ReconcileResult VmReconciler::Deleted(const std::string& name, const std::vector<Copy>& copies) {
  Status first_error;
  for (const auto& copy : copies) {
    if (!copy.host->view().reachable) {
      // Cleaned up when the host is back: its sync finds the orphan and enqueues this key.
      continue;
    }
    auto observed = Observe(*copy.host, name, /*force=*/true);
    if (!observed.ok()) {
      if (first_error.ok()) first_error = observed.status();
      continue;
    }
    if (!*observed || !(*observed)->owned) continue;
    if (Status s = RemoveCopy(*copy.host, name); !s.ok()) {
      ctx_.events->Warning(Kind::kVirtualMachine, name, "DeleteFailed",
                           "removing from " + copy.host->name() + " failed: " + s.message());
      if (first_error.ok()) first_error = s;
      continue;
    }
    ctx_.events->Normal(Kind::kVirtualMachine, name, "Deleted",
                        "stopped and removed from " + copy.host->name());
  }
  if (auto placed = ctx_.book->Get(name)) ctx_.queue->Add(HostKey(placed->host));
  ctx_.book->Remove(name);
  if (ctx_.on_vm_state) ctx_.on_vm_state(name, "");
  if (ctx_.metrics) ctx_.metrics->vms().RemoveVm(name);
  if (ctx_.ledger) {
    if (Status s = ctx_.ledger->Forget(name); !s.ok() && first_error.ok()) first_error = s;
  }
  if (!first_error.ok()) return ReconcileResult::Error(first_error);
  return ReconcileResult::Done();
}

// ---- placement -------------------------------------------------------------------------------

VmReconciler::StepResult VmReconciler::PlacementStep(Pass& pass) {
  if (pass.status.host.empty()) {
    Status error;
    PlaceResult placed = Place(pass, &error);
    if (!error.ok()) return ReconcileResult::Error(error);
    if (placed == PlaceResult::kWait) return ReconcileResult::After(kHostNotSyncedRetry);
    if (placed == PlaceResult::kUnschedulable) return ReconcileResult::After(kUnschedulableRetry);
  } else {
    ctx_.book->Set(pass.name, Placement{pass.status.host, pass.spec.cpus, pass.spec.memoryMiB,
                                        pass.object.metadata.labels});
  }
  pass.host = ctx_.hosts->Get(pass.status.host);
  if (!pass.host) {
    // Only reachable if the Host object vanished under a placed VM, which apply refuses.
    specs::SetCondition(&pass.status.conditions,
                        MakeCondition(*ctx_.clock, "Ready", false, "HostMissing",
                                      "host " + pass.status.host + " is not declared"));
    Status s = WriteStatus(pass, false);
    return s.ok() ? ReconcileResult::After(kUnschedulableRetry) : ReconcileResult::Error(s);
  }
  return std::nullopt;
}

VmReconciler::PlaceResult VmReconciler::Place(Pass& pass, Status* error) {
  const std::string& name = pass.name;
  std::string host;
  std::string reason = "Scheduled";
  // Adopt a copy that already exists (the status that named its host was lost, or an earlier
  // controller defined it and died before writing status): never define a second one.
  for (const auto& copy : pass.copies) {
    if (!copy.domain.owned) continue;
    if (!copy.host->reachable()) {
      // A copy on a fenced host is known dead. On a host that merely does not answer it may be
      // running: placing the VM anywhere else now could run it twice.
      if (copy.host->fenced()) continue;
      return PlaceResult::kWait;
    }
    if (host.empty() || IsActive(copy.domain.state)) {
      host = copy.host->name();
      reason = "Adopted";
    }
  }
  if (host.empty()) {
    PlaceResult scheduled = Schedule(pass, &host, error);
    if (scheduled != PlaceResult::kPlaced) return scheduled;
  } else {
    ctx_.book->Set(
        name, Placement{host, pass.spec.cpus, pass.spec.memoryMiB, pass.object.metadata.labels});
  }
  // The host may hold the VM from here on: recorded before the placement, made durable by its
  // synced write.
  *error = RecordPlacement(*ctx_.store, host, name);
  if (!error->ok()) {
    ctx_.book->Remove(name);
    return PlaceResult::kUnschedulable;
  }
  pass.status.host = host;
  specs::SetCondition(&pass.status.conditions,
                      MakeCondition(*ctx_.clock, "Scheduled", true, reason, "placed on " + host));
  // The intent is durable before the domain is defined: a controller killed now resumes on the
  // same host instead of placing the VM a second time elsewhere.
  *error = WriteStatus(pass, /*sync=*/true);
  if (!error->ok()) {
    ctx_.book->Remove(name);
    return PlaceResult::kUnschedulable;
  }
  ctx_.events->Normal(Kind::kVirtualMachine, name, reason,
                      (reason == "Adopted" ? "found existing domain on " : "placed on ") + host);
  ctx_.queue->Add(HostKey(host));  // its status shows the new allocation
  return PlaceResult::kPlaced;
}

VmReconciler::PlaceResult VmReconciler::Schedule(Pass& pass, std::string* host, Status* error) {
  // Place it nowhere while a host this controller has not listed yet may hold a copy of it
  // (a failed listing proves nothing; a fenced host holds nothing running). Only a host it was
  // ever placed on can (reconciler/core/placement_history.h). Any other unlisted host is waited
  // for only until its heartbeats call it NotReady (a few seconds): while it is still coming up
  // it may be the host the VM prefers; once it is known down (a wrong URI, a host not racked
  // yet) it holds up no new VM.
  std::vector<std::string> unlisted;
  for (const auto& entry : ctx_.hosts->All()) {
    auto view = entry->view();
    if (view.synced || view.fenced) continue;
    auto may_hold = MayHoldCopy(*ctx_.store, entry->name(), pass.name);
    if (!may_hold.ok()) {
      *error = may_hold.status();
      return PlaceResult::kUnschedulable;
    }
    if (*may_hold) {
      unlisted.push_back(entry->name());
    } else if (!ctx_.health ||
               ctx_.health->Get(entry->name()).state != HostHealthState::kNotReady) {
      return PlaceResult::kWait;
    }
  }
  if (!unlisted.empty()) {
    std::string hosts;
    for (const auto& h : unlisted) hosts += (hosts.empty() ? "" : ", ") + h;
    const std::string why = "waiting for host(s) " + hosts +
                            " to be listed: it was placed there before and may still run there";
    const Condition* prev = specs::FindCondition(pass.status.conditions, "Scheduled");
    if (!prev || prev->message != why) {
      ctx_.events->Warning(Kind::kVirtualMachine, pass.name, "WaitingForHost", why);
      specs::SetCondition(&pass.status.conditions,
                          MakeCondition(*ctx_.clock, "Scheduled", false, "WaitingForHost", why));
      *error = WriteStatus(pass, false);
    }
    return PlaceResult::kWait;
  }
  auto request =
      MakeSchedulingRequest(*ctx_.store, pass.name, pass.object.metadata.labels, &pass.spec);
  if (!request.ok()) {
    *error = request.status();
    return PlaceResult::kUnschedulable;
  }
  auto chosen = ctx_.book->ScheduleAndBook(*request, ctx_.hosts->Candidates(pass.name));
  if (chosen.ok()) {
    *host = *chosen;
    return PlaceResult::kPlaced;
  }
  const std::string why = chosen.status().message();
  const Condition* prev = specs::FindCondition(pass.status.conditions, "Scheduled");
  if (!prev || prev->message != why) {
    ctx_.events->Warning(Kind::kVirtualMachine, pass.name, "FailedScheduling", why);
  }
  specs::SetCondition(&pass.status.conditions,
                      MakeCondition(*ctx_.clock, "Scheduled", false, "Unschedulable", why));
  specs::SetCondition(
      &pass.status.conditions,
      MakeCondition(*ctx_.clock, "Ready", false, "Unschedulable", "no host can take it"));
  pass.status.state = "unplaced";
  *error = WriteStatus(pass, false);
  return PlaceResult::kUnschedulable;
}

// ---- safety ----------------------------------------------------------------------------------

VmReconciler::StepResult VmReconciler::SafetyStep(Pass& pass) {
  const std::string& name = pass.name;
  // Stray copies elsewhere go: a VM runs on one host only.
  for (const auto& copy : pass.copies) {
    if (copy.host->name() == pass.status.host || !copy.host->view().reachable) continue;
    auto observed = Observe(*copy.host, name, /*force=*/true);
    if (!observed.ok() || !*observed || !(*observed)->owned) continue;
    if (Status s = RemoveCopy(*copy.host, name); !s.ok()) return ReconcileResult::Error(s);
    ctx_.events->Warning(
        Kind::kVirtualMachine, name, "DuplicateRemoved",
        "removed a stray copy from " + copy.host->name() + " (placed on " + pass.status.host + ")");
  }

  // Its host must answer before anything is done there.
  auto view = pass.host->view();
  if (!view.sync_attempted) return ReconcileResult::After(kHostNotSyncedRetry);
  if (view.reachable && !pass.host->connection()->IsAlive()) {
    // The connection died since the last sync (keepalive, EOF). Another call would only wait
    // for its timeout and hold this worker: let the host's reconcile find out what happened.
    ctx_.queue->Add(HostKey(pass.status.host));
    view.reachable = false;
  }
  if (!view.reachable) {
    // It stays placed there: only the host's failover (fenced first) may move it. A guest whose
    // probe passes is serving all the same (the host's management plane is what is out): Ready,
    // and counted up. A failing probe is for the host's failure detection to act on: nothing
    // can be restarted there now.
    pass.status.state = "unknown";
    const bool serving =
        pass.spec.health && ctx_.vm_health &&
        ctx_.vm_health->Get(name).value_or(VmHealthBook::Snapshot{}).health ==
            providers::ProbeHealth::kHealthy;
    specs::SetCondition(
        &pass.status.conditions,
        serving ? MakeCondition(*ctx_.clock, "Ready", true, "ManagementUnreachable",
                                "host " + pass.status.host +
                                    "'s management plane does not answer; the health probe "
                                    "passes")
                : MakeCondition(*ctx_.clock, "Ready", false, "HostUnreachable",
                                "host " + pass.status.host + " does not answer"));
    Status s = WriteStatus(pass, false);
    return s.ok() ? ReconcileResult::Done() : ReconcileResult::Error(s);
  }
  return std::nullopt;
}

// ---- definition ------------------------------------------------------------------------------

// ---- storage ---------------------------------------------------------------------------------

VmReconciler::StepResult VmReconciler::StorageStep(Pass& pass) {
  DiskResolver resolver(pass.name, pass.host->connection().get(), ctx_.images, ctx_.events);
  auto resolved = resolver.Resolve(
      pass.spec.disks, pass.status.disks, [&](const std::vector<DiskRecord>& records) {
        pass.status.disks = records;
        return WriteStatus(pass, /*sync=*/true);
      });
  if (!resolved.ok()) return ReconcileResult::Error(resolved.status());
  if (resolved->blocked) {
    const DiskResolver::Blocked& why = *resolved->blocked;
    const Condition* prev = specs::FindCondition(pass.status.conditions, "Ready");
    if (!prev || prev->reason != why.reason || prev->message != why.message) {
      ctx_.events->Warning(Kind::kVirtualMachine, pass.name, why.reason, why.message);
    }
    specs::SetCondition(&pass.status.conditions,
                        MakeCondition(*ctx_.clock, "Ready", false, why.reason, why.message));
    Status s = WriteStatus(pass, false);
    return s.ok() ? ReconcileResult::After(kStorageBlockedRetry) : ReconcileResult::Error(s);
  }
  pass.status.disks = std::move(resolved->records);
  if (StepResult ended = ResumeSnapshots(pass)) return ended;
  if (pass.status.rollback.phase == "Restoring") {
    // A rollback a stopped controller left midway: its new tops, then the record.
    VmRollback rollback(pass.name, pass.generation, pass.host->connection().get(), ctx_.events,
                        ctx_.clock);
    Status s = rollback.Continue(&pass.status, [&] { return WriteStatus(pass, true); });
    if (!s.ok()) return ReconcileResult::Error(s);
  }
  if (!pass.status.rollbackRequest.empty()) return RollBackOnRequest(pass);
  if (StepResult ended = CheckChangeDeadline(pass)) return ended;
  return SnapshotBeforeStart(pass);
}

// An admin asked for a rollback (vmkeeper rollback): the domain is powered off, its disks go
// back to the snapshot asked for, the state they had is kept, and the next pass starts it.
VmReconciler::StepResult VmReconciler::RollBackOnRequest(Pass& pass) {
  const std::string target = pass.status.rollbackRequest;
  pass.status.rollbackRequest.clear();  // written with the rollback's intent
  auto observed = Observe(*pass.host, pass.name, /*force=*/true);
  if (!observed.ok()) return ReconcileResult::Error(observed.status());
  if (*observed && IsActive((*observed)->state)) {
    if (Status s = pass.host->connection()->DestroyDomain(pass.name); !s.ok()) {
      return ReconcileResult::Error(s);
    }
  }
  VmRollback rollback(pass.name, pass.generation, pass.host->connection().get(), ctx_.events,
                      ctx_.clock);
  Status s = rollback.BeginTo(&pass.status, target, [&] { return WriteStatus(pass, true); });
  if (s.code() == StatusCode::kNotFound) {
    ctx_.events->Warning(Kind::kVirtualMachine, pass.name, "RollbackFailed", s.message());
    s = WriteStatus(pass, true);  // the request goes; the VM starts again as it was
    return s.ok() ? ReconcileResult::After(Duration::zero()) : ReconcileResult::Error(s);
  }
  if (!s.ok()) return ReconcileResult::Error(s);
  pass.status.state = "rolling-back";
  specs::SetCondition(&pass.status.conditions,
                      MakeCondition(*ctx_.clock, "Ready", false, "RollingBack",
                                    "restored snapshot " + target + " as asked"));
  s = WriteStatus(pass, false);
  return s.ok() ? ReconcileResult::After(Duration::zero()) : ReconcileResult::Error(s);
}

// A snapshot a stopped controller left Pending is settled before the definition step compares
// the domain with the record: the domain may already run on the new tops.
VmReconciler::StepResult VmReconciler::ResumeSnapshots(Pass& pass) {
  bool pending = false;
  for (const SnapshotRecord& r : pass.status.snapshots) pending = pending || r.phase == "Pending";
  if (!pending) return std::nullopt;
  auto observed = Observe(*pass.host, pass.name, /*force=*/true);
  if (!observed.ok()) return ReconcileResult::Error(observed.status());
  VmSnapshotter snapshotter(pass.name, pass.host->connection().get(), ctx_.events, ctx_.clock);
  Status s = snapshotter.Resume(&pass.status, *observed, [&] { return WriteStatus(pass, true); });
  if (!s.ok()) return ReconcileResult::Error(s);
  return std::nullopt;
}

// The crash state of a VM whose host failed, frozen before it starts here (the failed host is
// fenced or seen stopped). Availability first: a snapshot that fails is an event and a Failed
// record, and the VM starts anyway.
VmReconciler::StepResult VmReconciler::SnapshotBeforeStart(Pass& pass) {
  if (pass.status.snapshotBeforeStart.empty()) return std::nullopt;
  auto observed = Observe(*pass.host, pass.name, /*force=*/false);
  if (!observed.ok()) return ReconcileResult::Error(observed.status());
  VmSnapshotter::Request request;
  request.reason = pass.status.snapshotBeforeStart;
  request.generation = pass.generation;
  request.domain_active = *observed && IsActive((*observed)->state);
  pass.status.snapshotBeforeStart.clear();  // written with the snapshot's intent
  if (request.domain_active) return std::nullopt;  // already running here: too late to freeze
  VmSnapshotter snapshotter(pass.name, pass.host->connection().get(), ctx_.events, ctx_.clock);
  auto taken = snapshotter.Take(&pass.status, request, [&] { return WriteStatus(pass, true); });
  if (!taken.ok()) return ReconcileResult::Error(taken.status());
  if (!*taken) {
    Status s = WriteStatus(pass, true);  // no volume disk after all: the flag goes
    if (!s.ok()) return ReconcileResult::Error(s);
  } else if ((*taken)->phase == "Taken" && ctx_.incidents) {
    (void)ctx_.incidents->AddAction(Kind::kVirtualMachine, pass.name,
                                    "crash state kept as snapshot " + (*taken)->name,
                                    /*sync=*/false);
  }
  return std::nullopt;
}

// ---- definition ------------------------------------------------------------------------------

namespace {

// Whether `current` differs from `desired` only in disks that still open a layer this VM's
// snapshots froze (a snapshot of a stopped VM, a rollback): the controller moved them, nobody
// edited the definition by hand.
bool DisksMovedByUs(const providers::DomainConfig& current,
                    const providers::DomainConfig& desired, const VmStatus& status) {
  if (current.disks.size() != desired.disks.size()) return false;
  providers::DomainConfig moved = current;
  bool any = false;
  for (size_t i = 0; i < moved.disks.size(); ++i) {
    providers::DiskConfig& disk = moved.disks[i];
    if (disk.source == desired.disks[i].source) continue;
    const std::string file = std::filesystem::path(disk.source).filename().string();
    bool frozen = false;
    for (const SnapshotRecord& r : status.snapshots) {
      for (const SnapshotLayer& layer : r.layers) frozen = frozen || layer.volume == file;
    }
    if (!frozen) return false;
    disk.source = desired.disks[i].source;
    disk.format = desired.disks[i].format;
    any = true;
  }
  return any && moved.SameManagedConfig(desired);
}

}  // namespace

VmReconciler::StepResult VmReconciler::DefinitionStep(Pass& pass) {
  const std::string& name = pass.name;
  auto observed = Observe(*pass.host, name, /*force=*/false);
  if (!observed.ok()) return ReconcileResult::Error(observed.status());
  pass.domain = std::move(*observed);
  if (pass.domain && !pass.domain->owned) {
    specs::SetCondition(
        &pass.status.conditions,
        MakeCondition(*ctx_.clock, "Ready", false, "NameConflict",
                      "a domain named " + name + " that vmkeeper does not own exists on " +
                          pass.status.host));
    Status s = WriteStatus(pass, false);
    return s.ok() ? ReconcileResult::After(kNameConflictRetry) : ReconcileResult::Error(s);
  }

  providers::DomainConfig desired =
      DesiredDomainConfig(name, pass.spec, pass.generation, pass.status.disks);
  const providers::DomainConfig* current =
      pass.domain && pass.domain->config ? &*pass.domain->config : nullptr;
  if (current && current->SameManagedConfig(desired) && current->generation == pass.generation) {
    return std::nullopt;  // as declared
  }
  if (current && current->generation != pass.generation && !current->SameManagedConfig(desired)) {
    // An update of the definition: a healthy VM's disks are kept first, and the change watched.
    if (StepResult ended = BeginChange(pass, current->generation)) return ended;
    desired = DesiredDomainConfig(name, pass.spec, pass.generation, pass.status.disks);
    current = pass.domain && pass.domain->config ? &*pass.domain->config : nullptr;
  }
  const std::string where = pass.status.host;
  const bool moved_by_us = current && DisksMovedByUs(*current, desired, pass.status);
  const bool edited_behind_our_back =
      current && current->generation == pass.generation && !moved_by_us;
  pass.defined_fresh = !pass.domain;
  if (Status s = pass.host->connection()->DefineDomain(desired); !s.ok()) {
    ctx_.events->Warning(Kind::kVirtualMachine, name, "DefineFailed",
                         std::string(pass.domain ? "redefining" : "defining") + " on " + where +
                             " failed: " + s.message());
    return ReconcileResult::Error(s);
  }
  const std::string generation = std::to_string(pass.generation);
  if (!pass.domain) {
    ctx_.events->Normal(Kind::kVirtualMachine, name, "Defined",
                        "defined on " + where + " (generation " + generation + ")");
  } else if (moved_by_us && current->generation == pass.generation) {
    ctx_.events->Normal(Kind::kVirtualMachine, name, "DisksMoved",
                        "definition on " + where + " now opens the disks' current tops");
  } else if (edited_behind_our_back) {
    ctx_.events->Warning(Kind::kVirtualMachine, name, "DefinitionRestored",
                         "the definition on " + where +
                             " was changed outside vmkeeper; restored generation " + generation);
  } else {
    ctx_.events->Normal(Kind::kVirtualMachine, name, "Updated",
                        "definition on " + where + " updated to generation " + generation);
  }
  return Refresh(pass, "define");
}

// ---- power -----------------------------------------------------------------------------------

VmReconciler::StepResult VmReconciler::PowerStep(Pass& pass) {
  const bool active = IsActive(pass.domain->state);
  StepResult ended;
  bool acted = false;
  if (pass.spec.running) {
    pass.status.stopRequestedAt.clear();
    const bool unhealthy =
        pass.spec.health && ctx_.vm_health &&
        ctx_.vm_health->Get(pass.name).value_or(VmHealthBook::Snapshot{}).health ==
            providers::ProbeHealth::kUnhealthy;
    if (active && pass.domain->live_generation != 0 &&
        pass.domain->live_generation != pass.generation) {
      ended = RestartForUpdate(pass);
      acted = true;
    } else if (active && unhealthy) {
      ended = RestartUnhealthy(pass);
      acted = true;
    } else if (!active) {
      ended = StartStopped(pass);
      acted = true;
    }
  } else if (active) {
    ended = Stop(pass);
    acted = true;
  }
  if (ended) return ended;
  return acted ? Refresh(pass, "start or stop") : std::nullopt;
}

VmReconciler::StepResult VmReconciler::RestartForUpdate(Pass& pass) {
  auto& conn = *pass.host->connection();
  const std::string generation = std::to_string(pass.generation);
  Status s = conn.DestroyDomain(pass.name);
  if (s.ok()) s = conn.StartDomain(pass.name);
  if (!s.ok()) {
    ctx_.events->Warning(Kind::kVirtualMachine, pass.name, "RestartFailed",
                         "restart for generation " + generation + " on " + pass.status.host +
                             " failed: " + s.message());
    return ReconcileResult::Error(s);
  }
  // A new version starts afresh: its service is not known to answer until a probe says so (the
  // old version's Healthy would call a broken update Ready at once).
  if (ctx_.vm_health) ctx_.vm_health->Started(pass.name);
  ctx_.events->Normal(Kind::kVirtualMachine, pass.name, "RestartedForUpdate",
                      "restarted on " + pass.status.host + " to run generation " + generation);
  return std::nullopt;
}

VmReconciler::StepResult VmReconciler::RestartUnhealthy(Pass& pass) {
  // Running but its service fails its probes: restart it, within spec.restart's limit.
  const std::string& name = pass.name;
  auto health = *ctx_.vm_health->Get(name);
  const ChangeRecord& change = pass.status.change;
  if (change.phase == "Watching" && change.toGeneration == pass.declared_generation) {
    // Unhealthy after its startup grace on a new version: the change failed. Back to the
    // version before it rather than restarting the broken one.
    return FailChange(pass, "its health probe failed after the startup grace (" +
                                health.last_message + ")");
  }
  if (StepResult held = GateFailureRestart(pass, std::nullopt)) return held;
  if (ctx_.incidents) {
    auto incident =
        ctx_.incidents->Open(Kind::kVirtualMachine, name, "VmUnhealthy",
                             health.failure_began.value_or(ctx_.clock->WallNow()), "probe");
    if (!incident.ok()) return ReconcileResult::Error(incident.status());
  }
  auto& conn = *pass.host->connection();
  Status s = conn.DestroyDomain(name);
  if (s.ok()) s = conn.StartDomain(name);
  if (ctx_.metrics) ctx_.metrics->vms().CountRestart(name, s.ok());
  if (!s.ok()) {
    ctx_.events->Warning(Kind::kVirtualMachine, name, "RestartFailed",
                         "restart on " + pass.status.host + " failed: " + s.message());
    return ReconcileResult::Error(s);
  }
  ++pass.status.restartCount;
  ctx_.vm_health->Started(name);
  ctx_.events->Warning(
      Kind::kVirtualMachine, name, "RestartedUnhealthy",
      "its health probe failed (" + health.last_message + "); restarted on " + pass.status.host);
  if (ctx_.incidents) {
    (void)ctx_.incidents->AddAction(Kind::kVirtualMachine, name,
                                    "restarted on " + pass.status.host);
  }
  return std::nullopt;
}

VmReconciler::StepResult VmReconciler::StartStopped(Pass& pass) {
  const std::string& name = pass.name;
  // It ran as declared before and we did not stop it: somebody or something else did. (Or it
  // failed before and its restart is being held back: that restart counts too.)
  const Condition* was_ready = specs::FindCondition(pass.status.conditions, "Ready");
  // A host whose domains died with the previous vmkeeperd (the embedded test hosts) lost this
  // one with the controller: not the VM's failure, not a restart to count nor an incident.
  const bool went_with_controller = pass.defined_fresh && pass.host->view().info.ephemeral;
  const bool unexpected =
      !went_with_controller &&
      (pass.status.state == "running" ||
       (was_ready &&
        (was_ready->reason == "BackOff" || was_ready->reason == "RestartLimitReached")));
  const std::string found = providers::DomainStateName(pass.domain->state);
  if (unexpected) {
    if (Status s = OpenStoppedIncident(pass); !s.ok()) return ReconcileResult::Error(s);
    if (StepResult held = GateFailureRestart(pass, found)) return held;
  }
  Status started = pass.host->connection()->StartDomain(name);
  if (unexpected && ctx_.metrics) ctx_.metrics->vms().CountRestart(name, started.ok());
  if (Status s = started; !s.ok()) {
    ctx_.events->Warning(Kind::kVirtualMachine, name, "StartFailed",
                         "starting on " + pass.status.host + " failed: " + s.message());
    specs::SetCondition(&pass.status.conditions,
                        MakeCondition(*ctx_.clock, "Ready", false, "StartFailed", s.message()));
    pass.status.state = found;
    (void)WriteStatus(pass, false);
    return ReconcileResult::Error(s);
  }
  if (ctx_.vm_health) ctx_.vm_health->Started(name);
  if (!unexpected) {
    ctx_.events->Normal(Kind::kVirtualMachine, name, "Started",
                        "started on " + pass.status.host +
                            (went_with_controller && pass.status.state == "running"
                                 ? " (its host is part of vmkeeperd and restarted with it)"
                                 : ""));
    return std::nullopt;
  }
  ++pass.status.restartCount;
  ctx_.events->Warning(
      Kind::kVirtualMachine, name, "Restarted",
      "found " + found + " on " + pass.status.host + " while it should run; started it again");
  if (ctx_.incidents) {
    (void)ctx_.incidents->AddAction(Kind::kVirtualMachine, name,
                                    "started again on " + pass.status.host);
  }
  return std::nullopt;
}

Status VmReconciler::OpenStoppedIncident(const Pass& pass) {
  if (!ctx_.incidents) return Status::Ok();
  // The lifecycle event's arrival is the best evidence of when it stopped. The incident is
  // open from now on, whether or not the restart may happen.
  auto cached = pass.host->Domain(pass.name);
  WallTime occurred = cached && cached->last_event.time_since_epoch().count() != 0
                          ? cached->last_event
                          : ctx_.clock->WallNow();
  const bool crashed = pass.domain->state == providers::DomainState::kCrashed ||
                       (cached && cached->last_event_type == providers::DomainEventType::kCrashed);
  return ctx_.incidents
      ->Open(Kind::kVirtualMachine, pass.name, crashed ? "VmCrashed" : "VmStopped", occurred,
             "libvirt")
      .status();
}

VmReconciler::StepResult VmReconciler::GateFailureRestart(
    Pass& pass, const std::optional<std::string>& state_if_held) {
  RestartVerdict verdict =
      DecideFailureRestart(pass.spec.restart, ctx_.clock->WallNow(), &pass.status.restartTimes);
  if (!verdict.allowed) {
    if (verdict.reason == "RestartLimitReached") {
      const ChangeRecord& change = pass.status.change;
      if (change.phase == "Watching" && change.toGeneration == pass.declared_generation) {
        // Crashing since a change: the change failed; back to what ran before it.
        return FailChange(pass, "it used up its restart limit (" + verdict.message + ")");
      }
      if (StepResult rolled = RollBack(pass)) return rolled;
    }
    if (state_if_held) pass.status.state = *state_if_held;
    const Condition* ready = specs::FindCondition(pass.status.conditions, "Ready");
    if (verdict.reason == "RestartLimitReached" &&
        (!ready || ready->reason != "RestartLimitReached")) {
      ctx_.events->Warning(Kind::kVirtualMachine, pass.name, "RestartLimitReached",
                           verdict.message);
    }
    specs::SetCondition(&pass.status.conditions, MakeCondition(*ctx_.clock, "Ready", false,
                                                               verdict.reason, verdict.message));
    (void)WriteStatus(pass, false);
    return verdict.wait ? ReconcileResult::After(*verdict.wait) : ReconcileResult::Done();
  }
  // Intent first: the restart just counted is durable before it is made. Written after it
  // instead, an error in between (a failed re-read) or a controller killed there lost it, and
  // each such loss allowed one restart more than spec.restart.limit (found by the simulation,
  // seed 41).
  if (Status s = WriteStatus(pass, /*sync=*/true); !s.ok()) return ReconcileResult::Error(s);
  return std::nullopt;
}

VmReconciler::StepResult VmReconciler::Stop(Pass& pass) {
  auto& conn = *pass.host->connection();
  const WallTime now = ctx_.clock->WallNow();
  WallTime requested;
  if (pass.status.stopRequestedAt.empty() ||
      !ParseRfc3339(pass.status.stopRequestedAt, &requested)) {
    if (Status s = conn.ShutdownDomain(pass.name); !s.ok()) return ReconcileResult::Error(s);
    pass.status.stopRequestedAt = FormatRfc3339(now);
    ctx_.events->Normal(Kind::kVirtualMachine, pass.name, "Stopping",
                        "asked the guest on " + pass.status.host + " to shut down");
    pass.requeue = ctx_.stop_grace;
  } else if (now - requested >= ctx_.stop_grace) {
    if (Status s = conn.DestroyDomain(pass.name); !s.ok()) return ReconcileResult::Error(s);
    ctx_.events->Warning(Kind::kVirtualMachine, pass.name, "StoppedForcefully",
                         "the guest did not shut down within " +
                             std::to_string(ctx_.stop_grace.count()) + "s; powered off");
  } else {
    pass.requeue = std::chrono::duration_cast<Duration>(ctx_.stop_grace - (now - requested));
  }
  return std::nullopt;
}

// ---- status ----------------------------------------------------------------------------------

ReconcileResult VmReconciler::StatusStep(Pass& pass) {
  const bool now_active = IsActive(pass.domain->state);
  if (!now_active) pass.status.stopRequestedAt.clear();
  pass.status.state = providers::DomainStateName(pass.domain->state);
  pass.status.observedGeneration = pass.declared_generation;
  pass.status.message.clear();
  const bool config_current =
      pass.domain->config && pass.domain->config->generation == pass.generation;
  if (pass.spec.running) {
    specs::SetCondition(&pass.status.conditions, ReadyCondition(pass, now_active, config_current));
  } else {
    bool ready = !now_active && config_current;
    specs::SetCondition(&pass.status.conditions,
                        MakeCondition(*ctx_.clock, "Ready", ready, ready ? "Stopped" : "Stopping",
                                      ready ? "stopped as declared" : "shutting down"));
  }
  if (pass.status.rollback.phase == "Watching") WatchRollback(pass);
  if (Status s = NoteHealthyGeneration(pass); !s.ok()) return ReconcileResult::Error(s);
  if (Status s = TakeSnapshots(pass); !s.ok()) return ReconcileResult::Error(s);
  if (Status s = WriteStatus(pass, false); !s.ok()) return ReconcileResult::Error(s);
  if (Status s = ResolveIncident(pass); !s.ok()) return ReconcileResult::Error(s);
  if (Status s = Account(pass); !s.ok()) return ReconcileResult::Error(s);
  if (pass.requeue && (!pass.periodic || *pass.requeue <= *pass.periodic)) {
    return ReconcileResult::After(*pass.requeue);
  }
  if (pass.periodic) return ReconcileResult::Periodic(*pass.periodic);
  return ReconcileResult::Done();
}

Status VmReconciler::Account(const Pass& pass) {
  const Condition* ready_condition = specs::FindCondition(pass.status.conditions, "Ready");
  const bool ready = ready_condition && ready_condition->status == "True";
  if (ctx_.metrics) {
    metrics::VmGauges gauges;
    gauges.host = pass.status.host;
    gauges.ready = ready;
    gauges.expected_up = pass.spec.running;
    gauges.healthy = pass.status.state == "running";
    if (gauges.healthy && pass.spec.health && ctx_.vm_health) {
      auto health = ctx_.vm_health->Get(pass.name);
      gauges.healthy = health && health->health == providers::ProbeHealth::kHealthy;
    }
    const Condition* change_failed = specs::FindCondition(pass.status.conditions, "ChangeFailed");
    gauges.change_failed = change_failed && change_failed->status == "True";
    for (const SnapshotRecord& snapshot : pass.status.snapshots) {
      WallTime taken;
      if (snapshot.phase != "Taken" || !ParseRfc3339(snapshot.time, &taken)) continue;
      gauges.last_snapshot_seconds = std::max(
          gauges.last_snapshot_seconds,
          std::chrono::duration<double>(taken.time_since_epoch()).count());
    }
    gauges.snapshot_interval_seconds = pass.snapshot_interval_seconds;
    gauges.labels = pass.object.metadata.labels;
    ctx_.metrics->vms().SetVm(pass.name, gauges);
  }
  if (!ctx_.ledger) return Status::Ok();
  return ctx_.ledger->Observe(pass.name, pass.declared_generation, pass.spec.running, ready);
}

// ---- changes ---------------------------------------------------------------------------------

namespace {

// How long a changed VM has to be Ready: its startup grace, then as long as its probe takes to
// call it unhealthy (a guest that comes up at the end of its grace is Ready at a later probe).
std::chrono::seconds ChangeGrace(const specs::VirtualMachineSpec& spec) {
  const specs::HealthSpec health = spec.health.value_or(specs::HealthSpec{});
  return std::chrono::seconds(health.startupGraceSeconds +
                              health.periodSeconds * health.failureThreshold);
}

bool IsReady(const VmStatus& status) {
  const Condition* ready = specs::FindCondition(status.conditions, "Ready");
  return ready != nullptr && ready->status == "True";
}

}  // namespace

VmReconciler::StepResult VmReconciler::BeginChange(Pass& pass, int64_t running_generation) {
  ChangeRecord& change = pass.status.change;
  if (change.phase == "Watching" && change.toGeneration == pass.generation) {
    return std::nullopt;  // begun before a kill: the snapshot and the record are there
  }
  // Only a healthy running VM has a state worth going back to.
  if (!pass.spec.running || !IsActive(pass.domain->state) || !IsReady(pass.status) ||
      pass.status.healthyGeneration != running_generation) {
    return std::nullopt;
  }
  auto policy = LoadPolicy(pass);
  if (!policy.ok()) return ReconcileResult::Error(policy.status());
  if (!*policy || !(*policy)->beforeChange) return std::nullopt;

  ChangeRecord next;
  next.fromGeneration = running_generation;
  next.toGeneration = pass.generation;
  next.previousSpec = pass.status.healthySpec;
  VmSnapshotter snapshotter(pass.name, pass.host->connection().get(), ctx_.events, ctx_.clock);
  VmSnapshotter::Request request;
  request.reason = "before-change";
  request.healthy = true;
  request.generation = running_generation;
  request.domain_active = true;
  auto taken =
      snapshotter.Take(&pass.status, request, [&] { return WriteStatus(pass, /*sync=*/true); });
  if (!taken.ok()) return ReconcileResult::Error(taken.status());
  if (*taken && (*taken)->phase == "Taken") {
    next.snapshot = (*taken)->name;
    // Its host switched the disks to new tops: the definition to compare with is the new one.
    auto observed = Observe(*pass.host, pass.name, /*force=*/true);
    if (!observed.ok()) return ReconcileResult::Error(observed.status());
    pass.domain = std::move(*observed);
    if (!pass.domain) return ReconcileResult::Error(Status::Internal("domain vanished"));
  } else if (*taken) {
    // Availability first: the change goes on; a failure then restores the definition only.
    next.message = "the before-change snapshot failed: " + (*taken)->message;
  }
  const WallTime now = ctx_.clock->WallNow();
  next.phase = "Watching";
  next.started = FormatRfc3339(now);
  next.deadline = FormatRfc3339(now + ChangeGrace(pass.spec));
  change = std::move(next);
  // Intent first: a controller killed from here on knows the change is watched and what to go
  // back to.
  if (Status s = WriteStatus(pass, /*sync=*/true); !s.ok()) return ReconcileResult::Error(s);
  ctx_.events->Normal(
      Kind::kVirtualMachine, pass.name, "ChangeStarted",
      "generation " + std::to_string(change.fromGeneration) + " -> " +
          std::to_string(change.toGeneration) + ": must be Ready within " +
          std::to_string(ChangeGrace(pass.spec).count()) + " s" +
          (change.snapshot.empty() ? std::string(" (no before-change snapshot)")
                                   : " (disks kept as snapshot " + change.snapshot + ")"));
  return std::nullopt;
}

VmReconciler::StepResult VmReconciler::CheckChangeDeadline(Pass& pass) {
  const ChangeRecord& change = pass.status.change;
  if (change.phase != "Watching" || change.toGeneration != pass.declared_generation) {
    return std::nullopt;
  }
  WallTime deadline;
  if (IsReady(pass.status) || !ParseRfc3339(change.deadline, &deadline) ||
      ctx_.clock->WallNow() < deadline) {
    return std::nullopt;
  }
  const Condition* ready = specs::FindCondition(pass.status.conditions, "Ready");
  return FailChange(pass, "it was not Ready " + std::to_string(ChangeGrace(pass.spec).count()) +
                              " s after the change" +
                              (ready ? " (" + ready->reason + ": " + ready->message + ")" : ""));
}

VmReconciler::StepResult VmReconciler::FailChange(Pass& pass, const std::string& why) {
  // Never a rollback while the domain runs.
  auto observed = Observe(*pass.host, pass.name, /*force=*/true);
  if (!observed.ok()) return ReconcileResult::Error(observed.status());
  if (*observed && IsActive((*observed)->state)) {
    if (Status s = pass.host->connection()->DestroyDomain(pass.name); !s.ok()) {
      return ReconcileResult::Error(s);
    }
  }
  ChangeRecord& change = pass.status.change;
  const std::string from = std::to_string(change.fromGeneration);
  const std::string to = std::to_string(change.toGeneration);
  change.phase = "Failed";
  change.message = "generation " + to + " failed: " + why + "; back to generation " + from;
  auto persist = [&] { return WriteStatus(pass, /*sync=*/true); };
  // Every write from here on says the change failed, the first (the rollback's intent) too.
  auto mark_failed = [&] {
    specs::SetCondition(&pass.status.conditions,
                        MakeCondition(*ctx_.clock, "ChangeFailed", true, "RolledBack",
                                      change.message));
    specs::SetCondition(&pass.status.conditions,
                        MakeCondition(*ctx_.clock, "Ready", false, "ChangeRolledBack",
                                      change.message));
  };
  mark_failed();
  pass.status.state = "rolling-back";
  if (!change.snapshot.empty()) {
    VmRollback rollback(pass.name, pass.declared_generation, pass.host->connection().get(),
                        ctx_.events, ctx_.clock);
    // Records the change Failed with the rollback's intent, in one write.
    Status s = rollback.BeginTo(&pass.status, change.snapshot, persist);
    if (s.code() == StatusCode::kNotFound) {
      change.message += " (its before-change snapshot " + change.snapshot + " is gone: the disks"
                        " stay as they are)";
    } else if (!s.ok()) {
      return ReconcileResult::Error(s);
    } else {
      change.message += " and the disks of snapshot " + change.snapshot;
    }
  }
  mark_failed();
  if (Status s = persist(); !s.ok()) return ReconcileResult::Error(s);
  if (ctx_.incidents) {
    // The service went down when the changed VM was started: that is when it failed.
    WallTime started;
    if (!ParseRfc3339(change.started, &started)) started = ctx_.clock->WallNow();
    auto incident =
        ctx_.incidents->Open(Kind::kVirtualMachine, pass.name, "ChangeFailed", started, "change");
    if (!incident.ok()) return ReconcileResult::Error(incident.status());
    (void)ctx_.incidents->AddAction(Kind::kVirtualMachine, pass.name,
                                    "rolled generation " + to + " back to generation " + from +
                                        (change.snapshot.empty() ? std::string()
                                                                 : ", snapshot " + change.snapshot),
                                    /*sync=*/false);
  }
  ctx_.events->Warning(Kind::kVirtualMachine, pass.name, "ChangeFailed", change.message);
  // The next pass runs the spec before the change: defined, started.
  return ReconcileResult::After(Duration::zero());
}

Status VmReconciler::NoteHealthyGeneration(Pass& pass) {
  const bool ready = IsReady(pass.status) && pass.domain->config &&
                     pass.domain->config->generation == pass.generation;
  ChangeRecord& change = pass.status.change;
  const bool watched =
      change.phase == "Watching" && change.toGeneration == pass.declared_generation;
  if (watched && ready) {
    change.phase = "Succeeded";
    ctx_.events->Normal(Kind::kVirtualMachine, pass.name, "ChangeSucceeded",
                        "Ready on generation " + std::to_string(change.toGeneration));
  } else if (watched) {
    WallTime deadline;
    if (ParseRfc3339(change.deadline, &deadline)) {
      const WallTime now = ctx_.clock->WallNow();
      const Duration wait =
          deadline > now ? std::chrono::duration_cast<Duration>(deadline - now) : Duration::zero();
      if (!pass.requeue || wait < *pass.requeue) pass.requeue = wait;
    }
  }
  if (!ready || pass.status.healthyGeneration == pass.generation) return Status::Ok();
  VMK_ASSIGN_OR_RETURN(auto policy, LoadPolicy(pass));
  if (!policy || !policy->beforeChange) return Status::Ok();
  pass.status.healthyGeneration = pass.generation;
  pass.status.healthySpec = pass.spec_json;
  return Status::Ok();
}

// ---- snapshots -------------------------------------------------------------------------------

// A rollback succeeded once the VM has been Ready for a whole restart window since: failing
// before that, it goes on to the snapshot before (VmRollback::Begin), not to a new episode.
void VmReconciler::WatchRollback(Pass& pass) {
  const Condition* ready = specs::FindCondition(pass.status.conditions, "Ready");
  WallTime started;
  if (!ready || ready->status != "True" || !ParseRfc3339(pass.status.rollback.started, &started)) {
    return;
  }
  const WallTime settled = started + std::chrono::seconds(pass.spec.restart.windowSeconds);
  const WallTime now = ctx_.clock->WallNow();
  if (now < settled) {
    const Duration wait = std::chrono::duration_cast<Duration>(settled - now);
    if (!pass.requeue || wait < *pass.requeue) pass.requeue = wait;
    return;
  }
  pass.status.rollback.phase = "Done";
  ctx_.events->Normal(Kind::kVirtualMachine, pass.name, "RollbackSucceeded",
                      "Ready for " + std::to_string(pass.spec.restart.windowSeconds) +
                          " s on snapshot " + pass.status.rollback.target);
}

StatusOr<std::optional<specs::SnapshotPolicySpec>> VmReconciler::LoadPolicy(const Pass& pass) {
  if (pass.spec.snapshotPolicy.empty()) return std::optional<specs::SnapshotPolicySpec>();
  auto object = ctx_.store->Get(Kind::kSnapshotPolicy, pass.spec.snapshotPolicy);
  if (!object.ok()) return object.status();
  // Deleted meanwhile (the apply refuses that while a VM uses it): as if none.
  if (!*object) return std::optional<specs::SnapshotPolicySpec>();
  auto policy = specs::SnapshotPolicySpecFromJson((*object)->spec);
  if (!policy.ok()) return policy.status();
  return std::optional<specs::SnapshotPolicySpec>(std::move(*policy));
}

// The restart limit is used up: a VM with snapshots under a policy comes back from its latest
// healthy one (VmRollback), stopped first if it still runs; nullopt when it has none to go to.
VmReconciler::StepResult VmReconciler::RollBack(Pass& pass) {
  auto policy = LoadPolicy(pass);
  if (!policy.ok()) return ReconcileResult::Error(policy.status());
  if (!*policy || (*policy)->rollbackDepth == 0 || pass.status.snapshots.empty()) {
    return std::nullopt;
  }
  if (pass.domain && IsActive(pass.domain->state)) {
    // Running but failing its probe: never a rollback while it runs.
    if (Status s = pass.host->connection()->DestroyDomain(pass.name); !s.ok()) {
      return ReconcileResult::Error(s);
    }
  }
  VmRollback rollback(pass.name, pass.generation, pass.host->connection().get(), ctx_.events,
                        ctx_.clock);
  auto rolled = rollback.Begin(&pass.status, (*policy)->rollbackDepth,
                               [&] { return WriteStatus(pass, true); });
  if (!rolled.ok()) return ReconcileResult::Error(rolled.status());
  if (!*rolled) {
    pass.status.state = "failed";
    specs::SetCondition(&pass.status.conditions,
                        MakeCondition(*ctx_.clock, "Ready", false, "RollbackFailed",
                                      pass.status.rollback.message));
    Status s = WriteStatus(pass, false);
    return s.ok() ? ReconcileResult::Done() : ReconcileResult::Error(s);
  }
  if (ctx_.incidents) {
    (void)ctx_.incidents->AddAction(Kind::kVirtualMachine, pass.name,
                                    "rolled back to snapshot " + pass.status.rollback.target,
                                    /*sync=*/false);
  }
  pass.status.state = "rolling-back";
  specs::SetCondition(&pass.status.conditions,
                      MakeCondition(*ctx_.clock, "Ready", false, "RollingBack",
                                    "restored snapshot " + pass.status.rollback.target +
                                        " after the restart limit was used up"));
  Status s = WriteStatus(pass, false);
  // The next pass defines the domain onto the restored tops and starts it.
  return s.ok() ? ReconcileResult::After(Duration::zero()) : ReconcileResult::Error(s);
}

Status VmReconciler::TakeSnapshots(Pass& pass) {
  VmSnapshotter snapshotter(pass.name, pass.host->connection().get(), ctx_.events, ctx_.clock);
  auto persist = [&] { return WriteStatus(pass, true); };
  // After a snapshot the domain's definition names the new tops: the cached one is stale (a
  // running domain's was changed by its host), and a stopped one's still names the frozen layer:
  // it is redefined at once, before anyone could start it by hand onto a layer others now sit on.
  auto after = [&](const std::optional<SnapshotRecord>& taken, bool active) -> Status {
    if (!taken || taken->phase != "Taken") return Status::Ok();
    if (!active) {
      pass.requeue = Duration::zero();
      return Status::Ok();
    }
    return Observe(*pass.host, pass.name, /*force=*/true).status();
  };
  const Condition* ready = specs::FindCondition(pass.status.conditions, "Ready");
  VmSnapshotter::Request request;
  request.healthy = ready != nullptr && ready->status == "True";
  request.generation = pass.generation;
  request.domain_active = IsActive(pass.domain->state);
  // Asked for through the API: taken whatever the VM's state.
  while (!pass.status.snapshotRequests.empty()) {
    request.name = pass.status.snapshotRequests.front();
    request.reason = "manual";
    pass.status.snapshotRequests.erase(pass.status.snapshotRequests.begin());
    VMK_ASSIGN_OR_RETURN(auto taken, snapshotter.Take(&pass.status, request, persist));
    VMK_RETURN_IF_ERROR(after(taken, request.domain_active));
  }
  VMK_ASSIGN_OR_RETURN(auto policy, LoadPolicy(pass));
  if (!policy) return Status::Ok();
  pass.snapshot_interval_seconds = policy->intervalSeconds;
  // Last, the policy's keep and cap (SnapshotPruner): after a scheduled snapshot, and on any
  // pass that finds more than they allow (a stopped VM's layers are merged offline).
  auto prune = [&] {
    SnapshotPruner pruner(pass.name, pass.host->connection().get(), ctx_.events, ctx_.clock);
    return pruner.Run(&pass.status, *policy, IsActive(pass.domain->state), persist);
  };
  // Scheduled ones of a running VM only (a stopped one does not change), the first once it
  // is healthy: the baseline a rollback goes back to.
  if (!request.domain_active) return prune();
  if (pass.status.lastScheduledSnapshot.empty() && !request.healthy) return prune();
  const WallTime now = ctx_.clock->WallNow();
  const WallTime due = NextScheduledSnapshot(pass.status, *policy, now);
  if (due <= now) {
    pass.status.lastScheduledSnapshot = FormatRfc3339(now);
    request.name.clear();
    request.reason = "scheduled";
    VMK_ASSIGN_OR_RETURN(auto taken, snapshotter.Take(&pass.status, request, persist));
    VMK_RETURN_IF_ERROR(after(taken, request.domain_active));
  }
  Status pruned = prune();
  // Counted from after the snapshot and the prune: counted from `now`, the wait started late
  // by the pass's own length, and each interval's snapshot slipped by that much.
  const WallTime later = ctx_.clock->WallNow();
  const WallTime next = NextScheduledSnapshot(pass.status, *policy, later);
  const Duration wait =
      next > later ? std::chrono::duration_cast<Duration>(next - later) : Duration::zero();
  if (!pass.periodic || wait < *pass.periodic) pass.periodic = wait;
  return pruned;
}

Condition VmReconciler::ReadyCondition(Pass& pass, bool now_active, bool config_current) {
  const DomainInfo& domain = *pass.domain;
  bool ready = now_active && config_current &&
               (domain.live_generation == 0 || domain.live_generation == pass.generation);
  std::string reason = ready ? "Running" : "NotRunning";
  std::string message =
      ready ? "running on " + pass.status.host : std::string("domain is ") + pass.status.state;
  if (ready && pass.spec.health && ctx_.vm_health && ctx_.prober) {
    // Ready means its service answers, not only that the domain runs.
    // A new tracker starts the VM's probe loop; the probe reconciler keeps it going from then on.
    if (ctx_.vm_health->Configure(pass.name, ProbeSettingsOf(*pass.spec.health))) {
      ProbeQueueOf(ctx_).Add(ProbeKey(pass.name));
    }
    auto health = ctx_.vm_health->Get(pass.name).value_or(VmHealthBook::Snapshot{});
    if (health.health != providers::ProbeHealth::kHealthy) {
      ready = false;
      reason = health.health == providers::ProbeHealth::kUnhealthy ? "Unhealthy" : "Starting";
      message = "health probe: " +
                (health.last_message.empty() ? std::string("no answer yet") : health.last_message);
    }
  }
  return MakeCondition(*ctx_.clock, "Ready", ready, reason, message);
}

Status VmReconciler::ResolveIncident(const Pass& pass) {
  const Condition* ready = specs::FindCondition(pass.status.conditions, "Ready");
  if (!ctx_.incidents || !pass.spec.running || !ready || ready->status != "True") {
    return Status::Ok();
  }
  auto resolved = ctx_.incidents->Resolve(Kind::kVirtualMachine, pass.name);
  if (!resolved.ok()) return resolved.status();
  if (!resolved->has_value()) return Status::Ok();
  const Incident& incident = **resolved;
  WallTime occurred, recovered;
  std::string took;
  if (ParseRfc3339(incident.occurred, &occurred) && ParseRfc3339(incident.recovered, &recovered)) {
    took =
        " " +
        std::to_string(
            std::chrono::duration_cast<std::chrono::milliseconds>(recovered - occurred).count()) +
        " ms after it failed";
  }
  ctx_.events->Normal(Kind::kVirtualMachine, pass.name, "Recovered",
                      "running on " + pass.status.host + took + " (incident " + incident.id + ", " +
                          incident.type + ")");
  return Status::Ok();
}

// ---- observation and writes ------------------------------------------------------------------

std::vector<VmReconciler::Copy> VmReconciler::FindOwnedCopies(const std::string& name) {
  std::vector<Copy> out;
  for (auto& host : ctx_.hosts->HostsWithDomain(name)) {
    auto d = host->Domain(name);
    if (!d) continue;
    providers::DomainInfo info = d->info;
    if (d->stale && host->reachable()) {
      // An event said it changed: read it before deciding anything on it.
      auto fresh = Observe(*host, name, /*force=*/true);
      if (!fresh.ok() || !*fresh) continue;
      info = **fresh;
    }
    if (info.owned) out.push_back({host, std::move(info)});
  }
  return out;
}

StatusOr<std::optional<DomainInfo>> VmReconciler::Observe(HostEntry& host, const std::string& name,
                                                          bool force) {
  if (!force) {
    auto cached = host.Domain(name);
    if (cached && !cached->stale) return std::optional<DomainInfo>(cached->info);
    if (!cached && host.view().synced) return std::optional<DomainInfo>();
  }
  auto fresh = host.connection()->GetDomain(name);
  if (!fresh.ok()) return fresh.status();
  host.UpdateDomain(name, *fresh);
  return *fresh;
}

VmReconciler::StepResult VmReconciler::Refresh(Pass& pass, const char* after) {
  auto refreshed = Observe(*pass.host, pass.name, /*force=*/true);
  if (!refreshed.ok()) {
    // What was just done (a start, a stop, a definition) changed the domain, and the read that
    // failed left the cache as it was before: the next pass must read the domain, not act on
    // that. A start followed by a failed read, with the host's events held back, left "shut off"
    // in the cache, and the next pass began a rollback under the running guest (found by the
    // failover simulation, seed 53). The last event's evidence is kept.
    auto cached = pass.host->Domain(pass.name);
    pass.host->MarkStale(pass.name, cached ? cached->last_event : WallTime{},
                         cached ? cached->last_event_type : providers::DomainEventType::kOther);
    return ReconcileResult::Error(refreshed.status());
  }
  pass.domain = std::move(*refreshed);
  if (!pass.domain) {
    return ReconcileResult::Error(Status::Internal(std::string("domain vanished after ") + after));
  }
  return std::nullopt;
}

Status VmReconciler::RemoveCopy(HostEntry& host, const std::string& name) {
  auto& conn = *host.connection();
  Status s = conn.DestroyDomain(name);
  if (s.ok()) s = conn.UndefineDomain(name);
  if (s.ok()) host.UpdateDomain(name, std::nullopt);
  return s;
}

Status VmReconciler::WriteStatus(Pass& pass, bool sync) {
  if (ctx_.on_vm_state) ctx_.on_vm_state(pass.name, pass.status.state);
  specs::Json json = pass.status.ToJson();
  if (!sync && json == pass.stored_status) return Status::Ok();
  // Only over the status this pass read (or wrote): a writer that moved it meanwhile (a
  // failover in another controller replica; the VM deleted and created again) wins, and this
  // pass is retried on what it wrote.
  auto written = ctx_.store->PutStatusIf(
      StatusWrite{Kind::kVirtualMachine, pass.name, json, sync, pass.status_revision});
  if (written.status().code() == StatusCode::kNotFound) return Status::Ok();  // deleted meanwhile
  if (!written.ok()) return written.status();
  pass.stored_status = std::move(json);
  pass.status_revision = *written;
  return Status::Ok();
}

}  // namespace vmk::reconciler
