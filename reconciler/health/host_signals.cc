#include "reconciler/health/host_signals.h"

namespace vmk::reconciler {

void HostSignalBook::SetAlert(const std::string& host, bool firing,
                              const std::string& alert_name) {
  MutexLock l(&mu_);
  Snapshot& s = hosts_[host];
  s.alert_firing = firing;
  s.alert_name = firing ? alert_name : "";
}

void HostSignalBook::SetPower(const std::string& host, providers::PowerState power,
                              MonoTime asked_at, const std::string& message) {
  MutexLock l(&mu_);
  Snapshot& s = hosts_[host];
  s.power = power;
  s.power_asked_at = asked_at;
  s.power_message = message;
}

void HostSignalBook::SetClosed(const std::string& host, const std::string& reason) {
  MutexLock l(&mu_);
  hosts_[host].close_reason = reason;
}

void HostSignalBook::ClearOutage(const std::string& host) {
  MutexLock l(&mu_);
  auto it = hosts_.find(host);
  if (it == hosts_.end()) return;
  it->second.power = providers::PowerState::kUnknown;
  it->second.power_asked_at.reset();
  it->second.power_message.clear();
  it->second.close_reason.clear();
}

HostSignalBook::Snapshot HostSignalBook::Get(const std::string& host) const {
  MutexLock l(&mu_);
  auto it = hosts_.find(host);
  return it == hosts_.end() ? Snapshot{} : it->second;
}

void HostSignalBook::Remove(const std::string& host) {
  MutexLock l(&mu_);
  hosts_.erase(host);
}

}  // namespace vmk::reconciler
