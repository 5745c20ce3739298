// DiskResolver: what each of a VM's disks is on its host, the "storage" step of the VM
// reconcile (docs/storage.md).
//
//   image disk   the file is spec.disks[].image; its format is the declared one, else the one
//                recorded in the VM's status, else read once from the image (ImageInspector) and
//                recorded: never read again for the same image, since a guest may write a qcow2
//                header into its raw disk and a second reading would trust the guest.
//   volume disk  the file is the volume recorded in the status (a snapshot moves it to a new
//                top, so the record, not the spec, names it). The first time, the volume's name
//                is recorded (synced) and then the volume is created, over its base image (whose
//                format is declared or read) or empty: a controller killed in between finds the
//                volume it meant to create and adopts it. A recorded volume that is gone is
//                never created again (its data may only be missing for a while: an NFS mount
//                that is down); a volume of that name the controller did not record is never
//                taken over. Both block the VM with a condition until an admin acts.
//
// A pool the host does not see blocks the VM too (the scheduler places VMs only on hosts that
// should see their pools; this catches a host whose mount is missing). Thread-compatible: one
// per reconcile pass.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "providers/hypervisor/hypervisor.h"
#include "providers/storage/qemu_img.h"
#include "reconciler/core/object_status.h"
#include "reconciler/incidents/event_recorder.h"
#include "specs/types.h"

namespace vmk::reconciler {

// The name of the index-th layer of a VM's disk in its pool: "wms01.root.0.qcow2" (VM and disk
// names are DNS labels, so the dots separate them unambiguously).
std::string LayerVolumeName(const std::string& vm, const std::string& disk, int index);

class DiskResolver {
 public:
  // Why a disk cannot be used now: the Ready condition's reason and message.
  struct Blocked {
    std::string reason;  // DiskFormatUnknown, PoolUnavailable, VolumeMissing, VolumeConflict,
                         // VolumeCreateFailed
    std::string message;
  };
  struct Result {
    std::vector<DiskRecord> records;  // every disk of the spec, in its order
    std::optional<Blocked> blocked;   // set: records is incomplete and nothing may be defined
  };
  // Durably records the disks (a synced status write) before a volume is created.
  using RecordIntent = std::function<Status(const std::vector<DiskRecord>&)>;

  // `images` may be null: undeclared formats then block. `host` is where the VM is placed.
  DiskResolver(std::string vm, providers::Hypervisor* host, providers::ImageInspector* images,
               EventRecorder* events)
      : vm_(std::move(vm)), host_(host), images_(images), events_(events) {}

  // An error is transient (the host or the store did not answer): the pass is retried.
  StatusOr<Result> Resolve(const std::vector<specs::DiskSpec>& disks,
                           const std::vector<DiskRecord>& recorded,
                           const RecordIntent& record_intent);

 private:
  // Each fills `record` and returns nullopt, or says why the disk is blocked.
  StatusOr<std::optional<Blocked>> ResolveImage(const specs::DiskSpec& disk,
                                                const DiskRecord* recorded, DiskRecord* record);
  StatusOr<std::optional<Blocked>> ResolveVolume(const specs::DiskSpec& disk,
                                                 const DiskRecord* recorded, DiskRecord* record,
                                                 const std::function<Status()>& record_intent);
  StatusOr<std::optional<Blocked>> CreateVolume(const specs::DiskSpec& disk,
                                                providers::StoragePool& pool, bool intended,
                                                DiskRecord* record);
  // The format of `path`: `declared`, else read from the image.
  StatusOr<std::optional<Blocked>> FormatOf(const std::string& disk, const std::string& path,
                                            const std::optional<std::string>& declared,
                                            providers::ImageFormat* format);

  const std::string vm_;
  providers::Hypervisor* const host_;
  providers::ImageInspector* const images_;
  EventRecorder* const events_;
};

}  // namespace vmk::reconciler
