// WorkQueue: the controller's queue of keys to reconcile (client-go's rate-limited work queue).
//
// - A key is held at most once (dedup). A key that is added while a worker processes it is
//   marked dirty and handed out again after Done(), never to two workers at once.
// - AddAfter delays a key; AddRateLimited delays it by the key's exponential backoff
//   (base * 2^failures, capped), which Forget() resets.
// - Two lanes: keys added with kHigh (events, applies, retries) are handed out before keys added
//   with kLow (the periodic resync, scheduled snapshots), so a failure reported during a resync
//   pass of thousands of keys does not wait behind them. A waiting low key added again as high
//   moves up.
// - Get() blocks until a key is ready or the queue is shut down. Time comes from the Clock, so
//   tests drive delays with a FakeClock.
// Thread-safe.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <map>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "common/clock.h"
#include "common/mutex.h"

namespace vmk::reconciler {

class WorkQueue {
 public:
  enum class Priority { kHigh, kLow };

  struct Options {
    Duration base_delay = std::chrono::milliseconds(5);
    Duration max_delay = std::chrono::seconds(60);
  };

  explicit WorkQueue(Clock* clock) : WorkQueue(clock, Options()) {}
  WorkQueue(Clock* clock, Options options);

  void Add(const std::string& key, Priority priority = Priority::kHigh);
  // `priority`: the lane the key joins when it is due (kLow for periodic work, such as a
  // scheduled snapshot, that must not hold up failures reported meanwhile).
  void AddAfter(const std::string& key, Duration delay, Priority priority = Priority::kHigh);
  void AddRateLimited(const std::string& key);
  void Forget(const std::string& key);
  int NumRequeues(const std::string& key) const;

  // Blocks until a key is ready (returns true) or the queue is shut down (returns false).
  // `waited`, when given: how long the key was ready before it was handed out (a delayed key
  // counts from when it was due).
  bool Get(std::string* key, Duration* waited = nullptr);
  // Must be called once for every key returned by Get().
  void Done(const std::string& key);

  // Wakes all Get() callers; they return false. Pending keys are dropped.
  void ShutDown();

  size_t Len();                // ready keys (delayed keys that are due count)
  size_t Delayed() const;      // keys waiting for their time
  size_t InFlight() const;     // keys being processed
  // Waits (real time) until no key is ready or in flight. Delayed keys do not count.
  bool WaitIdle(std::chrono::milliseconds timeout);

 private:
  void PromoteDueLocked(MonoTime now) REQUIRES(mu_);
  void AddLocked(const std::string& key, Priority priority) REQUIRES(mu_);
  bool PopLocked(std::string* key, Duration* waited) REQUIRES(mu_);

  Clock* const clock_;
  const Options options_;
  mutable Mutex mu_;
  std::condition_variable cv_;       // a key became ready, or shutdown
  std::condition_variable idle_cv_;  // the queue may have become idle
  // Ready lanes. A lane may hold stale entries (a key promoted to the high lane, or already
  // handed out): an entry counts only while queued_ says the key waits in that lane.
  std::deque<std::string> high_ GUARDED_BY(mu_);
  std::deque<std::string> low_ GUARDED_BY(mu_);
  struct Queued {
    Priority priority;
    MonoTime since;  // ready since (for the queue latency metric)
  };
  std::unordered_map<std::string, Queued> queued_ GUARDED_BY(mu_);   // waiting keys
  std::unordered_map<std::string, Priority> requeue_ GUARDED_BY(mu_);  // re-added in flight
  std::unordered_set<std::string> processing_ GUARDED_BY(mu_);
  std::multimap<MonoTime, std::string> delayed_ GUARDED_BY(mu_);
  struct DelayedKey {
    MonoTime due;       // the earliest wake-up planned
    Priority priority;  // the lane it then joins
  };
  std::unordered_map<std::string, DelayedKey> delayed_due_ GUARDED_BY(mu_);
  std::unordered_map<std::string, int> failures_ GUARDED_BY(mu_);
  bool shutting_down_ GUARDED_BY(mu_) = false;
};

}  // namespace vmk::reconciler
