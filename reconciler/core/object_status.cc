#include "reconciler/core/object_status.h"

namespace vmk::reconciler {

using specs::Json;

VmStatus VmStatus::FromJson(const Json& json) {
  VmStatus s;
  if (!json.is_object()) return s;
  s.host = json.value("host", "");
  s.state = json.value("state", "");
  s.observedGeneration = json.value("observedGeneration", int64_t{0});
  if (json.contains("conditions")) s.conditions = specs::ConditionsFromJson(json["conditions"]);
  s.restartCount = json.value("restartCount", 0);
  if (json.contains("restartTimes") && json["restartTimes"].is_array()) {
    for (const auto& t : json["restartTimes"]) {
      if (t.is_string()) s.restartTimes.push_back(t.get<std::string>());
    }
  }
  s.message = json.value("message", "");
  s.stopRequestedAt = json.value("stopRequestedAt", "");
  return s;
}

Json VmStatus::ToJson() const {
  Json j = Json::object();
  if (!host.empty()) j["host"] = host;
  j["state"] = state.empty() ? "unknown" : state;
  j["observedGeneration"] = observedGeneration;
  j["conditions"] = specs::ConditionsToJson(conditions);
  j["restartCount"] = restartCount;
  if (!restartTimes.empty()) j["restartTimes"] = restartTimes;
  if (!message.empty()) j["message"] = message;
  if (!stopRequestedAt.empty()) j["stopRequestedAt"] = stopRequestedAt;
  return j;
}

HostStatus HostStatus::FromJson(const Json& json) {
  HostStatus s;
  if (!json.is_object()) return s;
  if (json.contains("conditions")) s.conditions = specs::ConditionsFromJson(json["conditions"]);
  if (json.contains("capacity") && json["capacity"].is_object()) {
    s.capacity.cpus = json["capacity"].value("cpus", 0);
    s.capacity.memoryMiB = json["capacity"].value("memoryMiB", int64_t{0});
  }
  if (json.contains("allocated") && json["allocated"].is_object()) {
    s.allocated.cpus = json["allocated"].value("cpus", 0);
    s.allocated.memoryMiB = json["allocated"].value("memoryMiB", int64_t{0});
  }
  s.vms = json.value("vms", 0);
  if (json.contains("failover") && json["failover"].is_object()) {
    s.failover.phase = json["failover"].value("phase", "");
    s.failover.since = json["failover"].value("since", "");
    s.failover.fencedBy = json["failover"].value("fencedBy", "");
  }
  s.hypervisor = json.value("hypervisor", "");
  s.lastSeen = json.value("lastSeen", "");
  return s;
}

Json HostStatus::ToJson() const {
  Json j = Json::object();
  j["conditions"] = specs::ConditionsToJson(conditions);
  j["capacity"] = {{"cpus", capacity.cpus}, {"memoryMiB", capacity.memoryMiB}};
  j["allocated"] = {{"cpus", allocated.cpus}, {"memoryMiB", allocated.memoryMiB}};
  j["vms"] = vms;
  if (!failover.phase.empty()) {
    j["failover"] = {{"phase", failover.phase}, {"since", failover.since}};
    if (!failover.fencedBy.empty()) j["failover"]["fencedBy"] = failover.fencedBy;
  }
  if (!hypervisor.empty()) j["hypervisor"] = hypervisor;
  if (!lastSeen.empty()) j["lastSeen"] = lastSeen;
  return j;
}

specs::Condition MakeCondition(const Clock& clock, const std::string& type, bool ok,
                               const std::string& reason, const std::string& message) {
  return specs::Condition{type, ok ? "True" : "False", reason, message,
                          FormatRfc3339(clock.WallNow())};
}

Status WriteHostStatus(Store& store, const std::string& host, const HostStatus& status, bool sync) {
  Status s = store.PutStatus(specs::Kind::kHost, host, status.ToJson(), sync);
  return s.code() == StatusCode::kNotFound ? Status::Ok() : s;
}

}  // namespace vmk::reconciler
