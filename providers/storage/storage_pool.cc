#include "providers/storage/storage_pool.h"

#include <set>

namespace vmk::providers {

const char* ImageFormatName(ImageFormat format) {
  switch (format) {
    case ImageFormat::kRaw:
      return "raw";
    case ImageFormat::kQcow2:
      return "qcow2";
  }
  return "raw";
}

std::optional<ImageFormat> ImageFormatFromName(std::string_view name) {
  if (name == "raw") return ImageFormat::kRaw;
  if (name == "qcow2") return ImageFormat::kQcow2;
  return std::nullopt;
}

StatusOr<std::vector<VolumeInfo>> VolumeChain(const std::vector<VolumeInfo>& volumes,
                                              const std::string& top) {
  auto by_name = [&](const std::string& name) -> const VolumeInfo* {
    for (const auto& v : volumes) {
      if (v.name == name) return &v;
    }
    return nullptr;
  };
  auto by_path = [&](const std::string& path) -> const VolumeInfo* {
    for (const auto& v : volumes) {
      if (v.path == path) return &v;
    }
    return nullptr;
  };
  const VolumeInfo* current = by_name(top);
  if (current == nullptr) return Status::NotFound("volume " + top + " not found");
  std::vector<VolumeInfo> chain;
  std::set<std::string> seen;
  while (current != nullptr) {
    if (!seen.insert(current->path).second) {
      return Status::Internal("volume " + top + ": its backing chain loops at " + current->path);
    }
    chain.push_back(*current);
    current = current->backing_path.empty() ? nullptr : by_path(current->backing_path);
  }
  return chain;
}

std::vector<std::string> VolumesBackedBy(const std::vector<VolumeInfo>& volumes,
                                         const std::string& path) {
  std::vector<std::string> names;
  for (const auto& v : volumes) {
    if (!v.backing_path.empty() && v.backing_path == path) names.push_back(v.name);
  }
  return names;
}

}  // namespace vmk::providers
