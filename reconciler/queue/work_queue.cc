#include "reconciler/queue/work_queue.h"

#include <algorithm>

namespace vmk::reconciler {

WorkQueue::WorkQueue(Clock* clock, Options options) : clock_(clock), options_(options) {}

void WorkQueue::AddLocked(const std::string& key, Priority priority) {
  if (shutting_down_) return;
  if (processing_.count(key)) {
    // Done() queues it again, with the most urgent priority asked for meanwhile.
    auto [it, inserted] = requeue_.emplace(key, priority);
    if (!inserted && priority == Priority::kHigh) it->second = Priority::kHigh;
    return;
  }
  auto [it, inserted] = queued_.emplace(key, Queued{priority, clock_->Now()});
  if (!inserted) {
    if (priority == Priority::kHigh && it->second.priority == Priority::kLow) {
      it->second.priority = Priority::kHigh;  // its low-lane entry is now stale
      high_.push_back(key);
      cv_.notify_one();
    }
    return;
  }
  (priority == Priority::kHigh ? high_ : low_).push_back(key);
  cv_.notify_one();
}

bool WorkQueue::PopLocked(std::string* key, Duration* waited) {
  for (auto* lane : {&high_, &low_}) {
    const Priority lane_priority = lane == &high_ ? Priority::kHigh : Priority::kLow;
    while (!lane->empty()) {
      std::string k = std::move(lane->front());
      lane->pop_front();
      auto it = queued_.find(k);
      if (it == queued_.end() || it->second.priority != lane_priority) continue;  // stale entry
      if (waited) *waited = std::chrono::duration_cast<Duration>(clock_->Now() - it->second.since);
      queued_.erase(it);
      *key = std::move(k);
      return true;
    }
  }
  return false;
}

void WorkQueue::Add(const std::string& key, Priority priority) {
  MutexLock l(&mu_);
  AddLocked(key, priority);
}

void WorkQueue::AddAfter(const std::string& key, Duration delay, Priority priority) {
  if (delay <= Duration::zero()) {
    Add(key, priority);
    return;
  }
  MutexLock l(&mu_);
  if (shutting_down_) return;
  MonoTime due = clock_->Now() + delay;
  auto it = delayed_due_.find(key);
  if (it != delayed_due_.end()) {
    if (it->second.due <= due) {
      // An earlier wake-up is already planned; it serves this one too, in the higher lane.
      if (priority == Priority::kHigh) it->second.priority = Priority::kHigh;
      return;
    }
    auto range = delayed_.equal_range(it->second.due);
    for (auto d = range.first; d != range.second; ++d) {
      if (d->second == key) {
        delayed_.erase(d);
        break;
      }
    }
  }
  delayed_due_[key] = DelayedKey{due, priority};
  delayed_.emplace(due, key);
  cv_.notify_all();  // a Get() may need to wait for an earlier deadline
}

void WorkQueue::AddRateLimited(const std::string& key) {
  Duration delay;
  {
    MutexLock l(&mu_);
    int n = failures_[key]++;
    delay = options_.base_delay;
    for (int i = 0; i < n && delay < options_.max_delay; ++i) delay *= 2;
    delay = std::min(delay, options_.max_delay);
  }
  AddAfter(key, delay);
}

void WorkQueue::Forget(const std::string& key) {
  MutexLock l(&mu_);
  failures_.erase(key);
}

int WorkQueue::NumRequeues(const std::string& key) const {
  MutexLock l(&mu_);
  auto it = failures_.find(key);
  return it == failures_.end() ? 0 : it->second;
}

void WorkQueue::PromoteDueLocked(MonoTime now) {
  while (!delayed_.empty() && delayed_.begin()->first <= now) {
    std::string key = delayed_.begin()->second;
    delayed_.erase(delayed_.begin());
    auto it = delayed_due_.find(key);
    const Priority priority = it != delayed_due_.end() ? it->second.priority : Priority::kHigh;
    if (it != delayed_due_.end()) delayed_due_.erase(it);
    AddLocked(key, priority);
  }
}

bool WorkQueue::Get(std::string* key, Duration* waited) {
  MutexLock l(&mu_);
  while (true) {
    if (shutting_down_) return false;
    PromoteDueLocked(clock_->Now());
    if (PopLocked(key, waited)) break;
    if (delayed_.empty()) {
      l.Wait(cv_);
    } else {
      clock_->WaitUntil(l.native(), cv_, delayed_.begin()->first);
    }
  }
  processing_.insert(*key);
  return true;
}

void WorkQueue::Done(const std::string& key) {
  MutexLock l(&mu_);
  processing_.erase(key);
  auto again = requeue_.find(key);
  if (again != requeue_.end()) {
    Priority priority = again->second;
    requeue_.erase(again);
    AddLocked(key, priority);
  }
  if (queued_.empty() && processing_.empty()) idle_cv_.notify_all();
}

void WorkQueue::ShutDown() {
  MutexLock l(&mu_);
  shutting_down_ = true;
  high_.clear();
  low_.clear();
  queued_.clear();
  requeue_.clear();
  delayed_.clear();
  delayed_due_.clear();
  cv_.notify_all();
  idle_cv_.notify_all();
}

size_t WorkQueue::Len() {
  MutexLock l(&mu_);
  PromoteDueLocked(clock_->Now());
  return queued_.size();
}

size_t WorkQueue::Delayed() const {
  MutexLock l(&mu_);
  return delayed_.size();
}

size_t WorkQueue::InFlight() const {
  MutexLock l(&mu_);
  return processing_.size();
}

bool WorkQueue::WaitIdle(std::chrono::milliseconds timeout) {
  MutexLock l(&mu_);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto idle = [&]() REQUIRES(mu_) {
    PromoteDueLocked(clock_->Now());
    return shutting_down_ || (queued_.empty() && processing_.empty());
  };
  while (!idle()) {
    if (!l.WaitUntil(idle_cv_, deadline)) return idle();
  }
  return true;
}

}  // namespace vmk::reconciler
