// FakeHypervisor: an in-memory Hypervisor for the reconciler's unit tests, and FakeHost, the
// simulated host behind it that tests control.
//
// A FakeHypervisorFactory keeps one FakeHost per URI; every FakeHypervisor created for that
// URI sees the same host (like qemu:///system; unlike real test:///embedded/NAME connections,
// which each get fresh state). The fake follows the real provider's contract: calls need
// Connect() first; foreign (unmarked) domains are refused with FailedPrecondition; start is ok
// when running, shutdown/destroy ok when off, undefine ok when absent; undefining a running
// domain leaves it running as transient until it stops. ListDomains is sorted by name (libvirt
// promises no order). Embedded hosts report hypervisor "TEST", as libvirt's test driver does.
//
// Tests control a host: make it unreachable (partition) or crash it, inject failures per
// operation, ignore graceful shutdowns, count calls, inspect domains, and change it "behind the
// controller's back" (foreign domains, hand edits, stops and crashes), each with the events a
// real host would send.
//
// Events are delivered on the thread that caused them, after the host's lock is released
// (handlers may call into the fake's inspection methods but, as with libvirt, must not block);
// with SetManualEventDelivery(true) they queue until DeliverPendingEvents().
//
// Thread-safe.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/mutex.h"
#include "providers/hypervisor/hypervisor.h"
#include "tests/fakes/fake_storage.h"

namespace vmk::providers {

enum class FakeOp {
  kConnect, kGetHostInfo, kListDomains, kGetDomain,
  kDefine, kStart, kShutdown, kDestroy, kUndefine, kSnapshotDisks, kCommitDiskLayer,
};
const char* FakeOpName(FakeOp op);

class FakeHost {
 public:
  FakeHost(std::string uri, Clock* clock);

  const std::string& uri() const { return uri_; }

  // --- Reachability -------------------------------------------------------------------------
  // false: a partition. Every call fails with Unavailable, connected hypervisors get
  // ConnectionEvent{alive=false, "keepalive"} and must Connect() again once reachable. Domains
  // keep running.
  void SetReachable(bool reachable);
  // The host dies: unreachable (reason "eof") and every domain stops (transient ones vanish)
  // without events, as nobody is left to send them. SetReachable(true) brings it back, empty of
  // running domains.
  void Crash();
  bool reachable() const;

  // --- Faults -------------------------------------------------------------------------------
  // The next `times` calls of `op` fail with `status` (times < 0: until ClearFailures()).
  void InjectFailure(FakeOp op, Status status, int times = 1);
  void ClearFailures();
  // Graceful shutdown requests succeed but the guest keeps running (escalation tests).
  void SetIgnoreShutdown(bool ignore);
  void SetHostInfo(const HostInfo& info);

  // --- Storage ------------------------------------------------------------------------------
  // The host sees these pools of `storage` (a shared directory it mounts). Without it, or for
  // another pool, OpenStoragePool gives a pool the host does not see.
  void AttachStorage(std::shared_ptr<FakeStorage> storage, std::vector<std::string> pools);

  // --- Inspection ---------------------------------------------------------------------------
  std::optional<DomainInfo> Domain(const std::string& name) const;
  std::vector<std::string> DomainNames() const;
  int CallCount(FakeOp op) const;
  int MutatingCallCount() const;  // define + start + shutdown + destroy + undefine
  void ResetCallCounts();

  // --- Behind the controller's back ---------------------------------------------------------
  // A domain without vmkeeper's mark. AlreadyExists if the name is taken.
  Status DefineForeignDomain(const std::string& name, bool running = false);
  // Edits an existing domain's persistent definition (the owner mark stays; generation too
  // unless the edit changes it). Emits kDefined.
  Status EditDefinition(const std::string& name, const std::function<void(DomainConfig*)>& edit);
  // Removes the owner mark: the domain becomes foreign.
  Status StripOwnerMark(const std::string& name);
  // Starts or stops a domain by hand (virsh start / virsh destroy). Emits kStarted / kStopped.
  Status SetRunning(const std::string& name, bool running);
  // The guest crashes: it stops (on_crash=destroy) with a kCrashed event.
  Status CrashDomain(const std::string& name);
  // virsh destroy + undefine. Emits the events.
  Status RemoveDomain(const std::string& name);

  // --- Events -------------------------------------------------------------------------------
  void EmitDomainEvent(const DomainEvent& event);
  void SetManualEventDelivery(bool manual);
  // Delivers queued events; returns how many.
  size_t DeliverPendingEvents();

 private:
  friend class FakeHypervisor;

  struct DomainRecord {
    std::string uuid;
    bool owned = true;
    bool persistent = true;
    DomainConfig config;  // the persistent definition
    DomainState state = DomainState::kShutoff;
    int64_t live_generation = 0;
  };
  // What a connected FakeHypervisor registers to receive events.
  struct Subscriber {
    Mutex mu;
    std::function<void(const DomainEvent&)> domain_handler GUARDED_BY(mu);
    std::function<void(const ConnectionEvent&)> connection_handler GUARDED_BY(mu);
    // Guarded by the mu_ of the FakeHost it subscribes to, which a Subscriber does not know:
    // not expressible as GUARDED_BY, so the analysis does not check it.
    bool connected = false;
  };
  // An event waiting to be delivered to its subscribers.
  struct Pending {
    std::optional<DomainEvent> domain_event;
    std::optional<ConnectionEvent> connection_event;
    std::vector<std::shared_ptr<Subscriber>> to;
  };

  // Counts the call and returns the status it must fail with, if any.
  Status BeginCall(FakeOp op, const std::shared_ptr<Subscriber>& sub) REQUIRES(mu_);
  Status CheckOwnedLocked(const std::string& name) const REQUIRES(mu_);
  DomainInfo InfoLocked(const std::string& name, const DomainRecord& d) const REQUIRES(mu_);
  void QueueDomainEventLocked(const std::string& name, DomainEventType type, int detail)
      REQUIRES(mu_);
  void DisconnectAllLocked(const std::string& reason) REQUIRES(mu_);
  void StopLocked(const std::string& name, DomainEventType type, int detail) REQUIRES(mu_);
  void Flush() EXCLUDES(mu_);  // delivers what was queued, unless manual delivery is on

  // Operations behind FakeHypervisor's methods.
  Status Connect(const std::shared_ptr<Subscriber>& sub);
  StatusOr<HostInfo> GetHostInfo(const std::shared_ptr<Subscriber>& sub);
  StatusOr<std::vector<DomainInfo>> ListDomains(const std::shared_ptr<Subscriber>& sub);
  StatusOr<std::optional<DomainInfo>> GetDomain(const std::shared_ptr<Subscriber>& sub,
                                                const std::string& name);
  Status DefineDomain(const std::shared_ptr<Subscriber>& sub, const DomainConfig& config);
  Status StartDomain(const std::shared_ptr<Subscriber>& sub, const std::string& name);
  Status ShutdownDomain(const std::shared_ptr<Subscriber>& sub, const std::string& name);
  Status DestroyDomain(const std::shared_ptr<Subscriber>& sub, const std::string& name);
  Status UndefineDomain(const std::shared_ptr<Subscriber>& sub, const std::string& name);
  Status SnapshotDisks(const std::shared_ptr<Subscriber>& sub, const std::string& name,
                       const std::vector<DiskSnapshotTarget>& disks);
  Status CommitDiskLayer(const std::shared_ptr<Subscriber>& sub, const std::string& name,
                         const LayerCommit& commit);
  std::shared_ptr<StoragePool> OpenStoragePool(const std::string& name);
  void Disconnect(const std::shared_ptr<Subscriber>& sub);

  const std::string uri_;
  Clock* const clock_;

  mutable Mutex mu_;
  bool reachable_ GUARDED_BY(mu_) = true;
  bool ignore_shutdown_ GUARDED_BY(mu_) = false;
  bool manual_delivery_ GUARDED_BY(mu_) = false;
  HostInfo host_info_ GUARDED_BY(mu_);
  std::map<std::string, DomainRecord> domains_ GUARDED_BY(mu_);
  std::vector<std::shared_ptr<Subscriber>> subscribers_ GUARDED_BY(mu_);
  std::map<FakeOp, std::pair<Status, int>> failures_ GUARDED_BY(mu_);
  std::map<FakeOp, int> calls_ GUARDED_BY(mu_);
  std::deque<Pending> pending_ GUARDED_BY(mu_);
  uint64_t next_uuid_ GUARDED_BY(mu_) = 1;
  std::shared_ptr<FakeStorage> storage_ GUARDED_BY(mu_);
  std::vector<std::string> visible_pools_ GUARDED_BY(mu_);
  Mutex delivery_mu_ ACQUIRED_BEFORE(mu_);  // one deliverer at a time keeps events in order
};

class FakeHypervisor : public Hypervisor {
 public:
  explicit FakeHypervisor(std::shared_ptr<FakeHost> host);
  ~FakeHypervisor() override;

  const std::string& uri() const override { return host_->uri(); }
  bool IsAlive() override;
  Status Connect() override;

  StatusOr<HostInfo> GetHostInfo() override;
  StatusOr<std::vector<DomainInfo>> ListDomains() override;
  StatusOr<std::optional<DomainInfo>> GetDomain(const std::string& name) override;

  Status DefineDomain(const DomainConfig& config) override;
  Status StartDomain(const std::string& name) override;
  Status ShutdownDomain(const std::string& name) override;
  Status DestroyDomain(const std::string& name) override;
  Status UndefineDomain(const std::string& name) override;
  std::shared_ptr<StoragePool> OpenStoragePool(const std::string& name) override;
  Status SnapshotDisks(const std::string& domain,
                       const std::vector<DiskSnapshotTarget>& disks) override;
  // At once (the fake's job ends within the call; the timeout is not used). An injected
  // failure of kCommitDiskLayer fails before anything is merged.
  Status CommitDiskLayer(const std::string& domain, const LayerCommit& commit,
                         std::chrono::milliseconds timeout) override;

  void SetDomainEventHandler(std::function<void(const DomainEvent&)> handler) override;
  void SetConnectionEventHandler(std::function<void(const ConnectionEvent&)> handler) override;

  FakeHost* host() const { return host_.get(); }

 private:
  std::shared_ptr<FakeHost> host_;
  std::shared_ptr<FakeHost::Subscriber> subscriber_;
};

class FakeHypervisorFactory : public HypervisorFactory {
 public:
  explicit FakeHypervisorFactory(Clock* clock = RealClock::Get()) : clock_(clock) {}
  std::unique_ptr<Hypervisor> Create(const std::string& host_name, const std::string& uri,
                                     const ConnectOptions& options) override;

  // The host behind `uri`, created on first use. Embedded URIs get the options' size when
  // created through Create().
  std::shared_ptr<FakeHost> host(const std::string& uri);
  std::vector<std::string> uris() const;
  // Hypervisors created so far (including destroyed ones).
  int created() const;

 private:
  Clock* const clock_;
  mutable Mutex mu_;
  std::map<std::string, std::shared_ptr<FakeHost>> hosts_ GUARDED_BY(mu_);
  int created_ GUARDED_BY(mu_) = 0;
};

}  // namespace vmk::providers
