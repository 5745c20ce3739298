// Helpers shared by the benchmarks in bench/: flag values, sample summaries (nearest-rank
// percentiles), sums over the controller's Prometheus text, and the Ready check of a VM's status.
// Header-only (each benchmark is one executable); plain functions, thread-compatible.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <initializer_list>
#include <numeric>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "reconciler/controller/controller.h"
#include "reconciler/core/object_status.h"
#include "specs/types.h"

namespace vmk::bench {

using Json = nlohmann::json;

// Parses a decimal integer in [min, 100000000]; false on anything else.
inline bool ParseInt(const std::string& text, int min, int* out) {
  char* end = nullptr;
  long v = std::strtol(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || v < min || v > 100000000) return false;
  *out = static_cast<int>(v);
  return true;
}

// Milliseconds between two points of one clock (steady or system).
template <typename TimePoint>
double MsBetween(TimePoint from, TimePoint to) {
  return std::chrono::duration<double, std::milli>(to - from).count();
}

struct Summary {
  size_t n = 0;
  double min = 0, median = 0, p90 = 0, max = 0, mean = 0;
  Json ToJson() const {
    return {{"n", n}, {"min", min}, {"median", median}, {"p90", p90}, {"max", max},
            {"mean", mean}};
  }
};

// Nearest-rank percentiles (the median of 3 samples is the 2nd smallest, of 4 the 2nd).
inline Summary Summarize(std::vector<double> samples) {
  Summary s;
  s.n = samples.size();
  if (samples.empty()) return s;
  std::sort(samples.begin(), samples.end());
  auto rank = [&](double p) {
    size_t r = static_cast<size_t>(std::ceil(p * static_cast<double>(samples.size())));
    return samples[std::clamp<size_t>(r, 1, samples.size()) - 1];
  };
  s.min = samples.front();
  s.max = samples.back();
  s.median = rank(0.5);
  s.p90 = rank(0.9);
  s.mean = std::accumulate(samples.begin(), samples.end(), 0.0) / static_cast<double>(s.n);
  return s;
}

inline std::string Fmt(const Summary& s, const char* unit) {
  char buf[256];
  std::snprintf(buf, sizeof buf, "min %.1f / median %.1f / p90 %.1f / max %.1f %s (n=%zu)", s.min,
                s.median, s.p90, s.max, unit, s.n);
  return buf;
}

// Sum of the samples of a Prometheus metric whose label text contains every `filters` entry.
inline double MetricSum(const std::string& text, const std::string& name,
                        std::initializer_list<const char*> filters = {}) {
  double sum = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string::npos) eol = text.size();
    std::string_view line(text.data() + pos, eol - pos);
    pos = eol + 1;
    if (line.substr(0, name.size()) != name || line.size() <= name.size()) continue;
    char after = line[name.size()];
    if (after != '{' && after != ' ') continue;
    bool match = true;
    for (const char* f : filters) match = match && line.find(f) != std::string_view::npos;
    if (!match) continue;
    size_t space = line.rfind(' ');
    sum += std::strtod(std::string(line.substr(space + 1)).c_str(), nullptr);
  }
  return sum;
}

// Reconcile counts and worker time so far, from the controller's metrics. Errors and requeues
// are those of the vm and host reconcilers (heartbeats and probes requeue themselves by design).
inline Json ReconcileCounts(reconciler::Controller& controller) {
  const std::string text = controller.MetricsText();
  auto of_vms_and_hosts = [&text](const char* result) {
    return MetricSum(text, "vmkeeper_reconcile_total", {"kind=\"vm\"", result}) +
           MetricSum(text, "vmkeeper_reconcile_total", {"kind=\"host\"", result});
  };
  return {{"vm", MetricSum(text, "vmkeeper_reconcile_total", {"kind=\"vm\""})},
          {"host", MetricSum(text, "vmkeeper_reconcile_total", {"kind=\"host\""})},
          {"error", of_vms_and_hosts("result=\"error\"")},
          {"requeue", of_vms_and_hosts("result=\"requeue\"")},
          {"vm_seconds_sum",
           MetricSum(text, "vmkeeper_reconcile_duration_seconds_sum", {"kind=\"vm\""})},
          {"host_seconds_sum",
           MetricSum(text, "vmkeeper_reconcile_duration_seconds_sum", {"kind=\"host\""})}};
}

// after - before, key by key (both objects of numbers).
inline Json Delta(const Json& after, const Json& before) {
  Json out = Json::object();
  for (auto it = after.begin(); it != after.end(); ++it) {
    out[it.key()] = it->get<double>() - before.value(it.key(), 0.0);
  }
  return out;
}

// Whether the VM's stored status has the condition Ready=True.
inline bool IsReady(const specs::Object& vm) {
  auto status = reconciler::VmStatus::FromJson(vm.status);
  const auto* ready = specs::FindCondition(status.conditions, "Ready");
  return ready && ready->status == "True";
}

}  // namespace vmk::bench
