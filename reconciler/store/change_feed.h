// ChangeFeed: the window of recent changes behind Store::Changes, for the stores that live in
// this process (RocksDbStore, MemoryStore). The store appends each write's changes, in revision
// order, while it holds its own write lock; readers take what came after a revision, or wait
// for it. The oldest changes are dropped beyond `capacity` (never the latest write, whatever its
// size, and never part of a write); asking for what was dropped is OutOfRange ("compacted"): the
// reader lists the store again.
//
// Waits are in real time: the store has no Clock, and a wait only ever ends early.
// Thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <vector>

#include "common/mutex.h"
#include "reconciler/store/store.h"

namespace vmk::reconciler {

class ChangeFeed {
 public:
  explicit ChangeFeed(size_t capacity = 10000) : capacity_(capacity < 1 ? 1 : capacity) {}

  // The store's revision when it opened: changes before it are not kept.
  void Start(int64_t revision);
  // The changes of one write, all at revisions above the current one, in order.
  void Append(const std::vector<Change>& changes);
  int64_t revision() const;
  // See Store::Changes.
  StatusOr<ChangeBatch> Since(const ChangesRequest& request) const;

 private:
  // The OutOfRange answer to a reader behind the window.
  Status Compacted(int64_t after) const REQUIRES(mu_);

  const size_t capacity_;
  mutable Mutex mu_;
  // Readers of every change wait on `appended_`, readers of objects only on `objects_appended_`,
  // which status writes (most writes) do not signal.
  mutable std::condition_variable appended_;
  mutable std::condition_variable objects_appended_;
  std::deque<Change> window_ GUARDED_BY(mu_);  // revisions increasing
  int64_t revision_ GUARDED_BY(mu_) = 0;       // the latest revision
  int64_t object_revision_ GUARDED_BY(mu_) = 0;  // the latest applied or deleted object's
  int64_t compacted_ GUARDED_BY(mu_) = 0;      // changes at or below it are no longer kept
};

}  // namespace vmk::reconciler
