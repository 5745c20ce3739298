// FakeStorage: in-memory shared storage for the reconciler's unit tests: pools of volumes (the
// directories the hosts share), base images outside them, and what a reader of each image sees,
// so a test can tell disk states apart the way the end-to-end tests do from inside a guest.
//
// Every pool is a directory `path`; a volume's path is path/name. Volumes follow the real
// provider's contract (LibvirtStoragePool): creating over an existing name is AlreadyExists,
// a layer needs its backing's format, deleting a volume another one is layered on is
// FailedPrecondition, freezing is all or nothing, merging folds the backing's data into the
// child. Data: each image may hold a string the "guest" wrote; reading an image that holds none
// reads its backing's, as a qcow2 layer does. Space: an image takes the size of what it holds
// (or what SetAllocation says); a merge of two layers takes the larger of the two, as layers
// written over the same clusters (a guest rewriting its files) do.
//
// Pools are reached through a FakeHost that sees them (FakeHost::AttachStorage): a view that
// fails with Unavailable while that host is unreachable, as a pool reached through a dead
// libvirt connection does. Faults are injected per operation.
//
// Thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/mutex.h"
#include "providers/hypervisor/hypervisor.h"
#include "providers/storage/qemu_img.h"
#include "providers/storage/storage_pool.h"

namespace vmk::providers {

enum class FakeStorageOp {
  kInfo, kCreate, kGet, kList, kDelete, kFreeze, kMerge, kSwitchTop, kInspect,
};
const char* FakeStorageOpName(FakeStorageOp op);

// Also the controller's ImageInspector: it answers for the images and volumes it holds.
class FakeStorage : public ImageInspector, public std::enable_shared_from_this<FakeStorage> {
 public:
  static constexpr int64_t kDefaultPoolCapacity = int64_t{1} << 40;  // 1 TiB

  // --- Set-up -------------------------------------------------------------------------------
  void AddPool(const std::string& name, const std::string& path,
               int64_t capacity_bytes = kDefaultPoolCapacity);
  void SetPoolActive(const std::string& name, bool active);
  // The pool is gone (undefined on every host); its volumes with it.
  void RemovePool(const std::string& name);
  // An image outside every pool (a base image), with what a reader sees in it.
  void AddImage(const std::string& path, ImageFormat format, int64_t size_bytes,
                std::string data = "");
  // The space the image at `path` takes in its pool (VolumeInfo::allocation_bytes).
  Status SetAllocation(const std::string& path, int64_t bytes);
  // A volume's file vanished behind the controller's back (rm, a lost NFS export).
  void RemoveVolumeBehindBack(const std::string& pool, const std::string& volume);

  // --- Data ---------------------------------------------------------------------------------
  // The guest writes into the image at `path` (a top). NotFound when there is none.
  Status WriteData(const std::string& path, std::string data);
  // What a reader of `path` sees: its own data, else its backing's, and so on ("" at the end).
  std::optional<std::string> ReadData(const std::string& path) const;

  // --- Faults and inspection ----------------------------------------------------------------
  void InjectFailure(FakeStorageOp op, Status status, int times = 1);
  // Every injected failure still pending is dropped.
  void ClearFailures();
  int CallCount(FakeStorageOp op) const;
  std::vector<VolumeInfo> Volumes(const std::string& pool) const;
  std::optional<VolumeInfo> VolumeAt(const std::string& path) const;

  // What qemu-img info would say of `path` (NotFound when nothing is there).
  StatusOr<ImageInfo> Inspect(const std::string& path) override;

  // A view of pool `name` for a host; `reachable` says whether that host answers.
  std::shared_ptr<StoragePool> Pool(const std::string& name, std::function<bool()> reachable);

  // For FakeHost::SnapshotDisks: each of `tops` (current path -> new path) gets a new empty
  // qcow2 layer at the new path over it, all or none. The new path must be in a pool.
  Status SwitchTops(const std::vector<std::pair<std::string, std::string>>& tops);
  // For FakeHost::CommitDiskLayer, QEMU's intermediate block commit in the chain of
  // `active_top`: `top` must sit directly on `base` below the active top. `base` then holds
  // what `top`'s reader saw, the image layered on `top` in that chain is layered on `base`, and
  // `top`'s file is left in place for the caller to delete (as libvirt leaves it).
  Status CommitLayer(const std::string& active_top, const std::string& base,
                     const std::string& top);

 private:
  friend class FakeStoragePool;

  struct Image {
    VolumeInfo info;
    std::optional<std::string> data;  // nullopt: reads through to the backing
  };
  struct PoolRecord {
    std::string path;
    bool active = true;
    int64_t capacity_bytes = 0;
    std::map<std::string, Image> volumes;
  };

  Status BeginCall(FakeStorageOp op) REQUIRES(mu_);
  StatusOr<PoolRecord*> PoolLocked(const std::string& name) REQUIRES(mu_);
  const Image* ImageAtLocked(const std::string& path) const REQUIRES(mu_);
  std::optional<std::string> EffectiveDataLocked(const std::string& path) const REQUIRES(mu_);
  std::vector<VolumeInfo> VolumesLocked(const PoolRecord& pool) const REQUIRES(mu_);
  bool HasChildLocked(const std::string& path, std::string* child) const REQUIRES(mu_);
  StatusOr<VolumeInfo> CreateLocked(PoolRecord& pool, const VolumeRequest& request)
      REQUIRES(mu_);

  // Operations behind FakeStoragePool.
  StatusOr<PoolInfo> Info(const std::string& pool);
  StatusOr<VolumeInfo> Create(const std::string& pool, const VolumeRequest& request);
  StatusOr<std::optional<VolumeInfo>> Get(const std::string& pool, const std::string& name);
  StatusOr<std::vector<VolumeInfo>> List(const std::string& pool);
  Status Delete(const std::string& pool, const std::string& name);
  StatusOr<std::vector<VolumeInfo>> Freeze(const std::string& pool,
                                           const std::vector<FreezeRequest>& requests);
  Status Merge(const std::string& pool, const std::string& child);

  mutable Mutex mu_;
  std::map<std::string, PoolRecord> pools_ GUARDED_BY(mu_);
  std::map<std::string, Image> images_ GUARDED_BY(mu_);  // outside the pools, by path
  std::map<FakeStorageOp, std::pair<Status, int>> failures_ GUARDED_BY(mu_);
  std::map<FakeStorageOp, int> calls_ GUARDED_BY(mu_);
};

}  // namespace vmk::providers
