// Typed views of the status the controller writes for VMs and hosts, with JSON round trips.
// Plain data.
#pragma once

#include <string>
#include <vector>

#include "common/clock.h"
#include "reconciler/store/store.h"
#include "specs/types.h"

namespace vmk::reconciler {

struct VmStatus {
  std::string host;   // where the VM is placed ("" = unplaced)
  std::string state;  // observed domain state: running, shutoff, ... or "unknown"
  int64_t observedGeneration = 0;
  std::vector<specs::Condition> conditions;
  int restartCount = 0;  // starts after the VM was found stopped while it should run
  // When the recent failure restarts happened (RFC 3339), for spec.restart's limit and backoff.
  std::vector<std::string> restartTimes;
  std::string message;
  std::string stopRequestedAt;  // RFC 3339 of a pending graceful shutdown

  static VmStatus FromJson(const specs::Json& json);
  specs::Json ToJson() const;
};

// A host failure being handled, recorded (synced) before each step so that a restarted
// controller resumes it: Fencing → Relocating → Relocated; cleared when the host is back and its
// stale copies are gone.
struct FailoverRecord {
  std::string phase;     // "" (none), Fencing, Relocating, Relocated
  std::string since;     // RFC 3339, when the failure was detected
  std::string fencedBy;  // fence agent, or "acknowledgeUnsafe"
};

// A condition whose lastTransitionTime is now (SetCondition keeps the old time when only the
// reason or message changes).
specs::Condition MakeCondition(const Clock& clock, const std::string& type, bool ok,
                               const std::string& reason, const std::string& message);

struct HostStatus {
  std::vector<specs::Condition> conditions;
  FailoverRecord failover;
  specs::Capacity capacity;
  specs::Capacity allocated;
  int vms = 0;
  std::string hypervisor;
  std::string lastSeen;  // RFC 3339 of the last successful sync

  static HostStatus FromJson(const specs::Json& json);
  specs::Json ToJson() const;
};

// Writes a host's status; a host deleted meanwhile is not an error (nothing left to describe).
Status WriteHostStatus(Store& store, const std::string& host, const HostStatus& status, bool sync);

}  // namespace vmk::reconciler
