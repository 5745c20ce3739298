// Store: the durable desired state (objects with generation), their status, events and history.
//
// Two implementations behind this interface: RocksDbStore (production; every write that matters
// is synced) and MemoryStore (unit tests). All methods are thread-safe.
//
// Layout promise (both implementations): an object's metadata+spec and its status are separate
// records, so a status write never races with an apply; CommitApply is atomic (all or nothing).
#pragma once

#include <cstdint>
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
};

// Event <-> JSON, shared by the store's records and the REST API.
specs::Json EventToJson(const Event& event);
// InvalidArgument naming the missing or mistyped field.
StatusOr<Event> EventFromJson(const specs::Json& json);

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

  // Atomic and synced.
  virtual Status CommitApply(const ApplyBatch& batch) = 0;

  // Replaces the status of an existing object. `sync` for status that records intent
  // (e.g. the host a VM was placed on before it is defined there). Every write survives a
  // crash of the process; a synced one also survives a power cut once it returns, and so does
  // every write made before it (one log).
  // NotFound if the object does not exist (deleted meanwhile).
  virtual Status PutStatus(specs::Kind kind, const std::string& name, const specs::Json& status,
                           bool sync) = 0;

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
