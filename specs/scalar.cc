#include "specs/scalar.h"

#include <cctype>
#include <charconv>
#include <cstdlib>
#include <limits>
#include <regex>

namespace vmk::specs {
namespace {

bool IsNullText(const std::string& t) {
  return t.empty() || t == "~" || t == "null" || t == "Null" || t == "NULL";
}

bool IsBoolText(const std::string& t) {
  return t == "true" || t == "True" || t == "TRUE" || t == "false" || t == "False" ||
         t == "FALSE";
}

bool IsIntText(const std::string& t) {
  size_t i = 0;
  if (t.size() > 2 && t[0] == '0' && (t[1] == 'x' || t[1] == 'o')) {
    bool hex = t[1] == 'x';
    for (i = 2; i < t.size(); ++i) {
      char c = t[i];
      if (hex ? !std::isxdigit(static_cast<unsigned char>(c)) : (c < '0' || c > '7')) {
        return false;
      }
    }
    return true;
  }
  if (!t.empty() && (t[0] == '-' || t[0] == '+')) i = 1;
  if (i >= t.size()) return false;
  for (; i < t.size(); ++i) {
    if (!std::isdigit(static_cast<unsigned char>(t[i]))) return false;
  }
  return true;
}

bool IsFloatText(const std::string& t) {
  if (t.size() > 64) return false;  // bounded before the regex (it recurses per character)
  static const std::regex* number = new std::regex(
      "^[-+]?(\\.[0-9]+|[0-9]+(\\.[0-9]*)?)([eE][-+]?[0-9]+)?$");
  static const std::regex* special = new std::regex("^([-+]?\\.(inf|Inf|INF)|\\.(nan|NaN|NAN))$");
  return std::regex_search(t, *number) || std::regex_search(t, *special);
}

}  // namespace

ScalarKind ResolveScalar(const std::string& tag, const std::string& text) {
  if (tag == "!" || tag == "tag:yaml.org,2002:str") return ScalarKind::kString;
  if (IsNullText(text)) return ScalarKind::kNull;
  if (IsBoolText(text)) return ScalarKind::kBool;
  if (IsIntText(text)) return ScalarKind::kInt;
  if (IsFloatText(text)) return ScalarKind::kFloat;
  return ScalarKind::kString;
}

ParsedInt ParseYamlInt(const std::string& text) {
  ParsedInt out;
  if (!IsIntText(text)) return out;
  const char* begin = text.data();
  const char* end = text.data() + text.size();
  int base = 10;
  bool negative = false;
  if (text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'o')) {
    base = text[1] == 'x' ? 16 : 8;
    begin += 2;
  } else if (*begin == '+') {
    ++begin;
  } else if (*begin == '-') {
    negative = true;
  }
  auto [ptr, ec] = std::from_chars(begin, end, out.value, base);
  if (ec == std::errc::result_out_of_range) {
    out.result = negative ? ParsedInt::kTooSmall : ParsedInt::kTooLarge;
  } else if (ec != std::errc() || ptr != end) {
    out.result = ParsedInt::kNotInt;
  } else {
    out.result = ParsedInt::kOk;
  }
  return out;
}

Json ScalarToJson(const std::string& tag, const std::string& text) {
  switch (ResolveScalar(tag, text)) {
    case ScalarKind::kNull: return nullptr;
    case ScalarKind::kBool: return text[0] == 't' || text[0] == 'T';
    case ScalarKind::kInt: {
      ParsedInt parsed = ParseYamlInt(text);
      if (parsed.result == ParsedInt::kOk) return parsed.value;
      return std::strtod(text.c_str(), nullptr);
    }
    case ScalarKind::kFloat: {
      if (text.find_first_of("iInN") != std::string::npos) return text;
      return std::strtod(text.c_str(), nullptr);
    }
    case ScalarKind::kString: return text;
  }
  return text;
}

bool PlainScalarIsString(const std::string& text) {
  return ResolveScalar("?", text) == ScalarKind::kString;
}

}  // namespace vmk::specs
