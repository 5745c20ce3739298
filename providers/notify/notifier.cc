#include "providers/notify/notifier.h"

#include <exception>

#include <nlohmann/json.hpp>

namespace vmk::providers {
namespace {

// Optional fields of the contract are null, not "", when unknown: scripts test them with
// `.recoveredAt == null` or jq's `//`.
nlohmann::ordered_json StringOrNull(const std::string& text) {
  return text.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(text);
}

}  // namespace

std::string Notification::ToJson() const {
  try {
    nlohmann::ordered_json body;
    body["kind"] = kind;
    body["name"] = name;
    body["event"] = event;
    body["recovered"] = !recovered.empty();
    body["incidentId"] = StringOrNull(incident_id);
    body["incidentType"] = StringOrNull(type);
    body["occurredAt"] = StringOrNull(occurred);
    body["detectedAt"] = StringOrNull(detected);
    body["recoveredAt"] = StringOrNull(recovered);
    body["message"] = message;
    body["actions"] = actions;
    // replace: a name or message with invalid UTF-8 must not cost the admins their notification.
    return body.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
  } catch (const std::exception&) {
    // Only allocation failure is left; a notification body is not worth crashing the daemon.
    return "{}";
  }
}

}  // namespace vmk::providers
