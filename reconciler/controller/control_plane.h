// ControlPlane: what the daemon's REST API (and tests) can ask of the controller.
// It owns no HTTP and no libvirt: the server in cli/ translates requests into these calls.
// Thread-safe: called concurrently from the HTTP thread pool.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "reconciler/alerts/alert_intake.h"
#include "reconciler/apply/applier.h"
#include "reconciler/incidents/availability_report.h"
#include "reconciler/incidents/incident_tracker.h"
#include "reconciler/store/store.h"
#include "specs/types.h"

namespace vmk::reconciler {

// What a rollback restores: the target snapshot, and per disk its frozen layer and the top the VM
// has now (kept as a before-rollback snapshot).
struct RollbackPlan {
  std::string vm;
  std::string target;
  std::string target_time;
  bool target_healthy = false;
  std::vector<std::pair<std::string, std::string>> restore;  // disk -> frozen layer
  std::vector<std::pair<std::string, std::string>> keep;     // disk -> current top
};

class ControlPlane {
 public:
  virtual ~ControlPlane() = default;

  // Errors in the input come back in outcome.errors; a non-ok Status is an internal failure.
  virtual StatusOr<ApplyOutcome> Apply(const std::vector<ManifestFile>& files,
                                       const ApplyOptions& options) = 0;
  virtual StatusOr<DiffOutcome> Diff(const std::vector<ManifestFile>& files, bool prune) = 0;

  // Objects as the API serves them: secret fencing options masked (specs/redaction.h); the
  // store keeps the real values.
  virtual StatusOr<std::vector<specs::Object>> List(specs::Kind kind) = 0;
  virtual StatusOr<std::optional<specs::Object>> Get(specs::Kind kind, const std::string& name) = 0;
  // NotFound when absent; FailedPrecondition when deleting would break something (a Host that
  // still has VMs placed on it).
  virtual Status Delete(specs::Kind kind, const std::string& name) = 0;
  virtual StatusOr<std::vector<Event>> Events(std::optional<ObjectRef> object, int64_t after_seq,
                                              size_t limit) = 0;

  // Incidents (failures with their occurred/detected/recovered times) of one object, or of all
  // objects when `object` is empty; oldest first.
  virtual StatusOr<std::vector<Incident>> Incidents(std::optional<ObjectRef> object) = 0;
  // Availability, MTTR and MTBF of the VMs the query selects over its window ending now, with
  // their total (docs/availability.md). NotFound: the query names a VM that does not exist;
  // InvalidArgument: a bad selector.
  virtual StatusOr<AvailabilityReport> Availability(const AvailabilityQuery& query) = 0;
  // Asks for a snapshot of a VM's volume disks named `name` ("" = one is made up from the
  // time); the VM's reconcile takes it. Returns the name. NotFound: no such VM;
  // InvalidArgument: not a DNS-1123 label; AlreadyExists: the VM has a snapshot of that name.
  virtual StatusOr<std::string> RequestSnapshot(const std::string& vm,
                                                const std::string& name) = 0;
  // Rolls a VM back to snapshot `to` ("" = its latest taken while healthy): what would be
  // restored, and with !dry_run the request recorded for the VM's reconcile. NotFound: no such
  // VM or snapshot; FailedPrecondition: a rollback is in progress, or no healthy snapshot.
  virtual StatusOr<RollbackPlan> RequestRollback(const std::string& vm, const std::string& to,
                                                 bool dry_run) = 0;
  // An Alertmanager webhook body (version 4). InvalidArgument when it is not one.
  virtual StatusOr<AlertIntakeOutcome> IngestAlerts(const std::string& body) = 0;

  // True once the store is open and the first full resync of all hosts has finished.
  virtual bool Ready() = 0;
  // Prometheus text exposition of the controller's metrics.
  virtual std::string MetricsText() = 0;
};

}  // namespace vmk::reconciler
