// HostRegistry: the controller's view of its hosts: one hypervisor connection per Host object
// and the observed-state cache of that host's domains (filled by full listings, refreshed per
// domain after our own actions and when libvirt reports an event).
//
// Thread-safe. The registry lock guards only the map; each HostEntry has its own lock that
// guards its data and is never held across a hypervisor call, so a hung host stalls nobody else.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/mutex.h"
#include "providers/hypervisor/hypervisor.h"
#include "reconciler/scheduling/scheduler.h"
#include "specs/types.h"

namespace vmk::reconciler {

// Which hosts' caches hold a domain of a given name: lets a VM reconcile look at the one or two
// hosts that matter instead of every host. Its own lock is taken after a HostEntry's, never
// before. Thread-safe.
class DomainLocator {
 public:
  // A host is identified by its name and the id of its HostEntry: an entry replaced under the
  // same name (new URI) never removes what its successor added.
  using HostId = std::pair<std::string, uint64_t>;
  void Add(const std::string& domain, const HostId& host);
  void Remove(const std::string& domain, const HostId& host);
  std::vector<HostId> HostsOf(const std::string& domain) const;

 private:
  friend class HostEntry;  // names mu_ in its lock order
  mutable Mutex mu_;
  std::unordered_map<std::string, std::vector<HostId>> hosts_by_domain_ GUARDED_BY(mu_);
};

struct ObservedDomain {
  providers::DomainInfo info;
  bool stale = false;  // an event arrived since it was read: read it again before trusting it
  WallTime last_event{};  // when the provider received the latest lifecycle event (0 if none)
  providers::DomainEventType last_event_type = providers::DomainEventType::kOther;
};

class HostEntry {
 public:
  HostEntry(std::string name, std::shared_ptr<providers::Hypervisor> connection,
            DomainLocator* locator);
  ~HostEntry();

  const std::string& name() const { return name_; }
  uint64_t id() const { return id_; }
  const std::shared_ptr<providers::Hypervisor>& connection() const { return connection_; }

  struct View {
    specs::HostSpec spec;
    std::map<std::string, std::string> labels;
    bool reachable = false;
    bool sync_attempted = false;  // at least one sync ran (ok or not)
    bool synced = false;          // the cache holds a complete listing
    // Failed and fenced (or declared safe to fail over): its domains are known dead until it is
    // back and cleaned; copies cached from it do not count, and nothing is placed on it.
    bool fenced = false;
    providers::HostInfo info;
  };
  View view() const;
  void SetSpec(const specs::HostSpec& spec, const std::map<std::string, std::string>& labels);
  // Where the cache's changes stand: taken before a listing is read, so that SetListing can tell
  // what changed while the listing was on its way.
  uint64_t ChangeMark() const;
  // A full listing, read after ChangeMark() returned `since`, replaces the cache; except the
  // domains read again or reported by an event after `since`: those observations are newer
  // than the listing (a listing read just before a start arrives after the start's own read,
  // and said "shut off": a VM restarted for nothing).
  void SetListing(std::vector<providers::DomainInfo> domains, const providers::HostInfo& info,
                  uint64_t since = 0);
  // Returns whether the host was reachable before.
  bool SetUnreachable();
  void SetFenced(bool fenced);
  void UpdateDomain(const std::string& name, std::optional<providers::DomainInfo> info);
  void MarkStale(const std::string& name, WallTime event_time = WallTime{},
                 providers::DomainEventType event_type = providers::DomainEventType::kOther);
  // The cached domain (nullopt if the cache says none) and whether it is stale.
  std::optional<ObservedDomain> Domain(const std::string& name) const;
  bool reachable() const;
  bool synced() const;
  bool fenced() const;
  std::vector<providers::DomainInfo> Domains() const;
  specs::Capacity Capacity() const;  // spec.capacity, else what libvirt reported

 private:
  const std::string name_;
  const std::shared_ptr<providers::Hypervisor> connection_;
  DomainLocator* const locator_;
  const uint64_t id_;
  mutable Mutex mu_ ACQUIRED_BEFORE(locator_->mu_);
  View view_ GUARDED_BY(mu_);
  std::map<std::string, ObservedDomain> domains_ GUARDED_BY(mu_);
  uint64_t changes_ GUARDED_BY(mu_) = 0;  // UpdateDomain and MarkStale calls so far
  // The change number of each domain's latest UpdateDomain/MarkStale (a removal too), for the
  // names changed since the last listing.
  std::map<std::string, uint64_t> changed_at_ GUARDED_BY(mu_);
};

class HostRegistry {
 public:
  using DomainEventHandler = std::function<void(const std::string& host, const providers::DomainEvent&)>;
  using ConnectionEventHandler =
      std::function<void(const std::string& host, const providers::ConnectionEvent&)>;

  HostRegistry(providers::HypervisorFactory* factory, providers::ConnectOptions options,
               DomainEventHandler on_domain, ConnectionEventHandler on_connection);

  // The entry of `name`, created (with a new, not yet connected, connection) when absent or when
  // its URI changed.
  std::shared_ptr<HostEntry> Upsert(const std::string& name, const specs::HostSpec& spec,
                                    const std::map<std::string, std::string>& labels);
  std::shared_ptr<HostEntry> Get(const std::string& name) const;
  void Remove(const std::string& name);
  std::vector<std::shared_ptr<HostEntry>> All() const;  // sorted by name
  // The hosts whose cache holds a domain named `domain` (normally one, or none).
  std::vector<std::shared_ptr<HostEntry>> HostsWithDomain(const std::string& domain) const;
  // Every host as a scheduling candidate for `vm` (allocation left for the PlacementBook).
  std::vector<HostCandidate> Candidates(const std::string& vm) const;

 private:
  providers::HypervisorFactory* const factory_;
  const providers::ConnectOptions options_;
  DomainEventHandler on_domain_;
  ConnectionEventHandler on_connection_;
  DomainLocator locator_;
  mutable Mutex mu_;
  std::map<std::string, std::shared_ptr<HostEntry>> hosts_ GUARDED_BY(mu_);
};

}  // namespace vmk::reconciler
