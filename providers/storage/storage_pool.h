// StoragePool: one storage pool as a host sees it, the storage edge of the controller.
//
// A pool holds volumes. A volume is one image (for the dir backend: one qcow2 or raw file) that
// may sit on a backing image; a VM disk is a chain of them, its top the volume the VM writes and
// the frozen layers under it its snapshots (docs/storage.md has the scheme, why it is built this
// way, and how LVM thin, ZFS and Ceph RBD pools map onto this interface). The interface knows
// nothing of VMs, snapshots' meaning or policies: the controller records which layer is what in
// its store, and uses this interface to make and inspect layers.
//
// A snapshot of a *running* VM switches its disks to new tops at one instant, which only the
// hypervisor running it can do (Hypervisor::SnapshotDisks); a stopped VM's disks are frozen here,
// by creating new tops over them (FreezeVolumes), one volume at a time but with nothing writing.
//
// Implementations: LibvirtStoragePool (libvirt's storage pool API over a host's connection, with
// qemu-img where libvirt 9.0 has no call) and FakeStoragePool (tests/fakes). A pool is reached
// through a host (Hypervisor::OpenStoragePool): a pool a host does not see is NotFound there.
//
// Every method is thread-safe and bounded in time like the hypervisor's calls.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace vmk::providers {

enum class ImageFormat { kRaw, kQcow2 };
const char* ImageFormatName(ImageFormat format);  // "raw", "qcow2"
std::optional<ImageFormat> ImageFormatFromName(std::string_view name);

struct PoolInfo {
  std::string name;
  std::string type;  // libvirt's pool type: "dir", "logical", "zfs", "rbd", ...
  std::string path;  // the target path: where its volumes' files are
  bool active = false;
  int64_t capacity_bytes = 0;
  int64_t allocation_bytes = 0;
  int64_t available_bytes = 0;
};

struct VolumeInfo {
  std::string name;  // unique in its pool
  std::string path;  // what a domain's disk source names
  ImageFormat format = ImageFormat::kRaw;
  int64_t capacity_bytes = 0;    // the size the guest sees
  int64_t allocation_bytes = 0;  // the space it takes in the pool
  // The image it is layered on (empty: none). May lie outside the pool (a base image).
  std::string backing_path;
  std::optional<ImageFormat> backing_format;
};

struct VolumeRequest {
  std::string name;
  // Empty: an empty volume of capacity_bytes. Otherwise a qcow2 layer over this image (in the
  // pool or not), whose format must be given: it is never guessed, a raw image holding a qcow2
  // header would otherwise let a guest read host files through its "backing file".
  std::string backing_path;
  std::optional<ImageFormat> backing_format;
  // With a backing image: 0 = the backing image's size, else at least that. Without: > 0.
  int64_t capacity_bytes = 0;
};

// A new top over an existing volume of the pool (FreezeVolumes, Hypervisor::SnapshotDisks).
struct FreezeRequest {
  std::string volume;   // the current top, frozen from now on
  std::string new_top;  // the name of the new, empty layer over it
};

class StoragePool {
 public:
  virtual ~StoragePool() = default;

  virtual const std::string& name() const = 0;

  // NotFound when the host does not see the pool (undefined there); FailedPrecondition when it
  // is defined but not active. Refreshes what the host knows of the pool's volumes first.
  virtual StatusOr<PoolInfo> Info() = 0;

  // AlreadyExists when a volume of that name is there (it is never replaced: it may hold data).
  virtual StatusOr<VolumeInfo> CreateVolume(const VolumeRequest& request) = 0;
  // nullopt when absent.
  virtual StatusOr<std::optional<VolumeInfo>> GetVolume(const std::string& name) = 0;
  // Sorted by name.
  virtual StatusOr<std::vector<VolumeInfo>> ListVolumes() = 0;
  // Ok when absent. FailedPrecondition when another volume of the pool is layered on it.
  virtual Status DeleteVolume(const std::string& name) = 0;

  // Freezes stopped volumes: a new empty qcow2 top over each, of the same size. The caller
  // guarantees nothing writes them (the VM is stopped, or its host fenced). All or nothing: on
  // failure the tops created so far are deleted again.
  virtual StatusOr<std::vector<VolumeInfo>> FreezeVolumes(
      const std::vector<FreezeRequest>& requests) = 0;

  // Makes `child` independent of the layer it sits on: the layer's data goes into the child,
  // which then sits on the layer's own backing image, so the layer can be deleted without
  // changing what the child's reader sees. The child must not be in use (a running VM's top is
  // merged by the hypervisor's block jobs instead). For pruning a snapshot layer.
  virtual Status MergeBackingIntoChild(const std::string& child) = 0;
};

// The chain of `top` in `volumes` (as ListVolumes returns them): top first, then the volume it
// is layered on, and so on while the backing image is a volume of the pool. NotFound when `top`
// is absent; Internal on a cycle.
StatusOr<std::vector<VolumeInfo>> VolumeChain(const std::vector<VolumeInfo>& volumes,
                                              const std::string& top);

// The volumes of `volumes` layered directly on `path`.
std::vector<std::string> VolumesBackedBy(const std::vector<VolumeInfo>& volumes,
                                         const std::string& path);

}  // namespace vmk::providers
