#include "reconciler/core/object_status.h"

#include "metrics/controller_metrics.h"

namespace vmk::reconciler {

using specs::Json;

DiskRecord DiskRecord::FromJson(const Json& json) {
  DiskRecord d;
  if (!json.is_object()) return d;
  d.name = json.value("name", "");
  d.image = json.value("image", "");
  d.pool = json.value("pool", "");
  d.volume = json.value("volume", "");
  d.path = json.value("path", "");
  d.format = json.value("format", "");
  return d;
}

Json DiskRecord::ToJson() const {
  Json j = Json::object();
  j["name"] = name;
  if (!image.empty()) j["image"] = image;
  if (!pool.empty()) j["pool"] = pool;
  if (!volume.empty()) j["volume"] = volume;
  if (!path.empty()) j["path"] = path;
  if (!format.empty()) j["format"] = format;
  return j;
}

namespace {

std::vector<SnapshotLayer> LayersFromJson(const Json& json) {
  std::vector<SnapshotLayer> layers;
  if (!json.is_array()) return layers;
  for (const Json& l : json) {
    if (!l.is_object()) continue;
    layers.push_back({l.value("disk", ""), l.value("pool", ""), l.value("volume", ""),
                      l.value("nextTop", "")});
  }
  return layers;
}

Json LayersToJson(const std::vector<SnapshotLayer>& layers) {
  Json list = Json::array();
  for (const SnapshotLayer& l : layers) {
    list.push_back(
        {{"disk", l.disk}, {"pool", l.pool}, {"volume", l.volume}, {"nextTop", l.next_top}});
  }
  return list;
}

}  // namespace

SnapshotRecord SnapshotRecord::FromJson(const Json& json) {
  SnapshotRecord r;
  if (!json.is_object()) return r;
  r.name = json.value("name", "");
  r.time = json.value("time", "");
  r.reason = json.value("reason", "");
  r.healthy = json.value("healthy", false);
  r.generation = json.value("generation", int64_t{0});
  r.phase = json.value("phase", "");
  r.message = json.value("message", "");
  if (json.contains("layers")) r.layers = LayersFromJson(json["layers"]);
  return r;
}

Json SnapshotRecord::ToJson() const {
  Json j = {{"name", name},         {"time", time},   {"reason", reason},
            {"healthy", healthy},   {"generation", generation},
            {"phase", phase},       {"layers", LayersToJson(layers)}};
  if (!message.empty()) j["message"] = message;
  return j;
}


RollbackRecord RollbackRecord::FromJson(const Json& json) {
  RollbackRecord r;
  if (!json.is_object()) return r;
  r.phase = json.value("phase", "");
  r.target = json.value("target", "");
  if (json.contains("tried") && json["tried"].is_array()) {
    for (const Json& t : json["tried"]) {
      if (t.is_string()) r.tried.push_back(t.get<std::string>());
    }
  }
  r.started = json.value("started", "");
  r.message = json.value("message", "");
  if (json.contains("restore")) r.restore = LayersFromJson(json["restore"]);
  return r;
}

Json RollbackRecord::ToJson() const {
  Json j = {{"phase", phase}, {"target", target}, {"tried", tried}, {"started", started},
            {"restore", LayersToJson(restore)}};
  if (!message.empty()) j["message"] = message;
  return j;
}

ChangeRecord ChangeRecord::FromJson(const Json& json) {
  ChangeRecord c;
  if (!json.is_object()) return c;
  c.phase = json.value("phase", "");
  c.fromGeneration = json.value("fromGeneration", int64_t{0});
  c.toGeneration = json.value("toGeneration", int64_t{0});
  c.snapshot = json.value("snapshot", "");
  c.started = json.value("started", "");
  c.deadline = json.value("deadline", "");
  c.message = json.value("message", "");
  if (json.contains("previousSpec")) c.previousSpec = json["previousSpec"];
  return c;
}

Json ChangeRecord::ToJson() const {
  Json j = {{"phase", phase},     {"fromGeneration", fromGeneration},
            {"toGeneration", toGeneration}, {"started", started},
            {"deadline", deadline}};
  if (!snapshot.empty()) j["snapshot"] = snapshot;
  if (!message.empty()) j["message"] = message;
  if (!previousSpec.is_null()) j["previousSpec"] = previousSpec;
  return j;
}

PruneRecord PruneRecord::FromJson(const Json& json) {
  PruneRecord r;
  if (!json.is_object()) return r;
  r.phase = json.value("phase", "");
  r.snapshot = json.value("snapshot", "");
  r.reason = json.value("reason", "");
  r.started = json.value("started", "");
  if (json.contains("steps") && json["steps"].is_array()) {
    for (const Json& j : json["steps"]) {
      if (!j.is_object()) continue;
      PruneStep step;
      step.disk = j.value("disk", "");
      step.pool = j.value("pool", "");
      step.layer = j.value("layer", "");
      step.child = j.value("child", "");
      step.method = j.value("method", "");
      step.over = j.value("over", "");
      step.obsolete = j.value("obsolete", "");
      r.steps.push_back(std::move(step));
    }
  }
  return r;
}

Json PruneRecord::ToJson() const {
  Json list = Json::array();
  for (const PruneStep& step : steps) {
    Json j = {{"disk", step.disk}, {"pool", step.pool}, {"layer", step.layer}};
    if (!step.child.empty()) j["child"] = step.child;
    if (!step.method.empty()) j["method"] = step.method;
    if (!step.over.empty()) j["over"] = step.over;
    if (!step.obsolete.empty()) j["obsolete"] = step.obsolete;
    list.push_back(std::move(j));
  }
  return {{"phase", phase}, {"snapshot", snapshot}, {"reason", reason}, {"started", started},
          {"steps", std::move(list)}};
}

namespace {

std::vector<DeletionVolume> DeletionVolumesFromJson(const Json& json) {
  std::vector<DeletionVolume> out;
  if (!json.is_array()) return out;
  for (const Json& j : json) {
    if (!j.is_object()) continue;
    out.push_back({j.value("disk", ""), j.value("pool", ""), j.value("volume", ""),
                   j.value("deleted", false)});
  }
  return out;
}

Json DeletionVolumesToJson(const std::vector<DeletionVolume>& volumes) {
  Json list = Json::array();
  for (const DeletionVolume& v : volumes) {
    Json j = {{"disk", v.disk}, {"pool", v.pool}, {"volume", v.volume}};
    if (v.deleted) j["deleted"] = true;
    list.push_back(std::move(j));
  }
  return list;
}

}  // namespace

DeletionRecord DeletionRecord::FromJson(const Json& json) {
  DeletionRecord r;
  if (!json.is_object()) return r;
  r.phase = json.value("phase", "");
  r.started = json.value("started", "");
  r.message = json.value("message", "");
  if (json.contains("volumes")) r.volumes = DeletionVolumesFromJson(json["volumes"]);
  if (json.contains("retained")) r.retained = DeletionVolumesFromJson(json["retained"]);
  return r;
}

Json DeletionRecord::ToJson() const {
  Json j = {{"phase", phase}, {"started", started}};
  if (!volumes.empty()) j["volumes"] = DeletionVolumesToJson(volumes);
  if (!retained.empty()) j["retained"] = DeletionVolumesToJson(retained);
  if (!message.empty()) j["message"] = message;
  return j;
}

const DiskRecord* VmStatus::Disk(const std::string& name) const {
  for (const DiskRecord& d : disks) {
    if (d.name == name) return &d;
  }
  return nullptr;
}

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
  if (json.contains("disks") && json["disks"].is_array()) {
    for (const auto& d : json["disks"]) s.disks.push_back(DiskRecord::FromJson(d));
  }
  if (json.contains("snapshots") && json["snapshots"].is_array()) {
    for (const auto& r : json["snapshots"]) s.snapshots.push_back(SnapshotRecord::FromJson(r));
  }
  s.snapshotSeq = json.value("snapshotSeq", int64_t{0});
  s.lastScheduledSnapshot = json.value("lastScheduledSnapshot", "");
  s.snapshotBeforeStart = json.value("snapshotBeforeStart", "");
  if (json.contains("rollback")) s.rollback = RollbackRecord::FromJson(json["rollback"]);
  s.rollbackRequest = json.value("rollbackRequest", "");
  s.healthyGeneration = json.value("healthyGeneration", int64_t{0});
  if (json.contains("healthySpec")) s.healthySpec = json["healthySpec"];
  if (json.contains("change")) s.change = ChangeRecord::FromJson(json["change"]);
  if (json.contains("pruning")) s.pruning = PruneRecord::FromJson(json["pruning"]);
  if (json.contains("deletion")) s.deletion = DeletionRecord::FromJson(json["deletion"]);
  if (json.contains("snapshotRequests") && json["snapshotRequests"].is_array()) {
    for (const auto& r : json["snapshotRequests"]) {
      if (r.is_string()) s.snapshotRequests.push_back(r.get<std::string>());
    }
  }
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
  if (!disks.empty()) {
    Json list = Json::array();
    for (const DiskRecord& d : disks) list.push_back(d.ToJson());
    j["disks"] = std::move(list);
  }
  if (!snapshots.empty()) {
    Json list = Json::array();
    for (const SnapshotRecord& r : snapshots) list.push_back(r.ToJson());
    j["snapshots"] = std::move(list);
  }
  if (snapshotSeq != 0) j["snapshotSeq"] = snapshotSeq;
  if (!lastScheduledSnapshot.empty()) j["lastScheduledSnapshot"] = lastScheduledSnapshot;
  if (!snapshotBeforeStart.empty()) j["snapshotBeforeStart"] = snapshotBeforeStart;
  if (!rollback.phase.empty()) j["rollback"] = rollback.ToJson();
  if (!rollbackRequest.empty()) j["rollbackRequest"] = rollbackRequest;
  if (!pruning.phase.empty()) j["pruning"] = pruning.ToJson();
  if (!deletion.phase.empty()) j["deletion"] = deletion.ToJson();
  if (!snapshotRequests.empty()) j["snapshotRequests"] = snapshotRequests;
  if (healthyGeneration != 0) {
    j["healthyGeneration"] = healthyGeneration;
    j["healthySpec"] = healthySpec;
  }
  if (!change.phase.empty()) j["change"] = change.ToJson();
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
  if (json.contains("signals") && json["signals"].is_object()) {
    const Json& g = json["signals"];
    s.signals = {g.value("management", ""), g.value("dataPlane", ""), g.value("power", ""),
                 g.value("alert", ""),      g.value("verdict", ""),   g.value("why", "")};
  }
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
  if (!signals.empty()) {
    j["signals"] = {{"management", signals.management}, {"dataPlane", signals.dataPlane},
                    {"power", signals.power},           {"verdict", signals.verdict},
                    {"why", signals.why}};
    if (!signals.alert.empty()) j["signals"]["alert"] = signals.alert;
  }
  return j;
}

specs::Condition MakeCondition(const Clock& clock, const std::string& type, bool ok,
                               const std::string& reason, const std::string& message) {
  return specs::Condition{type, ok ? "True" : "False", reason, message,
                          FormatRfc3339(clock.WallNow())};
}

Status WriteHostStatus(Store& store, const std::string& host, const HostStatus& status, bool sync,
                       metrics::ControllerMetrics* metrics) {
  if (metrics) {
    const specs::Condition* ready = specs::FindCondition(status.conditions, "Ready");
    const specs::Condition* fenced = specs::FindCondition(status.conditions, "Fenced");
    metrics->SetHostReady(host, ready && ready->status == "True");
    // Failed, its VMs waiting on a fence that failed or that nothing can do.
    metrics->SetHostFailoverBlocked(
        host, status.failover.phase == "Fencing" && fenced && fenced->status == "False" &&
                  (fenced->reason == "FencingFailed" || fenced->reason == "NoFencing"));
    const specs::Condition* mgmt = specs::FindCondition(status.conditions, "ManagementUnreachable");
    metrics->SetHostManagementUnreachable(host, mgmt && mgmt->status == "True");
  }
  Status s = store.PutStatus(specs::Kind::kHost, host, status.ToJson(), sync);
  return s.code() == StatusCode::kNotFound ? Status::Ok() : s;
}

PoolHostStatus PoolHostStatus::FromJson(const Json& json) {
  PoolHostStatus s;
  if (!json.is_object()) return s;
  s.host = json.value("host", "");
  s.ready = json.value("ready", false);
  s.reason = json.value("reason", "");
  s.message = json.value("message", "");
  s.capacityBytes = json.value("capacityBytes", int64_t{0});
  s.availableBytes = json.value("availableBytes", int64_t{0});
  return s;
}

Json PoolHostStatus::ToJson() const {
  Json j = {{"host", host}, {"ready", ready}};
  if (ready) {
    j["capacityBytes"] = capacityBytes;
    j["availableBytes"] = availableBytes;
  } else {
    j["reason"] = reason;
    j["message"] = message;
  }
  return j;
}

std::vector<std::string> HostsNotSeeingPool(const Json& pool_status) {
  std::vector<std::string> hosts;
  if (!pool_status.is_object() || !pool_status.contains("hosts")) return hosts;
  for (const Json& h : pool_status["hosts"]) {
    PoolHostStatus s = PoolHostStatus::FromJson(h);
    if (!s.ready && !s.host.empty()) hosts.push_back(s.host);
  }
  return hosts;
}

}  // namespace vmk::reconciler
