#include "providers/alerts/alert_signal.h"

#include <cstdint>
#include <cstdio>
#include <map>
#include <utility>

#include <nlohmann/json.hpp>

namespace vmk::providers {
namespace {

using Json = nlohmann::json;
using Labels = std::map<std::string, std::string>;

// Label and annotation values are untrusted and end up in logs and events; keep them short.
std::string Shortened(const std::string& value) {
  constexpr std::size_t kMaxShown = 80;
  return value.size() <= kMaxShown ? value : value.substr(0, kMaxShown) + "...";
}

std::string Quoted(const std::string& value) { return "\"" + Shortened(value) + "\""; }

// What the JSON value is, for messages ("got a number").
std::string TypeOf(const Json& value) { return std::string(value.type_name()); }

// Same rule as specs::kNamePattern (^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$), spelled out here because
// providers do not depend on specs.
bool IsValidName(const std::string& name) {
  if (name.empty() || name.size() > 63) return false;
  if (name.front() < 'a' || name.front() > 'z') return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
    if (!ok) return false;
  }
  return name.back() != '-';
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

Status ParseTime(const Json& value, const std::string& path, WallTime* out) {
  if (!value.is_string()) {
    return Status::InvalidArgument(path + ": must be an RFC 3339 time string, got " +
                                   TypeOf(value));
  }
  const std::string& text = value.get_ref<const std::string&>();
  if (!ParseRfc3339(text, out)) {
    return Status::InvalidArgument(path + ": must be an RFC 3339 time, got " + Quoted(text));
  }
  return Status::Ok();
}

// Go's zero time.Time, which Alertmanager sends as endsAt while an alert fires.
bool IsGoZeroTime(WallTime t) {
  static const WallTime kZero = [] {
    WallTime zero;
    ParseRfc3339("0001-01-01T00:00:00Z", &zero);
    return zero;
  }();
  return t == kZero;
}

// Alertmanager's own fingerprint of a label set (prometheus/common model.LabelSet.Fingerprint):
// FNV-1a 64 over name, 0xff, value, 0xff for each label in name order, as 16 hex digits. Using
// the same function means an alert posted without a fingerprint still deduplicates with the
// copies Alertmanager sends.
std::string LabelsFingerprint(const Labels& labels) {
  constexpr uint64_t kOffset = 14695981039346656037ULL;
  constexpr uint64_t kPrime = 1099511628211ULL;
  uint64_t hash = kOffset;
  auto add = [&hash](const std::string& bytes) {
    for (unsigned char c : bytes) {
      hash ^= c;
      hash *= kPrime;
    }
    hash ^= 0xffu;
    hash *= kPrime;
  };
  for (const auto& [name, value] : labels) {  // std::map: byte order, like Go's sort.Strings
    add(name);
    add(value);
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(hash));
  return buf;
}

Status ParseStringMap(const Json& value, const std::string& path, Labels* out) {
  if (!value.is_object()) {
    return Status::InvalidArgument(path + ": must be an object, got " + TypeOf(value));
  }
  for (const auto& [key, item] : value.items()) {
    if (!item.is_string()) {
      return Status::InvalidArgument(path + "." + Shortened(key) + ": must be a string, got " +
                                     TypeOf(item));
    }
    (*out)[key] = item.get<std::string>();
  }
  return Status::Ok();
}

std::string ValueOr(const Labels& m, const std::string& key, const std::string& fallback) {
  auto it = m.find(key);
  return it == m.end() || it->second.empty() ? fallback : it->second;
}

// "hv01:9100" -> "hv01"; a value without a numeric port is returned unchanged.
std::string StripPort(const std::string& instance) {
  auto colon = instance.rfind(':');
  if (colon == std::string::npos || colon + 1 == instance.size()) return instance;
  for (std::size_t i = colon + 1; i < instance.size(); ++i) {
    if (!IsDigit(instance[i])) return instance;
  }
  return instance.substr(0, colon);
}

// Names the target from the labels, or returns false with the reason the alert is skipped.
bool ResolveTarget(const Labels& labels, const AlertLabelNames& names, AlertSignal* signal,
                   std::string* reason) {
  auto present = [&labels](const std::string& key) {
    if (key.empty()) return false;
    auto it = labels.find(key);
    // Prometheus treats an empty label value as an absent label.
    return it != labels.end() && !it->second.empty();
  };
  std::string label;
  std::string name;
  if (present(names.vm)) {
    signal->target = AlertSignal::Target::kVirtualMachine;
    label = names.vm;
    name = labels.at(names.vm);
  } else if (present(names.host)) {
    signal->target = AlertSignal::Target::kHost;
    label = names.host;
    name = labels.at(names.host);
  } else if (names.host_from_instance && present("instance")) {
    signal->target = AlertSignal::Target::kHost;
    label = "instance";
    name = StripPort(labels.at("instance"));
  } else {
    *reason = "no label " + Quoted(names.vm) + " or " + Quoted(names.host) +
              (names.host_from_instance ? " or \"instance\"" : "") + " names a host or VM";
    return false;
  }
  if (!IsValidName(name)) {
    *reason = "label " + Quoted(label) + " gives " + Quoted(name) +
              ", which is not a vmkeeper name (a lowercase DNS label)";
    return false;
  }
  signal->name = std::move(name);
  return true;
}

// Parses alerts[index] into result->signals, or into result->skipped when it names no host or VM
// vmkeeper could know.
Status ParseAlert(const Json& alert, std::size_t index, const AlertLabelNames& names,
                  AlertParseResult* result) {
  const std::string path = "alerts[" + std::to_string(index) + "]";
  if (!alert.is_object()) {
    return Status::InvalidArgument(path + ": must be an object, got " + TypeOf(alert));
  }
  AlertSignal signal;

  auto status = alert.find("status");
  if (status == alert.end() || !status->is_string() ||
      (*status != "firing" && *status != "resolved")) {
    std::string got = status == alert.end() ? "nothing"
                      : status->is_string() ? Quoted(status->get<std::string>())
                                            : TypeOf(*status);
    return Status::InvalidArgument(path + ".status: must be \"firing\" or \"resolved\", got " +
                                   got);
  }
  signal.firing = *status == "firing";

  auto labels_json = alert.find("labels");
  if (labels_json == alert.end()) {
    return Status::InvalidArgument(path + ".labels: is required");
  }
  Labels labels;
  VMK_RETURN_IF_ERROR(ParseStringMap(*labels_json, path + ".labels", &labels));

  Labels annotations;
  auto annotations_json = alert.find("annotations");
  if (annotations_json != alert.end() && !annotations_json->is_null()) {
    VMK_RETURN_IF_ERROR(ParseStringMap(*annotations_json, path + ".annotations", &annotations));
  }

  auto starts_at = alert.find("startsAt");
  if (starts_at == alert.end()) {
    return Status::InvalidArgument(path + ".startsAt: is required");
  }
  VMK_RETURN_IF_ERROR(ParseTime(*starts_at, path + ".startsAt", &signal.starts_at));

  auto ends_at_json = alert.find("endsAt");
  std::optional<WallTime> ends_at;
  if (ends_at_json != alert.end() && !ends_at_json->is_null()) {
    WallTime t;
    VMK_RETURN_IF_ERROR(ParseTime(*ends_at_json, path + ".endsAt", &t));
    if (!IsGoZeroTime(t)) ends_at = t;
  }
  // While firing, endsAt is at most a forecast of when the alert would expire; only a resolved
  // alert's endsAt is evidence of recovery.
  if (!signal.firing) {
    if (!ends_at) {
      return Status::InvalidArgument(path + ".endsAt: must be set when status is \"resolved\"");
    }
    signal.ends_at = ends_at;
  }

  auto fingerprint = alert.find("fingerprint");
  if (fingerprint != alert.end() && !fingerprint->is_null() && !fingerprint->is_string()) {
    return Status::InvalidArgument(path + ".fingerprint: must be a string, got " +
                                   TypeOf(*fingerprint));
  }
  if (fingerprint != alert.end() && fingerprint->is_string() &&
      !fingerprint->get_ref<const std::string&>().empty()) {
    signal.fingerprint = fingerprint->get<std::string>();
  } else {
    signal.fingerprint = LabelsFingerprint(labels);
  }

  signal.alert_name = ValueOr(labels, "alertname", "");
  signal.summary =
      ValueOr(annotations, "summary", ValueOr(annotations, "description", signal.alert_name));

  std::string reason;
  if (!ResolveTarget(labels, names, &signal, &reason)) {
    result->skipped.push_back(path + " (alertname " + Quoted(signal.alert_name) +
                              ", fingerprint " + Quoted(signal.fingerprint) + "): " + reason);
    return Status::Ok();
  }
  result->signals.push_back(std::move(signal));
  return Status::Ok();
}

StatusOr<AlertParseResult> ParseDocument(const Json& doc, const AlertLabelNames& names) {
  if (!doc.is_object()) {
    return Status::InvalidArgument("webhook payload: must be a JSON object, got " + TypeOf(doc));
  }
  auto version = doc.find("version");
  if (version == doc.end()) {
    return Status::InvalidArgument("version: is required and must be \"4\"");
  }
  if (!version->is_string() || *version != "4") {
    return Status::InvalidArgument("version: must be \"4\" (Alertmanager webhook version 4), got " +
                                   (version->is_string()   ? Quoted(version->get<std::string>())
                                    : version->is_number() ? version->dump()
                                                           : TypeOf(*version)));
  }
  auto alerts = doc.find("alerts");
  if (alerts == doc.end()) {
    return Status::InvalidArgument("alerts: is required");
  }
  if (!alerts->is_array()) {
    return Status::InvalidArgument("alerts: must be an array, got " + TypeOf(*alerts));
  }
  if (alerts->size() > kMaxAlertsPerWebhook) {
    return Status::InvalidArgument("alerts: must hold at most " +
                                   std::to_string(kMaxAlertsPerWebhook) + " alerts, got " +
                                   std::to_string(alerts->size()));
  }
  AlertParseResult result;
  for (std::size_t i = 0; i < alerts->size(); ++i) {
    VMK_RETURN_IF_ERROR(ParseAlert((*alerts)[i], i, names, &result));
  }
  return result;
}

}  // namespace

StatusOr<AlertParseResult> ParseAlertmanagerWebhook(const std::string& body,
                                                    const AlertLabelNames& labels) {
  // nlohmann::json reports malformed input and type mismatches by exception; none leaves here.
  try {
    Json doc = Json::parse(body);
    return ParseDocument(doc, labels);
  } catch (const Json::parse_error& e) {
    return Status::InvalidArgument(std::string("webhook body is not valid JSON: ") + e.what());
  } catch (const Json::exception& e) {
    return Status::InvalidArgument(std::string("webhook payload: ") + e.what());
  }
}

}  // namespace vmk::providers
