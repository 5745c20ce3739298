#include "metrics/vm_metrics.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>

namespace vmk::metrics {

namespace {

const char* const kSuccessFailure[] = {"success", "failure"};
const char* const kFailoverResults[] = {"success", "failure", "blocked"};

// Text format label values: backslash, double quote and line feed escaped.
void AppendEscaped(const std::string& value, std::string* out) {
  for (char c : value) {
    if (c == '\\') {
      out->append("\\\\");
    } else if (c == '"') {
      out->append("\\\"");
    } else if (c == '\n') {
      out->append("\\n");
    } else {
      out->push_back(c);
    }
  }
}

// Whole numbers (counts, Unix times) in full, as prometheus-cpp writes them; others shortest.
void AppendNumber(double value, std::string* out) {
  char buf[32];
  std::to_chars_result r;
  if (value == std::floor(value) && std::fabs(value) < 1e15) {
    r = std::to_chars(buf, buf + sizeof buf, static_cast<long long>(value));
  } else {
    r = std::to_chars(buf, buf + sizeof buf, value);
  }
  out->append(buf, r.ec == std::errc() ? r.ptr : buf);
}

void AppendHeader(const char* name, const char* type, const char* help, std::string* out) {
  out->append("# HELP ").append(name).append(" ").append(help).append("\n# TYPE ");
  out->append(name).append(" ").append(type).append("\n");
}

// name{vm="<vm>"[,extra]} value; `vm_label` is the VM's escaped `vm="..."`, made once per VM.
void AppendSample(const char* name, const std::string& vm_label, const char* extra_label,
                  const std::string& extra_value, double value, std::string* out) {
  out->append(name).push_back('{');
  out->append(vm_label);
  if (extra_label) {
    out->push_back(',');
    out->append(extra_label).append("=\"");
    AppendEscaped(extra_value, out);
    out->push_back('"');
  }
  out->append("} ");
  AppendNumber(value, out);
  out->push_back('\n');
}

// Prometheus label names: [a-zA-Z_][a-zA-Z0-9_]*; a metadata label key ("app.kubernetes.io/x")
// maps as kube-state-metrics does it: every other character becomes '_'.
std::string LabelName(const std::string& key) {
  std::string name = "label_";
  for (char c : key) name.push_back(std::isalnum(static_cast<unsigned char>(c)) ? c : '_');
  return name;
}

}  // namespace

VmMetrics::VmMetrics(std::vector<std::string> label_keys) : label_keys_(std::move(label_keys)) {
  for (const std::string& key : label_keys_) label_names_.push_back(LabelName(key));
}

const std::vector<std::string>& VmMetrics::FailureKinds() {
  static const std::vector<std::string> kinds = {"HostFailure", "VmCrashed",    "VmStopped",
                                                 "VmUnhealthy", "ChangeFailed", "VmAlert"};
  return kinds;
}

const std::vector<double>& VmMetrics::RecoveryBuckets() {
  static const std::vector<double> buckets = {1, 2, 5, 10, 30, 60, 120, 300, 600, 1800};
  return buckets;
}

VmMetrics::Vm& VmMetrics::Get(const std::string& vm) {
  auto [it, created] = vms_.try_emplace(vm);
  if (created) {
    it->second.failures.assign(FailureKinds().size(), 0);
    it->second.label = "vm=\"";
    AppendEscaped(vm, &it->second.label);
    it->second.label.push_back('"');
  }
  return it->second;
}

void VmMetrics::SetVm(const std::string& vm, const VmGauges& gauges) {
  MutexLock l(&mu_);
  Get(vm).gauges = gauges;
}

void VmMetrics::RemoveVm(const std::string& vm) {
  MutexLock l(&mu_);
  vms_.erase(vm);
}

void VmMetrics::CountFailure(const std::string& vm, const std::string& kind) {
  const auto& kinds = FailureKinds();
  auto it = std::find(kinds.begin(), kinds.end(), kind);
  if (it == kinds.end()) return;  // a new incident type must be added to FailureKinds first
  MutexLock l(&mu_);
  Get(vm).failures[it - kinds.begin()] += 1;
}

void VmMetrics::CountUnconfirmed(const std::string& vm) {
  MutexLock l(&mu_);
  Get(vm).unconfirmed += 1;
}

void VmMetrics::ObserveRecovery(const std::string& vm, double seconds) {
  const auto& bounds = RecoveryBuckets();
  const size_t bucket =
      std::lower_bound(bounds.begin(), bounds.end(), seconds) - bounds.begin();  // le: <=
  MutexLock l(&mu_);
  Vm& v = Get(vm);
  ++v.recovery_counts[bucket];
  v.recovery_sum += seconds;
  ++v.recovery_count;
}

void VmMetrics::CountRestart(const std::string& vm, bool success) {
  MutexLock l(&mu_);
  Get(vm).restarts[success ? 0 : 1] += 1;
}

void VmMetrics::CountFailover(const std::string& vm, FailoverResult result) {
  MutexLock l(&mu_);
  Get(vm).failovers[static_cast<int>(result)] += 1;
}

void VmMetrics::CountRollback(const std::string& vm, bool success) {
  MutexLock l(&mu_);
  Get(vm).rollbacks[success ? 0 : 1] += 1;
}

void VmMetrics::CountSnapshot(const std::string& vm, bool success) {
  MutexLock l(&mu_);
  Get(vm).snapshots[success ? 0 : 1] += 1;
}

size_t VmMetrics::size() const {
  MutexLock l(&mu_);
  return vms_.size();
}

void VmMetrics::AppendText(const std::map<std::string, VmAvailabilityFigures>& figures,
                           std::string* out) {
  MutexLock l(&mu_);
  const std::vector<Row> rows = TakeRows(figures);
  // The last scrape's size: no growth by doubling, and no fresh 4 KiB per VM each time.
  out->reserve(out->size() + last_size_ + last_size_ / 8);
  const size_t start = out->size();
  AppendOneValueFamilies(rows, out);
  AppendInfoAndLabels(rows, out);
  AppendCountFamilies(rows, out);
  AppendRecoveryHistogram(rows, out);
  last_size_ = out->size() - start;
}

std::vector<VmMetrics::Row> VmMetrics::TakeRows(
    const std::map<std::string, VmAvailabilityFigures>& figures) {
  // Counters first, so that they are never lower than at the last scrape (see the header). A
  // VM the ledger accounts has its children from the first scrape, before its first pass (after
  // a restart of the controller).
  for (const auto& [name, f] : figures) {
    Vm& vm = Get(name);
    vm.up = std::max(vm.up, f.up_seconds);
    vm.down = std::max(vm.down, f.down_seconds);
    vm.unobserved = std::max(vm.unobserved, f.unobserved_seconds);
  }
  // One walk of both (sorted by name) into rows, then every family over the rows: a map walk and
  // a lookup per family and VM were a third of a scrape at 10,000 VMs (bench/README.md).
  std::vector<Row> rows;
  rows.reserve(vms_.size());
  auto f = figures.begin();
  for (const auto& [name, vm] : vms_) {
    while (f != figures.end() && f->first < name) ++f;
    rows.push_back({&vm, f != figures.end() && f->first == name ? &f->second : nullptr});
  }
  return rows;
}

// Ready, healthy, expected up, open incident, up/down/unobserved seconds, unconfirmed reports,
// snapshot time and interval, change failed: one value per VM.
void VmMetrics::AppendOneValueFamilies(const std::vector<Row>& rows, std::string* out) {
  using Field = double (*)(const Vm&, const VmAvailabilityFigures*);
  struct Simple {
    const char* name;
    const char* type;
    const char* help;
    Field value;
  };
  static const Simple kSimple[] = {
      {"vmkeeper_vm_ready", "gauge", "1 when the VM's Ready condition is True",
       [](const Vm& v, const VmAvailabilityFigures*) { return v.gauges.ready ? 1.0 : 0.0; }},
      {"vmkeeper_vm_healthy", "gauge", "1 when running and its probe (if any) calls it healthy",
       [](const Vm& v, const VmAvailabilityFigures*) { return v.gauges.healthy ? 1.0 : 0.0; }},
      {"vmkeeper_vm_expected_up", "gauge",
       "1 when the VM should run, 0 during a planned stop",
       [](const Vm& v, const VmAvailabilityFigures*) { return v.gauges.expected_up ? 1.0 : 0.0; }},
      {"vmkeeper_vm_incident_open", "gauge",
       "1 while a confirmed incident of the VM is open (it counts as down)",
       [](const Vm&, const VmAvailabilityFigures* f) {
         return f && f->incident_open ? 1.0 : 0.0;
       }},
      {"vmkeeper_vm_up_seconds_total", "counter", "Seconds the VM was expected up and up",
       [](const Vm& v, const VmAvailabilityFigures*) { return v.up; }},
      {"vmkeeper_vm_down_seconds_total", "counter",
       "Seconds of confirmed incidents, from each incident's occurred time",
       [](const Vm& v, const VmAvailabilityFigures*) { return v.down; }},
      {"vmkeeper_vm_unobserved_seconds_total", "counter",
       "Seconds no controller watched the VM and no evidence says it was down",
       [](const Vm& v, const VmAvailabilityFigures*) { return v.unobserved; }},
      {"vmkeeper_vm_unconfirmed_reports_total", "counter",
       "Alerts about the VM that vmkeeper could not confirm (not downtime)",
       [](const Vm& v, const VmAvailabilityFigures*) { return v.unconfirmed; }},
      {"vmkeeper_vm_last_snapshot_timestamp_seconds", "gauge",
       "Unix time of the VM's newest snapshot; 0 when none",
       [](const Vm& v, const VmAvailabilityFigures*) { return v.gauges.last_snapshot_seconds; }},
      {"vmkeeper_vm_snapshot_interval_seconds", "gauge",
       "The VM's snapshot policy's intervalSeconds; 0 when no scheduled snapshots",
       [](const Vm& v, const VmAvailabilityFigures*) {
         return v.gauges.snapshot_interval_seconds;
       }},
      {"vmkeeper_vm_change_failed", "gauge",
       "1 while the VM's ChangeFailed condition is True (its last change was rolled back)",
       [](const Vm& v, const VmAvailabilityFigures*) { return v.gauges.change_failed ? 1.0 : 0.0; }},
  };
  for (const Simple& family : kSimple) {
    AppendHeader(family.name, family.type, family.help, out);
    for (const Row& row : rows) {
      AppendSample(family.name, row.vm->label, nullptr, "", family.value(*row.vm, row.figures),
                   out);
    }
  }
}

void VmMetrics::AppendInfoAndLabels(const std::vector<Row>& rows, std::string* out) const {
  AppendHeader("vmkeeper_vm_info", "gauge", "1, with the host the VM is placed on", out);
  for (const Row& row : rows) {
    AppendSample("vmkeeper_vm_info", row.vm->label, "host", row.vm->gauges.host, 1, out);
  }
  AppendHeader("vmkeeper_vm_labels", "gauge",
               "1, with the VM's metadata labels chosen by --metrics-vm-label", out);
  for (const Row& row : rows) {
    out->append("vmkeeper_vm_labels{").append(row.vm->label);
    for (size_t k = 0; k < label_keys_.size(); ++k) {
      auto it = row.vm->gauges.labels.find(label_keys_[k]);
      out->append(",").append(label_names_[k]).append("=\"");
      if (it != row.vm->gauges.labels.end()) AppendEscaped(it->second, out);
      out->push_back('"');
    }
    out->append("} 1\n");
  }
}

// Failures by kind; restarts, failovers, rollbacks and snapshots by result.
void VmMetrics::AppendCountFamilies(const std::vector<Row>& rows, std::string* out) {
  AppendHeader("vmkeeper_vm_failures_total", "counter", "Confirmed incidents of the VM by kind",
               out);
  const auto& kinds = FailureKinds();
  for (const Row& row : rows) {
    for (size_t k = 0; k < kinds.size(); ++k) {
      AppendSample("vmkeeper_vm_failures_total", row.vm->label, "kind", kinds[k],
                   row.vm->failures[k], out);
    }
  }
  struct ByResult {
    const char* name;
    const char* help;
    const double* (*values)(const Vm&);
    const char* const* results;
    int count;
  };
  static const ByResult kByResult[] = {
      {"vmkeeper_vm_restarts_total", "Restarts of the VM after a failure",
       [](const Vm& v) -> const double* { return v.restarts; }, kSuccessFailure, 2},
      {"vmkeeper_vm_failovers_total",
       "Starts of the VM on another host after its host failed (blocked: fencing failed)",
       [](const Vm& v) -> const double* { return v.failovers; }, kFailoverResults, 3},
      {"vmkeeper_vm_rollbacks_total", "Rollbacks of the VM to a snapshot",
       [](const Vm& v) -> const double* { return v.rollbacks; }, kSuccessFailure, 2},
      {"vmkeeper_vm_snapshots_total", "Snapshots taken of the VM's disks",
       [](const Vm& v) -> const double* { return v.snapshots; }, kSuccessFailure, 2},
  };
  for (const ByResult& family : kByResult) {
    AppendHeader(family.name, "counter", family.help, out);
    for (const Row& row : rows) {
      const double* values = family.values(*row.vm);
      for (int r = 0; r < family.count; ++r) {
        AppendSample(family.name, row.vm->label, "result", family.results[r], values[r], out);
      }
    }
  }
}

void VmMetrics::AppendRecoveryHistogram(const std::vector<Row>& rows, std::string* out) {
  AppendHeader("vmkeeper_vm_recovery_seconds", "histogram",
               "Recovery time of each closed incident, from when it occurred to running and Ready",
               out);
  const auto& bounds = RecoveryBuckets();
  static const std::vector<std::string> kLe = [] {
    std::vector<std::string> le;
    for (double b : RecoveryBuckets()) {
      std::string text;
      AppendNumber(b, &text);
      le.push_back(text);
    }
    le.push_back("+Inf");
    return le;
  }();
  for (const Row& row : rows) {
    const Vm& vm = *row.vm;
    uint64_t cumulative = 0;
    for (size_t b = 0; b <= bounds.size(); ++b) {
      cumulative += vm.recovery_counts[b];
      AppendSample("vmkeeper_vm_recovery_seconds_bucket", vm.label, "le", kLe[b],
                   static_cast<double>(cumulative), out);
    }
    AppendSample("vmkeeper_vm_recovery_seconds_sum", vm.label, nullptr, "", vm.recovery_sum, out);
    AppendSample("vmkeeper_vm_recovery_seconds_count", vm.label, nullptr, "",
                 static_cast<double>(vm.recovery_count), out);
  }
}

}  // namespace vmk::metrics
