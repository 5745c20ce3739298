// Controller: the running vmkeeper control loop. It owns the work queue, the workers, the
// per-host connections with their observed-state cache, and the periodic resync; it implements
// ControlPlane for the REST API.
//
// Lifecycle: construct, Start() (loads desired state, connects hosts, starts workers), Stop().
// Thread-safe after Start().
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "common/clock.h"
#include "common/status.h"
#include "providers/alerts/alert_signal.h"
#include "providers/fencing/fencer.h"
#include "providers/hypervisor/hypervisor.h"
#include "providers/notify/notifier.h"
#include "providers/probes/prober.h"
#include "reconciler/controller/control_plane.h"
#include "reconciler/incidents/incident_tracker.h"
#include "reconciler/store/store.h"

namespace vmk::reconciler {

struct ControllerOptions {
  int workers = 4;
  std::chrono::seconds resync_period{30};
  providers::ConnectOptions connect;  // connect.embedded_host_dir: where test:///embedded/ hosts live
  // Grace period between a graceful shutdown request and a hard stop.
  std::chrono::seconds stop_grace{60};
  // Host heartbeats: a host is NotReady after `heartbeat_failures` failed heartbeats spanning
  // (failures - 1) intervals.
  std::chrono::milliseconds heartbeat_interval{1000};
  int heartbeat_failures = 3;
  // Runs the fence agents of failed hosts; must outlive the controller. Without one, a host
  // with spec.fencing cannot be fenced (FencingFailed) and nothing fails over from it.
  providers::Fencer* fencer = nullptr;
  // Runs the health probes of VMs with spec.health; must outlive the controller. Null = the
  // controller's own NetworkProber.
  providers::Prober* prober = nullptr;
  // Tells the admins about failures and recoveries (a webhook); may be null. Must outlive the
  // controller.
  providers::Notifier* notifier = nullptr;
  // Which alert labels name a host or a VM in Alertmanager's webhook payloads.
  providers::AlertLabelNames alert_labels;
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
  StatusOr<std::vector<Event>> Events(std::optional<ObjectRef> object, int64_t after_seq,
                                      size_t limit) override;
  bool Ready() override;
  StatusOr<std::vector<Incident>> Incidents(std::optional<ObjectRef> object) override;
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
