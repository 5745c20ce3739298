#include "reconciler/incidents/availability_ledger.h"

#include <unordered_map>

#include "common/rfc3339.h"

namespace vmk::reconciler {

namespace {

constexpr char kVmPrefix[] = "availability/vm/";
constexpr char kPlannedPrefix[] = "availability/planned/";
constexpr char kGapPrefix[] = "availability/gap/";
constexpr char kAliveKey[] = "availability/alive";

bool ReadTime(const specs::Json& json, const char* field, WallTime* out) {
  auto it = json.find(field);
  return it != json.end() && it->is_string() && ParseRfc3339(it->get<std::string>(), out);
}

specs::Json PlannedJson(const PlannedStop& stop) {
  specs::Json json{{"from", FormatRfc3339(stop.from)}, {"reason", stop.reason}};
  if (stop.to) json["to"] = FormatRfc3339(*stop.to);
  return json;
}

std::optional<PlannedStop> PlannedFromJson(const specs::Json& json) {
  PlannedStop stop;
  if (!json.is_object() || !ReadTime(json, "from", &stop.from)) return std::nullopt;
  WallTime to;
  if (ReadTime(json, "to", &to)) stop.to = to;
  stop.reason = json.value("reason", "");
  return stop;
}

}  // namespace

Status AvailabilityLedger::SaveEntry(const std::string& vm, const Entry& entry) {
  specs::Json json{{"since", FormatRfc3339(entry.since)},
                   {"readyGeneration", entry.ready_generation}};
  if (entry.open_planned) json["planned"] = PlannedJson(*entry.open_planned);
  // Not synced: a transition lost with a crash is seen again at the next pass (a few seconds
  // of a planned stop counted as up, at worst).
  return store_->PutHistory(kVmPrefix + vm, json, /*sync=*/false);
}

Status AvailabilityLedger::Load() {
  VMK_ASSIGN_OR_RETURN(auto records, store_->ListHistory("availability/"));
  std::map<std::string, Entry> vms;
  std::vector<ControllerGap> gaps;
  std::vector<std::pair<std::string, PlannedStop>> planned;
  for (const auto& [key, json] : records) {
    if (key.rfind(kVmPrefix, 0) == 0) {
      if (json.value("deleted", false)) continue;
      Entry entry;
      if (!ReadTime(json, "since", &entry.since)) continue;
      entry.ready_generation = json.value("readyGeneration", int64_t{0});
      if (auto it = json.find("planned"); it != json.end()) entry.open_planned = PlannedFromJson(*it);
      vms[key.substr(sizeof kVmPrefix - 1)] = std::move(entry);
    } else if (key.rfind(kPlannedPrefix, 0) == 0) {
      const std::string rest = key.substr(sizeof kPlannedPrefix - 1);
      auto stop = PlannedFromJson(json);
      if (stop && stop->to) planned.emplace_back(rest.substr(0, rest.rfind('/')), *stop);
    } else if (key.rfind(kGapPrefix, 0) == 0) {
      ControllerGap gap;
      if (ReadTime(json, "from", &gap.from) && ReadTime(json, "to", &gap.to)) gaps.push_back(gap);
    }
  }
  for (auto& [vm, stop] : planned) {
    auto it = vms.find(vm);
    // Stops of an earlier VM of the same name are not this one's.
    if (it != vms.end() && stop.from >= it->second.since) it->second.planned.push_back(stop);
  }
  VMK_ASSIGN_OR_RETURN(auto incidents, incidents_->List(std::nullopt));
  for (Incident& incident : incidents) {
    if (incident.kind != specs::Kind::kVirtualMachine || incident.open()) continue;
    auto it = vms.find(incident.name);
    if (it != vms.end()) it->second.closed.push_back(std::move(incident));
  }
  MutexLock l(&mu_);
  vms_ = std::move(vms);
  gaps_ = std::move(gaps);
  return Status::Ok();
}

Status AvailabilityLedger::Start() {
  const WallTime now = clock_->WallNow();
  VMK_ASSIGN_OR_RETURN(auto alive, store_->ListHistory(kAliveKey));
  for (const auto& [key, json] : alive) {
    WallTime last;
    if (key != kAliveKey || !ReadTime(json, "at", &last) || last >= now) continue;
    ControllerGap gap{last, now};
    VMK_RETURN_IF_ERROR(store_->PutHistory(
        kGapPrefix + SortableMillis(last),
        specs::Json{{"from", FormatRfc3339(gap.from)}, {"to", FormatRfc3339(gap.to)}},
        /*sync=*/true));
    MutexLock l(&mu_);
    gaps_.push_back(gap);
  }
  return Alive(/*sync=*/true);
}

Status AvailabilityLedger::Alive(bool sync) {
  return store_->PutHistory(kAliveKey, specs::Json{{"at", FormatRfc3339(clock_->WallNow())}},
                            sync);
}

Status AvailabilityLedger::Observe(const std::string& vm, int64_t generation, bool expected_up,
                                   bool ready) {
  const WallTime now = clock_->WallNow();
  MutexLock l(&mu_);
  auto [it, created] = vms_.try_emplace(vm);
  Entry& entry = it->second;
  bool dirty = created;
  if (created) entry.since = now;
  if (ready && expected_up && entry.ready_generation != generation) {
    entry.ready_generation = generation;
    dirty = true;
  }
  const bool planned = !expected_up || (!ready && entry.ready_generation != generation);
  if (planned && !entry.open_planned) {
    entry.open_planned = PlannedStop{
        now, std::nullopt,
        !expected_up ? "stopped" : entry.ready_generation == 0 ? "provisioning" : "change"};
    dirty = true;
  } else if (!planned && entry.open_planned) {
    PlannedStop stop = *entry.open_planned;
    stop.to = now;
    VMK_RETURN_IF_ERROR(store_->PutHistory(kPlannedPrefix + vm + "/" + SortableMillis(stop.from),
                                           PlannedJson(stop), /*sync=*/false));
    entry.planned.push_back(stop);
    entry.open_planned.reset();
    dirty = true;
  }
  if (!dirty) return Status::Ok();
  return SaveEntry(vm, entry);
}

Status AvailabilityLedger::Forget(const std::string& vm) {
  MutexLock l(&mu_);
  auto it = vms_.find(vm);
  if (it == vms_.end()) return Status::Ok();
  vms_.erase(it);
  return store_->PutHistory(kVmPrefix + vm, specs::Json{{"deleted", true}}, /*sync=*/false);
}

void AvailabilityLedger::OnIncident(const Incident& incident, IncidentTracker::Change change) {
  if (change != IncidentTracker::Change::kResolved ||
      incident.kind != specs::Kind::kVirtualMachine) {
    return;
  }
  MutexLock l(&mu_);
  auto it = vms_.find(incident.name);
  if (it != vms_.end()) it->second.closed.push_back(incident);
}

VmHistory AvailabilityLedger::HistoryOf(const Entry& entry,
                                        const std::vector<Incident>& open) const {
  VmHistory history;
  history.since = entry.since;
  history.planned = entry.planned;
  if (entry.open_planned) history.planned.push_back(*entry.open_planned);
  history.incidents = entry.closed;
  history.incidents.insert(history.incidents.end(), open.begin(), open.end());
  return history;
}

std::optional<VmHistory> AvailabilityLedger::History(const std::string& vm) const {
  std::vector<Incident> open;
  if (auto incident = incidents_->OpenIncident(specs::Kind::kVirtualMachine, vm)) {
    open.push_back(std::move(*incident));
  }
  MutexLock l(&mu_);
  auto it = vms_.find(vm);
  if (it == vms_.end()) return std::nullopt;
  return HistoryOf(it->second, open);
}

std::vector<ControllerGap> AvailabilityLedger::Gaps() const {
  MutexLock l(&mu_);
  return gaps_;
}

std::vector<std::pair<std::string, Availability>> AvailabilityLedger::Lifetimes(
    WallTime now) const {
  std::unordered_map<std::string, std::vector<Incident>> open;
  for (Incident& incident : incidents_->OpenIncidents()) {
    if (incident.kind == specs::Kind::kVirtualMachine) open[incident.name].push_back(incident);
  }
  static const std::vector<Incident> kNone;
  MutexLock l(&mu_);
  std::vector<std::pair<std::string, Availability>> out;
  out.reserve(vms_.size());
  for (const auto& [vm, entry] : vms_) {
    auto it = open.find(vm);
    out.emplace_back(vm, AccountAvailability(HistoryOf(entry, it == open.end() ? kNone : it->second),
                                             gaps_, AvailabilityWindow{entry.since, now}));
  }
  return out;
}

}  // namespace vmk::reconciler
