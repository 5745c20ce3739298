#include "providers/domain_xml.h"

#include <cctype>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <memory>
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

// Disk names are the spec's; ':' ',' and '%' are percent-encoded so the list stays parseable.
std::string EncodeDiskName(const std::string& name) {
  std::string out;
  for (char c : name) {
    if (c == ':' || c == ',' || c == '%') {
      char buf[4];
      std::snprintf(buf, sizeof(buf), "%%%02X", static_cast<unsigned char>(c));
      out += buf;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::string DecodeDiskName(const std::string& text) {
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
      mark.disk_targets.emplace_back(DecodeDiskName(item.substr(0, colon)),
                                     item.substr(colon + 1));
    }
  }
  return mark;
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

std::string DefaultDiskTarget(size_t index) {
  // Spreadsheet-style letters: a..z, aa..az, ...
  std::string letters;
  size_t n = index + 1;
  while (n > 0) {
    --n;
    letters.insert(letters.begin(), static_cast<char>('a' + n % 26));
    n /= 26;
  }
  return "vd" + letters;
}

std::string GenerateDomainXml(const DomainConfig& config, DomainXmlFlavor flavor,
                              const std::string& uuid) {
  std::string disk_list;
  for (size_t i = 0; i < config.disks.size(); ++i) {
    const DiskConfig& d = config.disks[i];
    if (!disk_list.empty()) disk_list += ",";
    disk_list += EncodeDiskName(d.name) + ":" + (d.target.empty() ? DefaultDiskTarget(i) : d.target);
  }
  std::ostringstream x;
  x << "<domain type='" << (flavor == DomainXmlFlavor::kTest ? "test" : "qemu") << "'>\n";
  x << "  <name>" << XmlEscape(config.name) << "</name>\n";
  if (!uuid.empty()) x << "  <uuid>" << XmlEscape(uuid) << "</uuid>\n";
  x << "  <metadata>\n";
  x << "    <" << kOwnerPrefix << ":owner xmlns:" << kOwnerPrefix << "=\"" << kOwnerNamespace
    << "\" vm=\"" << XmlEscape(config.name) << "\" generation=\"" << config.generation
    << "\" disks=\"" << XmlEscape(disk_list) << "\"/>\n";
  x << "  </metadata>\n";
  x << "  <memory unit='MiB'>" << config.memoryMiB << "</memory>\n";
  x << "  <vcpu>" << config.cpus << "</vcpu>\n";
  if (flavor == DomainXmlFlavor::kQemu) {
    x << "  <os>\n    <type arch='x86_64' machine='pc'>hvm</type>\n    <boot dev='hd'/>\n  </os>\n";
    x << "  <features>\n    <acpi/>\n  </features>\n";
  } else {
    x << "  <os>\n    <type>hvm</type>\n  </os>\n";
  }
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
  if (flavor == DomainXmlFlavor::kQemu) {
    x << "    <serial type='pty'>\n      <target port='0'/>\n    </serial>\n";
    x << "    <console type='pty'>\n      <target type='serial' port='0'/>\n    </console>\n";
  }
  x << "  </devices>\n";
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

  if (const XmlNode* devices = root.Child("devices")) {
    for (const auto& dev : devices->children) {
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
  return parsed;
}

}  // namespace vmk::providers
