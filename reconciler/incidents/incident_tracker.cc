#include "reconciler/incidents/incident_tracker.h"

#include <algorithm>

namespace vmk::reconciler {

namespace {
constexpr char kPrefix[] = "incident/";

std::string KeyPrefix(specs::Kind kind, const std::string& name) {
  return std::string(kPrefix) + std::string(specs::KindName(kind)) + "/" + name + "/";
}
}  // namespace

specs::Json Incident::ToJson() const {
  return specs::Json{{"id", id},
                     {"kind", std::string(specs::KindName(kind))},
                     {"name", name},
                     {"type", type},
                     {"occurred", occurred},
                     {"detected", detected},
                     {"recovered", recovered},
                     {"sources", sources},
                     {"actions", actions},
                     {"confirmed", confirmed}};
}

StatusOr<Incident> Incident::FromJson(const specs::Json& json) {
  Incident i;
  try {
    i.id = json.at("id").get<std::string>();
    auto kind = specs::KindFromName(json.at("kind").get<std::string>());
    if (!kind) return Status::InvalidArgument("incident has an unknown kind");
    i.kind = *kind;
    i.name = json.at("name").get<std::string>();
    i.type = json.at("type").get<std::string>();
    i.occurred = json.at("occurred").get<std::string>();
    i.detected = json.at("detected").get<std::string>();
    i.recovered = json.value("recovered", "");
    i.sources = json.value("sources", std::vector<std::string>{});
    i.actions = json.value("actions", std::vector<std::string>{});
    i.confirmed = json.value("confirmed", true);  // records from before the field: confirmed
  } catch (const specs::Json::exception& e) {
    return Status::InvalidArgument(std::string("malformed incident: ") + e.what());
  }
  return i;
}

std::string IncidentTracker::Key(const Incident& incident) {
  // The id starts with the detection time in ms, zero-padded: keys sort oldest first.
  return KeyPrefix(incident.kind, incident.name) + incident.id;
}

Status IncidentTracker::Save(const Incident& incident, bool sync) {
  return store_->PutHistory(Key(incident), incident.ToJson(), sync);
}

Status IncidentTracker::Load() {
  VMK_ASSIGN_OR_RETURN(auto records, store_->ListHistory(kPrefix));
  MutexLock l(&mu_);
  open_.clear();
  for (const auto& [key, json] : records) {
    auto incident = Incident::FromJson(json);
    if (!incident.ok()) return incident.status().WithContext(key);
    if (incident->open()) open_[{incident->kind, incident->name}] = *incident;
  }
  return Status::Ok();
}

StatusOr<Incident> IncidentTracker::Open(specs::Kind kind, const std::string& name,
                                         const std::string& type, WallTime occurred,
                                         const std::string& source, bool sync) {
  const WallTime now = clock_->WallNow();
  if (occurred > now || occurred.time_since_epoch().count() == 0) occurred = now;
  const bool own_signal = source != kAlertSource;
  MutexLock l(&mu_);
  auto it = open_.find({kind, name});
  if (it != open_.end()) {
    Incident& incident = it->second;
    WallTime known;
    bool changed = false;
    bool confirmed_now = false;
    if (!incident.confirmed && own_signal) {
      // What vmkeeper saw names the failure; the alert's startsAt may still be the earliest
      // evidence of when it began (kept below).
      incident.confirmed = true;
      incident.type = type;
      changed = confirmed_now = true;
    }
    if (ParseRfc3339(incident.occurred, &known) && occurred < known) {
      incident.occurred = FormatRfc3339(occurred);
      changed = true;
    }
    if (std::find(incident.sources.begin(), incident.sources.end(), source) ==
        incident.sources.end()) {
      incident.sources.push_back(source);
      changed = true;
    }
    if (changed) VMK_RETURN_IF_ERROR(Save(incident, sync));
    Incident copy = incident;
    l.Unlock();
    if (confirmed_now && listener_) listener_(copy, Change::kConfirmed);
    return copy;
  }
  Incident incident;
  incident.id = SortableMillis(now);
  incident.kind = kind;
  incident.name = name;
  incident.type = type;
  incident.occurred = FormatRfc3339(occurred);
  incident.detected = FormatRfc3339(now);
  incident.sources = {source};
  incident.confirmed = own_signal;
  VMK_RETURN_IF_ERROR(Save(incident, sync));
  open_[{kind, name}] = incident;
  l.Unlock();
  if (listener_) listener_(incident, Change::kOpened);
  return incident;
}

Status IncidentTracker::AddAction(specs::Kind kind, const std::string& name,
                                  const std::string& action, bool sync) {
  MutexLock l(&mu_);
  auto it = open_.find({kind, name});
  if (it == open_.end()) return Status::Ok();
  it->second.actions.push_back(FormatRfc3339(clock_->WallNow()) + " " + action);
  return Save(it->second, sync);
}

StatusOr<std::optional<Incident>> IncidentTracker::Resolve(specs::Kind kind,
                                                           const std::string& name) {
  MutexLock l(&mu_);
  auto it = open_.find({kind, name});
  if (it == open_.end()) return std::optional<Incident>();
  Incident incident = it->second;
  incident.recovered = FormatRfc3339(clock_->WallNow());
  open_.erase(it);
  l.Unlock();
  // Outside the lock, so that workers resolving several VMs at once share their syncs (RocksDB
  // groups concurrent synced writes). Nothing else writes this incident any more: it is no
  // longer open, and every earlier write of it finished under the lock. A failed write puts it
  // back, so that a retry resolves it again.
  if (Status saved = Save(incident, /*sync=*/true); !saved.ok()) {
    MutexLock relock(&mu_);
    incident.recovered.clear();
    open_.emplace(ObjectRef{kind, name}, incident);
    return saved;
  }
  if (listener_) listener_(incident, Change::kResolved);
  return std::optional<Incident>(incident);
}

std::optional<Incident> IncidentTracker::OpenIncident(specs::Kind kind,
                                                      const std::string& name) const {
  MutexLock l(&mu_);
  auto it = open_.find({kind, name});
  if (it == open_.end()) return std::nullopt;
  return it->second;
}

std::vector<Incident> IncidentTracker::OpenIncidents() const {
  MutexLock l(&mu_);
  std::vector<Incident> out;
  out.reserve(open_.size());
  for (const auto& [ref, incident] : open_) out.push_back(incident);
  return out;
}

StatusOr<std::vector<Incident>> IncidentTracker::List(std::optional<ObjectRef> object) const {
  std::string prefix = object ? KeyPrefix(object->kind, object->name) : kPrefix;
  VMK_ASSIGN_OR_RETURN(auto records, store_->ListHistory(prefix));
  std::vector<Incident> out;
  for (const auto& [key, json] : records) {
    auto incident = Incident::FromJson(json);
    if (incident.ok()) out.push_back(std::move(*incident));
  }
  std::sort(out.begin(), out.end(),
            [](const Incident& a, const Incident& b) { return a.detected < b.detected; });
  return out;
}

}  // namespace vmk::reconciler
