// HypervisorWrapper: a Hypervisor that forwards every call to another one (LevelDB's
// EnvWrapper). A decorator (fault injection, observation, counting) derives from it and
// overrides only what it changes; whatever the interface gains later is forwarded without
// touching the decorators. Thread-safety: that of the target.
#pragma once

#include <memory>
#include <utility>

#include "providers/hypervisor/hypervisor.h"

namespace vmk::providers {

class HypervisorWrapper : public Hypervisor {
 public:
  explicit HypervisorWrapper(std::unique_ptr<Hypervisor> target) : target_(std::move(target)) {}
  ~HypervisorWrapper() override = default;

  Hypervisor* target() const { return target_.get(); }

  const std::string& uri() const override { return target_->uri(); }
  bool IsAlive() override { return target_->IsAlive(); }
  Status Connect() override { return target_->Connect(); }
  StatusOr<HostInfo> GetHostInfo() override { return target_->GetHostInfo(); }
  Status CheckAlive() override { return target_->CheckAlive(); }
  void Abandon() override { target_->Abandon(); }
  // Heartbeat is not forwarded: the default goes through this wrapper's IsAlive, CheckAlive and
  // Connect, so what a wrapper injects there reaches the heartbeat too.
  StatusOr<std::vector<DomainInfo>> ListDomains() override { return target_->ListDomains(); }
  StatusOr<std::optional<DomainInfo>> GetDomain(const std::string& name) override {
    return target_->GetDomain(name);
  }
  Status DefineDomain(const DomainConfig& config) override { return target_->DefineDomain(config); }
  Status StartDomain(const std::string& name) override { return target_->StartDomain(name); }
  Status ShutdownDomain(const std::string& name) override { return target_->ShutdownDomain(name); }
  Status DestroyDomain(const std::string& name) override { return target_->DestroyDomain(name); }
  Status UndefineDomain(const std::string& name) override { return target_->UndefineDomain(name); }
  std::shared_ptr<StoragePool> OpenStoragePool(const std::string& name) override {
    return target_->OpenStoragePool(name);
  }
  Status SnapshotDisks(const std::string& domain,
                       const std::vector<DiskSnapshotTarget>& disks) override {
    return target_->SnapshotDisks(domain, disks);
  }
  Status CommitDiskLayer(const std::string& domain, const LayerCommit& commit,
                         std::chrono::milliseconds timeout) override {
    return target_->CommitDiskLayer(domain, commit, timeout);
  }
  void SetDomainEventHandler(std::function<void(const DomainEvent&)> handler) override {
    target_->SetDomainEventHandler(std::move(handler));
  }
  void SetConnectionEventHandler(std::function<void(const ConnectionEvent&)> handler) override {
    target_->SetConnectionEventHandler(std::move(handler));
  }

 protected:
  // For a decorator that must drop its target before its own members (handlers it installed
  // read them): once the target is gone, none of them runs.
  void ResetTarget() { target_.reset(); }

 private:
  std::unique_ptr<Hypervisor> target_;
};

}  // namespace vmk::providers
