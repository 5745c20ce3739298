#include "tests/fakes/memory_store.h"

#include <algorithm>
#include <set>
#include <utility>

namespace vmk::reconciler {
namespace {



// RocksDbStore serialises every record, and nlohmann::json refuses strings that are not UTF-8;
// refuse the same records here so unit tests meet the error production would.
Status CheckSerializable(const specs::Json& json, const std::string& what) {
  try {
    (void)json.dump();
  } catch (const specs::Json::exception& e) {
    return Status::InvalidArgument(what + " cannot be serialised: " + e.what());
  }
  return Status::Ok();
}

}  // namespace

MemoryStore::MemoryStore(size_t max_events) : max_events_(std::max<size_t>(max_events, 1)) {}

StatusOr<std::optional<specs::Object>> MemoryStore::Get(specs::Kind kind,
                                                        const std::string& name) {
  std::lock_guard<std::mutex> lock(mutex_);
  const ObjectRef ref{kind, name};
  auto it = objects_.find(ref);
  if (it == objects_.end()) return std::optional<specs::Object>();
  specs::Object object = it->second;
  auto status = statuses_.find(ref);
  if (status != statuses_.end()) object.status = status->second;
  return std::optional<specs::Object>(std::move(object));
}

StatusOr<std::vector<specs::Object>> MemoryStore::List(specs::Kind kind) {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<specs::Object> out;
  for (auto it = objects_.lower_bound(ObjectRef{kind, ""});
       it != objects_.end() && it->first.kind == kind; ++it) {
    specs::Object object = it->second;
    auto status = statuses_.find(it->first);
    if (status != statuses_.end()) object.status = status->second;
    out.push_back(std::move(object));
  }
  return out;
}

StatusOr<std::vector<std::string>> MemoryStore::ListNames(specs::Kind kind) {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<std::string> out;
  for (auto it = objects_.lower_bound(ObjectRef{kind, ""});
       it != objects_.end() && it->first.kind == kind; ++it) {
    out.push_back(it->first.name);
  }
  return out;
}

Status MemoryStore::CommitApply(const ApplyBatch& batch) {
  VMK_RETURN_IF_ERROR(ValidateApplyBatch(batch));
  for (const specs::Object& put : batch.puts) {
    VMK_RETURN_IF_ERROR(CheckSerializable(specs::ObjectToJson(put, false), put.Key()));
  }
  std::lock_guard<std::mutex> lock(mutex_);
  for (const specs::Object& put : batch.puts) {
    // Keep what RocksDbStore would keep: metadata and spec, no status, no source locations.
    specs::Object object;
    object.kind = put.kind;
    object.metadata = put.metadata;
    object.spec = put.spec;
    objects_[ObjectRef{put.kind, put.metadata.name}] = std::move(object);
  }
  for (const ObjectRef& ref : batch.deletes) {
    objects_.erase(ref);
    statuses_.erase(ref);
  }
  return Status::Ok();
}

Status MemoryStore::PutStatus(specs::Kind kind, const std::string& name,
                              const specs::Json& status, bool sync) {
  const ObjectRef ref{kind, name};
  VMK_RETURN_IF_ERROR(CheckSerializable(status, "status of " + ref.ToString()));
  std::lock_guard<std::mutex> lock(mutex_);
  if (objects_.count(ref) == 0) return Status::NotFound(ref.ToString() + " not found");
  statuses_[ref] = status;
  return Status::Ok();
}

StatusOr<int64_t> MemoryStore::AppendEvent(Event event) {
  VMK_RETURN_IF_ERROR(CheckSerializable(
      specs::Json::array({event.time, event.name, event.type, event.reason, event.message}),
      "event"));
  std::lock_guard<std::mutex> lock(mutex_);
  event.seq = ++last_event_seq_;
  events_.push_back(std::move(event));
  while (events_.size() > max_events_) events_.pop_front();
  return last_event_seq_;
}

StatusOr<std::vector<Event>> MemoryStore::ListEvents(std::optional<ObjectRef> object,
                                                     int64_t after_seq, size_t limit) {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<Event> out;
  if (limit == 0) return out;
  const bool filtered = object.has_value() && !object->name.empty();
  for (auto it = events_.rbegin(); it != events_.rend() && it->seq > after_seq; ++it) {
    if (filtered && (it->kind != object->kind || it->name != object->name)) continue;
    out.push_back(*it);
    if (out.size() == limit) break;
  }
  std::reverse(out.begin(), out.end());
  return out;
}

Status MemoryStore::PutHistory(const std::string& key, const specs::Json& value, bool /*sync*/) {
  if (key.empty()) return Status::InvalidArgument("history key must not be empty");
  VMK_RETURN_IF_ERROR(CheckSerializable(value, "history " + key));
  std::lock_guard<std::mutex> lock(mutex_);
  history_[key] = value;
  return Status::Ok();
}

StatusOr<std::vector<std::pair<std::string, specs::Json>>> MemoryStore::ListHistory(
    const std::string& prefix) {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<std::pair<std::string, specs::Json>> out;
  for (auto it = history_.lower_bound(prefix);
       it != history_.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it) {
    out.emplace_back(it->first, it->second);
  }
  return out;
}

}  // namespace vmk::reconciler
