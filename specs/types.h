// Resource types of vmkeeper/v1: Host, VirtualMachine, SnapshotPolicy, StoragePool.
//
// An Object carries its spec twice over: `spec` is the canonical JSON (every default filled in,
// keys sorted), which is what the store keeps and what diff and generation compare; the typed
// structs below are views decoded from it for the reconciler. Status is written by the controller
// only and is never compared for generation. Plain data, thread-compatible.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace vmk::specs {

using Json = nlohmann::json;

inline constexpr char kApiVersion[] = "vmkeeper/v1";

enum class Kind { kHost, kVirtualMachine, kSnapshotPolicy, kStoragePool };
// In the order an apply lists them: what a VM refers to comes before the VMs.
inline constexpr Kind kAllKinds[] = {Kind::kHost, Kind::kSnapshotPolicy, Kind::kStoragePool,
                                     Kind::kVirtualMachine};

// "Host", "VirtualMachine", "SnapshotPolicy", "StoragePool".
std::string_view KindName(Kind kind);
// Exact kind names only (manifests).
std::optional<Kind> KindFromName(std::string_view name);
// CLI spellings too: host(s), vm(s), virtualmachine(s), snapshotpolicy/ies, sp, storagepool(s),
// pool(s).
std::optional<Kind> KindFromCliName(std::string_view name);

// Where a node came from in its manifest. line/column are 1-based; 0 = unknown.
struct SourceLocation {
  std::string file;
  int line = 0;
  int column = 0;
  std::string ToString() const;  // "file:line:col" (parts that are unknown are left out)
};

struct ObjectMeta {
  std::string name;
  std::map<std::string, std::string> labels;
  // Bumped by the store's apply only when the canonical spec changes. 0 = never stored.
  int64_t generation = 0;
  // Set (RFC 3339) when a delete was asked for but finalizers must run first (Kubernetes'
  // metadata.deletionTimestamp): the object is Terminating, kept until its finalizers are done,
  // and never applied again meanwhile. Written by the applier only, never from a manifest.
  std::string deletionTimestamp;
  // What must happen before a Terminating object goes (e.g. kVolumesFinalizer).
  std::vector<std::string> finalizers;

  bool terminating() const { return !deletionTimestamp.empty(); }
};

// The finalizer of a VM with volume disks whose deletePolicy is Delete: its reconcile deletes
// those volumes once its domain is gone everywhere, then the object
// (reconciler/vm/vm_deleter.h).
inline constexpr char kVolumesFinalizer[] = "vmkeeper.dev/volumes";

struct Object {
  Kind kind = Kind::kVirtualMachine;
  ObjectMeta metadata;
  Json spec = Json::object();    // canonical: defaults filled in
  Json status = Json::object();  // controller-owned
  // Store revisions (see reconciler/store/store.h); 0 when not read from a store.
  int64_t revision = 0;         // of the last apply of metadata+spec
  int64_t status_revision = 0;  // of the last status write (0 = none)
  // Where the document and each field path ("spec.placement.hostSelector") came from, when the
  // object was decoded from a manifest; empty when it came from the store.
  SourceLocation source;
  std::map<std::string, SourceLocation> field_locations;

  std::string Key() const;  // "VirtualMachine/wms01"
  // Location of `path` or of its closest known ancestor, else of the document.
  SourceLocation LocationOf(const std::string& path) const;
};

// Full manifest form {apiVersion, kind, metadata, spec, status}; status omitted when empty
// and include_status is false.
Json ObjectToJson(const Object& object, bool include_status = true);
// Inverse of ObjectToJson for trusted input (the store, the REST API after validation).
StatusOr<Object> ObjectFromJson(const Json& json);

// ---- Typed views of specs ---------------------------------------------------------------------

struct Capacity {
  int cpus = 0;
  int64_t memoryMiB = 0;
};

struct FencingSpec {
  std::string agent;                         // fence-agents command, e.g. fence_ipmilan
  std::map<std::string, std::string> args;   // key=value options passed on stdin
  int timeoutSeconds = 60;
};

struct HostSpec {
  std::string uri;                       // libvirt URI
  std::optional<Capacity> capacity;      // read from libvirt when absent
  std::optional<FencingSpec> fencing;
  bool acknowledgeUnsafe = false;        // allow failover without fencing
  bool schedulable = true;               // false = cordoned: no new VMs placed here
  // "Wait" | "Fence": a management-only outage (guests answering) waits, or fences.
  std::string managementOutage = "Wait";
};

// A disk's volume in a StoragePool: a qcow2 layer over baseImage, or an empty volume, created by
// the controller on first use (reconciler/vm/disk_resolver.h).
struct VolumeDiskSpec {
  std::string pool;       // a StoragePool's name
  std::string baseImage;  // absolute path; empty = an empty volume
  std::optional<std::string> baseFormat;  // "raw" | "qcow2"; absent = read with qemu-img info
  int64_t sizeGiB = 0;    // > 0 without baseImage; with one, 0 = the base's size
  bool deleteWithVm = false;  // deletePolicy Delete: the volumes go with the VM (VmDeleter)
};

// Exactly one of `image` and `volume` is set (the validator sees to it).
struct DiskSpec {
  std::string name;
  std::string image;    // empty for a volume disk
  int64_t sizeGiB = 0;  // image disks: 0 = the image's own size (not acted upon yet)
  std::optional<std::string> format;  // image disks: "raw" | "qcow2"; absent = read from it
  std::optional<VolumeDiskSpec> volume;
};

struct PlacementSpec {
  std::map<std::string, std::string> hostSelector;
  std::vector<std::string> requiredHosts;   // if non-empty, only these hosts
  std::vector<std::string> preferredHosts;  // tried first, in order
  std::string spreadBy;                     // label key; replicas with equal value avoid sharing
  int priority = 0;
};

struct HttpProbeSpec {
  int port = 0;
  std::string path = "/";
};

struct TcpProbeSpec {
  int port = 0;
};

// Runs a command on the controller's machine (not in the guest); exit status 0 = healthy.
struct ExecProbeSpec {
  std::vector<std::string> command;  // argv, non-empty
};

struct HealthSpec {
  std::string address;  // empty = the VM's name
  std::optional<HttpProbeSpec> http;
  std::optional<TcpProbeSpec> tcp;
  std::optional<ExecProbeSpec> exec;  // used when neither http nor tcp is given
  int periodSeconds = 5;
  int timeoutSeconds = 2;
  int failureThreshold = 3;
  int startupGraceSeconds = 120;
  // "Wait" | "Fence": whether this probe passing keeps a host whose management plane is out
  // unfenced (Wait), or the VM asks for fencing at the heartbeats' verdict (Fence).
  std::string managementOutage = "Wait";
};

struct RestartSpec {
  int limit = 3;
  int windowSeconds = 600;
};

// Direct kernel boot. Absent = boot from the first disk.
struct BootSpec {
  std::string kernel;   // absolute path on the host
  std::string initrd;   // absolute path; empty = none
  std::string cmdline;  // empty = none
};

// Serial console. An empty logFile = a pty.
struct ConsoleSpec {
  std::string logFile;  // absolute path on the host, appended to
};

struct PortForwardSpec {
  std::string hostAddress = "127.0.0.1";
  int hostPort = 0;
  int guestPort = 0;
};

struct InterfaceSpec {
  enum class Type { kUser, kBridge, kNetwork };
  std::string name;
  Type type = Type::kUser;
  std::string bridge;   // kBridge only
  std::string network;  // kNetwork only
  std::vector<PortForwardSpec> portForwards;  // kUser only
};

// "user", "bridge", "network" and back; nullopt for anything else.
std::string_view InterfaceTypeName(InterfaceSpec::Type type);
std::optional<InterfaceSpec::Type> InterfaceTypeFromName(std::string_view name);

struct VirtualMachineSpec {
  bool running = true;
  int cpus = 1;
  int64_t memoryMiB = 1024;
  std::vector<DiskSpec> disks;
  std::optional<BootSpec> boot;
  std::optional<ConsoleSpec> console;
  std::vector<InterfaceSpec> interfaces;
  PlacementSpec placement;
  std::optional<HealthSpec> health;
  RestartSpec restart;
  std::string snapshotPolicy;  // empty = none
};

struct SnapshotPolicySpec {
  int intervalSeconds = 86400;
  int keep = 7;
  bool beforeChange = true;
  bool beforeFailover = true;
  // How many healthy snapshots, newest first, a VM that keeps failing is rolled back to before
  // it is left Failed; 0 = never rolled back.
  int rollbackDepth = 2;
  // A cap on the space a VM's snapshot layers take in their pools, in GiB: beyond it the oldest
  // scheduled snapshots are pruned (never the latest healthy one nor one a restore depends on).
  // nullopt = no cap.
  std::optional<int64_t> maxSnapshotGiB;
};

// A directory of volume files that the hosts share (docs/storage.md). Mounted by the admins; the
// controller checks which hosts see it (reconciler/storage/pool_reconciler.h), never defines it.
struct StoragePoolSpec {
  std::string type = "dir";  // libvirt's pool type; only "dir" so far
  std::string path;          // absolute, the same on every host that sees the pool
  std::map<std::string, std::string> hostSelector;  // empty = every host
  std::vector<std::string> hosts;  // if non-empty, only these (and the selector must match too)
};

// Whether the host of this name and labels sees the pool: it has every label of the selector
// and, when the pool lists hosts, it is one of them.
bool PoolVisibleOnHost(const StoragePoolSpec& pool, const std::string& host_name,
                       const std::map<std::string, std::string>& host_labels);

// Decoders of the canonical spec JSON. They fail only on JSON that did not pass validation.
StatusOr<HostSpec> HostSpecFromJson(const Json& spec);
StatusOr<VirtualMachineSpec> VirtualMachineSpecFromJson(const Json& spec);
StatusOr<SnapshotPolicySpec> SnapshotPolicySpecFromJson(const Json& spec);
StatusOr<StoragePoolSpec> StoragePoolSpecFromJson(const Json& spec);

// ---- Status ----------------------------------------------------------------------------------

// Kubernetes-style condition. lastTransitionTime changes only when status flips.
struct Condition {
  std::string type;     // Ready, Scheduled, Reachable, ...
  std::string status;   // "True" | "False" | "Unknown"
  std::string reason;   // CamelCase
  std::string message;
  std::string lastTransitionTime;  // RFC 3339
};

Json ConditionsToJson(const std::vector<Condition>& conditions);
std::vector<Condition> ConditionsFromJson(const Json& json);
// Sets or replaces the condition of c.type; keeps lastTransitionTime when status is unchanged.
// Returns true when anything changed.
bool SetCondition(std::vector<Condition>* conditions, Condition c);
// Removes the condition of `type` (one that no longer applies). Returns whether there was one.
bool RemoveCondition(std::vector<Condition>* conditions, std::string_view type);
const Condition* FindCondition(const std::vector<Condition>& conditions, std::string_view type);

}  // namespace vmk::specs
