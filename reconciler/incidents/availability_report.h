// AvailabilityReport: what `vmkeeper availability` and GET /api/v1/availability show: each
// selected VM's figures over a window, their total, and totals per value of one label. With its
// JSON form (the API's), and the parser of window lengths ("30d", "12h", "90m", "1w").
// Plain data, thread-compatible.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "reconciler/incidents/availability.h"
#include "specs/types.h"

namespace vmk::reconciler {

struct AvailabilityQuery {
  std::string vm;        // one VM, or "" for all that `selector` selects
  std::string selector;  // a label selector (specs/label_selector.h); "" = all
  Duration window = std::chrono::hours(24 * 30);
  std::string group_by;  // a label key: totals per value of it; "" = none
};

struct VmAvailability {
  std::string vm;
  std::map<std::string, std::string> labels;
  bool accounted = false;  // false: never observed by vmkeeper yet (no figures)
  bool incident_open = false;
  Availability figures;
};

struct AvailabilityReport {
  WallTime from;
  WallTime to;
  std::vector<VmAvailability> vms;  // by name
  Availability total;
  std::string group_by;
  std::map<std::string, Availability> groups;  // label value ("" = without the label) -> total

  specs::Json ToJson() const;
  static StatusOr<AvailabilityReport> FromJson(const specs::Json& json);
};

specs::Json AvailabilityToJson(const Availability& a);

// "30d", "12h", "90m", "45s", "2w": a positive whole number and one unit. InvalidArgument else.
StatusOr<Duration> ParseWindow(const std::string& text);
// The shortest of those that says `d` exactly (for messages and output).
std::string FormatWindow(Duration d);

}  // namespace vmk::reconciler
