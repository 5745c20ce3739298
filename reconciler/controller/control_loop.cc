#include "reconciler/controller/control_loop.h"

#include <regex>
#include <set>

#include "common/log.h"
#include "common/rfc3339.h"
#include "providers/probes/network_prober.h"
#include "reconciler/controller/restore.h"
#include "reconciler/core/scheduling_request.h"
#include "specs/label_selector.h"

namespace vmk::reconciler {

using specs::Kind;

ControlLoop::ControlLoop(Store* store, providers::HypervisorFactory* factory, Clock* clock,
                         ControlLoopOptions options)
    : store_(store),
      clock_(clock),
      options_(std::move(options)),
      metrics_(options_.metrics_vm_labels),
      recorder_(store, clock, &metrics_),
      queue_(clock),
      probe_queue_(clock),
      health_(HostHealthOptions{
          std::chrono::duration_cast<Duration>(options_.heartbeat_interval),
          options_.heartbeat_failures,
          std::chrono::duration_cast<Duration>(
              std::min(options_.heartbeat_timeout, options_.heartbeat_interval))}),
      incidents_(store, clock),
      ledger_(store, clock, &incidents_),
      vm_health_(clock),
      own_prober_(options_.prober ? nullptr : std::make_unique<providers::NetworkProber>()),
      own_images_(options_.images ? nullptr : std::make_unique<providers::QemuImg>(clock)),
      fence_slots_(options_.max_concurrent_fences),
      registry_(factory, options_.connect,
                [this](const std::string& host, const providers::DomainEvent& e) {
                  OnDomainEvent(host, e);
                },
                [this](const std::string& host, const providers::ConnectionEvent& e) {
                  OnConnectionEvent(host, e);
                }),
      ctx_(MakeContext()),
      vm_reconciler_(ctx_),
      probe_reconciler_(ctx_),
      host_reconciler_(ctx_),
      heartbeat_reconciler_(ctx_),
      pool_reconciler_(ctx_),
      alert_intake_(ctx_),
      applier_(store, /*on_change=*/nullptr,
               [this](const specs::Object& vm) { return PreviewPlacement(vm); }, clock) {
  for (Reconciler* r : std::initializer_list<Reconciler*>{
           &vm_reconciler_, &probe_reconciler_, &host_reconciler_, &heartbeat_reconciler_,
           &pool_reconciler_}) {
    reconcilers_.Register(r);
    reconciler_metrics_.emplace_back(r, metrics_.AddReconciler(std::string(r->Name())));
  }
  recorder_.SetNotifier(options_.notifier);
}

ControlLoop::~ControlLoop() { CloseHosts(); }

ReconcileContext ControlLoop::MakeContext() {
  ReconcileContext ctx;
  ctx.store = store_;
  ctx.hosts = &registry_;
  ctx.book = &book_;
  ctx.events = &recorder_;
  ctx.queue = &queue_;
  ctx.clock = clock_;
  ctx.stop_grace = options_.stop_grace;
  ctx.on_vm_state = [this](const std::string& vm, const std::string& state) {
    ObserveVmState(vm, state);
  };
  ctx.health = &health_;
  ctx.signals = &signals_;
  ctx.incidents = &incidents_;
  ctx.ledger = &ledger_;
  ctx.fencer = options_.fencer;
  ctx.fence_slots = &fence_slots_;
  ctx.metrics = &metrics_;
  ctx.vm_health = &vm_health_;
  ctx.prober = options_.prober ? options_.prober : own_prober_.get();
  ctx.images = options_.images ? options_.images : own_images_.get();
  ctx.vm_locks = &vm_locks_;
  ctx.probe_queue = options_.separate_probe_queue ? &probe_queue_ : nullptr;
  return ctx;
}

Status ControlLoop::Restore() {
  incidents_.SetListener([this](const Incident& incident, IncidentTracker::Change change) {
    OnIncident(incident, change);
  });
  VMK_RETURN_IF_ERROR(incidents_.Load());
  VMK_RETURN_IF_ERROR(ledger_.Load());
  VMK_ASSIGN_OR_RETURN(RestoredCounts restored, RestoreFromStore(*store_, registry_, book_));
  log::Info("controller state restored", {{"hosts", std::to_string(restored.hosts)},
                                          {"vms", std::to_string(restored.vms)}});
  return Status::Ok();
}

void ControlLoop::OnIncident(const Incident& incident, IncidentTracker::Change change) {
  using Change = IncidentTracker::Change;
  ledger_.OnIncident(incident, change);
  // What only alerts reported is not a failure until vmkeeper sees it: neither a failure nor a
  // recovery to count or to tell the admins about (AlertFiring, an event, says it arrived).
  const bool failed = (change == Change::kOpened && incident.confirmed) || change == Change::kConfirmed;
  const bool recovered = change == Change::kResolved && incident.confirmed;
  if (incident.kind == Kind::kVirtualMachine) {
    if (failed) metrics_.vms().CountFailure(incident.name, incident.type);
    if (change == Change::kResolved && !incident.confirmed) {
      metrics_.vms().CountUnconfirmed(incident.name);
    }
    WallTime occurred, back;
    if (recovered && ParseRfc3339(incident.occurred, &occurred) &&
        ParseRfc3339(incident.recovered, &back)) {
      metrics_.vms().ObserveRecovery(
          incident.name, std::max(0.0, std::chrono::duration<double>(back - occurred).count()));
    }
  }
  // Every failure and every recovery reaches the admins, whatever flow handled it.
  if (options_.notifier && (failed || recovered)) NotifyIncident(incident, failed);
}

std::string ControlLoop::MetricsText() {
  PublishGauges();
  std::map<std::string, metrics::VmAvailabilityFigures> figures;
  for (const auto& [vm, a] : ledger_.Lifetimes(clock_->WallNow())) {
    using Seconds = std::chrono::duration<double>;
    metrics::VmAvailabilityFigures& f = figures[vm];
    f.up_seconds = Seconds(a.Up()).count();
    f.down_seconds = Seconds(a.downtime).count();
    f.unobserved_seconds = Seconds(a.unobserved).count();
  }
  for (const Incident& incident : incidents_.OpenIncidents()) {
    if (incident.kind == Kind::kVirtualMachine && incident.confirmed) {
      figures[incident.name].incident_open = true;
    }
  }
  return metrics_.ExpositionText(figures);
}

StatusOr<AvailabilityReport> ControlLoop::Availability(const AvailabilityQuery& query) {
  VMK_ASSIGN_OR_RETURN(specs::LabelSelector selector, specs::LabelSelector::Parse(query.selector));
  AvailabilityReport report;
  report.to = clock_->WallNow();
  report.from = report.to - query.window;
  report.group_by = query.group_by;
  std::vector<specs::Object> vms;
  if (!query.vm.empty()) {
    VMK_ASSIGN_OR_RETURN(auto vm, store_->Get(Kind::kVirtualMachine, query.vm));
    if (!vm) return Status::NotFound("no VirtualMachine named " + query.vm);
    vms.push_back(std::move(*vm));
  } else {
    VMK_ASSIGN_OR_RETURN(vms, store_->List(Kind::kVirtualMachine));
  }
  const std::vector<ControllerGap> gaps = ledger_.Gaps();
  for (const specs::Object& object : vms) {
    if (!selector.Matches(object.metadata.labels)) continue;
    VmAvailability row;
    row.vm = object.metadata.name;
    row.labels = object.metadata.labels;
    if (auto history = ledger_.History(row.vm)) {
      row.accounted = true;
      row.figures = AccountAvailability(*history, gaps, {report.from, report.to});
      auto open = incidents_.OpenIncident(Kind::kVirtualMachine, row.vm);
      row.incident_open = open && open->confirmed;
    }
    report.total.Add(row.figures);
    if (!query.group_by.empty()) {
      auto label = row.labels.find(query.group_by);
      report.groups[label == row.labels.end() ? "" : label->second].Add(row.figures);
    }
    report.vms.push_back(std::move(row));
  }
  std::sort(report.vms.begin(), report.vms.end(),
            [](const VmAvailability& a, const VmAvailability& b) { return a.vm < b.vm; });
  return report;
}

void ControlLoop::NotifyIncident(const Incident& incident, bool opened) {
  providers::Notification n;
  n.kind = std::string(specs::KindName(incident.kind));
  n.name = incident.name;
  n.event = opened ? "Failed" : "Recovered";
  n.incident_id = incident.id;
  n.type = incident.type;
  n.occurred = incident.occurred;
  n.detected = incident.detected;
  n.recovered = incident.recovered;
  n.actions = incident.actions;
  n.message = opened ? incident.type + " detected (signals: " +
                           (incident.sources.empty() ? "" : incident.sources.front()) + ")"
                     : "recovered";
  options_.notifier->Notify(std::move(n));
}

void ControlLoop::EnqueueAll() {
  auto hosts = store_->ListNames(Kind::kHost);
  auto vms = store_->ListNames(Kind::kVirtualMachine);
  auto pools = store_->ListNames(Kind::kStoragePool);
  if (!hosts.ok() || !vms.ok() || !pools.ok()) {
    log::Error("resync cannot list the store",
               {{"error", (!hosts.ok() ? hosts.status()
                                       : !vms.ok() ? vms.status() : pools.status())
                              .ToString()}});
    return;
  }
  for (const auto& p : *pools) queue_.Add(PoolKey(p), WorkQueue::Priority::kLow);
  std::set<std::string> host_names(hosts->begin(), hosts->end());
  // Hosts removed from the store but still connected (their cleanup is pending).
  for (const auto& h : registry_.All()) host_names.insert(h->name());
  for (const auto& h : host_names) {
    queue_.Add(HostKey(h), WorkQueue::Priority::kLow);
    // Keeps at most one heartbeat pending per host (the earliest deadline wins).
    queue_.AddAfter(HeartbeatKey(h), HeartbeatPhase(h, health_.options().interval));
  }
  for (const auto& v : *vms) queue_.Add(VmKey(v), WorkQueue::Priority::kLow);
  PublishGauges();
}

bool ControlLoop::ProcessNext(WorkQueue& queue, const CancelToken& cancel) {
  std::string key;
  Duration waited = Duration::zero();
  if (!queue.Get(&key, &waited)) return false;
  const bool probes = &queue == &probe_queue_;
  std::atomic<int>& active = probes ? active_probe_workers_ : active_reconcile_workers_;
  const metrics::Queue which = probes ? metrics::Queue::kProbe : metrics::Queue::kReconcile;
  metrics_.ObserveQueueWait(which, std::chrono::duration<double>(waited).count());
  metrics_.SetActiveWorkers(which, ++active);
  metrics_.SetQueueDepth(which, static_cast<double>(queue.Len()));
  ReconcileResult result = Run(key, cancel);
  if (!result.status.ok()) {
    const bool cancelled = cancel.Done();
    log::Write(cancelled ? log::Level::kInfo : log::Level::kWarning,
               cancelled ? "reconcile stopped" : "reconcile failed",
               {{"key", key}, {"error", result.status.ToString()},
                {"retries", std::to_string(queue.NumRequeues(key))}});
  }
  Finish(queue, key, result);
  metrics_.SetActiveWorkers(which, --active);
  queue.Done(key);
  return true;
}

ReconcileResult ControlLoop::Run(const std::string& key, const CancelToken& cancel) {
  auto target = reconcilers_.Find(key);
  if (!target) {
    log::Error("no reconciler for work key", {{"key", key}});
    return ReconcileResult::Done();
  }
  metrics::ReconcilerMetrics* metrics = MetricsOf(target->reconciler);
  const MonoTime start = clock_->Now();
  ReconcileRequest request{std::move(target->name),
                           CancelToken::WithDeadline(cancel, clock_,
                                                     start + options_.reconcile_timeout)};
  ReconcileResult result;
  try {
    result = target->reconciler->Reconcile(request);
  } catch (const std::exception& e) {
    // A bug, not a state of the world: keep the controller alive and retry with backoff.
    metrics->CountPanic();
    log::Error("reconcile threw", {{"key", key}, {"exception", e.what()}});
    result = ReconcileResult::Error(Status::Internal(std::string("exception: ") + e.what()));
  }
  const double seconds = std::chrono::duration<double>(clock_->Now() - start).count();
  metrics::ReconcileResult outcome = !result.status.ok()   ? metrics::ReconcileResult::kError
                                     : result.requeue_after ? metrics::ReconcileResult::kRequeue
                                                            : metrics::ReconcileResult::kSuccess;
  metrics->Observe(outcome, seconds);
  return result;
}

metrics::ReconcilerMetrics* ControlLoop::MetricsOf(const Reconciler* reconciler) const {
  for (const auto& [r, metrics] : reconciler_metrics_) {
    if (r == reconciler) return metrics;
  }
  return nullptr;  // every registered reconciler has its metrics (constructor)
}

void ControlLoop::Finish(WorkQueue& queue, const std::string& key, const ReconcileResult& result) {
  if (!result.status.ok()) {
    queue.AddRateLimited(key);
  } else if (result.requeue_after) {
    queue.Forget(key);
    queue.AddAfter(key, *result.requeue_after,
                   result.requeue_low ? WorkQueue::Priority::kLow : WorkQueue::Priority::kHigh);
  } else {
    queue.Forget(key);
  }
}

StatusOr<AlertIntakeOutcome> ControlLoop::IngestAlerts(const std::string& body) {
  VMK_ASSIGN_OR_RETURN(providers::AlertParseResult parsed,
                       providers::ParseAlertmanagerWebhook(body, options_.alert_labels));
  VMK_ASSIGN_OR_RETURN(AlertIntakeOutcome outcome, alert_intake_.Ingest(parsed.signals));
  outcome.skipped.insert(outcome.skipped.begin(), parsed.skipped.begin(), parsed.skipped.end());
  return outcome;
}

void ControlLoop::CloseHosts() {
  for (const auto& host : registry_.All()) registry_.Remove(host->name());
}

bool ControlLoop::AllHostsAttempted() const {
  for (const auto& host : registry_.All()) {
    if (!host->view().sync_attempted) return false;
  }
  return true;
}

void ControlLoop::PublishGauges() {
  std::map<std::string, int> by_state;
  {
    MutexLock l(&vm_states_mu_);
    for (const auto& [vm, state] : vm_states_) ++by_state[state];
  }
  metrics_.SetVmsByState(by_state);
  metrics_.SetQueueDepth(metrics::Queue::kReconcile, static_cast<double>(queue_.Len()));
  metrics_.SetQueueDepth(metrics::Queue::kProbe, static_cast<double>(probe_queue_.Len()));
  if (options_.notifier) {
    const providers::DeliveryCounts n = options_.notifier->Counts();
    metrics_.SetNotificationCounts(n.sent, n.failed, n.dropped, n.attempts);
  }
}

void ControlLoop::ObserveVmState(const std::string& vm, const std::string& state) {
  MutexLock l(&vm_states_mu_);
  if (state.empty()) {
    vm_states_.erase(vm);
  } else {
    vm_states_[vm] = state;
  }
}

void ControlLoop::OnDomainEvent(const std::string& host, const providers::DomainEvent& event) {
  log::Debug("domain event", {{"host", host}, {"domain", event.domain},
                              {"type", providers::DomainEventTypeName(event.type)}});
  if (auto entry = registry_.Get(host)) entry->MarkStale(event.domain, event.time, event.type);
  queue_.Add(VmKey(event.domain));
}

void ControlLoop::OnConnectionEvent(const std::string& host,
                                    const providers::ConnectionEvent& event) {
  log::Info("host connection event", {{"host", host}, {"alive", event.alive ? "true" : "false"},
                                      {"reason", event.reason}});
  if (!event.alive) signals_.SetClosed(host, event.reason);
  // A heartbeat now: whether the daemon refuses a new connection or hangs is the evidence the
  // decision needs, and an EOF from a killed host must not wait for the beat's phase.
  queue_.Add(HeartbeatKey(host));
  queue_.Add(HostKey(host));
}

void ControlLoop::OnStoreChanges(const std::vector<Change>& changes) {
  std::vector<ObjectRef> changed;
  for (const Change& c : changes) {
    if (c.type != Change::Type::kStatus) changed.push_back(c.object);
  }
  if (!changed.empty()) OnDesiredStateChanged(changed);
}

void ControlLoop::OnDesiredStateChanged(const std::vector<ObjectRef>& changed) {
  bool hosts_changed = false;
  for (const auto& ref : changed) {
    if (ref.kind == Kind::kHost) {
      hosts_changed = true;
      queue_.Add(HostKey(ref.name));
      queue_.AddAfter(HeartbeatKey(ref.name), HeartbeatPhase(ref.name, health_.options().interval));
    } else if (ref.kind == Kind::kVirtualMachine) {
      queue_.Add(VmKey(ref.name));
    } else if (ref.kind == Kind::kStoragePool) {
      queue_.Add(PoolKey(ref.name));
    }
  }
  // New or relabelled hosts may make unplaced VMs placeable.
  if (!hosts_changed) return;
  auto vms = store_->List(Kind::kVirtualMachine);
  if (!vms.ok()) return;
  for (const auto& v : *vms) {
    if (VmStatus::FromJson(v.status).host.empty()) queue_.Add(VmKey(v.metadata.name));
  }
}

StatusOr<specs::Object> ControlLoop::VmForRequest(const std::string& vm) {
  auto object = store_->Get(Kind::kVirtualMachine, vm);
  if (!object.ok()) return object.status();
  if (!*object) return Status::NotFound("virtualmachine " + vm + " not found");
  if ((*object)->metadata.terminating()) {
    return Status::FailedPrecondition("VM " + vm + " is being deleted");
  }
  return std::move(**object);
}

StatusOr<std::string> ControlLoop::RequestSnapshot(const std::string& vm,
                                                  const std::string& requested) {
  std::string name = requested;
  if (name.empty()) {
    // "m20261205-005312": a DNS-1123 label from the time (UTC) it was asked for.
    std::string t = FormatRfc3339(clock_->WallNow());  // 2026-12-05T00:53:12.123Z
    name = "m" + t.substr(0, 4) + t.substr(5, 2) + t.substr(8, 2) + "-" + t.substr(11, 2) +
           t.substr(14, 2) + t.substr(17, 2);
  }
  static const std::regex kLabel("^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$");
  if (!std::regex_match(name, kLabel)) {
    return Status::InvalidArgument("snapshot name \"" + name +
                                   "\" must be a DNS-1123 label (lowercase letters, digits, '-')");
  }
  for (int attempt = 0; attempt < 10; ++attempt) {
    auto object = VmForRequest(vm);
    if (!object.ok()) return object.status();
    VmStatus status = VmStatus::FromJson(object->status);
    for (const auto& s : status.snapshots) {
      if (s.name == name) return Status::AlreadyExists("VM " + vm + " has a snapshot " + name);
    }
    for (const auto& r : status.snapshotRequests) {
      if (r == name) return Status::AlreadyExists("snapshot " + name + " is already asked for");
    }
    status.snapshotRequests.push_back(name);
    auto written = store_->PutStatusIf(StatusWrite{Kind::kVirtualMachine, vm, status.ToJson(),
                                                   true, object->status_revision});
    if (written.ok()) {
      // Behind failures and applies: a hundred snapshots asked for at once must not hold up
      // the restart of a VM that crashed meanwhile.
      queue_.Add(VmKey(vm), WorkQueue::Priority::kLow);
      return name;
    }
    if (written.status().code() != StatusCode::kAborted) return written.status();
    // The VM's reconcile wrote its status meanwhile: read it again.
  }
  return Status::Aborted("the status of " + vm + " kept changing; try again");
}

StatusOr<RollbackPlan> ControlLoop::RequestRollback(const std::string& vm, const std::string& to,
                                                   bool dry_run) {
  for (int attempt = 0; attempt < 10; ++attempt) {
    auto object = VmForRequest(vm);
    if (!object.ok()) return object.status();
    VmStatus status = VmStatus::FromJson(object->status);
    if (status.rollback.phase == "Restoring" || !status.rollbackRequest.empty()) {
      return Status::FailedPrecondition("a rollback of " + vm + " is already under way");
    }
    const SnapshotRecord* target = nullptr;
    for (const auto& r : status.snapshots) {
      if (to.empty() ? (r.phase == "Taken" && r.healthy) : r.name == to) target = &r;
    }
    if (target == nullptr) {
      return to.empty() ? Status::FailedPrecondition(vm + " has no snapshot taken while healthy")
                        : Status::NotFound(vm + " has no snapshot " + to);
    }
    if (target->phase != "Taken") {
      return Status::FailedPrecondition("snapshot " + to + " of " + vm + " is " +
                                        target->phase + ", not Taken");
    }
    RollbackPlan plan{vm, target->name, target->time, target->healthy, {}, {}};
    for (const auto& layer : target->layers) plan.restore.emplace_back(layer.disk, layer.volume);
    for (const auto& disk : status.disks) {
      if (!disk.pool.empty()) plan.keep.emplace_back(disk.name, disk.volume);
    }
    if (dry_run) return plan;
    status.rollbackRequest = target->name;
    auto written = store_->PutStatusIf(StatusWrite{Kind::kVirtualMachine, vm, status.ToJson(),
                                                   true, object->status_revision});
    if (written.ok()) {
      queue_.Add(VmKey(vm));
      return plan;
    }
    if (written.status().code() != StatusCode::kAborted) return written.status();
  }
  return Status::Aborted("the status of " + vm + " kept changing; try again");
}

std::string ControlLoop::PreviewPlacement(const specs::Object& vm) {
  auto spec = specs::VirtualMachineSpecFromJson(vm.spec);
  if (!spec.ok()) return "";
  auto request = MakeSchedulingRequest(*store_, vm.metadata.name, vm.metadata.labels, &*spec);
  if (!request.ok()) return "";
  auto host = book_.Preview(*request, registry_.Candidates(vm.metadata.name));
  return host.ok() ? *host : "";
}

}  // namespace vmk::reconciler
