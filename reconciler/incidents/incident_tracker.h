// IncidentTracker: every failure of a VM or host is one incident with three times: occurred (the
// best evidence: last good heartbeat or probe, libvirt event time, an alert's startsAt),
// detected, recovered; its kind and the actions taken. Several signals of one failure (a missed
// heartbeat, a closed connection, an alert, a lifecycle event) make one incident: while an
// incident of an object is open, Open() returns it and only moves `occurred` earlier when the new
// evidence is earlier. Incidents are kept in the store's history ("incident/<Kind>/<name>/<id>"),
// so a restarted controller finds the open ones again. Writes are synced unless the caller says
// `sync=false` because a synced write of its own follows before it acts (one sync for many
// incidents: see Store::PutStatus).
//
// An incident opened by an alert alone is unconfirmed: Alertmanager said so, vmkeeper has not
// seen it. A signal of vmkeeper's own (heartbeat, libvirt, probe, change) joining it confirms it
// (and names its type); one that closes unconfirmed was reported, never seen, and is not
// downtime (reconciler/incidents/availability.h). Thread-safe.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/mutex.h"
#include "reconciler/store/store.h"

namespace vmk::reconciler {

struct Incident {
  std::string id;          // "<kind>-<name>-<detected ms>", unique per object
  specs::Kind kind = specs::Kind::kVirtualMachine;
  std::string name;
  std::string type;        // HostFailure, VmCrashed, VmStopped, VmUnhealthy, ...
  std::string occurred;    // RFC 3339
  std::string detected;
  std::string recovered;   // empty while open
  std::vector<std::string> sources;  // signals that reported it: heartbeat, alert, event, probe
  std::vector<std::string> actions;  // "fenced hv02", "started on hv03", ...
  // False while only alerts reported it (see the header comment).
  bool confirmed = true;

  bool open() const { return recovered.empty(); }
  specs::Json ToJson() const;
  static StatusOr<Incident> FromJson(const specs::Json& json);
};

class IncidentTracker {
 public:
  IncidentTracker(Store* store, Clock* clock) : store_(store), clock_(clock) {}

  // What happened to an incident, for the listener.
  enum class Change {
    kOpened,     // a new incident (confirmed or not: see Incident::confirmed)
    kConfirmed,  // an unconfirmed one was joined by a signal of vmkeeper's own
    kResolved,   // closed (confirmed or not)
  };
  // Called outside the tracker's lock, after the change is stored.
  using Listener = std::function<void(const Incident& incident, Change change)>;
  void SetListener(Listener listener) { listener_ = std::move(listener); }

  // Loads the incidents that are still open from the store.
  Status Load();

  // Opens an incident for the object, or joins the open one. `occurred` is the evidence of when
  // the failure began (clamped to no later than now). `source` "alert" opens it unconfirmed,
  // any other source opens or confirms it. Returns the incident as stored.
  StatusOr<Incident> Open(specs::Kind kind, const std::string& name, const std::string& type,
                          WallTime occurred, const std::string& source, bool sync = true);
  // Appends an action to the open incident of the object; no-op when none is open.
  Status AddAction(specs::Kind kind, const std::string& name, const std::string& action,
                   bool sync = true);
  // Closes the open incident of the object with `recovered` = now; no-op when none is open.
  StatusOr<std::optional<Incident>> Resolve(specs::Kind kind, const std::string& name);

  std::optional<Incident> OpenIncident(specs::Kind kind, const std::string& name) const;
  // Every stored incident of one object (name non-empty) or of all objects, oldest first.
  StatusOr<std::vector<Incident>> List(std::optional<ObjectRef> object) const;
  // Every open incident (a copy), for the availability counters.
  std::vector<Incident> OpenIncidents() const;

  // The source of an alert, the one signal that does not confirm an incident.
  static constexpr char kAlertSource[] = "alert";

 private:
  Status Save(const Incident& incident, bool sync);
  static std::string Key(const Incident& incident);

  Store* const store_;
  Clock* const clock_;
  Listener listener_;  // set before use, then read-only
  mutable Mutex mu_;
  std::map<ObjectRef, Incident> open_ GUARDED_BY(mu_);
};

}  // namespace vmk::reconciler
