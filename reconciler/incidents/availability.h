// Availability accounting (flow 5 of the design): a VM's incidents turned into downtime, MTTR,
// MTBF and availability = MTBF / (MTBF + MTTR) over a window.
//
// Downtime runs from an incident's `occurred` (the best evidence of when the VM failed, not
// when vmkeeper noticed) to its `recovered` (running and Ready again), or to the window's end
// while it is open. Overlapping incidents of one VM count once (a crash during a host failure
// is one outage). Only the part of the window the VM existed counts (a VM created halfway has
// half a window). Planned stops are not incidents, so they are not downtime.
//
// Figures of several VMs add up (a label's or the fleet's): their windows and downtimes are
// VM-seconds, so the ratio is the share of VM-time that was up.
// Pure functions; thread-safe.
#pragma once

#include <optional>
#include <vector>

#include "common/clock.h"
#include "reconciler/incidents/incident_tracker.h"

namespace vmk::reconciler {

struct AvailabilityWindow {
  WallTime from;
  WallTime to;
};

struct Availability {
  Duration observed = Duration::zero();  // the part of the window the VM(s) existed
  Duration downtime = Duration::zero();
  int failures = 0;                      // incidents that began within the window
  int recoveries = 0;                    // incidents that ended within the window
  Duration recovery_total = Duration::zero();  // their recovered - occurred, summed

  // Mean time to recover (from `occurred`) of the incidents that ended within the window.
  std::optional<Duration> Mttr() const;
  // Mean time between failures: the up time per failure that began within the window.
  std::optional<Duration> Mtbf() const;
  // Up time / observed time; 1 when nothing was observed.
  double Ratio() const;
  // Adds another VM's figures (a label's or the fleet's totals).
  void Add(const Availability& other);
};

// The figures of one VM that exists since `existed_since`, from its incidents (any order; those
// of other objects, and incidents with unreadable times, are ignored) over `window`.
Availability AccountAvailability(const std::vector<Incident>& incidents, WallTime existed_since,
                                 AvailabilityWindow window);

}  // namespace vmk::reconciler
