// LibvirtStoragePool: a StoragePool through one host's libvirt connection (libvirt's storage
// pool API: virStoragePool*, virStorageVol*), for pools of type dir (qcow2 and raw files in a
// directory shared by the hosts). libvirt 9.0 has no call to rebase an image that is not in use,
// so MergeBackingIntoChild runs qemu-img on the controller's machine (QemuImg), which must see
// the pool's directory at the same path.
//
// Created by LibvirtHypervisor::OpenStoragePool; valid while that hypervisor lives. Each call
// takes the hypervisor's current connection and runs on its call thread, bounded like the
// hypervisor's own calls. libvirt learns of files it did not create (the new tops QEMU writes
// for a snapshot, images copied in) only when it refreshes the pool: Info and ListVolumes
// refresh first, and GetVolume refreshes once when the name is unknown.
//
// Thread-safe.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "common/clock.h"
#include "providers/storage/qemu_img.h"
#include "providers/storage/storage_pool.h"

namespace vmk::providers {

namespace libvirt_internal {
struct Connection;
}  // namespace libvirt_internal

class LibvirtStoragePool : public StoragePool {
 public:
  using ConnectionSource =
      std::function<StatusOr<std::shared_ptr<libvirt_internal::Connection>>()>;

  LibvirtStoragePool(std::string name, std::string host_uri, ConnectionSource connection,
                     Clock* clock, std::chrono::milliseconds call_timeout,
                     QemuImg qemu_img = QemuImg());

  const std::string& name() const override { return name_; }
  StatusOr<PoolInfo> Info() override;
  StatusOr<VolumeInfo> CreateVolume(const VolumeRequest& request) override;
  StatusOr<std::optional<VolumeInfo>> GetVolume(const std::string& name) override;
  StatusOr<std::vector<VolumeInfo>> ListVolumes() override;
  Status DeleteVolume(const std::string& name) override;
  StatusOr<std::vector<VolumeInfo>> FreezeVolumes(
      const std::vector<FreezeRequest>& requests) override;
  Status MergeBackingIntoChild(const std::string& child) override;

 private:
  // Looks `name` up, refreshing the pool first when `refresh`.
  StatusOr<std::optional<VolumeInfo>> LookupVolume(const std::string& name, bool refresh);

  const std::string name_;
  const std::string host_uri_;
  ConnectionSource connection_;
  Clock* const clock_;
  const std::chrono::milliseconds call_timeout_;
  const QemuImg qemu_img_;
};

// The volume XML libvirt is asked to create for `request` (format qcow2; exposed for tests).
std::string VolumeCreateXml(const VolumeRequest& request);

}  // namespace vmk::providers
