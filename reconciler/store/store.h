// Store: the durable desired state (objects with generation), their status, events and history.
//
// Implementations: RocksDbStore (production, one process; every write that matters is synced)
// and MemoryStore (unit tests, tests/fakes). The interface is shaped so that a distributed
// backend (etcd) fits behind it too: revisions, conditional writes and a change feed are etcd's
// own model. All methods are thread-safe.
//
// Layout promise: an object's metadata+spec and its status are separate records, so a status
// write never races with an apply; CommitApply is atomic (all or nothing).
//
// Revisions: the store has one revision counter (like etcd's), and every change of an object or
// of its status takes the next value. Object::revision is the revision of the object's last
// apply, Object::status_revision that of its last status write (0: none since it was created).
// A write can be conditioned on what its writer read (compare-and-swap): an apply on the
// revisions of the objects it changes, a status write on the status revision. When the record
// moved on meanwhile (another writer, or the object deleted and created again) the write is
// refused with Aborted and nothing changes; the writer reads again and decides again.
// Events and history records do not take revisions (they are not watched state).
//
// Change feed: Changes(request) returns the changes after a revision, oldest first, and can
// wait for the next one (a long poll, what an etcd watch stream delivers). A store keeps a
// bounded window of recent changes; asking for an older revision is OutOfRange ("compacted"),
// and the caller lists everything again, as a Kubernetes informer does. Kept in memory by both
// in-process stores: a restarted controller lists the whole store anyway.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "specs/types.h"

namespace vmk::reconciler {

struct ObjectRef {
  specs::Kind kind;
  std::string name;
  bool operator<(const ObjectRef& o) const {
    return kind != o.kind ? kind < o.kind : name < o.name;
  }
  bool operator==(const ObjectRef& o) const = default;
  std::string ToString() const;  // "VirtualMachine/wms01"
};

struct Event {
  int64_t seq = 0;            // assigned by the store, strictly increasing
  std::string time;           // RFC 3339
  specs::Kind kind = specs::Kind::kVirtualMachine;
  std::string name;           // involved object
  std::string type;           // "Normal" | "Warning"
  std::string reason;         // CamelCase, e.g. Started, FencingFailed
  std::string message;
};

// One atomic change of desired state: objects to put (metadata incl. generation + spec; status
// untouched) and objects to delete (their status goes with them).
struct ApplyBatch {
  std::vector<specs::Object> puts;
  std::vector<ObjectRef> deletes;
  // Compare-and-swap: the batch is committed only if each object named here is still at the
  // revision given (0 = it must not exist); otherwise Aborted and nothing is written.
  std::map<ObjectRef, int64_t> expected_revisions;
};

// A conditional status write (see PutStatusIf).
struct StatusWrite {
  specs::Kind kind = specs::Kind::kVirtualMachine;
  std::string name;
  specs::Json status;
  bool sync = false;
  // Written only if the object's status is still at this revision (0 = no status yet);
  // nullopt = unconditionally.
  std::optional<int64_t> expected_status_revision;
};

// One change of watched state, at its revision.
struct Change {
  enum class Type {
    kApplied,  // the object was created or its metadata/spec changed (an apply)
    kDeleted,  // the object (and its status) was deleted
    kStatus,   // its status was written
  };
  int64_t revision = 0;
  Type type = Type::kApplied;
  ObjectRef object;
};
const char* ChangeTypeName(Change::Type type);  // "applied", "deleted", "status"

// What a reader of the change feed asks for.
struct ChangesRequest {
  int64_t after_revision = 0;
  // At most this many changes, unless the last revision returned has more (a write's changes
  // are never split: readers continue after the revision they got).
  size_t limit = 1000;
  // When nothing wanted came after `after_revision` yet: how long to wait for it.
  std::chrono::milliseconds wait{0};
  // Applied and deleted objects only, not status writes (an etcd watch on the objects' prefix):
  // a reader of desired state is not woken by every status write.
  bool objects_only = false;
};

struct ChangeBatch {
  std::vector<Change> changes;
  // Every wanted change up to this revision is in `changes`: the next request goes on from here.
  int64_t revision = 0;
};

// Event <-> JSON, shared by the store's records and the REST API.
specs::Json EventToJson(const Event& event);
// InvalidArgument naming the missing or mistyped field.
StatusOr<Event> EventFromJson(const specs::Json& json);

// The Aborted message of a conditional write whose condition does not hold.
std::string RevisionConflict(const ObjectRef& ref, bool exists, int64_t current,
                             int64_t expected);

// What one atomic apply cannot mean, whatever the store: nameless objects, and an object named
// twice (two puts, or a put and a delete), whose outcome would depend on the order in the batch.
Status ValidateApplyBatch(const ApplyBatch& batch);

class Store {
 public:
  virtual ~Store() = default;

  // Object with its latest status, or nullopt if absent.
  virtual StatusOr<std::optional<specs::Object>> Get(specs::Kind kind, const std::string& name) = 0;
  // All objects of a kind (with status), sorted by name.
  virtual StatusOr<std::vector<specs::Object>> List(specs::Kind kind) = 0;
  // Just the names, sorted: what a resync needs, without parsing any record.
  virtual StatusOr<std::vector<std::string>> ListNames(specs::Kind kind) = 0;

  // Atomic and synced. Returns the revision the batch took (the store's revision unchanged for
  // an empty batch). Aborted when an expected revision does not hold.
  virtual StatusOr<int64_t> CommitApply(const ApplyBatch& batch) = 0;

  // Replaces the status of an existing object. `sync` for status that records intent (e.g. the
  // host a VM was placed on before it is defined there). Every write survives a crash of the
  // process; a synced one also survives a power cut once it returns, and so does every write
  // made before it (one log). Returns the new status revision.
  // NotFound if the object does not exist (deleted meanwhile); Aborted when
  // expected_status_revision does not hold.
  virtual StatusOr<int64_t> PutStatusIf(const StatusWrite& write) = 0;
  // PutStatusIf without a condition.
  Status PutStatus(specs::Kind kind, const std::string& name, const specs::Json& status,
                   bool sync) {
    return PutStatusIf(StatusWrite{kind, name, status, sync, std::nullopt}).status();
  }

  // The store's current revision (0 for a store never written).
  virtual int64_t Revision() = 0;
  // The changes after request.after_revision, oldest first (see ChangesRequest). When none is
  // there yet, waits up to request.wait for one (then returns what came, possibly nothing).
  // OutOfRange when changes after it are no longer kept (list again). The window always holds
  // the latest write whole, however big.
  virtual StatusOr<ChangeBatch> Changes(const ChangesRequest& request) = 0;

  // Appends an event; returns its seq. Events are kept up to a bound (oldest dropped).
  virtual StatusOr<int64_t> AppendEvent(Event event) = 0;
  // Events, oldest first, with seq > after_seq; filtered by object when name is non-empty.
  // At most `limit` (the newest ones if more match).
  virtual StatusOr<std::vector<Event>> ListEvents(std::optional<ObjectRef> object,
                                                  int64_t after_seq, size_t limit) = 0;

  // Makes every write made so far durable against a power cut (a run of unsynced writes closed
  // by one Sync costs one sync instead of one each).
  virtual Status Sync() = 0;

  // History: records under a key prefix (e.g. "incident/wms01/"). `sync` as for PutStatus.
  virtual Status PutHistory(const std::string& key, const specs::Json& value, bool sync) = 0;
  virtual StatusOr<std::vector<std::pair<std::string, specs::Json>>> ListHistory(
      const std::string& prefix) = 0;
};

}  // namespace vmk::reconciler
