#include "reconciler/store/change_feed.h"

#include <algorithm>

namespace vmk::reconciler {

void ChangeFeed::Start(int64_t revision) {
  MutexLock l(&mu_);
  window_.clear();
  revision_ = revision;
  compacted_ = revision;
}

void ChangeFeed::Append(const std::vector<Change>& changes) {
  if (changes.empty()) return;
  {
    MutexLock l(&mu_);
    for (const Change& c : changes) {
      window_.push_back(c);
      revision_ = std::max(revision_, c.revision);
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
}

int64_t ChangeFeed::revision() const {
  MutexLock l(&mu_);
  return revision_;
}

StatusOr<std::vector<Change>> ChangeFeed::Since(int64_t after_revision, size_t limit,
                                                std::chrono::milliseconds wait) const {
  MutexLock l(&mu_);
  if (after_revision < compacted_) {
    return Status::OutOfRange("changes after revision " + std::to_string(after_revision) +
                              " are no longer kept (compacted up to " +
                              std::to_string(compacted_) + "): list the store again");
  }
  if (wait.count() > 0) {
    const auto deadline = std::chrono::steady_clock::now() + wait;
    while (revision_ <= after_revision && l.WaitUntil(appended_, deadline)) {}
    if (after_revision < compacted_) {
      return Status::OutOfRange("changes after revision " + std::to_string(after_revision) +
                                " were compacted while waiting: list the store again");
    }
  }
  std::vector<Change> out;
  auto it = std::upper_bound(window_.begin(), window_.end(), after_revision,
                             [](int64_t rev, const Change& c) { return rev < c.revision; });
  // `limit` ends the answer only between revisions: a reader continues after the last revision
  // it got, so half of one would be lost.
  for (; it != window_.end(); ++it) {
    if (out.size() >= limit && it->revision != out.back().revision) break;
    out.push_back(*it);
  }
  return out;
}

}  // namespace vmk::reconciler
