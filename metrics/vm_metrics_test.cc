// VmMetrics' text exposition: every family from start-up, a VM's children with every kind and
// result at 0, histogram buckets cumulative, label values escaped, label keys mapped, and
// counters that never go down between scrapes.
#include "metrics/vm_metrics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace vmk::metrics {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::string Text(VmMetrics& m, const std::map<std::string, VmAvailabilityFigures>& f = {}) {
  std::string out;
  m.AppendText(f, &out);
  return out;
}

TEST(VmMetricsTest, EveryFamilyIsThereBeforeAnyVm) {
  VmMetrics m({"service"});
  const std::string text = Text(m);
  for (const char* family :
       {"vmkeeper_vm_info", "vmkeeper_vm_labels", "vmkeeper_vm_ready", "vmkeeper_vm_healthy",
        "vmkeeper_vm_expected_up", "vmkeeper_vm_incident_open", "vmkeeper_vm_up_seconds_total",
        "vmkeeper_vm_down_seconds_total", "vmkeeper_vm_unobserved_seconds_total",
        "vmkeeper_vm_failures_total", "vmkeeper_vm_unconfirmed_reports_total",
        "vmkeeper_vm_recovery_seconds", "vmkeeper_vm_restarts_total",
        "vmkeeper_vm_failovers_total", "vmkeeper_vm_rollbacks_total",
        "vmkeeper_vm_snapshots_total", "vmkeeper_vm_last_snapshot_timestamp_seconds",
        "vmkeeper_vm_snapshot_interval_seconds", "vmkeeper_vm_change_failed"}) {
    EXPECT_THAT(text, HasSubstr(std::string("# TYPE ") + family + " ")) << family;
  }
  EXPECT_THAT(text, Not(HasSubstr("vm=\"")));
}

TEST(VmMetricsTest, AVmHasEveryChildAtZeroAndItsCountsAfterScriptedIncidents) {
  VmMetrics m({"service", "app.kubernetes.io/name"});
  VmGauges g;
  g.host = "hv01";
  g.ready = true;
  g.healthy = true;
  g.labels = {{"service", "wms"}, {"tier", "prod"}};
  g.last_snapshot_seconds = 1.7e9;
  g.snapshot_interval_seconds = 3600;
  m.SetVm("wms01", g);
  m.CountFailure("wms01", "VmCrashed");
  m.CountFailure("wms01", "HostFailure");
  m.CountFailure("wms01", "NotAKind");  // ignored, never a new child
  m.ObserveRecovery("wms01", 0.5);
  m.ObserveRecovery("wms01", 30);   // on the bound: le="30"
  m.ObserveRecovery("wms01", 4000);  // beyond the last bound: +Inf only
  m.CountRestart("wms01", true);
  m.CountFailover("wms01", FailoverResult::kBlocked);
  m.CountRollback("wms01", false);
  m.CountSnapshot("wms01", true);
  const std::string text = Text(m, {{"wms01", {100, 30, 5, true}}});
  for (const char* line : {
           "vmkeeper_vm_info{vm=\"wms01\",host=\"hv01\"} 1\n",
           "vmkeeper_vm_labels{vm=\"wms01\",label_service=\"wms\",label_app_kubernetes_io_name=\"\"} 1\n",
           "vmkeeper_vm_ready{vm=\"wms01\"} 1\n",
           "vmkeeper_vm_incident_open{vm=\"wms01\"} 1\n",
           "vmkeeper_vm_up_seconds_total{vm=\"wms01\"} 100\n",
           "vmkeeper_vm_down_seconds_total{vm=\"wms01\"} 30\n",
           "vmkeeper_vm_unobserved_seconds_total{vm=\"wms01\"} 5\n",
           "vmkeeper_vm_failures_total{vm=\"wms01\",kind=\"VmCrashed\"} 1\n",
           "vmkeeper_vm_failures_total{vm=\"wms01\",kind=\"HostFailure\"} 1\n",
           "vmkeeper_vm_failures_total{vm=\"wms01\",kind=\"ChangeFailed\"} 0\n",
           "vmkeeper_vm_recovery_seconds_bucket{vm=\"wms01\",le=\"1\"} 1\n",
           "vmkeeper_vm_recovery_seconds_bucket{vm=\"wms01\",le=\"10\"} 1\n",
           "vmkeeper_vm_recovery_seconds_bucket{vm=\"wms01\",le=\"30\"} 2\n",
           "vmkeeper_vm_recovery_seconds_bucket{vm=\"wms01\",le=\"1800\"} 2\n",
           "vmkeeper_vm_recovery_seconds_bucket{vm=\"wms01\",le=\"+Inf\"} 3\n",
           "vmkeeper_vm_recovery_seconds_sum{vm=\"wms01\"} 4030.5\n",
           "vmkeeper_vm_recovery_seconds_count{vm=\"wms01\"} 3\n",
           "vmkeeper_vm_restarts_total{vm=\"wms01\",result=\"success\"} 1\n",
           "vmkeeper_vm_restarts_total{vm=\"wms01\",result=\"failure\"} 0\n",
           "vmkeeper_vm_failovers_total{vm=\"wms01\",result=\"blocked\"} 1\n",
           "vmkeeper_vm_failovers_total{vm=\"wms01\",result=\"success\"} 0\n",
           "vmkeeper_vm_rollbacks_total{vm=\"wms01\",result=\"failure\"} 1\n",
           "vmkeeper_vm_snapshots_total{vm=\"wms01\",result=\"success\"} 1\n",
           "vmkeeper_vm_last_snapshot_timestamp_seconds{vm=\"wms01\"} 1700000000\n",
           "vmkeeper_vm_snapshot_interval_seconds{vm=\"wms01\"} 3600\n",
       }) {
    EXPECT_THAT(text, HasSubstr(line)) << line;
  }
  EXPECT_THAT(text, Not(HasSubstr("NotAKind")));
  EXPECT_THAT(text, Not(HasSubstr("label_tier"))) << "only the chosen label keys";
  m.RemoveVm("wms01");
  EXPECT_THAT(Text(m), Not(HasSubstr("wms01")));
}

TEST(VmMetricsTest, LabelValuesAreEscaped) {
  VmMetrics m({"note"});
  VmGauges g;
  g.host = "hv\"01";
  g.labels = {{"note", "a\\b\nc"}};
  m.SetVm("x", g);
  const std::string text = Text(m);
  EXPECT_THAT(text, HasSubstr("vmkeeper_vm_info{vm=\"x\",host=\"hv\\\"01\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("label_note=\"a\\\\b\\nc\""));
}

// Earlier evidence moves 10 s from up to down after a scrape: down grows at once, up holds
// until it has caught up, never a decrease (which Prometheus would read as a counter reset).
TEST(VmMetricsTest, CountersNeverGoDownBetweenScrapes) {
  VmMetrics m({});
  m.SetVm("wms01", VmGauges{});
  EXPECT_THAT(Text(m, {{"wms01", {100, 0, 0, false}}}),
              HasSubstr("vmkeeper_vm_up_seconds_total{vm=\"wms01\"} 100\n"));
  const std::string corrected = Text(m, {{"wms01", {95, 10, 0, true}}});
  EXPECT_THAT(corrected, HasSubstr("vmkeeper_vm_up_seconds_total{vm=\"wms01\"} 100\n"));
  EXPECT_THAT(corrected, HasSubstr("vmkeeper_vm_down_seconds_total{vm=\"wms01\"} 10\n"));
  EXPECT_THAT(Text(m, {{"wms01", {104, 10, 0, false}}}),
              HasSubstr("vmkeeper_vm_up_seconds_total{vm=\"wms01\"} 104\n"));
}

// A VM the ledger accounts appears at the first scrape, before any pass sets it.
TEST(VmMetricsTest, AVmKnownOnlyToTheLedgerAppearsAtTheFirstScrape) {
  VmMetrics m({});
  const std::string text = Text(m, {{"ce01", {7, 0, 0, false}}});
  EXPECT_THAT(text, HasSubstr("vmkeeper_vm_up_seconds_total{vm=\"ce01\"} 7\n"));
  EXPECT_THAT(text, HasSubstr("vmkeeper_vm_failures_total{vm=\"ce01\",kind=\"VmCrashed\"} 0\n"));
}

}  // namespace
}  // namespace vmk::metrics
