#include "specs/decoder.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <map>
#include <optional>
#include <regex>
#include <sstream>
#include <string_view>
#include <utility>

#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include "common/secrets.h"
#include "specs/limits.h"
#include "specs/manifest_files.h"
#include "specs/redaction.h"
#include "specs/scalar.h"
#include "specs/schema.h"

namespace vmk::specs {
namespace {

// The limits are in limits.h. Nested aliases of aliases under status: took 1 GB at 7 levels
// (523 bytes of YAML) and aborted vmkeeperd with bad_alloc at 8 before kMaxNodesPerDocument.

constexpr char kControlCharactersMessage[] =
    "must not contain control characters (bytes below 0x20, or 0x7f)";

bool HasControlCharacter(const std::string& s) {
  for (char c : s) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f) return true;
  }
  return false;
}

// Strings are stored and served as JSON, which must be UTF-8 (nlohmann::json refuses to write
// anything else), and rendered by CanonicalYaml, whose emitter replaces what is not UTF-8: a
// string that is not valid UTF-8 (found by fuzzing: docs/fuzzing.md) would pass validation, show
// changed in a diff and fail only when the store writes it.
constexpr char kNotUtf8Message[] = "must be valid UTF-8";

// Offset of the first byte of `s` that is not part of valid UTF-8, or npos.
size_t FirstInvalidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto b = static_cast<unsigned char>(s[i]);
    size_t n;
    uint32_t cp;
    if (b < 0x80) {
      ++i;
      continue;
    } else if (b >= 0xc2 && b <= 0xdf) {
      n = 1, cp = b & 0x1f;
    } else if (b >= 0xe0 && b <= 0xef) {
      n = 2, cp = b & 0x0f;
    } else if (b >= 0xf0 && b <= 0xf4) {
      n = 3, cp = b & 0x07;
    } else {
      return i;
    }
    if (s.size() - i <= n) return i;
    for (size_t k = 1; k <= n; ++k) {
      const auto c = static_cast<unsigned char>(s[i + k]);
      if ((c & 0xc0) != 0x80) return i;
      cp = (cp << 6) | (c & 0x3f);
    }
    // Overlong forms, UTF-16 surrogates and code points past U+10FFFF are not UTF-8.
    if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
        (cp >= 0xd800 && cp <= 0xdfff)) {
      return i;
    }
    i += n + 1;
  }
  return std::string_view::npos;
}

bool IsValidUtf8(const std::string& s) { return FirstInvalidUtf8(s) == std::string_view::npos; }

std::string WithThousands(size_t n) {
  std::string digits = std::to_string(n);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

bool IsIdentifier(const std::string& key) {
  if (key.empty()) return false;
  if (!(std::isalpha(static_cast<unsigned char>(key[0])) || key[0] == '_')) return false;
  for (char c : key) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-')) return false;
  }
  return true;
}

std::string Quoted(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  out += '"';
  return out;
}

std::string RangeMessageAtLeast(int64_t minimum) {
  return "must be at least " + std::to_string(minimum);
}
std::string RangeMessageAtMost(int64_t maximum) {
  return "must be at most " + std::to_string(maximum);
}

// Regexes of every pattern in the schema, compiled once. Matching uses search semantics (as JSON
// Schema's "pattern" does); the patterns anchor themselves. Callers bound the input length first:
// libstdc++'s regex recurses per character.
bool MatchesPattern(const std::string& pattern, const std::string& value) {
  static const std::map<std::string, std::regex>* compiled = [] {
    auto* out = new std::map<std::string, std::regex>();
    std::vector<const std::vector<FieldDef>*> pending = {&MetadataFields()};
    for (Kind kind : kAllKinds) pending.push_back(&SpecFields(kind));
    while (!pending.empty()) {
      const std::vector<FieldDef>* fields = pending.back();
      pending.pop_back();
      for (const FieldDef& f : *fields) {
        if (!f.pattern.empty() && !out->count(f.pattern)) {
          out->emplace(f.pattern, std::regex(f.pattern));
        }
        if (!f.fields.empty()) pending.push_back(&f.fields);
      }
    }
    for (const char* p : {kLabelKeyPattern, kLabelValuePattern, kOptionKeyPattern}) {
      out->emplace(p, std::regex(p));
    }
    return out;
  }();
  auto it = compiled->find(pattern);
  if (it != compiled->end()) return std::regex_search(value, it->second);
  return std::regex_search(value, std::regex(pattern));
}

// A label key: the regex, plus the length limits it cannot express.
bool IsLabelKey(const std::string& key) {
  if (key.empty() || key.size() > 253 + 1 + 63) return false;
  size_t slash = key.rfind('/');
  if (slash != std::string::npos && slash > 253) return false;
  return MatchesPattern(kLabelKeyPattern, key);
}

bool IsLabelValue(const std::string& value) {
  return value.size() <= 63 && MatchesPattern(kLabelValuePattern, value);
}

// Decodes one document into an Object, appending its problems to `errors`.
class DocumentDecoder {
 public:
  DocumentDecoder(const std::string& file, std::vector<Diagnostic>* errors)
      : file_(file), errors_(errors) {}

  std::optional<Object> Decode(const YAML::Node& doc);

 private:
  struct Entry {
    std::string key;
    YAML::Node key_node;
    YAML::Node value;
  };

  SourceLocation Loc(const YAML::Node& node) const {
    YAML::Mark mark = node.Mark();
    SourceLocation loc;
    loc.file = file_;
    loc.line = mark.line >= 0 ? mark.line + 1 : 0;
    loc.column = mark.column >= 0 ? mark.column + 1 : 0;
    return loc;
  }

  void Error(const YAML::Node& at, const std::string& path, std::string message) {
    errors_->push_back(Diagnostic{Loc(at), path, std::move(message)});
  }

  void Record(const std::string& path, const YAML::Node& node) { locations_[path] = Loc(node); }

  static bool IsNull(const YAML::Node& node) {
    return node.IsNull() || (node.IsScalar() && ResolveScalar(node.Tag(), node.Scalar()) ==
                                                    ScalarKind::kNull);
  }

  // The entries of a mapping, in document order. Duplicate keys (which yaml-cpp keeps silently)
  // and non-scalar keys are reported and left out.
  std::vector<Entry> MappingEntries(const YAML::Node& map, const std::string& path);

  // The fields of a mapping against `fields`: unknown fields and missing required ones are
  // reported (missing ones at `anchor`), defaults filled in. `map` may be null (= empty).
  Json DecodeFields(const YAML::Node& map, const std::vector<FieldDef>& fields,
                    const std::string& path, const YAML::Node& anchor);
  // A present, non-null value of field `def`; nullopt after reporting an error.
  std::optional<Json> DecodeField(const FieldDef& def, const YAML::Node& value,
                                  const std::string& path);
  std::optional<std::string> DecodeString(const FieldDef& def, const YAML::Node& value,
                                          const std::string& path);
  std::optional<Json> DecodeStringMap(const FieldDef& def, const YAML::Node& value,
                                      const std::string& path);
  // Free-form YAML (status) to JSON, with duplicate-key checks.
  Json FreeFormToJson(const YAML::Node& node, const std::string& path, int depth);
  // Counts one more value visited (aliases count each time they are used); false, and one error
  // for the document, once kMaxNodesPerDocument is passed.
  bool Visit(const YAML::Node& node, const std::string& path);
  size_t nodes_ = 0;         // visited so far in this document
  bool too_large_ = false;   // said once

  const std::string& file_;
  std::vector<Diagnostic>* errors_;
  std::map<std::string, SourceLocation> locations_;
};

bool DocumentDecoder::Visit(const YAML::Node& node, const std::string& path) {
  if (++nodes_ <= kMaxNodesPerDocument) return true;
  if (!too_large_) {
    too_large_ = true;
    Error(node, path, "is too large: it expands to more than " +
                          std::to_string(kMaxNodesPerDocument) + " nodes (YAML aliases?)");
  }
  return false;
}

std::vector<DocumentDecoder::Entry> DocumentDecoder::MappingEntries(const YAML::Node& map,
                                                                    const std::string& path) {
  std::vector<Entry> entries;
  if (!map.IsMap()) return entries;
  std::map<std::string, YAML::Node> seen;
  for (auto it = map.begin(); it != map.end(); ++it) {
    // Copies: yaml-cpp's iterator hands out a proxy, and references into it dangle.
    YAML::Node key_node = it->first;
    YAML::Node value = it->second;
    if (!key_node.IsScalar()) {
      Error(key_node, path, "keys must be strings");
      continue;
    }
    std::string key = key_node.Scalar();
    auto [first, inserted] = seen.emplace(key, key_node);
    if (!inserted) {
      SourceLocation first_loc = Loc(first->second);
      Error(key_node, JoinFieldPath(path, key),
            "duplicate key; first defined at line " + std::to_string(first_loc.line) +
                ", column " + std::to_string(first_loc.column));
      continue;
    }
    entries.push_back(Entry{std::move(key), key_node, value});
  }
  return entries;
}

Json DocumentDecoder::DecodeFields(const YAML::Node& map, const std::vector<FieldDef>& fields,
                                   const std::string& path, const YAML::Node& anchor) {
  Json out = Json::object();
  std::map<std::string, const Entry*> given;
  std::vector<Entry> entries = MappingEntries(map, path);
  for (const Entry& entry : entries) {
    std::string child = JoinFieldPath(path, entry.key);
    const FieldDef* def = nullptr;
    for (const FieldDef& f : fields) {
      if (f.name == entry.key) def = &f;
    }
    if (def == nullptr) {
      Error(entry.key_node, child, "unknown field");
      continue;
    }
    // An explicit null means "not set", as in Kubernetes.
    if (IsNull(entry.value)) continue;
    given[entry.key] = &entry;
    Record(child, entry.value);
    std::optional<Json> value = DecodeField(*def, entry.value, child);
    if (value) out[def->name] = std::move(*value);
  }
  for (const FieldDef& f : fields) {
    if (given.count(f.name)) continue;
    std::string child = JoinFieldPath(path, f.name);
    if (f.required) {
      // A key written with a null value is reported where it is written.
      const YAML::Node* at = &anchor;
      for (const Entry& entry : entries) {
        if (entry.key == f.name) at = &entry.key_node;
      }
      Error(*at, child, "is required");
    } else if (f.type == FieldType::kObject) {
      if (f.presence == Presence::kDefaulted) {
        out[f.name] = DecodeFields(YAML::Node(), f.fields, child, anchor);
      }
    } else if (!f.default_value.is_null()) {
      out[f.name] = f.default_value;
    }
  }
  return out;
}

std::optional<std::string> DocumentDecoder::DecodeString(const FieldDef& def,
                                                         const YAML::Node& value,
                                                         const std::string& path) {
  if (!value.IsScalar() || ResolveScalar(value.Tag(), value.Scalar()) != ScalarKind::kString) {
    Error(value, path, "must be a string");
    return std::nullopt;
  }
  const std::string& s = value.Scalar();
  int64_t length = static_cast<int64_t>(s.size());
  if (def.min_length && length < *def.min_length) {
    Error(value, path,
          *def.min_length == 1
              ? std::string("must not be empty")
              : "must be at least " + std::to_string(*def.min_length) + " characters long");
    return std::nullopt;
  }
  if (def.max_length && length > *def.max_length) {
    Error(value, path, "must be at most " + std::to_string(*def.max_length) + " characters long");
    return std::nullopt;
  }
  if (!def.pattern.empty() && !MatchesPattern(def.pattern, s)) {
    Error(value, path, def.pattern_message);
    return std::nullopt;
  }
  // Names, URIs, paths, commands: all end up in libvirt XML, command lines, logs and terminals,
  // where a NUL, a line break or an escape sequence does harm. No field needs one.
  if (HasControlCharacter(s)) {
    Error(value, path, kControlCharactersMessage);
    return std::nullopt;
  }
  if (!IsValidUtf8(s)) {
    Error(value, path, kNotUtf8Message);
    return std::nullopt;
  }
  return s;
}

std::optional<Json> DocumentDecoder::DecodeStringMap(const FieldDef& def, const YAML::Node& value,
                                                     const std::string& path) {
  if (!value.IsMap()) {
    Error(value, path, "must be a mapping");
    return std::nullopt;
  }
  Json out = Json::object();
  bool ok = true;
  for (const Entry& entry : MappingEntries(value, path)) {
    std::string child = JoinFieldPath(path, entry.key);
    if (!Visit(entry.value, child)) return std::nullopt;
    Record(child, entry.value);
    bool key_ok = def.map_syntax == MapSyntax::kLabels
                      ? IsLabelKey(entry.key)
                      : (entry.key.size() <= 255 && MatchesPattern(kOptionKeyPattern, entry.key));
    if (!key_ok) {
      Error(entry.key_node, child,
            def.map_syntax == MapSyntax::kLabels ? kLabelKeyMessage : kOptionKeyMessage);
      ok = false;
      continue;
    }
    const YAML::Node& v = entry.value;
    ScalarKind kind = v.IsScalar() ? ResolveScalar(v.Tag(), v.Scalar()) : ScalarKind::kNull;
    if (def.map_syntax == MapSyntax::kLabels) {
      if (!v.IsScalar() || kind != ScalarKind::kString) {
        Error(v, child, "must be a string");
        ok = false;
      } else if (!IsLabelValue(v.Scalar())) {
        Error(v, child, kLabelValueMessage);
        ok = false;
      } else {
        out[entry.key] = v.Scalar();
      }
    } else {
      // Option values: numbers and booleans are fine as their text (port: 623).
      if (!v.IsScalar() || kind == ScalarKind::kNull) {
        Error(v, child, "must be a string");
        ok = false;
      } else if (v.Scalar().find_first_of("\r\n") != std::string::npos) {
        Error(v, child, kOptionValueMessage);
        ok = false;
      } else if (HasControlCharacter(v.Scalar())) {
        Error(v, child, kControlCharactersMessage);
        ok = false;
      } else if (!IsValidUtf8(v.Scalar())) {
        Error(v, child, kNotUtf8Message);
        ok = false;
      } else if (IsSecretOptionKey(entry.key) &&
                 (v.Scalar() == kRedacted || v.Scalar() == kRedactedChanged)) {
        // get -o yaml shows secrets masked: applied back, the mask would replace the secret
        // and the next fence would fail. Refused, so the admin gives the real secret.
        Error(v, child,
              std::string("must be the secret, not \"") + kRedacted +
                  "\" (the mask vmkeeper shows in its place): write the real value, or name a "
                  "file that holds it with " + entry.key + "File");
        ok = false;
      } else {
        out[entry.key] = v.Scalar();
      }
    }
  }
  if (!ok) return std::nullopt;
  return out;
}

std::optional<Json> DocumentDecoder::DecodeField(const FieldDef& def, const YAML::Node& value,
                                                 const std::string& path) {
  if (!Visit(value, path)) return std::nullopt;
  switch (def.type) {
    case FieldType::kString: {
      std::optional<std::string> s = DecodeString(def, value, path);
      if (!s) return std::nullopt;
      return Json(std::move(*s));
    }
    case FieldType::kInt: {
      ParsedInt parsed;
      if (value.IsScalar() && ResolveScalar(value.Tag(), value.Scalar()) == ScalarKind::kInt) {
        parsed = ParseYamlInt(value.Scalar());
      }
      if (parsed.result == ParsedInt::kNotInt) {
        Error(value, path, "must be an integer");
        return std::nullopt;
      }
      const int64_t minimum = def.minimum.value_or(std::numeric_limits<int64_t>::min());
      const int64_t maximum = def.maximum.value_or(std::numeric_limits<int64_t>::max());
      // Beyond 64 bits first: the parsed value is meaningless then (2^63 once read as 0 and was
      // "must be at least 1").
      if (parsed.result == ParsedInt::kTooLarge) {
        Error(value, path, "is too large: " + RangeMessageAtMost(maximum));
        return std::nullopt;
      }
      if (parsed.result == ParsedInt::kTooSmall) {
        Error(value, path, "is too small: " + RangeMessageAtLeast(minimum));
        return std::nullopt;
      }
      if (parsed.value < minimum) {
        Error(value, path, RangeMessageAtLeast(minimum));
        return std::nullopt;
      }
      if (parsed.value > maximum) {
        Error(value, path, RangeMessageAtMost(maximum));
        return std::nullopt;
      }
      return Json(parsed.value);
    }
    case FieldType::kBool: {
      if (!value.IsScalar() || ResolveScalar(value.Tag(), value.Scalar()) != ScalarKind::kBool) {
        Error(value, path, "must be a boolean (true or false)");
        return std::nullopt;
      }
      return Json(value.Scalar()[0] == 't' || value.Scalar()[0] == 'T');
    }
    case FieldType::kStringMap:
      return DecodeStringMap(def, value, path);
    case FieldType::kObject: {
      if (!value.IsMap()) {
        Error(value, path, "must be a mapping");
        return std::nullopt;
      }
      return DecodeFields(value, def.fields, path, value);
    }
    case FieldType::kObjectArray: {
      if (!value.IsSequence()) {
        Error(value, path, "must be a list");
        return std::nullopt;
      }
      Json out = Json::array();
      std::map<std::string, std::string> first_with_key;  // unique_key value -> item path
      size_t index = 0;
      for (auto it = value.begin(); it != value.end(); ++it, ++index) {
        YAML::Node item = *it;
        std::string item_path = IndexFieldPath(path, index);
        if (!Visit(item, item_path)) return std::nullopt;
        Record(item_path, item);
        if (!item.IsMap()) {
          Error(item, item_path, "must be a mapping");
          continue;
        }
        Json decoded = DecodeFields(item, def.fields, item_path, item);
        if (!def.unique_key.empty() && decoded.contains(def.unique_key)) {
          std::string key = decoded[def.unique_key].get<std::string>();
          auto [first, inserted] = first_with_key.emplace(key, item_path);
          if (!inserted) {
            Error(item[def.unique_key], JoinFieldPath(item_path, def.unique_key),
                  "duplicate value " + Quoted(key) + "; first used by " + first->second);
          }
        }
        out.push_back(std::move(decoded));
      }
      return out;
    }
    case FieldType::kStringArray: {
      if (!value.IsSequence()) {
        Error(value, path, "must be a list");
        return std::nullopt;
      }
      Json out = Json::array();
      std::map<std::string, std::string> first_with_value;
      size_t index = 0;
      bool ok = true;
      for (auto it = value.begin(); it != value.end(); ++it, ++index) {
        std::string item_path = IndexFieldPath(path, index);
        YAML::Node item = *it;
        if (!Visit(item, item_path)) return std::nullopt;
        Record(item_path, item);
        std::optional<std::string> s = DecodeString(def, item, item_path);
        if (!s) {
          ok = false;
          continue;
        }
        if (def.unique_items) {
          auto [first, inserted] = first_with_value.emplace(*s, item_path);
          if (!inserted) {
            Error(item, item_path, "duplicate value " + Quoted(*s) + "; first at " + first->second);
            ok = false;
            continue;
          }
        }
        out.push_back(std::move(*s));
      }
      if (!ok) return std::nullopt;
      return out;
    }
  }
  return std::nullopt;
}

Json DocumentDecoder::FreeFormToJson(const YAML::Node& node, const std::string& path,
                                     int depth) {
  if (depth > kMaxNestingDepth) {
    Error(node, path, "is nested too deeply (more than " + std::to_string(kMaxNestingDepth) +
                          " levels)");
    return nullptr;
  }
  if (!Visit(node, path)) return nullptr;
  if (node.IsMap()) {
    Json out = Json::object();
    for (const Entry& entry : MappingEntries(node, path)) {
      std::string child = JoinFieldPath(path, entry.key);
      out[entry.key] = FreeFormToJson(entry.value, child, depth + 1);
    }
    return out;
  }
  if (node.IsSequence()) {
    Json out = Json::array();
    size_t index = 0;
    for (auto it = node.begin(); it != node.end(); ++it, ++index) {
      out.push_back(FreeFormToJson(*it, IndexFieldPath(path, index), depth + 1));
    }
    return out;
  }
  if (!node.IsScalar()) return nullptr;
  return ScalarToJson(node.Tag(), node.Scalar());
}

std::optional<Object> DocumentDecoder::Decode(const YAML::Node& doc) {
  size_t errors_before = errors_->size();
  if (!doc.IsMap()) {
    Error(doc, "", "document must be a mapping with apiVersion, kind, metadata and spec");
    return std::nullopt;
  }
  Object object;
  object.source = Loc(doc);

  std::map<std::string, const Entry*> top;
  std::vector<Entry> entries = MappingEntries(doc, "");
  for (const Entry& entry : entries) {
    if (entry.key == "apiVersion" || entry.key == "kind" || entry.key == "metadata" ||
        entry.key == "spec" || entry.key == "status") {
      top[entry.key] = &entry;
      // A null value's own mark points past it (at the next key): use the key's.
      Record(entry.key, IsNull(entry.value) ? entry.key_node : entry.value);
    } else {
      Error(entry.key_node, JoinFieldPath("", entry.key), "unknown field");
    }
  }
  auto find = [&](const char* key) -> const Entry* {
    auto it = top.find(key);
    return it == top.end() ? nullptr : it->second;
  };
  auto scalar_text = [&](const Entry* e) -> std::optional<std::string> {
    if (e == nullptr || !e->value.IsScalar()) return std::nullopt;
    if (ResolveScalar(e->value.Tag(), e->value.Scalar()) != ScalarKind::kString) {
      return std::nullopt;
    }
    return e->value.Scalar();
  };

  // apiVersion
  const Entry* api = find("apiVersion");
  if (api == nullptr || IsNull(api->value)) {
    Error(api ? api->key_node : doc, "apiVersion", "is required");
  } else if (scalar_text(api) != std::string(kApiVersion)) {
    Error(api->value, "apiVersion", std::string("must be ") + Quoted(kApiVersion));
  }

  // kind
  std::optional<Kind> kind;
  const Entry* kind_entry = find("kind");
  if (kind_entry == nullptr || IsNull(kind_entry->value)) {
    Error(kind_entry ? kind_entry->key_node : doc, "kind", "is required");
  } else {
    std::optional<std::string> text = scalar_text(kind_entry);
    if (text) kind = KindFromName(*text);
    if (!kind) {
      std::string names;
      for (Kind k : kAllKinds) {
        names += (names.empty() ? "" : ", ") + std::string(KindName(k));
      }
      Error(kind_entry->value, "kind", "must be one of " + names);
    }
  }
  if (kind) object.kind = *kind;

  // metadata
  const Entry* meta = find("metadata");
  if (meta == nullptr) {
    Error(doc, "metadata", "is required");
  } else if (!IsNull(meta->value) && !meta->value.IsMap()) {
    Error(meta->value, "metadata", "must be a mapping");
  } else {
    const YAML::Node& anchor = IsNull(meta->value) ? meta->key_node : meta->value;
    Json m = DecodeFields(meta->value, MetadataFields(), "metadata", anchor);
    if (m.contains("name")) object.metadata.name = m["name"].get<std::string>();
    if (m.contains("labels")) {
      object.metadata.labels = m["labels"].get<std::map<std::string, std::string>>();
    }
    if (m.contains("generation")) object.metadata.generation = m["generation"].get<int64_t>();
  }

  // spec: needs the kind to know its fields. Absent or null = all defaults.
  const Entry* spec = find("spec");
  if (spec != nullptr && !IsNull(spec->value) && !spec->value.IsMap()) {
    Error(spec->value, "spec", "must be a mapping");
  } else if (kind) {
    YAML::Node spec_node = spec ? spec->value : YAML::Node();
    const YAML::Node& anchor = spec == nullptr ? doc : IsNull(spec->value) ? spec->key_node
                                                                            : spec->value;
    object.spec = DecodeFields(spec_node, SpecFields(*kind), "spec", anchor);
  }

  // status: controller-owned, any shape accepted; kept (as JSON) only when it is a mapping.
  const Entry* status = find("status");
  if (status != nullptr && !IsNull(status->value)) {
    Json s = FreeFormToJson(status->value, "status", 1);
    if (s.is_object()) object.status = std::move(s);
  }

  if (errors_->size() != errors_before) return std::nullopt;
  object.field_locations = std::move(locations_);
  return object;
}


// Walks a stream's parse events (no nodes are built, aliases are not expanded) before
// YAML::LoadAll builds the documents, for two things LoadAll cannot be trusted with:
// - Documents are counted exactly, so a stream of 80,000 tiny ones is refused before yaml-cpp
//   builds them (that took 700 MB).
// - yaml-cpp 0.7's parser does not consume a "," outside a flow collection (found by fuzzing:
//   a lone "," or "[a],"): each HandleNextDocument returns one more empty document at the same
//   place, so LoadAll loops, allocating until memory runs out. A document that starts where the
//   one before it started means the parser made no progress: refused here, with where it stuck.
class DocumentScanner : public YAML::EventHandler {
 public:
  struct Outcome {
    size_t documents = 0;
    bool stuck = false;
    YAML::Mark last_start;  // of the last document seen: where it stuck, or the one over the cap
  };

  // Parses all of `text`; yaml-cpp's exceptions (bad YAML, nesting) propagate to the caller.
  static Outcome Scan(const std::string& text, size_t max_documents) {
    std::istringstream input(text);
    YAML::Parser parser(input);
    DocumentScanner scanner;
    Outcome& outcome = scanner.outcome_;
    while (parser.HandleNextDocument(scanner)) {
      if (outcome.stuck || outcome.documents > max_documents) break;
    }
    return outcome;
  }

  void OnDocumentStart(const YAML::Mark& mark) override {
    if (outcome_.documents > 0 && mark.pos == outcome_.last_start.pos) {
      outcome_.stuck = true;
    }
    outcome_.last_start = mark;
    ++outcome_.documents;
  }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}

 private:
  Outcome outcome_;
};

}  // namespace

void DecodeResult::Append(DecodeResult other) {
  for (Object& o : other.objects) {
    if (objects.size() < kMaxObjectsPerApply) {
      objects.push_back(std::move(o));
    } else if (!too_many_objects_) {
      too_many_objects_ = true;
      errors.push_back(Diagnostic{o.source, "",
                                  "too many objects: one apply takes at most " +
                                      WithThousands(kMaxObjectsPerApply) +
                                      "; split the manifests into several applies"});
    }
  }
  for (Diagnostic& d : other.errors) errors.push_back(std::move(d));
  too_many_objects_ = too_many_objects_ || other.too_many_objects_;
}

std::string JoinFieldPath(const std::string& parent, const std::string& key) {
  if (IsIdentifier(key)) return parent.empty() ? key : parent + "." + key;
  return parent + "[" + Quoted(key) + "]";
}

std::string IndexFieldPath(const std::string& parent, size_t index) {
  return parent + "[" + std::to_string(index) + "]";
}

DecodeResult DecodeManifests(std::string_view text, const std::string& file_name) {
  DecodeResult result;
  if (text.size() > kMaxManifestBytes) {
    result.errors.push_back(Diagnostic{{file_name, 1, 1}, "",
                                       "is too large: " + WithThousands(text.size()) +
                                           " bytes, a manifest file may have at most " +
                                           WithThousands(kMaxManifestBytes)});
    return result;
  }
  // YAML streams are Unicode (UTF-8 here): a stream that is not is refused before yaml-cpp sees
  // it, at its first bad byte (docs/fuzzing.md, finding 1). The string fields check again what
  // yaml-cpp's escapes decode to.
  if (size_t bad = FirstInvalidUtf8(text); bad != std::string_view::npos) {
    const size_t newline = bad == 0 ? std::string_view::npos : text.rfind('\n', bad - 1);
    const int line = 1 + static_cast<int>(std::count(text.begin(), text.begin() + bad, '\n'));
    const int column =
        1 + static_cast<int>(bad - (newline == std::string_view::npos ? 0 : newline + 1));
    char byte[8];
    std::snprintf(byte, sizeof(byte), "0x%02x", static_cast<unsigned char>(text[bad]));
    result.errors.push_back(Diagnostic{{file_name, line, column}, "",
                                       std::string("is not valid UTF-8 (byte ") + byte +
                                           "): a manifest must be UTF-8 text"});
    return result;
  }
  std::vector<YAML::Node> docs;
  try {
    const std::string stream(text);
    const DocumentScanner::Outcome scan = DocumentScanner::Scan(stream, kMaxObjectsPerApply);
    if (scan.stuck) {
      const size_t at = static_cast<size_t>(scan.last_start.pos);
      std::string what = at < stream.size() ? "\"" + std::string(1, stream[at]) + "\"" : "input";
      result.errors.push_back(Diagnostic{{file_name, scan.last_start.line + 1,
                                          scan.last_start.column + 1},
                                         "",
                                         "invalid YAML: unexpected " + what +
                                             " (outside a flow collection?)"});
      return result;
    }
    if (scan.documents > kMaxObjectsPerApply) {
      result.errors.push_back(Diagnostic{{file_name, scan.last_start.line + 1,
                                          scan.last_start.column + 1},
                                         "",
                                         "too many documents: a manifest file may have at most " +
                                             WithThousands(kMaxObjectsPerApply)});
      return result;
    }
    docs = YAML::LoadAll(stream);
  } catch (const YAML::DeepRecursion& e) {
    // Its own message is a bare "bad file".
    result.errors.push_back(Diagnostic{{file_name, e.mark.line >= 0 ? e.mark.line + 1 : 0,
                                        e.mark.column >= 0 ? e.mark.column + 1 : 0},
                                       "",
                                       "invalid YAML: nested too deeply"});
    return result;
  } catch (const YAML::Exception& e) {
    Diagnostic d;
    d.location.file = file_name;
    d.location.line = e.mark.line >= 0 ? e.mark.line + 1 : 0;
    d.location.column = e.mark.column >= 0 ? e.mark.column + 1 : 0;
    d.message = "invalid YAML: " + e.msg;
    result.errors.push_back(std::move(d));
    return result;
  } catch (const std::exception& e) {
    result.errors.push_back(Diagnostic{{file_name, 0, 0}, "", std::string("invalid YAML: ") +
                                                                  e.what()});
    return result;
  }
  size_t documents = 0;
  for (size_t i = 0; i < docs.size(); ++i) {
    const YAML::Node& doc = docs[i];
    if (doc.IsNull()) continue;  // empty document ("---" with nothing after it, or comments)
    const SourceLocation where{file_name, doc.Mark().line + 1, doc.Mark().column + 1};
    if (++documents > kMaxObjectsPerApply) {
      result.errors.push_back(Diagnostic{where, "",
                                         "too many documents: a manifest file may have at most " +
                                             WithThousands(kMaxObjectsPerApply)});
      break;
    }
    // From where this document's content starts to where the next one's does (or the end).
    size_t end = text.size();
    for (size_t j = i + 1; j < docs.size(); ++j) {
      if (docs[j].Mark().pos >= 0) {
        end = static_cast<size_t>(docs[j].Mark().pos);
        break;
      }
    }
    const size_t begin = doc.Mark().pos >= 0 ? static_cast<size_t>(doc.Mark().pos) : 0;
    if (end > begin && end - begin > kMaxDocumentBytes) {
      result.errors.push_back(Diagnostic{where, "",
                                         "document is too large: " + WithThousands(end - begin) +
                                             " bytes, at most " +
                                             WithThousands(kMaxDocumentBytes) + " allowed"});
      continue;
    }
    try {
      DocumentDecoder decoder(file_name, &result.errors);
      std::optional<Object> object = decoder.Decode(doc);
      if (object) result.objects.push_back(std::move(*object));
    } catch (const std::exception& e) {
      // yaml-cpp or json throwing here is a bug of ours; still an error, never a crash.
      SourceLocation loc{file_name, doc.Mark().line + 1, doc.Mark().column + 1};
      result.errors.push_back(Diagnostic{loc, "", std::string("internal error: ") + e.what()});
    }
  }
  SortByPosition(&result.errors);
  return result;
}

DecodeResult LoadManifests(const std::string& path) {
  DecodeResult result;
  ManifestFiles files = ReadManifestFiles(path);
  result.errors = std::move(files.errors);
  for (const ManifestText& file : files.files) {
    result.Append(DecodeManifests(file.content, file.name));
  }
  return result;
}

}  // namespace vmk::specs
