#include "reconciler/vm/vm_reconciler.h"

#include <algorithm>

#include "common/log.h"

namespace vmk::reconciler {

using providers::DomainInfo;
using providers::IsActive;
using specs::Condition;
using specs::Kind;

namespace {

constexpr auto kUnschedulableRetry = std::chrono::seconds(30);
constexpr auto kNameConflictRetry = std::chrono::seconds(60);
constexpr auto kHostNotSyncedRetry = std::chrono::milliseconds(200);

Condition Cond(const std::string& type, bool ok, const std::string& reason,
               const std::string& message, Clock* clock) {
  return Condition{type, ok ? "True" : "False", reason, message, FormatRfc3339(clock->WallNow())};
}

}  // namespace

providers::DomainConfig DesiredDomainConfig(const std::string& name,
                                            const specs::VirtualMachineSpec& spec,
                                            int64_t generation) {
  providers::DomainConfig c;
  c.name = name;
  c.cpus = spec.cpus;
  c.memoryMiB = spec.memoryMiB;
  c.generation = generation;
  for (size_t i = 0; i < spec.disks.size(); ++i) {
    c.disks.push_back({spec.disks[i].name, spec.disks[i].image, providers::DefaultDiskTarget(i)});
  }
  if (spec.boot) c.boot = {spec.boot->kernel, spec.boot->initrd, spec.boot->cmdline};
  if (spec.console) c.console_log_file = spec.console->logFile;
  for (const specs::InterfaceSpec& itf : spec.interfaces) {
    providers::InterfaceConfig out;
    out.name = itf.name;
    switch (itf.type) {
      case specs::InterfaceSpec::Type::kUser:
        out.type = providers::InterfaceConfig::Type::kUser;
        break;
      case specs::InterfaceSpec::Type::kBridge:
        out.type = providers::InterfaceConfig::Type::kBridge;
        out.source = itf.bridge;
        break;
      case specs::InterfaceSpec::Type::kNetwork:
        out.type = providers::InterfaceConfig::Type::kNetwork;
        out.source = itf.network;
        break;
    }
    for (const specs::PortForwardSpec& f : itf.portForwards) {
      out.port_forwards.push_back({f.hostAddress, f.hostPort, f.guestPort});
    }
    c.interfaces.push_back(std::move(out));
  }
  return c;
}

std::vector<VmReconciler::Copy> VmReconciler::FindOwnedCopies(const std::string& name) {
  std::vector<Copy> out;
  for (auto& host : ctx_.hosts->HostsWithDomain(name)) {
    auto d = host->Domain(name);
    if (!d) continue;
    providers::DomainInfo info = d->info;
    if (d->stale && host->reachable()) {
      // An event said it changed: read it before deciding anything on it.
      auto fresh = Observe(*host, name, /*force=*/true);
      if (!fresh.ok() || !*fresh) continue;
      info = **fresh;
    }
    if (info.owned) out.push_back({host, std::move(info)});
  }
  return out;
}

StatusOr<std::optional<DomainInfo>> VmReconciler::Observe(HostEntry& host, const std::string& name,
                                                          bool force) {
  if (!force) {
    auto cached = host.Domain(name);
    if (cached && !cached->stale) return std::optional<DomainInfo>(cached->info);
    if (!cached && host.view().synced) return std::optional<DomainInfo>();
  }
  auto fresh = host.connection()->GetDomain(name);
  if (!fresh.ok()) return fresh.status();
  host.UpdateDomain(name, *fresh);
  return *fresh;
}

Status VmReconciler::WriteStatus(const specs::Object& object, const VmStatus& status, bool sync) {
  if (ctx_.on_vm_state) ctx_.on_vm_state(object.metadata.name, status.state);
  specs::Json json = status.ToJson();
  if (!sync && json == object.status) return Status::Ok();
  Status s = ctx_.store->PutStatus(Kind::kVirtualMachine, object.metadata.name, json, sync);
  if (s.code() == StatusCode::kNotFound) return Status::Ok();  // deleted meanwhile
  return s;
}

ReconcileResult VmReconciler::RemoveEverywhere(const std::string& name,
                                               const std::vector<Copy>& copies) {
  Status first_error;
  for (const auto& copy : copies) {
    if (!copy.host->view().reachable) {
      // Cleaned up when the host is back: its sync finds the orphan and enqueues this key.
      continue;
    }
    auto& conn = *copy.host->connection();
    auto observed = Observe(*copy.host, name, /*force=*/true);
    if (!observed.ok()) {
      if (first_error.ok()) first_error = observed.status();
      continue;
    }
    if (!*observed || !(*observed)->owned) continue;
    Status s = conn.DestroyDomain(name);
    if (s.ok()) s = conn.UndefineDomain(name);
    if (!s.ok()) {
      ctx_.events->Warning(Kind::kVirtualMachine, name, "DeleteFailed",
                           "removing from " + copy.host->name() + " failed: " + s.message());
      if (first_error.ok()) first_error = s;
      continue;
    }
    copy.host->UpdateDomain(name, std::nullopt);
    ctx_.events->Normal(Kind::kVirtualMachine, name, "Deleted",
                        "stopped and removed from " + copy.host->name());
  }
  if (auto placed = ctx_.book->Get(name)) ctx_.queue->Add(HostKey(placed->host));
  ctx_.book->Remove(name);
  if (ctx_.on_vm_state) ctx_.on_vm_state(name, "");
  if (!first_error.ok()) return ReconcileResult::Error(first_error);
  return ReconcileResult::Done();
}

VmReconciler::PlaceResult VmReconciler::Place(const specs::Object& object,
                                              const specs::VirtualMachineSpec& spec,
                                              const std::vector<Copy>& copies, VmStatus* status,
                                              Status* error) {
  const std::string& name = object.metadata.name;
  std::string host;
  std::string reason = "Scheduled";
  // Adopt a copy that already exists (the status that named its host was lost, or an earlier
  // controller defined it and died before writing status): never define a second one.
  for (const auto& copy : copies) {
    if (!copy.domain.owned) continue;
    if (!copy.host->reachable()) {
      // A copy on a fenced host is known dead. On a host that merely does not answer it may be
      // running: placing the VM anywhere else now could run it twice.
      if (copy.host->fenced()) continue;
      return PlaceResult::kWait;
    }
    if (host.empty() || IsActive(copy.domain.state)) {
      host = copy.host->name();
      reason = "Adopted";
    }
  }
  if (host.empty()) {
    // Place nothing new before every host has been listed once: an unlisted host may hold a
    // copy of this VM.
    for (const auto& entry : ctx_.hosts->All()) {
      // Listed means listed successfully: a host this controller could never list may hold a
      // running copy (a failed attempt proves nothing), unless it was fenced.
      auto view = entry->view();
      if (!view.synced && !view.fenced) return PlaceResult::kWait;
    }
    SchedulingRequest request{name, object.metadata.labels, &spec};
    auto chosen = ctx_.book->ScheduleAndBook(request, ctx_.hosts->Candidates(name));
    if (!chosen.ok()) {
      const Condition* prev = specs::FindCondition(status->conditions, "Scheduled");
      if (!prev || prev->message != chosen.status().message()) {
        ctx_.events->Warning(Kind::kVirtualMachine, name, "FailedScheduling",
                             chosen.status().message());
      }
      specs::SetCondition(&status->conditions,
                          Cond("Scheduled", false, "Unschedulable", chosen.status().message(),
                               ctx_.clock));
      specs::SetCondition(&status->conditions,
                          Cond("Ready", false, "Unschedulable", "no host can take it", ctx_.clock));
      status->state = "unplaced";
      *error = WriteStatus(object, *status, false);
      return PlaceResult::kUnschedulable;
    }
    host = *chosen;
  } else {
    ctx_.book->Set(name, Placement{host, spec.cpus, spec.memoryMiB, object.metadata.labels});
  }
  status->host = host;
  specs::SetCondition(&status->conditions,
                      Cond("Scheduled", true, reason, "placed on " + host, ctx_.clock));
  // The intent is durable before the domain is defined: a controller killed now resumes on the
  // same host instead of placing the VM a second time elsewhere.
  *error = WriteStatus(object, *status, /*sync=*/true);
  if (!error->ok()) {
    ctx_.book->Remove(name);
    return PlaceResult::kUnschedulable;
  }
  ctx_.events->Normal(Kind::kVirtualMachine, name, reason,
                      (reason == "Adopted" ? "found existing domain on " : "placed on ") + host);
  ctx_.queue->Add(HostKey(host));  // its status shows the new allocation
  return PlaceResult::kPlaced;
}

ReconcileResult VmReconciler::Reconcile(const std::string& name) {
  // Against a failover re-placing this VM meanwhile (see KeyLocks): held from the read of the
  // status to the last write of it.
  KeyLocks::Guard guard = LockIfAny(ctx_.vm_locks, name);
  auto loaded = ctx_.store->Get(Kind::kVirtualMachine, name);
  if (!loaded.ok()) return ReconcileResult::Error(loaded.status());
  std::vector<Copy> copies = FindOwnedCopies(name);
  if (!*loaded) return RemoveEverywhere(name, copies);
  const specs::Object& object = **loaded;
  auto spec_or = specs::VirtualMachineSpecFromJson(object.spec);
  if (!spec_or.ok()) return ReconcileResult::Error(spec_or.status());
  const specs::VirtualMachineSpec& spec = *spec_or;
  const int64_t generation = object.metadata.generation;
  VmStatus status = VmStatus::FromJson(object.status);

  // 1. Placement.
  if (status.host.empty()) {
    Status error;
    PlaceResult placed = Place(object, spec, copies, &status, &error);
    if (!error.ok()) return ReconcileResult::Error(error);
    if (placed == PlaceResult::kWait) return ReconcileResult::After(kHostNotSyncedRetry);
    if (placed == PlaceResult::kUnschedulable) return ReconcileResult::After(kUnschedulableRetry);
  } else {
    ctx_.book->Set(name, Placement{status.host, spec.cpus, spec.memoryMiB, object.metadata.labels});
  }
  auto host = ctx_.hosts->Get(status.host);
  if (!host) {
    // Only reachable if the Host object vanished under a placed VM, which apply refuses.
    specs::SetCondition(&status.conditions,
                        Cond("Ready", false, "HostMissing",
                             "host " + status.host + " is not declared", ctx_.clock));
    Status s = WriteStatus(object, status, false);
    return s.ok() ? ReconcileResult::After(kUnschedulableRetry) : ReconcileResult::Error(s);
  }

  // 2. Stray copies elsewhere go (safety: a VM runs on one host only).
  for (const auto& copy : copies) {
    if (copy.host->name() == status.host || !copy.host->view().reachable) continue;
    auto observed = Observe(*copy.host, name, /*force=*/true);
    if (!observed.ok() || !*observed || !(*observed)->owned) continue;
    auto& conn = *copy.host->connection();
    Status s = conn.DestroyDomain(name);
    if (s.ok()) s = conn.UndefineDomain(name);
    if (!s.ok()) return ReconcileResult::Error(s);
    copy.host->UpdateDomain(name, std::nullopt);
    ctx_.events->Warning(Kind::kVirtualMachine, name, "DuplicateRemoved",
                         "removed a stray copy from " + copy.host->name() + " (placed on " +
                             status.host + ")");
  }

  // 3. Observe the domain on its host.
  auto view = host->view();
  if (!view.sync_attempted) return ReconcileResult::After(kHostNotSyncedRetry);
  if (view.reachable && !host->connection()->IsAlive()) {
    // The connection died since the last sync (keepalive, EOF). Another call would only wait
    // for its timeout and hold this worker: let the host's reconcile find out what happened.
    ctx_.queue->Add(HostKey(status.host));
    view.reachable = false;
  }
  if (!view.reachable) {
    status.state = "unknown";
    specs::SetCondition(&status.conditions,
                        Cond("Ready", false, "HostUnreachable",
                             "host " + status.host + " does not answer", ctx_.clock));
    Status s = WriteStatus(object, status, false);
    return s.ok() ? ReconcileResult::Done() : ReconcileResult::Error(s);
  }
  auto& conn = *host->connection();
  auto observed = Observe(*host, name, /*force=*/false);
  if (!observed.ok()) return ReconcileResult::Error(observed.status());
  std::optional<DomainInfo> domain = std::move(*observed);
  if (domain && !domain->owned) {
    specs::SetCondition(&status.conditions,
                        Cond("Ready", false, "NameConflict",
                             "a domain named " + name + " that vmkeeper does not own exists on " +
                                 status.host,
                             ctx_.clock));
    Status s = WriteStatus(object, status, false);
    return s.ok() ? ReconcileResult::After(kNameConflictRetry) : ReconcileResult::Error(s);
  }

  // 4. Definition.
  providers::DomainConfig desired = DesiredDomainConfig(name, spec, generation);
  bool acted = false;
  if (!domain) {
    Status s = conn.DefineDomain(desired);
    if (!s.ok()) {
      ctx_.events->Warning(Kind::kVirtualMachine, name, "DefineFailed",
                           "defining on " + status.host + " failed: " + s.message());
      return ReconcileResult::Error(s);
    }
    ctx_.events->Normal(Kind::kVirtualMachine, name, "Defined",
                        "defined on " + status.host + " (generation " +
                            std::to_string(generation) + ")");
    acted = true;
  } else if (!domain->config || !domain->config->SameManagedConfig(desired) ||
             domain->config->generation != generation) {
    bool edited_behind_our_back = domain->config && domain->config->generation == generation;
    Status s = conn.DefineDomain(desired);
    if (!s.ok()) {
      ctx_.events->Warning(Kind::kVirtualMachine, name, "DefineFailed",
                           "redefining on " + status.host + " failed: " + s.message());
      return ReconcileResult::Error(s);
    }
    if (edited_behind_our_back) {
      ctx_.events->Warning(Kind::kVirtualMachine, name, "DefinitionRestored",
                           "the definition on " + status.host +
                               " was changed outside vmkeeper; restored generation " +
                               std::to_string(generation));
    } else {
      ctx_.events->Normal(Kind::kVirtualMachine, name, "Updated",
                          "definition on " + status.host + " updated to generation " +
                              std::to_string(generation));
    }
    acted = true;
  }
  if (acted) {
    auto refreshed = Observe(*host, name, /*force=*/true);
    if (!refreshed.ok()) return ReconcileResult::Error(refreshed.status());
    domain = std::move(*refreshed);
    if (!domain) return ReconcileResult::Error(Status::Internal("domain vanished after define"));
    acted = false;
  }

  // 5. Power state.
  std::optional<Duration> requeue;
  const bool active = IsActive(domain->state);
  if (spec.running) {
    status.stopRequestedAt.clear();
    if (active && domain->live_generation != 0 && domain->live_generation != generation) {
      Status s = conn.DestroyDomain(name);
      if (s.ok()) s = conn.StartDomain(name);
      if (!s.ok()) {
        ctx_.events->Warning(Kind::kVirtualMachine, name, "RestartFailed",
                             "restart for generation " + std::to_string(generation) + " on " +
                                 status.host + " failed: " + s.message());
        return ReconcileResult::Error(s);
      }
      ctx_.events->Normal(Kind::kVirtualMachine, name, "RestartedForUpdate",
                          "restarted on " + status.host + " to run generation " +
                              std::to_string(generation));
      acted = true;
    } else if (active && spec.health && ctx_.vm_health &&
               ctx_.vm_health->Get(name).value_or(VmHealthBook::Snapshot{}).health ==
                   providers::ProbeHealth::kUnhealthy) {
      // Running but its service fails its probes: restart it, within spec.restart's limit.
      auto health = *ctx_.vm_health->Get(name);
      RestartVerdict verdict = MayRestart(name, spec, &status);
      if (!verdict.allowed) {
        (void)WriteStatus(object, status, false);
        return verdict.wait ? ReconcileResult::After(*verdict.wait) : ReconcileResult::Done();
      }
      if (Status s = RecordRestartIntent(object, status); !s.ok()) return ReconcileResult::Error(s);
      if (ctx_.incidents) {
        auto incident = ctx_.incidents->Open(Kind::kVirtualMachine, name, "VmUnhealthy",
                                             health.failure_began.value_or(ctx_.clock->WallNow()),
                                             "probe");
        if (!incident.ok()) return ReconcileResult::Error(incident.status());
      }
      Status s = conn.DestroyDomain(name);
      if (s.ok()) s = conn.StartDomain(name);
      if (!s.ok()) {
        ctx_.events->Warning(Kind::kVirtualMachine, name, "RestartFailed",
                             "restart on " + status.host + " failed: " + s.message());
        return ReconcileResult::Error(s);
      }
      ++status.restartCount;
      ctx_.vm_health->Started(name);
      ctx_.events->Warning(Kind::kVirtualMachine, name, "RestartedUnhealthy",
                           "its health probe failed (" + health.last_message + "); restarted on " +
                               status.host);
      if (ctx_.incidents) {
        (void)ctx_.incidents->AddAction(Kind::kVirtualMachine, name, "restarted on " + status.host);
      }
      acted = true;
    } else if (!active) {
      // It ran as declared before and we did not stop it: somebody or something else did. (Or
      // it failed before and its restart is being held back: that restart counts too.)
      const specs::Condition* was_ready = specs::FindCondition(status.conditions, "Ready");
      const bool unexpected = status.state == "running" ||
                              (was_ready && (was_ready->reason == "BackOff" ||
                                             was_ready->reason == "RestartLimitReached"));
      const std::string found = providers::DomainStateName(domain->state);
      if (unexpected && ctx_.incidents) {
        // The lifecycle event's arrival is the best evidence of when it stopped. The incident
        // is open from now on, whether or not the restart below may happen.
        auto cached = host->Domain(name);
        WallTime occurred = cached && cached->last_event.time_since_epoch().count() != 0
                                ? cached->last_event
                                : ctx_.clock->WallNow();
        const bool crashed = domain->state == providers::DomainState::kCrashed ||
                             (cached && cached->last_event_type == providers::DomainEventType::kCrashed);
        auto incident = ctx_.incidents->Open(Kind::kVirtualMachine, name,
                                             crashed ? "VmCrashed" : "VmStopped", occurred, "libvirt");
        if (!incident.ok()) return ReconcileResult::Error(incident.status());
      }
      if (unexpected) {
        RestartVerdict verdict = MayRestart(name, spec, &status);
        if (!verdict.allowed) {
          status.state = found;
          (void)WriteStatus(object, status, false);
          return verdict.wait ? ReconcileResult::After(*verdict.wait) : ReconcileResult::Done();
        }
        if (Status s = RecordRestartIntent(object, status); !s.ok()) return ReconcileResult::Error(s);
      }
      Status s = conn.StartDomain(name);
      if (!s.ok()) {
        ctx_.events->Warning(Kind::kVirtualMachine, name, "StartFailed",
                             "starting on " + status.host + " failed: " + s.message());
        specs::SetCondition(&status.conditions,
                            Cond("Ready", false, "StartFailed", s.message(), ctx_.clock));
        status.state = found;
        (void)WriteStatus(object, status, false);
        return ReconcileResult::Error(s);
      }
      if (ctx_.vm_health) ctx_.vm_health->Started(name);
      if (unexpected) {
        ++status.restartCount;
        ctx_.events->Warning(Kind::kVirtualMachine, name, "Restarted",
                             "found " + found + " on " + status.host +
                                 " while it should run; started it again");
        if (ctx_.incidents) {
          (void)ctx_.incidents->AddAction(Kind::kVirtualMachine, name,
                                          "started again on " + status.host);
        }
      } else {
        ctx_.events->Normal(Kind::kVirtualMachine, name, "Started", "started on " + status.host);
      }
      acted = true;
    }
  } else if (active) {
    WallTime now = ctx_.clock->WallNow();
    WallTime requested;
    if (status.stopRequestedAt.empty() || !ParseRfc3339(status.stopRequestedAt, &requested)) {
      Status s = conn.ShutdownDomain(name);
      if (!s.ok()) return ReconcileResult::Error(s);
      status.stopRequestedAt = FormatRfc3339(now);
      ctx_.events->Normal(Kind::kVirtualMachine, name, "Stopping",
                          "asked the guest on " + status.host + " to shut down");
      requeue = ctx_.stop_grace;
    } else if (now - requested >= ctx_.stop_grace) {
      Status s = conn.DestroyDomain(name);
      if (!s.ok()) return ReconcileResult::Error(s);
      ctx_.events->Warning(Kind::kVirtualMachine, name, "StoppedForcefully",
                           "the guest did not shut down within " +
                               std::to_string(ctx_.stop_grace.count()) + "s; powered off");
    } else {
      requeue = std::chrono::duration_cast<Duration>(ctx_.stop_grace - (now - requested));
    }
    acted = true;
  }
  if (acted) {
    auto refreshed = Observe(*host, name, /*force=*/true);
    if (!refreshed.ok()) return ReconcileResult::Error(refreshed.status());
    domain = std::move(*refreshed);
    if (!domain) return ReconcileResult::Error(Status::Internal("domain vanished after start"));
  }

  // 6. Status.
  const bool now_active = IsActive(domain->state);
  if (!now_active) status.stopRequestedAt.clear();
  status.state = providers::DomainStateName(domain->state);
  status.observedGeneration = generation;
  status.message.clear();
  const bool config_current = domain->config && domain->config->generation == generation;
  if (spec.running) {
    bool ready = now_active && config_current &&
                 (domain->live_generation == 0 || domain->live_generation == generation);
    std::string reason = ready ? "Running" : "NotRunning";
    std::string message =
        ready ? "running on " + status.host : std::string("domain is ") + status.state;
    if (ready && spec.health && ctx_.vm_health && ctx_.prober) {
      // Ready means its service answers, not only that the domain runs.
      // A new tracker starts the VM's probe loop; Probe() keeps it going from then on.
      if (ctx_.vm_health->Configure(name, ProbeSettingsOf(*spec.health))) {
        (ctx_.probe_queue ? ctx_.probe_queue : ctx_.queue)->Add(ProbeKey(name));
      }
      auto health = ctx_.vm_health->Get(name).value_or(VmHealthBook::Snapshot{});
      if (health.health != providers::ProbeHealth::kHealthy) {
        ready = false;
        reason = health.health == providers::ProbeHealth::kUnhealthy ? "Unhealthy" : "Starting";
        message = "health probe: " +
                  (health.last_message.empty() ? std::string("no answer yet") : health.last_message);
      }
    }
    specs::SetCondition(&status.conditions, Cond("Ready", ready, reason, message, ctx_.clock));
  } else {
    bool ready = !now_active && config_current;
    specs::SetCondition(&status.conditions,
                        Cond("Ready", ready, ready ? "Stopped" : "Stopping",
                             ready ? "stopped as declared" : "shutting down", ctx_.clock));
  }
  Status s = WriteStatus(object, status, false);
  if (!s.ok()) return ReconcileResult::Error(s);
  const specs::Condition* ready = specs::FindCondition(status.conditions, "Ready");
  if (ctx_.incidents && spec.running && ready && ready->status == "True") {
    auto resolved = ctx_.incidents->Resolve(Kind::kVirtualMachine, name);
    if (!resolved.ok()) return ReconcileResult::Error(resolved.status());
    if (resolved->has_value()) {
      WallTime occurred, recovered;
      std::string took;
      if (ParseRfc3339((*resolved)->occurred, &occurred) &&
          ParseRfc3339((*resolved)->recovered, &recovered)) {
        took = " " + std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                        recovered - occurred).count()) + " ms after it failed";
      }
      ctx_.events->Normal(Kind::kVirtualMachine, name, "Recovered",
                          "running on " + status.host + took + " (incident " +
                              (*resolved)->id + ", " + (*resolved)->type + ")");
    }
  }
  if (requeue) return ReconcileResult::After(*requeue);
  return ReconcileResult::Done();
}

Status VmReconciler::RecordRestartIntent(const specs::Object& object, const VmStatus& status) {
  // Intent first: the restart MayRestart just counted is durable before it is made. Written
  // after it instead, an error in between (a failed re-read) or a controller killed there lost
  // it, and each such loss allowed one restart more than spec.restart.limit (found by the
  // simulation, seed 41).
  return WriteStatus(object, status, /*sync=*/true);
}

VmReconciler::RestartVerdict VmReconciler::MayRestart(const std::string& name,
                                                      const specs::VirtualMachineSpec& spec,
                                                      VmStatus* status) {
  const WallTime now = ctx_.clock->WallNow();
  const auto window = std::chrono::seconds(spec.restart.windowSeconds);
  std::vector<std::string> recent;
  WallTime oldest = now, last{};
  for (const auto& text : status->restartTimes) {
    WallTime t;
    if (!ParseRfc3339(text, &t) || now - t >= window) continue;
    recent.push_back(text);
    oldest = std::min(oldest, t);
    last = std::max(last, t);
  }
  status->restartTimes = recent;
  RestartVerdict verdict;
  if (static_cast<int>(recent.size()) >= spec.restart.limit) {
    verdict.gave_up = true;
    const specs::Condition* ready = specs::FindCondition(status->conditions, "Ready");
    std::string message = "restarted " + std::to_string(recent.size()) + " times within " +
                          std::to_string(spec.restart.windowSeconds) + "s (spec.restart.limit " +
                          std::to_string(spec.restart.limit) + "); not restarting it again now";
    if (!ready || ready->reason != "RestartLimitReached") {
      ctx_.events->Warning(Kind::kVirtualMachine, name, "RestartLimitReached", message);
    }
    specs::SetCondition(&status->conditions,
                        Cond("Ready", false, "RestartLimitReached", message, ctx_.clock));
    // Allowed again once the oldest restart leaves the window.
    verdict.wait = std::chrono::duration_cast<Duration>(window - (now - oldest));
    return verdict;
  }
  if (!recent.empty()) {
    // 5 s, 10 s, 20 s, ... up to 5 min between failure restarts.
    Duration backoff = std::chrono::seconds(5);
    for (size_t i = 1; i < recent.size() && backoff < std::chrono::minutes(5); ++i) backoff *= 2;
    backoff = std::min<Duration>(backoff, std::chrono::minutes(5));
    if (now - last < backoff) {
      verdict.wait = std::chrono::duration_cast<Duration>(backoff - (now - last));
      specs::SetCondition(&status->conditions,
                          Cond("Ready", false, "BackOff",
                               "failed again; restarting it in " +
                                   std::to_string(std::chrono::duration_cast<std::chrono::seconds>(
                                                      *verdict.wait).count() + 1) + "s",
                               ctx_.clock));
      return verdict;
    }
  }
  status->restartTimes.push_back(FormatRfc3339(now));
  verdict.allowed = true;
  return verdict;
}

ReconcileResult VmReconciler::Probe(const std::string& name) {
  if (!ctx_.vm_health || !ctx_.prober) return ReconcileResult::Done();
  auto loaded = ctx_.store->Get(Kind::kVirtualMachine, name);
  if (!loaded.ok()) return ReconcileResult::Error(loaded.status());
  if (!*loaded) {
    ctx_.vm_health->Remove(name);
    return ReconcileResult::Done();
  }
  auto spec = specs::VirtualMachineSpecFromJson((*loaded)->spec);
  if (!spec.ok()) return ReconcileResult::Error(spec.status());
  if (!spec->health || !spec->running) {
    ctx_.vm_health->Remove(name);
    return ReconcileResult::Done();
  }
  const providers::ProbeSettings settings = ProbeSettingsOf(*spec->health);
  ctx_.vm_health->Configure(name, settings);
  if (VmStatus::FromJson((*loaded)->status).state != "running") {
    return ReconcileResult::After(settings.period);  // nothing to probe while it does not run
  }
  if (!ctx_.vm_health->BeginProbeIfDue(name)) {
    auto snapshot = ctx_.vm_health->Get(name);
    Duration wait = snapshot && snapshot->next_probe ? *snapshot->next_probe - ctx_.clock->Now()
                                                     : settings.period;
    return ReconcileResult::After(std::max<Duration>(wait, std::chrono::milliseconds(10)));
  }
  providers::ProbeResult result = ctx_.prober->Probe(ProbeSpecOf(*spec->health, name));
  providers::ProbeUpdate update = ctx_.vm_health->Record(name, result);
  if (update.changed()) {
    if (update.current == providers::ProbeHealth::kUnhealthy) {
      ctx_.events->Warning(Kind::kVirtualMachine, name, "Unhealthy",
                           "health probe failed " + std::to_string(spec->health->failureThreshold) +
                               " times: " + result.message);
    } else if (update.current == providers::ProbeHealth::kHealthy &&
               update.previous == providers::ProbeHealth::kUnhealthy) {
      ctx_.events->Normal(Kind::kVirtualMachine, name, "Healthy", "health probe passes again");
    }
    ctx_.queue->Add(VmKey(name));
  }
  return ReconcileResult::After(settings.period);
}

}  // namespace vmk::reconciler
