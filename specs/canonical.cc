#include "specs/canonical.h"

#include <cctype>

#include <yaml-cpp/yaml.h>

#include "specs/scalar.h"

namespace vmk::specs {
namespace {

// Plain scalars that YAML 1.1 readers (PyYAML and older tools) take for booleans, timestamps or
// base-60 numbers although YAML 1.2 reads them as strings: quoted, so that our output means the
// same to every reader.
bool IsYaml11Special(const std::string& s) {
  static const char* kWords[] = {"y", "n", "yes", "no", "on", "off"};
  std::string lower;
  for (char c : s) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (const char* w : kWords) {
    if (lower == w) return true;
  }
  return !s.empty() && std::isdigit(static_cast<unsigned char>(s[0])) &&
         s.find_first_of("-:") != std::string::npos && s.find(' ') == std::string::npos;
}

// Strings that a plain scalar would turn into something else ("123", "true", "", "null") are
// double-quoted; yaml-cpp itself quotes what YAML syntax requires (": ", leading '-', ...).
// Multi-line text ending in exactly one newline is a literal block (yaml-cpp writes only
// clipped blocks, which read back with one trailing newline); other multi-line text is
// double-quoted with its line breaks escaped. Both read back exactly.
void EmitString(YAML::Emitter& out, const std::string& s) {
  const bool multi_line = s.find('\n') != std::string::npos;
  if (multi_line && s.back() == '\n' && (s.size() < 2 || s[s.size() - 2] != '\n') &&
      s.find('\r') == std::string::npos && !std::isspace(static_cast<unsigned char>(s[0]))) {
    out << YAML::Literal;
  } else if (multi_line || !PlainScalarIsString(s) || IsYaml11Special(s) ||
             s.find('\r') != std::string::npos) {
    out << YAML::DoubleQuoted;
  }
  out << s;
}

void EmitJson(YAML::Emitter& out, const Json& value) {
  switch (value.type()) {
    case Json::value_t::object:
      if (value.empty()) {
        out << YAML::Flow << YAML::BeginMap << YAML::EndMap;
        return;
      }
      out << YAML::BeginMap;
      for (auto it = value.begin(); it != value.end(); ++it) {  // nlohmann keeps keys sorted
        out << YAML::Key;
        EmitString(out, it.key());
        out << YAML::Value;
        EmitJson(out, it.value());
      }
      out << YAML::EndMap;
      return;
    case Json::value_t::array:
      if (value.empty()) {
        out << YAML::Flow << YAML::BeginSeq << YAML::EndSeq;
        return;
      }
      out << YAML::BeginSeq;
      for (const Json& item : value) EmitJson(out, item);
      out << YAML::EndSeq;
      return;
    case Json::value_t::string:
      EmitString(out, value.get<std::string>());
      return;
    case Json::value_t::boolean:
      out << (value.get<bool>() ? "true" : "false");
      return;
    case Json::value_t::number_integer:
      out << value.get<int64_t>();
      return;
    case Json::value_t::number_unsigned:
      out << value.get<uint64_t>();
      return;
    case Json::value_t::number_float: {
      // dump() gives the shortest text that reads back as the same double ("2.5", "1e+100").
      std::string text = value.dump();
      if (ResolveScalar("?", text) != ScalarKind::kFloat &&
          ResolveScalar("?", text) != ScalarKind::kInt) {
        text = "null";  // NaN or infinity: JSON has no spelling for them
      }
      out << text;
      return;
    }
    case Json::value_t::null:
    case Json::value_t::discarded:
    case Json::value_t::binary:
      out << YAML::Null;
      return;
  }
}

bool IsEmptySpec(const Json& spec) {
  return spec.is_null() || (spec.is_object() && spec.empty());
}

}  // namespace

std::string CanonicalYaml(const Object& object, bool include_status) {
  YAML::Emitter out;
  out.SetNullFormat(YAML::LowerNull);
  out << YAML::BeginMap;
  out << YAML::Key << "apiVersion" << YAML::Value << kApiVersion;
  out << YAML::Key << "kind" << YAML::Value << std::string(KindName(object.kind));
  out << YAML::Key << "metadata" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "name" << YAML::Value;
  EmitString(out, object.metadata.name);
  if (!object.metadata.labels.empty()) {
    out << YAML::Key << "labels" << YAML::Value << YAML::BeginMap;
    for (const auto& [key, value] : object.metadata.labels) {
      out << YAML::Key;
      EmitString(out, key);
      out << YAML::Value;
      EmitString(out, value);
    }
    out << YAML::EndMap;
  }
  if (object.metadata.generation > 0) {
    out << YAML::Key << "generation" << YAML::Value << object.metadata.generation;
  }
  if (!object.metadata.deletionTimestamp.empty()) {
    out << YAML::Key << "deletionTimestamp" << YAML::Value;
    EmitString(out, object.metadata.deletionTimestamp);
  }
  if (!object.metadata.finalizers.empty()) {
    out << YAML::Key << "finalizers" << YAML::Value << YAML::BeginSeq;
    for (const auto& f : object.metadata.finalizers) EmitString(out, f);
    out << YAML::EndSeq;
  }
  out << YAML::EndMap;
  out << YAML::Key << "spec" << YAML::Value;
  EmitJson(out, object.spec.is_null() ? Json::object() : object.spec);
  if (include_status && !object.status.is_null() && !object.status.empty()) {
    out << YAML::Key << "status" << YAML::Value;
    EmitJson(out, object.status);
  }
  out << YAML::EndMap;
  std::string text = out.c_str();
  text += "\n";
  return text;
}

std::string JsonToYaml(const Json& value) {
  YAML::Emitter out;
  out.SetNullFormat(YAML::LowerNull);
  EmitJson(out, value);
  std::string text = out.c_str();
  if (text.empty() || text.back() != '\n') text += "\n";
  return text;
}

bool SpecEquals(const Json& a, const Json& b) {
  if (IsEmptySpec(a) || IsEmptySpec(b)) return IsEmptySpec(a) && IsEmptySpec(b);
  return a == b;
}

bool LabelsEqual(const Object& a, const Object& b) {
  return a.metadata.labels == b.metadata.labels;
}

int64_t NextGeneration(const std::optional<Object>& stored, const Object& applied) {
  if (!stored) return 1;
  int64_t current = stored->metadata.generation > 0 ? stored->metadata.generation : 1;
  return SpecEquals(stored->spec, applied.spec) ? current : current + 1;
}

}  // namespace vmk::specs
