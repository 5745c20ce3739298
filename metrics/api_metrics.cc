#include "metrics/api_metrics.h"

#include <sstream>

#include <prometheus/client_metric.h>
#include <prometheus/metric_family.h>
#include <prometheus/text_serializer.h>

namespace vmk::metrics {
namespace {

prometheus::MetricFamily ByReason(const char* name, const char* help,
                                  const std::vector<std::pair<std::string, uint64_t>>& totals) {
  prometheus::MetricFamily family;
  family.name = name;
  family.help = help;
  family.type = prometheus::MetricType::Counter;
  for (const auto& [reason, total] : totals) {
    prometheus::ClientMetric child;
    child.label.push_back({"reason", reason});
    child.counter.value = static_cast<double>(total);
    family.metric.push_back(std::move(child));
  }
  return family;
}

}  // namespace

std::string ApiMetricsText(const ApiFigures& figures) {
  std::vector<prometheus::MetricFamily> families;
  families.push_back(ByReason(
      "vmkeeper_api_requests_refused_total",
      "API requests refused before their handler ran, by reason: the edge's checks, "
      "authentication (unauthenticated), roles (forbidden), the write rate limit (rate_limited).",
      figures.refused));
  families.push_back(ByReason("vmkeeper_api_connections_closed_total",
                              "API connections closed by the server's connection limits, by "
                              "reason.",
                              figures.connections_closed));
  prometheus::MetricFamily open;
  open.name = "vmkeeper_api_open_connections";
  open.help = "Open API connections at the connection reaper's last scan.";
  open.type = prometheus::MetricType::Gauge;
  prometheus::ClientMetric value;
  value.gauge.value = static_cast<double>(figures.open_connections);
  open.metric.push_back(std::move(value));
  families.push_back(std::move(open));
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, families);
  return out.str();
}

}  // namespace vmk::metrics
