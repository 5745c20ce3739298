#include "reconciler/store/change_feed.h"

#include <algorithm>

namespace vmk::reconciler {

void ChangeFeed::Start(int64_t revision) {
  MutexLock l(&mu_);
  window_.clear();
  revision_ = revision;
  object_revision_ = revision;
  compacted_ = revision;
}

void ChangeFeed::Append(const std::vector<Change>& changes) {
  if (changes.empty()) return;
  bool objects = false;
  {
    MutexLock l(&mu_);
    for (const Change& c : changes) {
      window_.push_back(c);
      revision_ = std::max(revision_, c.revision);
      if (c.type != Change::Type::kStatus) {
        objects = true;
        object_revision_ = std::max(object_revision_, c.revision);
      }
    }
    // The oldest go first, but never the write just appended (an apply bigger than the window
    // must still reach its readers), and never half of a write: its changes share a revision.
    while (window_.size() > capacity_ && window_.front().revision != revision_) {
      compacted_ = window_.front().revision;
      window_.pop_front();
    }
    while (!window_.empty() && window_.front().revision == compacted_) window_.pop_front();
  }
  appended_.notify_all();
  // Most writes are status writes: a desired-state watcher sleeps through them.
  if (objects) objects_appended_.notify_all();
}

int64_t ChangeFeed::revision() const {
  MutexLock l(&mu_);
  return revision_;
}

Status ChangeFeed::Compacted(int64_t after) const {
  return Status::OutOfRange("changes after revision " + std::to_string(after) +
                            " are no longer kept (compacted up to " + std::to_string(compacted_) +
                            "): list the store again");
}

StatusOr<ChangeBatch> ChangeFeed::Since(const ChangesRequest& request) const {
  const int64_t after = request.after_revision;
  MutexLock l(&mu_);
  if (after < compacted_) return Compacted(after);
  if (request.wait.count() > 0) {
    const auto deadline = std::chrono::steady_clock::now() + request.wait;
    if (request.objects_only) {
      while (object_revision_ <= after && l.WaitUntil(objects_appended_, deadline)) {}
    } else {
      while (revision_ <= after && l.WaitUntil(appended_, deadline)) {}
    }
    if (after < compacted_) return Compacted(after);
  }
  ChangeBatch batch;
  batch.revision = revision_;  // unless the limit ends the answer earlier
  auto it = std::upper_bound(window_.begin(), window_.end(), after,
                             [](int64_t rev, const Change& c) { return rev < c.revision; });
  for (; it != window_.end(); ++it) {
    // `limit` ends the answer only between revisions: a reader continues after the revision
    // the batch says, so half of one would be lost.
    if (batch.changes.size() >= request.limit && it->revision != batch.changes.back().revision) {
      batch.revision = batch.changes.back().revision;
      break;
    }
    if (request.objects_only && it->type == Change::Type::kStatus) continue;
    batch.changes.push_back(*it);
  }
  return batch;
}

}  // namespace vmk::reconciler
