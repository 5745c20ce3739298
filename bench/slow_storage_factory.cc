#include "bench/slow_storage_factory.h"

namespace vmk::bench {

std::unique_ptr<providers::Hypervisor> SlowStorageHypervisorFactory::Create(
    const std::string& host_name, const std::string& uri,
    const providers::ConnectOptions& options) {
  auto host = std::make_unique<SlowStorageHypervisor>(inner_->Create(host_name, uri, options),
                                                      storage_, latency_);
  MutexLock lock(&mu_);
  hosts_[host_name] = host.get();
  return host;
}

std::map<std::string, SlowStorageHypervisor*> SlowStorageHypervisorFactory::Hosts() const {
  MutexLock lock(&mu_);
  return hosts_;
}

}  // namespace vmk::bench
