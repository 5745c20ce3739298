// Notifier: tells the admins what failed and whether it recovered. The reconciler calls Notify
// from its workers; implementations only enqueue, so Notify never blocks on the network and
// never fails (delivery problems are logged and counted by the implementation, not returned).
// Implementations: WebhookNotifier (HTTP POST of Notification::ToJson) and FakeNotifier (tests).
//
// Thread-safe: Notify may be called from any number of threads at once.
//
// The JSON body (Notification::ToJson) is a public contract that admins script against. Fields
// are only ever added, never renamed, removed or retyped; consumers should ignore unknown fields.
//
//   {
//     "kind":         "VirtualMachine" | "Host"          always a string
//     "name":         "wms01"                            always a string
//     "event":        "Failed" | "Recovered" | "GaveUp" | "FencingFailed" | ...
//                                                        always a string (CamelCase reason)
//     "recovered":    true | false                       always a boolean: true iff the object
//                                                        recovered (recoveredAt is set)
//     "incidentId":   "inc-..." | null                   null when the event belongs to no
//                                                        incident
//     "incidentType": "HostFailure" | "VmCrashed" | ... | null
//     "occurredAt":   "2026-11-27T14:20:54.123Z" | null  RFC 3339; best evidence of when the
//                                                        failure happened; null when unknown
//     "detectedAt":   RFC 3339 | null                    when vmkeeper noticed
//     "recoveredAt":  RFC 3339 | null                    null unless recovered
//     "message":      "restarted on hv02 after crash"    always a string (may be empty)
//     "actions":      ["fenced hv01", "started on hv02"] always an array of strings, in order
//   }
//
// Keys appear in that order. The text is UTF-8; invalid UTF-8 in the inputs is replaced with
// U+FFFD rather than failing.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace vmk::providers {

struct Notification {
  std::string kind;         // "VirtualMachine" | "Host"
  std::string name;         // the object's metadata.name
  std::string event;        // "Failed" | "Recovered" | "GaveUp" | "FencingFailed" | ...
  std::string incident_id;  // empty: no incident           -> "incidentId"
  std::string type;         // incident type, e.g. HostFailure, VmCrashed -> "incidentType"
  std::string occurred;     // RFC 3339, empty when unknown -> "occurredAt"
  std::string detected;     // RFC 3339, empty when unknown -> "detectedAt"
  std::string recovered;    // RFC 3339, empty unless recovered -> "recoveredAt", "recovered"
  std::string message;      // one line for humans
  std::vector<std::string> actions;  // what vmkeeper did, in order

  // The JSON body described above, compact (no spaces or newlines). Never throws.
  std::string ToJson() const;

  bool operator==(const Notification& other) const = default;
};

// What a notifier did with the notifications it was given, since it started.
struct DeliveryCounts {
  uint64_t sent = 0;      // delivered
  uint64_t failed = 0;    // given up
  uint64_t dropped = 0;   // discarded unsent (queue full, shutdown)
  uint64_t attempts = 0;  // delivery attempts, retries included
};

class Notifier {
 public:
  virtual ~Notifier() = default;
  // Enqueues `n` for delivery and returns at once.
  virtual void Notify(Notification n) = 0;
  // For the controller's metrics (vmkeeper_notifications_total).
  virtual DeliveryCounts Counts() const { return {}; }
};

}  // namespace vmk::providers
