// Cancellation: how a long operation learns that its result is no longer wanted.
//
// A CancelSource is owned by whoever may call the operation off (the controller on shutdown,
// later the leader election when leadership is lost); it hands out CancelTokens. A token is
// done when its source was cancelled or when its own deadline (on a Clock) has passed; a token
// made from another (WithDeadline) is done when either is. Operations look at the token
// between their steps (`if (Status s = cancel.Err(); !s.ok()) return s;`), never in the
// middle of one: a step that started (a fence, a define) finishes, and the state it leaves is
// one the next reconcile resumes from. A default-constructed token is never done.
//
// Thread-safe: Cancel() may race with any number of readers; tokens are cheap to copy.
#pragma once

#include <atomic>
#include <memory>
#include <optional>
#include <string>

#include "common/clock.h"
#include "common/mutex.h"
#include "common/status.h"

namespace vmk {

class CancelToken {
 public:
  CancelToken() = default;

  // A token that is also done at `deadline` (measured on `clock`, which must outlive it).
  static CancelToken WithDeadline(const CancelToken& parent, Clock* clock, MonoTime deadline);

  bool Done() const { return !Err().ok(); }
  // Ok while the operation should go on; Aborted("cancelled: <reason>") after the source was
  // cancelled; DeadlineExceeded after the deadline.
  Status Err() const;

 private:
  friend class CancelSource;
  struct State {
    std::atomic<bool> cancelled{false};
    Mutex mu;  // serialises Cancel() callers
    // Set once, under `mu`, before `cancelled`; read without the lock once `cancelled` is seen
    // (the atomic orders it), so it is not GUARDED_BY(mu).
    std::string reason;
  };
  std::shared_ptr<const State> source_;
  Clock* clock_ = nullptr;
  std::optional<MonoTime> deadline_;
};

class CancelSource {
 public:
  CancelSource() : state_(std::make_shared<CancelToken::State>()) {}

  CancelToken Token() const;
  // Idempotent: the first reason is kept.
  void Cancel(const std::string& reason);
  bool cancelled() const { return state_->cancelled.load(std::memory_order_acquire); }

 private:
  std::shared_ptr<CancelToken::State> state_;
};

}  // namespace vmk
