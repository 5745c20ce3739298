// Structured logging: one JSON object per line on stderr, e.g.
//   {"ts":"2026-11-27T14:20:54.123Z","level":"info","msg":"vm started","vm":"wms01","host":"hv02"}
// Thread-safe (lines never interleave). Level is process-wide.
#pragma once

#include <initializer_list>
#include <string>
#include <utility>

namespace vmk::log {

enum class Level { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

void SetLevel(Level level);
bool ParseLevel(const std::string& text, Level* out);  // debug|info|warning|error
bool Enabled(Level level);

using Field = std::pair<const char*, std::string>;
void Write(Level level, const std::string& message, std::initializer_list<Field> fields = {});

inline void Debug(const std::string& m, std::initializer_list<Field> f = {}) { Write(Level::kDebug, m, f); }
inline void Info(const std::string& m, std::initializer_list<Field> f = {}) { Write(Level::kInfo, m, f); }
inline void Warning(const std::string& m, std::initializer_list<Field> f = {}) { Write(Level::kWarning, m, f); }
inline void Error(const std::string& m, std::initializer_list<Field> f = {}) { Write(Level::kError, m, f); }

}  // namespace vmk::log
