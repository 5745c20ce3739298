#include "cli/api_paths.h"

#include <cctype>

namespace vmk::cli {

std::string_view KindPlural(specs::Kind kind) {
  switch (kind) {
    case specs::Kind::kHost: return "hosts";
    case specs::Kind::kVirtualMachine: return "virtualmachines";
    case specs::Kind::kSnapshotPolicy: return "snapshotpolicies";
    case specs::Kind::kStoragePool: return "storagepools";
  }
  return "unknown";
}

std::optional<specs::Kind> KindFromPlural(std::string_view plural) {
  for (specs::Kind kind : specs::kAllKinds) {
    if (KindPlural(kind) == plural) return kind;
  }
  return std::nullopt;
}

std::string KindLower(specs::Kind kind) {
  std::string out(specs::KindName(kind));
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string ResourcePath(specs::Kind kind, const std::string& name) {
  std::string out = std::string(kApiPrefix) + "/" + std::string(KindPlural(kind));
  if (!name.empty()) out += "/" + PercentEncode(name);
  return out;
}

std::string PercentEncode(std::string_view text) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

}  // namespace vmk::cli
