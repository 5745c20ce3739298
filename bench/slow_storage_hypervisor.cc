#include "bench/slow_storage_hypervisor.h"

#include <algorithm>
#include <utility>

namespace vmk::bench {

using providers::DiskSnapshotTarget;
using providers::DomainInfo;
using providers::StoragePool;

namespace {

// A pool of the FakeStorage as one host sees it: every call is one call of that host's
// connection (SlowStorageHypervisor::Call), with the latency of its kind.
class SlowStoragePool : public StoragePool {
 public:
  SlowStoragePool(std::shared_ptr<StoragePool> inner, SlowStorageHypervisor* host,
                  StorageLatency latency)
      : inner_(std::move(inner)), host_(host), latency_(latency) {}

  const std::string& name() const override { return inner_->name(); }
  StatusOr<providers::PoolInfo> Info() override {
    return host_->Call<StatusOr<providers::PoolInfo>>(latency_.lookup,
                                                      [&] { return inner_->Info(); });
  }
  StatusOr<providers::VolumeInfo> CreateVolume(const providers::VolumeRequest& request) override {
    return host_->Call<StatusOr<providers::VolumeInfo>>(
        latency_.change, [&] { return inner_->CreateVolume(request); });
  }
  StatusOr<std::optional<providers::VolumeInfo>> GetVolume(const std::string& name) override {
    return host_->Call<StatusOr<std::optional<providers::VolumeInfo>>>(
        latency_.lookup, [&] { return inner_->GetVolume(name); });
  }
  StatusOr<std::vector<providers::VolumeInfo>> ListVolumes() override {
    return host_->Call<StatusOr<std::vector<providers::VolumeInfo>>>(
        latency_.lookup, [&] { return inner_->ListVolumes(); });
  }
  Status DeleteVolume(const std::string& name) override {
    return host_->Call<Status>(latency_.change, [&] { return inner_->DeleteVolume(name); });
  }
  StatusOr<std::vector<providers::VolumeInfo>> FreezeVolumes(
      const std::vector<providers::FreezeRequest>& requests) override {
    return host_->Call<StatusOr<std::vector<providers::VolumeInfo>>>(
        latency_.change, [&] { return inner_->FreezeVolumes(requests); });
  }
  Status MergeBackingIntoChild(const std::string& child) override {
    return host_->Call<Status>(latency_.change,
                               [&] { return inner_->MergeBackingIntoChild(child); });
  }

 private:
  const std::shared_ptr<StoragePool> inner_;
  SlowStorageHypervisor* const host_;  // outlives the pass that uses this view
  const StorageLatency latency_;
};

}  // namespace

SlowStorageHypervisor::SlowStorageHypervisor(std::unique_ptr<providers::Hypervisor> target,
                                             std::shared_ptr<providers::FakeStorage> storage,
                                             StorageLatency latency)
    : HypervisorWrapper(std::move(target)), storage_(std::move(storage)), latency_(latency) {}

SlowStorageHypervisor::~SlowStorageHypervisor() { ResetTarget(); }

Status SlowStorageHypervisor::Connect() {
  return Call<Status>(std::chrono::milliseconds(0), [&] { return HypervisorWrapper::Connect(); });
}

StatusOr<providers::HostInfo> SlowStorageHypervisor::GetHostInfo() {
  return Call<StatusOr<providers::HostInfo>>(std::chrono::milliseconds(0),
                                             [&] { return HypervisorWrapper::GetHostInfo(); });
}

Status SlowStorageHypervisor::CheckAlive() {
  {
    MutexLock lock(&beats_mu_);
    beats_.push_back(std::chrono::steady_clock::now());
  }
  // As LibvirtHypervisor::CheckAlive: while a call runs, the connection's liveness is the
  // heartbeat (a busy host is not a dead one).
  if (in_calls_ > 0) {
    return IsAlive() ? Status::Ok() : Status::Unavailable("connection to " + uri() + " closed");
  }
  return Call<Status>(std::chrono::milliseconds(0),
                      [&] { return HypervisorWrapper::CheckAlive(); });
}

StatusOr<std::vector<DomainInfo>> SlowStorageHypervisor::ListDomains() {
  return Call<StatusOr<std::vector<DomainInfo>>>(
      std::chrono::milliseconds(0), [&] { return HypervisorWrapper::ListDomains(); });
}

StatusOr<std::optional<DomainInfo>> SlowStorageHypervisor::GetDomain(const std::string& name) {
  return Call<StatusOr<std::optional<DomainInfo>>>(
      std::chrono::milliseconds(0), [&] { return HypervisorWrapper::GetDomain(name); });
}

Status SlowStorageHypervisor::DefineDomain(const providers::DomainConfig& config) {
  return Call<Status>(std::chrono::milliseconds(0),
                      [&] { return HypervisorWrapper::DefineDomain(config); });
}

Status SlowStorageHypervisor::StartDomain(const std::string& name) {
  return Call<Status>(std::chrono::milliseconds(0),
                      [&] { return HypervisorWrapper::StartDomain(name); });
}

Status SlowStorageHypervisor::ShutdownDomain(const std::string& name) {
  return Call<Status>(std::chrono::milliseconds(0),
                      [&] { return HypervisorWrapper::ShutdownDomain(name); });
}

Status SlowStorageHypervisor::DestroyDomain(const std::string& name) {
  return Call<Status>(std::chrono::milliseconds(0),
                      [&] { return HypervisorWrapper::DestroyDomain(name); });
}

Status SlowStorageHypervisor::UndefineDomain(const std::string& name) {
  return Call<Status>(std::chrono::milliseconds(0),
                      [&] { return HypervisorWrapper::UndefineDomain(name); });
}

std::shared_ptr<StoragePool> SlowStorageHypervisor::OpenStoragePool(const std::string& name) {
  // The host's view of the shared pool fails (Unavailable) while the host does not answer.
  return std::make_shared<SlowStoragePool>(storage_->Pool(name, [this] { return IsAlive(); }),
                                           this, latency_);
}

Status SlowStorageHypervisor::SnapshotDisks(const std::string& domain,
                                            const std::vector<DiskSnapshotTarget>& disks) {
  ++snapshot_calls_;
  return Call<Status>(latency_.change, [&] { return SwitchDisks(domain, disks); });
}

// Within one Call: the checks the real call makes, the new tops, and the definition onto them.
Status SlowStorageHypervisor::SwitchDisks(const std::string& domain,
                                          const std::vector<DiskSnapshotTarget>& disks) {
  const std::string what = "snapshot disks of " + domain;
  if (disks.empty()) return Status::InvalidArgument(what + ": no disks");
  auto found = target()->GetDomain(domain);
  if (!found.ok()) return found.status();
  if (!*found || !(*found)->owned) {
    return Status::FailedPrecondition(what + ": no domain of that name owned by vmkeeper");
  }
  if (!providers::IsActive((*found)->state)) {
    return Status::FailedPrecondition(what + ": the domain is not running");
  }
  if (!(*found)->config) return Status::Internal(what + ": the definition could not be read");
  providers::DomainConfig config = *(*found)->config;
  std::vector<std::pair<std::string, std::string>> tops;
  for (const DiskSnapshotTarget& d : disks) {
    auto disk = std::find_if(config.disks.begin(), config.disks.end(),
                             [&](const providers::DiskConfig& c) { return c.target == d.target; });
    if (disk == config.disks.end()) {
      return Status::InvalidArgument(what + ": it has no disk " + d.target);
    }
    tops.emplace_back(disk->source, d.new_path);
    disk->source = d.new_path;
    disk->format = providers::ImageFormat::kQcow2;
  }
  VMK_RETURN_IF_ERROR(storage_->SwitchTops(tops));
  ExpectOwnDefine(domain);
  Status defined = target()->DefineDomain(config);
  if (!defined.ok()) {
    // The tops moved but the definition did not follow: a real host never shows this.
    return Status::Internal(what + ": redefining onto the new tops failed: " +
                            defined.message());
  }
  return Status::Ok();
}

void SlowStorageHypervisor::SetDomainEventHandler(
    std::function<void(const providers::DomainEvent&)> handler) {
  {
    MutexLock lock(&events_mu_);
    handler_ = std::move(handler);
  }
  HypervisorWrapper::SetDomainEventHandler([this](const providers::DomainEvent& e) {
    MutexLock lock(&events_mu_);
    if (e.type == providers::DomainEventType::kDefined) {
      auto own = own_defines_.find(e.domain);
      if (own != own_defines_.end()) {
        if (--own->second == 0) own_defines_.erase(own);
        ++own_defines_dropped_;
        return;
      }
    }
    if (handler_) handler_(e);
  });
}

void SlowStorageHypervisor::ExpectOwnDefine(const std::string& domain) {
  MutexLock lock(&events_mu_);
  ++own_defines_[domain];
}

std::vector<std::chrono::steady_clock::time_point> SlowStorageHypervisor::Heartbeats() const {
  MutexLock lock(&beats_mu_);
  return beats_;
}

long SlowStorageHypervisor::snapshot_calls() const { return snapshot_calls_; }

long SlowStorageHypervisor::own_defines_dropped() const {
  MutexLock lock(&events_mu_);
  return own_defines_dropped_;
}

int SlowStorageHypervisor::own_defines_expected() const {
  MutexLock lock(&events_mu_);
  int n = 0;
  for (const auto& [domain, count] : own_defines_) n += count;
  return n;
}

double SlowStorageHypervisor::connection_wait_ms() const {
  return static_cast<double>(wait_us_) / 1000.0;
}

}  // namespace vmk::bench
