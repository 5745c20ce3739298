#include "reconciler/host_reconciler.h"

#include "common/log.h"

namespace vmk::reconciler {

using specs::Condition;
using specs::Kind;

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

}  // namespace vmk::reconciler
