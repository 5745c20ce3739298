#include "reconciler/incidents/availability.h"

#include <algorithm>

#include "common/rfc3339.h"

namespace vmk::reconciler {

namespace {

using Span = std::pair<WallTime, WallTime>;

// Sorted, disjoint spans covering what `spans` covers.
std::vector<Span> Union(std::vector<Span> spans) {
  std::sort(spans.begin(), spans.end());
  std::vector<Span> out;
  for (const Span& s : spans) {
    if (s.second <= s.first) continue;
    if (!out.empty() && s.first <= out.back().second) {
      out.back().second = std::max(out.back().second, s.second);
    } else {
      out.push_back(s);
    }
  }
  return out;
}

// What `a` covers and `b` does not (both sorted and disjoint).
std::vector<Span> Subtract(const std::vector<Span>& a, const std::vector<Span>& b) {
  std::vector<Span> out;
  size_t j = 0;
  for (Span s : a) {
    while (j < b.size() && b[j].second <= s.first) ++j;
    size_t k = j;
    while (k < b.size() && b[k].first < s.second) {
      if (b[k].first > s.first) out.emplace_back(s.first, b[k].first);
      s.first = std::max(s.first, b[k].second);
      ++k;
    }
    if (s.first < s.second) out.push_back(s);
  }
  return out;
}

Duration Length(const std::vector<Span>& spans) {
  Duration total = Duration::zero();
  for (const auto& [from, to] : spans) total += std::chrono::duration_cast<Duration>(to - from);
  return total;
}

// `span` clipped to [from, to); nullopt when nothing is left.
std::optional<Span> Clip(Span span, WallTime from, WallTime to) {
  span.first = std::max(span.first, from);
  span.second = std::min(span.second, to);
  if (span.second <= span.first) return std::nullopt;
  return span;
}

}  // namespace

std::optional<Duration> Availability::Mttr() const {
  if (recoveries == 0) return std::nullopt;
  return recovery_total / recoveries;
}

std::optional<Duration> Availability::Mtbf() const {
  if (failures == 0) return std::nullopt;
  return Up() / failures;
}

double Availability::Ratio() const {
  const Duration accounted = Accounted();
  if (accounted <= Duration::zero()) return 1.0;
  using Seconds = std::chrono::duration<double>;
  return Seconds(Up()).count() / Seconds(accounted).count();
}

void Availability::Add(const Availability& other) {
  observed += other.observed;
  downtime += other.downtime;
  downtime_unobserved += other.downtime_unobserved;
  planned += other.planned;
  unobserved += other.unobserved;
  failures += other.failures;
  recoveries += other.recoveries;
  recovery_total += other.recovery_total;
  unconfirmed += other.unconfirmed;
}

Availability AccountAvailability(const VmHistory& history, const std::vector<ControllerGap>& gaps,
                                 AvailabilityWindow window) {
  Availability out;
  const WallTime from = std::max(window.from, history.since);
  const WallTime to = window.to;
  if (to <= from) return out;
  out.observed = std::chrono::duration_cast<Duration>(to - from);

  // Each confirmed incident's outage, open ones without an end; then their union: one outage
  // per run of overlapping incidents (in practice a VM has one open incident at a time, but a
  // crash reported during a host failure's recovery is the same outage).
  std::vector<Span> outages;
  for (const Incident& incident : history.incidents) {
    if (incident.kind != specs::Kind::kVirtualMachine) continue;
    WallTime occurred, recovered, detected;
    if (!ParseRfc3339(incident.occurred, &occurred)) continue;
    const bool open = incident.recovered.empty();
    if (!open && !ParseRfc3339(incident.recovered, &recovered)) continue;
    if (!incident.confirmed) {
      if (ParseRfc3339(incident.detected, &detected) && detected >= from && detected < to) {
        ++out.unconfirmed;
      }
      continue;
    }
    if (open) recovered = WallTime::max();
    if (recovered < occurred) recovered = occurred;  // clocks of two machines: never negative
    outages.emplace_back(occurred, recovered);
  }
  std::vector<Span> down;
  for (const auto& [began, ended] : Union(std::move(outages))) {
    if (began >= from && began < to) ++out.failures;
    if (ended != WallTime::max() && ended >= from && ended <= to) {
      ++out.recoveries;
      out.recovery_total += std::chrono::duration_cast<Duration>(ended - began);
    }
    if (auto s = Clip({began, ended}, from, to)) down.push_back(*s);
  }
  std::vector<Span> planned;
  for (const PlannedStop& stop : history.planned) {
    if (auto s = Clip({stop.from, stop.to.value_or(to)}, from, to)) planned.push_back(*s);
  }
  std::vector<Span> unobserved;
  for (const ControllerGap& gap : gaps) {
    if (auto s = Clip({gap.from, gap.to}, from, to)) unobserved.push_back(*s);
  }
  const std::vector<Span> down_set = Union(std::move(down));
  const std::vector<Span> gap_set = Union(std::move(unobserved));
  const std::vector<Span> planned_set = Subtract(Union(std::move(planned)), down_set);
  out.downtime = Length(down_set);
  out.downtime_unobserved = out.downtime - Length(Subtract(down_set, gap_set));
  out.planned = Length(planned_set);
  out.unobserved = Length(Subtract(Subtract(gap_set, down_set), planned_set));
  return out;
}

}  // namespace vmk::reconciler
