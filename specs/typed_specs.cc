// Typed views of canonical specs (declared in specs/types.h). The canonical JSON has every
// default filled in, so fields are read with at(): a missing one means the JSON did not come from
// the decoder, and that is reported rather than papered over with a second set of defaults.
#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "specs/types.h"

namespace vmk::specs {
namespace {

template <typename Fn>
auto Guarded(const char* what, Fn&& fn) -> StatusOr<decltype(fn())> {
  try {
    return fn();
  } catch (const Json::exception& e) {
    return Status::InvalidArgument(std::string("bad ") + what + " spec: " + e.what());
  }
}

std::map<std::string, std::string> StringMapAt(const Json& j, const char* key) {
  return j.at(key).get<std::map<std::string, std::string>>();
}

HttpProbeSpec HttpProbeFrom(const Json& j) {
  HttpProbeSpec out;
  out.port = j.at("port").get<int>();
  out.path = j.at("path").get<std::string>();
  return out;
}

HealthSpec HealthFrom(const Json& j) {
  HealthSpec out;
  if (j.contains("address")) out.address = j.at("address").get<std::string>();
  if (j.contains("http")) out.http = HttpProbeFrom(j.at("http"));
  if (j.contains("tcp")) out.tcp = TcpProbeSpec{j.at("tcp").at("port").get<int>()};
  if (j.contains("exec")) {
    out.exec = ExecProbeSpec{j.at("exec").at("command").get<std::vector<std::string>>()};
  }
  out.periodSeconds = j.at("periodSeconds").get<int>();
  out.timeoutSeconds = j.at("timeoutSeconds").get<int>();
  out.failureThreshold = j.at("failureThreshold").get<int>();
  out.startupGraceSeconds = j.at("startupGraceSeconds").get<int>();
  out.managementOutage = j.value("managementOutage", std::string("Wait"));
  return out;
}

BootSpec BootFrom(const Json& j) {
  BootSpec out;
  out.kernel = j.at("kernel").get<std::string>();
  if (j.contains("initrd")) out.initrd = j.at("initrd").get<std::string>();
  if (j.contains("cmdline")) out.cmdline = j.at("cmdline").get<std::string>();
  return out;
}

InterfaceSpec InterfaceFrom(const Json& j) {
  InterfaceSpec out;
  out.name = j.at("name").get<std::string>();
  std::string type = j.at("type").get<std::string>();
  std::optional<InterfaceSpec::Type> parsed = InterfaceTypeFromName(type);
  if (!parsed) {
    throw Json::other_error::create(501, "unknown interface type \"" + type + "\"", &j);
  }
  out.type = *parsed;
  if (j.contains("bridge")) out.bridge = j.at("bridge").get<std::string>();
  if (j.contains("network")) out.network = j.at("network").get<std::string>();
  for (const Json& f : j.at("portForwards")) {
    out.portForwards.push_back(PortForwardSpec{f.at("hostAddress").get<std::string>(),
                                               f.at("hostPort").get<int>(),
                                               f.at("guestPort").get<int>()});
  }
  return out;
}

// Optional members (image, format, volume, baseImage, baseFormat) are absent when not given;
// specs stored before volumes existed have no format and no volume.
DiskSpec DiskFrom(const Json& j) {
  DiskSpec out;
  out.name = j.at("name").get<std::string>();
  if (j.contains("image")) out.image = j.at("image").get<std::string>();
  out.sizeGiB = j.at("sizeGiB").get<int64_t>();
  if (j.contains("format")) out.format = j.at("format").get<std::string>();
  if (j.contains("volume")) {
    const Json& v = j.at("volume");
    VolumeDiskSpec volume;
    volume.pool = v.at("pool").get<std::string>();
    if (v.contains("baseImage")) volume.baseImage = v.at("baseImage").get<std::string>();
    if (v.contains("baseFormat")) volume.baseFormat = v.at("baseFormat").get<std::string>();
    volume.sizeGiB = v.at("sizeGiB").get<int64_t>();
    std::string policy = v.at("deletePolicy").get<std::string>();
    if (policy != "Retain" && policy != "Delete") {
      throw Json::other_error::create(501, "unknown deletePolicy \"" + policy + "\"", &v);
    }
    volume.deleteWithVm = policy == "Delete";
    out.volume = std::move(volume);
  }
  return out;
}

}  // namespace

StatusOr<HostSpec> HostSpecFromJson(const Json& spec) {
  return Guarded("Host", [&] {
    HostSpec out;
    out.uri = spec.at("uri").get<std::string>();
    if (spec.contains("capacity")) {
      const Json& c = spec.at("capacity");
      out.capacity = Capacity{c.at("cpus").get<int>(), c.at("memoryMiB").get<int64_t>()};
    }
    if (spec.contains("fencing")) {
      const Json& f = spec.at("fencing");
      FencingSpec fencing;
      fencing.agent = f.at("agent").get<std::string>();
      fencing.args = StringMapAt(f, "args");
      fencing.timeoutSeconds = f.at("timeoutSeconds").get<int>();
      out.fencing = std::move(fencing);
    }
    out.acknowledgeUnsafe = spec.at("acknowledgeUnsafe").get<bool>();
    out.schedulable = spec.at("schedulable").get<bool>();
    out.managementOutage = spec.value("managementOutage", std::string("Wait"));
    return out;
  });
}

StatusOr<VirtualMachineSpec> VirtualMachineSpecFromJson(const Json& spec) {
  return Guarded("VirtualMachine", [&] {
    VirtualMachineSpec out;
    out.running = spec.at("running").get<bool>();
    out.cpus = spec.at("cpus").get<int>();
    out.memoryMiB = spec.at("memoryMiB").get<int64_t>();
    for (const Json& d : spec.at("disks")) out.disks.push_back(DiskFrom(d));
    if (spec.contains("boot")) out.boot = BootFrom(spec.at("boot"));
    if (spec.contains("console")) {
      ConsoleSpec console;
      const Json& c = spec.at("console");
      if (c.contains("logFile")) console.logFile = c.at("logFile").get<std::string>();
      out.console = std::move(console);
    }
    // Absent in specs stored before interfaces existed: canonical JSON in the store is not
    // re-defaulted, so an old VM reads as one without interfaces.
    if (spec.contains("interfaces")) {
      for (const Json& i : spec.at("interfaces")) out.interfaces.push_back(InterfaceFrom(i));
    }
    const Json& p = spec.at("placement");
    out.placement.hostSelector = StringMapAt(p, "hostSelector");
    out.placement.requiredHosts = p.at("requiredHosts").get<std::vector<std::string>>();
    out.placement.preferredHosts = p.at("preferredHosts").get<std::vector<std::string>>();
    out.placement.spreadBy = p.at("spreadBy").get<std::string>();
    out.placement.priority = p.at("priority").get<int>();
    if (spec.contains("health")) out.health = HealthFrom(spec.at("health"));
    const Json& r = spec.at("restart");
    out.restart.limit = r.at("limit").get<int>();
    out.restart.windowSeconds = r.at("windowSeconds").get<int>();
    out.snapshotPolicy = spec.at("snapshotPolicy").get<std::string>();
    return out;
  });
}

StatusOr<SnapshotPolicySpec> SnapshotPolicySpecFromJson(const Json& spec) {
  return Guarded("SnapshotPolicy", [&] {
    SnapshotPolicySpec out;
    out.intervalSeconds = spec.at("intervalSeconds").get<int>();
    out.keep = spec.at("keep").get<int>();
    out.beforeChange = spec.at("beforeChange").get<bool>();
    out.beforeFailover = spec.at("beforeFailover").get<bool>();
    // Stored before the field existed: its default.
    out.rollbackDepth = spec.value("rollbackDepth", out.rollbackDepth);
    // Absent: no cap (a policy stored before the field existed has none).
    if (spec.contains("maxSnapshotGiB")) {
      out.maxSnapshotGiB = spec.at("maxSnapshotGiB").get<int64_t>();
    }
    return out;
  });
}

StatusOr<StoragePoolSpec> StoragePoolSpecFromJson(const Json& spec) {
  return Guarded("StoragePool", [&] {
    StoragePoolSpec out;
    out.type = spec.at("type").get<std::string>();
    out.path = spec.at("path").get<std::string>();
    out.hostSelector = StringMapAt(spec, "hostSelector");
    out.hosts = spec.at("hosts").get<std::vector<std::string>>();
    return out;
  });
}

bool PoolVisibleOnHost(const StoragePoolSpec& pool, const std::string& host_name,
                       const std::map<std::string, std::string>& host_labels) {
  for (const auto& [key, value] : pool.hostSelector) {
    auto label = host_labels.find(key);
    if (label == host_labels.end() || label->second != value) return false;
  }
  return pool.hosts.empty() ||
         std::find(pool.hosts.begin(), pool.hosts.end(), host_name) != pool.hosts.end();
}

}  // namespace vmk::specs
