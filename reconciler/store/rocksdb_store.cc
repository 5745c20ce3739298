#include "reconciler/store/rocksdb_store.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <map>
#include <mutex>
#include <set>
#include <utility>

#include <rocksdb/db.h>
#include <rocksdb/iterator.h>
#include <rocksdb/options.h>
#include <rocksdb/snapshot.h>
#include <rocksdb/write_batch.h>

#include "common/log.h"

namespace vmk::reconciler {
namespace {

constexpr char kObjectPrefix[] = "o/";
constexpr char kStatusPrefix[] = "s/";
constexpr char kEventPrefix[] = "e/";
constexpr char kHistoryPrefix[] = "h/";
constexpr char kEventSeqKey[] = "m/event_seq";
// Sorts after every "e/<digits>" key ('0' follows '/'), so SeekForPrev lands on the newest event.
constexpr char kAfterLastEventKey[] = "e0";

std::string KindPrefix(const char* record_prefix, specs::Kind kind) {
  std::string key = record_prefix;
  key += specs::KindName(kind);
  key += '/';
  return key;
}

std::string ObjectKey(specs::Kind kind, const std::string& name) {
  return KindPrefix(kObjectPrefix, kind) + name;
}

std::string StatusKey(specs::Kind kind, const std::string& name) {
  return KindPrefix(kStatusPrefix, kind) + name;
}

std::string EventKey(int64_t seq) {
  char digits[32];
  std::snprintf(digits, sizeof(digits), "%020" PRId64, seq);
  return std::string(kEventPrefix) + digits;
}


Status FromRocks(const rocksdb::Status& s, const std::string& context) {
  if (s.ok()) return Status::Ok();
  std::string message = context + ": " + s.ToString();
  if (s.IsNotFound()) return Status::NotFound(std::move(message));
  if (s.IsInvalidArgument()) return Status::InvalidArgument(std::move(message));
  // Lock held by another process (or store), a full disk, a read-only file system: the operator
  // can fix these, retrying may help.
  if (s.IsIOError() || s.IsBusy() || s.IsTryAgain() || s.IsTimedOut()) {
    return Status::Unavailable(std::move(message));
  }
  return Status::Internal(std::move(message));
}

// nlohmann::json throws on strings that are not UTF-8; that must not escape the store.
StatusOr<std::string> Serialize(const specs::Json& json, const std::string& what) {
  try {
    return json.dump();
  } catch (const specs::Json::exception& e) {
    return Status::InvalidArgument(what + " cannot be serialised: " + e.what());
  }
}

StatusOr<specs::Json> Parse(const rocksdb::Slice& key, const rocksdb::Slice& value) {
  specs::Json json = specs::Json::parse(value.data(), value.data() + value.size(),
                                        /*cb=*/nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) {
    return Status::Internal("corrupt record at key " + key.ToString() + ": not JSON");
  }
  return json;
}

StatusOr<specs::Object> ObjectFromRecord(const rocksdb::Slice& key, const rocksdb::Slice& value) {
  VMK_ASSIGN_OR_RETURN(specs::Json json, Parse(key, value));
  auto object = specs::ObjectFromJson(json);
  if (!object.ok()) {
    return Status::Internal("corrupt object at key " + key.ToString() + ": " +
                            object.status().message());
  }
  return std::move(object).value();
}

StatusOr<Event> EventFromRecord(const rocksdb::Slice& key, const rocksdb::Slice& value) {
  VMK_ASSIGN_OR_RETURN(specs::Json json, Parse(key, value));
  auto event = EventFromJson(json);
  if (!event.ok()) {
    return Status::Internal("corrupt event at key " + key.ToString() + ": " +
                            event.status().message());
  }
  return std::move(event).value();
}


bool StartsWith(const rocksdb::Slice& s, const std::string& prefix) {
  return s.starts_with(rocksdb::Slice(prefix));
}

}  // namespace

struct RocksDbStore::Impl {
  RocksDbStoreOptions options;
  std::unique_ptr<rocksdb::DB> db;

  // Serialises CommitApply and PutStatus, so PutStatus's existence check and write are atomic
  // with respect to deletes. A plain mutex is exact here: the database is opened by one process
  // only (RocksDB's LOCK file), so all writers are in this object. An OptimisticTransactionDB
  // would detect the same conflict but make callers retry, for no gain.
  std::mutex objects_mutex;

  std::mutex events_mutex;
  int64_t last_event_seq = 0;   // GUARDED_BY(events_mutex)
  int64_t first_event_seq = 1;  // oldest kept; last_event_seq + 1 when none. GUARDED_BY(events_mutex)

  rocksdb::WriteOptions SyncedWrite() const {
    rocksdb::WriteOptions wo;
    wo.sync = true;
    return wo;
  }

  // Recovers the event counter and the oldest kept event after open.
  Status LoadEventBounds() {
    std::string value;
    rocksdb::Status s = db->Get(rocksdb::ReadOptions(), kEventSeqKey, &value);
    if (s.ok()) {
      if (std::sscanf(value.c_str(), "%" SCNd64, &last_event_seq) != 1) {
        return Status::Internal(std::string("corrupt record at key ") + kEventSeqKey);
      }
    } else if (!s.IsNotFound()) {
      return FromRocks(s, "reading event counter");
    }
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions()));
    int64_t newest = 0;
    it->SeekForPrev(kAfterLastEventKey);
    if (it->Valid() && StartsWith(it->key(), kEventPrefix)) {
      std::sscanf(it->key().ToString().c_str() + 2, "%" SCNd64, &newest);
    }
    // The counter is written in the same batch as its event, so this only matters if the
    // counter record were lost; never hand out a seq that is already used.
    last_event_seq = std::max(last_event_seq, newest);
    first_event_seq = last_event_seq + 1;
    it->Seek(kEventPrefix);
    if (it->Valid() && StartsWith(it->key(), kEventPrefix)) {
      std::sscanf(it->key().ToString().c_str() + 2, "%" SCNd64, &first_event_seq);
    }
    return FromRocks(it->status(), "scanning events");
  }
};

RocksDbStore::RocksDbStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

RocksDbStore::~RocksDbStore() {
  if (impl_ && impl_->db) {
    rocksdb::Status s = impl_->db->Close();
    if (!s.ok()) log::Warning("closing store failed", {{"error", s.ToString()}});
  }
}

StatusOr<std::unique_ptr<RocksDbStore>> RocksDbStore::Open(const std::string& path,
                                                           const RocksDbStoreOptions& options) {
  if (options.max_events < 1) return Status::InvalidArgument("max_events must be at least 1");
  if (path.empty()) return Status::InvalidArgument("store path must not be empty");
  rocksdb::Options db_options;
  db_options.create_if_missing = true;
  // RocksDB's own info LOG files in the directory: keep them few and small.
  db_options.keep_log_file_num = 3;
  db_options.max_log_file_size = 4 << 20;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(db_options, path, &raw);
  if (!s.ok()) return FromRocks(s, "opening store at " + path);

  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->db.reset(raw);
  VMK_RETURN_IF_ERROR(impl->LoadEventBounds());
  return std::unique_ptr<RocksDbStore>(new RocksDbStore(std::move(impl)));
}

StatusOr<std::optional<specs::Object>> RocksDbStore::Get(specs::Kind kind,
                                                         const std::string& name) {
  // One snapshot for both reads: never an object paired with the status of a later incarnation.
  rocksdb::ManagedSnapshot snapshot(impl_->db.get());
  rocksdb::ReadOptions ro;
  ro.snapshot = snapshot.snapshot();

  const std::string object_key = ObjectKey(kind, name);
  std::string value;
  rocksdb::Status s = impl_->db->Get(ro, object_key, &value);
  if (s.IsNotFound()) return std::optional<specs::Object>();
  VMK_RETURN_IF_ERROR(FromRocks(s, "reading " + object_key));
  VMK_ASSIGN_OR_RETURN(specs::Object object, ObjectFromRecord(object_key, value));

  const std::string status_key = StatusKey(kind, name);
  s = impl_->db->Get(ro, status_key, &value);
  if (s.ok()) {
    VMK_ASSIGN_OR_RETURN(object.status, Parse(status_key, value));
  } else if (s.IsNotFound()) {
    object.status = specs::Json::object();
  } else {
    return FromRocks(s, "reading " + status_key);
  }
  return std::optional<specs::Object>(std::move(object));
}

StatusOr<std::vector<specs::Object>> RocksDbStore::List(specs::Kind kind) {
  rocksdb::ManagedSnapshot snapshot(impl_->db.get());
  rocksdb::ReadOptions ro;
  ro.snapshot = snapshot.snapshot();

  // Statuses first (a few per object at most), then objects in key order, i.e. by name.
  std::map<std::string, specs::Json> statuses;
  const std::string status_prefix = KindPrefix(kStatusPrefix, kind);
  std::unique_ptr<rocksdb::Iterator> it(impl_->db->NewIterator(ro));
  for (it->Seek(status_prefix); it->Valid() && StartsWith(it->key(), status_prefix); it->Next()) {
    VMK_ASSIGN_OR_RETURN(specs::Json status, Parse(it->key(), it->value()));
    statuses.emplace(it->key().ToString().substr(status_prefix.size()), std::move(status));
  }
  VMK_RETURN_IF_ERROR(FromRocks(it->status(), "listing " + status_prefix));

  std::vector<specs::Object> objects;
  const std::string object_prefix = KindPrefix(kObjectPrefix, kind);
  for (it->Seek(object_prefix); it->Valid() && StartsWith(it->key(), object_prefix); it->Next()) {
    VMK_ASSIGN_OR_RETURN(specs::Object object, ObjectFromRecord(it->key(), it->value()));
    auto status = statuses.find(it->key().ToString().substr(object_prefix.size()));
    if (status != statuses.end()) object.status = std::move(status->second);
    else object.status = specs::Json::object();
    objects.push_back(std::move(object));
  }
  VMK_RETURN_IF_ERROR(FromRocks(it->status(), "listing " + object_prefix));
  return objects;
}

StatusOr<std::vector<std::string>> RocksDbStore::ListNames(specs::Kind kind) {
  rocksdb::ReadOptions ro;
  std::vector<std::string> names;
  const std::string prefix = KindPrefix(kObjectPrefix, kind);
  std::unique_ptr<rocksdb::Iterator> it(impl_->db->NewIterator(ro));
  for (it->Seek(prefix); it->Valid() && StartsWith(it->key(), prefix); it->Next()) {
    names.push_back(it->key().ToString().substr(prefix.size()));
  }
  VMK_RETURN_IF_ERROR(FromRocks(it->status(), "listing " + prefix));
  return names;
}

Status RocksDbStore::CommitApply(const ApplyBatch& batch) {
  VMK_RETURN_IF_ERROR(ValidateApplyBatch(batch));
  rocksdb::WriteBatch write_batch;
  for (const specs::Object& object : batch.puts) {
    VMK_ASSIGN_OR_RETURN(std::string value,
                         Serialize(specs::ObjectToJson(object, /*include_status=*/false),
                                   object.Key()));
    write_batch.Put(ObjectKey(object.kind, object.metadata.name), value);
  }
  for (const ObjectRef& ref : batch.deletes) {
    write_batch.Delete(ObjectKey(ref.kind, ref.name));
    write_batch.Delete(StatusKey(ref.kind, ref.name));
  }
  std::lock_guard<std::mutex> lock(impl_->objects_mutex);
  return FromRocks(impl_->db->Write(impl_->SyncedWrite(), &write_batch), "committing apply");
}

Status RocksDbStore::PutStatus(specs::Kind kind, const std::string& name,
                               const specs::Json& status, bool sync) {
  VMK_ASSIGN_OR_RETURN(std::string value, Serialize(status, "status of " + ObjectRef{kind, name}.ToString()));
  rocksdb::WriteOptions wo;
  wo.sync = sync;
  std::lock_guard<std::mutex> lock(impl_->objects_mutex);
  std::string ignored;
  rocksdb::Status s = impl_->db->Get(rocksdb::ReadOptions(), ObjectKey(kind, name), &ignored);
  if (s.IsNotFound()) return Status::NotFound(ObjectRef{kind, name}.ToString() + " not found");
  VMK_RETURN_IF_ERROR(FromRocks(s, "reading " + ObjectRef{kind, name}.ToString()));
  return FromRocks(impl_->db->Put(wo, StatusKey(kind, name), value),
                   "writing status of " + ObjectRef{kind, name}.ToString());
}

StatusOr<int64_t> RocksDbStore::AppendEvent(Event event) {
  std::lock_guard<std::mutex> lock(impl_->events_mutex);
  const int64_t seq = impl_->last_event_seq + 1;
  event.seq = seq;
  VMK_ASSIGN_OR_RETURN(std::string value, Serialize(EventToJson(event), "event"));
  rocksdb::WriteBatch write_batch;
  write_batch.Put(EventKey(seq), value);
  write_batch.Put(kEventSeqKey, std::to_string(seq));
  // Trim in the same batch: the bound holds at every moment, crash or not.
  const int64_t max_events = static_cast<int64_t>(impl_->options.max_events);
  int64_t first = impl_->first_event_seq;
  while (seq - first + 1 > max_events) write_batch.Delete(EventKey(first++));
  // Not synced: events are informative, and a synced write that follows makes them durable too.
  VMK_RETURN_IF_ERROR(
      FromRocks(impl_->db->Write(rocksdb::WriteOptions(), &write_batch), "appending event"));
  impl_->last_event_seq = seq;
  impl_->first_event_seq = first;
  return seq;
}

StatusOr<std::vector<Event>> RocksDbStore::ListEvents(std::optional<ObjectRef> object,
                                                      int64_t after_seq, size_t limit) {
  std::vector<Event> events;
  if (limit == 0) return events;
  const bool filtered = object.has_value() && !object->name.empty();
  // Newest first until `limit` matches or seq <= after_seq; at most max_events records to scan,
  // so no per-object index is kept.
  std::unique_ptr<rocksdb::Iterator> it(impl_->db->NewIterator(rocksdb::ReadOptions()));
  for (it->SeekForPrev(kAfterLastEventKey); it->Valid() && StartsWith(it->key(), kEventPrefix);
       it->Prev()) {
    VMK_ASSIGN_OR_RETURN(Event event, EventFromRecord(it->key(), it->value()));
    if (event.seq <= after_seq) break;
    if (filtered && (event.kind != object->kind || event.name != object->name)) continue;
    events.push_back(std::move(event));
    if (events.size() == limit) break;
  }
  VMK_RETURN_IF_ERROR(FromRocks(it->status(), "listing events"));
  std::reverse(events.begin(), events.end());
  return events;
}

Status RocksDbStore::Sync() { return FromRocks(impl_->db->SyncWAL(), "syncing the log"); }

Status RocksDbStore::PutHistory(const std::string& key, const specs::Json& value, bool sync) {
  if (key.empty()) return Status::InvalidArgument("history key must not be empty");
  VMK_ASSIGN_OR_RETURN(std::string serialized, Serialize(value, "history " + key));
  rocksdb::WriteOptions options;
  options.sync = sync;
  return FromRocks(impl_->db->Put(options, kHistoryPrefix + key, serialized),
                   "writing history " + key);
}

StatusOr<std::vector<std::pair<std::string, specs::Json>>> RocksDbStore::ListHistory(
    const std::string& prefix) {
  std::vector<std::pair<std::string, specs::Json>> records;
  const std::string full_prefix = kHistoryPrefix + prefix;
  const size_t strip = sizeof(kHistoryPrefix) - 1;
  std::unique_ptr<rocksdb::Iterator> it(impl_->db->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek(full_prefix); it->Valid() && StartsWith(it->key(), full_prefix); it->Next()) {
    VMK_ASSIGN_OR_RETURN(specs::Json value, Parse(it->key(), it->value()));
    records.emplace_back(it->key().ToString().substr(strip), std::move(value));
  }
  VMK_RETURN_IF_ERROR(FromRocks(it->status(), "listing history " + prefix));
  return records;
}

}  // namespace vmk::reconciler
