#include "reconciler/store/store_watcher.h"

#include "common/log.h"

namespace vmk::reconciler {

namespace {
// Changes handed over per call: an apply of a whole fleet arrives in one call, so its keys are
// enqueued together (as the applier used to), not interleaved with what their reconciles enqueue.
constexpr size_t kBatch = 100000;
// After an error other than compaction (a backend that failed): how long before trying again.
constexpr auto kRetryWait = std::chrono::milliseconds(500);
}  // namespace

StoreWatcher::StoreWatcher(Store* store, int64_t from_revision, bool objects_only,
                           ChangeHandler on_changes, RelistHandler on_relist)
    : store_(store),
      objects_only_(objects_only),
      on_changes_(std::move(on_changes)),
      on_relist_(std::move(on_relist)),
      revision_(from_revision) {
  thread_ = std::thread([this] { Run(); });
}

StoreWatcher::~StoreWatcher() { Stop(); }

void StoreWatcher::Stop() {
  {
    MutexLock l(&mu_);
    stopping_ = true;
  }
  progressed_.notify_all();
  if (thread_.joinable()) thread_.join();
}

int64_t StoreWatcher::revision() const {
  MutexLock l(&mu_);
  return revision_;
}

bool StoreWatcher::WaitFor(int64_t revision, std::chrono::milliseconds timeout) {
  MutexLock l(&mu_);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (revision_ < revision && !stopping_ && l.WaitUntil(progressed_, deadline)) {}
  return revision_ >= revision;
}

void StoreWatcher::Run() {
  MutexLock l(&mu_);
  while (!stopping_) {
    const int64_t after = revision_;
    l.Unlock();
    auto changes = store_->Changes(ChangesRequest{after, kBatch, kPollWait, objects_only_});
    int64_t next = after;
    if (changes.ok()) {
      if (!changes->changes.empty()) on_changes_(changes->changes);
      next = changes->revision;
    } else if (changes.status().code() == StatusCode::kOutOfRange) {
      // Fell behind the feed's window: look at everything, then follow from here.
      log::Warning("store watch fell behind; listing again",
                   {{"error", changes.status().message()}});
      next = store_->Revision();
      on_relist_();
    } else {
      log::Warning("store watch failed", {{"error", changes.status().ToString()}});
      l.Lock();
      const auto retry_at = std::chrono::steady_clock::now() + kRetryWait;
      while (!stopping_ && l.WaitUntil(progressed_, retry_at)) {}
      continue;
    }
    l.Lock();
    revision_ = next;
    progressed_.notify_all();
  }
}

}  // namespace vmk::reconciler
