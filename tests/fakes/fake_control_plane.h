// FakeControlPlane: an in-memory ControlPlane for the cli/ tests. Objects, events and incidents
// live in containers; apply, diff and alert intake return canned outcomes (and record what they
// received); any call can be made to fail.
// Thread-safe (the HTTP server calls it from its thread pool).
#pragma once

#include <functional>
#include <map>

#include "common/mutex.h"
#include "reconciler/controller/control_plane.h"

namespace vmk::cli {

class FakeControlPlane : public reconciler::ControlPlane {
 public:
  StatusOr<reconciler::ApplyOutcome> Apply(const std::vector<reconciler::ManifestFile>& files,
                                           const reconciler::ApplyOptions& options) override {
    MutexLock l(&mu);
    last_files = files;
    last_apply_options = options;
    ++apply_calls;
    if (!fail_with.ok()) return fail_with;
    return apply_outcome;
  }
  StatusOr<reconciler::DiffOutcome> Diff(const std::vector<reconciler::ManifestFile>& files,
                                         bool prune) override {
    MutexLock l(&mu);
    last_files = files;
    last_diff_prune = prune;
    if (!fail_with.ok()) return fail_with;
    return diff_outcome;
  }
  StatusOr<std::vector<specs::Object>> List(specs::Kind kind) override {
    MutexLock l(&mu);
    if (!fail_with.ok()) return fail_with;
    std::vector<specs::Object> out;
    for (const auto& [key, object] : objects) {
      if (key.first == kind) out.push_back(object);
    }
    return out;
  }
  StatusOr<std::optional<specs::Object>> Get(specs::Kind kind, const std::string& name) override {
    MutexLock l(&mu);
    ++get_calls;
    if (!fail_with.ok()) return fail_with;
    if (on_get) on_get(kind, name, &objects);
    auto it = objects.find({kind, name});
    if (it == objects.end()) return std::optional<specs::Object>();
    return std::optional<specs::Object>(it->second);
  }
  Status Delete(specs::Kind kind, const std::string& name) override {
    MutexLock l(&mu);
    if (!delete_status.ok()) return delete_status;
    if (objects.erase({kind, name}) == 0) return Status::NotFound("no such object");
    return Status::Ok();
  }
  StatusOr<std::string> RequestSnapshot(const std::string& vm, const std::string& name) override {
    MutexLock l(&mu);
    if (!fail_with.ok()) return fail_with;
    snapshot_requests.emplace_back(vm, name);
    return name.empty() ? std::string("m20261205-000000") : name;
  }
  StatusOr<reconciler::RollbackPlan> RequestRollback(const std::string& vm, const std::string& to,
                                                     bool dry_run) override {
    MutexLock l(&mu);
    if (!fail_with.ok()) return fail_with;
    rollback_requests.push_back({vm, to, dry_run});
    reconciler::RollbackPlan plan = rollback_plan;
    plan.vm = vm;
    return plan;
  }
  StatusOr<std::vector<reconciler::Event>> Events(std::optional<reconciler::ObjectRef> object,
                                                  int64_t after_seq, size_t limit) override {
    MutexLock l(&mu);
    last_events_object = object;
    last_events_after = after_seq;
    last_events_limit = limit;
    if (!fail_with.ok()) return fail_with;
    std::vector<reconciler::Event> out;
    for (const auto& e : events) {
      if (e.seq <= after_seq) continue;
      if (object && (e.kind != object->kind || e.name != object->name)) continue;
      out.push_back(e);
    }
    if (out.size() > limit) out.erase(out.begin(), out.end() - static_cast<long>(limit));
    return out;
  }
  StatusOr<std::vector<reconciler::Incident>> Incidents(
      std::optional<reconciler::ObjectRef> object) override {
    MutexLock l(&mu);
    ++incidents_calls;
    last_incidents_object = object;
    if (!fail_with.ok()) return fail_with;
    std::vector<reconciler::Incident> out;
    for (const auto& i : incidents) {
      if (object && (i.kind != object->kind || i.name != object->name)) continue;
      out.push_back(i);
    }
    return out;
  }
  StatusOr<reconciler::AvailabilityReport> Availability(
      const reconciler::AvailabilityQuery& query) override {
    MutexLock l(&mu);
    last_availability_query = query;
    if (!fail_with.ok()) return fail_with;
    return availability_report;
  }
  StatusOr<reconciler::AlertIntakeOutcome> IngestAlerts(const std::string& body) override {
    MutexLock l(&mu);
    ++alerts_calls;
    last_alerts_body = body;
    if (!fail_with.ok()) return fail_with;
    if (!alerts_status.ok()) return alerts_status;
    return alerts_outcome;
  }
  bool Ready() override {
    MutexLock l(&mu);
    return ready;
  }
  std::string MetricsText() override { return "vmkeeper_up 1\n"; }

  void Put(specs::Object object) {
    MutexLock l(&mu);
    objects[{object.kind, object.metadata.name}] = std::move(object);
  }

  // Serialises the calls made by the server's threads. The fields below are not GUARDED_BY(mu):
  // tests set and read them directly between requests, ordered by the HTTP round trips.
  Mutex mu;
  std::map<std::pair<specs::Kind, std::string>, specs::Object> objects;
  std::vector<reconciler::Event> events;
  std::vector<reconciler::Incident> incidents;  // oldest first, as the controller lists them
  reconciler::ApplyOutcome apply_outcome;
  reconciler::DiffOutcome diff_outcome;
  std::vector<std::pair<std::string, std::string>> snapshot_requests;  // (vm, name)
  struct RollbackRequest {
    std::string vm, to;
    bool dry_run = false;
  };
  std::vector<RollbackRequest> rollback_requests;
  reconciler::RollbackPlan rollback_plan;  // answered to every rollback request
  Status fail_with;      // returned by every call but Delete/Ready when not ok
  Status delete_status;  // returned by Delete when not ok
  reconciler::AlertIntakeOutcome alerts_outcome;
  reconciler::AvailabilityReport availability_report;  // answered to every availability query
  std::optional<reconciler::AvailabilityQuery> last_availability_query;
  Status alerts_status;  // returned by IngestAlerts when not ok (e.g. a malformed payload)
  bool ready = true;
  // Called inside Get with the lock held: lets a test change objects as time passes.
  std::function<void(specs::Kind, const std::string&,
                     std::map<std::pair<specs::Kind, std::string>, specs::Object>*)>
      on_get;

  std::vector<reconciler::ManifestFile> last_files;
  reconciler::ApplyOptions last_apply_options;
  bool last_diff_prune = false;
  std::optional<reconciler::ObjectRef> last_events_object;
  int64_t last_events_after = -1;
  size_t last_events_limit = 0;
  std::optional<reconciler::ObjectRef> last_incidents_object;
  std::string last_alerts_body;
  int apply_calls = 0;
  int incidents_calls = 0;
  int alerts_calls = 0;
  int get_calls = 0;
};

// A VirtualMachine with a status, for tables and waits.
inline specs::Object MakeVm(const std::string& name, const std::string& host,
                            const std::string& state, const std::string& ready,
                            int64_t generation = 1, int64_t observed = 1) {
  specs::Object vm;
  vm.kind = specs::Kind::kVirtualMachine;
  vm.metadata.name = name;
  vm.metadata.generation = generation;
  vm.metadata.labels = {{"service", "wms"}};
  vm.spec = {{"running", true}, {"cpus", 2}, {"memoryMiB", 4096}};
  vm.status = {{"host", host},
               {"state", state},
               {"observedGeneration", observed},
               {"restartCount", 0},
               {"conditions",
                {{{"type", "Ready"},
                  {"status", ready},
                  {"reason", ready == "True" ? "Running" : "Starting"},
                  {"lastTransitionTime", "2026-11-27T14:20:54.123Z"}}}}};
  return vm;
}

// An incident of an object; open when `recovered` is empty.
inline reconciler::Incident MakeIncident(specs::Kind kind, const std::string& name,
                                         const std::string& type, const std::string& occurred,
                                         const std::string& detected,
                                         const std::string& recovered,
                                         std::vector<std::string> sources,
                                         std::vector<std::string> actions = {}) {
  reconciler::Incident incident;
  incident.id = std::string(specs::KindName(kind)) + "-" + name + "-" + detected;
  incident.kind = kind;
  incident.name = name;
  incident.type = type;
  incident.occurred = occurred;
  incident.detected = detected;
  incident.recovered = recovered;
  incident.sources = std::move(sources);
  incident.actions = std::move(actions);
  return incident;
}

inline specs::Object MakeHost(const std::string& name, bool ready) {
  specs::Object host;
  host.kind = specs::Kind::kHost;
  host.metadata.name = name;
  host.metadata.generation = 1;
  host.spec = {{"uri", "test:///embedded/" + name}, {"schedulable", true}};
  host.status = {{"conditions",
                  {{{"type", "Ready"}, {"status", ready ? "True" : "False"}, {"reason", "Connected"}}}},
                 {"capacity", {{"cpus", 16}, {"memoryMiB", 65536}}},
                 {"allocated", {{"cpus", 4}, {"memoryMiB", 8192}}},
                 {"vms", 2},
                 {"hypervisor", "Test"}};
  return host;
}

}  // namespace vmk::cli
