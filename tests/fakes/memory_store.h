// MemoryStore: the Store kept in memory, for unit tests of the reconciler.
//
// Same semantics as RocksDbStore (the typed tests in store_test.cc run against both): objects
// and status are separate records, CommitApply is all-or-nothing and rejects an object named
// twice, PutStatus fails NotFound on a missing object, revisions and conditional writes, the
// change feed (the same ChangeFeed), events get increasing seqs and are
// bounded, history lists in key order. Objects come back as the store would decode them: no
// source locations. Nothing survives the object.
//
// Thread safety: all methods are thread-safe (one mutex guards everything).
#pragma once

#include <cstddef>
#include <deque>
#include <map>
#include <string>

#include "common/mutex.h"
#include "reconciler/store/change_feed.h"
#include "reconciler/store/store.h"

namespace vmk::reconciler {

class MemoryStore : public Store {
 public:
  // max_events: events kept (oldest dropped first); at least 1.
  explicit MemoryStore(size_t max_events = 10000);

  StatusOr<std::optional<specs::Object>> Get(specs::Kind kind, const std::string& name) override;
  StatusOr<std::vector<specs::Object>> List(specs::Kind kind) override;
  StatusOr<std::vector<std::string>> ListNames(specs::Kind kind) override;
  StatusOr<int64_t> CommitApply(const ApplyBatch& batch) override;
  StatusOr<int64_t> PutStatusIf(const StatusWrite& write) override;
  int64_t Revision() override;
  StatusOr<ChangeBatch> Changes(const ChangesRequest& request) override;
  StatusOr<int64_t> AppendEvent(Event event) override;
  StatusOr<std::vector<Event>> ListEvents(std::optional<ObjectRef> object, int64_t after_seq,
                                          size_t limit) override;
  Status PutHistory(const std::string& key, const specs::Json& value, bool sync) override;
  Status Sync() override { return Status::Ok(); }
  StatusOr<std::vector<std::pair<std::string, specs::Json>>> ListHistory(
      const std::string& prefix) override;

 private:
  const size_t max_events_;
  Mutex mutex_;
  // Objects without status; ordered by (kind, name) so List is a range scan.
  std::map<ObjectRef, specs::Object> objects_ GUARDED_BY(mutex_);
  // Status and its revision.
  std::map<ObjectRef, std::pair<specs::Json, int64_t>> statuses_ GUARDED_BY(mutex_);
  int64_t revision_ GUARDED_BY(mutex_) = 0;
  ChangeFeed feed_;
  std::deque<Event> events_ GUARDED_BY(mutex_);  // oldest first
  int64_t last_event_seq_ GUARDED_BY(mutex_) = 0;
  std::map<std::string, specs::Json> history_ GUARDED_BY(mutex_);
};

}  // namespace vmk::reconciler
