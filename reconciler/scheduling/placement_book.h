// PlacementBook: which host each VM is placed on, with the resources it holds there. It is
// rebuilt from the VMs' stored status at start and changed only together with that status, so
// allocation and spreading never need a scan of the store. Choosing a host and booking it happen
// under one lock, so two workers cannot both take the last free slot of a host.
// Thread-safe.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <unordered_map>
#include <string>
#include <vector>

#include "common/mutex.h"
#include "reconciler/scheduling/scheduler.h"

namespace vmk::reconciler {

struct Placement {
  std::string host;
  int cpus = 0;
  int64_t memoryMiB = 0;
  std::map<std::string, std::string> labels;
};

class PlacementBook {
 public:
  void Set(const std::string& vm, Placement placement);
  void Remove(const std::string& vm);
  std::optional<Placement> Get(const std::string& vm) const;

  specs::Capacity Allocated(const std::string& host) const;
  int CountOn(const std::string& host) const;
  std::vector<std::string> VmsOn(const std::string& host) const;

  // Fills the candidates' allocation and spread data from the book, schedules, and books the
  // chosen host for the VM, all under the lock.
  StatusOr<std::string> ScheduleAndBook(const SchedulingRequest& request,
                                        std::vector<HostCandidate> candidates);
  // The host ScheduleAndBook would choose now, without booking it.
  StatusOr<std::string> Preview(const SchedulingRequest& request,
                                std::vector<HostCandidate> candidates) const;

 private:
  void FillCandidatesLocked(const SchedulingRequest& request,
                            std::vector<HostCandidate>* candidates) const REQUIRES(mu_);
  void SetLocked(const std::string& vm, Placement placement) REQUIRES(mu_);
  void RemoveLocked(const std::string& vm) REQUIRES(mu_);

  struct HostTotals {
    specs::Capacity allocated;
    std::set<std::string> vms;
  };

  mutable Mutex mu_;
  std::map<std::string, Placement> by_vm_ GUARDED_BY(mu_);
  std::unordered_map<std::string, HostTotals> by_host_ GUARDED_BY(mu_);  // sums of by_vm_
};

}  // namespace vmk::reconciler
