// YAML scalars under the YAML 1.2 core schema: what a plain scalar means (null, boolean, integer,
// float or string) and how to write one back so that it means the same thing. yaml-cpp leaves
// this to its users; the decoder and the canonical emitter share these rules so that canonical
// output always decodes to what was emitted. Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>

#include "specs/types.h"

namespace vmk::specs {

enum class ScalarKind { kNull, kBool, kInt, kFloat, kString };

// `tag` as yaml-cpp reports it: "!" for quoted scalars (always strings), "?" for plain ones
// (resolved by their text), or an explicit tag such as "tag:yaml.org,2002:str".
ScalarKind ResolveScalar(const std::string& tag, const std::string& text);

struct ParsedInt {
  enum Result { kOk, kNotInt, kTooSmall, kTooLarge };
  Result result = kNotInt;
  int64_t value = 0;
};
// Decimal ([-+]?[0-9]+), 0x hexadecimal or 0o octal, as the core schema allows.
ParsedInt ParseYamlInt(const std::string& text);

// The JSON value of a scalar (ints that overflow int64 become doubles; .inf and .nan, which JSON
// cannot hold, stay strings).
Json ScalarToJson(const std::string& tag, const std::string& text);

// True when `text` written as a plain scalar would read back as this same string.
bool PlainScalarIsString(const std::string& text);

}  // namespace vmk::specs
