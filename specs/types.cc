#include "specs/types.h"

#include <algorithm>
#include <cctype>

namespace vmk::specs {

std::string_view KindName(Kind kind) {
  switch (kind) {
    case Kind::kHost: return "Host";
    case Kind::kVirtualMachine: return "VirtualMachine";
    case Kind::kSnapshotPolicy: return "SnapshotPolicy";
    case Kind::kStoragePool: return "StoragePool";
  }
  return "Unknown";
}

std::optional<Kind> KindFromName(std::string_view name) {
  for (Kind k : kAllKinds) {
    if (KindName(k) == name) return k;
  }
  return std::nullopt;
}

std::optional<Kind> KindFromCliName(std::string_view name) {
  std::string n(name);
  std::transform(n.begin(), n.end(), n.begin(), [](unsigned char c) { return std::tolower(c); });
  if (n == "host" || n == "hosts") return Kind::kHost;
  if (n == "vm" || n == "vms" || n == "virtualmachine" || n == "virtualmachines") {
    return Kind::kVirtualMachine;
  }
  if (n == "sp" || n == "snapshotpolicy" || n == "snapshotpolicies") return Kind::kSnapshotPolicy;
  if (n == "pool" || n == "pools" || n == "storagepool" || n == "storagepools") {
    return Kind::kStoragePool;
  }
  return std::nullopt;
}

std::string_view InterfaceTypeName(InterfaceSpec::Type type) {
  switch (type) {
    case InterfaceSpec::Type::kUser: return "user";
    case InterfaceSpec::Type::kBridge: return "bridge";
    case InterfaceSpec::Type::kNetwork: return "network";
  }
  return "user";
}

std::optional<InterfaceSpec::Type> InterfaceTypeFromName(std::string_view name) {
  for (auto type : {InterfaceSpec::Type::kUser, InterfaceSpec::Type::kBridge,
                    InterfaceSpec::Type::kNetwork}) {
    if (InterfaceTypeName(type) == name) return type;
  }
  return std::nullopt;
}

std::string SourceLocation::ToString() const {
  std::string out = file.empty() ? "<input>" : file;
  if (line > 0) {
    out += ":" + std::to_string(line);
    if (column > 0) out += ":" + std::to_string(column);
  }
  return out;
}

std::string Object::Key() const {
  return std::string(KindName(kind)) + "/" + metadata.name;
}

SourceLocation Object::LocationOf(const std::string& path) const {
  std::string p = path;
  while (!p.empty()) {
    auto it = field_locations.find(p);
    if (it != field_locations.end()) return it->second;
    auto cut = p.find_last_of(".[");
    if (cut == std::string::npos) break;
    p.resize(cut);
  }
  return source;
}

Json ObjectToJson(const Object& object, bool include_status) {
  Json meta = Json::object();
  meta["name"] = object.metadata.name;
  if (!object.metadata.labels.empty()) meta["labels"] = object.metadata.labels;
  if (object.metadata.generation > 0) meta["generation"] = object.metadata.generation;
  if (!object.metadata.deletionTimestamp.empty()) {
    meta["deletionTimestamp"] = object.metadata.deletionTimestamp;
  }
  if (!object.metadata.finalizers.empty()) meta["finalizers"] = object.metadata.finalizers;
  Json out = Json::object();
  out["apiVersion"] = kApiVersion;
  out["kind"] = std::string(KindName(object.kind));
  out["metadata"] = std::move(meta);
  out["spec"] = object.spec;
  if (include_status && !object.status.empty()) out["status"] = object.status;
  return out;
}

StatusOr<Object> ObjectFromJson(const Json& json) {
  if (!json.is_object()) return Status::InvalidArgument("object must be a JSON object");
  Object o;
  auto kind_it = json.find("kind");
  if (kind_it == json.end() || !kind_it->is_string()) {
    return Status::InvalidArgument("object has no kind");
  }
  auto kind = KindFromName(kind_it->get<std::string>());
  if (!kind) return Status::InvalidArgument("unknown kind " + kind_it->get<std::string>());
  o.kind = *kind;
  auto meta_it = json.find("metadata");
  if (meta_it == json.end() || !meta_it->is_object()) {
    return Status::InvalidArgument("object has no metadata");
  }
  const Json& meta = *meta_it;
  if (!meta.contains("name") || !meta["name"].is_string()) {
    return Status::InvalidArgument("object has no metadata.name");
  }
  o.metadata.name = meta["name"].get<std::string>();
  try {
    if (meta.contains("labels")) {
      o.metadata.labels = meta["labels"].get<std::map<std::string, std::string>>();
    }
    if (meta.contains("generation")) o.metadata.generation = meta["generation"].get<int64_t>();
    if (meta.contains("deletionTimestamp")) {
      o.metadata.deletionTimestamp = meta["deletionTimestamp"].get<std::string>();
    }
    if (meta.contains("finalizers")) {
      o.metadata.finalizers = meta["finalizers"].get<std::vector<std::string>>();
    }
  } catch (const Json::exception& e) {
    return Status::InvalidArgument(std::string("bad metadata: ") + e.what());
  }
  if (json.contains("spec")) o.spec = json["spec"];
  if (json.contains("status")) o.status = json["status"];
  return o;
}

Json ConditionsToJson(const std::vector<Condition>& conditions) {
  Json out = Json::array();
  for (const auto& c : conditions) {
    Json j = {{"type", c.type}, {"status", c.status}, {"reason", c.reason}};
    if (!c.message.empty()) j["message"] = c.message;
    if (!c.lastTransitionTime.empty()) j["lastTransitionTime"] = c.lastTransitionTime;
    out.push_back(std::move(j));
  }
  return out;
}

std::vector<Condition> ConditionsFromJson(const Json& json) {
  std::vector<Condition> out;
  if (!json.is_array()) return out;
  for (const auto& j : json) {
    if (!j.is_object()) continue;
    Condition c;
    c.type = j.value("type", "");
    c.status = j.value("status", "Unknown");
    c.reason = j.value("reason", "");
    c.message = j.value("message", "");
    c.lastTransitionTime = j.value("lastTransitionTime", "");
    out.push_back(std::move(c));
  }
  return out;
}

bool SetCondition(std::vector<Condition>* conditions, Condition c) {
  for (auto& existing : *conditions) {
    if (existing.type != c.type) continue;
    if (existing.status == c.status) {
      c.lastTransitionTime = existing.lastTransitionTime;
    }
    bool changed = existing.status != c.status || existing.reason != c.reason ||
                   existing.message != c.message;
    existing = std::move(c);
    return changed;
  }
  conditions->push_back(std::move(c));
  return true;
}

bool RemoveCondition(std::vector<Condition>* conditions, std::string_view type) {
  const auto before = conditions->size();
  conditions->erase(std::remove_if(conditions->begin(), conditions->end(),
                                   [&](const Condition& c) { return c.type == type; }),
                    conditions->end());
  return conditions->size() != before;
}

const Condition* FindCondition(const std::vector<Condition>& conditions, std::string_view type) {
  for (const auto& c : conditions) {
    if (c.type == type) return &c;
  }
  return nullptr;
}

}  // namespace vmk::specs
