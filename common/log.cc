#include "common/log.h"

#include <atomic>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "common/clock.h"
#include "common/mutex.h"

namespace vmk::log {
namespace {
std::atomic<int> g_level{static_cast<int>(Level::kInfo)};
Mutex g_write_mu;  // one line at a time on stderr
const char* LevelName(Level l) {
  switch (l) {
    case Level::kDebug: return "debug";
    case Level::kInfo: return "info";
    case Level::kWarning: return "warning";
    case Level::kError: return "error";
  }
  return "info";
}
}  // namespace

void SetLevel(Level level) { g_level = static_cast<int>(level); }

bool ParseLevel(const std::string& text, Level* out) {
  for (Level l : {Level::kDebug, Level::kInfo, Level::kWarning, Level::kError}) {
    if (text == LevelName(l)) { *out = l; return true; }
  }
  return false;
}

bool Enabled(Level level) { return static_cast<int>(level) >= g_level.load(); }

void Write(Level level, const std::string& message, std::initializer_list<Field> fields) {
  if (!Enabled(level)) return;
  nlohmann::ordered_json line;
  line["ts"] = FormatRfc3339(RealClock::Get()->WallNow());
  line["level"] = LevelName(level);
  line["msg"] = message;
  for (const auto& [k, v] : fields) line[k] = v;
  std::string text = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  MutexLock l(&g_write_mu);
  std::fprintf(stderr, "%s\n", text.c_str());
}

}  // namespace vmk::log
