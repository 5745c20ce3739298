// Alert intake: Alertmanager's webhook payload (version 4) turned into failure signals about
// hosts and VMs. Pure parsing; no I/O. Thread-safe.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/status.h"

namespace vmk::providers {

struct AlertSignal {
  enum class Target { kHost, kVirtualMachine };
  Target target = Target::kHost;
  std::string name;         // the Host or VirtualMachine name taken from the labels
  bool firing = true;       // false when resolved
  WallTime starts_at;       // evidence of when the failure began
  std::optional<WallTime> ends_at;  // set when resolved
  std::string alert_name;   // labels.alertname
  std::string fingerprint;  // Alertmanager's, for deduplication
  std::string summary;      // annotations.summary or description, for events
};

struct AlertLabelNames {
  std::string host = "vmkeeper_host";  // label naming the host
  std::string vm = "vmkeeper_vm";      // label naming the VM
  // When neither label is present, name the host by the `instance` label with its ":port"
  // stripped ("hv01:9100" -> hv01), which is what node_exporter targets carry.
  bool host_from_instance = true;
};

// A payload with more alerts than this is rejected (Alertmanager's max_alerts is unbounded by
// default; a receiver must bound its work per request).
inline constexpr std::size_t kMaxAlertsPerWebhook = 1000;

struct AlertParseResult {
  std::vector<AlertSignal> signals;
  // Alerts that name neither a host nor a VM are skipped, not errors; each is described here.
  std::vector<std::string> skipped;
};

// InvalidArgument for a body that is not a version-4 webhook payload.
StatusOr<AlertParseResult> ParseAlertmanagerWebhook(const std::string& body,
                                                    const AlertLabelNames& labels);

}  // namespace vmk::providers
