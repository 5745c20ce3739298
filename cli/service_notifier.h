// ServiceNotifier: tells the service manager how vmkeeperd is doing, through systemd's notify
// protocol (sd_notify: datagrams on the socket named by $NOTIFY_SOCKET). The daemon says
// READY=1 once its store is open and its API serves, STOPPING=1 when it begins to shut down,
// STATUS=... lines for `systemctl status`, and WATCHDOG=1 while it is alive (ServiceWatchdog).
// Not started by systemd with Type=notify (no $NOTIFY_SOCKET), every call does nothing.
//
// The only file that includes systemd's headers (service_notifier.cc). Thread-safe: sd_notify
// keeps no state and the notifier none either.
#pragma once

#include <chrono>
#include <optional>
#include <string>

namespace vmk::cli {

class ServiceNotifier {
 public:
  // READY=1 with a status line.
  void Ready(const std::string& status) const;
  // STATUS=<status>.
  void Status(const std::string& status) const;
  // STOPPING=1 with a status line.
  void Stopping(const std::string& status) const;
  // WATCHDOG=1: the manager's watchdog timer starts again.
  void PetWatchdog() const;
  // The watchdog period the manager asked for (WatchdogSec=, passed as $WATCHDOG_USEC for this
  // process), or nullopt when it wants none. The daemon must pet it well within that period.
  std::optional<std::chrono::microseconds> WatchdogPeriod() const;

 private:
  void Send(const std::string& state) const;
};

}  // namespace vmk::cli
