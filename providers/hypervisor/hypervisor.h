// Hypervisor: one connection to one host's hypervisor, as the reconciler sees it.
//
// Implementations: LibvirtHypervisor (any libvirt URI) and FakeHypervisor (unit tests).
// Every method is thread-safe and bounded in time (a dead or hung host returns Unavailable or
// DeadlineExceeded, it never blocks forever). No libvirt type appears here.
//
// Ownership: domains vmkeeper created carry an owner mark in their <metadata>. Every mutating call
// refuses (FailedPrecondition) to touch a domain that exists without that mark: foreign domains
// are never changed.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "providers/storage/storage_pool.h"

namespace vmk::providers {

enum class DomainState { kNoState, kRunning, kBlocked, kPaused, kShutdown, kShutoff, kCrashed, kSuspended };
const char* DomainStateName(DomainState state);  // "running", "shutoff", ...
// Running for our purposes: running, blocked, paused (it holds its disks).
bool IsActive(DomainState state);

// vda, vdb, ..., vdz, vdaa, ...: the target of the index-th disk when the config leaves it empty.
std::string DefaultDiskTarget(size_t index);

struct DiskConfig {
  std::string name;    // the VM spec's disk name
  std::string source;  // file path of the image
  std::string target;  // vda, vdb, ...
  // How QEMU opens the image: declared or read from the image by the caller, never guessed
  // from the file name (a raw image opened as qcow2 fails; a qcow2 image opened as raw gives
  // the guest its metadata as data).
  ImageFormat format = ImageFormat::kRaw;
};

// Direct kernel boot. An empty kernel = boot from the first disk.
struct BootConfig {
  std::string kernel;   // absolute path on the host
  std::string initrd;   // empty = none
  std::string cmdline;  // empty = none
};

struct PortForwardConfig {
  std::string host_address = "127.0.0.1";
  int host_port = 0;
  int guest_port = 0;
};

struct InterfaceConfig {
  enum class Type { kUser, kBridge, kNetwork };
  std::string name;    // the VM spec's interface name
  Type type = Type::kUser;
  std::string source;  // kBridge: the bridge; kNetwork: the libvirt network; kUser: empty
  std::vector<PortForwardConfig> port_forwards;  // kUser only
};

// The part of a domain definition vmkeeper manages. Comparing the desired config with the
// persistent (inactive) definition read back tells whether someone edited it behind our back.
struct DomainConfig {
  std::string name;
  int cpus = 1;
  int64_t memoryMiB = 1024;
  std::vector<DiskConfig> disks;
  BootConfig boot;
  std::string console_log_file;  // serial console appended to this file; empty = a pty
  std::vector<InterfaceConfig> interfaces;
  int64_t generation = 0;  // spec generation, kept in the owner mark

  bool SameManagedConfig(const DomainConfig& other) const;  // all fields but generation
};

struct DomainInfo {
  std::string name;
  std::string uuid;
  bool owned = false;                  // carries vmkeeper's owner mark
  DomainState state = DomainState::kNoState;
  bool persistent = true;
  // For owned domains: the persistent definition and the generation the running instance
  // was started with (0 when not running or unknown).
  std::optional<DomainConfig> config;
  int64_t live_generation = 0;
};

// One disk of a running domain switched to a new top by SnapshotDisks.
struct DiskSnapshotTarget {
  std::string target;    // the disk's target: vda, vdb, ...
  std::string new_path;  // the new qcow2 top, created by the call over the disk's current image
};

// An intermediate layer of a running domain's disk to merge into the layer under it
// (Hypervisor::CommitDiskLayer): how a snapshot layer of a running VM is pruned.
struct LayerCommit {
  std::string target;  // the disk's target: vda, vdb, ...
  std::string base;    // path of the layer that receives the data; it stays in the chain
  std::string top;     // path of the layer directly over `base`, under the disk's active top
};

struct HostInfo {
  int cpus = 0;
  int64_t memoryMiB = 0;
  std::string hypervisor;  // "QEMU", "Test", ...
  std::string hostname;
  // The host's domains live and die with this controller process (test:///embedded/ hosts):
  // a domain missing there after vmkeeperd restarted went with the controller, not with a
  // failure of its VM.
  bool ephemeral = false;
};

enum class DomainEventType { kDefined, kUndefined, kStarted, kSuspended, kResumed, kStopped, kShutdown, kCrashed, kOther };
const char* DomainEventTypeName(DomainEventType type);

struct DomainEvent {
  std::string domain;
  DomainEventType type = DomainEventType::kOther;
  int detail = 0;   // libvirt's detail code, for logs
  WallTime time;    // when the provider received it
};

// What one heartbeat of a host's management plane found (Hypervisor::Heartbeat). The outcomes
// are the evidence failure detection weighs (docs/failure-detection.md): a refused connection
// says the daemon (or the whole host) is gone, a call or connect that hangs says it is hung,
// frozen or cut off, an error says it answered but not well.
struct HeartbeatResult {
  enum class Outcome { kAnswered, kRefused, kNoAnswer, kError };
  Outcome outcome = Outcome::kAnswered;
  std::string message;  // empty when answered

  bool ok() const { return outcome == Outcome::kAnswered; }
  // Answered for ok; refused for Unavailable; no answer for DeadlineExceeded; error otherwise.
  static HeartbeatResult FromStatus(const Status& status);
};
// "answered", "refused", "no answer", "error".
const char* HeartbeatOutcomeName(HeartbeatResult::Outcome outcome);

struct ConnectionEvent {
  bool alive = false;
  std::string reason;  // "eof", "keepalive", "error", "client"
  WallTime time;
};

class Hypervisor {
 public:
  virtual ~Hypervisor() = default;

  virtual const std::string& uri() const = 0;
  // Whether the last call or keepalive found the host reachable.
  virtual bool IsAlive() = 0;
  // (Re)connects if needed. Bounded by the open timeout.
  virtual Status Connect() = 0;

  virtual StatusOr<HostInfo> GetHostInfo() = 0;
  // The heartbeat: does the hypervisor answer? Must not wait behind a slow operation of the same
  // connection (a busy host is not a dead one). By default a cheap call.
  virtual Status CheckAlive() { return GetHostInfo().status(); }
  // One heartbeat, over a connection of its own where the provider has one (so it waits behind
  // no other call, on the client or in the daemon), bounded by `timeout` however the host
  // fails: it (re)connects when needed, and a heartbeat still unanswered, or a connect still
  // pending, from an earlier call counts as no answer at once instead of waiting again. The
  // default: CheckAlive() on the live connection, else Connect().
  virtual HeartbeatResult Heartbeat(std::chrono::milliseconds timeout);
  // The host is taken for failed: the main connection is dropped as dead, so calls waiting on
  // it return Unavailable at once instead of at keepalive's or libvirt's timeouts; the next
  // Connect() opens a new one. The default: nothing (a provider whose calls cannot hang).
  virtual void Abandon() {}
  virtual StatusOr<std::vector<DomainInfo>> ListDomains() = 0;
  // nullopt when no domain of that name exists.
  virtual StatusOr<std::optional<DomainInfo>> GetDomain(const std::string& name) = 0;

  // Defines or redefines (persistent) an owned domain from config.
  virtual Status DefineDomain(const DomainConfig& config) = 0;
  virtual Status StartDomain(const std::string& name) = 0;     // ok if already running
  virtual Status ShutdownDomain(const std::string& name) = 0;  // graceful request; ok if off
  virtual Status DestroyDomain(const std::string& name) = 0;   // hard stop; ok if off
  virtual Status UndefineDomain(const std::string& name) = 0;  // ok if absent

  // --- Storage (docs/storage.md) ------------------------------------------------------------
  // The storage pool `name` as this host sees it (libvirt keeps pools per host: a pool on a
  // shared directory is defined on every host that mounts it). Never null; its calls fail
  // (NotFound) when the host does not see the pool. The default: a host without storage.
  virtual std::shared_ptr<StoragePool> OpenStoragePool(const std::string& name);
  // Freezes the listed disks of a running, owned domain at one instant: QEMU switches each to a
  // new empty qcow2 top over its current image, the guest keeps running, and the former tops
  // hold a crash-consistent state of every listed disk at the same instant (libvirt's external
  // disk-only atomic snapshot, without snapshot metadata: the controller's store records it).
  // Disks not listed are left out of the snapshot. All or nothing. The domain's definition
  // then names the new tops. FailedPrecondition when the domain is not running or not owned.
  virtual Status SnapshotDisks(const std::string& domain,
                               const std::vector<DiskSnapshotTarget>& disks);
  // Merges `commit.top` into `commit.base` in a running, owned domain's disk chain, online:
  // QEMU writes top's data into base (libvirt's non-active block commit), then the layer over
  // top is layered on base and top leaves the chain. What the disk's reader sees does not
  // change; base then holds what top's reader saw, and top's file is left in place for the
  // caller to delete (nothing the domain opens uses it any more). Waits for the block job's end
  // at most `timeout`: DeadlineExceeded leaves the job running in QEMU, and a later call for the
  // same layers waits for it instead of starting another. FailedPrecondition when the domain is
  // not running or not owned, or the disk runs another block job; InvalidArgument when top is
  // not directly over base below the active top of that disk. The default: a host that cannot
  // (FailedPrecondition, as SnapshotDisks).
  virtual Status CommitDiskLayer(const std::string& domain, const LayerCommit& commit,
                                 std::chrono::milliseconds timeout);

  // Handlers run on the provider's event thread: they must be quick and must not call back
  // into this Hypervisor. Set before Connect().
  virtual void SetDomainEventHandler(std::function<void(const DomainEvent&)> handler) = 0;
  virtual void SetConnectionEventHandler(std::function<void(const ConnectionEvent&)> handler) = 0;
};

struct ConnectOptions {
  std::chrono::milliseconds open_timeout{5000};
  int keepalive_interval_seconds = 1;  // libvirt keepalive
  unsigned keepalive_count = 3;
  // Directory for node documents of embedded test hosts (test:///embedded/NAME).
  std::string embedded_host_dir;
  // Size of an embedded test host (from Host.spec.capacity when given).
  int embedded_cpus = 16;
  int64_t embedded_memory_mib = 65536;
};

class HypervisorFactory {
 public:
  virtual ~HypervisorFactory() = default;
  // Does not connect; the returned object connects on Connect().
  // host_name is the Host object's name (used for embedded test hosts and logs).
  virtual std::unique_ptr<Hypervisor> Create(const std::string& host_name, const std::string& uri,
                                             const ConnectOptions& options) = 0;
};

}  // namespace vmk::providers
