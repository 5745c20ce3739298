// StoreWatcher: follows a Store's change feed (Store::Changes) on a thread of its own and hands
// the changes to a handler, in revision order, as an informer does. When the feed no longer has
// what comes after the watcher's revision (compacted), it calls `on_relist` (whose job is to look
// at everything again) and goes on from the store's revision at that moment.
//
// The controller watches the store for desired-state changes: an apply made through any
// controller replica (once the store is shared) reaches the reconcilers the same way.
// Thread-safe; the handlers run on the watcher's thread, one at a time.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <thread>
#include <vector>

#include "common/mutex.h"
#include "reconciler/store/store.h"

namespace vmk::reconciler {

class StoreWatcher {
 public:
  using ChangeHandler = std::function<void(const std::vector<Change>& changes)>;
  using RelistHandler = std::function<void()>;

  // Starts watching changes after `from_revision` (of objects only: applies and deletes, not
  // status writes, when `objects_only`). `store` must outlive the watcher.
  StoreWatcher(Store* store, int64_t from_revision, bool objects_only, ChangeHandler on_changes,
               RelistHandler on_relist);
  ~StoreWatcher();  // Stop()

  StoreWatcher(const StoreWatcher&) = delete;
  StoreWatcher& operator=(const StoreWatcher&) = delete;

  // Ends the thread (within one poll, kPollWait). Idempotent.
  void Stop();
  // Waits until every (wanted) change up to `revision` has been handed to the handler
  // (read-your-writes for a caller that just wrote); false when `timeout` passes first or the
  // watcher stopped.
  bool WaitFor(int64_t revision, std::chrono::milliseconds timeout);
  int64_t revision() const;

  // How long one poll waits for a change: bounds how late Stop() is noticed.
  static constexpr std::chrono::milliseconds kPollWait{100};

 private:
  void Run();

  Store* const store_;
  const bool objects_only_;
  const ChangeHandler on_changes_;
  const RelistHandler on_relist_;
  mutable Mutex mu_;
  std::condition_variable progressed_;
  int64_t revision_ GUARDED_BY(mu_);  // handed over up to here
  bool stopping_ GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace vmk::reconciler
