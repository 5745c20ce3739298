// The REST API's edge and admission as Prometheus families (docs/metrics.md, "The API"):
//
//   vmkeeper_api_requests_refused_total{reason}      counter
//   vmkeeper_api_connections_closed_total{reason}    counter
//   vmkeeper_api_open_connections                    gauge
//
// The counts live where they are made (the HTTP server's edge, its connection reaper, the API
// guard) and are read at each scrape, so this is a pure function from their totals to the text
// exposition: nothing to register, nothing to keep in step. Every reason the caller lists is
// exposed, at 0 too, so alerts find the child before its first refusal.
//
// Stateless; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace vmk::metrics {

struct ApiFigures {
  // (reason, total since start), in the order to expose.
  std::vector<std::pair<std::string, uint64_t>> refused;
  std::vector<std::pair<std::string, uint64_t>> connections_closed;
  uint64_t open_connections = 0;
};

// The three families in Prometheus's text format (HELP and TYPE lines included).
std::string ApiMetricsText(const ApiFigures& figures);

}  // namespace vmk::metrics
