// AvailabilityLedger: what availability accounting needs besides incidents, kept in the store so
// that it survives restarts (reconciler/incidents/availability.h says how it is counted):
//  - per VM: since when vmkeeper accounts it, the generation it was last Ready on, and its
//    planned stops ("availability/vm/<name>", "availability/planned/<name>/<from ms>");
//  - the controller's gaps: vmkeeperd writes a sign of life every few seconds
//    ("availability/alive") and on a clean stop; at start, the time from the last one is a gap
//    ("availability/gap/<from ms>"). A gap is at most one sign-of-life interval too long (a
//    controller killed just before writing one).
// The VM reconciler reports each pass (Observe); planned stops begin and end there, level-
// triggered: a VM is in a planned stop while it should not run, or while it has not been Ready
// since its spec last changed (a restart for an applied change, a new VM's first boot).
//
// Closed incidents are kept in memory too (loaded once, then from the incident tracker's
// listener), so that the per-VM counters of every scrape and `vmkeeper availability` read no
// store. Thread-safe.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/mutex.h"
#include "common/status.h"
#include "reconciler/incidents/availability.h"
#include "reconciler/incidents/incident_tracker.h"
#include "reconciler/store/store.h"

namespace vmk::reconciler {

class AvailabilityLedger {
 public:
  AvailabilityLedger(Store* store, Clock* clock, IncidentTracker* incidents)
      : store_(store), clock_(clock), incidents_(incidents) {}

  // Loads the ledger and every closed VM incident from the store.
  Status Load();
  // The controller starts: the time since the last sign of life (if any) is recorded as a gap,
  // then a sign of life is written. Call after Load.
  Status Start();
  // A sign of life (every few seconds, and synced on a clean stop).
  Status Alive(bool sync);

  // One pass of a VM's reconcile: `generation` is the declared one, `expected_up` false while
  // it should not run (`running: false`, being deleted), `ready` its Ready condition.
  Status Observe(const std::string& vm, int64_t generation, bool expected_up, bool ready);
  // The VM was deleted: its accounting ends (a VM created again under the name starts afresh).
  Status Forget(const std::string& vm);
  // The incident tracker's listener: closed VM incidents are kept for the figures.
  void OnIncident(const Incident& incident, IncidentTracker::Change change);

  // A VM's history as the accounting reads it, and the controller's gaps; nullopt when the VM
  // is not accounted (never observed, or deleted).
  std::optional<VmHistory> History(const std::string& vm) const;
  std::vector<ControllerGap> Gaps() const;
  // Every accounted VM's figures over [its since, now] (for the counters), in name order.
  std::vector<std::pair<std::string, Availability>> Lifetimes(WallTime now) const;

 private:
  struct Entry {
    WallTime since;
    int64_t ready_generation = 0;
    std::optional<PlannedStop> open_planned;
    std::vector<PlannedStop> planned;  // closed
    std::vector<Incident> closed;      // closed incidents, oldest first
  };
  Status SaveEntry(const std::string& vm, const Entry& entry);
  VmHistory HistoryOf(const Entry& entry, const std::vector<Incident>& open) const;

  Store* const store_;
  Clock* const clock_;
  IncidentTracker* const incidents_;
  mutable Mutex mu_;
  std::map<std::string, Entry> vms_ GUARDED_BY(mu_);
  std::vector<ControllerGap> gaps_ GUARDED_BY(mu_);
};

}  // namespace vmk::reconciler
