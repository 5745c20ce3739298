// LibvirtHypervisor: the Hypervisor interface over one libvirt connection (any URI: test:///...,
// qemu:///system, qemu+ssh://...). LibvirtHypervisorFactory creates one per Host.
//
// Connections: virConnectOpen runs on a helper thread bounded by ConnectOptions.open_timeout; a
// timed-out attempt keeps running in the background (holding only its own state) and a later
// Connect() waits on that same attempt instead of piling up threads against a hung host.
// Remote connections get libvirt keepalive (a failure to enable it fails the open), so a hung
// host's connection closes after about interval * (count + 1) seconds. The calls of a
// connection run one at a time on its own call thread; a caller waits while the connection is
// alive (a busy daemon's slow call is waited for) and stops waiting as soon as keepalive or EOF
// closes it, even when libvirt leaves the call itself hanging; CallTimeout() (at least
// kSlowCallLimit) bounds a call that a live daemon never answers. A timed-out call returns
// DeadlineExceeded and marks the connection dead (its thread finishes whenever libvirt returns).
// A close callback or a call failing with a connection error also marks the connection dead;
// the next Connect() reopens it, and dead connections close in the background.
//
// Embedded test hosts: `test:///embedded/NAME` opens a fresh in-memory libvirt test host of
// ConnectOptions.embedded_cpus / embedded_memory_mib (a <node> document written to
// embedded_host_dir/NAME.xml); each connection has its own independent state. Any other URI
// goes to libvirt unchanged.
//
// Thread-safety: every method is thread-safe. No lock is held across a libvirt call, so a slow
// call never blocks IsAlive(), Connect() or another host's object; concurrent calls on one host
// share its libvirt connection (which libvirt serialises as it needs). Event handlers run on the
// process-wide LibvirtEventLoop thread; after destruction begins no handler is called.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "common/clock.h"
#include "common/mutex.h"
#include "providers/hypervisor/hypervisor.h"

namespace vmk::providers {

// The connection machinery, opaque here (libvirt_connection.h, where the libvirt types live).
namespace libvirt_internal {
struct Connection;
struct Handlers;
struct OpenAttempt;
}  // namespace libvirt_internal

class LibvirtHypervisor : public Hypervisor {
 public:
  LibvirtHypervisor(std::string host_name, std::string uri, ConnectOptions options,
                    Clock* clock);
  ~LibvirtHypervisor() override;

  LibvirtHypervisor(const LibvirtHypervisor&) = delete;
  LibvirtHypervisor& operator=(const LibvirtHypervisor&) = delete;

  const std::string& uri() const override { return uri_; }
  bool IsAlive() override;
  Status Connect() override;

  StatusOr<HostInfo> GetHostInfo() override;
  Status CheckAlive() override;
  // Remote hosts: over a connection of its own (no domain events), opened on demand, so that a
  // heartbeat never queues behind a slow call of the main connection, neither here nor in the
  // daemon's per-connection handling. Its call is virNodeGetInfo. A heartbeat still unanswered
  // or a connect still pending from an earlier call is "no answer" at once once it is older
  // than `timeout`; a refused open is "refused". test:/// hosts (in-process, they cannot hang)
  // use the main connection.
  HeartbeatResult Heartbeat(std::chrono::milliseconds timeout) override;
  // Marks the main connection dead (RunBounded's waiters notice within 100 ms).
  void Abandon() override;
  StatusOr<std::vector<DomainInfo>> ListDomains() override;
  StatusOr<std::optional<DomainInfo>> GetDomain(const std::string& name) override;

  Status DefineDomain(const DomainConfig& config) override;
  Status StartDomain(const std::string& name) override;
  Status ShutdownDomain(const std::string& name) override;
  Status DestroyDomain(const std::string& name) override;
  Status UndefineDomain(const std::string& name) override;

  // A LibvirtStoragePool over this host's connection, valid while this object lives.
  std::shared_ptr<StoragePool> OpenStoragePool(const std::string& name) override;
  Status SnapshotDisks(const std::string& domain,
                       const std::vector<DiskSnapshotTarget>& disks) override;
  // virDomainBlockCommit(base, top), then virDomainGetBlockJobInfo every kCommitPollInterval
  // (each its own bounded call: the connection's other calls, the heartbeat's among them, do
  // not wait behind the job) until the job is gone or `timeout`; then the live chain says
  // whether top left it (merged) or the job failed.
  Status CommitDiskLayer(const std::string& domain, const LayerCommit& commit,
                         std::chrono::milliseconds timeout) override;
  static constexpr std::chrono::milliseconds kCommitPollInterval{10};

  void SetDomainEventHandler(std::function<void(const DomainEvent&)> handler) override;
  void SetConnectionEventHandler(std::function<void(const ConnectionEvent&)> handler) override;

  // The URI handed to virConnectOpen (differs from uri() for test:///embedded/NAME).
  const std::string& open_uri() const { return open_uri_; }

  // Defines a domain from raw XML, bypassing the owner mark: tests use it to create foreign
  // domains.
  Status DefineRawXmlForTest(const std::string& xml);
  // Number of connection attempts whose helper thread is still running (process-wide), and a
  // wait for it to reach zero; false on timeout.
  static int PendingOpensForTest();
  static bool WaitForPendingOpensForTest(std::chrono::milliseconds timeout);
  // Number of libvirt calls still running on their helper thread (process-wide, including
  // calls whose caller already gave up), and a wait for it to reach zero; false on timeout.
  static int CallsInFlightForTest();
  static bool WaitForCallsForTest(std::chrono::milliseconds timeout);
  // Marks the current connection dead as a timed-out call would (the next Connect() reopens).
  void MarkDeadForTest();
  // The longest a call waits on a live connection: max(kSlowCallLimit, open_timeout + keepalive
  // interval * (count + 1)).
  std::chrono::milliseconds CallTimeout() const;
  static constexpr std::chrono::milliseconds kSlowCallLimit{60000};

 private:
  using Connection = libvirt_internal::Connection;
  using Handlers = libvirt_internal::Handlers;
  using OpenAttempt = libvirt_internal::OpenAttempt;

  // One heartbeat over the heartbeat's connection; `closed` says the connection closed under
  // the call (worth one reconnect within the same beat).
  HeartbeatResult HeartbeatAttempt(std::chrono::milliseconds timeout, bool* closed);
  // The current connection, or Unavailable when not connected or known dead.
  StatusOr<std::shared_ptr<Connection>> Current();
  Status WriteEmbeddedNodeDocument();

  const std::string host_name_;
  const std::string uri_;
  const ConnectOptions options_;
  Clock* const clock_;
  std::string open_uri_;
  std::string embedded_node_path_;  // empty unless uri_ is test:///embedded/NAME
  std::shared_ptr<Handlers> handlers_;

  Mutex mu_;
  std::shared_ptr<Connection> conn_ GUARDED_BY(mu_);
  std::shared_ptr<OpenAttempt> pending_ GUARDED_BY(mu_);  // an open still in flight
  // The heartbeat's own connection (remote hosts), its open in flight, and when each began.
  std::shared_ptr<Handlers> beat_handlers_;  // none set: the heartbeat wants no callbacks
  std::shared_ptr<Connection> beat_conn_ GUARDED_BY(mu_);
  std::shared_ptr<OpenAttempt> beat_pending_ GUARDED_BY(mu_);
  MonoTime beat_pending_since_ GUARDED_BY(mu_){};
  MonoTime beat_sent_ GUARDED_BY(mu_){};  // when the last heartbeat call was posted
};

// The <domainsnapshot> document SnapshotDisks sends: every disk of `all_targets`, the listed
// ones external onto their new qcow2 file, the others left out (exposed for tests).
std::string DiskSnapshotXml(const std::vector<std::string>& all_targets,
                            const std::vector<DiskSnapshotTarget>& disks);

// The files of a disk's chain in a domain's XML, its active top first (<source file> of the disk
// with `target`, then of each <backingStore>); NotFound when it has no such disk (exposed for
// tests).
StatusOr<std::vector<std::string>> DiskChainFromXml(const std::string& domain_xml,
                                                    const std::string& target);

class LibvirtHypervisorFactory : public HypervisorFactory {
 public:
  explicit LibvirtHypervisorFactory(Clock* clock = RealClock::Get()) : clock_(clock) {}
  std::unique_ptr<Hypervisor> Create(const std::string& host_name, const std::string& uri,
                                     const ConnectOptions& options) override;

 private:
  Clock* clock_;
};

}  // namespace vmk::providers
