#include "reconciler/host_registry.h"

namespace vmk::reconciler {

HostEntry::View HostEntry::view() const {
  std::lock_guard<std::mutex> l(mu_);
  return view_;
}

void HostEntry::SetSpec(const specs::HostSpec& spec,
                        const std::map<std::string, std::string>& labels) {
  std::lock_guard<std::mutex> l(mu_);
  view_.spec = spec;
  view_.labels = labels;
}

void HostEntry::SetListing(std::vector<providers::DomainInfo> domains,
                           const providers::HostInfo& info) {
  std::map<std::string, ObservedDomain> fresh;
  for (auto& d : domains) {
    std::string name = d.name;
    fresh.emplace(std::move(name), ObservedDomain{std::move(d), false});
  }
  std::lock_guard<std::mutex> l(mu_);
  // An event that arrived during the listing may be newer than what the listing saw.
  for (const auto& [name, old] : domains_) {
    if (old.stale) {
      auto it = fresh.find(name);
      if (it != fresh.end()) it->second.stale = true;
    }
  }
  domains_ = std::move(fresh);
  view_.info = info;
  view_.reachable = true;
  view_.sync_attempted = true;
  view_.synced = true;
}

bool HostEntry::SetUnreachable() {
  std::lock_guard<std::mutex> l(mu_);
  bool was = view_.reachable;
  view_.reachable = false;
  view_.sync_attempted = true;
  return was;
}

void HostEntry::UpdateDomain(const std::string& name,
                             std::optional<providers::DomainInfo> info) {
  std::lock_guard<std::mutex> l(mu_);
  if (info) {
    domains_[name] = ObservedDomain{std::move(*info), false};
  } else {
    domains_.erase(name);
  }
}

void HostEntry::MarkStale(const std::string& name) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = domains_.find(name);
  if (it != domains_.end()) {
    it->second.stale = true;
  } else {
    ObservedDomain unknown;
    unknown.info.name = name;
    unknown.stale = true;
    domains_.emplace(name, std::move(unknown));
  }
}

std::optional<ObservedDomain> HostEntry::Domain(const std::string& name) const {
  std::lock_guard<std::mutex> l(mu_);
  auto it = domains_.find(name);
  if (it == domains_.end()) return std::nullopt;
  return it->second;
}

std::vector<providers::DomainInfo> HostEntry::Domains() const {
  std::lock_guard<std::mutex> l(mu_);
  std::vector<providers::DomainInfo> out;
  out.reserve(domains_.size());
  for (const auto& [name, d] : domains_) {
    if (!d.stale || !d.info.uuid.empty()) out.push_back(d.info);
  }
  return out;
}

specs::Capacity HostEntry::Capacity() const {
  std::lock_guard<std::mutex> l(mu_);
  if (view_.spec.capacity) return *view_.spec.capacity;
  return specs::Capacity{view_.info.cpus, view_.info.memoryMiB};
}

HostRegistry::HostRegistry(providers::HypervisorFactory* factory,
                           providers::ConnectOptions options, DomainEventHandler on_domain,
                           ConnectionEventHandler on_connection)
    : factory_(factory),
      options_(std::move(options)),
      on_domain_(std::move(on_domain)),
      on_connection_(std::move(on_connection)) {}

std::shared_ptr<HostEntry> HostRegistry::Upsert(const std::string& name,
                                                const specs::HostSpec& spec,
                                                const std::map<std::string, std::string>& labels) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = hosts_.find(name);
  if (it != hosts_.end() && it->second->connection()->uri() == spec.uri) {
    it->second->SetSpec(spec, labels);
    return it->second;
  }
  providers::ConnectOptions options = options_;
  if (spec.capacity) {
    options.embedded_cpus = spec.capacity->cpus;
    options.embedded_memory_mib = spec.capacity->memoryMiB;
  }
  std::shared_ptr<providers::Hypervisor> connection = factory_->Create(name, spec.uri, options);
  connection->SetDomainEventHandler(
      [this, name](const providers::DomainEvent& e) { on_domain_(name, e); });
  connection->SetConnectionEventHandler(
      [this, name](const providers::ConnectionEvent& e) { on_connection_(name, e); });
  auto entry = std::make_shared<HostEntry>(name, std::move(connection));
  entry->SetSpec(spec, labels);
  hosts_[name] = entry;
  return entry;
}

std::shared_ptr<HostEntry> HostRegistry::Get(const std::string& name) const {
  std::lock_guard<std::mutex> l(mu_);
  auto it = hosts_.find(name);
  return it == hosts_.end() ? nullptr : it->second;
}

void HostRegistry::Remove(const std::string& name) {
  std::shared_ptr<HostEntry> removed;
  {
    std::lock_guard<std::mutex> l(mu_);
    auto it = hosts_.find(name);
    if (it == hosts_.end()) return;
    removed = std::move(it->second);
    hosts_.erase(it);
  }
  // The connection closes when the last user drops its reference, outside the lock.
}

std::vector<std::shared_ptr<HostEntry>> HostRegistry::All() const {
  std::lock_guard<std::mutex> l(mu_);
  std::vector<std::shared_ptr<HostEntry>> out;
  out.reserve(hosts_.size());
  for (const auto& [name, e] : hosts_) out.push_back(e);
  return out;
}

std::vector<HostCandidate> HostRegistry::Candidates(const std::string& vm) const {
  std::vector<HostCandidate> out;
  for (const auto& entry : All()) {
    auto view = entry->view();
    HostCandidate c;
    c.name = entry->name();
    c.labels = view.labels;
    c.ready = view.reachable && view.synced;
    c.schedulable = view.spec.schedulable;
    c.capacity = entry->Capacity();
    auto existing = entry->Domain(vm);
    if (existing && !existing->stale && !existing->info.owned) c.foreign_domains.insert(vm);
    out.push_back(std::move(c));
  }
  return out;
}

}  // namespace vmk::reconciler
