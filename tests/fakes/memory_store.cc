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
  MutexLock lock(&mutex_);
  const ObjectRef ref{kind, name};
  auto it = objects_.find(ref);
  if (it == objects_.end()) return std::optional<specs::Object>();
  specs::Object object = it->second;
  auto status = statuses_.find(ref);
  if (status != statuses_.end()) {
    object.status = status->second.first;
    object.status_revision = status->second.second;
  }
  return std::optional<specs::Object>(std::move(object));
}

StatusOr<std::vector<specs::Object>> MemoryStore::List(specs::Kind kind) {
  MutexLock lock(&mutex_);
  std::vector<specs::Object> out;
  for (auto it = objects_.lower_bound(ObjectRef{kind, ""});
       it != objects_.end() && it->first.kind == kind; ++it) {
    specs::Object object = it->second;
    auto status = statuses_.find(it->first);
    if (status != statuses_.end()) {
      object.status = status->second.first;
      object.status_revision = status->second.second;
    }
    out.push_back(std::move(object));
  }
  return out;
}

StatusOr<std::vector<std::string>> MemoryStore::ListNames(specs::Kind kind) {
  MutexLock lock(&mutex_);
  std::vector<std::string> out;
  for (auto it = objects_.lower_bound(ObjectRef{kind, ""});
       it != objects_.end() && it->first.kind == kind; ++it) {
    out.push_back(it->first.name);
  }
  return out;
}

StatusOr<int64_t> MemoryStore::CommitApply(const ApplyBatch& batch) {
  VMK_RETURN_IF_ERROR(ValidateApplyBatch(batch));
  for (const specs::Object& put : batch.puts) {
    VMK_RETURN_IF_ERROR(CheckSerializable(specs::ObjectToJson(put, false), put.Key()));
  }
  MutexLock lock(&mutex_);
  for (const auto& [ref, expected] : batch.expected_revisions) {
    auto it = objects_.find(ref);
    const bool found = it != objects_.end();
    const int64_t current = found ? it->second.revision : 0;
    if (found ? current != expected : expected != 0) {
      return Status::Aborted(RevisionConflict(ref, found, current, expected));
    }
  }
  const int64_t revision = revision_ + 1;
  std::vector<Change> changes;
  for (const specs::Object& put : batch.puts) {
    // Keep what RocksDbStore would keep: metadata and spec, no status, no source locations.
    specs::Object object;
    object.kind = put.kind;
    object.metadata = put.metadata;
    object.spec = put.spec;
    object.revision = revision;
    const ObjectRef ref{put.kind, put.metadata.name};
    objects_[ref] = std::move(object);
    changes.push_back({revision, Change::Type::kApplied, ref});
  }
  for (const ObjectRef& ref : batch.deletes) {
    if (objects_.erase(ref) == 0) continue;  // deleting what is not there changes nothing
    statuses_.erase(ref);
    changes.push_back({revision, Change::Type::kDeleted, ref});
  }
  if (changes.empty()) return revision_;
  revision_ = revision;
  feed_.Append(changes);
  return revision;
}

StatusOr<int64_t> MemoryStore::PutStatusIf(const StatusWrite& write) {
  const ObjectRef ref{write.kind, write.name};
  VMK_RETURN_IF_ERROR(CheckSerializable(write.status, "status of " + ref.ToString()));
  MutexLock lock(&mutex_);
  if (objects_.count(ref) == 0) return Status::NotFound(ref.ToString() + " not found");
  auto it = statuses_.find(ref);
  const int64_t current = it == statuses_.end() ? 0 : it->second.second;
  if (write.expected_status_revision && current != *write.expected_status_revision) {
    return Status::Aborted("the status of " + ref.ToString() + " changed meanwhile (revision " +
                           std::to_string(current) + ", expected " +
                           std::to_string(*write.expected_status_revision) + ")");
  }
  const int64_t revision = ++revision_;
  statuses_[ref] = {write.status, revision};
  feed_.Append({{revision, Change::Type::kStatus, ref}});
  return revision;
}

int64_t MemoryStore::Revision() { return feed_.revision(); }

StatusOr<ChangeBatch> MemoryStore::Changes(const ChangesRequest& request) {
  return feed_.Since(request);
}

StatusOr<int64_t> MemoryStore::AppendEvent(Event event) {
  VMK_RETURN_IF_ERROR(CheckSerializable(
      specs::Json::array({event.time, event.name, event.type, event.reason, event.message}),
      "event"));
  MutexLock lock(&mutex_);
  event.seq = ++last_event_seq_;
  events_.push_back(std::move(event));
  while (events_.size() > max_events_) events_.pop_front();
  return last_event_seq_;
}

StatusOr<std::vector<Event>> MemoryStore::ListEvents(std::optional<ObjectRef> object,
                                                     int64_t after_seq, size_t limit) {
  MutexLock lock(&mutex_);
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
  MutexLock lock(&mutex_);
  history_[key] = value;
  return Status::Ok();
}

StatusOr<std::vector<std::pair<std::string, specs::Json>>> MemoryStore::ListHistory(
    const std::string& prefix) {
  MutexLock lock(&mutex_);
  std::vector<std::pair<std::string, specs::Json>> out;
  for (auto it = history_.lower_bound(prefix);
       it != history_.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it) {
    out.emplace_back(it->first, it->second);
  }
  return out;
}

}  // namespace vmk::reconciler
