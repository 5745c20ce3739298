#include "reconciler/vm/vm_rollback.h"

#include <algorithm>

#include "common/rfc3339.h"
#include "reconciler/vm/disk_resolver.h"

namespace vmk::reconciler {

using providers::ImageFormat;
using specs::Kind;

const SnapshotRecord* PickRollbackTarget(const VmStatus& status,
                                         const std::vector<std::string>& tried, int depth) {
  if (static_cast<int>(tried.size()) >= depth) return nullptr;
  for (auto it = status.snapshots.rbegin(); it != status.snapshots.rend(); ++it) {
    if (it->phase != "Taken" || !it->healthy) continue;
    if (std::find(tried.begin(), tried.end(), it->name) != tried.end()) continue;
    return &*it;
  }
  return nullptr;
}

StatusOr<bool> VmRollback::Begin(VmStatus* status, int depth, const Persist& persist) {
  // A new episode once the last one ended (Done) or there was none.
  std::vector<std::string> tried;
  if (status->rollback.phase == "Watching") tried = status->rollback.tried;
  const SnapshotRecord* target = PickRollbackTarget(*status, tried, depth);
  if (target == nullptr) {
    if (status->rollback.phase == "Failed") return false;
    const bool had_one = !tried.empty();
    status->rollback.phase = "Failed";
    status->rollback.message =
        had_one ? "still failing after rolling back to " + std::to_string(tried.size()) +
                      " snapshot(s); no healthy snapshot left within rollbackDepth " +
                      std::to_string(depth)
                : "no snapshot taken while it was healthy to roll back to";
    events_->Warning(Kind::kVirtualMachine, vm_, "RollbackFailed", status->rollback.message);
    VMK_RETURN_IF_ERROR(persist());
    return false;
  }
  SnapshotRecord chosen = *target;  // `status->snapshots` grows below
  VMK_RETURN_IF_ERROR(Restore(status, chosen, std::move(tried), persist));
  return true;
}

Status VmRollback::BeginTo(VmStatus* status, const std::string& target, const Persist& persist) {
  for (const SnapshotRecord& r : status->snapshots) {
    if (r.name == target && r.phase == "Taken") {
      SnapshotRecord chosen = r;  // `status->snapshots` grows below
      return Restore(status, chosen, {}, persist);
    }
  }
  return Status::NotFound("VM " + vm_ + " has no taken snapshot " + target);
}

Status VmRollback::Restore(VmStatus* status, const SnapshotRecord& target,
                           std::vector<std::string> tried, const Persist& persist) {
  const int64_t seq = ++status->snapshotSeq;
  RollbackRecord r;
  r.phase = "Restoring";
  r.target = target.name;
  r.tried = std::move(tried);
  r.tried.push_back(target.name);
  r.started = FormatRfc3339(clock_->WallNow());
  for (const SnapshotLayer& layer : target.layers) {
    r.restore.push_back(
        {layer.disk, layer.pool, layer.volume, LayerVolumeName(vm_, layer.disk, seq)});
  }
  status->rollback = std::move(r);
  VMK_RETURN_IF_ERROR(persist());  // the intent, before any volume appears
  return Continue(status, persist);
}

Status VmRollback::Continue(VmStatus* status, const Persist& persist) {
  RollbackRecord& r = status->rollback;
  // 2. The new tops over the target's layers.
  std::vector<std::pair<std::string, std::string>> paths;  // disk -> new top's path
  for (const SnapshotLayer& layer : r.restore) {
    auto pool = host_->OpenStoragePool(layer.pool);
    VMK_ASSIGN_OR_RETURN(auto frozen, pool->GetVolume(layer.volume));
    if (!frozen) {
      return Status::FailedPrecondition("rollback of " + vm_ + ": the layer " + layer.volume +
                                        " of snapshot " + r.target + " is gone");
    }
    auto made = pool->CreateVolume({layer.next_top, frozen->path, frozen->format, 0});
    if (made.status().code() == StatusCode::kAlreadyExists) {
      VMK_ASSIGN_OR_RETURN(auto again, pool->GetVolume(layer.next_top));
      if (!again) return Status::Unavailable("volume " + layer.next_top + " came and went");
      made = std::move(*again);
    }
    if (!made.ok()) return made.status();
    paths.emplace_back(layer.disk, made->path);
  }
  // 3. The failed tops kept as a snapshot; the disks onto the new tops; a fresh budget.
  SnapshotRecord failed;
  failed.name = "s" + std::to_string(status->snapshotSeq) + "-failed";
  failed.time = FormatRfc3339(clock_->WallNow());
  failed.reason = "before-rollback";
  failed.generation = generation_;
  failed.phase = "Taken";
  for (const SnapshotLayer& layer : r.restore) {
    for (DiskRecord& d : status->disks) {
      if (d.name != layer.disk) continue;
      failed.layers.push_back({d.name, d.pool, d.volume, layer.next_top});
      for (const auto& [disk, path] : paths) {
        if (disk == d.name) d.path = path;
      }
      d.volume = layer.next_top;
      d.format = providers::ImageFormatName(ImageFormat::kQcow2);
    }
  }
  status->snapshots.push_back(std::move(failed));
  status->restartTimes.clear();
  r.phase = "Watching";
  events_->Warning(Kind::kVirtualMachine, vm_, "RolledBack",
                   "restored snapshot " + r.target + " (attempt " +
                       std::to_string(r.tried.size()) + "); the state it failed in is kept as " +
                       status->snapshots.back().name);
  return persist();
}

}  // namespace vmk::reconciler
