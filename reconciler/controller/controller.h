// Controller: the running vmkeeper control loop, as vmkeeperd runs it. It adds to the
// ControlLoop (the one wiring of the controller's parts) the threads: reconcile workers, probe
// workers and the periodic resync; and it implements ControlPlane for the REST API.
//
// Lifecycle: construct, Start() (restores state from the store, starts the threads, enqueues
// everything), Stop() (cancels the reconciles in flight between their steps, then joins).
// Thread-safe after Start().
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "common/clock.h"
#include "common/status.h"
#include "providers/hypervisor/hypervisor.h"
#include "reconciler/controller/control_loop.h"
#include "reconciler/controller/control_plane.h"
#include "reconciler/store/store.h"

namespace vmk::reconciler {

struct ControllerOptions : ControlLoopOptions {
  int workers = 4;
  std::chrono::seconds resync_period{30};
};

class ControllerImpl;

class Controller : public ControlPlane {
 public:
  // store, factory and clock must outlive the controller.
  Controller(Store* store, providers::HypervisorFactory* factory, Clock* clock,
             ControllerOptions options);
  ~Controller() override;

  Status Start();
  void Stop();

  // ControlPlane
  StatusOr<ApplyOutcome> Apply(const std::vector<ManifestFile>& files,
                               const ApplyOptions& options) override;
  StatusOr<DiffOutcome> Diff(const std::vector<ManifestFile>& files, bool prune) override;
  StatusOr<std::vector<specs::Object>> List(specs::Kind kind) override;
  StatusOr<std::optional<specs::Object>> Get(specs::Kind kind, const std::string& name) override;
  Status Delete(specs::Kind kind, const std::string& name) override;
  StatusOr<std::string> RequestSnapshot(const std::string& vm, const std::string& name) override;
  StatusOr<RollbackPlan> RequestRollback(const std::string& vm, const std::string& to,
                                         bool dry_run) override;
  StatusOr<std::vector<Event>> Events(std::optional<ObjectRef> object, int64_t after_seq,
                                      size_t limit) override;
  bool Ready() override;
  StatusOr<std::vector<Incident>> Incidents(std::optional<ObjectRef> object) override;
  StatusOr<AvailabilityReport> Availability(const AvailabilityQuery& query) override;
  StatusOr<AlertIntakeOutcome> IngestAlerts(const std::string& body) override;
  std::string MetricsText() override;

  // Enqueues every host and VM now, as the periodic resync does.
  void ResyncNow();

  // For tests and benchmarks: the connection of a host (to act "behind the controller's back"),
  // or nullptr. Blocks until all queued work is done, or the deadline passes; returns whether idle.
  providers::Hypervisor* HostConnectionForTest(const std::string& host);
  bool WaitIdle(std::chrono::milliseconds timeout);

 private:
  std::unique_ptr<ControllerImpl> impl_;
};

}  // namespace vmk::reconciler
