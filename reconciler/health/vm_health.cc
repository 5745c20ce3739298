#include "reconciler/health/vm_health.h"

namespace vmk::reconciler {

providers::ProbeSettings ProbeSettingsOf(const specs::HealthSpec& health) {
  providers::ProbeSettings s;
  s.period = std::chrono::seconds(health.periodSeconds);
  s.timeout = std::chrono::seconds(health.timeoutSeconds);
  s.failureThreshold = health.failureThreshold;
  s.startupGrace = std::chrono::seconds(health.startupGraceSeconds);
  return s;
}

providers::ProbeSpec ProbeSpecOf(const specs::HealthSpec& health, const std::string& vm) {
  providers::ProbeSpec p;
  p.address = health.address.empty() ? vm : health.address;
  p.timeout = std::chrono::seconds(health.timeoutSeconds);
  if (health.http) {
    p.type = providers::ProbeSpec::Type::kHttp;
    p.port = health.http->port;
    p.path = health.http->path;
  } else if (health.tcp) {
    p.type = providers::ProbeSpec::Type::kTcp;
    p.port = health.tcp->port;
  } else if (health.exec) {
    // Runs on the controller's machine; the address is unused (the command names its target).
    p.type = providers::ProbeSpec::Type::kExec;
    p.command = health.exec->command;
  }
  return p;
}

bool VmHealthBook::Configure(const std::string& vm, const providers::ProbeSettings& settings) {
  MutexLock l(&mu_);
  auto it = trackers_.find(vm);
  if (it != trackers_.end()) {
    it->second->UpdateSettings(settings);
    return false;
  }
  auto tracker = std::make_unique<providers::ProbeTracker>(clock_, settings);
  // The VM's start went by before its tracker existed (trackers are made when a VM is first
  // seen running, also after a controller restart): its startup grace counts from now. A VM
  // that answers ends the grace with its first probe; one that does not is not restarted
  // before it had its grace (a guest booting slowly on a loaded host was restarted 6 s after
  // its start, with a grace of 60 s).
  tracker->Started(clock_->Now());
  trackers_.emplace(vm, std::move(tracker));
  return true;
}

void VmHealthBook::Started(const std::string& vm) {
  MutexLock l(&mu_);
  auto it = trackers_.find(vm);
  if (it != trackers_.end()) it->second->Started(clock_->Now());
}

bool VmHealthBook::BeginProbeIfDue(const std::string& vm) {
  MutexLock l(&mu_);
  auto it = trackers_.find(vm);
  if (it == trackers_.end() || !it->second->ProbeDue()) return false;
  it->second->ProbeStarted();
  return true;
}

bool VmHealthBook::ProbeSoon(const std::string& vm) {
  MutexLock l(&mu_);
  auto it = trackers_.find(vm);
  if (it == trackers_.end()) return false;
  it->second->ProbeSoon();
  return true;
}

providers::ProbeUpdate VmHealthBook::Record(const std::string& vm,
                                            const providers::ProbeResult& result) {
  MutexLock l(&mu_);
  auto it = trackers_.find(vm);
  if (it == trackers_.end()) return {};
  return it->second->RecordResult(result);
}

std::optional<VmHealthBook::Snapshot> VmHealthBook::Get(const std::string& vm) const {
  MutexLock l(&mu_);
  auto it = trackers_.find(vm);
  if (it == trackers_.end()) return std::nullopt;
  const providers::ProbeTracker& t = *it->second;
  Snapshot s;
  s.health = t.health();
  if (t.last_result()) s.last_message = t.last_result()->message;
  if (auto began = t.FailureBegan()) s.failure_began = began->wall;
  s.next_probe = t.NextProbeAt();
  if (t.last_success()) s.last_success = t.last_success()->mono;
  s.last_probe_start = t.last_probe_start();
  s.last_result_at = t.last_result_at();
  s.last_passed = t.last_result() && t.last_result()->healthy;
  if (t.started_at()) s.started_at = t.started_at()->mono;
  s.settings = t.settings();
  return s;
}

void VmHealthBook::Remove(const std::string& vm) {
  MutexLock l(&mu_);
  trackers_.erase(vm);
}

}  // namespace vmk::reconciler
