#include "reconciler/scheduling/scheduler.h"

#include <algorithm>
#include <tuple>

namespace vmk::reconciler {

std::string RejectionReason(const SchedulingRequest& request, const HostCandidate& host) {
  const specs::VirtualMachineSpec& spec = *request.spec;
  const auto& placement = spec.placement;
  if (!placement.requiredHosts.empty() &&
      std::find(placement.requiredHosts.begin(), placement.requiredHosts.end(), host.name) ==
          placement.requiredHosts.end()) {
    return "not in requiredHosts";
  }
  for (const auto& [key, value] : placement.hostSelector) {
    auto it = host.labels.find(key);
    if (it == host.labels.end() || it->second != value) {
      return "does not match hostSelector " + key + "=" + value;
    }
  }
  for (const specs::DiskSpec& disk : spec.disks) {
    if (!disk.volume) continue;
    auto pool = request.pools.find(disk.volume->pool);
    if (pool == request.pools.end()) {
      return "storage pool " + disk.volume->pool + " is not declared";
    }
    auto not_seen = request.pool_not_seen_on.find(disk.volume->pool);
    if (!specs::PoolVisibleOnHost(pool->second, host.name, host.labels) ||
        (not_seen != request.pool_not_seen_on.end() && not_seen->second.count(host.name))) {
      return "does not see storage pool " + disk.volume->pool;
    }
  }
  if (!host.ready) return "not ready";
  if (!host.schedulable) return "not schedulable";
  if (host.foreign_domains.count(request.vm)) {
    return "a domain named " + request.vm + " that vmkeeper does not own exists there";
  }
  int free_cpus = host.capacity.cpus - host.allocated.cpus;
  if (spec.cpus > free_cpus) {
    return "needs " + std::to_string(spec.cpus) + " CPUs, " + std::to_string(free_cpus) + " free";
  }
  int64_t free_mem = host.capacity.memoryMiB - host.allocated.memoryMiB;
  if (spec.memoryMiB > free_mem) {
    return "needs " + std::to_string(spec.memoryMiB) + " MiB, " + std::to_string(free_mem) +
           " free";
  }
  return "";
}

StatusOr<std::string> ScheduleVm(const SchedulingRequest& request,
                                 const std::vector<HostCandidate>& hosts) {
  const auto& placement = request.spec->placement;
  std::string spread_value;
  if (!placement.spreadBy.empty()) {
    auto it = request.vm_labels.find(placement.spreadBy);
    if (it != request.vm_labels.end()) spread_value = it->second;
  }
  // (preferred rank, VMs sharing the spread value, -free memory, name)
  using Score = std::tuple<size_t, int, int64_t, std::string>;
  std::vector<Score> feasible;
  std::string reasons;
  for (const auto& host : hosts) {
    std::string reason = RejectionReason(request, host);
    if (!reason.empty()) {
      if (!reasons.empty()) reasons += "; ";
      reasons += host.name + ": " + reason;
      continue;
    }
    auto pref = std::find(placement.preferredHosts.begin(), placement.preferredHosts.end(),
                          host.name);
    size_t rank = static_cast<size_t>(pref - placement.preferredHosts.begin());
    int sharing = 0;
    if (!spread_value.empty()) {
      for (const auto* labels : host.vm_labels) {
        auto it = labels->find(placement.spreadBy);
        if (it != labels->end() && it->second == spread_value) ++sharing;
      }
    }
    int64_t free_mem = host.capacity.memoryMiB - host.allocated.memoryMiB;
    feasible.emplace_back(rank, sharing, -free_mem, host.name);
  }
  if (feasible.empty()) {
    if (hosts.empty()) return Status::FailedPrecondition("no hosts are declared");
    return Status::FailedPrecondition("no host fits: " + reasons);
  }
  return std::get<3>(*std::min_element(feasible.begin(), feasible.end()));
}

}  // namespace vmk::reconciler
