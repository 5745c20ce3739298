#include "cli/output_format.h"

#include "common/clock.h"
#include "common/rfc3339.h"
#include "specs/canonical.h"
#include "specs/redaction.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <sstream>

#include <yaml-cpp/yaml.h>

namespace vmk::cli {
namespace {

using specs::Json;

constexpr char kNone[] = "<none>";

// The value at a path of object keys, or nullptr.
const Json* Find(const Json& json, std::initializer_list<const char*> path) {
  const Json* at = &json;
  for (const char* key : path) {
    if (!at->is_object()) return nullptr;
    auto it = at->find(key);
    if (it == at->end()) return nullptr;
    at = &*it;
  }
  return at;
}

std::string Text(const Json* value) {
  if (value == nullptr || value->is_null()) return kNone;
  if (value->is_string()) {
    const auto& s = value->get_ref<const std::string&>();
    return s.empty() ? kNone : s;
  }
  if (value->is_boolean()) return value->get<bool>() ? "true" : "false";
  return value->dump(-1, ' ', false, Json::error_handler_t::replace);
}

std::string Text(const Json& json, std::initializer_list<const char*> path) {
  return Text(Find(json, path));
}

std::optional<int64_t> Int(const Json& json, std::initializer_list<const char*> path) {
  const Json* v = Find(json, path);
  if (v == nullptr || !v->is_number()) return std::nullopt;
  return v->get<int64_t>();
}

std::string IntText(const Json& json, std::initializer_list<const char*> path) {
  auto v = Int(json, path);
  return v ? std::to_string(*v) : kNone;
}

const Json* FindCondition(const Json& object, const std::string& type) {
  const Json* conditions = Find(object, {"status", "conditions"});
  if (conditions == nullptr || !conditions->is_array()) return nullptr;
  for (const auto& c : *conditions) {
    if (c.is_object() && c.value("type", Json()).is_string() && c["type"] == type) return &c;
  }
  return nullptr;
}

std::string ConditionStatus(const Json& object, const std::string& type) {
  const Json* c = FindCondition(object, type);
  return c == nullptr ? "Unknown" : Text(Find(*c, {"status"}));
}

// "allocated/capacity" of a host resource, formatted by `format`.
template <typename Format>
std::string UsageText(const Json& host, const char* key, Format format) {
  auto capacity = Int(host, {"status", "capacity", key});
  if (!capacity) capacity = Int(host, {"spec", "capacity", key});
  auto allocated = Int(host, {"status", "allocated", key});
  std::string cap = capacity ? format(*capacity) : std::string("?");
  return (allocated ? format(*allocated) : std::string("0")) + "/" + cap;
}

std::string Indent(const std::string& text, const std::string& prefix) {
  std::string out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    out += line.empty() ? "\n" : prefix + line + "\n";
  }
  return out;
}

// How the CLI spells an object: the short kind `--for` and `describe` take.
std::string CliObjectName(specs::Kind kind, const std::string& name) {
  switch (kind) {
    case specs::Kind::kVirtualMachine: return "vm/" + name;
    case specs::Kind::kHost: return "host/" + name;
    case specs::Kind::kSnapshotPolicy: return "snapshotpolicy/" + name;
    case specs::Kind::kStoragePool: return "storagepool/" + name;
  }
  return name;
}

std::string Joined(const std::vector<std::string>& items, const std::string& separator) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : separator) + item;
  return out;
}

std::string MttrText(const reconciler::Incident& incident) {
  if (incident.open()) return "-";
  WallTime occurred, recovered;
  if (!ParseRfc3339(incident.occurred, &occurred) ||
      !ParseRfc3339(incident.recovered, &recovered)) {
    return "?";
  }
  return FormatElapsed(
      std::chrono::duration_cast<std::chrono::milliseconds>(recovered - occurred));
}

// The "Incident:" section of describe.
std::string DescribeIncident(const std::vector<reconciler::Incident>& incidents) {
  const reconciler::Incident* open = nullptr;
  for (const auto& incident : incidents) {
    if (incident.open()) open = &incident;  // the newest open one, should there be several
  }
  if (open == nullptr) return "Incident:  " + std::string(kNone) + "\n";
  std::string out = "Incident:\n";
  out += Indent(FormatTable({{"Type:", open->type},
                             {"Occurred:", open->occurred},
                             {"Detected:", open->detected},
                             {"Sources:", open->sources.empty() ? std::string(kNone)
                                                                : Joined(open->sources, ", ")},
                             {"Actions:", open->actions.empty() ? std::string(kNone) : ""}}),
                "  ");
  for (const auto& action : open->actions) out += "    " + action + "\n";
  return out;
}

using Rows = std::vector<std::vector<std::string>>;

// The `vmkeeper get` rows of each kind, header first (see FormatObjectTable).
Rows VmRows(const std::vector<Json>& vms, bool wide) {
  Rows rows = {{"NAME", "HOST", "STATE", "READY", "RESTARTS"}};
  if (wide) {
    for (const char* c : {"CPUS", "MEMORY", "GENERATION", "OBSERVED"}) rows[0].push_back(c);
  }
  for (const auto& vm : vms) {
    // As kubectl: an object being deleted reads Terminating, whatever its domain's state.
    const bool terminating = Find(vm, {"metadata", "deletionTimestamp"}) != nullptr;
    std::vector<std::string> row = {
        Text(vm, {"metadata", "name"}), Text(vm, {"status", "host"}),
        terminating ? "Terminating" : Text(vm, {"status", "state"}), ConditionStatus(vm, "Ready"),
        Int(vm, {"status", "restartCount"}) ? IntText(vm, {"status", "restartCount"}) : "0"};
    if (wide) {
      auto memory = Int(vm, {"spec", "memoryMiB"});
      row.push_back(IntText(vm, {"spec", "cpus"}));
      row.push_back(memory ? FormatMemoryMiB(*memory) : kNone);
      row.push_back(IntText(vm, {"metadata", "generation"}));
      row.push_back(IntText(vm, {"status", "observedGeneration"}));
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

// Which channels of failure detection answer (docs/failure-detection.md): "mgmt=answers" while
// the heartbeats do, else each channel as the host's status.signals saw it.
std::string SignalsText(const Json& host) {
  const Json* signals = Find(host, {"status", "signals"});
  if (signals == nullptr || !signals->is_object()) return "mgmt=answers";
  std::string text = "mgmt=" + Text(host, {"status", "signals", "management"}) +
                     " data=" + Text(host, {"status", "signals", "dataPlane"}) +
                     " power=" + Text(host, {"status", "signals", "power"});
  if (Find(host, {"status", "signals", "alert"}) != nullptr) {
    text += " alert=" + Text(host, {"status", "signals", "alert"});
  }
  return text;
}

Rows HostRows(const std::vector<Json>& hosts, bool wide) {
  Rows rows = {{"NAME", "URI", "READY", "VMS", "CPUS", "MEMORY", "SIGNALS"}};
  if (wide) {
    rows[0].push_back("HYPERVISOR");
    rows[0].push_back("SCHEDULABLE");
  }
  for (const auto& host : hosts) {
    std::vector<std::string> row = {
        Text(host, {"metadata", "name"}),
        Text(host, {"spec", "uri"}),
        ConditionStatus(host, "Ready"),
        Int(host, {"status", "vms"}) ? IntText(host, {"status", "vms"}) : "0",
        UsageText(host, "cpus", [](int64_t v) { return std::to_string(v); }),
        UsageText(host, "memoryMiB", FormatMemoryMiB),
        SignalsText(host)};
    if (wide) {
      row.push_back(Text(host, {"status", "hypervisor"}));
      const Json* schedulable = Find(host, {"spec", "schedulable"});
      row.push_back(schedulable == nullptr ? "true" : Text(schedulable));
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

Rows SnapshotPolicyRows(const std::vector<Json>& policies, bool wide) {
  Rows rows = {{"NAME", "INTERVAL", "KEEP", "BEFORE-CHANGE", "BEFORE-FAILOVER"}};
  if (wide) rows[0].push_back("GENERATION");
  for (const auto& policy : policies) {
    auto interval = Int(policy, {"spec", "intervalSeconds"});
    std::vector<std::string> row = {Text(policy, {"metadata", "name"}),
                                    interval ? FormatSeconds(*interval) : kNone,
                                    IntText(policy, {"spec", "keep"}),
                                    Text(policy, {"spec", "beforeChange"}),
                                    Text(policy, {"spec", "beforeFailover"})};
    if (wide) row.push_back(IntText(policy, {"metadata", "generation"}));
    rows.push_back(std::move(row));
  }
  return rows;
}

// "rack=r1,tier=gold" of a label map; <none> when empty.
std::string SelectorText(const Json* selector) {
  std::vector<std::string> pairs;
  if (selector != nullptr && selector->is_object()) {
    for (const auto& [key, value] : selector->items()) pairs.push_back(key + "=" + Text(&value));
  }
  return pairs.empty() ? kNone : Joined(pairs, ",");
}

// "hv01,hv02" of a list of host names; <all> when empty, since an empty list restricts nothing.
std::string HostListText(const Json* hosts) {
  std::vector<std::string> names;
  if (hosts != nullptr && hosts->is_array()) {
    for (const auto& host : *hosts) names.push_back(Text(&host));
  }
  return names.empty() ? "<all>" : Joined(names, ",");
}

Rows StoragePoolRows(const std::vector<Json>& pools, bool wide) {
  Rows rows = {{"NAME", "TYPE", "PATH", "HOST-SELECTOR", "HOSTS"}};
  if (wide) rows[0].push_back("GENERATION");
  for (const auto& pool : pools) {
    std::vector<std::string> row = {Text(pool, {"metadata", "name"}), Text(pool, {"spec", "type"}),
                                    Text(pool, {"spec", "path"}),
                                    SelectorText(Find(pool, {"spec", "hostSelector"})),
                                    HostListText(Find(pool, {"spec", "hosts"}))};
    if (wide) row.push_back(IntText(pool, {"metadata", "generation"}));
    rows.push_back(std::move(row));
  }
  return rows;
}

}  // namespace

std::string FormatTable(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths;
  for (const auto& row : rows) {
    if (widths.size() < row.size()) widths.resize(row.size(), 0);
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(widths[i] - row[i].size() + 3, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  return out;
}

std::string FormatMemoryMiB(int64_t mib) {
  if (mib != 0 && mib % 1024 == 0) return std::to_string(mib / 1024) + "Gi";
  return std::to_string(mib) + "Mi";
}

std::string FormatSeconds(int64_t seconds) {
  if (seconds != 0 && seconds % 86400 == 0) return std::to_string(seconds / 86400) + "d";
  if (seconds != 0 && seconds % 3600 == 0) return std::to_string(seconds / 3600) + "h";
  if (seconds != 0 && seconds % 60 == 0) return std::to_string(seconds / 60) + "m";
  return std::to_string(seconds) + "s";
}

std::string FormatObjectTable(specs::Kind kind, const std::vector<Json>& objects, bool wide) {
  switch (kind) {
    case specs::Kind::kVirtualMachine: return FormatTable(VmRows(objects, wide));
    case specs::Kind::kHost: return FormatTable(HostRows(objects, wide));
    case specs::Kind::kSnapshotPolicy: return FormatTable(SnapshotPolicyRows(objects, wide));
    case specs::Kind::kStoragePool: return FormatTable(StoragePoolRows(objects, wide));
  }
  return "";
}

// Both mask secrets themselves: the server masks what it serves, but the CLI must not print
// a secret a server of another version let through.
std::string ToYaml(const Json& json) { return specs::JsonToYaml(specs::RedactManifestJson(json)); }

std::string ToJsonText(const Json& json) {
  return specs::RedactManifestJson(json).dump(2, ' ', false, Json::error_handler_t::replace) +
         "\n";
}

Json ListObject(const std::vector<Json>& items) {
  return Json{{"apiVersion", specs::kApiVersion}, {"kind", "List"}, {"items", items}};
}

std::string FormatEvents(const std::vector<reconciler::Event>& events, bool with_object) {
  std::vector<std::vector<std::string>> rows;
  if (with_object) {
    rows.push_back({"TIME", "TYPE", "REASON", "OBJECT", "MESSAGE"});
  } else {
    rows.push_back({"TIME", "TYPE", "REASON", "MESSAGE"});
  }
  for (const auto& e : events) {
    std::string kind(specs::KindName(e.kind));
    std::transform(kind.begin(), kind.end(), kind.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    std::vector<std::string> row = {e.time, e.type, e.reason};
    if (with_object) row.push_back(kind + "/" + e.name);
    row.push_back(e.message);
    rows.push_back(std::move(row));
  }
  return FormatTable(rows);
}

std::string FormatElapsed(std::chrono::milliseconds elapsed) {
  const int64_t ms = std::max<int64_t>(elapsed.count(), 0);
  const int64_t tenths = (ms + 50) / 100;
  if (tenths < 600) {
    return std::to_string(tenths / 10) + "." + std::to_string(tenths % 10) + "s";
  }
  const int64_t seconds = (ms + 500) / 1000;
  if (seconds < 3600) {
    return std::to_string(seconds / 60) + "m" + std::to_string(seconds % 60) + "s";
  }
  if (seconds < 86400) {
    return std::to_string(seconds / 3600) + "h" + std::to_string(seconds % 3600 / 60) + "m";
  }
  return std::to_string(seconds / 86400) + "d" + std::to_string(seconds % 86400 / 3600) + "h";
}

std::string FormatIncidents(const std::vector<reconciler::Incident>& incidents) {
  std::vector<std::vector<std::string>> rows = {
      {"OBJECT", "TYPE", "OCCURRED", "DETECTED", "RECOVERED", "MTTR", "SOURCES"}};
  for (const auto& incident : incidents) {
    rows.push_back({CliObjectName(incident.kind, incident.name), incident.type, incident.occurred,
                    incident.detected, incident.open() ? "-" : incident.recovered,
                    MttrText(incident), Joined(incident.sources, ",")});
  }
  return FormatTable(rows);
}

namespace {

std::string Percent(double ratio) {
  char buf[32];
  // Four decimals: 99.9990% and 100.0000% differ by 26 s a month.
  std::snprintf(buf, sizeof buf, "%.4f%%", ratio * 100.0);
  return buf;
}

std::string DurationText(Duration d) {
  return FormatElapsed(std::chrono::duration_cast<std::chrono::milliseconds>(d));
}

std::string OptionalDurationText(const std::optional<Duration>& d) {
  return d ? DurationText(*d) : "-";
}

std::vector<std::string> AvailabilityRow(const std::string& name,
                                         const reconciler::Availability& a) {
  return {name,
          Percent(a.Ratio()),
          DurationText(a.downtime),
          OptionalDurationText(a.Mttr()),
          OptionalDurationText(a.Mtbf()),
          std::to_string(a.failures),
          std::to_string(a.unconfirmed),
          DurationText(a.planned),
          DurationText(a.unobserved)};
}

}  // namespace

std::string FormatAvailability(const reconciler::AvailabilityReport& report) {
  const std::vector<std::string> header = {"VM",   "AVAILABILITY", "DOWNTIME",    "MTTR",
                                           "MTBF", "FAILURES",     "UNCONFIRMED", "PLANNED",
                                           "UNOBSERVED"};
  Rows rows = {header};
  for (const auto& vm : report.vms) {
    std::string name = vm.vm + (vm.incident_open ? " (down)" : "");
    if (!vm.accounted) {
      rows.push_back({name, "-", "-", "-", "-", "-", "-", "-", "-"});
      continue;
    }
    rows.push_back(AvailabilityRow(name, vm.figures));
  }
  rows.push_back(AvailabilityRow(
      "TOTAL (" + std::to_string(report.vms.size()) + " VM" + (report.vms.size() == 1 ? "" : "s") +
          ")",
      report.total));
  std::string out = "Window: " + FormatRfc3339(report.from) + " to " + FormatRfc3339(report.to) +
                    "\n" + FormatTable(rows);
  if (!report.group_by.empty()) {
    Rows groups = {header};
    groups[0][0] = report.group_by;
    for (const auto& [value, a] : report.groups) {
      groups.push_back(AvailabilityRow(value.empty() ? "(none)" : value, a));
    }
    out += "\n" + FormatTable(groups);
  }
  if (report.total.unobserved > Duration::zero() ||
      report.total.downtime_unobserved > Duration::zero()) {
    out += "\nUnobserved: vmkeeperd was not running for " + DurationText(report.total.unobserved) +
           " of VM-time with no failure known, counted as neither up nor down";
    if (report.total.downtime_unobserved > Duration::zero()) {
      out += "; " + DurationText(report.total.downtime_unobserved) +
             " of the downtime fell while it was not running (VMs failed before and found failed "
             "after: an upper bound)";
    }
    out += ".\n";
  }
  if (report.total.unconfirmed > 0) {
    out += "Unconfirmed: " + std::to_string(report.total.unconfirmed) +
           " alert(s) reported a failure vmkeeper did not see; not counted as downtime.\n";
  }
  return out;
}

std::string FormatSnapshots(const Json& snapshots) {
  Rows rows = {{"NAME", "TIME", "REASON", "HEALTHY", "GENERATION", "PHASE", "LAYERS"}};
  if (!snapshots.is_array()) return FormatTable(rows);
  for (const auto& r : snapshots) {
    std::string layers;
    for (const auto& l : r.value("layers", Json::array())) {
      layers += (layers.empty() ? "" : ",") + l.value("disk", "") + "=" + l.value("volume", "");
    }
    std::string phase = r.value("phase", "");
    if (!r.value("message", "").empty()) phase += " (" + r.value("message", "") + ")";
    rows.push_back({r.value("name", ""), r.value("time", ""), r.value("reason", ""),
                    r.value("healthy", false) ? "yes" : "no",
                    std::to_string(r.value("generation", int64_t{0})), phase, layers});
  }
  return FormatTable(rows);
}

namespace {

// A VM's disks as the controller resolved them, and its snapshots (describe vm).
std::string DescribeStorage(const Json& status) {
  std::string out;
  const Json disks = status.value("disks", Json::array());
  if (disks.is_array() && !disks.empty()) {
    Rows rows = {{"DISK", "FILE", "FORMAT", "POOL", "VOLUME"}};
    for (const auto& d : disks) {
      rows.push_back({d.value("name", ""), d.value("path", ""), d.value("format", ""),
                      d.value("pool", ""), d.value("volume", "")});
    }
    out += "Disks:\n" + Indent(FormatTable(rows), "  ");
  }
  const Json snapshots = status.value("snapshots", Json::array());
  if (snapshots.is_array() && !snapshots.empty()) {
    out += "Snapshots:\n" + Indent(FormatSnapshots(snapshots), "  ");
  }
  const Json change = status.value("change", Json::object());
  if (change.is_object() && !change.value("phase", "").empty()) {
    const std::string snapshot = change.value("snapshot", "");
    out += "Last change:\n" +
           Indent(FormatTable({{"Generation:", std::to_string(change.value("fromGeneration", 0)) +
                                                   " -> " +
                                                   std::to_string(change.value("toGeneration", 0))},
                               {"Phase:", change.value("phase", "")},
                               {"Started:", change.value("started", "")},
                               {"Ready by:", change.value("deadline", "")},
                               {"Before-change snapshot:", snapshot.empty() ? kNone : snapshot},
                               {"Message:", change.value("message", "")}}),
                  "  ");
  }
  const Json deletion = status.value("deletion", Json::object());
  if (deletion.is_object() && !deletion.value("phase", "").empty()) {
    Rows rows = {{"VOLUME", "POOL", "DISK", "POLICY", "STATE"}};
    for (const char* list : {"volumes", "retained"}) {
      const bool deleted_policy = std::string(list) == "volumes";
      for (const auto& v : deletion.value(list, Json::array())) {
        rows.push_back({v.value("volume", ""), v.value("pool", ""), v.value("disk", ""),
                        deleted_policy ? "Delete" : "Retain",
                        !deleted_policy            ? "kept"
                        : v.value("deleted", false) ? "deleted"
                                                    : "to delete"});
      }
    }
    Rows head = {{"Phase:", deletion.value("phase", "")},
                 {"Started:", deletion.value("started", "")}};
    if (!deletion.value("message", "").empty()) {
      head.push_back({"Waiting:", deletion.value("message", "")});
    }
    out += "Deletion:\n" + Indent(FormatTable(head), "  ");
    if (rows.size() > 1) out += Indent(FormatTable(rows), "  ");
  }
  const Json rollback = status.value("rollback", Json::object());
  if (rollback.is_object() && !rollback.value("phase", "").empty()) {
    std::string tried;
    for (const auto& t : rollback.value("tried", Json::array())) {
      if (t.is_string()) tried += (tried.empty() ? "" : ", ") + t.get<std::string>();
    }
    Rows rows = {{"Phase:", rollback.value("phase", "")},
                 {"Snapshot:", rollback.value("target", "")},
                 {"Tried:", tried.empty() ? kNone : tried},
                 {"Started:", rollback.value("started", "")}};
    if (!rollback.value("message", "").empty()) {
      rows.push_back({"Message:", rollback.value("message", "")});
    }
    out += "Last rollback:\n" + Indent(FormatTable(rows), "  ");
  }
  return out;
}

}  // namespace

// A host's channels of failure detection (docs/failure-detection.md): what each says, and the
// verdict, while its heartbeats fail; "answers" while they do.
std::string DescribeSignals(const Json& host) {
  const Json* signals = Find(host, {"status", "signals"});
  if (signals == nullptr || !signals->is_object()) {
    return "Signals:\n  Management:   answers\n";
  }
  Rows rows = {{"Management:", Text(host, {"status", "signals", "management"})},
               {"Data plane:", Text(host, {"status", "signals", "dataPlane"})},
               {"Power:", Text(host, {"status", "signals", "power"})}};
  if (Find(host, {"status", "signals", "alert"}) != nullptr) {
    rows.push_back({"Alert:", Text(host, {"status", "signals", "alert"})});
  }
  rows.push_back({"Verdict:", Text(host, {"status", "signals", "verdict"})});
  rows.push_back({"Why:", Text(host, {"status", "signals", "why"})});
  return "Signals:\n" + Indent(FormatTable(rows), "  ");
}

std::string Describe(const Json& served, const std::vector<reconciler::Event>& events,
                     const std::vector<reconciler::Incident>* incidents) {
  const Json object = specs::RedactManifestJson(served);  // as ToYaml: whatever the server sent
  std::string labels;
  if (const Json* l = Find(object, {"metadata", "labels"}); l != nullptr && l->is_object()) {
    for (const auto& [key, value] : l->items()) {
      if (!labels.empty()) labels += ",";
      labels += key + "=" + Text(&value);
    }
  }
  std::string generation = IntText(object, {"metadata", "generation"});
  if (auto observed = Int(object, {"status", "observedGeneration"})) {
    generation += " (observed " + std::to_string(*observed) + ")";
  }
  Rows head = {{"Name:", Text(object, {"metadata", "name"})},
               {"Kind:", Text(object, {"kind"})},
               {"Labels:", labels.empty() ? kNone : labels},
               {"Generation:", generation}};
  if (Find(object, {"metadata", "deletionTimestamp"}) != nullptr) {
    std::string finalizers;
    if (const Json* f = Find(object, {"metadata", "finalizers"}); f != nullptr && f->is_array()) {
      for (const auto& name : *f) finalizers += (finalizers.empty() ? "" : ", ") + Text(&name);
    }
    head.push_back({"Status:", "Terminating (since " +
                                   Text(object, {"metadata", "deletionTimestamp"}) + ")"});
    head.push_back({"Finalizers:", finalizers.empty() ? kNone : finalizers});
  }
  std::string out = FormatTable(head);

  Json status = object.contains("status") && object["status"].is_object() ? object["status"]
                                                                            : Json::object();
  Json conditions = status.contains("conditions") ? status["conditions"] : Json::array();
  status.erase("conditions");
  const std::string storage = DescribeStorage(status);  // tables below, not in the YAML
  const std::string signals =
      Text(object, {"kind"}) == "Host" ? DescribeSignals(object) : std::string();
  status.erase("signals");
  // Shown as tables below; the spec a failed change goes back to is the previous generation's.
  for (const char* shown :
       {"disks", "snapshots", "change", "rollback", "healthySpec", "deletion"}) {
    status.erase(shown);
  }
  out += "Status:\n";
  out += status.empty() ? "  " + std::string(kNone) + "\n" : Indent(ToYaml(status), "  ");
  out += "Spec:\n";
  const Json* spec = Find(object, {"spec"});
  out += spec == nullptr || spec->empty() ? "  " + std::string(kNone) + "\n"
                                          : Indent(ToYaml(*spec), "  ");

  out += "Conditions:\n";
  if (!conditions.is_array() || conditions.empty()) {
    out += "  " + std::string(kNone) + "\n";
  } else {
    std::vector<std::vector<std::string>> rows = {
        {"TYPE", "STATUS", "REASON", "LAST TRANSITION", "MESSAGE"}};
    for (const auto& c : conditions) {
      rows.push_back({Text(c, {"type"}), Text(c, {"status"}), Text(c, {"reason"}),
                      Text(c, {"lastTransitionTime"}),
                      Find(c, {"message"}) ? Text(c, {"message"}) : ""});
    }
    out += Indent(FormatTable(rows), "  ");
  }
  out += signals;
  out += storage;
  if (incidents != nullptr) out += DescribeIncident(*incidents);
  out += "Events:\n";
  out += events.empty() ? "  " + std::string(kNone) + "\n"
                        : Indent(FormatEvents(events, false), "  ");
  return out;
}

bool IsObjectReady(const Json& object) {
  auto generation = Int(object, {"metadata", "generation"});
  auto observed = Int(object, {"status", "observedGeneration"});
  if (generation && observed && *observed < *generation) return false;
  const Json* ready = FindCondition(object, "Ready");
  if (ready != nullptr && Text(Find(*ready, {"status"})) == "True") return true;
  const Json* running = Find(object, {"spec", "running"});
  if (Text(Find(object, {"kind"})) == "VirtualMachine" && running != nullptr &&
      running->is_boolean() && !running->get<bool>()) {
    return Text(object, {"status", "state"}) == "shutoff";
  }
  return false;
}

}  // namespace vmk::cli
