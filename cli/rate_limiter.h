// RateLimiter: a token bucket per key (vmkeeperd: per credential name for the API's writes, or
// per client address without a tokens file; docs/security.md). A bucket holds up to `burst`
// tokens and gains `per_second` tokens a second; a request takes one, and is refused while the
// bucket holds less than one, with the time until it will. A refused request takes nothing.
//
// Bounded memory: a bucket that has refilled completely is the same as no bucket, so it may be
// dropped; buckets are kept in least-recently-used order and each Take drops up to two full
// ones from the old end. With max_keys buckets in use, a new key evicts the least recently
// used bucket even if it is not full (its key starts again with a full bucket: with more
// distinct clients than max_keys the limit is weaker, memory is not unbounded).
//
// Time comes from a Clock, so tests drive the refill with a FakeClock. Thread-safe.
#pragma once

#include <cstddef>
#include <list>
#include <optional>
#include <string>
#include <unordered_map>

#include "common/clock.h"
#include "common/mutex.h"

namespace vmk::cli {

struct RateLimit {
  double per_second = 0;   // tokens gained per second; 0 = no limit
  double burst = 1;        // bucket size (at least 1)
  size_t max_keys = 4096;  // buckets kept at most (at least 1)
};

class RateLimiter {
 public:
  // clock must outlive the limiter.
  RateLimiter(RateLimit limit, Clock* clock);

  RateLimiter(const RateLimiter&) = delete;
  RateLimiter& operator=(const RateLimiter&) = delete;

  // Takes a token from `key`'s bucket: nullopt when there was one, else how long until there
  // will be (more than zero). Always nullopt when the limit is off.
  std::optional<Duration> Take(const std::string& key) EXCLUDES(mu_);

  // Buckets held now (for tests and the eviction bound).
  size_t bucket_count() const EXCLUDES(mu_);
  const RateLimit& limit() const { return limit_; }
  bool enabled() const { return limit_.per_second > 0; }

  // Whole seconds for a Retry-After header: `wait` rounded up, at least 1.
  static long RetryAfterSeconds(Duration wait);

 private:
  struct Bucket {
    std::string key;
    double tokens = 0;
    MonoTime updated;
  };
  using Lru = std::list<Bucket>;  // most recently used first

  // The bucket's tokens at `now` (refilled, capped at burst).
  double TokensAt(const Bucket& bucket, MonoTime now) const;

  const RateLimit limit_;
  Clock* const clock_;
  mutable Mutex mu_;
  Lru lru_ GUARDED_BY(mu_);
  std::unordered_map<std::string, Lru::iterator> by_key_ GUARDED_BY(mu_);
};

}  // namespace vmk::cli
