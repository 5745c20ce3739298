// The schema of vmkeeper/v1: one declarative table of every field of every kind.
//
// This single table drives three things, so they cannot disagree: the strict decoder (types,
// required fields, ranges, patterns, unknown fields), the defaulting (one place), and the published
// JSON Schema (json_schema.h). The table is built once, is immutable, and is safe to read from any
// thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "specs/types.h"

namespace vmk::specs {

enum class FieldType {
  kString,
  kInt,
  kBool,
  kStringMap,     // mapping of string to string
  kObject,        // nested mapping with its own fields
  kObjectArray,   // list of nested mappings
  kStringArray,   // list of strings
};

// How an optional nested object behaves when the user leaves it out.
enum class Presence {
  // Absent stays absent (capacity, fencing, health); inner defaults apply when it is given.
  kOptional,
  // Always present in canonical form, built from its fields' defaults (placement, restart).
  kDefaulted,
};

// Syntax rules for the keys and values of a kStringMap.
enum class MapSyntax {
  kLabels,        // Kubernetes label keys ([prefix/]name) and values
  kOptionValues,  // option=value pairs (fence agents): no '=' in keys, no line breaks anywhere;
                  // plain YAML numbers and booleans are accepted as their text
};

struct FieldDef {
  std::string name;
  FieldType type = FieldType::kString;
  std::string description;
  bool required = false;
  // Scalars, string maps and arrays: the value filled in when absent (null Json = none).
  Json default_value;
  // kObject only.
  Presence presence = Presence::kOptional;
  // kInt.
  std::optional<int64_t> minimum;
  std::optional<int64_t> maximum;
  // kString and kStringArray items: ECMAScript regex that the whole value must match, and the
  // "must ..." message used when it does not.
  std::string pattern;
  std::string pattern_message;
  std::optional<int64_t> min_length;
  std::optional<int64_t> max_length;
  // kStringArray: entries must be distinct. kObjectArray: the sub-field whose value must be
  // distinct across items (empty = none).
  bool unique_items = false;
  std::string unique_key;
  // kStringMap.
  MapSyntax map_syntax = MapSyntax::kLabels;
  // kObject and kObjectArray: the nested fields, in documentation order.
  std::vector<FieldDef> fields;
  // kObject and kObjectArray: JSON Schema keywords (oneOf, if/then, ...) added to the schema of
  // the object (of each item) for rules across its fields, which the table cannot express and
  // specs/validator.cc checks. Documentation only: decoding does not read them.
  Json schema_rules;
};

// ObjectMeta's name: a DNS-1123 label that starts with a letter.
inline constexpr char kNamePattern[] = "^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$";
inline constexpr char kNameMessage[] =
    "must be a DNS-1123 label: 1 to 63 lowercase letters, digits or '-', starting with a letter "
    "and ending with a letter or digit";
// Label keys: optional DNS-subdomain prefix and '/', then a name of at most 63 characters.
inline constexpr char kLabelKeyPattern[] =
    "^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    "[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$";
inline constexpr char kLabelKeyMessage[] =
    "must be a label key: an optional DNS subdomain prefix (at most 253 characters) and '/', then "
    "1 to 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit";
inline constexpr char kLabelValuePattern[] = "^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$";
inline constexpr char kLabelValueMessage[] =
    "must be a label value: empty, or 1 to 63 letters, digits, '-', '_' or '.', starting and "
    "ending with a letter or digit";
inline constexpr char kOptionKeyPattern[] = "^[A-Za-z0-9_][-A-Za-z0-9_.]*$";
inline constexpr char kOptionKeyMessage[] =
    "must be an option name: letters, digits, '-', '_' or '.', not starting with '-' or '.'";
inline constexpr char kOptionValuePattern[] = "^[^\\n\\r]*$";
inline constexpr char kOptionValueMessage[] = "must not contain line breaks";

// The fields of `metadata` (name, labels), common to all kinds.
const std::vector<FieldDef>& MetadataFields();
// The fields of `spec` of a kind.
const std::vector<FieldDef>& SpecFields(Kind kind);
// One-line description of a kind, for the JSON Schema and `vmkeeper explain`-like output.
const std::string& KindDescription(Kind kind);

// The canonical spec of a kind when the user gives an empty spec: every defaulted field filled
// in, optional objects absent. Required fields without a default are absent too.
Json DefaultSpec(Kind kind);
// The same for any list of fields (e.g. the value of a defaulted object).
Json FieldDefaults(const std::vector<FieldDef>& fields);

}  // namespace vmk::specs
