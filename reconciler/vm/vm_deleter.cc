#include "reconciler/vm/vm_deleter.h"

#include <algorithm>
#include <map>
#include <set>

#include "common/rfc3339.h"
#include "providers/storage/storage_pool.h"

namespace vmk::reconciler {

using specs::Kind;

namespace {

// A host that does not answer (and is not fenced) may still run the domain: look again soon,
// its return or its fencing ends the wait. A pool nobody reaches, or a volume the pool refuses
// to delete, needs an admin: look again later.
constexpr auto kHostWaitRetry = std::chrono::seconds(10);
constexpr auto kStorageBlockedRetry = std::chrono::seconds(30);

// Whether `volume` is a name vmkeeper gives a layer of `vm`'s disk `disk` (LayerVolumeName:
// "vm.disk.N.qcow2"; VM and disk names are DNS labels, so the dots delimit them): a record that
// names anything else (a base image, another VM's volume) is never acted upon.
bool IsLayerOf(const std::string& volume, const std::string& vm, const std::string& disk) {
  const std::string prefix = vm + "." + disk + ".";
  return volume.size() > prefix.size() && volume.compare(0, prefix.size(), prefix) == 0;
}

std::string Join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : ", ") + item;
  return out;
}

}  // namespace

VolumeDeletionPlan PlanVolumeDeletion(const std::string& vm, const specs::VirtualMachineSpec& spec,
                                      const VmStatus& status) {
  std::set<std::string> deleted_disks;
  for (const specs::DiskSpec& disk : spec.disks) {
    if (disk.volume && disk.volume->deleteWithVm) deleted_disks.insert(disk.name);
  }
  VolumeDeletionPlan plan;
  std::set<std::pair<std::string, std::string>> seen;  // (pool, volume)
  auto add = [&](const std::string& disk, const std::string& pool, const std::string& volume) {
    if (volume.empty() || pool.empty() || !IsLayerOf(volume, vm, disk)) return;
    if (!seen.insert({pool, volume}).second) return;
    (deleted_disks.count(disk) ? plan.deleted : plan.retained).push_back({disk, pool, volume});
  };
  for (const DiskRecord& d : status.disks) add(d.name, d.pool, d.volume);
  // A rollback's new tops, before the disks' records name them.
  for (const SnapshotLayer& l : status.rollback.restore) add(l.disk, l.pool, l.next_top);
  for (auto it = status.snapshots.rbegin(); it != status.snapshots.rend(); ++it) {
    for (const SnapshotLayer& l : it->layers) {
      add(l.disk, l.pool, l.next_top);  // a Pending snapshot's new top
      add(l.disk, l.pool, l.volume);
    }
  }
  // A prune stopped midway: a merged layer's file may not be in any snapshot record any more.
  for (const PruneStep& step : status.pruning.steps) {
    for (const std::string* v : {&step.over, &step.child, &step.layer, &step.obsolete}) {
      add(step.disk, step.pool, *v);
    }
  }
  return plan;
}

ReconcileResult VmDeleter::Run(const specs::Object& object) {
  name_ = object.metadata.name;
  object_ = object;
  auto spec = specs::VirtualMachineSpecFromJson(object.spec);
  if (!spec.ok()) return ReconcileResult::Error(spec.status());
  spec_ = std::move(*spec);
  status_ = VmStatus::FromJson(object.status);
  status_revision_ = object.status_revision;
  const bool finalize_volumes =
      std::count(object.metadata.finalizers.begin(), object.metadata.finalizers.end(),
                 specs::kVolumesFinalizer) > 0;
  DeletionRecord& record = status_.deletion;
  if (record.phase.empty()) {
    record.phase = "RemovingDomains";
    record.started = FormatRfc3339(ctx_.clock->WallNow());
    status_.state = "terminating";
    specs::SetCondition(&status_.conditions,
                        MakeCondition(*ctx_.clock, "Ready", false, "Terminating",
                                      "being deleted since " + object.metadata.deletionTimestamp));
    if (Status s = WriteStatus(/*sync=*/true); !s.ok()) return ReconcileResult::Error(s);
    ctx_.events->Normal(Kind::kVirtualMachine, name_, "Terminating",
                        finalize_volumes
                            ? "deleting: its domain first, then the volumes of its disks "
                              "with deletePolicy Delete, then the VM"
                            : "deleting: its domain first, then the VM");
  }
  // Its service is gone with it: nothing to probe, nothing to restart for.
  if (ctx_.vm_health) ctx_.vm_health->Remove(name_);
  if (record.phase == "RemovingDomains") {
    if (StepResult ended = RemoveDomains()) return *ended;
    if (!finalize_volumes) return RemoveObject();
    if (StepResult ended = RecordVolumes()) return *ended;
  }
  if (StepResult ended = DeleteVolumes()) return *ended;
  return RemoveObject();
}

VmDeleter::StepResult VmDeleter::RemoveDomains() {
  // Hosts that may hold a copy: where it is placed, where the cache last saw one. A host never
  // listed may hold one too (VmReconciler::Schedule reasons the same way).
  std::set<std::string> may_hold;
  if (!status_.host.empty()) may_hold.insert(status_.host);
  for (const auto& host : ctx_.hosts->HostsWithDomain(name_)) may_hold.insert(host->name());
  std::vector<std::string> waiting;
  for (const auto& host : ctx_.hosts->All()) {
    const HostEntry::View view = host->view();
    if (view.fenced) continue;  // powered off by its fencing: its copy is known dead
    if (!view.reachable || !host->connection()->IsAlive()) {
      if (may_hold.count(host->name()) || !view.synced) waiting.push_back(host->name());
      continue;
    }
    // Asked afresh on every host that answers: the cache may miss a copy defined just before
    // the mark, and a volume must never go while its domain may run.
    auto got = host->connection()->GetDomain(name_);
    if (!got.ok()) return ReconcileResult::Error(got.status());
    host->UpdateDomain(name_, *got);
    if (!*got || !(*got)->owned) continue;  // none, or not ours: never touched
    Status s = host->connection()->DestroyDomain(name_);
    if (s.ok()) s = host->connection()->UndefineDomain(name_);
    if (!s.ok()) {
      ctx_.events->Warning(Kind::kVirtualMachine, name_, "DeleteFailed",
                           "removing from " + host->name() + " failed: " + s.message());
      return ReconcileResult::Error(s);
    }
    host->UpdateDomain(name_, std::nullopt);
    ctx_.events->Normal(Kind::kVirtualMachine, name_, "Deleted",
                        "stopped and removed from " + host->name());
  }
  if (!waiting.empty()) {
    return Wait("WaitingForHost",
                "host " + Join(waiting) +
                    " does not answer and may still run the domain: its volumes are deleted "
                    "once it answers or is fenced",
                /*warning=*/true, kHostWaitRetry);
  }
  // Its domain is gone everywhere: it holds no host's capacity any more.
  if (auto placed = ctx_.book->Get(name_)) ctx_.queue->Add(HostKey(placed->host));
  ctx_.book->Remove(name_);
  return std::nullopt;
}

VmDeleter::StepResult VmDeleter::RecordVolumes() {
  VolumeDeletionPlan plan = PlanVolumeDeletion(name_, spec_, status_);
  DeletionRecord& record = status_.deletion;
  record.phase = "DeletingVolumes";
  record.volumes = std::move(plan.deleted);
  record.retained = std::move(plan.retained);
  record.message.clear();
  // Not placed anywhere any more: a restarted controller books no capacity for it.
  status_.host.clear();
  // The list is durable before the first volume goes: a controller stopped midway deletes
  // the rest from it, whatever the pool shows by then.
  if (Status s = WriteStatus(/*sync=*/true); !s.ok()) return ReconcileResult::Error(s);
  if (!record.retained.empty()) {
    std::vector<std::string> kept;
    for (const DeletionVolume& v : record.retained) {
      kept.push_back(v.volume + " (disk " + v.disk + ", pool " + v.pool + ")");
    }
    ctx_.events->Normal(Kind::kVirtualMachine, name_, "VolumesRetained",
                        "kept, deletePolicy Retain: " + Join(kept));
  }
  return std::nullopt;
}

VmDeleter::StepResult VmDeleter::DeleteVolumes() {
  std::vector<std::string> pools;
  for (const DeletionVolume& v : status_.deletion.volumes) {
    if (std::find(pools.begin(), pools.end(), v.pool) == pools.end()) pools.push_back(v.pool);
  }
  for (const std::string& pool : pools) {
    if (StepResult ended = DeletePoolVolumes(pool)) return ended;
  }
  return std::nullopt;
}

VmDeleter::StepResult VmDeleter::DeletePoolVolumes(const std::string& pool_name) {
  auto pending = [&] {
    std::vector<DeletionVolume*> out;
    for (DeletionVolume& v : status_.deletion.volumes) {
      if (v.pool == pool_name && !v.deleted) out.push_back(&v);
    }
    return out;
  };
  if (pending().empty()) return std::nullopt;
  // Any host that sees the pool will do: the domain is gone everywhere.
  std::shared_ptr<providers::StoragePool> pool;
  std::vector<providers::VolumeInfo> listing;
  std::vector<std::string> why;
  for (const auto& host : ctx_.hosts->All()) {
    const HostEntry::View view = host->view();
    if (view.fenced || !view.reachable) continue;
    auto opened = host->connection()->OpenStoragePool(pool_name);
    auto listed = opened->ListVolumes();
    if (listed.ok()) {
      pool = std::move(opened);
      listing = std::move(*listed);
      break;
    }
    why.push_back(host->name() + ": " + listed.status().message());
  }
  if (!pool) {
    return Wait("PoolUnavailable",
                "no host that answers sees storage pool " + pool_name +
                    (why.empty() ? std::string() : " (" + Join(why) + ")"),
                /*warning=*/true, kStorageBlockedRetry);
  }
  std::set<std::string> base_images;
  for (const specs::DiskSpec& disk : spec_.disks) {
    if (disk.volume && !disk.volume->baseImage.empty()) base_images.insert(disk.volume->baseImage);
  }
  // Top down: each round deletes what nothing is layered on, as the pool's chains are now.
  while (true) {
    bool progressed = false;
    std::vector<std::string> held;
    for (DeletionVolume* v : pending()) {
      auto it = std::find_if(listing.begin(), listing.end(),
                             [&](const providers::VolumeInfo& i) { return i.name == v->volume; });
      if (it == listing.end()) {
        v->deleted = true;  // never made, or deleted before a stop: nothing to do
        progressed = true;
        continue;
      }
      if (base_images.count(it->path)) {
        held.push_back(v->volume + " is a base image");  // never deleted, whatever recorded it
        continue;
      }
      std::vector<std::string> above = providers::VolumesBackedBy(listing, it->path);
      if (!above.empty()) {
        held.push_back(v->volume + " has " + Join(above) + " layered on it");
        continue;
      }
      Status s = pool->DeleteVolume(v->volume);
      if (s.code() == StatusCode::kFailedPrecondition) {
        held.push_back(v->volume + ": " + s.message());
        continue;
      }
      if (!s.ok()) return ReconcileResult::Error(s);  // did not answer: resumed from the record
      v->deleted = true;
      progressed = true;
      ctx_.events->Normal(Kind::kVirtualMachine, name_, "VolumeDeleted",
                          "disk " + v->disk + ": volume " + v->volume + " deleted from pool " +
                              pool_name);
      if (Status w = WriteStatus(/*sync=*/false); !w.ok()) return ReconcileResult::Error(w);
    }
    if (pending().empty()) break;
    if (!progressed) {
      return Wait("VolumeDeleteFailed",
                  "pool " + pool_name + " keeps " + Join(held) +
                      ": the VM stays until an admin removes what holds them",
                  /*warning=*/true, kStorageBlockedRetry);
    }
    auto listed = pool->ListVolumes();
    if (!listed.ok()) return ReconcileResult::Error(listed.status());
    listing = std::move(*listed);
  }
  if (Status w = WriteStatus(/*sync=*/false); !w.ok()) return ReconcileResult::Error(w);
  return std::nullopt;
}

ReconcileResult VmDeleter::RemoveObject() {
  // Over the revision the mark was read at: nothing applies a Terminating object, so a
  // mismatch means another writer; read again and decide again.
  ApplyBatch batch;
  const ObjectRef ref{Kind::kVirtualMachine, name_};
  batch.deletes.push_back(ref);
  batch.expected_revisions[ref] = object_.revision;
  auto committed = ctx_.store->CommitApply(batch);
  if (!committed.ok()) return ReconcileResult::Error(committed.status());
  size_t deleted = 0;
  for (const DeletionVolume& v : status_.deletion.volumes) deleted += v.deleted ? 1 : 0;
  ctx_.events->Normal(Kind::kVirtualMachine, name_, "Finalized",
                      "removed after its domain" +
                          (deleted == 0 ? std::string()
                                        : " and " + std::to_string(deleted) + " volume(s)") +
                          " went");
  ctx_.book->Remove(name_);
  if (ctx_.on_vm_state) ctx_.on_vm_state(name_, "");
  return ReconcileResult::Done();
}

ReconcileResult VmDeleter::Wait(const std::string& reason, const std::string& message,
                                bool warning, Duration retry) {
  const specs::Condition* prev = specs::FindCondition(status_.conditions, "VolumesDeleted");
  if (!prev || prev->reason != reason || prev->message != message) {
    if (warning) {
      ctx_.events->Warning(Kind::kVirtualMachine, name_, reason, message);
    } else {
      ctx_.events->Normal(Kind::kVirtualMachine, name_, reason, message);
    }
  }
  specs::SetCondition(&status_.conditions,
                      MakeCondition(*ctx_.clock, "VolumesDeleted", false, reason, message));
  status_.deletion.message = message;
  Status s = WriteStatus(/*sync=*/false);
  return s.ok() ? ReconcileResult::After(retry) : ReconcileResult::Error(s);
}

Status VmDeleter::WriteStatus(bool sync) {
  if (ctx_.on_vm_state) ctx_.on_vm_state(name_, status_.state);
  auto written = ctx_.store->PutStatusIf(StatusWrite{Kind::kVirtualMachine, name_,
                                                     status_.ToJson(), sync, status_revision_});
  if (!written.ok()) return written.status();  // NotFound: gone meanwhile; Aborted: read again
  status_revision_ = *written;
  return Status::Ok();
}

}  // namespace vmk::reconciler
