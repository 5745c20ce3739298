#include "reconciler/vm/domain_config.h"

namespace vmk::reconciler {

providers::DomainConfig DesiredDomainConfig(const std::string& name,
                                            const specs::VirtualMachineSpec& spec,
                                            int64_t generation) {
  providers::DomainConfig c;
  c.name = name;
  c.cpus = spec.cpus;
  c.memoryMiB = spec.memoryMiB;
  c.generation = generation;
  for (size_t i = 0; i < spec.disks.size(); ++i) {
    const std::string& image = spec.disks[i].image;
    // The rule of the schema's `image` until disks declare or inspect their format (issue 7):
    // a name ending in .qcow2 is qcow2, anything else raw.
    bool qcow2 = image.size() >= 6 && image.compare(image.size() - 6, 6, ".qcow2") == 0;
    c.disks.push_back({spec.disks[i].name, image, providers::DefaultDiskTarget(i),
                       qcow2 ? providers::ImageFormat::kQcow2 : providers::ImageFormat::kRaw});
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
