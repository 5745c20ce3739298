#include "providers/hypervisor/libvirt/domain_xml.h"

#include <cctype>
#include <charconv>
#include <cstdio>
#include <optional>
#include <sstream>

#include "providers/hypervisor/libvirt/xml_document.h"

namespace vmk::providers {
namespace {

constexpr char kQemuNamespace[] = "http://libvirt.org/schemas/domain/qemu/1.0";

const char* InterfaceTypeName(InterfaceConfig::Type type) {
  switch (type) {
    case InterfaceConfig::Type::kUser: return "user";
    case InterfaceConfig::Type::kBridge: return "bridge";
    case InterfaceConfig::Type::kNetwork: return "network";
  }
  return "user";
}

std::optional<InterfaceConfig::Type> InterfaceTypeFromName(const std::string& name) {
  for (auto type : {InterfaceConfig::Type::kUser, InterfaceConfig::Type::kBridge,
                    InterfaceConfig::Type::kNetwork}) {
    if (name == InterfaceTypeName(type)) return type;
  }
  return std::nullopt;
}

std::string Trim(const std::string& s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return s.substr(b, e - b);
}

bool ParseInt64(const std::string& text, int64_t* out) {
  std::string t = Trim(text);
  if (t.empty()) return false;
  auto [ptr, ec] = std::from_chars(t.data(), t.data() + t.size(), *out);
  return ec == std::errc() && ptr == t.data() + t.size();
}

// The non-empty items of a comma-separated owner-mark list, trimmed.
std::vector<std::string> SplitList(const std::string& text) {
  std::vector<std::string> items;
  std::stringstream list(text);
  for (std::string item; std::getline(list, item, ',');) {
    item = Trim(item);
    if (!item.empty()) items.push_back(std::move(item));
  }
  return items;
}

// Bytes per unit of libvirt's scaled integers (<memory unit='KiB'>); 0 when unknown.
uint64_t UnitBytes(const std::string& unit) {
  if (unit.empty() || unit == "KiB" || unit == "k" || unit == "K") return 1024;
  if (unit == "b" || unit == "bytes") return 1;
  if (unit == "KB") return 1000;
  if (unit == "MiB" || unit == "M" || unit == "m") return 1024ull * 1024;
  if (unit == "MB") return 1000ull * 1000;
  if (unit == "GiB" || unit == "G" || unit == "g") return 1024ull * 1024 * 1024;
  if (unit == "GB") return 1000ull * 1000 * 1000;
  if (unit == "TiB" || unit == "T" || unit == "t") return 1024ull * 1024 * 1024 * 1024;
  if (unit == "TB") return 1000ull * 1000 * 1000 * 1000;
  return 0;
}

// Disk and interface names are the spec's, disk targets the domain's; ':' ',' '=' and '%' are
// percent-encoded so the lists in the owner mark stay parseable.
std::string EncodeMarkName(const std::string& name) {
  std::string out;
  for (char c : name) {
    if (c == ':' || c == ',' || c == '=' || c == '%') {
      char buf[4];
      std::snprintf(buf, sizeof(buf), "%%%02X", static_cast<unsigned char>(c));
      out += buf;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::string DecodeMarkName(const std::string& text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size()) {
      unsigned value = 0;
      auto [ptr, ec] = std::from_chars(text.data() + i + 1, text.data() + i + 3, value, 16);
      if (ec == std::errc() && ptr == text.data() + i + 3) {
        out.push_back(static_cast<char>(value));
        i += 2;
        continue;
      }
    }
    out.push_back(text[i]);
  }
  return out;
}

StatusOr<OwnerMark> OwnerMarkFromElement(const XmlElement& element) {
  OwnerMark mark;
  if (auto vm = element.Attribute("vm")) mark.vm = *vm;
  if (auto gen = element.Attribute("generation")) {
    if (!ParseInt64(*gen, &mark.generation)) {
      return Status::InvalidArgument("owner mark: bad generation '" + *gen + "'");
    }
  }
  if (auto disks = element.Attribute("disks")) {
    std::stringstream list(*disks);
    std::string item;
    while (std::getline(list, item, ',')) {
      item = Trim(item);
      if (item.empty()) continue;
      size_t colon = item.find(':');
      if (colon == std::string::npos) {
        return Status::InvalidArgument("owner mark: bad disk entry '" + item + "'");
      }
      mark.disk_targets.emplace_back(DecodeMarkName(item.substr(0, colon)),
                                     DecodeMarkName(item.substr(colon + 1)));
    }
  }
  if (auto interfaces = element.Attribute("interfaces")) {
    for (const std::string& item : SplitList(*interfaces)) {
      size_t colon = item.find(':');
      std::optional<InterfaceConfig::Type> type;
      if (colon != std::string::npos) type = InterfaceTypeFromName(item.substr(colon + 1));
      if (!type) return Status::InvalidArgument("owner mark: bad interface entry '" + item + "'");
      InterfaceConfig itf;
      itf.name = DecodeMarkName(item.substr(0, colon));
      itf.type = *type;
      mark.interfaces.push_back(std::move(itf));
    }
  }
  if (auto forwards = element.Attribute("hostfwd")) {
    for (const std::string& item : SplitList(*forwards)) {
      // NAME=ADDRESS:HOSTPORT:GUESTPORT (addresses are IPv4: no ':' inside).
      size_t eq = item.find('=');
      size_t c1 = item.find(':', eq == std::string::npos ? 0 : eq);
      size_t c2 = c1 == std::string::npos ? c1 : item.find(':', c1 + 1);
      PortForwardConfig f;
      int64_t host_port = 0, guest_port = 0;
      if (eq == std::string::npos || c2 == std::string::npos ||
          !ParseInt64(item.substr(c1 + 1, c2 - c1 - 1), &host_port) ||
          !ParseInt64(item.substr(c2 + 1), &guest_port)) {
        return Status::InvalidArgument("owner mark: bad hostfwd entry '" + item + "'");
      }
      f.host_address = item.substr(eq + 1, c1 - eq - 1);
      f.host_port = static_cast<int>(host_port);
      f.guest_port = static_cast<int>(guest_port);
      std::string name = DecodeMarkName(item.substr(0, eq));
      InterfaceConfig* owner = nullptr;
      for (InterfaceConfig& itf : mark.interfaces) {
        if (itf.name == name) owner = &itf;
      }
      if (owner == nullptr) {
        return Status::InvalidArgument("owner mark: hostfwd entry '" + item +
                                       "' names no interface");
      }
      owner->port_forwards.push_back(std::move(f));
    }
  }
  return mark;
}

// QEMU's -netdev user,id=hostfwdN option and its virtio-net-pci device: user-mode interface N
// (counted among user-mode interfaces) of a QEMU-flavor domain.
std::string UserNetdevId(size_t index) { return "hostfwd" + std::to_string(index); }

std::string UserNetdevArg(const InterfaceConfig& itf, size_t index) {
  std::string arg = "user,id=" + UserNetdevId(index);
  for (const PortForwardConfig& f : itf.port_forwards) {
    arg += ",hostfwd=tcp:" + f.host_address + ":" + std::to_string(f.host_port) + "-:" +
           std::to_string(f.guest_port);
  }
  return arg;
}

std::string UserDeviceArg(size_t index) {
  // PCI slots 0x10 and up, as the reference guests use: far above the slots libvirt assigns to
  // its own devices from 0x02 upwards. The spec allows at most 8 user-mode interfaces.
  char addr[24];
  std::snprintf(addr, sizeof(addr), "0x%zx", 0x10 + index);
  return "virtio-net-pci,netdev=" + UserNetdevId(index) + ",addr=" + addr;
}

// The user-mode interfaces of a QEMU-flavor domain, read from the -netdev user / -device pairs
// of its <qemu:commandline>, in order. A netdev without its device gives the guest no NIC and is
// left out; a hostfwd rule other than tcp:ADDR:PORT-:PORT reads as a forward of port 0, which no
// valid config has, so both show as drift.
std::vector<InterfaceConfig> UserInterfacesFromCommandline(const XmlElement& commandline) {
  std::vector<std::string> args;
  for (const XmlElement& arg : commandline.Children()) {
    if (arg.name() != "arg") continue;  // <qemu:arg>, whatever the prefix
    args.push_back(arg.Attribute("value").value_or(""));
  }
  std::vector<std::pair<std::string, InterfaceConfig>> netdevs;  // (id, interface)
  std::vector<std::string> device_netdevs;
  for (size_t i = 0; i + 1 < args.size(); ++i) {
    const std::string& option = args[i];
    if (option != "-netdev" && option != "-device") continue;
    std::vector<std::string> parts;
    std::stringstream list(args[++i]);
    for (std::string part; std::getline(list, part, ',');) parts.push_back(part);
    if (option == "-device") {
      for (const std::string& part : parts) {
        if (part.rfind("netdev=", 0) == 0) device_netdevs.push_back(part.substr(7));
      }
      continue;
    }
    if (parts.empty() || parts[0] != "user") continue;
    std::string id;
    InterfaceConfig itf;
    itf.type = InterfaceConfig::Type::kUser;
    for (size_t p = 1; p < parts.size(); ++p) {
      const std::string& part = parts[p];
      if (part.rfind("id=", 0) == 0) {
        id = part.substr(3);
      } else if (part.rfind("hostfwd=", 0) == 0) {
        PortForwardConfig f;
        f.host_port = 0;
        std::string rule = part.substr(8);  // tcp:ADDR:HOSTPORT-:GUESTPORT
        size_t c1 = rule.find(':');
        size_t c2 = c1 == std::string::npos ? c1 : rule.find(':', c1 + 1);
        size_t dash = c2 == std::string::npos ? c2 : rule.find("-:", c2 + 1);
        int64_t host_port = 0, guest_port = 0;
        if (rule.compare(0, 4, "tcp:") == 0 && dash != std::string::npos &&
            ParseInt64(rule.substr(c2 + 1, dash - c2 - 1), &host_port) &&
            ParseInt64(rule.substr(dash + 2), &guest_port)) {
          f.host_address = rule.substr(c1 + 1, c2 - c1 - 1);
          f.host_port = static_cast<int>(host_port);
          f.guest_port = static_cast<int>(guest_port);
        } else {
          f.host_address = rule;
        }
        itf.port_forwards.push_back(std::move(f));
      }
    }
    netdevs.emplace_back(std::move(id), std::move(itf));
  }
  std::vector<InterfaceConfig> out;
  for (auto& [id, itf] : netdevs) {
    bool has_device = false;
    for (const std::string& used : device_netdevs) has_device = has_device || used == id;
    if (has_device) out.push_back(std::move(itf));
  }
  return out;
}

// The owner mark's line in <metadata> (see domain_xml.h).
void WriteOwnerMark(const DomainConfig& config, bool qemu, std::ostringstream& x) {
  std::string disk_list;
  for (size_t i = 0; i < config.disks.size(); ++i) {
    const DiskConfig& d = config.disks[i];
    if (!disk_list.empty()) disk_list += ",";
    // The target too: one read from an edited domain may hold a ',' or ':' (found by fuzzing:
    // the mark written was then unreadable).
    disk_list += EncodeMarkName(d.name) + ":" +
                 EncodeMarkName(d.target.empty() ? DefaultDiskTarget(i) : d.target);
  }
  std::string interface_list;
  std::string forward_list;
  for (const InterfaceConfig& itf : config.interfaces) {
    if (!interface_list.empty()) interface_list += ",";
    interface_list += EncodeMarkName(itf.name) + ":" + InterfaceTypeName(itf.type);
    if (itf.type != InterfaceConfig::Type::kUser) continue;
    for (const PortForwardConfig& f : itf.port_forwards) {
      if (!forward_list.empty()) forward_list += ",";
      forward_list += EncodeMarkName(itf.name) + "=" + f.host_address + ":" +
                      std::to_string(f.host_port) + ":" + std::to_string(f.guest_port);
    }
  }
  x << "    <" << kOwnerPrefix << ":owner xmlns:" << kOwnerPrefix << "=\"" << kOwnerNamespace
    << "\" vm=\"" << XmlEscape(config.name) << "\" generation=\"" << config.generation
    << "\" disks=\"" << XmlEscape(disk_list) << "\"";
  if (!interface_list.empty()) x << " interfaces=\"" << XmlEscape(interface_list) << "\"";
  // The test driver drops <qemu:commandline>: the forwards live in the mark there. The QEMU
  // flavor does not repeat them, so a command line removed behind our back shows as drift.
  if (!qemu && !forward_list.empty()) x << " hostfwd=\"" << XmlEscape(forward_list) << "\"";
  x << "/>\n";
}

void WriteOs(const DomainConfig& config, bool qemu, std::ostringstream& x) {
  x << "  <os>\n";
  x << (qemu ? "    <type arch='x86_64' machine='pc'>hvm</type>\n" : "    <type>hvm</type>\n");
  if (!config.boot.kernel.empty()) {
    // Direct kernel boot. libvirt adds <boot dev='hd'/> to its dump anyway; it is not read back.
    x << "    <kernel>" << XmlEscape(config.boot.kernel) << "</kernel>\n";
    if (!config.boot.initrd.empty()) {
      x << "    <initrd>" << XmlEscape(config.boot.initrd) << "</initrd>\n";
    }
    if (!config.boot.cmdline.empty()) {
      x << "    <cmdline>" << XmlEscape(config.boot.cmdline) << "</cmdline>\n";
    }
  } else if (qemu) {
    x << "    <boot dev='hd'/>\n";
  }
  x << "  </os>\n";
}

void WriteDevices(const DomainConfig& config, bool qemu, std::ostringstream& x) {
  x << "  <devices>\n";
  for (size_t i = 0; i < config.disks.size(); ++i) {
    const DiskConfig& d = config.disks[i];
    x << "    <disk type='file' device='disk'>\n";
    x << "      <driver name='qemu' type='" << ImageFormatName(d.format) << "'/>\n";
    x << "      <source file='" << XmlEscape(d.source) << "'/>\n";
    x << "      <target dev='" << XmlEscape(d.target.empty() ? DefaultDiskTarget(i) : d.target)
      << "' bus='virtio'/>\n";
    x << "    </disk>\n";
  }
  for (const InterfaceConfig& itf : config.interfaces) {
    if (itf.type == InterfaceConfig::Type::kUser) continue;
    const char* kind = itf.type == InterfaceConfig::Type::kBridge ? "bridge" : "network";
    x << "    <interface type='" << kind << "'>\n";
    x << "      <source " << kind << "='" << XmlEscape(itf.source) << "'/>\n";
    x << "      <model type='virtio'/>\n";
    x << "    </interface>\n";
  }
  if (!config.console_log_file.empty()) {
    // libvirt adds the matching <console type='file'> itself.
    x << "    <serial type='file'>\n";
    x << "      <source path='" << XmlEscape(config.console_log_file) << "' append='on'/>\n";
    x << "      <target port='0'/>\n";
    x << "    </serial>\n";
  } else if (qemu) {
    x << "    <serial type='pty'>\n      <target port='0'/>\n    </serial>\n";
    x << "    <console type='pty'>\n      <target type='serial' port='0'/>\n    </console>\n";
  }
  x << "  </devices>\n";
}

// User-mode networking with port forwards, passed straight to QEMU: libvirt 9.0 can only
// express <portForward> with the passt backend, which Debian's build disables, and its plain
// <interface type='user'> (slirp) has no port forwards.
void WriteQemuCommandline(const std::vector<const InterfaceConfig*>& user_interfaces,
                          std::ostringstream& x) {
  x << "  <qemu:commandline>\n";
  for (size_t i = 0; i < user_interfaces.size(); ++i) {
    x << "    <qemu:arg value='-netdev'/>\n";
    x << "    <qemu:arg value='" << XmlEscape(UserNetdevArg(*user_interfaces[i], i)) << "'/>\n";
    x << "    <qemu:arg value='-device'/>\n";
    x << "    <qemu:arg value='" << XmlEscape(UserDeviceArg(i)) << "'/>\n";
  }
  x << "  </qemu:commandline>\n";
}

// "<name>", or "<name> in namespace URI", for error messages.
std::string Describe(const XmlElement& element) {
  std::string text = "<" + std::string(element.name()) + ">";
  if (!element.namespace_uri().empty()) {
    text += " in namespace " + std::string(element.namespace_uri());
  }
  return text;
}

// <name>, <uuid>, <vcpu> and <memory>.
Status ReadNameAndSize(const XmlElement& root, ParsedDomainXml* parsed) {
  if (auto name = root.Child("name")) parsed->config.name = Trim(name->Text());
  if (parsed->config.name.empty()) return Status::InvalidArgument("domain XML: no <name>");
  if (auto uuid = root.Child("uuid")) parsed->uuid = Trim(uuid->Text());

  if (auto vcpu = root.Child("vcpu")) {
    int64_t n = 0;
    if (!ParseInt64(vcpu->Text(), &n)) return Status::InvalidArgument("domain XML: bad <vcpu>");
    parsed->config.cpus = static_cast<int>(n);
  }
  if (auto memory = root.Child("memory")) {
    int64_t amount = 0;
    uint64_t unit_bytes = UnitBytes(memory->Attribute("unit").value_or(""));
    if (!ParseInt64(memory->Text(), &amount) || unit_bytes == 0) {
      return Status::InvalidArgument("domain XML: bad <memory>");
    }
    parsed->config.memoryMiB =
        static_cast<int64_t>(static_cast<uint64_t>(amount) * unit_bytes / (1024ull * 1024));
  }
  return Status::Ok();
}

// The first owner mark in our namespace in <metadata>, whatever its prefix.
Status ReadOwnerMark(const XmlElement& root, ParsedDomainXml* parsed) {
  auto metadata = root.Child("metadata");
  if (!metadata) return Status::Ok();
  for (const XmlElement& child : metadata->Children()) {
    if (!child.Is("owner", kOwnerNamespace)) continue;
    auto mark = OwnerMarkFromElement(child);
    if (!mark.ok()) return mark.status();
    parsed->owned = true;
    parsed->owner = std::move(mark).value();
    parsed->config.generation = parsed->owner.generation;
    break;
  }
  return Status::Ok();
}

void ReadBoot(const XmlElement& root, BootConfig* boot) {
  auto os = root.Child("os");
  if (!os) return;
  // Raw text: these are handed to QEMU as written, so whitespace counts.
  if (auto kernel = os->Child("kernel")) boot->kernel = kernel->Text();
  if (auto initrd = os->Child("initrd")) boot->initrd = initrd->Text();
  if (auto cmdline = os->Child("cmdline")) boot->cmdline = cmdline->Text();
}

// An <interface> element. Types other than bridge and network read as kUser with the libvirt
// type in `source` ("libvirt:direct"), which no config of ours has, so they show as drift
// rather than as a match.
InterfaceConfig InterfaceFromElement(const XmlElement& dev) {
  InterfaceConfig itf;
  std::string kind = dev.Attribute("type").value_or("");
  auto source = dev.Child("source");
  if (kind == "bridge" || kind == "network") {
    itf.type = kind == "bridge" ? InterfaceConfig::Type::kBridge : InterfaceConfig::Type::kNetwork;
    if (auto name = source ? source->Attribute(kind) : std::nullopt) itf.source = *name;
  } else {
    itf.type = InterfaceConfig::Type::kUser;
    itf.source = "libvirt:" + kind;
  }
  return itf;
}

// A <disk device='disk'>, named as the owner mark says (by its target), else by its target.
DiskConfig DiskFromElement(const XmlElement& dev, const OwnerMark& owner) {
  DiskConfig disk;
  if (auto source = dev.Child("source")) {
    if (auto file = source->Attribute("file")) disk.source = *file;
    else if (auto blockdev = source->Attribute("dev")) disk.source = *blockdev;
  }
  if (auto target = dev.Child("target")) {
    if (auto target_dev = target->Attribute("dev")) disk.target = *target_dev;
  }
  if (auto driver = dev.Child("driver")) {
    // Another format than ours (a hand edit to vmdk, say) reads as raw: still drift unless the
    // spec's disk is raw, which QEMU would then refuse to open anyway.
    if (auto type = driver->Attribute("type")) {
      disk.format = ImageFormatFromName(*type).value_or(ImageFormat::kRaw);
    }
  }
  disk.name = disk.target;
  for (const auto& [disk_name, target] : owner.disk_targets) {
    if (target == disk.target) disk.name = disk_name;
  }
  return disk;
}

// Reads the disks and the console log file into `parsed` and returns the <interface> elements
// (interfaces as libvirt sees them), in order.
std::vector<InterfaceConfig> ReadDevices(const XmlElement& root, ParsedDomainXml* parsed) {
  std::vector<InterfaceConfig> element_interfaces;
  auto devices = root.Child("devices");
  if (!devices) return element_interfaces;
  bool serial_seen = false;
  for (const XmlElement& dev : devices->Children()) {
    if (dev.Is("interface")) {
      element_interfaces.push_back(InterfaceFromElement(dev));
    } else if (dev.Is("serial") && !serial_seen) {
      serial_seen = true;  // the first serial port is the console (ttyS0)
      auto type = dev.Attribute("type");
      auto source = dev.Child("source");
      auto path = source ? source->Attribute("path") : std::nullopt;
      if (type == "file" && path) parsed->config.console_log_file = *path;
    } else if (dev.Is("disk")) {
      auto device = dev.Attribute("device");
      if (device && *device != "disk") continue;  // cdrom, floppy, lun
      parsed->config.disks.push_back(DiskFromElement(dev, parsed->owner));
    }
  }
  return element_interfaces;
}

// User-mode interfaces. The QEMU driver keeps them in <qemu:commandline>; the test driver
// drops that element, so for test domains the owner mark (interfaces= and hostfwd=) is the
// only record and is read instead.
std::vector<InterfaceConfig> ReadUserInterfaces(const XmlElement& root,
                                                const ParsedDomainXml& parsed) {
  std::vector<InterfaceConfig> user_interfaces;
  if (root.Attribute("type") == "test") {
    for (const InterfaceConfig& itf : parsed.owner.interfaces) {
      if (itf.type == InterfaceConfig::Type::kUser) user_interfaces.push_back(itf);
    }
    return user_interfaces;
  }
  for (const XmlElement& child : root.Children()) {
    if (!child.Is("commandline", kQemuNamespace)) continue;
    for (InterfaceConfig& itf : UserInterfacesFromCommandline(child)) {
      user_interfaces.push_back(std::move(itf));
    }
  }
  return user_interfaces;
}

// Puts the interfaces together in the order the mark lists, taking names from it: the n-th
// user-mode entry is the n-th user-mode interface found, the n-th other entry the n-th
// <interface> element. What the mark does not account for follows, unnamed (a foreign or
// edited domain).
std::vector<InterfaceConfig> MergeInterfaces(const std::vector<InterfaceConfig>& listed_in_mark,
                                             std::vector<InterfaceConfig> element_interfaces,
                                             std::vector<InterfaceConfig> user_interfaces) {
  std::vector<InterfaceConfig> merged;
  size_t next_element = 0;
  size_t next_user = 0;
  for (const InterfaceConfig& listed : listed_in_mark) {
    bool user = listed.type == InterfaceConfig::Type::kUser;
    std::vector<InterfaceConfig>& found = user ? user_interfaces : element_interfaces;
    size_t& next = user ? next_user : next_element;
    if (next >= found.size()) continue;  // missing: the config comes out shorter
    InterfaceConfig itf = std::move(found[next++]);
    itf.name = listed.name;
    merged.push_back(std::move(itf));
  }
  for (; next_element < element_interfaces.size(); ++next_element) {
    merged.push_back(std::move(element_interfaces[next_element]));
  }
  for (; next_user < user_interfaces.size(); ++next_user) {
    merged.push_back(std::move(user_interfaces[next_user]));
  }
  return merged;
}

}  // namespace

std::string XmlEscape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '\'': out += "&apos;"; break;
      case '"': out += "&quot;"; break;
      default: out.push_back(c);
    }
  }
  return out;
}

std::string GenerateDomainXml(const DomainConfig& config, DomainXmlFlavor flavor,
                              const std::string& uuid) {
  const bool qemu = flavor == DomainXmlFlavor::kQemu;
  std::vector<const InterfaceConfig*> user_interfaces;
  for (const InterfaceConfig& itf : config.interfaces) {
    if (itf.type == InterfaceConfig::Type::kUser) user_interfaces.push_back(&itf);
  }
  // User-mode interfaces are QEMU command-line arguments (see WriteQemuCommandline), which need
  // the qemu namespace on the root.
  const bool qemu_commandline = qemu && !user_interfaces.empty();

  std::ostringstream x;
  x << "<domain type='" << (qemu ? "qemu" : "test") << "'";
  if (qemu_commandline) x << " xmlns:qemu='" << kQemuNamespace << "'";
  x << ">\n";
  x << "  <name>" << XmlEscape(config.name) << "</name>\n";
  if (!uuid.empty()) x << "  <uuid>" << XmlEscape(uuid) << "</uuid>\n";
  x << "  <metadata>\n";
  WriteOwnerMark(config, qemu, x);
  x << "  </metadata>\n";
  x << "  <memory unit='MiB'>" << config.memoryMiB << "</memory>\n";
  x << "  <vcpu>" << config.cpus << "</vcpu>\n";
  WriteOs(config, qemu, x);
  if (qemu) x << "  <features>\n    <acpi/>\n  </features>\n";
  x << "  <on_poweroff>destroy</on_poweroff>\n";
  x << "  <on_reboot>restart</on_reboot>\n";
  x << "  <on_crash>destroy</on_crash>\n";
  WriteDevices(config, qemu, x);
  if (qemu_commandline) WriteQemuCommandline(user_interfaces, x);
  x << "</domain>\n";
  return x.str();
}

StatusOr<OwnerMark> ParseOwnerMark(const std::string& xml) {
  VMK_ASSIGN_OR_RETURN(XmlDocument doc, XmlDocument::Parse(xml));
  // virDomainGetMetadata returns the element with its namespace taken off: the local name is
  // all there is to match.
  if (doc.root().name() != "owner") {
    return Status::InvalidArgument("owner mark: root element is " + Describe(doc.root()));
  }
  return OwnerMarkFromElement(doc.root());
}

StatusOr<ParsedDomainXml> ParseDomainXml(const std::string& xml) {
  VMK_ASSIGN_OR_RETURN(XmlDocument doc, XmlDocument::Parse(xml));
  const XmlElement root = doc.root();
  if (!root.Is("domain")) {
    return Status::InvalidArgument("domain XML: root element is " + Describe(root));
  }
  ParsedDomainXml parsed;
  VMK_RETURN_IF_ERROR(ReadNameAndSize(root, &parsed));
  VMK_RETURN_IF_ERROR(ReadOwnerMark(root, &parsed));
  ReadBoot(root, &parsed.config.boot);
  std::vector<InterfaceConfig> element_interfaces = ReadDevices(root, &parsed);
  std::vector<InterfaceConfig> user_interfaces = ReadUserInterfaces(root, parsed);
  parsed.config.interfaces = MergeInterfaces(parsed.owner.interfaces, std::move(element_interfaces),
                                             std::move(user_interfaces));
  return parsed;
}

}  // namespace vmk::providers
