#include "specs/canonical.h"

#include <yaml-cpp/yaml.h>

#include "specs/scalar.h"

namespace vmk::specs {
namespace {

// Strings that a plain scalar would turn into something else ("123", "true", "", "null") are
// double-quoted; yaml-cpp itself quotes what YAML syntax requires (": ", leading '-', ...).
void EmitString(YAML::Emitter& out, const std::string& s) {
  if (!PlainScalarIsString(s)) out << YAML::DoubleQuoted;
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
