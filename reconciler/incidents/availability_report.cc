#include "reconciler/incidents/availability_report.h"

#include <cctype>

#include "common/rfc3339.h"

namespace vmk::reconciler {

namespace {

using Seconds = std::chrono::duration<double>;
using specs::Json;

double S(Duration d) { return Seconds(d).count(); }
Duration FromSeconds(double s) { return std::chrono::duration_cast<Duration>(Seconds(s)); }

Json OptionalSeconds(const std::optional<Duration>& d) { return d ? Json(S(*d)) : Json(nullptr); }

Availability AvailabilityFromJson(const Json& json) {
  Availability a;
  a.observed = FromSeconds(json.value("observedSeconds", 0.0));
  a.downtime = FromSeconds(json.value("downSeconds", 0.0));
  a.downtime_unobserved = FromSeconds(json.value("downUnobservedSeconds", 0.0));
  a.planned = FromSeconds(json.value("plannedSeconds", 0.0));
  a.unobserved = FromSeconds(json.value("unobservedSeconds", 0.0));
  a.failures = json.value("failures", 0);
  a.recoveries = json.value("recoveries", 0);
  a.recovery_total = FromSeconds(json.value("recoverySecondsTotal", 0.0));
  a.unconfirmed = json.value("unconfirmed", 0);
  return a;
}

}  // namespace

Json AvailabilityToJson(const Availability& a) {
  return Json{{"availability", a.Ratio()},
              {"upSeconds", S(a.Up())},
              {"downSeconds", S(a.downtime)},
              {"downUnobservedSeconds", S(a.downtime_unobserved)},
              {"plannedSeconds", S(a.planned)},
              {"unobservedSeconds", S(a.unobserved)},
              {"observedSeconds", S(a.observed)},
              {"failures", a.failures},
              {"recoveries", a.recoveries},
              {"recoverySecondsTotal", S(a.recovery_total)},
              {"mttrSeconds", OptionalSeconds(a.Mttr())},
              {"mtbfSeconds", OptionalSeconds(a.Mtbf())},
              {"unconfirmed", a.unconfirmed}};
}

Json AvailabilityReport::ToJson() const {
  Json items = Json::array();
  for (const VmAvailability& vm : vms) {
    Json item = AvailabilityToJson(vm.figures);
    item["vm"] = vm.vm;
    item["labels"] = vm.labels;
    item["accounted"] = vm.accounted;
    item["incidentOpen"] = vm.incident_open;
    items.push_back(std::move(item));
  }
  Json json{{"from", FormatRfc3339(from)},
            {"to", FormatRfc3339(to)},
            {"window", FormatWindow(std::chrono::duration_cast<Duration>(to - from))},
            {"items", std::move(items)},
            {"total", AvailabilityToJson(total)}};
  if (!group_by.empty()) {
    Json groups_json = Json::array();
    for (const auto& [value, a] : groups) {
      Json g = AvailabilityToJson(a);
      g["value"] = value;
      groups_json.push_back(std::move(g));
    }
    json["groupBy"] = group_by;
    json["groups"] = std::move(groups_json);
  }
  return json;
}

StatusOr<AvailabilityReport> AvailabilityReport::FromJson(const Json& json) {
  AvailabilityReport report;
  try {
    if (!ParseRfc3339(json.at("from").get<std::string>(), &report.from) ||
        !ParseRfc3339(json.at("to").get<std::string>(), &report.to)) {
      return Status::InvalidArgument("availability report: unreadable from/to");
    }
    for (const Json& item : json.at("items")) {
      VmAvailability vm;
      vm.vm = item.at("vm").get<std::string>();
      vm.labels = item.value("labels", std::map<std::string, std::string>{});
      vm.accounted = item.value("accounted", false);
      vm.incident_open = item.value("incidentOpen", false);
      vm.figures = AvailabilityFromJson(item);
      report.vms.push_back(std::move(vm));
    }
    report.total = AvailabilityFromJson(json.at("total"));
    report.group_by = json.value("groupBy", "");
    if (auto it = json.find("groups"); it != json.end()) {
      for (const Json& g : *it) report.groups[g.value("value", "")] = AvailabilityFromJson(g);
    }
  } catch (const Json::exception& e) {
    return Status::InvalidArgument(std::string("malformed availability report: ") + e.what());
  }
  return report;
}

StatusOr<Duration> ParseWindow(const std::string& text) {
  size_t digits = 0;
  while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) ++digits;
  const auto bad = Status::InvalidArgument("window \"" + text +
                                           "\": expected a positive whole number and a unit "
                                           "(s, m, h, d, w), e.g. 30d or 12h");
  if (digits == 0 || digits + 1 != text.size() || digits > 9) return bad;
  const long long n = std::stoll(text.substr(0, digits));
  if (n <= 0) return bad;
  switch (text.back()) {
    case 's': return std::chrono::duration_cast<Duration>(std::chrono::seconds(n));
    case 'm': return std::chrono::duration_cast<Duration>(std::chrono::minutes(n));
    case 'h': return std::chrono::duration_cast<Duration>(std::chrono::hours(n));
    case 'd': return std::chrono::duration_cast<Duration>(std::chrono::hours(24 * n));
    case 'w': return std::chrono::duration_cast<Duration>(std::chrono::hours(24 * 7 * n));
  }
  return bad;
}

std::string FormatWindow(Duration d) {
  const long long s = std::chrono::duration_cast<std::chrono::seconds>(d).count();
  if (s > 0 && s % (7 * 86400) == 0) return std::to_string(s / (7 * 86400)) + "w";
  if (s > 0 && s % 86400 == 0) return std::to_string(s / 86400) + "d";
  if (s > 0 && s % 3600 == 0) return std::to_string(s / 3600) + "h";
  if (s > 0 && s % 60 == 0) return std::to_string(s / 60) + "m";
  return std::to_string(s) + "s";
}

}  // namespace vmk::reconciler
