#include "common/cancellation.h"

namespace vmk {

CancelToken CancelToken::WithDeadline(const CancelToken& parent, Clock* clock, MonoTime deadline) {
  CancelToken token = parent;
  if (!token.deadline_ || deadline < *token.deadline_) {
    token.deadline_ = deadline;
    token.clock_ = clock;
  }
  return token;
}

Status CancelToken::Err() const {
  if (source_ && source_->cancelled.load(std::memory_order_acquire)) {
    // `reason` is written before `cancelled` is set and never again: reading it needs no lock.
    return Status::Aborted("cancelled: " + source_->reason);
  }
  if (deadline_ && clock_->Now() >= *deadline_) {
    return Status::DeadlineExceeded("the operation's deadline passed");
  }
  return Status::Ok();
}

CancelToken CancelSource::Token() const {
  CancelToken token;
  token.source_ = state_;
  return token;
}

void CancelSource::Cancel(const std::string& reason) {
  MutexLock lock(&state_->mu);
  if (state_->cancelled.load(std::memory_order_relaxed)) return;
  state_->reason = reason;
  state_->cancelled.store(true, std::memory_order_release);
}

}  // namespace vmk
