// HostSignalBook: the evidence about each host that comes neither from its heartbeats
// (HostHealthBook) nor from its VMs' probes (VmHealthBook): whether an alert about it is firing,
// what its fence device last said about its power, and how its main libvirt connection last
// closed. Failure detection (host_verdict.h) weighs these with the others. Thread-safe.
#pragma once

#include <map>
#include <optional>
#include <string>

#include "common/clock.h"
#include "common/mutex.h"
#include "providers/fencing/fencer.h"

namespace vmk::reconciler {

class HostSignalBook {
 public:
  struct Snapshot {
    bool alert_firing = false;
    std::string alert_name;
    providers::PowerState power = providers::PowerState::kUnknown;
    std::optional<MonoTime> power_asked_at;
    std::string power_message;  // why it is unknown, when the device failed to say
    std::string close_reason;   // "eof", "keepalive", ... of the main connection's last close
  };

  void SetAlert(const std::string& host, bool firing, const std::string& alert_name);
  void SetPower(const std::string& host, providers::PowerState power, MonoTime asked_at,
                const std::string& message);
  void SetClosed(const std::string& host, const std::string& reason);
  // The host answers again: power and close reason are history (the alert stays until resolved).
  void ClearOutage(const std::string& host);
  Snapshot Get(const std::string& host) const;
  void Remove(const std::string& host);

 private:
  mutable Mutex mu_;
  std::map<std::string, Snapshot> hosts_ GUARDED_BY(mu_);
};

}  // namespace vmk::reconciler
