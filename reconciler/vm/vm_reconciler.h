// VmReconciler: makes one VirtualMachine's domain match its spec (level-triggered), the "vm"
// reconciler.
//
// Each call re-reads the desired object and the observed domain and runs named steps, each of
// which may end the pass (see docs/architecture.md, "The reconcile contract"):
//   deleted     the object is gone: its owned copies are destroyed and undefined everywhere;
//               marked for deletion with a finalizer (a deletePolicy: Delete volume), VmDeleter
//               removes the domain, then its volumes, then the object;
//               or it is Terminating (its volumes go with it): VmDeleter removes the domain,
//               then the volumes, then the object;
//   placement   an unplaced VM adopts its existing copy or is scheduled; the chosen host is
//               written to the store, synced, before anything is defined there (intent first);
//   safety      stray copies on other hosts go (a VM runs on one host only); a VM whose host
//               does not answer stays where it is until the host's failover moves it;
//   storage     each disk resolved to the file its domain opens and that file's format; volumes
//               created on first use (DiskResolver); a disk that cannot be used blocks the VM;
//   definition  the domain is defined, or redefined when its managed config or generation
//               differs from the spec (a hand edit is restored); a change of a healthy VM under
//               a policy with beforeChange is snapshotted first and watched (status.change),
//               and rolled back when it does not get healthy (FailChange);
//   power       started or stopped as declared: restarts after a crash, a stop behind our back
//               or a failed probe (within spec.restart; once it is used up, a rollback to the
//               latest healthy snapshot: VmRollback), restarts into a new generation, graceful
//               then forced shutdown;
//   status      state, conditions and observedGeneration written; snapshots asked for and
//               scheduled ones taken (VmSnapshotter); the VM's incident closes when it is
//               Ready again.
// A new behaviour (rollback, snapshots before a change) is one more step in that list.
// Stateless between calls; thread-safe for different names.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "reconciler/core/object_status.h"
#include "reconciler/core/reconcile_context.h"
#include "reconciler/core/reconciler.h"
#include "reconciler/vm/restart_policy.h"

namespace vmk::reconciler {

class VmReconciler : public Reconciler {
 public:
  explicit VmReconciler(ReconcileContext ctx) : ctx_(ctx) {}
  std::string_view Name() const override { return kVmReconciler; }
  ReconcileResult Reconcile(const ReconcileRequest& request) override;

 private:
  struct Copy {
    std::shared_ptr<HostEntry> host;
    providers::DomainInfo domain;
  };
  // What one pass knows, handed from step to step.
  struct Pass {
    std::string name;
    specs::Object object;
    specs::VirtualMachineSpec spec;
    // The generation the VM is to run, and its spec's JSON: the declared ones, unless the
    // declared change failed and was rolled back (status.change Failed), then the ones before.
    int64_t generation = 0;
    specs::Json spec_json;
    int64_t declared_generation = 0;  // metadata.generation, whatever runs
    VmStatus status;
    specs::Json stored_status;            // the status as the store has it now
    int64_t status_revision = 0;          // its revision: writes are conditioned on it
    std::vector<Copy> copies;             // owned copies on any host
    std::shared_ptr<HostEntry> host;      // where it is placed (after the placement step)
    std::optional<providers::DomainInfo> domain;  // its domain there (after the definition step)
    bool defined_fresh = false;           // the definition step found no domain and defined it
    std::optional<Duration> requeue;      // another look wanted (a pending graceful stop)
    // The next scheduled snapshot: periodic work, requeued in the queue's low lane so that a
    // wave of them (100 VMs due at once, after a restart of the controller) never holds up a
    // failure reported meanwhile (bench/README.md, 100 VMs snapshotted at once).
    std::optional<Duration> periodic;
    // Its snapshot policy's interval (0 = none), for the snapshot-age metric.
    int snapshot_interval_seconds = 0;
  };
  // A step's outcome: nullopt = go on with the next step; a result ends the pass.
  using StepResult = std::optional<ReconcileResult>;

  // The steps, in order.
  ReconcileResult Deleted(const std::string& name, const std::vector<Copy>& copies);
  StepResult PlacementStep(Pass& pass);
  StepResult SafetyStep(Pass& pass);
  StepResult StorageStep(Pass& pass);
  StepResult ResumeSnapshots(Pass& pass);
  StepResult SnapshotBeforeStart(Pass& pass);
  StepResult DefinitionStep(Pass& pass);
  StepResult PowerStep(Pass& pass);
  ReconcileResult StatusStep(Pass& pass);
  // What the pass saw, to the availability ledger (planned stops) and the per-VM metrics.
  Status Account(const Pass& pass);

  // Placement: adoption of an existing copy, or scheduling.
  enum class PlaceResult { kPlaced, kWait, kUnschedulable };
  PlaceResult Place(Pass& pass, Status* error);
  PlaceResult Schedule(Pass& pass, std::string* host, Status* error);
  // Power: the cases of a VM that should run, and of one that should not.
  StepResult RestartForUpdate(Pass& pass);
  StepResult RestartUnhealthy(Pass& pass);
  StepResult StartStopped(Pass& pass);
  StepResult Stop(Pass& pass);
  // Opens (or joins) the incident of a VM found stopped or crashed behind our back.
  Status OpenStoppedIncident(const Pass& pass);
  // Under spec.restart: may a failure restart happen now? Sets the Ready condition (and tells
  // once) when it may not (with `state_if_held` as the observed state); when it may, the
  // restart is counted in the status, synced, first.
  StepResult GateFailureRestart(Pass& pass, const std::optional<std::string>& state_if_held);
  // The Ready condition of a VM that should run (runs, current, and its probe passes).
  specs::Condition ReadyCondition(Pass& pass, bool now_active, bool config_current);
  Status ResolveIncident(const Pass& pass);
  // Manual snapshots asked for, and the policy's scheduled one when due (VmSnapshotter).
  Status TakeSnapshots(Pass& pass);
  // The VM's SnapshotPolicy (nullopt: none).
  StatusOr<std::optional<specs::SnapshotPolicySpec>> LoadPolicy(const Pass& pass);
  // The restart limit is used up: back to the latest healthy snapshot (VmRollback), if any.
  StepResult RollBack(Pass& pass);
  // An admin's rollback (status.rollbackRequest) to the snapshot asked for.
  StepResult RollBackOnRequest(Pass& pass);
  // Changes (flow 3, docs/storage.md "Rollback of a failed change"). The domain running
  // `running_generation` is about to be redefined: under a policy with beforeChange, a healthy
  // VM's disks are snapshotted and the change is watched (status.change, written synced).
  StepResult BeginChange(Pass& pass, int64_t running_generation);
  // A watched change whose deadline passed without the VM Ready: FailChange.
  StepResult CheckChangeDeadline(Pass& pass);
  // Powers the domain off, restores the before-change snapshot (VmRollback::BeginTo), marks the
  // change Failed: from the next pass the VM runs the spec before it.
  StepResult FailChange(Pass& pass, const std::string& why);
  // Status step: a watched change that is Ready succeeded; the spec a Ready VM runs is kept as
  // the one a failed change goes back to.
  Status NoteHealthyGeneration(Pass& pass);
  // Watching a rollback: Done once the VM stayed Ready for a restart window.
  void WatchRollback(Pass& pass);

  std::vector<Copy> FindOwnedCopies(const std::string& name);
  // Reads the domain from the host and refreshes the cache. nullopt = no such domain.
  StatusOr<std::optional<providers::DomainInfo>> Observe(HostEntry& host, const std::string& name,
                                                          bool force);
  // Re-reads the domain after an action (it must still exist).
  StepResult Refresh(Pass& pass, const char* after);
  // Destroys and undefines an owned copy and forgets it in the cache.
  Status RemoveCopy(HostEntry& host, const std::string& name);
  Status WriteStatus(Pass& pass, bool sync);

  ReconcileContext ctx_;
};

}  // namespace vmk::reconciler
