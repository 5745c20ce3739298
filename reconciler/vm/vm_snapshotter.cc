#include "reconciler/vm/vm_snapshotter.h"

#include <map>

#include "common/rfc3339.h"
#include "reconciler/vm/disk_resolver.h"

namespace vmk::reconciler {

using providers::DiskSnapshotTarget;
using providers::FreezeRequest;
using specs::Kind;

namespace {

std::string DirOf(const std::string& path) { return path.substr(0, path.rfind('/')); }

DiskRecord* FindDisk(VmStatus* status, const std::string& name) {
  for (DiskRecord& d : status->disks) {
    if (d.name == name) return &d;
  }
  return nullptr;
}

}  // namespace

WallTime NextScheduledSnapshot(const VmStatus& status, const specs::SnapshotPolicySpec& policy,
                               WallTime now) {
  WallTime last;
  if (status.lastScheduledSnapshot.empty() ||
      !ParseRfc3339(status.lastScheduledSnapshot, &last)) {
    return now;
  }
  return last + std::chrono::seconds(policy.intervalSeconds);
}

StatusOr<bool> VmSnapshotter::NewTopsExist(const SnapshotRecord& record,
                                           std::map<std::string, std::string>* paths) {
  bool all = true;
  for (const SnapshotLayer& layer : record.layers) {
    auto top = host_->OpenStoragePool(layer.pool)->GetVolume(layer.next_top);
    if (!top.ok()) return top.status();
    if (!*top) {
      all = false;
      continue;
    }
    (*paths)[layer.disk] = (**top).path;
  }
  return all;
}

void VmSnapshotter::DeleteUnusedTops(const SnapshotRecord& record) {
  for (const SnapshotLayer& layer : record.layers) {
    Status s = host_->OpenStoragePool(layer.pool)->DeleteVolume(layer.next_top);
    if (!s.ok()) {
      events_->Warning(Kind::kVirtualMachine, vm_, "SnapshotCleanupFailed",
                       "snapshot " + record.name + ": the unused volume " + layer.next_top +
                           " could not be deleted: " + s.message());
    }
  }
}

Status VmSnapshotter::Resume(VmStatus* status, const std::optional<providers::DomainInfo>& domain,
                             const Persist& persist) {
  for (SnapshotRecord& record : status->snapshots) {
    if (record.phase != "Pending") continue;
    std::map<std::string, std::string> paths;
    VMK_ASSIGN_OR_RETURN(bool all_exist, NewTopsExist(record, &paths));
    const bool active = domain && providers::IsActive(domain->state);
    bool uses_new = domain && domain->config && all_exist;
    if (uses_new) {
      for (const SnapshotLayer& layer : record.layers) {
        bool found = false;
        for (const auto& d : domain->config->disks) {
          if (d.name == layer.disk && d.source == paths[layer.disk]) found = true;
        }
        uses_new = uses_new && found;
      }
    }
    if (all_exist && (uses_new || !active)) {
      for (const SnapshotLayer& layer : record.layers) {
        if (DiskRecord* disk = FindDisk(status, layer.disk)) {
          disk->volume = layer.next_top;
          disk->path = paths[layer.disk];
          disk->format = "qcow2";
        }
      }
      record.phase = "Taken";
      events_->Normal(Kind::kVirtualMachine, vm_, "SnapshotTaken",
                      "snapshot " + record.name + " (" + record.reason +
                          "), found taken after a restart of the controller");
    } else {
      DeleteUnusedTops(record);
      record.phase = "Failed";
      record.message = "the controller stopped while taking it, before the disks moved";
      events_->Warning(Kind::kVirtualMachine, vm_, "SnapshotFailed",
                       "snapshot " + record.name + ": " + record.message);
    }
    VMK_RETURN_IF_ERROR(persist());
  }
  return Status::Ok();
}

Status VmSnapshotter::Switch(VmStatus* status, SnapshotRecord& record, bool domain_active) {
  std::map<std::string, std::string> new_paths;
  if (domain_active) {
    std::vector<DiskSnapshotTarget> targets;
    for (size_t i = 0; i < status->disks.size(); ++i) {
      const DiskRecord& d = status->disks[i];
      for (const SnapshotLayer& layer : record.layers) {
        if (layer.disk != d.name) continue;
        new_paths[d.name] = DirOf(d.path) + "/" + layer.next_top;
        targets.push_back({providers::DefaultDiskTarget(i), new_paths[d.name]});
      }
    }
    VMK_RETURN_IF_ERROR(host_->SnapshotDisks(vm_, targets));
  } else {
    std::map<std::string, std::vector<FreezeRequest>> by_pool;
    for (const SnapshotLayer& layer : record.layers) {
      by_pool[layer.pool].push_back({layer.volume, layer.next_top});
    }
    for (const auto& [pool, requests] : by_pool) {
      VMK_ASSIGN_OR_RETURN(auto tops, host_->OpenStoragePool(pool)->FreezeVolumes(requests));
      for (size_t i = 0; i < tops.size(); ++i) {
        for (const SnapshotLayer& layer : record.layers) {
          if (layer.next_top == tops[i].name) new_paths[layer.disk] = tops[i].path;
        }
      }
    }
  }
  for (const SnapshotLayer& layer : record.layers) {
    DiskRecord* disk = FindDisk(status, layer.disk);
    if (disk == nullptr) continue;
    disk->volume = layer.next_top;
    disk->path = new_paths[layer.disk];
    disk->format = "qcow2";
  }
  return Status::Ok();
}

StatusOr<std::optional<SnapshotRecord>> VmSnapshotter::Take(VmStatus* status,
                                                            const Request& request,
                                                            const Persist& persist) {
  const int64_t seq = status->snapshotSeq + 1;
  SnapshotRecord record;
  record.name = request.name.empty() ? "s" + std::to_string(seq) : request.name;
  record.time = FormatRfc3339(clock_->WallNow());
  record.reason = request.reason;
  record.healthy = request.healthy;
  record.generation = request.generation;
  record.phase = "Pending";
  for (const DiskRecord& d : status->disks) {
    if (d.pool.empty() || d.volume.empty()) continue;  // image disks are not snapshotted
    record.layers.push_back({d.name, d.pool, d.volume, LayerVolumeName(vm_, d.name, seq)});
  }
  if (record.layers.empty()) return std::optional<SnapshotRecord>();
  status->snapshotSeq = seq;
  status->snapshots.push_back(record);
  VMK_RETURN_IF_ERROR(persist());  // the intent, before any volume appears

  SnapshotRecord& stored = status->snapshots.back();
  Status switched = Switch(status, stored, request.domain_active);
  if (request.domain_active && (switched.code() == StatusCode::kUnavailable ||
                                switched.code() == StatusCode::kDeadlineExceeded)) {
    // The host may have switched the disks without answering: it stays Pending, and Resume
    // finds out from what the host shows once it answers (never deleting a top QEMU may be
    // writing). A stopped VM's freeze has no such risk: nothing writes the new tops, so an
    // unanswered one is Failed at once and its tops deleted when they can be (a failover
    // never waits for a snapshot).
    return switched;
  }
  if (switched.ok()) {
    stored.phase = "Taken";
    events_->Normal(Kind::kVirtualMachine, vm_, "SnapshotTaken",
                    "snapshot " + stored.name + " (" + stored.reason + ", " +
                        (stored.healthy ? "healthy" : "not healthy") + ")");
  } else {
    stored.phase = "Failed";
    stored.message = switched.message();
    DeleteUnusedTops(stored);  // a refusal: nothing switched (atomic), nothing uses them
    events_->Warning(Kind::kVirtualMachine, vm_, "SnapshotFailed",
                     "snapshot " + stored.name + " (" + stored.reason +
                         "): " + switched.message());
  }
  SnapshotRecord result = stored;
  VMK_RETURN_IF_ERROR(persist());
  return std::optional<SnapshotRecord>(std::move(result));
}

}  // namespace vmk::reconciler
