#include "reconciler/host/host_reconciler.h"

#include <algorithm>

#include "common/log.h"
#include "reconciler/host/heartbeat_reconciler.h"

namespace vmk::reconciler {

using specs::Condition;
using specs::Kind;

namespace {
// How often a failed host is asked whether it is back.
constexpr auto kReconnectInterval = std::chrono::seconds(5);

ReconcileResult LookAgainSoon(ReconcileResult r) {
  if (r.status.ok() && !r.requeue_after) r.requeue_after = kReconnectInterval;
  return r;
}
}  // namespace

ReconcileResult HostReconciler::Reconcile(const ReconcileRequest& request) {
  const std::string& name = request.name;
  auto loaded = ctx_.store->Get(Kind::kHost, name);
  if (!loaded.ok()) return ReconcileResult::Error(loaded.status());
  if (!*loaded) return Removed(name);
  const specs::Object& object = **loaded;
  auto spec = specs::HostSpecFromJson(object.spec);
  if (!spec.ok()) return ReconcileResult::Error(spec.status());
  auto entry = ctx_.hosts->Upsert(name, *spec, object.metadata.labels);
  HostStatus status = HostStatus::FromJson(object.status);
  if (auto ended = RetryFailed(object, *spec, *entry, status, request.cancel)) return *ended;
  // A failover recorded before a controller restart: until this host answers again, its
  // domains count as dead (it was fenced), whatever the fresh heartbeat book says.
  entry->SetFenced(status.failover.phase == "Relocating" || status.failover.phase == "Relocated");

  auto& conn = *entry->connection();
  const uint64_t listing_since = entry->ChangeMark();
  Observation observed = Observe(conn);
  observed.since = listing_since;
  if (!observed.failure.ok()) {
    return Unreachable(object, *spec, *entry, std::move(status), observed.failure, request.cancel);
  }
  if (ctx_.health) ctx_.health->RecordSuccess(name, ctx_.clock->Now(), ctx_.clock->WallNow());
  if (!status.failover.phase.empty()) {
    Status s = Recovered(name, conn, &observed.domains, *entry, &status);
    if (!s.ok()) return ReconcileResult::Error(s);
  } else if (ctx_.incidents && ctx_.incidents->OpenIncident(Kind::kHost, name)) {
    // A failure that never got as far as a failover record (a controller killed between opening
    // the incidents and writing it, or an alert about a host that answers): it is over.
    auto resolved = ctx_.incidents->Resolve(Kind::kHost, name);
    if (!resolved.ok()) return ReconcileResult::Error(resolved.status());
  }
  const std::string hypervisor = observed.info.hypervisor;
  TakeListing(name, *spec, *entry, std::move(observed));
  return WriteReadyStatus(object, *entry, std::move(status), hypervisor);
}

ReconcileResult HostReconciler::Removed(const std::string& name) {
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
  if (ctx_.metrics) ctx_.metrics->RemoveHost(name);
  ctx_.events->Normal(Kind::kHost, name, "HostRemoved", "connection closed");
  return ReconcileResult::Done();
}

std::optional<ReconcileResult> HostReconciler::RetryFailed(const specs::Object& object,
                                                           const specs::HostSpec& spec,
                                                           HostEntry& entry, HostStatus& status,
                                                           const CancelToken& cancel) {
  const std::string& name = object.metadata.name;
  if (!ctx_.health || ctx_.health->Get(name).state != HostHealthState::kNotReady) {
    return std::nullopt;
  }
  // Only a fresh connection that answers a listing brings it back; otherwise handle the failure
  // and look again soon (heartbeats do not reconnect: a dead host would stall them).
  auto& conn = *entry.connection();
  bool back = false;
  if (conn.IsAlive() || conn.Connect().ok()) back = conn.ListDomains().ok();
  if (!back) return LookAgainSoon(failover_.Handle(object, spec, entry, status, cancel));
  ctx_.health->RecordSuccess(name, ctx_.clock->Now(), ctx_.clock->WallNow());
  return std::nullopt;
}

HostReconciler::Observation HostReconciler::Observe(providers::Hypervisor& conn) {
  Observation o;
  o.failure = conn.IsAlive() ? Status::Ok() : conn.Connect();
  if (!o.failure.ok()) return o;
  auto domains = conn.ListDomains();
  if (!domains.ok()) {
    o.failure = domains.status();
    return o;
  }
  o.domains = std::move(*domains);
  auto info = conn.GetHostInfo();
  if (!info.ok()) {
    o.failure = info.status();
    return o;
  }
  o.info = std::move(*info);
  return o;
}

ReconcileResult HostReconciler::Unreachable(const specs::Object& object,
                                            const specs::HostSpec& spec, HostEntry& entry,
                                            HostStatus status, const Status& failure,
                                            const CancelToken& cancel) {
  const std::string& name = object.metadata.name;
  if (ctx_.health) {
    auto [before, after] = ctx_.health->RecordFailure(name, ctx_.clock->Now(), failure.message());
    if (before != after) ReportHostHealthChange(ctx_, name, after, failure.message());
    if (after == HostHealthState::kNotReady) {
      // This failure crossed the threshold: fail over now, not at the next retry of this key
      // (up to seconds away with backoff), and not never (the next heartbeat sees no change).
      return LookAgainSoon(failover_.Handle(object, spec, entry, std::move(status), cancel));
    }
  }
  const bool first = !entry.view().sync_attempted;
  const bool was_reachable = entry.SetUnreachable();
  if (ctx_.metrics) ctx_.metrics->SetHostUp(name, false);
  if (was_reachable || first) {
    ctx_.events->Warning(Kind::kHost, name, "HostUnreachable",
                         "cannot reach " + spec.uri + ": " + failure.message());
  }
  if (was_reachable) {
    for (const auto& vm : ctx_.book->VmsOn(name)) ctx_.queue->Add(VmKey(vm));
  }
  specs::SetCondition(&status.conditions,
                      MakeCondition(*ctx_.clock, "Ready", false, "Unreachable", failure.message()));
  if (Status s = WriteHostStatus(*ctx_.store, name, status, false, ctx_.metrics); !s.ok()) {
    return ReconcileResult::Error(s);
  }
  return ReconcileResult::Error(failure);
}

Status HostReconciler::Recovered(const std::string& name, providers::Hypervisor& conn,
                                 std::vector<providers::DomainInfo>* domains, HostEntry& entry,
                                 HostStatus* status) {
  // Back after a failure: first remove the copies of VMs that now run elsewhere, then use it.
  VMK_ASSIGN_OR_RETURN(std::vector<std::string> removed, RemoveStaleCopies(name, conn, *domains));
  std::erase_if(*domains, [&](const providers::DomainInfo& d) {
    return std::find(removed.begin(), removed.end(), d.name) != removed.end();
  });
  ctx_.events->Normal(Kind::kHost, name, "HostRecovered",
                      "answers again; removed " + std::to_string(removed.size()) + " stale cop" +
                          (removed.size() == 1 ? "y" : "ies") + " of VMs that failed over");
  // The incident closes before the failover record does: a controller killed in between finds
  // the record and closes it again (both are idempotent), never an orphan incident.
  if (ctx_.incidents) VMK_RETURN_IF_ERROR(ctx_.incidents->Resolve(Kind::kHost, name).status());
  status->failover = {};
  specs::SetCondition(&status->conditions, MakeCondition(*ctx_.clock, "Fenced", false, "Recovered",
                                                         "host is back and clean"));
  VMK_RETURN_IF_ERROR(WriteHostStatus(*ctx_.store, name, *status, /*sync=*/true, ctx_.metrics));
  entry.SetFenced(false);
  return Status::Ok();
}

void HostReconciler::TakeListing(const std::string& name, const specs::HostSpec& spec,
                                 HostEntry& entry, Observation observation) {
  const bool was_reachable = entry.view().reachable;
  std::vector<std::string> to_check;
  for (const auto& d : observation.domains) {
    if (!d.owned) continue;
    auto placement = ctx_.book->Get(d.name);
    if (!placement || placement->host != name) to_check.push_back(d.name);
  }
  const providers::HostInfo& info = observation.info;
  entry.SetListing(std::move(observation.domains), info, observation.since);
  if (ctx_.metrics) ctx_.metrics->SetHostUp(name, true);
  if (!was_reachable) {
    ctx_.events->Normal(Kind::kHost, name, "HostReady",
                        "connected to " + spec.uri + " (" + info.hypervisor + ", " +
                            std::to_string(info.cpus) + " CPUs, " + std::to_string(info.memoryMiB) +
                            " MiB)");
    for (const auto& vm : ctx_.book->VmsOn(name)) ctx_.queue->Add(VmKey(vm));
  }
  for (const auto& vm : to_check) ctx_.queue->Add(VmKey(vm));
}

ReconcileResult HostReconciler::WriteReadyStatus(const specs::Object& object, HostEntry& entry,
                                                 HostStatus status, const std::string& hypervisor) {
  const std::string& name = object.metadata.name;
  const std::string now = FormatRfc3339(ctx_.clock->WallNow());
  specs::SetCondition(&status.conditions,
                      Condition{"Ready", "True", "Connected", "hypervisor answers", now});
  status.capacity = entry.Capacity();
  status.allocated = ctx_.book->Allocated(name);
  status.vms = ctx_.book->CountOn(name);
  status.hypervisor = hypervisor;
  // lastSeen alone changes every pass: rewrite for it only once a minute, not 1,000 writes a pass.
  specs::Json before = object.status;
  WallTime last_seen;
  const bool fresh = ParseRfc3339(status.lastSeen, &last_seen) &&
                     ctx_.clock->WallNow() - last_seen < std::chrono::seconds(60);
  status.lastSeen = now;
  if (ctx_.metrics) {
    ctx_.metrics->SetHostReady(name, true);
    ctx_.metrics->SetHostFailoverBlocked(name, false);
  }
  specs::Json after = status.ToJson();
  if (before.is_object()) before.erase("lastSeen");
  specs::Json compared = after;
  compared.erase("lastSeen");
  if (fresh && before == compared) return ReconcileResult::Done();
  Status s = ctx_.store->PutStatus(Kind::kHost, name, after, false);
  if (!s.ok() && s.code() != StatusCode::kNotFound) return ReconcileResult::Error(s);
  return ReconcileResult::Done();
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

}  // namespace vmk::reconciler
