// SlowStorageHypervisorFactory: wraps every hypervisor another factory creates (scale_bench: the
// libvirt test:/// hosts) in a SlowStorageHypervisor over one shared FakeStorage, and keeps the
// wrappers by host name so that the benchmark can read their heartbeats and call counts and act
// on their hosts behind the controller's back.
//
// Thread-safety: thread-safe (the map has its own mutex). A hypervisor it returned is owned by
// the controller: the benchmark must not use it after the controller has stopped.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "bench/slow_storage_hypervisor.h"
#include "common/mutex.h"
#include "providers/hypervisor/hypervisor.h"
#include "tests/fakes/fake_storage.h"

namespace vmk::bench {

class SlowStorageHypervisorFactory : public providers::HypervisorFactory {
 public:
  SlowStorageHypervisorFactory(providers::HypervisorFactory* inner,
                               std::shared_ptr<providers::FakeStorage> storage,
                               StorageLatency latency)
      : inner_(inner), storage_(std::move(storage)), latency_(latency) {}

  std::unique_ptr<providers::Hypervisor> Create(const std::string& host_name,
                                                const std::string& uri,
                                                const providers::ConnectOptions& options) override;

  // Every host's latest wrapper, by host name.
  std::map<std::string, SlowStorageHypervisor*> Hosts() const;

 private:
  providers::HypervisorFactory* const inner_;
  const std::shared_ptr<providers::FakeStorage> storage_;
  const StorageLatency latency_;
  mutable Mutex mu_;
  std::map<std::string, SlowStorageHypervisor*> hosts_ GUARDED_BY(mu_);
};

}  // namespace vmk::bench
