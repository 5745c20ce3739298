#include "tests/fakes/fake_storage.h"

#include <algorithm>

namespace vmk::providers {

const char* FakeStorageOpName(FakeStorageOp op) {
  switch (op) {
    case FakeStorageOp::kInfo: return "Info";
    case FakeStorageOp::kCreate: return "CreateVolume";
    case FakeStorageOp::kGet: return "GetVolume";
    case FakeStorageOp::kList: return "ListVolumes";
    case FakeStorageOp::kDelete: return "DeleteVolume";
    case FakeStorageOp::kFreeze: return "FreezeVolumes";
    case FakeStorageOp::kMerge: return "MergeBackingIntoChild";
    case FakeStorageOp::kSwitchTop: return "SwitchTops";
    case FakeStorageOp::kInspect: return "Inspect";
  }
  return "unknown";
}

// The StoragePool a FakeHost hands out: the shared storage, seen through that host.
class FakeStoragePool : public StoragePool {
 public:
  FakeStoragePool(std::shared_ptr<FakeStorage> storage, std::string name,
                  std::function<bool()> reachable)
      : storage_(std::move(storage)), name_(std::move(name)), reachable_(std::move(reachable)) {}

  const std::string& name() const override { return name_; }
  StatusOr<PoolInfo> Info() override {
    VMK_RETURN_IF_ERROR(Reach());
    return storage_->Info(name_);
  }
  StatusOr<VolumeInfo> CreateVolume(const VolumeRequest& request) override {
    VMK_RETURN_IF_ERROR(Reach());
    return storage_->Create(name_, request);
  }
  StatusOr<std::optional<VolumeInfo>> GetVolume(const std::string& name) override {
    VMK_RETURN_IF_ERROR(Reach());
    return storage_->Get(name_, name);
  }
  StatusOr<std::vector<VolumeInfo>> ListVolumes() override {
    VMK_RETURN_IF_ERROR(Reach());
    return storage_->List(name_);
  }
  Status DeleteVolume(const std::string& name) override {
    VMK_RETURN_IF_ERROR(Reach());
    return storage_->Delete(name_, name);
  }
  StatusOr<std::vector<VolumeInfo>> FreezeVolumes(
      const std::vector<FreezeRequest>& requests) override {
    VMK_RETURN_IF_ERROR(Reach());
    return storage_->Freeze(name_, requests);
  }
  Status MergeBackingIntoChild(const std::string& child) override {
    VMK_RETURN_IF_ERROR(Reach());
    return storage_->Merge(name_, child);
  }

 private:
  Status Reach() const {
    if (reachable_ && !reachable_()) {
      return Status::Unavailable("storage pool " + name_ + ": the host does not answer");
    }
    return Status::Ok();
  }
  std::shared_ptr<FakeStorage> storage_;
  std::string name_;
  std::function<bool()> reachable_;
};

// --- Set-up, data, inspection --------------------------------------------------------------

void FakeStorage::AddPool(const std::string& name, const std::string& path,
                          int64_t capacity_bytes) {
  MutexLock lock(&mu_);
  PoolRecord& pool = pools_[name];
  pool.path = path;
  pool.capacity_bytes = capacity_bytes;
}

void FakeStorage::SetPoolActive(const std::string& name, bool active) {
  MutexLock lock(&mu_);
  pools_[name].active = active;
}

void FakeStorage::RemovePool(const std::string& name) {
  MutexLock lock(&mu_);
  pools_.erase(name);
}

void FakeStorage::AddImage(const std::string& path, ImageFormat format, int64_t size_bytes,
                           std::string data) {
  MutexLock lock(&mu_);
  Image image;
  image.info.name = path.substr(path.rfind('/') + 1);
  image.info.path = path;
  image.info.format = format;
  image.info.capacity_bytes = size_bytes;
  image.info.allocation_bytes = static_cast<int64_t>(data.size());
  image.data = std::move(data);
  images_[path] = std::move(image);
}

Status FakeStorage::SetAllocation(const std::string& path, int64_t bytes) {
  MutexLock lock(&mu_);
  auto* image = const_cast<Image*>(ImageAtLocked(path));
  if (image == nullptr) return Status::NotFound("no image at " + path);
  image->info.allocation_bytes = bytes;
  return Status::Ok();
}

void FakeStorage::RemoveVolumeBehindBack(const std::string& pool, const std::string& volume) {
  MutexLock lock(&mu_);
  auto it = pools_.find(pool);
  if (it != pools_.end()) it->second.volumes.erase(volume);
}

Status FakeStorage::WriteData(const std::string& path, std::string data) {
  MutexLock lock(&mu_);
  auto* image = const_cast<Image*>(ImageAtLocked(path));
  if (image == nullptr) return Status::NotFound("no image at " + path);
  image->info.allocation_bytes = static_cast<int64_t>(data.size());
  image->data = std::move(data);
  return Status::Ok();
}

std::optional<std::string> FakeStorage::ReadData(const std::string& path) const {
  MutexLock lock(&mu_);
  return EffectiveDataLocked(path);
}

std::optional<std::string> FakeStorage::EffectiveDataLocked(const std::string& path) const {
  const Image* image = ImageAtLocked(path);
  if (image == nullptr) return std::nullopt;
  for (int depth = 0; image != nullptr && depth < 1000; ++depth) {
    if (image->data) return image->data;
    if (image->info.backing_path.empty()) return std::string();
    image = ImageAtLocked(image->info.backing_path);
  }
  return std::nullopt;  // a broken chain reads as nothing
}

void FakeStorage::InjectFailure(FakeStorageOp op, Status status, int times) {
  MutexLock lock(&mu_);
  failures_[op] = {std::move(status), times};
}

void FakeStorage::ClearFailures() {
  MutexLock lock(&mu_);
  failures_.clear();
}

int FakeStorage::CallCount(FakeStorageOp op) const {
  MutexLock lock(&mu_);
  auto it = calls_.find(op);
  return it == calls_.end() ? 0 : it->second;
}

std::vector<VolumeInfo> FakeStorage::Volumes(const std::string& pool) const {
  MutexLock lock(&mu_);
  auto it = pools_.find(pool);
  return it == pools_.end() ? std::vector<VolumeInfo>() : VolumesLocked(it->second);
}

std::optional<VolumeInfo> FakeStorage::VolumeAt(const std::string& path) const {
  MutexLock lock(&mu_);
  const Image* image = ImageAtLocked(path);
  if (image == nullptr) return std::nullopt;
  return image->info;
}

StatusOr<ImageInfo> FakeStorage::Inspect(const std::string& path) {
  MutexLock lock(&mu_);
  VMK_RETURN_IF_ERROR(BeginCall(FakeStorageOp::kInspect));
  const Image* image = ImageAtLocked(path);
  if (image == nullptr) return Status::NotFound("qemu-img info " + path + ": no such file");
  ImageInfo info;
  info.path = path;
  info.format = image->info.format;
  info.virtual_size_bytes = image->info.capacity_bytes;
  info.actual_size_bytes = image->info.allocation_bytes;
  info.backing_path = image->info.backing_path;
  info.backing_format = image->info.backing_format;
  return info;
}

std::shared_ptr<StoragePool> FakeStorage::Pool(const std::string& name,
                                               std::function<bool()> reachable) {
  return std::make_shared<FakeStoragePool>(shared_from_this(), name, std::move(reachable));
}

// --- Internals ---------------------------------------------------------------------------------

Status FakeStorage::BeginCall(FakeStorageOp op) {
  ++calls_[op];
  auto it = failures_.find(op);
  if (it == failures_.end()) return Status::Ok();
  Status s = it->second.first;
  if (it->second.second > 0 && --it->second.second == 0) failures_.erase(it);
  return s;
}

StatusOr<FakeStorage::PoolRecord*> FakeStorage::PoolLocked(const std::string& name) {
  auto it = pools_.find(name);
  if (it == pools_.end()) return Status::NotFound("storage pool " + name + " not found");
  if (!it->second.active) {
    return Status::FailedPrecondition("storage pool " + name + " is not active");
  }
  return &it->second;
}

const FakeStorage::Image* FakeStorage::ImageAtLocked(const std::string& path) const {
  for (const auto& [name, pool] : pools_) {
    for (const auto& [volume, image] : pool.volumes) {
      if (image.info.path == path) return &image;
    }
  }
  auto it = images_.find(path);
  return it == images_.end() ? nullptr : &it->second;
}

std::vector<VolumeInfo> FakeStorage::VolumesLocked(const PoolRecord& pool) const {
  std::vector<VolumeInfo> out;
  for (const auto& [name, image] : pool.volumes) out.push_back(image.info);
  return out;  // std::map: sorted by name
}

bool FakeStorage::HasChildLocked(const std::string& path, std::string* child) const {
  for (const auto& [name, pool] : pools_) {
    for (const auto& [volume, image] : pool.volumes) {
      if (image.info.backing_path == path) {
        *child = volume;
        return true;
      }
    }
  }
  return false;
}

StatusOr<VolumeInfo> FakeStorage::CreateLocked(PoolRecord& pool, const VolumeRequest& request) {
  if (request.name.empty() || request.name.find('/') != std::string::npos) {
    return Status::InvalidArgument("volume name '" + request.name + "' is not a file name");
  }
  if (pool.volumes.count(request.name) != 0) {
    return Status::AlreadyExists("volume " + request.name + " exists");
  }
  Image image;
  image.info.name = request.name;
  image.info.path = pool.path + "/" + request.name;
  image.info.format = ImageFormat::kQcow2;
  image.info.capacity_bytes = request.capacity_bytes;
  if (request.backing_path.empty()) {
    if (request.capacity_bytes <= 0) {
      return Status::InvalidArgument("volume " + request.name + ": an empty volume needs a size");
    }
    image.data = std::string();  // an empty disk reads as zeroes
  } else {
    if (!request.backing_format) {
      return Status::InvalidArgument("volume " + request.name + ": backing format needed");
    }
    const Image* backing = ImageAtLocked(request.backing_path);
    if (backing == nullptr) return Status::NotFound("no image at " + request.backing_path);
    image.info.backing_path = request.backing_path;
    image.info.backing_format = request.backing_format;
    image.info.capacity_bytes = std::max(request.capacity_bytes, backing->info.capacity_bytes);
  }
  pool.volumes[request.name] = image;
  return image.info;
}

// --- Operations ----------------------------------------------------------------------------------

StatusOr<PoolInfo> FakeStorage::Info(const std::string& name) {
  MutexLock lock(&mu_);
  VMK_RETURN_IF_ERROR(BeginCall(FakeStorageOp::kInfo));
  VMK_ASSIGN_OR_RETURN(PoolRecord * pool, PoolLocked(name));
  PoolInfo info;
  info.name = name;
  info.type = "dir";
  info.path = pool->path;
  info.active = pool->active;
  info.capacity_bytes = pool->capacity_bytes;
  for (const auto& [volume, image] : pool->volumes) {
    info.allocation_bytes += image.info.allocation_bytes;
  }
  info.available_bytes = info.capacity_bytes - info.allocation_bytes;
  return info;
}

StatusOr<VolumeInfo> FakeStorage::Create(const std::string& name, const VolumeRequest& request) {
  MutexLock lock(&mu_);
  VMK_RETURN_IF_ERROR(BeginCall(FakeStorageOp::kCreate));
  VMK_ASSIGN_OR_RETURN(PoolRecord * pool, PoolLocked(name));
  return CreateLocked(*pool, request);
}

StatusOr<std::optional<VolumeInfo>> FakeStorage::Get(const std::string& name,
                                                     const std::string& volume) {
  MutexLock lock(&mu_);
  VMK_RETURN_IF_ERROR(BeginCall(FakeStorageOp::kGet));
  VMK_ASSIGN_OR_RETURN(PoolRecord * pool, PoolLocked(name));
  auto it = pool->volumes.find(volume);
  if (it == pool->volumes.end()) return std::optional<VolumeInfo>();
  return std::optional<VolumeInfo>(it->second.info);
}

StatusOr<std::vector<VolumeInfo>> FakeStorage::List(const std::string& name) {
  MutexLock lock(&mu_);
  VMK_RETURN_IF_ERROR(BeginCall(FakeStorageOp::kList));
  VMK_ASSIGN_OR_RETURN(PoolRecord * pool, PoolLocked(name));
  return VolumesLocked(*pool);
}

Status FakeStorage::Delete(const std::string& name, const std::string& volume) {
  MutexLock lock(&mu_);
  VMK_RETURN_IF_ERROR(BeginCall(FakeStorageOp::kDelete));
  VMK_ASSIGN_OR_RETURN(PoolRecord * pool, PoolLocked(name));
  auto it = pool->volumes.find(volume);
  if (it == pool->volumes.end()) return Status::Ok();
  std::string child;
  if (HasChildLocked(it->second.info.path, &child)) {
    return Status::FailedPrecondition("delete volume " + volume + ": " + child +
                                      " is layered on it");
  }
  pool->volumes.erase(it);
  return Status::Ok();
}

StatusOr<std::vector<VolumeInfo>> FakeStorage::Freeze(const std::string& name,
                                                      const std::vector<FreezeRequest>& requests) {
  MutexLock lock(&mu_);
  VMK_RETURN_IF_ERROR(BeginCall(FakeStorageOp::kFreeze));
  VMK_ASSIGN_OR_RETURN(PoolRecord * pool, PoolLocked(name));
  PoolRecord before = *pool;  // all or nothing
  std::vector<VolumeInfo> created;
  for (const FreezeRequest& r : requests) {
    auto top = pool->volumes.find(r.volume);
    if (top == pool->volumes.end()) {
      *pool = std::move(before);
      return Status::NotFound("volume " + r.volume + " not found");
    }
    VolumeInfo frozen = top->second.info;
    auto made = CreateLocked(*pool, {r.new_top, frozen.path, frozen.format, 0});
    if (!made.ok()) {
      *pool = std::move(before);
      return made.status().WithContext("freeze " + r.volume);
    }
    created.push_back(*made);
  }
  return created;
}

Status FakeStorage::Merge(const std::string& name, const std::string& child) {
  MutexLock lock(&mu_);
  VMK_RETURN_IF_ERROR(BeginCall(FakeStorageOp::kMerge));
  VMK_ASSIGN_OR_RETURN(PoolRecord * pool, PoolLocked(name));
  auto it = pool->volumes.find(child);
  if (it == pool->volumes.end()) return Status::NotFound("volume " + child + " not found");
  Image& image = it->second;
  if (image.info.backing_path.empty()) {
    return Status::FailedPrecondition("volume " + child + " is not layered on anything");
  }
  const Image* layer = ImageAtLocked(image.info.backing_path);
  if (layer == nullptr) return Status::NotFound("no image at " + image.info.backing_path);
  // What the child showed through the layer becomes its own (qemu-img rebase's copy).
  if (!image.data) image.data = EffectiveDataLocked(image.info.path).value_or("");
  image.info.allocation_bytes =
      std::max(image.info.allocation_bytes, layer->info.allocation_bytes);
  image.info.backing_path = layer->info.backing_path;
  image.info.backing_format = layer->info.backing_format;
  return Status::Ok();
}

Status FakeStorage::CommitLayer(const std::string& active_top, const std::string& base,
                                const std::string& top) {
  MutexLock lock(&mu_);
  const std::string what = "commit of " + top + " into " + base;
  // The chain QEMU holds, from the active top down; the image over `top` in it.
  Image* over = nullptr;
  Image* current = const_cast<Image*>(ImageAtLocked(active_top));
  for (int depth = 0; current != nullptr && depth < 1000; ++depth) {
    if (current->info.backing_path == top) {
      over = current;
      break;
    }
    if (current->info.backing_path.empty()) break;
    current = const_cast<Image*>(ImageAtLocked(current->info.backing_path));
  }
  Image* top_image = const_cast<Image*>(ImageAtLocked(top));
  Image* base_image = const_cast<Image*>(ImageAtLocked(base));
  if (over == nullptr || top_image == nullptr || base_image == nullptr ||
      top_image->info.backing_path != base) {
    return Status::InvalidArgument(what + ": not an intermediate layer directly over the base "
                                   "in the chain of " + active_top);
  }
  base_image->data = EffectiveDataLocked(top);
  base_image->info.allocation_bytes =
      std::max(base_image->info.allocation_bytes, top_image->info.allocation_bytes);
  over->info.backing_path = base;
  over->info.backing_format = base_image->info.format;
  return Status::Ok();
}

Status FakeStorage::SwitchTops(const std::vector<std::pair<std::string, std::string>>& tops) {
  MutexLock lock(&mu_);
  VMK_RETURN_IF_ERROR(BeginCall(FakeStorageOp::kSwitchTop));
  auto before = pools_;
  for (const auto& [current, next] : tops) {
    const Image* top = ImageAtLocked(current);
    std::string dir = next.substr(0, next.rfind('/'));
    auto pool = std::find_if(pools_.begin(), pools_.end(),
                             [&](const auto& p) { return p.second.path == dir; });
    if (top == nullptr || pool == pools_.end()) {
      pools_ = std::move(before);
      return Status::InvalidArgument("switch " + current + " to " + next +
                                     ": not an image, or not into a pool");
    }
    VolumeRequest request{next.substr(next.rfind('/') + 1), current, top->info.format, 0};
    auto made = CreateLocked(pool->second, request);
    if (!made.ok()) {
      pools_ = std::move(before);
      return made.status();
    }
  }
  return Status::Ok();
}

}  // namespace vmk::providers
