#include "providers/hypervisor/libvirt/domain_xml.h"

#include <cctype>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <sstream>

namespace vmk::providers {
namespace {

// A minimal XML reader, enough for libvirt's domain documents and hand-written ones: elements,
// attributes, text, comments, processing instructions, DOCTYPE, CDATA and the standard and
// numeric entities. No DTD processing. (libxml2 is not a dependency of this library.)
struct XmlNode {
  std::string name;  // qualified: "vmk:owner"
  std::vector<std::pair<std::string, std::string>> attributes;
  std::vector<std::unique_ptr<XmlNode>> children;
  std::string text;  // concatenated character data directly inside this element
  XmlNode* parent = nullptr;

  const std::string* Attribute(const std::string& key) const {
    for (const auto& [k, v] : attributes) {
      if (k == key) return &v;
    }
    return nullptr;
  }
  const XmlNode* Child(const std::string& child_name) const {
    for (const auto& c : children) {
      if (c->name == child_name) return c.get();
    }
    return nullptr;
  }
  std::string LocalName() const {
    size_t colon = name.find(':');
    return colon == std::string::npos ? name : name.substr(colon + 1);
  }
  // Resolves this element's namespace URI through xmlns declarations on it and its ancestors.
  std::string NamespaceUri() const {
    size_t colon = name.find(':');
    std::string decl = colon == std::string::npos ? "xmlns" : "xmlns:" + name.substr(0, colon);
    for (const XmlNode* n = this; n != nullptr; n = n->parent) {
      if (const std::string* v = n->Attribute(decl)) return *v;
    }
    return "";
  }
};

class XmlReader {
 public:
  explicit XmlReader(const std::string& text) : s_(text) {}

  StatusOr<std::unique_ptr<XmlNode>> ParseDocument() {
    std::unique_ptr<XmlNode> root;
    while (true) {
      SkipSpace();
      if (pos_ >= s_.size()) break;
      if (StartsWith("<?")) {
        if (!SkipPast("?>")) return Error("unterminated processing instruction");
      } else if (StartsWith("<!--")) {
        if (!SkipPast("-->")) return Error("unterminated comment");
      } else if (StartsWith("<!")) {
        if (!SkipPast(">")) return Error("unterminated declaration");
      } else if (StartsWith("<")) {
        if (root) return Error("more than one root element");
        auto node = ParseElement(nullptr, 0);
        if (!node.ok()) return node.status();
        root = std::move(node).value();
      } else {
        return Error("text outside the root element");
      }
    }
    if (!root) return Error("no root element");
    return root;
  }

 private:
  static constexpr int kMaxDepth = 64;

  Status Error(const std::string& what) const {
    return Status::InvalidArgument("malformed XML at offset " + std::to_string(pos_) + ": " + what);
  }
  bool StartsWith(const char* p) const { return s_.compare(pos_, std::strlen(p), p) == 0; }
  bool SkipPast(const char* p) {
    size_t at = s_.find(p, pos_);
    if (at == std::string::npos) return false;
    pos_ = at + std::strlen(p);
    return true;
  }
  void SkipSpace() {
    while (pos_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[pos_]))) ++pos_;
  }
  static bool IsNameChar(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.' ||
           c == ':' || (static_cast<unsigned char>(c) >= 0x80);
  }
  std::string ParseName() {
    size_t start = pos_;
    while (pos_ < s_.size() && IsNameChar(s_[pos_])) ++pos_;
    return s_.substr(start, pos_ - start);
  }

  // Decodes entities in raw character data.
  StatusOr<std::string> Decode(const std::string& raw) const {
    std::string out;
    out.reserve(raw.size());
    for (size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] != '&') {
        out.push_back(raw[i]);
        continue;
      }
      size_t semi = raw.find(';', i);
      if (semi == std::string::npos) return Error("unterminated entity");
      std::string entity = raw.substr(i + 1, semi - i - 1);
      if (entity == "lt") out.push_back('<');
      else if (entity == "gt") out.push_back('>');
      else if (entity == "amp") out.push_back('&');
      else if (entity == "quot") out.push_back('"');
      else if (entity == "apos") out.push_back('\'');
      else if (entity.size() > 1 && entity[0] == '#') {
        unsigned long code = 0;
        const char* first = entity.data() + 1;
        int base = 10;
        if (entity[1] == 'x' || entity[1] == 'X') {
          ++first;
          base = 16;
        }
        auto [ptr, ec] = std::from_chars(first, entity.data() + entity.size(), code, base);
        if (ec != std::errc() || ptr != entity.data() + entity.size() || code > 0x10FFFF) {
          return Error("bad character reference");
        }
        AppendUtf8(code, &out);
      } else {
        return Error("unknown entity &" + entity + ";");
      }
      i = semi;
    }
    return out;
  }
  static void AppendUtf8(unsigned long cp, std::string* out) {
    if (cp < 0x80) {
      out->push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }

  // At '<' of a start tag.
  StatusOr<std::unique_ptr<XmlNode>> ParseElement(XmlNode* parent, int depth) {
    if (depth > kMaxDepth) return Error("elements nested too deeply");
    ++pos_;  // '<'
    auto node = std::make_unique<XmlNode>();
    node->parent = parent;
    node->name = ParseName();
    if (node->name.empty()) return Error("element without a name");
    while (true) {
      SkipSpace();
      if (pos_ >= s_.size()) return Error("unterminated start tag");
      if (StartsWith("/>")) {
        pos_ += 2;
        return node;
      }
      if (s_[pos_] == '>') {
        ++pos_;
        break;
      }
      std::string key = ParseName();
      if (key.empty()) return Error("bad attribute name");
      SkipSpace();
      if (pos_ >= s_.size() || s_[pos_] != '=') return Error("attribute without a value");
      ++pos_;
      SkipSpace();
      if (pos_ >= s_.size() || (s_[pos_] != '"' && s_[pos_] != '\'')) {
        return Error("unquoted attribute value");
      }
      char quote = s_[pos_++];
      size_t end = s_.find(quote, pos_);
      if (end == std::string::npos) return Error("unterminated attribute value");
      auto value = Decode(s_.substr(pos_, end - pos_));
      if (!value.ok()) return value.status();
      pos_ = end + 1;
      node->attributes.emplace_back(std::move(key), std::move(value).value());
    }
    // Content.
    while (true) {
      if (pos_ >= s_.size()) return Error("unterminated element <" + node->name + ">");
      if (StartsWith("</")) {
        pos_ += 2;
        std::string closing = ParseName();
        SkipSpace();
        if (closing != node->name || pos_ >= s_.size() || s_[pos_] != '>') {
          return Error("mismatched end tag </" + closing + "> for <" + node->name + ">");
        }
        ++pos_;
        return node;
      }
      if (StartsWith("<!--")) {
        if (!SkipPast("-->")) return Error("unterminated comment");
      } else if (StartsWith("<![CDATA[")) {
        size_t start = pos_ + 9;
        if (!SkipPast("]]>")) return Error("unterminated CDATA");
        node->text += s_.substr(start, pos_ - 3 - start);
      } else if (StartsWith("<?")) {
        if (!SkipPast("?>")) return Error("unterminated processing instruction");
      } else if (s_[pos_] == '<') {
        auto child = ParseElement(node.get(), depth + 1);
        if (!child.ok()) return child.status();
        node->children.push_back(std::move(child).value());
      } else {
        size_t end = s_.find('<', pos_);
        if (end == std::string::npos) end = s_.size();
        auto text = Decode(s_.substr(pos_, end - pos_));
        if (!text.ok()) return text.status();
        node->text += text.value();
        pos_ = end;
      }
    }
  }

  const std::string& s_;
  size_t pos_ = 0;
};

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

// Disk and interface names are the spec's; ':' ',' '=' and '%' are percent-encoded so the lists
// in the owner mark stay parseable.
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

StatusOr<OwnerMark> OwnerMarkFromNode(const XmlNode& node) {
  OwnerMark mark;
  if (const std::string* vm = node.Attribute("vm")) mark.vm = *vm;
  if (const std::string* gen = node.Attribute("generation")) {
    if (!ParseInt64(*gen, &mark.generation)) {
      return Status::InvalidArgument("owner mark: bad generation '" + *gen + "'");
    }
  }
  if (const std::string* disks = node.Attribute("disks")) {
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
                                     item.substr(colon + 1));
    }
  }
  if (const std::string* interfaces = node.Attribute("interfaces")) {
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
  if (const std::string* forwards = node.Attribute("hostfwd")) {
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
std::vector<InterfaceConfig> UserInterfacesFromCommandline(const XmlNode& commandline) {
  std::vector<std::string> args;
  for (const auto& arg : commandline.children) {
    if (arg->LocalName() != "arg") continue;
    const std::string* value = arg->Attribute("value");
    args.push_back(value ? *value : "");
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
  std::string disk_list;
  for (size_t i = 0; i < config.disks.size(); ++i) {
    const DiskConfig& d = config.disks[i];
    if (!disk_list.empty()) disk_list += ",";
    disk_list +=
        EncodeMarkName(d.name) + ":" + (d.target.empty() ? DefaultDiskTarget(i) : d.target);
  }
  std::string interface_list;
  std::string forward_list;
  std::vector<const InterfaceConfig*> user_interfaces;
  for (const InterfaceConfig& itf : config.interfaces) {
    if (!interface_list.empty()) interface_list += ",";
    interface_list += EncodeMarkName(itf.name) + ":" + InterfaceTypeName(itf.type);
    if (itf.type != InterfaceConfig::Type::kUser) continue;
    user_interfaces.push_back(&itf);
    for (const PortForwardConfig& f : itf.port_forwards) {
      if (!forward_list.empty()) forward_list += ",";
      forward_list += EncodeMarkName(itf.name) + "=" + f.host_address + ":" +
                      std::to_string(f.host_port) + ":" + std::to_string(f.guest_port);
    }
  }
  // User-mode interfaces are QEMU command-line arguments (see below), which need the qemu
  // namespace on the root.
  const bool qemu_commandline = qemu && !user_interfaces.empty();

  std::ostringstream x;
  x << "<domain type='" << (qemu ? "qemu" : "test") << "'";
  if (qemu_commandline) x << " xmlns:qemu='" << kQemuNamespace << "'";
  x << ">\n";
  x << "  <name>" << XmlEscape(config.name) << "</name>\n";
  if (!uuid.empty()) x << "  <uuid>" << XmlEscape(uuid) << "</uuid>\n";
  x << "  <metadata>\n";
  x << "    <" << kOwnerPrefix << ":owner xmlns:" << kOwnerPrefix << "=\"" << kOwnerNamespace
    << "\" vm=\"" << XmlEscape(config.name) << "\" generation=\"" << config.generation
    << "\" disks=\"" << XmlEscape(disk_list) << "\"";
  if (!interface_list.empty()) x << " interfaces=\"" << XmlEscape(interface_list) << "\"";
  // The test driver drops <qemu:commandline>: the forwards live in the mark there. The QEMU
  // flavor does not repeat them, so a command line removed behind our back shows as drift.
  if (!qemu && !forward_list.empty()) x << " hostfwd=\"" << XmlEscape(forward_list) << "\"";
  x << "/>\n";
  x << "  </metadata>\n";
  x << "  <memory unit='MiB'>" << config.memoryMiB << "</memory>\n";
  x << "  <vcpu>" << config.cpus << "</vcpu>\n";
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
  if (qemu) x << "  <features>\n    <acpi/>\n  </features>\n";
  x << "  <on_poweroff>destroy</on_poweroff>\n";
  x << "  <on_reboot>restart</on_reboot>\n";
  x << "  <on_crash>destroy</on_crash>\n";
  x << "  <devices>\n";
  for (size_t i = 0; i < config.disks.size(); ++i) {
    const DiskConfig& d = config.disks[i];
    bool qcow2 = d.source.size() >= 6 && d.source.compare(d.source.size() - 6, 6, ".qcow2") == 0;
    x << "    <disk type='file' device='disk'>\n";
    x << "      <driver name='qemu' type='" << (qcow2 ? "qcow2" : "raw") << "'/>\n";
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
  if (qemu_commandline) {
    // User-mode networking with port forwards, passed straight to QEMU: libvirt 9.0 can only
    // express <portForward> with the passt backend, which Debian's build disables, and its
    // plain <interface type='user'> (slirp) has no port forwards.
    x << "  <qemu:commandline>\n";
    for (size_t i = 0; i < user_interfaces.size(); ++i) {
      x << "    <qemu:arg value='-netdev'/>\n";
      x << "    <qemu:arg value='" << XmlEscape(UserNetdevArg(*user_interfaces[i], i)) << "'/>\n";
      x << "    <qemu:arg value='-device'/>\n";
      x << "    <qemu:arg value='" << XmlEscape(UserDeviceArg(i)) << "'/>\n";
    }
    x << "  </qemu:commandline>\n";
  }
  x << "</domain>\n";
  return x.str();
}

StatusOr<OwnerMark> ParseOwnerMark(const std::string& xml) {
  XmlReader reader(xml);
  auto root = reader.ParseDocument();
  if (!root.ok()) return root.status();
  if ((*root)->LocalName() != "owner") {
    return Status::InvalidArgument("owner mark: root element is <" + (*root)->name + ">");
  }
  return OwnerMarkFromNode(**root);
}

StatusOr<ParsedDomainXml> ParseDomainXml(const std::string& xml) {
  XmlReader reader(xml);
  auto root_or = reader.ParseDocument();
  if (!root_or.ok()) return root_or.status();
  const XmlNode& root = **root_or;
  if (root.name != "domain") {
    return Status::InvalidArgument("domain XML: root element is <" + root.name + ">");
  }
  ParsedDomainXml parsed;
  if (const XmlNode* name = root.Child("name")) parsed.config.name = Trim(name->text);
  if (parsed.config.name.empty()) return Status::InvalidArgument("domain XML: no <name>");
  if (const XmlNode* uuid = root.Child("uuid")) parsed.uuid = Trim(uuid->text);

  if (const XmlNode* vcpu = root.Child("vcpu")) {
    int64_t n = 0;
    if (!ParseInt64(vcpu->text, &n)) return Status::InvalidArgument("domain XML: bad <vcpu>");
    parsed.config.cpus = static_cast<int>(n);
  }
  if (const XmlNode* memory = root.Child("memory")) {
    int64_t amount = 0;
    const std::string* unit = memory->Attribute("unit");
    uint64_t unit_bytes = UnitBytes(unit ? *unit : "");
    if (!ParseInt64(memory->text, &amount) || unit_bytes == 0) {
      return Status::InvalidArgument("domain XML: bad <memory>");
    }
    parsed.config.memoryMiB =
        static_cast<int64_t>(static_cast<uint64_t>(amount) * unit_bytes / (1024ull * 1024));
  }

  if (const XmlNode* metadata = root.Child("metadata")) {
    for (const auto& child : metadata->children) {
      if (child->LocalName() == "owner" && child->NamespaceUri() == kOwnerNamespace) {
        auto mark = OwnerMarkFromNode(*child);
        if (!mark.ok()) return mark.status();
        parsed.owned = true;
        parsed.owner = std::move(mark).value();
        parsed.config.generation = parsed.owner.generation;
        break;
      }
    }
  }

  if (const XmlNode* os = root.Child("os")) {
    // Raw text: these are handed to QEMU as written, so whitespace counts.
    if (const XmlNode* kernel = os->Child("kernel")) parsed.config.boot.kernel = kernel->text;
    if (const XmlNode* initrd = os->Child("initrd")) parsed.config.boot.initrd = initrd->text;
    if (const XmlNode* cmdline = os->Child("cmdline")) parsed.config.boot.cmdline = cmdline->text;
  }

  // Interfaces as libvirt sees them: <interface> elements. Types other than bridge and network
  // read as kUser with the libvirt type in `source` ("libvirt:direct"), which no config of ours
  // has, so they show as drift rather than as a match.
  std::vector<InterfaceConfig> element_interfaces;
  bool serial_seen = false;
  if (const XmlNode* devices = root.Child("devices")) {
    for (const auto& dev : devices->children) {
      if (dev->name == "interface") {
        InterfaceConfig itf;
        const std::string* type = dev->Attribute("type");
        std::string kind = type ? *type : "";
        const XmlNode* source = dev->Child("source");
        if (kind == "bridge" || kind == "network") {
          itf.type = kind == "bridge" ? InterfaceConfig::Type::kBridge
                                      : InterfaceConfig::Type::kNetwork;
          const std::string* name = source ? source->Attribute(kind) : nullptr;
          if (name) itf.source = *name;
        } else {
          itf.type = InterfaceConfig::Type::kUser;
          itf.source = "libvirt:" + kind;
        }
        element_interfaces.push_back(std::move(itf));
        continue;
      }
      if (dev->name == "serial" && !serial_seen) {
        serial_seen = true;  // the first serial port is the console (ttyS0)
        const std::string* type = dev->Attribute("type");
        const XmlNode* source = dev->Child("source");
        const std::string* path = source ? source->Attribute("path") : nullptr;
        if (type && *type == "file" && path) parsed.config.console_log_file = *path;
        continue;
      }
      if (dev->name != "disk") continue;
      const std::string* device = dev->Attribute("device");
      if (device != nullptr && *device != "disk") continue;  // cdrom, floppy, lun
      DiskConfig disk;
      if (const XmlNode* source = dev->Child("source")) {
        if (const std::string* file = source->Attribute("file")) disk.source = *file;
        else if (const std::string* blockdev = source->Attribute("dev")) disk.source = *blockdev;
      }
      if (const XmlNode* target = dev->Child("target")) {
        if (const std::string* target_dev = target->Attribute("dev")) disk.target = *target_dev;
      }
      disk.name = disk.target;
      for (const auto& [disk_name, target] : parsed.owner.disk_targets) {
        if (target == disk.target) disk.name = disk_name;
      }
      parsed.config.disks.push_back(std::move(disk));
    }
  }

  // User-mode interfaces. The QEMU driver keeps them in <qemu:commandline>; the test driver
  // drops that element, so for test domains the owner mark (interfaces= and hostfwd=) is the
  // only record and is read instead.
  std::vector<InterfaceConfig> user_interfaces;
  const std::string* domain_type = root.Attribute("type");
  if (domain_type != nullptr && *domain_type == "test") {
    for (const InterfaceConfig& itf : parsed.owner.interfaces) {
      if (itf.type == InterfaceConfig::Type::kUser) user_interfaces.push_back(itf);
    }
  } else {
    for (const auto& child : root.children) {
      if (child->LocalName() == "commandline" && child->NamespaceUri() == kQemuNamespace) {
        for (InterfaceConfig& itf : UserInterfacesFromCommandline(*child)) {
          user_interfaces.push_back(std::move(itf));
        }
      }
    }
  }

  // Put them together in the order the mark lists, taking names from it: the n-th user-mode
  // entry is the n-th user-mode interface found, the n-th other entry the n-th <interface>
  // element. What the mark does not account for follows, unnamed (a foreign or edited domain).
  size_t next_element = 0;
  size_t next_user = 0;
  for (const InterfaceConfig& listed : parsed.owner.interfaces) {
    bool user = listed.type == InterfaceConfig::Type::kUser;
    std::vector<InterfaceConfig>& found = user ? user_interfaces : element_interfaces;
    size_t& next = user ? next_user : next_element;
    if (next >= found.size()) continue;  // missing: the config comes out shorter
    InterfaceConfig itf = std::move(found[next++]);
    itf.name = listed.name;
    parsed.config.interfaces.push_back(std::move(itf));
  }
  for (; next_element < element_interfaces.size(); ++next_element) {
    parsed.config.interfaces.push_back(std::move(element_interfaces[next_element]));
  }
  for (; next_user < user_interfaces.size(); ++next_user) {
    parsed.config.interfaces.push_back(std::move(user_interfaces[next_user]));
  }
  return parsed;
}

}  // namespace vmk::providers
