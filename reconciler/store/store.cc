#include "reconciler/store/store.h"

#include <set>

namespace vmk::reconciler {

const char* ChangeTypeName(Change::Type type) {
  switch (type) {
    case Change::Type::kApplied: return "applied";
    case Change::Type::kDeleted: return "deleted";
    case Change::Type::kStatus: return "status";
  }
  return "unknown";
}

std::string ObjectRef::ToString() const {
  return std::string(specs::KindName(kind)) + "/" + name;
}

specs::Json EventToJson(const Event& event) {
  return specs::Json{{"seq", event.seq},
                     {"time", event.time},
                     {"kind", std::string(specs::KindName(event.kind))},
                     {"name", event.name},
                     {"type", event.type},
                     {"reason", event.reason},
                     {"message", event.message}};
}

StatusOr<Event> EventFromJson(const specs::Json& json) {
  Event event;
  try {
    event.seq = json.at("seq").get<int64_t>();
    event.time = json.at("time").get<std::string>();
    auto kind = specs::KindFromName(json.at("kind").get<std::string>());
    if (!kind) return Status::InvalidArgument("event has an unknown kind");
    event.kind = *kind;
    event.name = json.at("name").get<std::string>();
    event.type = json.at("type").get<std::string>();
    event.reason = json.at("reason").get<std::string>();
    event.message = json.at("message").get<std::string>();
  } catch (const specs::Json::exception& e) {
    return Status::InvalidArgument(std::string("malformed event: ") + e.what());
  }
  return event;
}

std::string RevisionConflict(const ObjectRef& ref, bool exists, int64_t current,
                             int64_t expected) {
  if (!exists) return ref.ToString() + " was deleted meanwhile (expected revision " +
                      std::to_string(expected) + ")";
  if (expected == 0) return ref.ToString() + " was created meanwhile (revision " +
                            std::to_string(current) + ")";
  return ref.ToString() + " changed meanwhile (revision " + std::to_string(current) +
         ", expected " + std::to_string(expected) + ")";
}

Status ValidateApplyBatch(const ApplyBatch& batch) {
  std::set<ObjectRef> seen;
  for (const specs::Object& object : batch.puts) {
    if (object.metadata.name.empty()) return Status::InvalidArgument("object without a name");
    if (!seen.insert(ObjectRef{object.kind, object.metadata.name}).second) {
      return Status::InvalidArgument(object.Key() + " appears twice in one apply");
    }
  }
  for (const ObjectRef& ref : batch.deletes) {
    if (ref.name.empty()) return Status::InvalidArgument("delete without a name");
    if (!seen.insert(ref).second) {
      return Status::InvalidArgument(ref.ToString() + " appears twice in one apply");
    }
  }
  return Status::Ok();
}

}  // namespace vmk::reconciler
