#include "cli/service_notifier.h"

#include <systemd/sd-daemon.h>

#include <cstdint>

#include "common/log.h"

namespace vmk::cli {
namespace {

// One line per field: a newline in a status would start a field of its own.
std::string OneLine(std::string text) {
  for (char& c : text) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return text;
}

}  // namespace

void ServiceNotifier::Send(const std::string& state) const {
  // 0: no manager listens (no $NOTIFY_SOCKET); < 0: it does but the datagram did not go.
  int sent = sd_notify(/*unset_environment=*/0, state.c_str());
  if (sent < 0) {
    log::Warning("cannot notify the service manager",
                 {{"state", state.substr(0, state.find('\n'))}, {"errno", std::to_string(-sent)}});
  }
}

void ServiceNotifier::Ready(const std::string& status) const {
  Send("READY=1\nSTATUS=" + OneLine(status));
}

void ServiceNotifier::Status(const std::string& status) const { Send("STATUS=" + OneLine(status)); }

void ServiceNotifier::Stopping(const std::string& status) const {
  Send("STOPPING=1\nSTATUS=" + OneLine(status));
}

void ServiceNotifier::PetWatchdog() const { Send("WATCHDOG=1"); }

std::optional<std::chrono::microseconds> ServiceNotifier::WatchdogPeriod() const {
  uint64_t usec = 0;
  if (sd_watchdog_enabled(/*unset_environment=*/0, &usec) <= 0 || usec == 0) return std::nullopt;
  return std::chrono::microseconds(usec);
}

}  // namespace vmk::cli
