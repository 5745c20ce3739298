#include "reconciler/vm/snapshot_pruner.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <memory>

#include "common/rfc3339.h"

namespace vmk::reconciler {

using providers::VolumeInfo;
using specs::Kind;

namespace {

constexpr int64_t kGiB = int64_t{1} << 30;

bool Transient(const Status& s) {
  return s.code() == StatusCode::kUnavailable || s.code() == StatusCode::kDeadlineExceeded;
}

bool Prunable(const SnapshotRecord& r, const SnapshotRecord* latest_healthy) {
  return r.phase == "Taken" && r.reason == "scheduled" && &r != latest_healthy;
}

SnapshotRecord* FindSnapshot(VmStatus* status, const std::string& name) {
  for (SnapshotRecord& r : status->snapshots) {
    if (r.name == name) return &r;
  }
  return nullptr;
}

std::string Bytes(int64_t bytes) {
  const double gib = static_cast<double>(bytes) / static_cast<double>(kGiB);
  char text[32];
  std::snprintf(text, sizeof text, "%.2f GiB", gib);
  return text;
}

}  // namespace

const SnapshotRecord* LatestHealthySnapshot(const VmStatus& status) {
  for (auto it = status.snapshots.rbegin(); it != status.snapshots.rend(); ++it) {
    if (it->phase == "Taken" && it->healthy) return &*it;
  }
  return nullptr;
}

std::vector<std::string> SnapshotsBeyondKeep(const VmStatus& status, int keep) {
  const SnapshotRecord* healthy = LatestHealthySnapshot(status);
  std::vector<std::string> beyond;
  int newer = 0;  // scheduled Taken snapshots newer than the one looked at
  for (auto it = status.snapshots.rbegin(); it != status.snapshots.rend(); ++it) {
    if (it->phase != "Taken" || it->reason != "scheduled") continue;
    if (newer++ < keep) continue;
    if (Prunable(*it, healthy)) beyond.insert(beyond.begin(), it->name);
  }
  return beyond;
}

std::vector<std::string> SnapshotsTheCapMayPrune(const VmStatus& status) {
  const SnapshotRecord* healthy = LatestHealthySnapshot(status);
  std::vector<std::string> names;
  for (const SnapshotRecord& r : status.snapshots) {
    if (Prunable(r, healthy)) names.push_back(r.name);
  }
  return names;
}

std::string PruneBlocker(const VmStatus& status) {
  for (const SnapshotRecord& r : status.snapshots) {
    if (r.phase == "Pending") return "snapshot " + r.name + " is being taken";
  }
  if (status.rollback.phase == "Restoring" || status.rollback.phase == "Watching") {
    return "a rollback to " + status.rollback.target + " is " +
           (status.rollback.phase == "Restoring" ? "restoring" : "watched");
  }
  if (!status.rollbackRequest.empty()) return "a rollback was asked for";
  return "";
}

Status SnapshotPruner::Run(VmStatus* status, const specs::SnapshotPolicySpec& policy,
                           bool domain_active, const Persist& persist) {
  if (!status->pruning.phase.empty()) {
    // A prune left by a stopped controller is finished first, except while a snapshot is being
    // taken or a rollback restores (they settle first, in their own steps). A rollback being
    // watched does not hold it up: the pruned snapshot is no rollback's target (Pruning), and
    // every layer a restore sits on reads the same before and after a merge.
    for (const SnapshotRecord& r : status->snapshots) {
      if (r.phase == "Pending") return Status::Ok();
    }
    if (status->rollback.phase == "Restoring") return Status::Ok();
    VMK_ASSIGN_OR_RETURN(bool finished, Continue(status, domain_active, persist));
    if (!finished) return Status::Ok();
  }
  if (!PruneBlocker(*status).empty()) return Status::Ok();

  // keep: one snapshot at a time, the oldest first, until none beyond keep can be pruned.
  for (;;) {
    VMK_ASSIGN_OR_RETURN(bool pruned,
                         PruneFirst(status, SnapshotsBeyondKeep(*status, policy.keep), "keep",
                                    domain_active, persist));
    if (!pruned) break;
    if (!status->pruning.phase.empty()) return Status::Ok();  // refused midway: a later pass
  }
  if (!policy.maxSnapshotGiB) {
    // No cap (any more): no verdict on one either.
    auto& conditions = status->conditions;
    conditions.erase(std::remove_if(conditions.begin(), conditions.end(),
                                    [](const specs::Condition& c) {
                                      return c.type == "SnapshotSpace";
                                    }),
                     conditions.end());
    return Status::Ok();
  }

  // The cap: the oldest scheduled ones while the layers take more. A merge frees only what the
  // later layer wrote over, so the space is measured again after each prune.
  const int64_t cap = *policy.maxSnapshotGiB * kGiB;
  for (;;) {
    VMK_ASSIGN_OR_RETURN(int64_t bytes, SnapshotBytes(*status));
    if (bytes <= cap) {
      CheckCap(status, bytes, cap, true);
      return Status::Ok();
    }
    VMK_ASSIGN_OR_RETURN(bool pruned, PruneFirst(status, SnapshotsTheCapMayPrune(*status), "cap",
                                                 domain_active, persist));
    if (!status->pruning.phase.empty()) return Status::Ok();  // refused midway: a later pass
    if (!pruned) {
      CheckCap(status, bytes, cap, false);
      return Status::Ok();
    }
  }
}

void SnapshotPruner::CheckCap(VmStatus* status, int64_t bytes, int64_t cap, bool within) {
  const specs::Condition* before = specs::FindCondition(status->conditions, "SnapshotSpace");
  const bool was_exceeded = before != nullptr && before->status == "False";
  const std::string message =
      within ? "snapshot layers take " + Bytes(bytes) + " of the " + Bytes(cap) + " allowed"
             : "snapshot layers take " + Bytes(bytes) + ", more than the " + Bytes(cap) +
                   " allowed, and no snapshot left may be pruned (snapshots taken by hand or "
                   "before a failover or rollback, the latest healthy one and those a restore "
                   "depends on are kept)";
  specs::SetCondition(&status->conditions,
                      MakeCondition(*clock_, "SnapshotSpace", within,
                                    within ? "WithinCap" : "CapExceeded", message));
  if (!within && !was_exceeded) {
    events_->Warning(Kind::kVirtualMachine, vm_, "SnapshotCapExceeded", message);
  }
}

StatusOr<int64_t> SnapshotPruner::SnapshotBytes(const VmStatus& status) {
  std::map<std::string, std::vector<VolumeInfo>> pools;
  int64_t bytes = 0;
  for (const SnapshotRecord& r : status.snapshots) {
    if (r.phase != "Taken" && r.phase != "Pruning") continue;  // a Failed one froze nothing
    for (const SnapshotLayer& layer : r.layers) {
      auto it = pools.find(layer.pool);
      if (it == pools.end()) {
        VMK_ASSIGN_OR_RETURN(auto volumes, host_->OpenStoragePool(layer.pool)->ListVolumes());
        it = pools.emplace(layer.pool, std::move(volumes)).first;
      }
      for (const VolumeInfo& v : it->second) {
        if (v.name == layer.volume) bytes += v.allocation_bytes;
      }
    }
  }
  return bytes;
}

StatusOr<bool> SnapshotPruner::PruneFirst(VmStatus* status,
                                          const std::vector<std::string>& candidates,
                                          const std::string& reason, bool domain_active,
                                          const Persist& persist) {
  for (const std::string& name : candidates) {
    const SnapshotRecord* snapshot = FindSnapshot(status, name);
    if (snapshot == nullptr) continue;
    std::string why;
    VMK_ASSIGN_OR_RETURN(auto steps, Plan(*status, *snapshot, domain_active, &why));
    if (!steps) continue;  // kept for now (why says why); the next candidate
    // 1. The intent, before any layer is touched: from now on no rollback picks it, as a merge
    // stopped midway may have written part of the child's data into its layer.
    SnapshotRecord* stored = FindSnapshot(status, name);
    stored->phase = "Pruning";
    status->pruning = PruneRecord{"Merging", name, reason, FormatRfc3339(clock_->WallNow()),
                                  std::move(*steps)};
    VMK_RETURN_IF_ERROR(persist());
    VMK_ASSIGN_OR_RETURN(bool finished, Continue(status, domain_active, persist));
    (void)finished;  // refused: the record stays for a later pass, as the caller sees
    return true;
  }
  return false;
}

StatusOr<std::optional<std::vector<PruneStep>>> SnapshotPruner::Plan(
    const VmStatus& status, const SnapshotRecord& snapshot, bool domain_active,
    std::string* why) {
  using Steps = std::optional<std::vector<PruneStep>>;
  std::vector<PruneStep> steps;
  for (const SnapshotLayer& layer : snapshot.layers) {
    VMK_ASSIGN_OR_RETURN(auto volumes, host_->OpenStoragePool(layer.pool)->ListVolumes());
    auto frozen = std::find_if(volumes.begin(), volumes.end(),
                               [&](const VolumeInfo& v) { return v.name == layer.volume; });
    if (frozen == volumes.end()) {
      *why = "its layer " + layer.volume + " is gone";
      return Steps();
    }
    const DiskRecord* disk = status.Disk(layer.disk);
    for (const DiskRecord& d : status.disks) {
      if (d.pool == layer.pool && d.volume == layer.volume) {
        *why = "its layer " + layer.volume + " is the top of disk " + d.name;
        return Steps();
      }
    }
    for (const SnapshotLayer& restored : status.rollback.restore) {
      if (status.rollback.phase != "Done" && status.rollback.phase != "Failed" &&
          restored.pool == layer.pool && restored.volume == layer.volume) {
        *why = "the rollback to " + status.rollback.target + " restores its layer";
        return Steps();
      }
    }
    std::vector<std::string> children = providers::VolumesBackedBy(volumes, frozen->path);
    if (children.size() > 1) {
      *why = "a restore depends on its layer " + layer.volume + " (" +
             std::to_string(children.size()) + " layers are built on it)";
      return Steps();
    }
    PruneStep step;
    step.disk = layer.disk;
    step.pool = layer.pool;
    step.layer = layer.volume;
    if (children.empty()) {
      step.method = "delete";
    } else {
      step.child = children[0];
      if (domain_active && disk != nullptr && disk->volume == step.child) {
        // QEMU's active commit would be needed (it waits for a pivot): the next snapshot
        // makes this layer an intermediate one.
        *why = "its layer " + layer.volume + " is right under the running top";
        return Steps();
      }
    }
    steps.push_back(std::move(step));
  }
  return Steps(std::move(steps));
}

StatusOr<bool> SnapshotPruner::Continue(VmStatus* status, bool domain_active,
                                        const Persist& persist) {
  PruneRecord& p = status->pruning;
  if (p.phase == "Merging") {
    for (PruneStep& step : p.steps) {
      Status s = Merge(status, step, domain_active, persist);
      if (s.ok()) continue;
      if (Transient(s)) return s;  // the pass is retried; the chain tells what happened
      events_->Warning(Kind::kVirtualMachine, vm_, "SnapshotPruneFailed",
                       "snapshot " + p.snapshot + ": merging disk " + step.disk +
                           " failed, kept for a later pass: " + s.message());
      return false;
    }
    VMK_RETURN_IF_ERROR(RecordMerged(status, persist));
  }
  if (p.phase == "Deleting") {
    VMK_RETURN_IF_ERROR(DeleteObsolete(status, persist));
    return true;
  }
  return true;
}

StatusOr<bool> SnapshotPruner::Merged(PruneStep& step) {
  // The whole pool, read afresh: libvirt's dir pool may keep a volume's backing as it was
  // before QEMU rewrote the header; a listing refreshes the pool first.
  VMK_ASSIGN_OR_RETURN(auto volumes, host_->OpenStoragePool(step.pool)->ListVolumes());
  auto find = [&](const std::string& name) -> const VolumeInfo* {
    for (const VolumeInfo& v : volumes) {
      if (v.name == name) return &v;
    }
    return nullptr;
  };
  const VolumeInfo* layer = find(step.layer);
  const VolumeInfo* child = find(step.child);
  if (layer == nullptr || child == nullptr) {
    // Merging deletes nothing: a file gone here went behind the controller's back.
    return Status::FailedPrecondition("layer " + (layer ? step.child : step.layer) +
                                      " is gone while merging");
  }
  if (!step.over.empty()) {
    const VolumeInfo* over = find(step.over);
    if (over != nullptr && over->backing_path == layer->path) {
      step.obsolete = step.child;  // committed: the layer holds the child's state
      return true;
    }
  }
  if (child->backing_path != layer->path) {
    step.obsolete = step.layer;  // rebased: the child holds the layer's data
    return true;
  }
  return false;
}

Status SnapshotPruner::Merge(VmStatus* status, PruneStep& step, bool domain_active,
                             const Persist& persist) {
  if (step.method == "delete") {
    step.obsolete = step.layer;
    return Status::Ok();
  }
  VMK_ASSIGN_OR_RETURN(bool merged, Merged(step));
  if (merged) return Status::Ok();

  // The way depends on who holds the chain now (the VM may have stopped or started since the
  // prune was planned); either way leaves every reader of the chain seeing the same data, and
  // one stopped midway can be finished the other way.
  auto pool = host_->OpenStoragePool(step.pool);
  VMK_ASSIGN_OR_RETURN(auto volumes, pool->ListVolumes());
  const DiskRecord* disk = status->Disk(step.disk);
  if (disk == nullptr) return Status::FailedPrecondition("disk " + step.disk + " is not recorded");
  VMK_ASSIGN_OR_RETURN(auto chain, providers::VolumeChain(volumes, disk->volume));
  size_t at = chain.size();
  for (size_t i = 0; i < chain.size(); ++i) {
    if (chain[i].name == step.child) at = i;
  }
  std::string method = "rebase";
  std::string over;
  if (domain_active && at < chain.size()) {
    if (at == 0) {
      return Status::FailedPrecondition("layer " + step.child +
                                        " is the running top: an active commit would be needed");
    }
    method = "commit";
    over = chain[at - 1].name;
  }
  if (method != step.method || over != step.over) {
    step.method = method;
    step.over = over;
    VMK_RETURN_IF_ERROR(persist());  // which way, before it is taken
  }
  std::string layer_path;
  std::string child_path;
  for (const VolumeInfo& v : volumes) {
    if (v.name == step.layer) layer_path = v.path;
    if (v.name == step.child) child_path = v.path;
  }
  Status s;
  if (method == "commit") {
    size_t index = 0;
    while (index < status->disks.size() && status->disks[index].name != step.disk) ++index;
    s = host_->CommitDiskLayer(
        vm_, {providers::DefaultDiskTarget(index), layer_path, child_path}, commit_timeout_);
  } else {
    s = pool->MergeBackingIntoChild(step.child);
  }
  if (!s.ok()) return s;
  VMK_ASSIGN_OR_RETURN(merged, Merged(step));
  if (!merged) {
    return Status::Internal("the " + method + " of " + step.child + " and " + step.layer +
                            " ended but the chain does not show them merged");
  }
  return Status::Ok();
}

Status SnapshotPruner::RecordMerged(VmStatus* status, const Persist& persist) {
  PruneRecord& p = status->pruning;
  for (PruneStep& step : p.steps) {
    if (step.obsolete != step.child || step.child.empty()) continue;
    // Committed: the layer now holds the child's state, so the snapshot (and a finished
    // rollback's record) that named the child names the layer. Unless something was built on
    // the child meanwhile (a rollback to its snapshot, between a kill and this resume): then
    // the child stays and keeps its name; it reads the same over the merged layer.
    VMK_ASSIGN_OR_RETURN(auto volumes, host_->OpenStoragePool(step.pool)->ListVolumes());
    std::string child_path;
    for (const VolumeInfo& v : volumes) {
      if (v.name == step.child) child_path = v.path;
    }
    if (!child_path.empty() && !providers::VolumesBackedBy(volumes, child_path).empty()) {
      step.obsolete.clear();
      continue;
    }
    for (SnapshotRecord& r : status->snapshots) {
      if (r.name == p.snapshot) continue;
      for (SnapshotLayer& l : r.layers) {
        if (l.pool == step.pool && l.volume == step.child) l.volume = step.layer;
      }
    }
    for (SnapshotLayer& l : status->rollback.restore) {
      if (l.pool == step.pool && l.volume == step.child) l.volume = step.layer;
    }
  }
  status->snapshots.erase(
      std::remove_if(status->snapshots.begin(), status->snapshots.end(),
                     [&](const SnapshotRecord& r) { return r.name == p.snapshot; }),
      status->snapshots.end());
  p.phase = "Deleting";
  return persist();
}

Status SnapshotPruner::DeleteObsolete(VmStatus* status, const Persist& persist) {
  PruneRecord& p = status->pruning;
  std::vector<std::string> left;
  for (const PruneStep& step : p.steps) {
    if (step.obsolete.empty()) continue;
    Status s = host_->OpenStoragePool(step.pool)->DeleteVolume(step.obsolete);
    if (Transient(s)) return s;
    if (!s.ok()) left.push_back(step.obsolete + " (" + s.message() + ")");
  }
  std::string merged;
  for (const PruneStep& step : p.steps) {
    merged += (merged.empty() ? "" : ", ") + step.disk + " by " + step.method;
  }
  events_->Normal(Kind::kVirtualMachine, vm_, "SnapshotPruned",
                  "snapshot " + p.snapshot + " pruned (" + p.reason + "): " + merged);
  if (!left.empty()) {
    std::string files;
    for (const std::string& f : left) files += (files.empty() ? "" : ", ") + f;
    events_->Warning(Kind::kVirtualMachine, vm_, "SnapshotPruneCleanupFailed",
                     "snapshot " + p.snapshot + ": files left in the pool: " + files);
  }
  status->pruning = PruneRecord{};
  return persist();
}

}  // namespace vmk::reconciler
