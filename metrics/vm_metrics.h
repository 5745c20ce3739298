// VmMetrics: the per-VM families of docs/metrics.md ("Availability, VMs and hosts"): ready,
// healthy, expected up, open incident, up/down/unobserved seconds, failures by kind, recovery
// time, restarts, failovers, rollbacks, snapshots, and the VM's host and labels.
//
// Written as text by hand rather than through prometheus-cpp's families: at 10,000 VMs these
// are ~40 series per VM, and a prometheus-cpp child (a map of labels, a mutex, atomics; a
// histogram one per bucket) per series costs both memory and a Collect() that copies every
// one of them into a MetricFamily before serialising (bench/README.md, metrics at 10,000 VMs).
// Here a VM is one flat struct and a scrape writes straight into one string.
//
// Every family is written from start-up (HELP and TYPE lines, even with no VM); a VM's children
// appear with it, every `kind` and `result` at 0, and go with it. Label values are escaped as
// the text format requires. Thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/mutex.h"

namespace vmk::metrics {

// What the VM's last reconcile saw.
struct VmGauges {
  std::string host;  // "" when unplaced
  bool ready = false;
  bool healthy = false;
  bool expected_up = true;
  bool change_failed = false;
  double last_snapshot_seconds = 0;      // Unix time; 0 = none
  double snapshot_interval_seconds = 0;  // 0 = no scheduled snapshots
  std::map<std::string, std::string> labels;  // metadata.labels (only chosen keys exported)
};

// A VM's availability counters since vmkeeper first accounted it (from the store's ledger, so
// they carry on across restarts).
struct VmAvailabilityFigures {
  double up_seconds = 0;
  double down_seconds = 0;
  double unobserved_seconds = 0;
  bool incident_open = false;
};

enum class FailoverResult { kSuccess, kFailure, kBlocked };

class VmMetrics {
 public:
  // `label_keys`: the metadata labels exported in vmkeeper_vm_labels as label_<key>.
  explicit VmMetrics(std::vector<std::string> label_keys);

  // The incident types counted in vmkeeper_vm_failures_total (every one present per VM).
  static const std::vector<std::string>& FailureKinds();
  // The recovery histogram's upper bounds, in seconds.
  static const std::vector<double>& RecoveryBuckets();

  void SetVm(const std::string& vm, const VmGauges& gauges);
  void RemoveVm(const std::string& vm);
  // Counts; a VM not set yet gets its children now.
  void CountFailure(const std::string& vm, const std::string& kind);
  void CountUnconfirmed(const std::string& vm);
  void ObserveRecovery(const std::string& vm, double seconds);
  void CountRestart(const std::string& vm, bool success);
  void CountFailover(const std::string& vm, FailoverResult result);
  void CountRollback(const std::string& vm, bool success);
  void CountSnapshot(const std::string& vm, bool success);

  // Appends every family in the text format. `figures`: each VM's availability counters (a VM
  // without any has 0). A counter never goes down between scrapes: a correction that moves time
  // from up to down (earlier evidence of when an incident began) holds the up counter until it
  // catches up, instead of a decrease that Prometheus would read as a reset.
  void AppendText(const std::map<std::string, VmAvailabilityFigures>& figures,
                  std::string* out);

  size_t size() const;

 private:
  static constexpr size_t kRecoveryBuckets = 10;
  struct Vm {
    VmGauges gauges;
    std::vector<double> failures;  // by FailureKinds()
    double unconfirmed = 0;
    std::array<uint64_t, kRecoveryBuckets + 1> recovery_counts{};  // non-cumulative; last = +Inf
    double recovery_sum = 0;
    uint64_t recovery_count = 0;
    double restarts[2] = {0, 0};   // success, failure
    double failovers[3] = {0, 0, 0};
    double rollbacks[2] = {0, 0};
    double snapshots[2] = {0, 0};
    // The last values exported (see AppendText).
    double up = 0, down = 0, unobserved = 0;
    std::string label;  // vm="<name>", escaped once
  };
  Vm& Get(const std::string& vm) REQUIRES(mu_);

  // A scrape's steps (AppendText): each VM with its figures, in name order, then the families.
  struct Row {
    const Vm* vm;
    const VmAvailabilityFigures* figures;  // null: none this scrape
  };
  std::vector<Row> TakeRows(const std::map<std::string, VmAvailabilityFigures>& figures)
      REQUIRES(mu_);
  static void AppendOneValueFamilies(const std::vector<Row>& rows, std::string* out);
  void AppendInfoAndLabels(const std::vector<Row>& rows, std::string* out) const;
  static void AppendCountFamilies(const std::vector<Row>& rows, std::string* out);
  static void AppendRecoveryHistogram(const std::vector<Row>& rows, std::string* out);

  const std::vector<std::string> label_keys_;
  std::vector<std::string> label_names_;  // label_<key>, by label_keys_; set in the constructor
  mutable Mutex mu_;
  size_t last_size_ GUARDED_BY(mu_) = 0;  // of the last text, to reserve the next
  std::map<std::string, Vm> vms_ GUARDED_BY(mu_);
};

}  // namespace vmk::metrics
