#include "common/clock.h"

#include <cstdio>
#include <ctime>

namespace vmk {

RealClock* RealClock::Get() {
  static RealClock clock;
  return &clock;
}

FakeClock::FakeClock(WallTime wall_start) : wall_start_(wall_start) {}

MonoTime FakeClock::Now() const {
  std::lock_guard<std::mutex> l(mu_);
  return MonoTime(std::chrono::hours(1)) + offset_;
}

WallTime FakeClock::WallNow() const {
  std::lock_guard<std::mutex> l(mu_);
  return wall_start_ + std::chrono::duration_cast<WallTime::duration>(offset_);
}

void FakeClock::WaitUntil(std::unique_lock<std::mutex>& lock, std::condition_variable& cv,
                          MonoTime deadline) {
  auto key = std::make_pair(lock.mutex(), &cv);
  {
    // Checking the deadline and registering under one lock: an Advance() either comes before
    // (and is seen here) or after (and wakes us through our mutex). Never lost in between.
    std::lock_guard<std::mutex> l(mu_);
    if (MonoTime(std::chrono::hours(1)) + offset_ >= deadline) return;
    waiters_.insert(key);
  }
  cv.wait(lock);
  std::lock_guard<std::mutex> l(mu_);
  waiters_.erase(key);
}

void FakeClock::Advance(Duration d) {
  std::set<std::pair<std::mutex*, std::condition_variable*>> waiters;
  {
    std::lock_guard<std::mutex> l(mu_);
    offset_ += d;
    waiters = waiters_;
  }
  for (auto& [m, cv] : waiters) {
    // Taking the waiter's mutex orders this wake-up after its predicate check.
    std::lock_guard<std::mutex> l(*m);
    cv->notify_all();
  }
}

std::string FormatRfc3339(WallTime t) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  int millis = static_cast<int>(ms % 1000);
  if (millis < 0) { millis += 1000; secs -= 1; }
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, millis);
  return buf;
}

bool ParseRfc3339(const std::string& text, WallTime* out) {
  int y, mo, d, h, mi, s;
  int consumed = 0;
  if (std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &s, &consumed) !=
      6) {
    return false;
  }
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60 || y < 0 || h < 0 ||
      mi < 0 || s < 0) {
    return false;
  }
  const char* p = text.c_str() + consumed;
  long long nanos = 0;
  if (*p == '.') {
    ++p;
    int digits = 0;
    while (*p >= '0' && *p <= '9') {
      if (digits < 9) { nanos = nanos * 10 + (*p - '0'); ++digits; }
      ++p;
    }
    if (digits == 0) return false;
    while (digits++ < 9) nanos *= 10;
  }
  long offset_seconds = 0;
  if (*p == 'Z' || *p == 'z') {
    ++p;
  } else if (*p == '+' || *p == '-') {
    // Exactly "+hh:mm": checked by hand so that a short offset never reads past the end.
    auto digit = [](char c) { return c >= '0' && c <= '9'; };
    if (!digit(p[1]) || !digit(p[2]) || p[3] != ':' || !digit(p[4]) || !digit(p[5])) return false;
    int oh = (p[1] - '0') * 10 + (p[2] - '0');
    int om = (p[4] - '0') * 10 + (p[5] - '0');
    if (oh > 23 || om > 59) return false;
    offset_seconds = (oh * 3600 + om * 60) * (*p == '+' ? 1 : -1);
    p += 6;
  } else {
    return false;
  }
  if (*p != '\0') return false;
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = s;
  std::time_t secs = timegm(&tm);
  *out = WallTime(std::chrono::seconds(secs - offset_seconds)) +
         std::chrono::duration_cast<WallTime::duration>(std::chrono::nanoseconds(nanos));
  return true;
}

}  // namespace vmk
