// DomainDocumentCache: the last parse of each domain's documents on one connection (its
// persistent definition, its live owner mark), so that listing unchanged domains, which every
// resync does for every domain, parses nothing. A document is parsed again when its text
// changed: the cache keeps the text's length and 64-bit hash, not the text (10,000 domains'
// definitions would be ~8 MB), so equal length and hash stand for equal text (a collision,
// about 2^-64 per change, would keep the previous parse until the next change).
//
// Thread-compatible: a connection's calls run one at a time on its call thread, the only user.
#pragma once

#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>

#include "providers/hypervisor/libvirt/domain_xml.h"

namespace vmk::providers {

class DomainDocumentCache {
 public:
  // What a domain's persistent definition says that a listing needs: whether vmkeeper owns it
  // and, if so, its managed config (what else a parse yields is not kept).
  struct Definition {
    bool owned = false;
    DomainConfig config;  // meaningful when owned
  };
  // From ParseDomainXml(xml), or its earlier result for the same text. Errors are not kept.
  StatusOr<Definition> Read(const std::string& domain, std::string_view xml);
  // ParseOwnerMark(xml), likewise.
  StatusOr<OwnerMark> LiveMark(const std::string& domain, std::string_view xml);
  // Forgets every domain but these (after a full listing).
  void Retain(const std::set<std::string>& domains);
  size_t size() const { return entries_.size(); }

 private:
  struct Fingerprint {
    size_t length = 0;
    size_t hash = 0;
    bool operator==(const Fingerprint&) const = default;
  };
  static Fingerprint Of(std::string_view text);
  struct Entry {
    Fingerprint definition_text;
    Definition definition;
    bool has_definition = false;
    Fingerprint mark_text;
    OwnerMark mark;
    bool has_mark = false;
  };
  std::unordered_map<std::string, Entry> entries_;
};

}  // namespace vmk::providers
