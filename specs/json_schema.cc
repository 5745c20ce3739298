#include "specs/json_schema.h"

#include <iterator>
#include <string>

#include "specs/schema.h"

namespace vmk::specs {
namespace {

Json StringSchema(const FieldDef& f) {
  Json s = {{"type", "string"}};
  if (!f.pattern.empty()) s["pattern"] = f.pattern;
  if (f.min_length) s["minLength"] = *f.min_length;
  if (f.max_length) s["maxLength"] = *f.max_length;
  return s;
}

Json FieldsSchema(const std::vector<FieldDef>& fields);

Json FieldSchema(const FieldDef& f) {
  Json s;
  switch (f.type) {
    case FieldType::kString:
      s = StringSchema(f);
      break;
    case FieldType::kInt:
      s = {{"type", "integer"}};
      if (f.minimum) s["minimum"] = *f.minimum;
      if (f.maximum) s["maximum"] = *f.maximum;
      break;
    case FieldType::kBool:
      s = {{"type", "boolean"}};
      break;
    case FieldType::kStringMap:
      s = {{"type", "object"}};
      if (f.map_syntax == MapSyntax::kLabels) {
        s["propertyNames"] = {{"pattern", kLabelKeyPattern}, {"maxLength", 253 + 1 + 63}};
        s["additionalProperties"] = {
            {"type", "string"}, {"pattern", kLabelValuePattern}, {"maxLength", 63}};
      } else {
        s["propertyNames"] = {{"pattern", kOptionKeyPattern}, {"maxLength", 255}};
        s["additionalProperties"] = {{"type", Json::array({"string", "number", "boolean"})},
                                     {"pattern", kOptionValuePattern}};
      }
      break;
    case FieldType::kObject:
      s = FieldsSchema(f.fields);
      if (f.schema_rules.is_object()) s.update(f.schema_rules);
      if (f.presence == Presence::kDefaulted) s["default"] = FieldDefaults(f.fields);
      break;
    case FieldType::kObjectArray: {
      Json items = FieldsSchema(f.fields);
      if (f.schema_rules.is_object()) items.update(f.schema_rules);
      s = {{"type", "array"}, {"items", std::move(items)}};
      break;
    }
    case FieldType::kStringArray:
      s = {{"type", "array"}, {"items", StringSchema(f)}};
      if (f.unique_items) s["uniqueItems"] = true;
      break;
  }
  if (!f.description.empty()) s["description"] = f.description;
  if (!f.default_value.is_null()) s["default"] = f.default_value;
  return s;
}

Json FieldsSchema(const std::vector<FieldDef>& fields) {
  Json properties = Json::object();
  Json required = Json::array();
  for (const FieldDef& f : fields) {
    properties[f.name] = FieldSchema(f);
    if (f.required) required.push_back(f.name);
  }
  Json s = {{"type", "object"}, {"additionalProperties", false}, {"properties", properties}};
  if (!required.empty()) s["required"] = required;
  return s;
}

// "Host, SnapshotPolicy, StoragePool or VirtualMachine".
std::string KindList() {
  std::string out;
  const size_t count = std::size(kAllKinds);
  for (size_t i = 0; i < count; ++i) {
    if (i > 0) out += i + 1 == count ? " or " : ", ";
    out += KindName(kAllKinds[i]);
  }
  return out;
}

Json KindSchema(Kind kind) {
  std::string name(KindName(kind));
  Json spec = FieldsSchema(SpecFields(kind));
  spec["description"] = "Desired state of the " + name + ".";
  Json required = Json::array({"apiVersion", "kind", "metadata"});
  if (spec.contains("required")) required.push_back("spec");
  Json s = {
      {"type", "object"},
      {"description", KindDescription(kind)},
      {"additionalProperties", false},
      {"required", required},
      {"properties",
       {
           {"apiVersion", {{"const", kApiVersion}}},
           {"kind", {{"const", name}}},
           {"metadata", {{"$ref", "#/$defs/ObjectMeta"}}},
           {"spec", spec},
           {"status",
            {{"type", "object"},
             {"description", "Observed state, written by the controller only; ignored on "
                             "apply."}}},
       }},
  };
  return s;
}

}  // namespace

Json JsonSchema() {
  Json defs = Json::object();
  Json meta = FieldsSchema(MetadataFields());
  meta["description"] = "Name and labels of an object.";
  defs["ObjectMeta"] = meta;
  Json one_of = Json::array();
  Json kind_names = Json::array();
  for (Kind kind : kAllKinds) {
    std::string name(KindName(kind));
    defs[name] = KindSchema(kind);
    one_of.push_back({{"$ref", "#/$defs/" + name}});
    kind_names.push_back(name);
  }
  return {
      {"$schema", "https://json-schema.org/draft/2020-12/schema"},
      {"$id", "urn:vmkeeper:schema:v1"},
      {"title", "vmkeeper/v1 manifest"},
      {"description", "One manifest document of kind " + KindList() + "."},
      {"type", "object"},
      {"required", Json::array({"apiVersion", "kind"})},
      {"properties", {{"kind", {{"enum", kind_names}}}}},
      {"oneOf", one_of},
      {"$defs", defs},
  };
}

}  // namespace vmk::specs
