#include "common/rfc3339.h"

#include <cstdio>
#include <ctime>
#include <limits>

namespace vmk {

namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// The number in text[pos, pos+len), all digits (checked by the caller's shape check).
int Number(const std::string& text, size_t pos, size_t len) {
  int n = 0;
  for (size_t i = pos; i < pos + len; ++i) n = n * 10 + (text[i] - '0');
  return n;
}

int DaysInMonth(int year, int month) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  return month == 2 && leap ? 29 : kDays[month - 1];
}

// Days from 1970-01-01 to the given civil date (proleptic Gregorian), without timegm's
// dependence on the C library's range.
int64_t DaysFromCivil(int64_t y, int m, int d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

}  // namespace

std::string FormatRfc3339(WallTime t) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  int millis = static_cast<int>(ms % 1000);
  if (millis < 0) {
    millis += 1000;
    secs -= 1;
  }
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, millis);
  return buf;
}

bool ParseRfc3339(const std::string& s, WallTime* out) {
  // 2026-11-27T13:00:00
  // 0123456789012345678
  if (s.size() < 20) return false;
  for (size_t i : {0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18}) {
    if (!IsDigit(s[i])) return false;
  }
  if (s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') || s[13] != ':' ||
      s[16] != ':') {
    return false;
  }
  const int year = Number(s, 0, 4), month = Number(s, 5, 2), day = Number(s, 8, 2);
  const int hour = Number(s, 11, 2), minute = Number(s, 14, 2), second = Number(s, 17, 2);
  if (month < 1 || month > 12 || day < 1 || day > DaysInMonth(year, month)) return false;
  if (hour > 23 || minute > 59 || second > 60) return false;  // 60: a leap second
  size_t p = 19;
  int64_t nanos = 0;
  if (s[p] == '.') {
    const size_t first = ++p;
    int digits = 0;
    for (; p < s.size() && IsDigit(s[p]); ++p) {
      if (digits < 9) {
        nanos = nanos * 10 + (s[p] - '0');
        ++digits;
      }
    }
    if (p == first) return false;
    for (; digits < 9; ++digits) nanos *= 10;
  }
  if (p == s.size()) return false;
  int offset_seconds = 0;
  if (s[p] == 'Z' || s[p] == 'z') {
    if (p + 1 != s.size()) return false;
  } else if (s[p] == '+' || s[p] == '-') {
    // Exactly +hh:mm.
    if (s.size() - p != 6 || !IsDigit(s[p + 1]) || !IsDigit(s[p + 2]) || s[p + 3] != ':' ||
        !IsDigit(s[p + 4]) || !IsDigit(s[p + 5])) {
      return false;
    }
    const int oh = Number(s, p + 1, 2), om = Number(s, p + 4, 2);
    if (oh > 23 || om > 59) return false;
    offset_seconds = (oh * 3600 + om * 60) * (s[p] == '+' ? 1 : -1);
  } else {
    return false;
  }
  const int64_t seconds = DaysFromCivil(year, month, day) * 86400 + hour * 3600 + minute * 60 +
                          second - offset_seconds;
  // WallTime counts nanoseconds in 64 bits: about 1678 to 2261. Beyond, the ends stand in.
  constexpr int64_t kLimit = std::numeric_limits<int64_t>::max() / 1'000'000'000 - 1;
  if (seconds < -kLimit) {
    *out = WallTime::min();
  } else if (seconds > kLimit) {
    *out = WallTime::max();
  } else {
    *out = WallTime(std::chrono::duration_cast<WallTime::duration>(
        std::chrono::seconds(seconds) + std::chrono::nanoseconds(nanos)));
  }
  return true;
}

std::string SortableMillis(WallTime t) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%015lld",
                static_cast<long long>(
                    std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch())
                        .count()));
  return buf;
}

}  // namespace vmk
