#include "reconciler/incidents/availability.h"

#include <algorithm>

#include "common/rfc3339.h"

namespace vmk::reconciler {

std::optional<Duration> Availability::Mttr() const {
  if (recoveries == 0) return std::nullopt;
  return recovery_total / recoveries;
}

std::optional<Duration> Availability::Mtbf() const {
  if (failures == 0) return std::nullopt;
  return (observed - downtime) / failures;
}

double Availability::Ratio() const {
  if (observed <= Duration::zero()) return 1.0;
  using Seconds = std::chrono::duration<double>;
  return Seconds(observed - downtime).count() / Seconds(observed).count();
}

void Availability::Add(const Availability& other) {
  observed += other.observed;
  downtime += other.downtime;
  failures += other.failures;
  recoveries += other.recoveries;
  recovery_total += other.recovery_total;
}

Availability AccountAvailability(const std::vector<Incident>& incidents, WallTime existed_since,
                                 AvailabilityWindow window) {
  Availability out;
  const WallTime from = std::max(window.from, existed_since);
  const WallTime to = window.to;
  if (to <= from) return out;
  out.observed = std::chrono::duration_cast<Duration>(to - from);

  // Each incident's outage, clipped to the window; then their union.
  std::vector<std::pair<WallTime, WallTime>> outages;
  for (const Incident& incident : incidents) {
    if (incident.kind != specs::Kind::kVirtualMachine) continue;
    WallTime occurred, recovered;
    if (!ParseRfc3339(incident.occurred, &occurred)) continue;
    const bool open = incident.recovered.empty();
    if (!open && !ParseRfc3339(incident.recovered, &recovered)) continue;
    if (open) recovered = to;
    if (recovered < occurred) recovered = occurred;  // clocks of two machines: never negative
    if (occurred >= from && occurred < to) ++out.failures;
    if (!open && recovered >= from && recovered <= to) {
      ++out.recoveries;
      out.recovery_total += std::chrono::duration_cast<Duration>(recovered - occurred);
    }
    const WallTime begin = std::max(occurred, from);
    const WallTime end = std::min(recovered, to);
    if (begin < end) outages.emplace_back(begin, end);
  }
  std::sort(outages.begin(), outages.end());
  WallTime covered_to = from;
  for (const auto& [begin, end] : outages) {
    const WallTime start = std::max(begin, covered_to);
    if (end > start) {
      out.downtime += std::chrono::duration_cast<Duration>(end - start);
      covered_to = end;
    }
  }
  return out;
}

}  // namespace vmk::reconciler
