#include "reconciler/store/rocksdb_store.h"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <cinttypes>
#include <cstdio>
#include <map>
#include <unordered_map>
#include <set>
#include <utility>

#include <rocksdb/db.h>
#include <rocksdb/iterator.h>
#include <rocksdb/options.h>
#include <rocksdb/snapshot.h>
#include <rocksdb/write_batch.h>

#include "common/log.h"
#include "common/mutex.h"
#include "reconciler/store/change_feed.h"

namespace vmk::reconciler {
namespace {

constexpr char kObjectPrefix[] = "o/";
constexpr char kStatusPrefix[] = "s/";
constexpr char kEventPrefix[] = "e/";
constexpr char kHistoryPrefix[] = "h/";
constexpr char kEventSeqKey[] = "m/event_seq";
constexpr char kRevisionKey[] = "m/revision";
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

// Object and status records carry the revision of their write: "r<revision>;<json>". A record
// written before revisions existed is plain JSON and reads as revision 0.
std::string Record(int64_t revision, const std::string& json) {
  return "r" + std::to_string(revision) + ";" + json;
}

struct RevisionedValue {
  int64_t revision = 0;
  rocksdb::Slice json;
};

StatusOr<RevisionedValue> SplitRecord(const rocksdb::Slice& key, const rocksdb::Slice& value) {
  RevisionedValue out{0, value};
  if (value.empty() || value[0] != 'r') return out;
  const char* begin = value.data() + 1;
  const char* end = value.data() + value.size();
  const char* semicolon = static_cast<const char*>(std::memchr(begin, ';', end - begin));
  int64_t revision = 0;
  auto [ptr, ec] = std::from_chars(begin, semicolon ? semicolon : end, revision);
  if (semicolon == nullptr || ec != std::errc() || ptr != semicolon) {
    return Status::Internal("corrupt record at key " + key.ToString() + ": bad revision");
  }
  out.revision = revision;
  out.json = rocksdb::Slice(semicolon + 1, end - semicolon - 1);
  return out;
}

StatusOr<specs::Object> ObjectFromRecord(const rocksdb::Slice& key, const rocksdb::Slice& record) {
  VMK_ASSIGN_OR_RETURN(RevisionedValue value, SplitRecord(key, record));
  VMK_ASSIGN_OR_RETURN(specs::Json json, Parse(key, value.json));
  auto object = specs::ObjectFromJson(json);
  if (!object.ok()) {
    return Status::Internal("corrupt object at key " + key.ToString() + ": " +
                            object.status().message());
  }
  object->revision = value.revision;
  return std::move(object).value();
}

// Sets object->status and status_revision from a status record.
Status StatusFromRecord(const rocksdb::Slice& key, const rocksdb::Slice& record,
                        specs::Object* object) {
  VMK_ASSIGN_OR_RETURN(RevisionedValue value, SplitRecord(key, record));
  VMK_ASSIGN_OR_RETURN(object->status, Parse(key, value.json));
  object->status_revision = value.revision;
  return Status::Ok();
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
  Mutex objects_mutex;
  int64_t revision GUARDED_BY(objects_mutex) = 0;  // the store's revision, also at m/revision
  ChangeFeed feed;

  Status LoadRevision() REQUIRES(objects_mutex) {
    std::string value;
    rocksdb::Status s = db->Get(rocksdb::ReadOptions(), kRevisionKey, &value);
    if (s.IsNotFound()) {
      VMK_RETURN_IF_ERROR(MigrateToRevisions());
    } else if (!s.ok()) {
      return FromRocks(s, "reading the revision");
    } else if (std::sscanf(value.c_str(), "%" SCNd64, &revision) != 1) {
      return Status::Internal(std::string("corrupt record at key ") + kRevisionKey);
    }
    feed.Start(revision);
    return LoadIndex();
  }

  // A store written before revisions existed: its object and status records are plain JSON.
  // They all take revision 1, in one synced batch with the counter, so that no record reads as
  // revision 0 (which a conditional write takes for "does not exist").
  Status MigrateToRevisions() REQUIRES(objects_mutex) {
    rocksdb::WriteBatch batch;
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions()));
    for (const char* prefix : {kObjectPrefix, kStatusPrefix}) {
      for (it->Seek(prefix); it->Valid() && StartsWith(it->key(), prefix); it->Next()) {
        if (!it->value().empty() && it->value()[0] == 'r') continue;
        batch.Put(it->key(), Record(1, it->value().ToString()));
      }
    }
    VMK_RETURN_IF_ERROR(FromRocks(it->status(), "scanning records for revisions"));
    revision = batch.Count() > 0 ? 1 : 0;
    if (revision == 0) return Status::Ok();
    batch.Put(kRevisionKey, "1");
    log::Info("store records given revisions", {{"records", std::to_string(batch.Count() - 1)}});
    return FromRocks(db->Write(SyncedWrite(), &batch), "giving records revisions");
  }

  // The revisions of every object and of its status (0 = no status), kept in memory so that a
  // write's conditions (the object exists, the revisions it expects) cost no read: a site's
  // objects are thousands, a few hundred KiB. Keyed by ObjectRef::ToString().
  struct Revisions {
    int64_t object = 0;
    int64_t status = 0;
  };
  std::unordered_map<std::string, Revisions> index GUARDED_BY(objects_mutex);

  Status LoadIndex() REQUIRES(objects_mutex) {
    index.clear();
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions()));
    for (const char* prefix : {kObjectPrefix, kStatusPrefix}) {
      const bool objects = prefix == kObjectPrefix;
      for (it->Seek(prefix); it->Valid() && StartsWith(it->key(), prefix); it->Next()) {
        auto value = SplitRecord(it->key(), it->value());
        // A corrupt record is reported when it is read (Internal); here it only must never
        // satisfy a condition.
        const int64_t revision = value.ok() ? value->revision : -1;
        const std::string ref = it->key().ToString().substr(std::strlen(prefix));
        if (objects) {
          index[ref].object = revision;
        } else if (auto entry = index.find(ref); entry != index.end()) {
          entry->second.status = revision;
        }
      }
    }
    return FromRocks(it->status(), "indexing revisions");
  }

  Mutex events_mutex;
  int64_t last_event_seq GUARDED_BY(events_mutex) = 0;
  // The oldest kept; last_event_seq + 1 when none.
  int64_t first_event_seq GUARDED_BY(events_mutex) = 1;

  rocksdb::WriteOptions SyncedWrite() const {
    rocksdb::WriteOptions wo;
    wo.sync = true;
    return wo;
  }

  // Recovers the event counter and the oldest kept event after open.
  Status LoadEventBounds() REQUIRES(events_mutex) {
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
  {
    // Nobody else sees `impl` yet; the loaders write what these locks guard.
    MutexLock events_lock(&impl->events_mutex);
    VMK_RETURN_IF_ERROR(impl->LoadEventBounds());
  }
  {
    MutexLock objects_lock(&impl->objects_mutex);
    VMK_RETURN_IF_ERROR(impl->LoadRevision());
  }
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
    VMK_RETURN_IF_ERROR(StatusFromRecord(status_key, value, &object));
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
  std::map<std::string, specs::Object> statuses;  // only status and status_revision set
  const std::string status_prefix = KindPrefix(kStatusPrefix, kind);
  std::unique_ptr<rocksdb::Iterator> it(impl_->db->NewIterator(ro));
  for (it->Seek(status_prefix); it->Valid() && StartsWith(it->key(), status_prefix); it->Next()) {
    specs::Object holder;
    VMK_RETURN_IF_ERROR(StatusFromRecord(it->key(), it->value(), &holder));
    statuses.emplace(it->key().ToString().substr(status_prefix.size()), std::move(holder));
  }
  VMK_RETURN_IF_ERROR(FromRocks(it->status(), "listing " + status_prefix));

  std::vector<specs::Object> objects;
  const std::string object_prefix = KindPrefix(kObjectPrefix, kind);
  for (it->Seek(object_prefix); it->Valid() && StartsWith(it->key(), object_prefix); it->Next()) {
    VMK_ASSIGN_OR_RETURN(specs::Object object, ObjectFromRecord(it->key(), it->value()));
    auto status = statuses.find(it->key().ToString().substr(object_prefix.size()));
    if (status != statuses.end()) {
      object.status = std::move(status->second.status);
      object.status_revision = status->second.status_revision;
    } else {
      object.status = specs::Json::object();
    }
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

StatusOr<int64_t> RocksDbStore::CommitApply(const ApplyBatch& batch) {
  VMK_RETURN_IF_ERROR(ValidateApplyBatch(batch));
  std::vector<std::pair<std::string, std::string>> puts;  // key, JSON
  for (const specs::Object& object : batch.puts) {
    VMK_ASSIGN_OR_RETURN(std::string value,
                         Serialize(specs::ObjectToJson(object, /*include_status=*/false),
                                   object.Key()));
    puts.emplace_back(ObjectKey(object.kind, object.metadata.name), std::move(value));
  }
  MutexLock lock(&impl_->objects_mutex);
  for (const auto& [ref, expected] : batch.expected_revisions) {
    auto it = impl_->index.find(ref.ToString());
    const bool found = it != impl_->index.end();
    const int64_t current = found ? it->second.object : 0;
    if (found ? current != expected : expected != 0) {
      return Status::Aborted(RevisionConflict(ref, found, current, expected));
    }
  }
  const int64_t revision = impl_->revision + 1;
  std::vector<Change> changes;
  rocksdb::WriteBatch write_batch;
  for (size_t i = 0; i < puts.size(); ++i) {
    write_batch.Put(puts[i].first, Record(revision, puts[i].second));
    changes.push_back({revision, Change::Type::kApplied,
                       ObjectRef{batch.puts[i].kind, batch.puts[i].metadata.name}});
  }
  for (const ObjectRef& ref : batch.deletes) {
    if (impl_->index.count(ref.ToString()) == 0) continue;  // not there: nothing changes
    write_batch.Delete(ObjectKey(ref.kind, ref.name));
    write_batch.Delete(StatusKey(ref.kind, ref.name));
    changes.push_back({revision, Change::Type::kDeleted, ref});
  }
  if (changes.empty()) return impl_->revision;
  write_batch.Put(kRevisionKey, std::to_string(revision));
  VMK_RETURN_IF_ERROR(
      FromRocks(impl_->db->Write(impl_->SyncedWrite(), &write_batch), "committing apply"));
  impl_->revision = revision;
  for (const Change& change : changes) {
    if (change.type == Change::Type::kDeleted) {
      impl_->index.erase(change.object.ToString());
    } else {
      impl_->index[change.object.ToString()].object = revision;
    }
  }
  impl_->feed.Append(changes);
  return revision;
}

StatusOr<int64_t> RocksDbStore::PutStatusIf(const StatusWrite& write) {
  const ObjectRef ref{write.kind, write.name};
  VMK_ASSIGN_OR_RETURN(std::string value, Serialize(write.status, "status of " + ref.ToString()));
  rocksdb::WriteOptions wo;
  wo.sync = write.sync;
  MutexLock lock(&impl_->objects_mutex);
  auto indexed = impl_->index.find(ref.ToString());
  if (indexed == impl_->index.end()) return Status::NotFound(ref.ToString() + " not found");
  if (write.expected_status_revision) {
    const int64_t current = indexed->second.status;
    if (current != *write.expected_status_revision) {
      return Status::Aborted("the status of " + ref.ToString() + " changed meanwhile (revision " +
                             std::to_string(current) + ", expected " +
                             std::to_string(*write.expected_status_revision) + ")");
    }
  }
  const int64_t revision = impl_->revision + 1;
  rocksdb::WriteBatch write_batch;
  write_batch.Put(StatusKey(ref.kind, ref.name), Record(revision, value));
  write_batch.Put(kRevisionKey, std::to_string(revision));
  VMK_RETURN_IF_ERROR(FromRocks(impl_->db->Write(wo, &write_batch),
                                "writing status of " + ref.ToString()));
  impl_->revision = revision;
  indexed->second.status = revision;
  impl_->feed.Append({{revision, Change::Type::kStatus, ref}});
  return revision;
}

int64_t RocksDbStore::Revision() { return impl_->feed.revision(); }

StatusOr<ChangeBatch> RocksDbStore::Changes(const ChangesRequest& request) {
  return impl_->feed.Since(request);
}

StatusOr<int64_t> RocksDbStore::AppendEvent(Event event) {
  MutexLock lock(&impl_->events_mutex);
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
