#include "reconciler/host/host_reconciler.h"

#include "common/log.h"

#include <algorithm>

namespace vmk::reconciler {

using specs::Condition;
using specs::Kind;

namespace {
// How often a failed host is asked whether it is back.
constexpr auto kReconnectInterval = std::chrono::seconds(5);
}  // namespace

ReconcileResult HostReconciler::Heartbeat(const std::string& name) {
  auto entry = ctx_.hosts->Get(name);
  if (!entry || !ctx_.health) return ReconcileResult::Done();
  auto& conn = *entry->connection();
  Status beat = conn.IsAlive() ? conn.CheckAlive() : Status::Unavailable("not connected");
  auto [before, after] =
      beat.ok() ? ctx_.health->RecordSuccess(name, ctx_.clock->Now(), ctx_.clock->WallNow())
                : ctx_.health->RecordFailure(name, ctx_.clock->Now(), beat.message());
  if (before != after) {
    ReportHealthChange(name, after, beat.message());
    ctx_.queue->Add(HostKey(name));
  }
  return ReconcileResult::After(ctx_.health->NextHeartbeatIn(name, ctx_.clock->Now()));
}

void HostReconciler::ReportHealthChange(const std::string& name, HostHealthState now,
                                        const std::string& error) {
  if (now == HostHealthState::kSuspect) {
    ctx_.events->Warning(Kind::kHost, name, "HostSuspect", "heartbeat failed: " + error);
  } else if (now == HostHealthState::kNotReady) {
    ctx_.events->Warning(Kind::kHost, name, "HostNotReady",
                         std::to_string(ctx_.health->Get(name).consecutive_failures) +
                             " heartbeats failed: " + error);
  }
}

ReconcileResult HostReconciler::Remove(const std::string& name) {
  auto entry = ctx_.hosts->Get(name);
  if (!entry) return ReconcileResult::Done();
  auto& conn = *entry->connection();
  if (conn.IsAlive() || conn.Connect().ok()) {
    auto domains = conn.ListDomains();
    if (domains.ok()) {
      for (const auto& d : *domains) {
        if (!d.owned) continue;
        // Apply refuses to delete a host that live VMs are placed on, so what is left here
        // belongs to VMs deleted together with the host, or is a stray copy.
        auto vm = ctx_.store->Get(Kind::kVirtualMachine, d.name);
        if (!vm.ok()) return ReconcileResult::Error(vm.status());
        if (*vm && VmStatus::FromJson((*vm)->status).host == name) continue;
        Status s = conn.DestroyDomain(d.name);
        if (s.ok()) s = conn.UndefineDomain(d.name);
        if (!s.ok()) return ReconcileResult::Error(s);
        ctx_.events->Normal(Kind::kVirtualMachine, d.name, "Deleted",
                            "stopped and removed from " + name + " (host removed)");
      }
    }
  } else {
    log::Warning("host removed while unreachable; its domains were not cleaned up",
                 {{"host", name}});
  }
  ctx_.hosts->Remove(name);
  if (ctx_.health) ctx_.health->Remove(name);
  if (metrics_) metrics_->RemoveHost(name);
  ctx_.events->Normal(Kind::kHost, name, "HostRemoved", "connection closed");
  return ReconcileResult::Done();
}

ReconcileResult HostReconciler::Reconcile(const std::string& name) {
  auto loaded = ctx_.store->Get(Kind::kHost, name);
  if (!loaded.ok()) return ReconcileResult::Error(loaded.status());
  if (!*loaded) return Remove(name);
  const specs::Object& object = **loaded;
  auto spec = specs::HostSpecFromJson(object.spec);
  if (!spec.ok()) return ReconcileResult::Error(spec.status());
  auto entry = ctx_.hosts->Upsert(name, *spec, object.metadata.labels);
  auto& conn = *entry->connection();
  HostStatus status = HostStatus::FromJson(object.status);
  const std::string now = FormatRfc3339(ctx_.clock->WallNow());
  if (ctx_.health && ctx_.health->Get(name).state == HostHealthState::kNotReady) {
    // Only a fresh connection that answers a listing brings it back; otherwise handle the failure
    // and look again soon (heartbeats do not reconnect: a dead host would stall them).
    bool back = false;
    if (conn.IsAlive() || conn.Connect().ok()) back = conn.ListDomains().ok();
    if (!back) {
      ReconcileResult r = HandleFailure(object, *spec, *entry, std::move(status));
      if (r.status.ok() && !r.requeue_after) r.requeue_after = kReconnectInterval;
      return r;
    }
    ctx_.health->RecordSuccess(name, ctx_.clock->Now(), ctx_.clock->WallNow());
  }
  // A failover recorded before a controller restart: until this host answers again, its
  // domains count as dead (it was fenced), whatever the fresh heartbeat book says.
  entry->SetFenced(status.failover.phase == "Relocating" || status.failover.phase == "Relocated");

  Status failure = conn.IsAlive() ? Status::Ok() : conn.Connect();
  StatusOr<std::vector<providers::DomainInfo>> domains = Status::Internal("not listed");
  StatusOr<providers::HostInfo> info = Status::Internal("not read");
  if (failure.ok()) {
    domains = conn.ListDomains();
    if (!domains.ok()) failure = domains.status();
  }
  if (failure.ok()) {
    info = conn.GetHostInfo();
    if (!info.ok()) failure = info.status();
  }

  if (!failure.ok() && ctx_.health) {
    auto [before, after] = ctx_.health->RecordFailure(name, ctx_.clock->Now(), failure.message());
    if (before != after) ReportHealthChange(name, after, failure.message());
    if (after == HostHealthState::kNotReady) {
      // This failure crossed the threshold: fail over now, not at the next retry of this key
      // (up to seconds away with backoff), and not never (the next heartbeat sees no change).
      ReconcileResult r = HandleFailure(object, *spec, *entry, std::move(status));
      if (r.status.ok() && !r.requeue_after) r.requeue_after = kReconnectInterval;
      return r;
    }
  }
  if (!failure.ok()) {
    const bool first = !entry->view().sync_attempted;
    const bool was_reachable = entry->SetUnreachable();
    if (metrics_) metrics_->SetHostUp(name, false);
    if (was_reachable || first) {
      ctx_.events->Warning(Kind::kHost, name, "HostUnreachable",
                           "cannot reach " + spec->uri + ": " + failure.message());
    }
    if (was_reachable) {
      for (const auto& vm : ctx_.book->VmsOn(name)) ctx_.queue->Add(VmKey(vm));
    }
    specs::SetCondition(&status.conditions,
                        Condition{"Ready", "False", "Unreachable", failure.message(), now});
    Status s = ctx_.store->PutStatus(Kind::kHost, name, status.ToJson(), false);
    if (!s.ok() && s.code() != StatusCode::kNotFound) return ReconcileResult::Error(s);
    return ReconcileResult::Error(failure);
  }

  if (ctx_.health) ctx_.health->RecordSuccess(name, ctx_.clock->Now(), ctx_.clock->WallNow());
  if (!status.failover.phase.empty()) {
    // Back after a failure: first remove the copies of VMs that now run elsewhere, then use it.
    auto removed = RemoveStaleCopies(name, conn, *domains);
    if (!removed.ok()) return ReconcileResult::Error(removed.status());
    std::erase_if(*domains, [&](const providers::DomainInfo& d) {
      return std::find(removed->begin(), removed->end(), d.name) != removed->end();
    });
    ctx_.events->Normal(Kind::kHost, name, "HostRecovered",
                        "answers again; removed " + std::to_string(removed->size()) +
                            " stale cop" + (removed->size() == 1 ? "y" : "ies") +
                            " of VMs that failed over");
    // The incident closes before the failover record does: a controller killed in between
    // finds the record and closes it again (both are idempotent), never an orphan incident.
    if (ctx_.incidents) {
      auto resolved = ctx_.incidents->Resolve(Kind::kHost, name);
      if (!resolved.ok()) return ReconcileResult::Error(resolved.status());
    }
    status.failover = {};
    specs::SetCondition(&status.conditions,
                        Condition{"Fenced", "False", "Recovered", "host is back and clean", now});
    Status s = WriteStatus(name, status, /*sync=*/true);
    if (!s.ok()) return ReconcileResult::Error(s);
    entry->SetFenced(false);
  } else if (ctx_.incidents && ctx_.incidents->OpenIncident(Kind::kHost, name)) {
    // A failure that never got as far as a failover record (a controller killed between opening
    // the incidents and writing it, or an alert about a host that answers): it is over.
    auto resolved = ctx_.incidents->Resolve(Kind::kHost, name);
    if (!resolved.ok()) return ReconcileResult::Error(resolved.status());
  }
  const bool was_reachable = entry->view().reachable;
  std::vector<std::string> to_check;
  for (const auto& d : *domains) {
    if (!d.owned) continue;
    auto placement = ctx_.book->Get(d.name);
    if (!placement || placement->host != name) to_check.push_back(d.name);
  }
  entry->SetListing(std::move(*domains), *info);
  if (metrics_) metrics_->SetHostUp(name, true);
  if (!was_reachable) {
    ctx_.events->Normal(Kind::kHost, name, "HostReady",
                        "connected to " + spec->uri + " (" + info->hypervisor + ", " +
                            std::to_string(info->cpus) + " CPUs, " +
                            std::to_string(info->memoryMiB) + " MiB)");
    for (const auto& vm : ctx_.book->VmsOn(name)) ctx_.queue->Add(VmKey(vm));
  }
  for (const auto& vm : to_check) ctx_.queue->Add(VmKey(vm));

  specs::SetCondition(&status.conditions,
                      Condition{"Ready", "True", "Connected", "hypervisor answers", now});
  status.capacity = entry->Capacity();
  status.allocated = ctx_.book->Allocated(name);
  status.vms = ctx_.book->CountOn(name);
  status.hypervisor = info->hypervisor;
  // lastSeen alone changes every pass: rewrite for it only once a minute, not 1,000 writes a pass.
  specs::Json before = object.status;
  WallTime last_seen;
  const bool fresh = ParseRfc3339(status.lastSeen, &last_seen) &&
                     ctx_.clock->WallNow() - last_seen < std::chrono::seconds(60);
  status.lastSeen = now;
  specs::Json after = status.ToJson();
  if (before.is_object()) before.erase("lastSeen");
  specs::Json compared = after;
  compared.erase("lastSeen");
  if (fresh && before == compared) return ReconcileResult::Done();
  Status s = ctx_.store->PutStatus(Kind::kHost, name, after, false);
  if (!s.ok() && s.code() != StatusCode::kNotFound) return ReconcileResult::Error(s);
  return ReconcileResult::Done();
}

Status HostReconciler::WriteStatus(const std::string& host, const HostStatus& status, bool sync) {
  Status s = ctx_.store->PutStatus(Kind::kHost, host, status.ToJson(), sync);
  return s.code() == StatusCode::kNotFound ? Status::Ok() : s;
}

StatusOr<std::vector<std::string>> HostReconciler::RemoveStaleCopies(
    const std::string& host, providers::Hypervisor& conn,
    const std::vector<providers::DomainInfo>& domains) {
  std::vector<std::string> removed;
  for (const auto& d : domains) {
    if (!d.owned) continue;
    auto vm = ctx_.store->Get(Kind::kVirtualMachine, d.name);
    if (!vm.ok()) return vm.status();
    if (*vm && VmStatus::FromJson((*vm)->status).host == host) continue;
    Status s = conn.DestroyDomain(d.name);
    if (s.ok()) s = conn.UndefineDomain(d.name);
    if (!s.ok()) return s.WithContext("removing the stale copy of " + d.name + " from " + host);
    ctx_.events->Normal(Kind::kVirtualMachine, d.name, "StaleCopyRemoved",
                        "removed the copy left on " + host + " after it failed over");
    removed.push_back(d.name);
  }
  return removed;
}

ReconcileResult HostReconciler::HandleFailure(const specs::Object& object,
                                              const specs::HostSpec& spec, HostEntry& entry,
                                              HostStatus status) {
  const std::string& name = object.metadata.name;
  const WallTime wall_now = ctx_.clock->WallNow();
  const std::string now = FormatRfc3339(wall_now);
  const auto health = ctx_.health->Get(name);
  if (entry.SetUnreachable()) {
    for (const auto& vm : ctx_.book->VmsOn(name)) ctx_.queue->Add(VmKey(vm));
  }
  if (metrics_) metrics_->SetHostUp(name, false);
  specs::SetCondition(&status.conditions,
                      Condition{"Ready", "False", "NotReady",
                                std::to_string(health.consecutive_failures) +
                                    " heartbeats failed: " + health.last_error,
                                now});
  const std::vector<std::string> vms = ctx_.book->VmsOn(name);

  if (status.failover.phase.empty()) {
    if (vms.empty()) {
      Status s = WriteStatus(name, status, false);
      return s.ok() ? ReconcileResult::Done() : ReconcileResult::Error(s);
    }
    if (ctx_.incidents) {
      // The host's incident holds the earliest evidence from any source (an alert's startsAt
      // may come before the last good heartbeat); its VMs' incidents start there too. Opened
      // before the failover record and made durable by its synced write (one sync, not one per
      // VM); a controller killed before that write opens them again (Open joins).
      WallTime occurred = health.ever_good ? health.last_good : wall_now;
      auto host_incident = ctx_.incidents->Open(Kind::kHost, name, "HostFailure", occurred,
                                                "heartbeat", /*sync=*/false);
      if (!host_incident.ok()) return ReconcileResult::Error(host_incident.status());
      ParseRfc3339(host_incident->occurred, &occurred);
      for (const auto& vm : vms) {
        auto i = ctx_.incidents->Open(Kind::kVirtualMachine, vm, "HostFailure", occurred,
                                      "heartbeat", /*sync=*/false);
        if (!i.ok()) return ReconcileResult::Error(i.status());
      }
    }
    status.failover = {"Fencing", now, ""};
    Status s = WriteStatus(name, status, /*sync=*/true);
    if (!s.ok()) return ReconcileResult::Error(s);
    std::string last_good = health.ever_good ? FormatRfc3339(health.last_good) : "never";
    ctx_.events->Warning(Kind::kHost, name, "HostFailed",
                         "host does not answer (last good heartbeat " + last_good + "): failing over " +
                             std::to_string(vms.size()) + " VM" + (vms.size() == 1 ? "" : "s"));
  }

  if (status.failover.phase == "Fencing") {
    const Condition* before = specs::FindCondition(status.conditions, "Fenced");
    if (spec.fencing) {
      providers::FenceRequest request{name, spec.fencing->agent, spec.fencing->args,
                                      std::chrono::seconds(spec.fencing->timeoutSeconds)};
      Status fenced = ctx_.fencer ? ctx_.fencer->Fence(request)
                                  : Status::FailedPrecondition("no fencer is configured");
      if (metrics_) metrics_->CountFencing(name, fenced.ok());
      if (!fenced.ok()) {
        // Nothing fails over: a VM must never run twice. Loudly, and retried with backoff.
        if (!before || before->reason != "FencingFailed" || before->message != fenced.message()) {
          ctx_.events->Warning(Kind::kHost, name, "FencingFailed",
                               "fencing with " + spec.fencing->agent + " failed, no failover: " +
                                   fenced.message());
        }
        specs::SetCondition(&status.conditions,
                            Condition{"Fenced", "False", "FencingFailed", fenced.message(), now});
        Status s = WriteStatus(name, status, false);
        if (!s.ok()) return ReconcileResult::Error(s);
        return ReconcileResult::Error(fenced.WithContext("fencing " + name));
      }
      status.failover.fencedBy = spec.fencing->agent;
      specs::SetCondition(&status.conditions,
                          Condition{"Fenced", "True", "FenceAgent",
                                    "powered off by " + spec.fencing->agent, now});
      ctx_.events->Normal(Kind::kHost, name, "HostFenced", "powered off by " + spec.fencing->agent);
    } else if (spec.acknowledgeUnsafe) {
      status.failover.fencedBy = "acknowledgeUnsafe";
      specs::SetCondition(&status.conditions,
                          Condition{"Fenced", "True", "AcknowledgedUnsafe",
                                    "no fencing; failover allowed by spec.acknowledgeUnsafe", now});
      ctx_.events->Warning(Kind::kHost, name, "FailoverWithoutFencing",
                           "failing over without fencing, as spec.acknowledgeUnsafe allows");
    } else {
      if (!before || before->reason != "NoFencing") {
        ctx_.events->Warning(Kind::kHost, name, "FailoverBlocked",
                             "no fencing configured and spec.acknowledgeUnsafe is false: its VMs "
                             "stay until the host answers again");
      }
      specs::SetCondition(&status.conditions,
                          Condition{"Fenced", "False", "NoFencing",
                                    "no spec.fencing and spec.acknowledgeUnsafe is false", now});
      Status s = WriteStatus(name, status, false);
      return s.ok() ? ReconcileResult::Done() : ReconcileResult::Error(s);
    }
    if (ctx_.incidents) {
      // Made durable by the synced write of the Relocating record below.
      for (const auto& vm : vms) {
        (void)ctx_.incidents->AddAction(Kind::kVirtualMachine, vm, "fenced " + name, /*sync=*/false);
      }
    }
    status.failover.phase = "Relocating";
    Status s = WriteStatus(name, status, /*sync=*/true);
    if (!s.ok()) return ReconcileResult::Error(s);
  }

  entry.SetFenced(true);
  if (status.failover.phase == "Relocating") {
    ReconcileResult r = Relocate(name, &status);
    if (!r.status.ok()) return r;
    status.failover.phase = "Relocated";
    Status s = WriteStatus(name, status, /*sync=*/true);
    if (!s.ok()) return ReconcileResult::Error(s);
    ctx_.events->Normal(Kind::kHost, name, "FailoverComplete",
                        "its VMs were placed on other hosts");
    return ReconcileResult::Done();
  }
  Status s = WriteStatus(name, status, false);
  return s.ok() ? ReconcileResult::Done() : ReconcileResult::Error(s);
}

ReconcileResult HostReconciler::Relocate(const std::string& host, HostStatus* status) {
  struct Moving {
    specs::Object object;
    specs::VirtualMachineSpec spec;
  };
  std::vector<Moving> moving;
  for (const auto& vm : ctx_.book->VmsOn(host)) {
    auto loaded = ctx_.store->Get(Kind::kVirtualMachine, vm);
    if (!loaded.ok()) return ReconcileResult::Error(loaded.status());
    if (!*loaded) continue;
    auto spec = specs::VirtualMachineSpecFromJson((*loaded)->spec);
    if (!spec.ok()) return ReconcileResult::Error(spec.status());
    moving.push_back({std::move(**loaded), std::move(*spec)});
  }
  // Highest priority first: when capacity is short, the lowest are the ones left unplaced.
  std::sort(moving.begin(), moving.end(), [](const Moving& a, const Moving& b) {
    if (a.spec.placement.priority != b.spec.placement.priority) {
      return a.spec.placement.priority > b.spec.placement.priority;
    }
    return a.object.metadata.name < b.object.metadata.name;
  });
  const std::string now = FormatRfc3339(ctx_.clock->WallNow());
  // A new placement must be durable before anything is defined there, i.e. before its VM is
  // enqueued. Placements are written unsynced and made durable a chunk at a time by one
  // Store::Sync: one sync per chunk instead of one per VM, while the first VMs already start.
  constexpr size_t kPlacementsPerSync = 32;
  std::vector<std::string> placed;
  auto make_durable_and_enqueue = [&]() -> Status {
    if (placed.empty()) return Status::Ok();
    VMK_RETURN_IF_ERROR(ctx_.store->Sync());
    for (const auto& vm : placed) ctx_.queue->Add(VmKey(vm));
    placed.clear();
    return Status::Ok();
  };
  // On an error, what is already placed still starts (if it can be made durable).
  auto fail = [&](const Status& error) {
    (void)make_durable_and_enqueue();
    return ReconcileResult::Error(error);
  };
  for (auto& m : moving) {
    const std::string& vm = m.object.metadata.name;
    // The VM's own reconcile may be running: wait for it, then decide on its latest status.
    KeyLocks::Guard guard = LockIfAny(ctx_.vm_locks, vm);
    auto fresh = ctx_.store->Get(Kind::kVirtualMachine, vm);
    if (!fresh.ok()) return fail(fresh.status());
    if (!*fresh) continue;  // deleted meanwhile
    VmStatus vm_status = VmStatus::FromJson((*fresh)->status);
    if (vm_status.host != host) continue;  // moved before a restart of the controller
    SchedulingRequest request{vm, m.object.metadata.labels, &m.spec};
    auto chosen = ctx_.book->ScheduleAndBook(request, ctx_.hosts->Candidates(vm));
    if (chosen.ok()) {
      vm_status.host = *chosen;
      vm_status.state = "relocating";
      specs::SetCondition(&vm_status.conditions,
                          Condition{"Scheduled", "True", "FailedOver",
                                    "moved from failed host " + host + " to " + *chosen, now});
      ctx_.events->Warning(Kind::kVirtualMachine, vm, "FailedOver",
                           "host " + host + " failed; placed on " + *chosen);
      if (ctx_.incidents) {
        (void)ctx_.incidents->AddAction(Kind::kVirtualMachine, vm, "placed on " + *chosen,
                                        /*sync=*/false);
      }
    } else {
      ctx_.book->Remove(vm);
      vm_status.host.clear();
      vm_status.state = "unplaced";
      specs::SetCondition(&vm_status.conditions,
                          Condition{"Scheduled", "False", "Unschedulable",
                                    "host " + host + " failed and " + chosen.status().message(), now});
      ctx_.events->Warning(Kind::kVirtualMachine, vm, "FailedScheduling",
                           "host " + host + " failed and " + chosen.status().message());
    }
    Status s = ctx_.store->PutStatus(Kind::kVirtualMachine, vm, vm_status.ToJson(), /*sync=*/false);
    if (!s.ok() && s.code() != StatusCode::kNotFound) return fail(s);
    guard.Release();
    placed.push_back(vm);
    if (placed.size() == kPlacementsPerSync) {
      if (Status synced = make_durable_and_enqueue(); !synced.ok()) return ReconcileResult::Error(synced);
    }
  }
  Status synced = make_durable_and_enqueue();
  return synced.ok() ? ReconcileResult::Done() : ReconcileResult::Error(synced);
}

}  // namespace vmk::reconciler
