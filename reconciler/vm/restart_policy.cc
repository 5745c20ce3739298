#include "reconciler/vm/restart_policy.h"

#include <algorithm>

namespace vmk::reconciler {

namespace {
constexpr auto kFirstBackoff = std::chrono::seconds(5);
constexpr auto kMaxBackoff = std::chrono::minutes(5);
}  // namespace

RestartVerdict DecideFailureRestart(const specs::RestartSpec& spec, WallTime now,
                                    std::vector<std::string>* restart_times) {
  const auto window = std::chrono::seconds(spec.windowSeconds);
  std::vector<std::string> recent;
  WallTime oldest = now, last{};
  for (const auto& text : *restart_times) {
    WallTime t;
    if (!ParseRfc3339(text, &t) || now - t >= window) continue;
    recent.push_back(text);
    oldest = std::min(oldest, t);
    last = std::max(last, t);
  }
  *restart_times = recent;
  RestartVerdict verdict;
  if (static_cast<int>(recent.size()) >= spec.limit) {
    verdict.reason = "RestartLimitReached";
    verdict.message = "restarted " + std::to_string(recent.size()) + " times within " +
                      std::to_string(spec.windowSeconds) + "s (spec.restart.limit " +
                      std::to_string(spec.limit) + "); not restarting it again now";
    // Allowed again once the oldest restart leaves the window.
    verdict.wait = std::chrono::duration_cast<Duration>(window - (now - oldest));
    return verdict;
  }
  if (!recent.empty()) {
    Duration backoff = kFirstBackoff;
    for (size_t i = 1; i < recent.size() && backoff < kMaxBackoff; ++i) backoff *= 2;
    backoff = std::min<Duration>(backoff, kMaxBackoff);
    if (now - last < backoff) {
      verdict.reason = "BackOff";
      verdict.wait = std::chrono::duration_cast<Duration>(backoff - (now - last));
      verdict.message =
          "failed again; restarting it in " +
          std::to_string(
              std::chrono::duration_cast<std::chrono::seconds>(*verdict.wait).count() + 1) +
          "s";
      return verdict;
    }
  }
  restart_times->push_back(FormatRfc3339(now));
  verdict.allowed = true;
  return verdict;
}

}  // namespace vmk::reconciler
