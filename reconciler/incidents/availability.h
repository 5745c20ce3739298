// Availability accounting (flow 5 of the design): a VM's history turned into up time, downtime,
// MTTR, MTBF and availability = MTBF / (MTBF + MTTR) over a window.
//
// Every instant of a VM's life (from when vmkeeper first accounted it) in the window is one of:
//  - down: inside a confirmed incident, from its `occurred` (the best evidence of when the VM
//    failed, not when vmkeeper noticed) to its `recovered` (running and Ready again), or to
//    the window's end while it is open. Overlapping incidents count once (a crash during a host
//    failure is one outage). An incident only alerts reported (Incident::confirmed false) is
//    not downtime: it is counted in `unconfirmed`.
//  - planned: a stop the admins asked for (`running: false`), a restart for a change they
//    applied and a new VM's first boot, until it is Ready (PlannedStop).
//  - unobserved: no vmkeeperd ran (a gap between a stop of the controller and its restart,
//    ControllerGap) and no incident says down.
//  - up: the rest.
// When they overlap: down, then planned, then unobserved. An incident open across a gap is down
// through the gap (the VM failed before and was found still failed, or recovering, after): an
// upper bound, reported as `downtime_unobserved`.
//
// Figures of several VMs add up (a label's or the fleet's): their times are VM-seconds, so the
// ratio is the share of accounted VM-time that was up.
// Pure functions; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "reconciler/incidents/incident_tracker.h"

namespace vmk::reconciler {

struct AvailabilityWindow {
  WallTime from;
  WallTime to;
};

// A stop the admins asked for; `to` empty while it lasts.
struct PlannedStop {
  WallTime from;
  std::optional<WallTime> to;
  std::string reason;  // "stopped" (running: false), "change", "provisioning"
};

// A time no controller ran: from its last sign of life to the next start.
struct ControllerGap {
  WallTime from;
  WallTime to;
};

// One VM's history, as the accounting reads it.
struct VmHistory {
  WallTime since;  // when vmkeeper first accounted the VM
  std::vector<PlannedStop> planned;
  std::vector<Incident> incidents;  // those of other objects are ignored
};

struct Availability {
  Duration observed = Duration::zero();  // the part of the window the VM(s) existed
  Duration downtime = Duration::zero();
  Duration downtime_unobserved = Duration::zero();  // the part of downtime in controller gaps
  Duration planned = Duration::zero();
  Duration unobserved = Duration::zero();
  // Outages (runs of overlapping confirmed incidents) that began within the window, and those
  // that ended within it, with their recovered - occurred summed.
  int failures = 0;
  int recoveries = 0;
  Duration recovery_total = Duration::zero();
  int unconfirmed = 0;                   // alert-only reports detected within the window

  // Time that counts: up or down.
  Duration Accounted() const { return observed - planned - unobserved; }
  Duration Up() const { return Accounted() - downtime; }
  // Mean time to recover (from `occurred`) of the incidents that ended within the window.
  std::optional<Duration> Mttr() const;
  // Mean time between failures: the up time per failure that began within the window.
  std::optional<Duration> Mtbf() const;
  // Up time / accounted time; 1 when nothing was accounted.
  double Ratio() const;
  // Adds another VM's figures (a label's or the fleet's totals).
  void Add(const Availability& other);
};

// The figures of one VM over `window`, given the controller's gaps (any order). Incidents with
// unreadable times are ignored.
Availability AccountAvailability(const VmHistory& history, const std::vector<ControllerGap>& gaps,
                                 AvailabilityWindow window);

}  // namespace vmk::reconciler
