#include "reconciler/placement_book.h"

namespace vmk::reconciler {

void PlacementBook::Set(const std::string& vm, Placement placement) {
  std::lock_guard<std::mutex> l(mu_);
  by_vm_[vm] = std::move(placement);
}

void PlacementBook::Remove(const std::string& vm) {
  std::lock_guard<std::mutex> l(mu_);
  by_vm_.erase(vm);
}

std::optional<Placement> PlacementBook::Get(const std::string& vm) const {
  std::lock_guard<std::mutex> l(mu_);
  auto it = by_vm_.find(vm);
  if (it == by_vm_.end()) return std::nullopt;
  return it->second;
}

specs::Capacity PlacementBook::Allocated(const std::string& host) const {
  std::lock_guard<std::mutex> l(mu_);
  specs::Capacity total;
  for (const auto& [vm, p] : by_vm_) {
    if (p.host != host) continue;
    total.cpus += p.cpus;
    total.memoryMiB += p.memoryMiB;
  }
  return total;
}

int PlacementBook::CountOn(const std::string& host) const {
  std::lock_guard<std::mutex> l(mu_);
  int n = 0;
  for (const auto& [vm, p] : by_vm_) n += p.host == host;
  return n;
}

std::vector<std::string> PlacementBook::VmsOn(const std::string& host) const {
  std::lock_guard<std::mutex> l(mu_);
  std::vector<std::string> out;
  for (const auto& [vm, p] : by_vm_) {
    if (p.host == host) out.push_back(vm);
  }
  return out;
}

void PlacementBook::FillCandidatesLocked(const std::string& vm,
                                         std::vector<HostCandidate>* candidates) const {
  std::map<std::string, HostCandidate*> by_name;
  for (auto& c : *candidates) {
    c.allocated = {};
    c.vm_labels.clear();
    by_name[c.name] = &c;
  }
  for (const auto& [other, p] : by_vm_) {
    if (other == vm) continue;
    auto it = by_name.find(p.host);
    if (it == by_name.end()) continue;
    it->second->allocated.cpus += p.cpus;
    it->second->allocated.memoryMiB += p.memoryMiB;
    it->second->vm_labels.push_back(&p.labels);
  }
}

StatusOr<std::string> PlacementBook::ScheduleAndBook(const SchedulingRequest& request,
                                                     std::vector<HostCandidate> candidates) {
  std::lock_guard<std::mutex> l(mu_);
  FillCandidatesLocked(request.vm, &candidates);
  auto chosen = ScheduleVm(request, candidates);
  if (!chosen.ok()) return chosen;
  by_vm_[request.vm] = Placement{*chosen, request.spec->cpus, request.spec->memoryMiB,
                                 request.vm_labels};
  return chosen;
}

StatusOr<std::string> PlacementBook::Preview(const SchedulingRequest& request,
                                             std::vector<HostCandidate> candidates) const {
  std::lock_guard<std::mutex> l(mu_);
  FillCandidatesLocked(request.vm, &candidates);
  return ScheduleVm(request, candidates);
}

}  // namespace vmk::reconciler
