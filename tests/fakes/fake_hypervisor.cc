#include "tests/fakes/fake_hypervisor.h"

#include <algorithm>
#include <cstdio>


namespace vmk::providers {

namespace {
constexpr int kDetailAdded = 0;       // VIR_DOMAIN_EVENT_DEFINED_ADDED
constexpr int kDetailUpdated = 1;     // VIR_DOMAIN_EVENT_DEFINED_UPDATED
constexpr int kDetailBooted = 0;      // VIR_DOMAIN_EVENT_STARTED_BOOTED
constexpr int kDetailShutdown = 0;    // VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN
constexpr int kDetailDestroyed = 1;   // VIR_DOMAIN_EVENT_STOPPED_DESTROYED
constexpr int kDetailCrashed = 2;     // VIR_DOMAIN_EVENT_STOPPED_CRASHED
constexpr int kDetailRemoved = 0;     // VIR_DOMAIN_EVENT_UNDEFINED_REMOVED
}  // namespace

const char* FakeOpName(FakeOp op) {
  switch (op) {
    case FakeOp::kConnect: return "Connect";
    case FakeOp::kGetHostInfo: return "GetHostInfo";
    case FakeOp::kListDomains: return "ListDomains";
    case FakeOp::kGetDomain: return "GetDomain";
    case FakeOp::kDefine: return "DefineDomain";
    case FakeOp::kStart: return "StartDomain";
    case FakeOp::kShutdown: return "ShutdownDomain";
    case FakeOp::kDestroy: return "DestroyDomain";
    case FakeOp::kUndefine: return "UndefineDomain";
    case FakeOp::kSnapshotDisks: return "SnapshotDisks";
    case FakeOp::kCommitDiskLayer: return "CommitDiskLayer";
  }
  return "unknown";
}

FakeHost::FakeHost(std::string uri, Clock* clock) : uri_(std::move(uri)), clock_(clock) {
  host_info_.cpus = 16;
  host_info_.memoryMiB = 65536;
  host_info_.hypervisor = "Fake";
  host_info_.hostname = "fake";
}

// --- Controls ------------------------------------------------------------------------------

void FakeHost::AttachStorage(std::shared_ptr<FakeStorage> storage, std::vector<std::string> pools) {
  MutexLock lock(&mu_);
  storage_ = std::move(storage);
  visible_pools_ = std::move(pools);
}

std::shared_ptr<StoragePool> FakeHost::OpenStoragePool(const std::string& name) {
  MutexLock lock(&mu_);
  if (storage_ == nullptr ||
      std::find(visible_pools_.begin(), visible_pools_.end(), name) == visible_pools_.end()) {
    return nullptr;
  }
  return storage_->Pool(name, [this] { return reachable(); });
}

Status FakeHost::SnapshotDisks(const std::shared_ptr<Subscriber>& sub, const std::string& name,
                               const std::vector<DiskSnapshotTarget>& disks) {
  std::vector<std::pair<std::string, std::string>> tops;
  std::shared_ptr<FakeStorage> storage;
  {
    MutexLock lock(&mu_);
    VMK_RETURN_IF_ERROR(BeginCall(FakeOp::kSnapshotDisks, sub));
    VMK_RETURN_IF_ERROR(CheckOwnedLocked(name));
    DomainRecord& d = domains_[name];
    if (!IsActive(d.state)) {
      return Status::FailedPrecondition("snapshot disks of " + name + ": not running");
    }
    if (disks.empty()) return Status::InvalidArgument("snapshot of " + name + ": no disks");
    for (const DiskSnapshotTarget& t : disks) {
      auto disk = std::find_if(d.config.disks.begin(), d.config.disks.end(),
                               [&](const DiskConfig& c) { return c.target == t.target; });
      if (disk == d.config.disks.end()) {
        return Status::InvalidArgument("snapshot of " + name + ": it has no disk " + t.target);
      }
      tops.emplace_back(disk->source, t.new_path);
    }
    if (storage_ == nullptr) {
      return Status::FailedPrecondition("snapshot of " + name + ": the host has no storage");
    }
    storage = storage_;
  }
  // The storage has its own lock; the host's is not held across it.
  VMK_RETURN_IF_ERROR(storage->SwitchTops(tops));
  MutexLock lock(&mu_);
  auto it = domains_.find(name);
  if (it == domains_.end()) return Status::Ok();
  // Like libvirt: the definition now names the new tops.
  for (const DiskSnapshotTarget& t : disks) {
    for (DiskConfig& c : it->second.config.disks) {
      if (c.target == t.target) {
        c.source = t.new_path;
        c.format = ImageFormat::kQcow2;
      }
    }
  }
  return Status::Ok();
}

Status FakeHost::CommitDiskLayer(const std::shared_ptr<Subscriber>& sub, const std::string& name,
                                 const LayerCommit& commit) {
  std::string active_top;
  std::shared_ptr<FakeStorage> storage;
  {
    MutexLock lock(&mu_);
    VMK_RETURN_IF_ERROR(BeginCall(FakeOp::kCommitDiskLayer, sub));
    VMK_RETURN_IF_ERROR(CheckOwnedLocked(name));
    const DomainRecord& d = domains_[name];
    if (!IsActive(d.state)) {
      return Status::FailedPrecondition("commit in " + name + ": not running");
    }
    auto disk = std::find_if(d.config.disks.begin(), d.config.disks.end(),
                             [&](const DiskConfig& c) { return c.target == commit.target; });
    if (disk == d.config.disks.end()) {
      return Status::InvalidArgument("commit in " + name + ": it has no disk " + commit.target);
    }
    if (storage_ == nullptr) {
      return Status::FailedPrecondition("commit in " + name + ": the host has no storage");
    }
    active_top = disk->source;
    storage = storage_;
  }
  // The storage has its own lock; the host's is not held across it. The definition names the
  // active top, which a commit below it does not change.
  return storage->CommitLayer(active_top, commit.base, commit.top);
}

void FakeHost::SetReachable(bool reachable) {
  {
    MutexLock lock(&mu_);
    if (reachable_ == reachable) return;
    reachable_ = reachable;
    if (!reachable) DisconnectAllLocked("keepalive");
  }
  Flush();
}

void FakeHost::Crash() {
  {
    MutexLock lock(&mu_);
    bool was_reachable = reachable_;
    reachable_ = false;
    for (auto it = domains_.begin(); it != domains_.end();) {
      DomainRecord& d = it->second;
      if (IsActive(d.state) || d.state == DomainState::kShutdown) {
        d.state = DomainState::kShutoff;
        d.live_generation = 0;
      }
      if (!d.persistent) {
        it = domains_.erase(it);
      } else {
        ++it;
      }
    }
    if (was_reachable) DisconnectAllLocked("eof");
  }
  Flush();
}

bool FakeHost::reachable() const {
  MutexLock lock(&mu_);
  return reachable_;
}

void FakeHost::InjectFailure(FakeOp op, Status status, int times) {
  MutexLock lock(&mu_);
  failures_[op] = {std::move(status), times};
}

void FakeHost::ClearFailures() {
  MutexLock lock(&mu_);
  failures_.clear();
}

void FakeHost::SetIgnoreShutdown(bool ignore) {
  MutexLock lock(&mu_);
  ignore_shutdown_ = ignore;
}

void FakeHost::SetHostInfo(const HostInfo& info) {
  MutexLock lock(&mu_);
  host_info_ = info;
}

std::optional<DomainInfo> FakeHost::Domain(const std::string& name) const {
  MutexLock lock(&mu_);
  auto it = domains_.find(name);
  if (it == domains_.end()) return std::nullopt;
  return InfoLocked(name, it->second);
}

std::vector<std::string> FakeHost::DomainNames() const {
  MutexLock lock(&mu_);
  std::vector<std::string> names;
  for (const auto& [name, d] : domains_) names.push_back(name);
  return names;
}

int FakeHost::CallCount(FakeOp op) const {
  MutexLock lock(&mu_);
  auto it = calls_.find(op);
  return it == calls_.end() ? 0 : it->second;
}

int FakeHost::MutatingCallCount() const {
  int total = 0;
  for (FakeOp op : {FakeOp::kDefine, FakeOp::kStart, FakeOp::kShutdown, FakeOp::kDestroy,
                    FakeOp::kUndefine}) {
    total += CallCount(op);
  }
  return total;
}

void FakeHost::ResetCallCounts() {
  MutexLock lock(&mu_);
  calls_.clear();
}

Status FakeHost::DefineForeignDomain(const std::string& name, bool running) {
  {
    MutexLock lock(&mu_);
    if (domains_.count(name)) return Status::AlreadyExists("domain " + name + " exists");
    DomainRecord d;
    char uuid[40];
    std::snprintf(uuid, sizeof(uuid), "00000000-0000-4000-8000-%012llu",
                  static_cast<unsigned long long>(next_uuid_++));
    d.uuid = uuid;
    d.owned = false;
    d.config.name = name;
    d.state = running ? DomainState::kRunning : DomainState::kShutoff;
    domains_[name] = d;
    QueueDomainEventLocked(name, DomainEventType::kDefined, kDetailAdded);
    if (running) QueueDomainEventLocked(name, DomainEventType::kStarted, kDetailBooted);
  }
  Flush();
  return Status::Ok();
}

Status FakeHost::EditDefinition(const std::string& name,
                                const std::function<void(DomainConfig*)>& edit) {
  {
    MutexLock lock(&mu_);
    auto it = domains_.find(name);
    if (it == domains_.end()) return Status::NotFound("domain " + name + " not found");
    edit(&it->second.config);
    it->second.persistent = true;
    QueueDomainEventLocked(name, DomainEventType::kDefined, kDetailUpdated);
  }
  Flush();
  return Status::Ok();
}

Status FakeHost::StripOwnerMark(const std::string& name) {
  {
    MutexLock lock(&mu_);
    auto it = domains_.find(name);
    if (it == domains_.end()) return Status::NotFound("domain " + name + " not found");
    it->second.owned = false;
    it->second.config.generation = 0;
    QueueDomainEventLocked(name, DomainEventType::kDefined, kDetailUpdated);
  }
  Flush();
  return Status::Ok();
}

Status FakeHost::SetRunning(const std::string& name, bool running) {
  {
    MutexLock lock(&mu_);
    auto it = domains_.find(name);
    if (it == domains_.end()) return Status::NotFound("domain " + name + " not found");
    DomainRecord& d = it->second;
    if (running && !IsActive(d.state)) {
      d.state = DomainState::kRunning;
      d.live_generation = d.owned ? d.config.generation : 0;
      QueueDomainEventLocked(name, DomainEventType::kStarted, kDetailBooted);
    } else if (!running && IsActive(d.state)) {
      StopLocked(name, DomainEventType::kStopped, kDetailDestroyed);
    }
  }
  Flush();
  return Status::Ok();
}

Status FakeHost::CrashDomain(const std::string& name) {
  {
    MutexLock lock(&mu_);
    auto it = domains_.find(name);
    if (it == domains_.end()) return Status::NotFound("domain " + name + " not found");
    if (!IsActive(it->second.state)) {
      return Status::FailedPrecondition("domain " + name + " is not running");
    }
    StopLocked(name, DomainEventType::kCrashed, kDetailCrashed);
  }
  Flush();
  return Status::Ok();
}

Status FakeHost::RemoveDomain(const std::string& name) {
  {
    MutexLock lock(&mu_);
    auto it = domains_.find(name);
    if (it == domains_.end()) return Status::NotFound("domain " + name + " not found");
    if (IsActive(it->second.state)) {
      it->second.persistent = false;  // StopLocked then drops it
      StopLocked(name, DomainEventType::kStopped, kDetailDestroyed);
    } else {
      domains_.erase(it);
    }
    QueueDomainEventLocked(name, DomainEventType::kUndefined, kDetailRemoved);
  }
  Flush();
  return Status::Ok();
}

void FakeHost::EmitDomainEvent(const DomainEvent& event) {
  {
    MutexLock lock(&mu_);
    Pending p;
    p.domain_event = event;
    for (const auto& s : subscribers_) {
      if (s->connected) p.to.push_back(s);
    }
    pending_.push_back(std::move(p));
  }
  Flush();
}

void FakeHost::SetManualEventDelivery(bool manual) {
  {
    MutexLock lock(&mu_);
    manual_delivery_ = manual;
  }
  if (!manual) Flush();
}

size_t FakeHost::DeliverPendingEvents() {
  // A handler that causes further events (through this host) must not deadlock: the outer
  // delivery loop on this thread picks those up, in order.
  thread_local const FakeHost* delivering = nullptr;
  if (delivering == this) return 0;
  MutexLock order(&delivery_mu_);
  const FakeHost* outer = delivering;
  delivering = this;
  size_t delivered = 0;
  while (true) {
    Pending p;
    {
      MutexLock lock(&mu_);
      if (pending_.empty()) break;
      p = std::move(pending_.front());
      pending_.pop_front();
    }
    for (const auto& s : p.to) {
      MutexLock l(&s->mu);
      if (p.domain_event && s->domain_handler) s->domain_handler(*p.domain_event);
      if (p.connection_event && s->connection_handler) s->connection_handler(*p.connection_event);
    }
    ++delivered;
  }
  delivering = outer;
  return delivered;
}

// --- Internals -----------------------------------------------------------------------------

void FakeHost::Flush() {
  {
    MutexLock lock(&mu_);
    if (manual_delivery_) return;
  }
  DeliverPendingEvents();
}

Status FakeHost::BeginCall(FakeOp op, const std::shared_ptr<Subscriber>& sub) {
  ++calls_[op];
  auto it = failures_.find(op);
  if (it != failures_.end()) {
    Status s = it->second.first;
    if (it->second.second > 0 && --it->second.second == 0) failures_.erase(it);
    return s;
  }
  if (!reachable_) {
    if (sub) sub->connected = false;
    return Status::Unavailable("host " + uri_ + " is unreachable");
  }
  if (op != FakeOp::kConnect && (!sub || !sub->connected)) {
    return Status::Unavailable("not connected to " + uri_);
  }
  return Status::Ok();
}

Status FakeHost::CheckOwnedLocked(const std::string& name) const {
  auto it = domains_.find(name);
  if (it == domains_.end()) return Status::NotFound("domain " + name + " not found");
  if (!it->second.owned) {
    return Status::FailedPrecondition("domain " + name + " is not owned by vmkeeper");
  }
  return Status::Ok();
}

DomainInfo FakeHost::InfoLocked(const std::string& name, const DomainRecord& d) const {
  DomainInfo info;
  info.name = name;
  info.uuid = d.uuid;
  info.owned = d.owned;
  info.state = d.state;
  info.persistent = d.persistent;
  if (d.owned) {
    info.config = d.config;
    info.live_generation = IsActive(d.state) ? d.live_generation : 0;
  }
  return info;
}

void FakeHost::QueueDomainEventLocked(const std::string& name, DomainEventType type, int detail) {
  Pending p;
  DomainEvent e;
  e.domain = name;
  e.type = type;
  e.detail = detail;
  e.time = clock_->WallNow();
  p.domain_event = e;
  for (const auto& s : subscribers_) {
    if (s->connected) p.to.push_back(s);
  }
  if (!p.to.empty()) pending_.push_back(std::move(p));
}

void FakeHost::DisconnectAllLocked(const std::string& reason) {
  Pending p;
  ConnectionEvent e;
  e.alive = false;
  e.reason = reason;
  e.time = clock_->WallNow();
  p.connection_event = e;
  for (const auto& s : subscribers_) {
    if (s->connected) p.to.push_back(s);
    s->connected = false;
  }
  subscribers_.clear();
  if (!p.to.empty()) pending_.push_back(std::move(p));
}

void FakeHost::StopLocked(const std::string& name, DomainEventType type, int detail) {
  auto it = domains_.find(name);
  if (it == domains_.end()) return;
  it->second.state = DomainState::kShutoff;
  it->second.live_generation = 0;
  QueueDomainEventLocked(name, type, detail);
  if (!it->second.persistent) domains_.erase(it);
}

// --- Operations ----------------------------------------------------------------------------

Status FakeHost::Connect(const std::shared_ptr<Subscriber>& sub) {
  MutexLock lock(&mu_);
  if (sub->connected && reachable_) {
    ++calls_[FakeOp::kConnect];
    return Status::Ok();
  }
  VMK_RETURN_IF_ERROR(BeginCall(FakeOp::kConnect, sub));
  sub->connected = true;
  subscribers_.push_back(sub);
  return Status::Ok();
}

void FakeHost::Disconnect(const std::shared_ptr<Subscriber>& sub) {
  MutexLock lock(&mu_);
  sub->connected = false;
  std::erase(subscribers_, sub);
}

StatusOr<HostInfo> FakeHost::GetHostInfo(const std::shared_ptr<Subscriber>& sub) {
  MutexLock lock(&mu_);
  VMK_RETURN_IF_ERROR(BeginCall(FakeOp::kGetHostInfo, sub));
  return host_info_;
}

StatusOr<std::vector<DomainInfo>> FakeHost::ListDomains(const std::shared_ptr<Subscriber>& sub) {
  MutexLock lock(&mu_);
  VMK_RETURN_IF_ERROR(BeginCall(FakeOp::kListDomains, sub));
  std::vector<DomainInfo> result;
  result.reserve(domains_.size());
  for (const auto& [name, d] : domains_) result.push_back(InfoLocked(name, d));
  return result;
}

StatusOr<std::optional<DomainInfo>> FakeHost::GetDomain(const std::shared_ptr<Subscriber>& sub,
                                                        const std::string& name) {
  MutexLock lock(&mu_);
  VMK_RETURN_IF_ERROR(BeginCall(FakeOp::kGetDomain, sub));
  auto it = domains_.find(name);
  if (it == domains_.end()) return std::optional<DomainInfo>();
  return std::optional<DomainInfo>(InfoLocked(name, it->second));
}

Status FakeHost::DefineDomain(const std::shared_ptr<Subscriber>& sub, const DomainConfig& config) {
  if (config.name.empty()) return Status::InvalidArgument("domain name must not be empty");
  if (config.cpus <= 0) return Status::InvalidArgument("cpus must be positive");
  if (config.memoryMiB <= 0) return Status::InvalidArgument("memoryMiB must be positive");
  {
    MutexLock lock(&mu_);
    VMK_RETURN_IF_ERROR(BeginCall(FakeOp::kDefine, sub));
    auto it = domains_.find(config.name);
    DomainConfig stored = config;
    // Like the XML round trip: empty targets are filled in.
    for (size_t i = 0; i < stored.disks.size(); ++i) {
      if (stored.disks[i].target.empty()) stored.disks[i].target = DefaultDiskTarget(i);
    }
    if (it != domains_.end()) {
      if (!it->second.owned) {
        return Status::FailedPrecondition("domain " + config.name + " is not owned by vmkeeper");
      }
      it->second.config = stored;
      it->second.persistent = true;
      QueueDomainEventLocked(config.name, DomainEventType::kDefined, kDetailUpdated);
    } else {
      DomainRecord d;
      char uuid[40];
      std::snprintf(uuid, sizeof(uuid), "00000000-0000-4000-8000-%012llu",
                    static_cast<unsigned long long>(next_uuid_++));
      d.uuid = uuid;
      d.config = stored;
      domains_[config.name] = d;
      QueueDomainEventLocked(config.name, DomainEventType::kDefined, kDetailAdded);
    }
  }
  Flush();
  return Status::Ok();
}

Status FakeHost::StartDomain(const std::shared_ptr<Subscriber>& sub, const std::string& name) {
  {
    MutexLock lock(&mu_);
    VMK_RETURN_IF_ERROR(BeginCall(FakeOp::kStart, sub));
    VMK_RETURN_IF_ERROR(CheckOwnedLocked(name));
    DomainRecord& d = domains_[name];
    if (IsActive(d.state)) return Status::Ok();
    d.state = DomainState::kRunning;
    d.live_generation = d.config.generation;
    QueueDomainEventLocked(name, DomainEventType::kStarted, kDetailBooted);
  }
  Flush();
  return Status::Ok();
}

Status FakeHost::ShutdownDomain(const std::shared_ptr<Subscriber>& sub, const std::string& name) {
  {
    MutexLock lock(&mu_);
    VMK_RETURN_IF_ERROR(BeginCall(FakeOp::kShutdown, sub));
    VMK_RETURN_IF_ERROR(CheckOwnedLocked(name));
    if (!IsActive(domains_[name].state)) return Status::Ok();
    if (ignore_shutdown_) return Status::Ok();
    StopLocked(name, DomainEventType::kStopped, kDetailShutdown);
  }
  Flush();
  return Status::Ok();
}

Status FakeHost::DestroyDomain(const std::shared_ptr<Subscriber>& sub, const std::string& name) {
  {
    MutexLock lock(&mu_);
    VMK_RETURN_IF_ERROR(BeginCall(FakeOp::kDestroy, sub));
    VMK_RETURN_IF_ERROR(CheckOwnedLocked(name));
    if (!IsActive(domains_[name].state)) return Status::Ok();
    StopLocked(name, DomainEventType::kStopped, kDetailDestroyed);
  }
  Flush();
  return Status::Ok();
}

Status FakeHost::UndefineDomain(const std::shared_ptr<Subscriber>& sub, const std::string& name) {
  {
    MutexLock lock(&mu_);
    VMK_RETURN_IF_ERROR(BeginCall(FakeOp::kUndefine, sub));
    Status owned = CheckOwnedLocked(name);
    if (owned.code() == StatusCode::kNotFound) return Status::Ok();
    VMK_RETURN_IF_ERROR(owned);
    auto it = domains_.find(name);
    if (IsActive(it->second.state)) {
      it->second.persistent = false;  // keeps running as a transient domain
    } else {
      domains_.erase(it);
    }
    QueueDomainEventLocked(name, DomainEventType::kUndefined, kDetailRemoved);
  }
  Flush();
  return Status::Ok();
}

// --- FakeHypervisor ------------------------------------------------------------------------

FakeHypervisor::FakeHypervisor(std::shared_ptr<FakeHost> host)
    : host_(std::move(host)), subscriber_(std::make_shared<FakeHost::Subscriber>()) {}

FakeHypervisor::~FakeHypervisor() {
  host_->Disconnect(subscriber_);
  // Wait out a handler running right now, and keep later ones away.
  MutexLock lock(&subscriber_->mu);
  subscriber_->domain_handler = nullptr;
  subscriber_->connection_handler = nullptr;
}

bool FakeHypervisor::IsAlive() {
  MutexLock lock(&host_->mu_);
  return subscriber_->connected && host_->reachable_;
}

Status FakeHypervisor::Connect() { return host_->Connect(subscriber_); }
StatusOr<HostInfo> FakeHypervisor::GetHostInfo() { return host_->GetHostInfo(subscriber_); }
StatusOr<std::vector<DomainInfo>> FakeHypervisor::ListDomains() {
  return host_->ListDomains(subscriber_);
}
StatusOr<std::optional<DomainInfo>> FakeHypervisor::GetDomain(const std::string& name) {
  return host_->GetDomain(subscriber_, name);
}
Status FakeHypervisor::DefineDomain(const DomainConfig& config) {
  return host_->DefineDomain(subscriber_, config);
}
Status FakeHypervisor::StartDomain(const std::string& name) {
  return host_->StartDomain(subscriber_, name);
}
Status FakeHypervisor::ShutdownDomain(const std::string& name) {
  return host_->ShutdownDomain(subscriber_, name);
}
Status FakeHypervisor::DestroyDomain(const std::string& name) {
  return host_->DestroyDomain(subscriber_, name);
}
Status FakeHypervisor::UndefineDomain(const std::string& name) {
  return host_->UndefineDomain(subscriber_, name);
}

std::shared_ptr<StoragePool> FakeHypervisor::OpenStoragePool(const std::string& name) {
  std::shared_ptr<StoragePool> pool = host_->OpenStoragePool(name);
  return pool != nullptr ? pool : Hypervisor::OpenStoragePool(name);
}

Status FakeHypervisor::SnapshotDisks(const std::string& domain,
                                     const std::vector<DiskSnapshotTarget>& disks) {
  return host_->SnapshotDisks(subscriber_, domain, disks);
}

Status FakeHypervisor::CommitDiskLayer(const std::string& domain, const LayerCommit& commit,
                                       std::chrono::milliseconds) {
  return host_->CommitDiskLayer(subscriber_, domain, commit);
}

void FakeHypervisor::SetDomainEventHandler(std::function<void(const DomainEvent&)> handler) {
  MutexLock lock(&subscriber_->mu);
  subscriber_->domain_handler = std::move(handler);
}

void FakeHypervisor::SetConnectionEventHandler(
    std::function<void(const ConnectionEvent&)> handler) {
  MutexLock lock(&subscriber_->mu);
  subscriber_->connection_handler = std::move(handler);
}

// --- FakeHypervisorFactory -----------------------------------------------------------------

std::unique_ptr<Hypervisor> FakeHypervisorFactory::Create(const std::string& host_name,
                                                          const std::string& uri,
                                                          const ConnectOptions& options) {
  bool created_host = false;
  std::shared_ptr<FakeHost> h;
  {
    MutexLock lock(&mu_);
    ++created_;
    auto& slot = hosts_[uri];
    if (!slot) {
      slot = std::make_shared<FakeHost>(uri, clock_);
      created_host = true;
    }
    h = slot;
  }
  if (created_host && uri.rfind("test:///embedded/", 0) == 0) {
    HostInfo info;
    info.cpus = options.embedded_cpus;
    info.memoryMiB = options.embedded_memory_mib;
    info.hypervisor = "TEST";  // as libvirt's test driver reports it
    info.hostname = host_name;
    h->SetHostInfo(info);
  }
  return std::make_unique<FakeHypervisor>(h);
}

std::shared_ptr<FakeHost> FakeHypervisorFactory::host(const std::string& uri) {
  MutexLock lock(&mu_);
  auto& slot = hosts_[uri];
  if (!slot) slot = std::make_shared<FakeHost>(uri, clock_);
  return slot;
}

std::vector<std::string> FakeHypervisorFactory::uris() const {
  MutexLock lock(&mu_);
  std::vector<std::string> result;
  for (const auto& [uri, h] : hosts_) result.push_back(uri);
  return result;
}

int FakeHypervisorFactory::created() const {
  MutexLock lock(&mu_);
  return created_;
}

}  // namespace vmk::providers
