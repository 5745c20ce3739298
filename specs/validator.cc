#include "specs/validator.h"

#include <map>
#include <set>
#include <utility>

#include "specs/decoder.h"

namespace vmk::specs {
namespace {

std::string Quoted(const std::string& s) { return "\"" + s + "\""; }

// The member `key` of `object`, or nullptr when `object` is not an object or has no such key.
const Json* Member(const Json& object, const char* key) {
  if (!object.is_object()) return nullptr;
  auto it = object.find(key);
  return it == object.end() ? nullptr : &*it;
}

// User-mode interfaces become QEMU devices at PCI slots 0x10 + N (see providers/hypervisor/libvirt/domain_xml.cc);
// slots end at 0x1f, and libvirt places its own devices from the low slots up.
constexpr size_t kMaxUserInterfaces = 8;

class SetValidator {
 public:
  SetValidator(const std::vector<Object>& objects,
               const std::function<bool(Kind, const std::string&)>& exists_in_store)
      : objects_(objects), exists_in_store_(exists_in_store) {}

  std::vector<Diagnostic> Run() {
    CheckDuplicates();
    for (const Object& o : objects_) {
      if (o.kind == Kind::kVirtualMachine) {
        CheckReferences(o);
        CheckDisks(o);
        CheckInterfaces(o);
        CheckExecProbe(o);
      } else if (o.kind == Kind::kStoragePool && o.spec.is_object()) {
        CheckHostList(o, "spec.hosts", Member(o.spec, "hosts"));
      }
    }
    return std::move(errors_);
  }

 private:
  void Error(const Object& o, const std::string& path, std::string message) {
    errors_.push_back(Diagnostic{o.LocationOf(path), path, std::move(message)});
  }

  bool Exists(Kind kind, const std::string& name) {
    if (names_[kind].count(name)) return true;
    return exists_in_store_ && exists_in_store_(kind, name);
  }

  void CheckDuplicates() {
    std::map<std::pair<Kind, std::string>, const Object*> first_by_key;
    std::map<std::string, const Object*> first_by_uri;
    for (const Object& o : objects_) {
      names_[o.kind].insert(o.metadata.name);
      auto [first, inserted] = first_by_key.emplace(std::make_pair(o.kind, o.metadata.name), &o);
      if (!inserted) {
        Error(o, "metadata.name",
              "duplicate " + std::string(KindName(o.kind)) + " " + Quoted(o.metadata.name) +
                  "; first defined at " + first->second->LocationOf("metadata.name").ToString());
        continue;  // its URI is the first one's business
      }
      if (o.kind != Kind::kHost || !o.spec.is_object()) continue;
      auto uri = o.spec.find("uri");
      if (uri == o.spec.end() || !uri->is_string()) continue;
      auto [first_host, uri_inserted] = first_by_uri.emplace(uri->get<std::string>(), &o);
      if (!uri_inserted) {
        Error(o, "spec.uri",
              "must be unique: Host " + Quoted(first_host->second->metadata.name) +
                  " has the same uri (" +
                  first_host->second->LocationOf("spec.uri").ToString() + ")");
      }
    }
  }

  void CheckReference(const Object& o, const std::string& path, Kind kind,
                      const std::string& name) {
    if (name.empty() || Exists(kind, name)) return;
    Error(o, path, std::string(KindName(kind)) + " " + Quoted(name) + " does not exist");
  }

  void CheckReferences(const Object& vm) {
    if (!vm.spec.is_object()) return;
    auto policy = vm.spec.find("snapshotPolicy");
    if (policy != vm.spec.end() && policy->is_string()) {
      CheckReference(vm, "spec.snapshotPolicy", Kind::kSnapshotPolicy, policy->get<std::string>());
    }
    if (const Json* disks = Member(vm.spec, "disks"); disks != nullptr && disks->is_array()) {
      for (size_t i = 0; i < disks->size(); ++i) {
        const Json* volume = Member((*disks)[i], "volume");
        const Json* pool = volume == nullptr ? nullptr : Member(*volume, "pool");
        if (pool == nullptr || !pool->is_string()) continue;
        CheckReference(vm, IndexFieldPath("spec.disks", i) + ".volume.pool", Kind::kStoragePool,
                       pool->get<std::string>());
      }
    }
    auto placement = vm.spec.find("placement");
    if (placement == vm.spec.end() || !placement->is_object()) return;
    for (const char* list : {"requiredHosts", "preferredHosts"}) {
      CheckHostList(vm, JoinFieldPath("spec.placement", list), Member(*placement, list));
    }
  }

  // Every entry of a list of Host names (when there is a list) names a Host.
  void CheckHostList(const Object& o, const std::string& path, const Json* hosts) {
    if (hosts == nullptr || !hosts->is_array()) return;
    for (size_t i = 0; i < hosts->size(); ++i) {
      const Json& host = (*hosts)[i];
      if (host.is_string()) {
        CheckReference(o, IndexFieldPath(path, i), Kind::kHost, host.get<std::string>());
      }
    }
  }

  // A disk is an image file or a volume, never both nor neither; the fields of the other kind of
  // disk stay unset. Checked here because the field table has no "one of" rule.
  void CheckDisks(const Object& vm) {
    const Json* disks = Member(vm.spec, "disks");
    if (disks == nullptr || !disks->is_array()) return;
    for (size_t i = 0; i < disks->size(); ++i) {
      const Json& disk = (*disks)[i];
      if (!disk.is_object()) continue;
      const std::string path = IndexFieldPath("spec.disks", i);
      const bool image = disk.contains("image");
      const Json* volume = Member(disk, "volume");
      if (!image && volume == nullptr) {
        Error(vm, path + ".image",
              "is required unless volume is given: a disk is an image file or a volume in a "
              "StoragePool");
      } else if (image && volume != nullptr) {
        Error(vm, path + ".volume",
              "must not be given together with image: a disk is an image file or a volume in "
              "a StoragePool, not both");
      } else if (volume != nullptr) {
        CheckVolumeDisk(vm, path, disk, *volume);
      }
    }
  }

  void CheckVolumeDisk(const Object& vm, const std::string& path, const Json& disk,
                       const Json& volume) {
    if (disk.contains("format")) {
      Error(vm, path + ".format",
            "must not be given with volume: the format of a volume's base image is "
            "volume.baseFormat");
    }
    if (disk.value("sizeGiB", 0) != 0) {
      Error(vm, path + ".sizeGiB",
            "must not be given with volume: the size of a volume is volume.sizeGiB");
    }
    if (volume.contains("baseImage")) return;
    if (volume.contains("baseFormat")) {
      Error(vm, path + ".volume.baseFormat", "must not be given without baseImage");
    }
    if (volume.value("sizeGiB", 0) < 1) {
      Error(vm, path + ".volume.sizeGiB",
            "must be at least 1 when baseImage is not given: an empty volume needs a size");
    }
  }

  // Rules between fields of one interface, and across interfaces, that the schema table cannot
  // express: a bridge or network name goes with its type only, port forwards only with user
  // networking, and a host port is forwarded once per VM.
  void CheckInterfaces(const Object& vm) {
    if (!vm.spec.is_object()) return;
    auto interfaces = vm.spec.find("interfaces");
    if (interfaces == vm.spec.end() || !interfaces->is_array()) return;
    std::map<int64_t, std::string> first_with_host_port;
    size_t user_interfaces = 0;
    for (size_t i = 0; i < interfaces->size(); ++i) {
      const Json& itf = (*interfaces)[i];
      if (!itf.is_object()) continue;
      std::string path = IndexFieldPath("spec.interfaces", i);
      std::string type = itf.value("type", "user");
      for (const char* source : {"bridge", "network"}) {
        bool given = itf.contains(source);
        if (type == source && !given) {
          Error(vm, JoinFieldPath(path, source), "is required when type is " + type);
        } else if (type != source && given) {
          Error(vm, JoinFieldPath(path, source),
                std::string("must not be set unless type is ") + source);
        }
      }
      if (type == "user" && ++user_interfaces == kMaxUserInterfaces + 1) {
        Error(vm, path,
              "must not be of type user: at most " + std::to_string(kMaxUserInterfaces) +
                  " interfaces of type user are allowed");
      }
      auto forwards = itf.find("portForwards");
      if (forwards == itf.end() || !forwards->is_array()) continue;
      if (type != "user" && !forwards->empty()) {
        Error(vm, JoinFieldPath(path, "portForwards"), "must be empty unless type is user");
        continue;
      }
      for (size_t f = 0; f < forwards->size(); ++f) {
        const Json& forward = (*forwards)[f];
        if (!forward.is_object() || !forward.contains("hostPort") ||
            !forward["hostPort"].is_number_integer()) {
          continue;
        }
        std::string port_path =
            JoinFieldPath(IndexFieldPath(JoinFieldPath(path, "portForwards"), f), "hostPort");
        int64_t port = forward["hostPort"].get<int64_t>();
        auto [first, inserted] = first_with_host_port.emplace(port, port_path);
        if (!inserted) {
          Error(vm, port_path,
                "must be unique within the VM: " + std::to_string(port) +
                    " is already forwarded by " + first->second);
        }
      }
    }
  }

  void CheckExecProbe(const Object& vm) {
    if (!vm.spec.is_object()) return;
    auto health = vm.spec.find("health");
    if (health == vm.spec.end() || !health->is_object()) return;
    auto exec = health->find("exec");
    if (exec == health->end() || !exec->is_object()) return;
    auto command = exec->find("command");
    if (command != exec->end() && command->is_array() && command->empty()) {
      Error(vm, "spec.health.exec.command", "must not be empty: it is the argv to run");
    }
  }

  const std::vector<Object>& objects_;
  const std::function<bool(Kind, const std::string&)>& exists_in_store_;
  std::map<Kind, std::set<std::string>> names_;
  std::vector<Diagnostic> errors_;
};

}  // namespace

std::vector<Diagnostic> ValidateObjectSet(
    const std::vector<Object>& objects,
    const std::function<bool(Kind, const std::string&)>& exists_in_store) {
  return SetValidator(objects, exists_in_store).Run();
}

}  // namespace vmk::specs
