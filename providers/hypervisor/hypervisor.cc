#include "providers/hypervisor/hypervisor.h"

namespace vmk::providers {

namespace {

// The pool of a hypervisor without storage: every call says the host does not see it.
class AbsentStoragePool : public StoragePool {
 public:
  AbsentStoragePool(std::string name, std::string uri)
      : name_(std::move(name)), uri_(std::move(uri)) {}

  const std::string& name() const override { return name_; }
  StatusOr<PoolInfo> Info() override { return Absent(); }
  StatusOr<VolumeInfo> CreateVolume(const VolumeRequest&) override { return Absent(); }
  StatusOr<std::optional<VolumeInfo>> GetVolume(const std::string&) override { return Absent(); }
  StatusOr<std::vector<VolumeInfo>> ListVolumes() override { return Absent(); }
  Status DeleteVolume(const std::string&) override { return Absent(); }
  StatusOr<std::vector<VolumeInfo>> FreezeVolumes(const std::vector<FreezeRequest>&) override {
    return Absent();
  }
  Status MergeBackingIntoChild(const std::string&) override { return Absent(); }

 private:
  Status Absent() const {
    return Status::NotFound("storage pool " + name_ + ": host " + uri_ + " has no storage");
  }
  std::string name_;
  std::string uri_;
};

}  // namespace

HeartbeatResult HeartbeatResult::FromStatus(const Status& status) {
  HeartbeatResult r;
  if (status.ok()) return r;
  r.message = status.message();
  switch (status.code()) {
    case StatusCode::kUnavailable: r.outcome = Outcome::kRefused; break;
    case StatusCode::kDeadlineExceeded: r.outcome = Outcome::kNoAnswer; break;
    default: r.outcome = Outcome::kError; break;
  }
  return r;
}

const char* HeartbeatOutcomeName(HeartbeatResult::Outcome outcome) {
  switch (outcome) {
    case HeartbeatResult::Outcome::kAnswered: return "answered";
    case HeartbeatResult::Outcome::kRefused: return "refused";
    case HeartbeatResult::Outcome::kNoAnswer: return "no answer";
    case HeartbeatResult::Outcome::kError: return "error";
  }
  return "error";
}

HeartbeatResult Hypervisor::Heartbeat(std::chrono::milliseconds) {
  return HeartbeatResult::FromStatus(IsAlive() ? CheckAlive() : Connect());
}

std::shared_ptr<StoragePool> Hypervisor::OpenStoragePool(const std::string& name) {
  return std::make_shared<AbsentStoragePool>(name, uri());
}

Status Hypervisor::SnapshotDisks(const std::string& domain,
                                 const std::vector<DiskSnapshotTarget>&) {
  return Status::FailedPrecondition("snapshot of " + domain + ": host " + uri() +
                                    " cannot snapshot disks");
}

Status Hypervisor::CommitDiskLayer(const std::string& domain, const LayerCommit& commit,
                                   std::chrono::milliseconds) {
  return Status::FailedPrecondition("commit of " + commit.top + " in " + domain + ": host " +
                                    uri() + " cannot merge disk layers");
}

std::string DefaultDiskTarget(size_t index) {
  // Spreadsheet-style letters: a..z, aa..az, ...
  std::string letters;
  size_t n = index + 1;
  while (n > 0) {
    --n;
    letters.insert(letters.begin(), static_cast<char>('a' + n % 26));
    n /= 26;
  }
  return "vd" + letters;
}


const char* DomainStateName(DomainState state) {
  switch (state) {
    case DomainState::kNoState: return "nostate";
    case DomainState::kRunning: return "running";
    case DomainState::kBlocked: return "blocked";
    case DomainState::kPaused: return "paused";
    case DomainState::kShutdown: return "shutdown";
    case DomainState::kShutoff: return "shutoff";
    case DomainState::kCrashed: return "crashed";
    case DomainState::kSuspended: return "suspended";
  }
  return "unknown";
}

bool IsActive(DomainState state) {
  return state == DomainState::kRunning || state == DomainState::kBlocked ||
         state == DomainState::kPaused;
}

const char* DomainEventTypeName(DomainEventType type) {
  switch (type) {
    case DomainEventType::kDefined: return "defined";
    case DomainEventType::kUndefined: return "undefined";
    case DomainEventType::kStarted: return "started";
    case DomainEventType::kSuspended: return "suspended";
    case DomainEventType::kResumed: return "resumed";
    case DomainEventType::kStopped: return "stopped";
    case DomainEventType::kShutdown: return "shutdown";
    case DomainEventType::kCrashed: return "crashed";
    case DomainEventType::kOther: return "other";
  }
  return "unknown";
}

bool DomainConfig::SameManagedConfig(const DomainConfig& other) const {
  if (name != other.name || cpus != other.cpus || memoryMiB != other.memoryMiB) return false;
  if (disks.size() != other.disks.size()) return false;
  for (size_t i = 0; i < disks.size(); ++i) {
    const DiskConfig& a = disks[i];
    const DiskConfig& b = other.disks[i];
    if (a.name != b.name || a.source != b.source || a.target != b.target) return false;
    if (a.format != b.format) return false;
  }
  if (boot.kernel != other.boot.kernel || boot.initrd != other.boot.initrd ||
      boot.cmdline != other.boot.cmdline || console_log_file != other.console_log_file) {
    return false;
  }
  if (interfaces.size() != other.interfaces.size()) return false;
  for (size_t i = 0; i < interfaces.size(); ++i) {
    const InterfaceConfig& a = interfaces[i];
    const InterfaceConfig& b = other.interfaces[i];
    if (a.name != b.name || a.type != b.type || a.source != b.source ||
        a.port_forwards.size() != b.port_forwards.size()) {
      return false;
    }
    for (size_t f = 0; f < a.port_forwards.size(); ++f) {
      const PortForwardConfig& x = a.port_forwards[f];
      const PortForwardConfig& y = b.port_forwards[f];
      if (x.host_address != y.host_address || x.host_port != y.host_port ||
          x.guest_port != y.guest_port) {
        return false;
      }
    }
  }
  return true;
}

}  // namespace vmk::providers
