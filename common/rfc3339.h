// RFC 3339 times, the one way vmkeeper writes and reads wall-clock times (status, events,
// incidents, Alertmanager's startsAt/endsAt). Pure functions; thread-safe.
#pragma once

#include <chrono>
#include <string>

namespace vmk {

using WallTime = std::chrono::system_clock::time_point;

// UTC with milliseconds: 2026-11-27T14:20:54.123Z
std::string FormatRfc3339(WallTime t);

// The exact RFC 3339 date-time: YYYY-MM-DDTHH:MM:SS[.fraction](Z|+hh:mm|-hh:mm), with every
// field in range (the day within its month, leap years counted; second 60 for a leap second;
// 'T' and 'Z' in either case, as the RFC allows). Anything else, including trailing text, is
// refused (false). Fractions beyond nanoseconds are truncated. Times WallTime cannot hold (it
// counts nanoseconds in 64 bits: about 1678 to 2261) come out as WallTime::min() or max(), so
// that Go's zero time (0001-01-01T00:00:00Z, Alertmanager's "no end") still compares equal to
// itself. Input may be untrusted.
bool ParseRfc3339(const std::string& text, WallTime* out);

// Milliseconds since the epoch, zero-padded to 15 digits: store keys and ids that sort by time
// ("001795785654250" for 2026-11-27T13:20:54.250Z).
std::string SortableMillis(WallTime t);

}  // namespace vmk
