#include "reconciler/core/reconciler.h"

#include <cassert>

namespace vmk::reconciler {

std::string WorkKey(std::string_view reconciler, std::string_view name) {
  std::string key;
  key.reserve(reconciler.size() + 1 + name.size());
  key.append(reconciler).append(1, '/').append(name);
  return key;
}

void ReconcilerSet::Register(Reconciler* reconciler) {
  const std::string name(reconciler->Name());
  assert(name.find('/') == std::string::npos && "a reconciler's name must not contain '/'");
  const bool added = by_name_.emplace(name, reconciler).second;
  assert(added && "two reconcilers with one name");
  (void)added;
  all_.push_back(reconciler);
}

std::optional<ReconcilerSet::Target> ReconcilerSet::Find(std::string_view key) const {
  const size_t slash = key.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  auto it = by_name_.find(key.substr(0, slash));
  if (it == by_name_.end()) return std::nullopt;
  return Target{it->second, std::string(key.substr(slash + 1))};
}

}  // namespace vmk::reconciler
