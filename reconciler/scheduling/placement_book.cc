#include "reconciler/scheduling/placement_book.h"

namespace vmk::reconciler {

void PlacementBook::SetLocked(const std::string& vm, Placement placement) {
  RemoveLocked(vm);
  HostTotals& totals = by_host_[placement.host];
  totals.allocated.cpus += placement.cpus;
  totals.allocated.memoryMiB += placement.memoryMiB;
  totals.vms.insert(vm);
  by_vm_[vm] = std::move(placement);
}

void PlacementBook::RemoveLocked(const std::string& vm) {
  auto it = by_vm_.find(vm);
  if (it == by_vm_.end()) return;
  auto host = by_host_.find(it->second.host);
  if (host != by_host_.end()) {
    host->second.allocated.cpus -= it->second.cpus;
    host->second.allocated.memoryMiB -= it->second.memoryMiB;
    host->second.vms.erase(vm);
    if (host->second.vms.empty()) by_host_.erase(host);
  }
  by_vm_.erase(it);
}

void PlacementBook::Set(const std::string& vm, Placement placement) {
  MutexLock l(&mu_);
  SetLocked(vm, std::move(placement));
}

void PlacementBook::Remove(const std::string& vm) {
  MutexLock l(&mu_);
  RemoveLocked(vm);
}

std::optional<Placement> PlacementBook::Get(const std::string& vm) const {
  MutexLock l(&mu_);
  auto it = by_vm_.find(vm);
  if (it == by_vm_.end()) return std::nullopt;
  return it->second;
}

specs::Capacity PlacementBook::Allocated(const std::string& host) const {
  MutexLock l(&mu_);
  auto it = by_host_.find(host);
  return it == by_host_.end() ? specs::Capacity{} : it->second.allocated;
}

int PlacementBook::CountOn(const std::string& host) const {
  MutexLock l(&mu_);
  auto it = by_host_.find(host);
  return it == by_host_.end() ? 0 : static_cast<int>(it->second.vms.size());
}

std::vector<std::string> PlacementBook::VmsOn(const std::string& host) const {
  MutexLock l(&mu_);
  auto it = by_host_.find(host);
  if (it == by_host_.end()) return {};
  return {it->second.vms.begin(), it->second.vms.end()};
}

void PlacementBook::FillCandidatesLocked(const SchedulingRequest& request,
                                         std::vector<HostCandidate>* candidates) const {
  auto own = by_vm_.find(request.vm);
  const bool spread = !request.spec->placement.spreadBy.empty();
  for (auto& c : *candidates) {
    c.allocated = {};
    c.vm_labels.clear();
    auto totals = by_host_.find(c.name);
    if (totals == by_host_.end()) continue;
    c.allocated = totals->second.allocated;
    if (own != by_vm_.end() && own->second.host == c.name) {
      // The VM's own booking does not compete with itself.
      c.allocated.cpus -= own->second.cpus;
      c.allocated.memoryMiB -= own->second.memoryMiB;
    }
    if (!spread) continue;
    for (const auto& vm : totals->second.vms) {
      if (vm != request.vm) c.vm_labels.push_back(&by_vm_.at(vm).labels);
    }
  }
}

StatusOr<std::string> PlacementBook::ScheduleAndBook(const SchedulingRequest& request,
                                                     std::vector<HostCandidate> candidates) {
  MutexLock l(&mu_);
  FillCandidatesLocked(request, &candidates);
  auto chosen = ScheduleVm(request, candidates);
  if (!chosen.ok()) return chosen;
  SetLocked(request.vm, Placement{*chosen, request.spec->cpus, request.spec->memoryMiB,
                                  request.vm_labels});
  return chosen;
}

StatusOr<std::string> PlacementBook::Preview(const SchedulingRequest& request,
                                             std::vector<HostCandidate> candidates) const {
  MutexLock l(&mu_);
  FillCandidatesLocked(request, &candidates);
  return ScheduleVm(request, candidates);
}

}  // namespace vmk::reconciler
