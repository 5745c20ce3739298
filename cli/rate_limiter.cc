#include "cli/rate_limiter.h"

#include <algorithm>
#include <cmath>

namespace vmk::cli {

RateLimiter::RateLimiter(RateLimit limit, Clock* clock) : limit_(limit), clock_(clock) {}

double RateLimiter::TokensAt(const Bucket& bucket, MonoTime now) const {
  const double elapsed = std::chrono::duration<double>(now - bucket.updated).count();
  return std::min(limit_.burst, bucket.tokens + std::max(0.0, elapsed) * limit_.per_second);
}

std::optional<Duration> RateLimiter::Take(const std::string& key) {
  if (!enabled()) return std::nullopt;
  const MonoTime now = clock_->Now();
  MutexLock lock(&mu_);
  // Full buckets at the old end tell nothing a missing bucket would not: drop a few per call,
  // so the set shrinks back after a flood of distinct keys.
  for (int i = 0; i < 2 && !lru_.empty(); ++i) {
    const Bucket& oldest = lru_.back();
    if (oldest.key == key || TokensAt(oldest, now) < limit_.burst) break;
    by_key_.erase(oldest.key);
    lru_.pop_back();
  }
  auto found = by_key_.find(key);
  if (found == by_key_.end()) {
    if (lru_.size() >= std::max<size_t>(1, limit_.max_keys)) {
      by_key_.erase(lru_.back().key);
      lru_.pop_back();
    }
    lru_.push_front(Bucket{key, limit_.burst, now});
    found = by_key_.emplace(key, lru_.begin()).first;
  } else {
    lru_.splice(lru_.begin(), lru_, found->second);
  }
  Bucket& bucket = *found->second;
  bucket.tokens = TokensAt(bucket, now);
  bucket.updated = now;
  if (bucket.tokens >= 1) {
    bucket.tokens -= 1;
    return std::nullopt;
  }
  const double seconds = (1 - bucket.tokens) / limit_.per_second;
  return std::max(Duration(1), std::chrono::duration_cast<Duration>(
                                   std::chrono::duration<double>(seconds)));
}

size_t RateLimiter::bucket_count() const {
  MutexLock lock(&mu_);
  return lru_.size();
}

long RateLimiter::RetryAfterSeconds(Duration wait) {
  // A microsecond of slack: 2 s computed as 2.0000000001 s is still 2.
  const double seconds = std::chrono::duration<double>(wait).count() - 1e-6;
  return std::max(1L, static_cast<long>(std::ceil(seconds)));
}

}  // namespace vmk::cli
