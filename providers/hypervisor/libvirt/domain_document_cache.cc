#include "providers/hypervisor/libvirt/domain_document_cache.h"

#include <functional>

namespace vmk::providers {

DomainDocumentCache::Fingerprint DomainDocumentCache::Of(std::string_view text) {
  return Fingerprint{text.size(), std::hash<std::string_view>{}(text)};
}

StatusOr<DomainDocumentCache::Definition> DomainDocumentCache::Read(const std::string& domain,
                                                                    std::string_view xml) {
  const Fingerprint text = Of(xml);
  auto it = entries_.find(domain);
  if (it != entries_.end() && it->second.has_definition && it->second.definition_text == text) {
    return it->second.definition;
  }
  auto parsed = ParseDomainXml(std::string(xml));
  if (!parsed.ok()) return parsed.status();
  Entry& entry = entries_[domain];
  entry.definition_text = text;
  entry.definition.owned = parsed->owned;
  entry.definition.config = parsed->owned ? std::move(parsed->config) : DomainConfig{};
  entry.has_definition = true;
  return entry.definition;
}

StatusOr<OwnerMark> DomainDocumentCache::LiveMark(const std::string& domain,
                                                  std::string_view xml) {
  const Fingerprint text = Of(xml);
  auto it = entries_.find(domain);
  if (it != entries_.end() && it->second.has_mark && it->second.mark_text == text) {
    return it->second.mark;
  }
  auto mark = ParseOwnerMark(std::string(xml));
  if (!mark.ok()) return mark;
  Entry& entry = entries_[domain];
  entry.mark_text = text;
  entry.mark = *mark;
  entry.has_mark = true;
  return mark;
}

void DomainDocumentCache::Retain(const std::set<std::string>& domains) {
  for (auto it = entries_.begin(); it != entries_.end();) {
    it = domains.count(it->first) ? std::next(it) : entries_.erase(it);
  }
}

}  // namespace vmk::providers
