#include "reconciler/vm/disk_resolver.h"

#include <algorithm>

namespace vmk::reconciler {

using providers::ImageFormat;
using providers::ImageFormatFromName;
using providers::ImageFormatName;
using specs::Kind;

namespace {

constexpr int64_t kGiB = int64_t{1} << 30;

void PutRecord(std::vector<DiskRecord>* records, const DiskRecord& record) {
  for (DiskRecord& r : *records) {
    if (r.name == record.name) {
      r = record;
      return;
    }
  }
  records->push_back(record);
}

}  // namespace

std::string LayerVolumeName(const std::string& vm, const std::string& disk, int index) {
  return vm + "." + disk + "." + std::to_string(index) + ".qcow2";
}

StatusOr<DiskResolver::Result> DiskResolver::Resolve(const std::vector<specs::DiskSpec>& disks,
                                                     const std::vector<DiskRecord>& recorded,
                                                     const RecordIntent& record_intent) {
  Result result;
  // What the status holds while this runs: the records so far, and the older ones of disks not
  // looked at yet (an intent written midway must not forget them).
  std::vector<DiskRecord> durable = recorded;
  for (const specs::DiskSpec& disk : disks) {
    auto it = std::find_if(recorded.begin(), recorded.end(),
                           [&](const DiskRecord& r) { return r.name == disk.name; });
    const DiskRecord* previous = it == recorded.end() ? nullptr : &*it;
    DiskRecord record;
    record.name = disk.name;
    StatusOr<std::optional<Blocked>> blocked =
        disk.volume ? ResolveVolume(disk, previous, &record,
                                    [&]() -> Status {
                                      PutRecord(&durable, record);
                                      return record_intent(durable);
                                    })
                    : ResolveImage(disk, previous, &record);
    if (!blocked.ok()) return blocked.status();
    if (*blocked) {
      result.blocked = std::move(**blocked);
      return result;
    }
    PutRecord(&durable, record);
    result.records.push_back(std::move(record));
  }
  return result;
}

StatusOr<std::optional<DiskResolver::Blocked>> DiskResolver::FormatOf(
    const std::string& disk, const std::string& path, const std::optional<std::string>& declared,
    ImageFormat* format) {
  if (declared) {
    *format = ImageFormatFromName(*declared).value_or(ImageFormat::kRaw);
    return std::optional<Blocked>();
  }
  if (images_ == nullptr) {
    return std::optional<Blocked>(Blocked{
        "DiskFormatUnknown", "disk " + disk + ": the format of " + path +
                                 " is not declared and this controller cannot read images"});
  }
  auto info = images_->Inspect(path);
  if (!info.ok()) {
    return std::optional<Blocked>(
        Blocked{"DiskFormatUnknown", "disk " + disk + ": cannot read the format of " + path +
                                         " (" + info.status().message() +
                                         "); declare it in the disk's format field"});
  }
  *format = info->format;
  events_->Normal(Kind::kVirtualMachine, vm_, "DiskFormatRead",
                  "disk " + disk + ": " + path + " is " + ImageFormatName(info->format));
  return std::optional<Blocked>();
}

StatusOr<std::optional<DiskResolver::Blocked>> DiskResolver::ResolveImage(
    const specs::DiskSpec& disk, const DiskRecord* recorded, DiskRecord* record) {
  record->image = disk.image;
  record->path = disk.image;
  if (!disk.format && recorded != nullptr && recorded->image == disk.image &&
      !recorded->format.empty()) {
    record->format = recorded->format;  // read once, when the image first appeared
    return std::optional<Blocked>();
  }
  ImageFormat format = ImageFormat::kRaw;
  auto blocked = FormatOf(disk.name, disk.image, disk.format, &format);
  if (!blocked.ok() || *blocked) return blocked;
  record->format = ImageFormatName(format);
  return std::optional<Blocked>();
}

StatusOr<std::optional<DiskResolver::Blocked>> DiskResolver::ResolveVolume(
    const specs::DiskSpec& disk, const DiskRecord* recorded, DiskRecord* record,
    const std::function<Status()>& record_intent) {
  const specs::VolumeDiskSpec& v = *disk.volume;
  record->pool = v.pool;
  std::shared_ptr<providers::StoragePool> pool = host_->OpenStoragePool(v.pool);
  const bool known = recorded != nullptr && recorded->pool == v.pool && !recorded->volume.empty();
  record->volume = known ? recorded->volume : LayerVolumeName(vm_, disk.name, 0);
  auto found = pool->GetVolume(record->volume);
  if (found.status().code() == StatusCode::kNotFound ||
      found.status().code() == StatusCode::kFailedPrecondition) {
    return std::optional<Blocked>(Blocked{
        "PoolUnavailable", "disk " + disk.name + ": host " + host_->uri() +
                               " does not see storage pool " + v.pool + " (" +
                               found.status().message() + ")"});
  }
  if (!found.ok()) return found.status();
  if (*found) {
    if (!known) {
      return std::optional<Blocked>(Blocked{
          "VolumeConflict", "disk " + disk.name + ": a volume " + record->volume +
                                " that vmkeeper did not create for this VM is in pool " + v.pool +
                                "; it is not taken over"});
    }
    record->path = (**found).path;
    record->format = ImageFormatName((**found).format);
    return std::optional<Blocked>();
  }
  if (known && !recorded->path.empty()) {
    return std::optional<Blocked>(Blocked{
        "VolumeMissing", "disk " + disk.name + ": its volume " + record->volume +
                             " is gone from pool " + v.pool +
                             "; it is not created again over data that may come back (restore "
                             "the file, or give the disk another name for a new volume)"});
  }
  if (!known) VMK_RETURN_IF_ERROR(record_intent());  // the name first, then the volume
  return CreateVolume(disk, *pool, known, record);
}

StatusOr<std::optional<DiskResolver::Blocked>> DiskResolver::CreateVolume(
    const specs::DiskSpec& disk, providers::StoragePool& pool, bool intended,
    DiskRecord* record) {
  const specs::VolumeDiskSpec& v = *disk.volume;
  providers::VolumeRequest request{record->volume, v.baseImage, std::nullopt, v.sizeGiB * kGiB};
  if (!v.baseImage.empty()) {
    ImageFormat base_format = ImageFormat::kRaw;
    auto blocked = FormatOf(disk.name, v.baseImage, v.baseFormat, &base_format);
    if (!blocked.ok() || *blocked) return blocked;
    request.backing_format = base_format;
  }
  auto made = pool.CreateVolume(request);
  if (made.status().code() == StatusCode::kAlreadyExists && intended) {
    // Created by this controller before it was stopped, after the name was recorded.
    auto again = pool.GetVolume(record->volume);
    if (!again.ok()) return again.status();
    if (!*again) return Status::Unavailable("volume " + record->volume + " came and went");
    made = std::move(**again);
  }
  if (made.status().code() == StatusCode::kInvalidArgument ||
      made.status().code() == StatusCode::kNotFound) {
    return std::optional<Blocked>(Blocked{
        "VolumeCreateFailed", "disk " + disk.name + ": creating volume " + record->volume +
                                  " in pool " + v.pool + " failed: " + made.status().message()});
  }
  if (!made.ok()) return made.status();
  record->path = made->path;
  record->format = ImageFormatName(made->format);
  events_->Normal(Kind::kVirtualMachine, vm_, "VolumeCreated",
                  "disk " + disk.name + ": volume " + record->volume + " in pool " + v.pool +
                      (v.baseImage.empty() ? " (empty)" : " over " + v.baseImage));
  return std::optional<Blocked>();
}

}  // namespace vmk::reconciler
