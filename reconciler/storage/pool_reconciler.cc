#include "reconciler/storage/pool_reconciler.h"

#include <algorithm>

#include "reconciler/core/object_status.h"

namespace vmk::reconciler {

using specs::Json;
using specs::Kind;

PoolHostStatus PoolReconciler::Check(const std::string& pool, const specs::StoragePoolSpec& spec,
                                     const std::string& host) {
  PoolHostStatus s;
  s.host = host;
  auto entry = ctx_.hosts->Get(host);
  if (!entry || !entry->view().reachable) {
    s.reason = "HostUnreachable";
    s.message = "host " + host + " does not answer";
    return s;
  }
  auto info = entry->connection()->OpenStoragePool(pool)->Info();
  if (!info.ok()) {
    switch (info.status().code()) {
      case StatusCode::kNotFound: s.reason = "NotDefined"; break;
      case StatusCode::kFailedPrecondition: s.reason = "Inactive"; break;
      default: s.reason = "HostUnreachable"; break;
    }
    s.message = info.status().message();
    return s;
  }
  if (info->path != spec.path) {
    s.reason = "PathMismatch";
    s.message = "host " + host + " has it at " + info->path + ", not " + spec.path;
    return s;
  }
  if (info->type != spec.type) {
    s.reason = "TypeMismatch";
    s.message = "host " + host + " has a " + info->type + " pool, not " + spec.type;
    return s;
  }
  s.ready = true;
  s.capacityBytes = info->capacity_bytes;
  s.availableBytes = info->available_bytes;
  return s;
}

ReconcileResult PoolReconciler::Reconcile(const ReconcileRequest& request) {
  const std::string& name = request.name;
  auto object = ctx_.store->Get(Kind::kStoragePool, name);
  if (!object.ok()) return ReconcileResult::Error(object.status());
  if (!*object) return ReconcileResult::Done();  // never defined by us: nothing to undo
  auto spec = specs::StoragePoolSpecFromJson((*object)->spec);
  if (!spec.ok()) return ReconcileResult::Error(spec.status());
  auto hosts = ctx_.store->List(Kind::kHost);
  if (!hosts.ok()) return ReconcileResult::Error(hosts.status());

  const Json& before = (*object)->status;
  std::vector<std::string> missing_before = HostsNotSeeingPool(before);
  Json host_list = Json::array();
  std::vector<std::string> missing;
  for (const specs::Object& host : *hosts) {
    if (!specs::PoolVisibleOnHost(*spec, host.metadata.name, host.metadata.labels)) continue;
    PoolHostStatus s = Check(name, *spec, host.metadata.name);
    bool was_missing = std::find(missing_before.begin(), missing_before.end(), s.host) !=
                       missing_before.end();
    if (!s.ready) {
      missing.push_back(s.host);
      // HostUnreachable is the host's own news (its condition and events say it).
      if (!was_missing && s.reason != "HostUnreachable") {
        ctx_.events->Warning(Kind::kStoragePool, name, "PoolNotSeen", s.message);
      }
    } else if (was_missing) {
      ctx_.events->Normal(Kind::kStoragePool, name, "PoolSeen", "host " + s.host + " sees it");
    }
    host_list.push_back(s.ToJson());
  }
  std::vector<specs::Condition> conditions =
      before.is_object() && before.contains("conditions")
          ? specs::ConditionsFromJson(before["conditions"])
          : std::vector<specs::Condition>{};
  std::string missing_text;
  for (const auto& h : missing) missing_text += (missing_text.empty() ? "" : ", ") + h;
  specs::SetCondition(&conditions,
                      missing.empty()
                          ? MakeCondition(*ctx_.clock, "Ready", true, "Seen",
                                          "every selected host sees it")
                          : MakeCondition(*ctx_.clock, "Ready", false, "NotSeen",
                                          "not seen by " + missing_text));
  Json status = {{"hosts", host_list}, {"conditions", specs::ConditionsToJson(conditions)}};
  if (status != before) {
    auto written = ctx_.store->PutStatusIf(StatusWrite{Kind::kStoragePool, name, status, false,
                                                       (*object)->status_revision});
    if (!written.ok() && written.status().code() != StatusCode::kNotFound) {
      return ReconcileResult::Error(written.status());
    }
  }
  return ReconcileResult::After(kRecheck);
}

}  // namespace vmk::reconciler
