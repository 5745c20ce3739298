#include "reconciler/observed/host_registry.h"

#include <algorithm>
#include <atomic>

namespace vmk::reconciler {

void DomainLocator::Add(const std::string& domain, const HostId& host) {
  MutexLock l(&mu_);
  auto& hosts = hosts_by_domain_[domain];
  if (std::find(hosts.begin(), hosts.end(), host) == hosts.end()) hosts.push_back(host);
}

void DomainLocator::Remove(const std::string& domain, const HostId& host) {
  MutexLock l(&mu_);
  auto it = hosts_by_domain_.find(domain);
  if (it == hosts_by_domain_.end()) return;
  auto& hosts = it->second;
  hosts.erase(std::remove(hosts.begin(), hosts.end(), host), hosts.end());
  if (hosts.empty()) hosts_by_domain_.erase(it);
}

std::vector<DomainLocator::HostId> DomainLocator::HostsOf(const std::string& domain) const {
  MutexLock l(&mu_);
  auto it = hosts_by_domain_.find(domain);
  return it == hosts_by_domain_.end() ? std::vector<HostId>{} : it->second;
}

namespace {
std::atomic<uint64_t> g_next_host_entry_id{1};
}  // namespace

HostEntry::HostEntry(std::string name, std::shared_ptr<providers::Hypervisor> connection,
                     DomainLocator* locator)
    : name_(std::move(name)),
      connection_(std::move(connection)),
      locator_(locator),
      id_(g_next_host_entry_id++) {}

HostEntry::~HostEntry() {
  for (const auto& [name, d] : domains_) locator_->Remove(name, {name_, id_});
}

bool HostEntry::reachable() const {
  MutexLock l(&mu_);
  return view_.reachable;
}

bool HostEntry::fenced() const {
  MutexLock l(&mu_);
  return view_.fenced;
}

void HostEntry::SetFenced(bool fenced) {
  MutexLock l(&mu_);
  view_.fenced = fenced;
}

bool HostEntry::synced() const {
  MutexLock l(&mu_);
  return view_.synced;
}

HostEntry::View HostEntry::view() const {
  MutexLock l(&mu_);
  return view_;
}

void HostEntry::SetSpec(const specs::HostSpec& spec,
                        const std::map<std::string, std::string>& labels) {
  MutexLock l(&mu_);
  view_.spec = spec;
  view_.labels = labels;
}

uint64_t HostEntry::ChangeMark() const {
  MutexLock l(&mu_);
  return changes_;
}

void HostEntry::SetListing(std::vector<providers::DomainInfo> domains,
                           const providers::HostInfo& info, uint64_t since) {
  std::map<std::string, ObservedDomain> fresh;
  for (auto& d : domains) {
    std::string name = d.name;
    ObservedDomain observed;
    observed.info = std::move(d);
    fresh.emplace(std::move(name), std::move(observed));
  }
  MutexLock l(&mu_);
  // What was read or reported after the listing began is newer than the listing: kept (a
  // domain removed meanwhile stays removed).
  for (const auto& [name, at] : changed_at_) {
    if (at <= since) continue;
    auto cached = domains_.find(name);
    if (cached != domains_.end()) {
      fresh[name] = cached->second;
    } else {
      fresh.erase(name);
    }
  }
  std::erase_if(changed_at_, [&](const auto& entry) { return entry.second <= since; });
  // An event that arrived during the listing may be newer than what the listing saw.
  for (const auto& [name, old] : domains_) {
    auto it = fresh.find(name);
    if (it == fresh.end()) {
      locator_->Remove(name, {name_, id_});
    } else if (old.stale) {
      it->second.stale = true;
    }
  }
  for (const auto& [name, d] : fresh) {
    if (!domains_.count(name)) locator_->Add(name, {name_, id_});
  }
  domains_ = std::move(fresh);
  view_.info = info;
  view_.reachable = true;
  view_.sync_attempted = true;
  view_.synced = true;
}

bool HostEntry::SetUnreachable() {
  MutexLock l(&mu_);
  bool was = view_.reachable;
  view_.reachable = false;
  view_.sync_attempted = true;
  return was;
}

void HostEntry::UpdateDomain(const std::string& name,
                             std::optional<providers::DomainInfo> info) {
  MutexLock l(&mu_);
  changed_at_[name] = ++changes_;
  if (info) {
    if (!domains_.count(name)) locator_->Add(name, {name_, id_});
    ObservedDomain& slot = domains_[name];
    slot.info = std::move(*info);
    slot.stale = false;
    // The last event's time and type are kept as evidence of a stop until the domain runs
    // again; after that they would date a later failure wrongly.
    if (providers::IsActive(slot.info.state)) {
      slot.last_event = WallTime{};
      slot.last_event_type = providers::DomainEventType::kOther;
    }
  } else if (domains_.erase(name)) {
    locator_->Remove(name, {name_, id_});
  }
}

void HostEntry::MarkStale(const std::string& name, WallTime event_time,
                          providers::DomainEventType event_type) {
  MutexLock l(&mu_);
  changed_at_[name] = ++changes_;
  auto it = domains_.find(name);
  if (it != domains_.end()) {
    it->second.stale = true;
    it->second.last_event = event_time;
    it->second.last_event_type = event_type;
  } else {
    ObservedDomain unknown;
    unknown.info.name = name;
    unknown.stale = true;
    unknown.last_event = event_time;
    unknown.last_event_type = event_type;
    domains_.emplace(name, std::move(unknown));
    locator_->Add(name, {name_, id_});
  }
}

std::optional<ObservedDomain> HostEntry::Domain(const std::string& name) const {
  MutexLock l(&mu_);
  auto it = domains_.find(name);
  if (it == domains_.end()) return std::nullopt;
  return it->second;
}

std::vector<providers::DomainInfo> HostEntry::Domains() const {
  MutexLock l(&mu_);
  std::vector<providers::DomainInfo> out;
  out.reserve(domains_.size());
  for (const auto& [name, d] : domains_) {
    if (!d.stale || !d.info.uuid.empty()) out.push_back(d.info);
  }
  return out;
}

specs::Capacity HostEntry::Capacity() const {
  MutexLock l(&mu_);
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
  {
    MutexLock l(&mu_);
    auto it = hosts_.find(name);
    if (it != hosts_.end() && it->second->connection()->uri() == spec.uri) {
      it->second->SetSpec(spec, labels);
      return it->second;
    }
  }
  // The connection is made and its handlers set without the registry's lock: a hypervisor may
  // hold its handler's lock while it runs the handler (the fake does, so that a handler never
  // runs after it was replaced), and the handler takes the registry's lock (Get). Taking them in
  // the other order here was a lock-order inversion (ThreadSanitizer). Creating a connection
  // under the lock also held up every Get, the event threads' included.
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
  auto entry = std::make_shared<HostEntry>(name, std::move(connection), &locator_);
  entry->SetSpec(spec, labels);
  MutexLock l(&mu_);
  // One reconcile per host at a time (the work queue's promise) makes a race here unlikely; if
  // another caller got there first with the same URI, theirs stays and this one is dropped.
  auto it = hosts_.find(name);
  if (it != hosts_.end() && it->second->connection()->uri() == spec.uri) {
    it->second->SetSpec(spec, labels);
    return it->second;
  }
  hosts_[name] = entry;
  return entry;
}

std::shared_ptr<HostEntry> HostRegistry::Get(const std::string& name) const {
  MutexLock l(&mu_);
  auto it = hosts_.find(name);
  return it == hosts_.end() ? nullptr : it->second;
}

void HostRegistry::Remove(const std::string& name) {
  std::shared_ptr<HostEntry> removed;
  {
    MutexLock l(&mu_);
    auto it = hosts_.find(name);
    if (it == hosts_.end()) return;
    removed = std::move(it->second);
    hosts_.erase(it);
  }
  // The connection closes when the last user drops its reference, outside the lock.
}

std::vector<std::shared_ptr<HostEntry>> HostRegistry::All() const {
  MutexLock l(&mu_);
  std::vector<std::shared_ptr<HostEntry>> out;
  out.reserve(hosts_.size());
  for (const auto& [name, e] : hosts_) out.push_back(e);
  return out;
}

std::vector<std::shared_ptr<HostEntry>> HostRegistry::HostsWithDomain(
    const std::string& domain) const {
  std::vector<std::shared_ptr<HostEntry>> out;
  for (const auto& [host, id] : locator_.HostsOf(domain)) {
    auto entry = Get(host);
    if (entry && entry->id() == id) out.push_back(std::move(entry));
  }
  return out;
}

std::vector<HostCandidate> HostRegistry::Candidates(const std::string& vm) const {
  std::vector<HostCandidate> out;
  for (const auto& entry : All()) {
    auto view = entry->view();
    HostCandidate c;
    c.name = entry->name();
    c.labels = view.labels;
    c.ready = view.reachable && view.synced && !view.fenced;
    c.schedulable = view.spec.schedulable;
    c.capacity = entry->Capacity();
    auto existing = entry->Domain(vm);
    if (existing && !existing->stale && !existing->info.owned) c.foreign_domains.insert(vm);
    out.push_back(std::move(c));
  }
  return out;
}

}  // namespace vmk::reconciler
