// SlowStorageHypervisor: a host for scale_bench's storage mode. Domains are those of the wrapped
// hypervisor (a libvirt test:/// host: it keeps domains but cannot take disk-only snapshots);
// storage pools and disk snapshots are answered from an in-memory FakeStorage shared by every
// host (the pool directory the hosts mount), each call taking a configured latency, as a real
// host's storage calls do (storage_bench measured 25 ms for a disk-only snapshot of a running
// QEMU guest). Sleeping inside those calls is the model of that latency, not a wait for
// something to happen.
//
// It also models what the real provider does around a slow call (LibvirtHypervisor, see
// providers/hypervisor/libvirt/libvirt_connection.h, RunBounded): one call at a time per
// connection, so a domain call on a host waits behind a snapshot running there; and a heartbeat
// (CheckAlive) that does not wait behind a call in flight but reports the connection's liveness.
// Each heartbeat's time is recorded for the benchmark.
//
// SnapshotDisks switches the disks' tops in the FakeStorage and redefines the domain on the
// wrapped host onto the new tops (libvirt's snapshot changes the definition within the call).
// That redefinition is the simulation's own doing, so the Defined event it raises is not passed
// on to the controller.
//
// Thread-safety: every method is thread-safe. The handler and the expected-event set are guarded
// by events_mu_; heartbeats by beats_mu_; call_mu_ serialises the host's calls.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/mutex.h"
#include "providers/hypervisor/hypervisor_wrapper.h"
#include "tests/fakes/fake_storage.h"

namespace vmk::bench {

// How long the simulated storage calls take.
struct StorageLatency {
  // Calls that change storage: SnapshotDisks, CreateVolume, FreezeVolumes, DeleteVolume,
  // MergeBackingIntoChild.
  std::chrono::milliseconds change{25};
  // Calls that only read: Info, GetVolume, ListVolumes.
  std::chrono::milliseconds lookup{0};
};

class SlowStorageHypervisor : public providers::HypervisorWrapper {
 public:
  SlowStorageHypervisor(std::unique_ptr<providers::Hypervisor> target,
                        std::shared_ptr<providers::FakeStorage> storage, StorageLatency latency);
  // The target goes first: once it is gone none of our event handlers can run.
  ~SlowStorageHypervisor() override;

  Status Connect() override;
  StatusOr<providers::HostInfo> GetHostInfo() override;
  Status CheckAlive() override;
  StatusOr<std::vector<providers::DomainInfo>> ListDomains() override;
  StatusOr<std::optional<providers::DomainInfo>> GetDomain(const std::string& name) override;
  Status DefineDomain(const providers::DomainConfig& config) override;
  Status StartDomain(const std::string& name) override;
  Status ShutdownDomain(const std::string& name) override;
  Status DestroyDomain(const std::string& name) override;
  Status UndefineDomain(const std::string& name) override;
  std::shared_ptr<providers::StoragePool> OpenStoragePool(const std::string& name) override;
  Status SnapshotDisks(const std::string& domain,
                       const std::vector<providers::DiskSnapshotTarget>& disks) override;
  void SetDomainEventHandler(std::function<void(const providers::DomainEvent&)> handler) override;

  // Runs `body` as one call of this host's connection: after the calls before it, taking
  // `latency` first. Used by the pool views this host hands out.
  template <typename R>
  R Call(std::chrono::milliseconds latency, const std::function<R()>& body);

  // When each heartbeat (CheckAlive) was made, oldest first.
  std::vector<std::chrono::steady_clock::time_point> Heartbeats() const;
  // SnapshotDisks calls made, and the time callers spent waiting for the connection before
  // their call ran (every call, snapshot or not), in ms.
  long snapshot_calls() const;
  double connection_wait_ms() const;
  // Defined events of our own redefinitions dropped so far (one per snapshot when the wrapped
  // host raises them), and those still expected.
  long own_defines_dropped() const;
  int own_defines_expected() const;

 private:
  // Drops the next Defined event of `domain` (the one our own redefinition raises).
  void ExpectOwnDefine(const std::string& domain);
  Status SwitchDisks(const std::string& domain,
                     const std::vector<providers::DiskSnapshotTarget>& disks);

  const std::shared_ptr<providers::FakeStorage> storage_;
  const StorageLatency latency_;

  Mutex call_mu_;                  // the connection's call thread: one call at a time
  std::atomic<int> in_calls_{0};   // calls waiting for or holding call_mu_
  std::atomic<long> snapshot_calls_{0};
  std::atomic<int64_t> wait_us_{0};

  mutable Mutex events_mu_;
  std::function<void(const providers::DomainEvent&)> handler_ GUARDED_BY(events_mu_);
  std::map<std::string, int> own_defines_ GUARDED_BY(events_mu_);
  long own_defines_dropped_ GUARDED_BY(events_mu_) = 0;

  mutable Mutex beats_mu_;
  std::vector<std::chrono::steady_clock::time_point> beats_ GUARDED_BY(beats_mu_);
};

template <typename R>
R SlowStorageHypervisor::Call(std::chrono::milliseconds latency, const std::function<R()>& body) {
  ++in_calls_;
  const auto asked = std::chrono::steady_clock::now();
  MutexLock lock(&call_mu_);
  wait_us_ += std::chrono::duration_cast<std::chrono::microseconds>(
                  std::chrono::steady_clock::now() - asked)
                  .count();
  // The provider's latency, spent holding the connection as the real call does.
  if (latency.count() > 0) std::this_thread::sleep_for(latency);
  R result = body();
  --in_calls_;
  return result;
}

}  // namespace vmk::bench
