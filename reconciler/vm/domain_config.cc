#include "reconciler/vm/domain_config.h"

namespace vmk::reconciler {

providers::DomainConfig DesiredDomainConfig(const std::string& name,
                                            const specs::VirtualMachineSpec& spec,
                                            int64_t generation,
                                            const std::vector<DiskRecord>& disks) {
  providers::DomainConfig c;
  c.name = name;
  c.cpus = spec.cpus;
  c.memoryMiB = spec.memoryMiB;
  c.generation = generation;
  for (size_t i = 0; i < spec.disks.size(); ++i) {
    providers::DiskConfig disk{spec.disks[i].name, "", providers::DefaultDiskTarget(i),
                               providers::ImageFormat::kRaw};
    for (const DiskRecord& r : disks) {
      if (r.name != disk.name) continue;
      disk.source = r.path;
      disk.format = providers::ImageFormatFromName(r.format).value_or(providers::ImageFormat::kRaw);
    }
    c.disks.push_back(std::move(disk));
  }
  if (spec.boot) c.boot = {spec.boot->kernel, spec.boot->initrd, spec.boot->cmdline};
  if (spec.console) c.console_log_file = spec.console->logFile;
  for (const specs::InterfaceSpec& itf : spec.interfaces) {
    providers::InterfaceConfig out;
    out.name = itf.name;
    switch (itf.type) {
      case specs::InterfaceSpec::Type::kUser:
        out.type = providers::InterfaceConfig::Type::kUser;
        break;
      case specs::InterfaceSpec::Type::kBridge:
        out.type = providers::InterfaceConfig::Type::kBridge;
        out.source = itf.bridge;
        break;
      case specs::InterfaceSpec::Type::kNetwork:
        out.type = providers::InterfaceConfig::Type::kNetwork;
        out.source = itf.network;
        break;
    }
    for (const specs::PortForwardSpec& f : itf.portForwards) {
      out.port_forwards.push_back({f.hostAddress, f.hostPort, f.guestPort});
    }
    c.interfaces.push_back(std::move(out));
  }
  return c;
}

}  // namespace vmk::reconciler
