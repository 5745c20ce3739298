// Scheduler: picks the host a VM should be defined on (filter, then order).
//
// Filters: host ready and schedulable, requiredHosts, hostSelector, sees every storage pool of
// the VM's volume disks, no foreign domain with the VM's name, free CPU and memory. Order: preferredHosts first (in their order), then fewest VMs
// sharing the VM's spreadBy label value, then most free memory, then name. Deterministic for the
// same input. Pure functions over plain data: no locks, no I/O.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "common/status.h"
#include "specs/types.h"

namespace vmk::reconciler {

struct HostCandidate {
  std::string name;
  std::map<std::string, std::string> labels;
  bool ready = false;
  bool schedulable = true;
  specs::Capacity capacity;
  specs::Capacity allocated;
  // Names of domains on this host that vmkeeper does not own (their names are taken).
  std::set<std::string> foreign_domains;
  // For spreadBy: label maps of the VMs placed on this host.
  std::vector<const std::map<std::string, std::string>*> vm_labels;
};

struct SchedulingRequest {
  std::string vm;
  std::map<std::string, std::string> vm_labels;
  const specs::VirtualMachineSpec* spec = nullptr;
  // The StoragePools named by the VM's volume disks, by name (the caller reads them from the
  // store). A pool a disk names but missing here rejects every host.
  std::map<std::string, specs::StoragePoolSpec> pools;
  // Hosts each of those pools' status says do not see it (a missing mount), by pool.
  std::map<std::string, std::set<std::string>> pool_not_seen_on;
};

// The chosen host's name, or FailedPrecondition whose message says why each host was refused,
// e.g. "no host fits: hv01: not ready; hv02: needs 4096 MiB, 2048 free".
StatusOr<std::string> ScheduleVm(const SchedulingRequest& request,
                                 const std::vector<HostCandidate>& hosts);

// Why `host` cannot take the VM, or "" if it can (the filter part of ScheduleVm).
std::string RejectionReason(const SchedulingRequest& request, const HostCandidate& host);

}  // namespace vmk::reconciler
