#include "providers/hypervisor/libvirt/libvirt_storage_pool.h"

#include <libvirt/libvirt.h>

#include <algorithm>
#include <cstdlib>
#include <set>
#include <sstream>

#include "providers/hypervisor/libvirt/domain_xml.h"
#include "providers/hypervisor/libvirt/libvirt_connection.h"
#include "providers/hypervisor/libvirt/xml_document.h"

namespace vmk::providers {

using libvirt_internal::Connection;
using libvirt_internal::RunBounded;

namespace {

using PoolHandle = libvirt_internal::Handle<virStoragePoolPtr, virStoragePoolFree>;
using VolHandle = libvirt_internal::Handle<virStorageVolPtr, virStorageVolFree>;

// The pool `name` on `c`: NotFound when undefined there, FailedPrecondition when inactive.
StatusOr<PoolHandle> LookupPool(Connection& c, const std::string& name) {
  PoolHandle pool(virStoragePoolLookupByName(c.conn, name.c_str()));
  if (pool.get() == nullptr) return c.Fail("storage pool " + name);
  int active = virStoragePoolIsActive(pool.get());
  if (active < 0) return c.Fail("state of storage pool " + name);
  if (active == 0) return Status::FailedPrecondition("storage pool " + name + " is not active");
  return pool;
}

Status Refresh(Connection& c, const PoolHandle& pool, const std::string& name) {
  if (virStoragePoolRefresh(pool.get(), 0) < 0) return c.Fail("refresh storage pool " + name);
  return Status::Ok();
}

int64_t ReadBytes(const XmlElement& parent, const char* child) {
  auto e = parent.Child(child);
  if (!e) return 0;
  return std::strtoll(e->Text().c_str(), nullptr, 10);  // libvirt reports unit='bytes'
}

// Path and format of a <target> or <backingStore> element.
void ReadPathAndFormat(const XmlElement& e, std::string* path,
                       std::optional<ImageFormat>* format) {
  if (auto p = e.Child("path")) *path = p->Text();
  if (auto f = e.Child("format")) {
    if (auto type = f->Attribute("type")) *format = ImageFormatFromName(*type);
  }
}

StatusOr<VolumeInfo> ParseVolumeXml(const std::string& xml) {
  VMK_ASSIGN_OR_RETURN(XmlDocument doc, XmlDocument::Parse(xml));
  XmlElement root = doc.root();
  VolumeInfo info;
  if (auto n = root.Child("name")) info.name = n->Text();
  info.capacity_bytes = ReadBytes(root, "capacity");
  info.allocation_bytes = ReadBytes(root, "allocation");
  std::optional<ImageFormat> format;
  if (auto target = root.Child("target")) ReadPathAndFormat(*target, &info.path, &format);
  if (!format) {
    return Status::InvalidArgument("volume " + info.name + " is neither raw nor qcow2");
  }
  info.format = *format;
  if (auto backing = root.Child("backingStore")) {
    ReadPathAndFormat(*backing, &info.backing_path, &info.backing_format);
  }
  return info;
}

StatusOr<VolumeInfo> ReadVolume(Connection& c, virStorageVolPtr vol, const std::string& what) {
  char* xml = virStorageVolGetXMLDesc(vol, 0);
  if (xml == nullptr) return c.Fail(what);
  std::string text = xml;
  std::free(xml);
  auto parsed = ParseVolumeXml(text);
  if (!parsed.ok()) return parsed.status().WithContext(what);
  return parsed;
}

StatusOr<std::vector<VolumeInfo>> ReadAllVolumes(Connection& c, const PoolHandle& pool,
                                                 const std::string& name) {
  virStorageVolPtr* vols = nullptr;
  int n = virStoragePoolListAllVolumes(pool.get(), &vols, 0);
  if (n < 0) return c.Fail("list volumes of storage pool " + name);
  std::vector<VolHandle> handles;
  for (int i = 0; i < n; ++i) handles.emplace_back(vols[i]);
  std::free(vols);
  std::vector<VolumeInfo> result;
  for (const VolHandle& h : handles) {
    const char* vol_name = virStorageVolGetName(h.get());
    auto info = ReadVolume(c, h.get(), std::string("volume ") + (vol_name ? vol_name : "?"));
    // A file libvirt cannot describe as raw or qcow2 (an ISO, a half-copied image) is not ours.
    if (info.status().code() == StatusCode::kInvalidArgument) continue;
    if (!info.ok()) return info.status();
    result.push_back(std::move(*info));
  }
  std::sort(result.begin(), result.end(),
            [](const VolumeInfo& a, const VolumeInfo& b) { return a.name < b.name; });
  return result;
}

}  // namespace

std::string VolumeCreateXml(const VolumeRequest& request) {
  std::ostringstream x;
  x << "<volume>\n  <name>" << XmlEscape(request.name) << "</name>\n";
  x << "  <capacity unit='bytes'>" << request.capacity_bytes << "</capacity>\n";
  x << "  <target>\n    <format type='qcow2'/>\n  </target>\n";
  if (!request.backing_path.empty()) {
    x << "  <backingStore>\n    <path>" << XmlEscape(request.backing_path) << "</path>\n";
    x << "    <format type='"
      << ImageFormatName(request.backing_format.value_or(ImageFormat::kRaw)) << "'/>\n";
    x << "  </backingStore>\n";
  }
  x << "</volume>\n";
  return x.str();
}

LibvirtStoragePool::LibvirtStoragePool(std::string name, std::string host_uri,
                                       ConnectionSource connection, Clock* clock,
                                       std::chrono::milliseconds call_timeout, QemuImg qemu_img)
    : name_(std::move(name)),
      host_uri_(std::move(host_uri)),
      connection_(std::move(connection)),
      clock_(clock),
      call_timeout_(call_timeout),
      qemu_img_(std::move(qemu_img)) {}

StatusOr<PoolInfo> LibvirtStoragePool::Info() {
  VMK_ASSIGN_OR_RETURN(auto conn, connection_());
  return RunBounded<StatusOr<PoolInfo>>(
      clock_, call_timeout_, conn, "storage pool " + name_ + " on " + host_uri_,
      [name = name_](Connection& c) -> StatusOr<PoolInfo> {
        VMK_ASSIGN_OR_RETURN(PoolHandle pool, LookupPool(c, name));
        VMK_RETURN_IF_ERROR(Refresh(c, pool, name));
        virStoragePoolInfo raw;
        if (virStoragePoolGetInfo(pool.get(), &raw) < 0) return c.Fail("storage pool " + name);
        PoolInfo info;
        info.name = name;
        info.active = raw.state == VIR_STORAGE_POOL_RUNNING;
        info.capacity_bytes = static_cast<int64_t>(raw.capacity);
        info.allocation_bytes = static_cast<int64_t>(raw.allocation);
        info.available_bytes = static_cast<int64_t>(raw.available);
        char* xml = virStoragePoolGetXMLDesc(pool.get(), 0);
        if (xml == nullptr) return c.Fail("storage pool " + name);
        auto doc = XmlDocument::Parse(xml);
        std::free(xml);
        if (!doc.ok()) return doc.status().WithContext("storage pool " + name);
        info.type = doc->root().Attribute("type").value_or("");
        if (auto target = doc->root().Child("target")) {
          if (auto path = target->Child("path")) info.path = path->Text();
        }
        return info;
      });
}

StatusOr<std::optional<VolumeInfo>> LibvirtStoragePool::LookupVolume(const std::string& volume,
                                                                     bool refresh) {
  VMK_ASSIGN_OR_RETURN(auto conn, connection_());
  return RunBounded<StatusOr<std::optional<VolumeInfo>>>(
      clock_, call_timeout_, conn, "volume " + volume + " in " + name_,
      [name = name_, volume, refresh](Connection& c) -> StatusOr<std::optional<VolumeInfo>> {
        VMK_ASSIGN_OR_RETURN(PoolHandle pool, LookupPool(c, name));
        if (refresh) VMK_RETURN_IF_ERROR(Refresh(c, pool, name));
        VolHandle vol(virStorageVolLookupByName(pool.get(), volume.c_str()));
        if (vol.get() == nullptr) {
          Status s = c.Fail("volume " + volume + " in " + name);
          if (s.code() == StatusCode::kNotFound) return std::optional<VolumeInfo>();
          return s;
        }
        VMK_ASSIGN_OR_RETURN(VolumeInfo info,
                             ReadVolume(c, vol.get(), "volume " + volume + " in " + name));
        return std::optional<VolumeInfo>(std::move(info));
      });
}

StatusOr<std::optional<VolumeInfo>> LibvirtStoragePool::GetVolume(const std::string& volume) {
  VMK_ASSIGN_OR_RETURN(auto found, LookupVolume(volume, /*refresh=*/false));
  if (found) return found;
  return LookupVolume(volume, /*refresh=*/true);  // a file libvirt has not seen yet
}

StatusOr<std::vector<VolumeInfo>> LibvirtStoragePool::ListVolumes() {
  VMK_ASSIGN_OR_RETURN(auto conn, connection_());
  return RunBounded<StatusOr<std::vector<VolumeInfo>>>(
      clock_, call_timeout_, conn, "volumes of " + name_,
      [name = name_](Connection& c) -> StatusOr<std::vector<VolumeInfo>> {
        VMK_ASSIGN_OR_RETURN(PoolHandle pool, LookupPool(c, name));
        VMK_RETURN_IF_ERROR(Refresh(c, pool, name));
        return ReadAllVolumes(c, pool, name);
      });
}

StatusOr<VolumeInfo> LibvirtStoragePool::CreateVolume(const VolumeRequest& request) {
  if (request.name.empty() || request.name.find('/') != std::string::npos) {
    return Status::InvalidArgument("volume name '" + request.name + "' is not a file name");
  }
  if (request.backing_path.empty() && request.capacity_bytes <= 0) {
    return Status::InvalidArgument("volume " + request.name + ": an empty volume needs a size");
  }
  if (!request.backing_path.empty() && !request.backing_format) {
    return Status::InvalidArgument("volume " + request.name + ": the format of " +
                                   request.backing_path + " is needed, never guessed");
  }
  VMK_ASSIGN_OR_RETURN(auto conn, connection_());
  return RunBounded<StatusOr<VolumeInfo>>(
      clock_, call_timeout_, conn, "create volume " + request.name + " in " + name_,
      [name = name_, request](Connection& c) -> StatusOr<VolumeInfo> {
        const std::string what = "create volume " + request.name + " in " + name;
        VMK_ASSIGN_OR_RETURN(PoolHandle pool, LookupPool(c, name));
        // A file of that name libvirt has not seen yet must not be overwritten: refresh first.
        VMK_RETURN_IF_ERROR(Refresh(c, pool, name));
        VolHandle existing(virStorageVolLookupByName(pool.get(), request.name.c_str()));
        if (existing.get() != nullptr) {
          return Status::AlreadyExists(what + ": it exists (never replaced: it may hold data)");
        }
        virResetLastError();
        std::string xml = VolumeCreateXml(request);
        VolHandle vol(virStorageVolCreateXML(pool.get(), xml.c_str(), 0));
        if (vol.get() == nullptr) return c.Fail(what);
        return ReadVolume(c, vol.get(), what);
      });
}

Status LibvirtStoragePool::DeleteVolume(const std::string& volume) {
  VMK_ASSIGN_OR_RETURN(auto conn, connection_());
  return RunBounded<Status>(
      clock_, call_timeout_, conn, "delete volume " + volume + " in " + name_,
      [name = name_, volume](Connection& c) -> Status {
        const std::string what = "delete volume " + volume + " in " + name;
        VMK_ASSIGN_OR_RETURN(PoolHandle pool, LookupPool(c, name));
        VMK_RETURN_IF_ERROR(Refresh(c, pool, name));
        VMK_ASSIGN_OR_RETURN(auto all, ReadAllVolumes(c, pool, name));
        auto it = std::find_if(all.begin(), all.end(),
                               [&](const VolumeInfo& v) { return v.name == volume; });
        if (it == all.end()) return Status::Ok();
        std::vector<std::string> children = VolumesBackedBy(all, it->path);
        if (!children.empty()) {
          return Status::FailedPrecondition(what + ": " + children.front() +
                                            " is layered on it");
        }
        VolHandle vol(virStorageVolLookupByName(pool.get(), volume.c_str()));
        if (vol.get() == nullptr) {
          Status s = c.Fail(what);
          return s.code() == StatusCode::kNotFound ? Status::Ok() : s;
        }
        if (virStorageVolDelete(vol.get(), 0) < 0) return c.Fail(what);
        return Status::Ok();
      });
}

StatusOr<std::vector<VolumeInfo>> LibvirtStoragePool::FreezeVolumes(
    const std::vector<FreezeRequest>& requests) {
  std::vector<VolumeInfo> created;
  auto undo = [&](Status failure) -> Status {
    for (auto it = created.rbegin(); it != created.rend(); ++it) {
      Status s = DeleteVolume(it->name);
      if (!s.ok()) failure = failure.WithContext("(left behind: " + it->name + ")");
    }
    return failure;
  };
  for (const FreezeRequest& r : requests) {
    auto current = GetVolume(r.volume);
    if (!current.ok()) return undo(current.status());
    if (!current->has_value()) return undo(Status::NotFound("volume " + r.volume + " not found"));
    const VolumeInfo& top = **current;
    auto made = CreateVolume({r.new_top, top.path, top.format, top.capacity_bytes});
    if (!made.ok()) return undo(made.status().WithContext("freeze " + r.volume));
    created.push_back(std::move(*made));
  }
  return created;
}

Status LibvirtStoragePool::MergeBackingIntoChild(const std::string& child) {
  VMK_ASSIGN_OR_RETURN(auto volumes, ListVolumes());
  auto child_it = std::find_if(volumes.begin(), volumes.end(),
                               [&](const VolumeInfo& v) { return v.name == child; });
  if (child_it == volumes.end()) return Status::NotFound("volume " + child + " not found");
  if (child_it->format != ImageFormat::kQcow2 || child_it->backing_path.empty()) {
    return Status::FailedPrecondition("volume " + child + " is not layered on anything");
  }
  // The layer's own backing: from the pool when the layer is a volume, else from its header.
  std::string new_backing;
  std::optional<ImageFormat> new_format;
  auto layer_it = std::find_if(volumes.begin(), volumes.end(), [&](const VolumeInfo& v) {
    return v.path == child_it->backing_path;
  });
  if (layer_it != volumes.end()) {
    new_backing = layer_it->backing_path;
    new_format = layer_it->backing_format;
  } else {
    VMK_ASSIGN_OR_RETURN(ImageInfo layer, qemu_img_.Info(child_it->backing_path));
    new_backing = layer.backing_path;
    new_format = layer.backing_format;
  }
  if (!new_backing.empty() && !new_format) {
    return Status::FailedPrecondition("merge into " + child + ": the format of " + new_backing +
                                      " is not recorded in its child");
  }
  VMK_RETURN_IF_ERROR(qemu_img_.Rebase(child_it->path, new_backing, new_format));
  return ListVolumes().status();  // libvirt reads the new chain
}

}  // namespace vmk::providers
