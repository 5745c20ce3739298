#include "specs/json_schema.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "specs/decoder.h"
#include "specs/schema.h"

namespace vmk::specs {
namespace {

using Ptr = Json::json_pointer;

// Every field of the table appears in the schema under `base`, with its type, default and range.
void ExpectFieldsPublished(const Json& schema, const std::string& base,
                           const std::vector<FieldDef>& fields) {
  for (const FieldDef& f : fields) {
    std::string at = base + "/properties/" + f.name;
    ASSERT_TRUE(schema.contains(Ptr(at))) << at;
    const Json& s = schema.at(Ptr(at));
    EXPECT_TRUE(s.contains("description")) << at;
    if (!f.default_value.is_null()) {
      EXPECT_EQ(s.at("default"), f.default_value) << at;
    }
    if (f.minimum) {
      EXPECT_EQ(s.at("minimum"), *f.minimum) << at;
    }
    if (f.maximum) {
      EXPECT_EQ(s.at("maximum"), *f.maximum) << at;
    }
    if (!f.pattern.empty() && f.type == FieldType::kString) {
      EXPECT_EQ(s.at("pattern"), f.pattern) << at;
    }
    if (f.required) {
      EXPECT_THAT(schema.at(Ptr(base + "/required")), ::testing::Contains(f.name)) << at;
    }
    if (f.type == FieldType::kObject) ExpectFieldsPublished(schema, at, f.fields);
    if (f.type == FieldType::kObjectArray) ExpectFieldsPublished(schema, at + "/items", f.fields);
  }
}

TEST(JsonSchemaTest, IsValidJsonWithOneDefinitionPerKind) {
  Json schema = JsonSchema();
  Json reparsed = Json::parse(schema.dump(2));  // throws if not valid JSON
  EXPECT_EQ(reparsed, schema);
  EXPECT_EQ(schema["$schema"], "https://json-schema.org/draft/2020-12/schema");
  EXPECT_EQ(schema["oneOf"], Json::parse(R"([{"$ref": "#/$defs/Host"},
      {"$ref": "#/$defs/SnapshotPolicy"}, {"$ref": "#/$defs/StoragePool"},
      {"$ref": "#/$defs/VirtualMachine"}])"));
  EXPECT_EQ(schema["description"],
            "One manifest document of kind Host, SnapshotPolicy, StoragePool or VirtualMachine.");
  for (Kind kind : kAllKinds) {
    std::string def = "/$defs/" + std::string(KindName(kind));
    EXPECT_EQ(schema.at(Ptr(def + "/properties/kind/const")), std::string(KindName(kind)));
    EXPECT_EQ(schema.at(Ptr(def + "/properties/apiVersion/const")), "vmkeeper/v1");
    EXPECT_EQ(schema.at(Ptr(def + "/properties/metadata/$ref")), "#/$defs/ObjectMeta");
    EXPECT_EQ(schema.at(Ptr(def + "/properties/status/type")), "object");
    EXPECT_EQ(schema.at(Ptr(def + "/additionalProperties")), false);
    EXPECT_EQ(schema.at(Ptr(def + "/properties/spec/additionalProperties")), false);
  }
}

TEST(JsonSchemaTest, PublishesEveryFieldOfTheTable) {
  Json schema = JsonSchema();
  ExpectFieldsPublished(schema, "/$defs/ObjectMeta", MetadataFields());
  for (Kind kind : kAllKinds) {
    ExpectFieldsPublished(schema, "/$defs/" + std::string(KindName(kind)) + "/properties/spec",
                          SpecFields(kind));
  }
}

TEST(JsonSchemaTest, ParticularPointers) {
  Json schema = JsonSchema();
  auto at = [&](const std::string& p) { return schema.at(Ptr(p)); };
  const std::string vm = "/$defs/VirtualMachine/properties/spec/properties";
  EXPECT_EQ(at(vm + "/cpus"), Json::parse(R"({"type": "integer", "minimum": 1, "maximum": 512,
      "default": 1, "description": "Virtual CPUs (1..512)."})"));
  EXPECT_EQ(at(vm + "/memoryMiB/default"), 1024);
  EXPECT_EQ(at(vm + "/disks/items/required"), Json::parse(R"(["name"])"));
  // The rules across a disk's fields, which the validator checks, as far as JSON Schema says them.
  EXPECT_EQ(at(vm + "/disks/items/oneOf"),
            Json::parse(R"([{"required": ["image"]}, {"required": ["volume"]}])"));
  EXPECT_EQ(at(vm + "/disks/items/if"), Json::parse(R"({"required": ["volume"]})"));
  EXPECT_EQ(at(vm + "/disks/items/then"), Json::parse(R"({"not": {"required": ["format"]},
      "properties": {"sizeGiB": {"const": 0}}})"));
  const std::string volume = vm + "/disks/items/properties/volume";
  EXPECT_EQ(at(volume + "/required"), Json::parse(R"(["pool"])"));
  EXPECT_EQ(at(volume + "/if"), Json::parse(R"({"not": {"required": ["baseImage"]}})"));
  EXPECT_EQ(at(volume + "/then"), Json::parse(R"({"required": ["sizeGiB"],
      "properties": {"sizeGiB": {"minimum": 1}}})"));
  EXPECT_EQ(at(volume + "/dependentRequired"),
            Json::parse(R"({"baseFormat": ["baseImage"]})"));
  EXPECT_EQ(at(volume + "/properties/deletePolicy/default"), "Retain");
  EXPECT_EQ(at(volume + "/properties/deletePolicy/pattern"), "^(Retain|Delete)$");
  EXPECT_EQ(at(volume + "/properties/baseFormat/pattern"), "^(raw|qcow2)$");
  EXPECT_EQ(at(vm + "/disks/items/properties/format/pattern"), "^(raw|qcow2)$");
  EXPECT_FALSE(at(vm + "/disks/items/properties").contains("default"));
  EXPECT_FALSE(at(volume).contains("default")) << "an optional object: absent stays absent";
  EXPECT_EQ(at(vm + "/disks/items/additionalProperties"), false);
  EXPECT_EQ(at(vm + "/health/properties/http/properties/port/maximum"), 65535);
  EXPECT_EQ(at(vm + "/health/properties/http/required"), Json::parse(R"(["port"])"));
  EXPECT_FALSE(at(vm + "/health").contains("default"));  // optional object: not defaulted
  EXPECT_EQ(at(vm + "/placement/default"),
            Json::parse(R"({"hostSelector": {}, "requiredHosts": [], "preferredHosts": [],
                            "spreadBy": "", "priority": 0})"));
  EXPECT_EQ(at(vm + "/placement/properties/requiredHosts/uniqueItems"), true);
  EXPECT_EQ(at(vm + "/placement/properties/requiredHosts/items/pattern"), kNamePattern);
  EXPECT_EQ(at("/$defs/Host/properties/spec/required"), Json::parse(R"(["uri"])"));
  EXPECT_EQ(at("/$defs/Host/required"), Json::parse(R"(["apiVersion", "kind", "metadata",
      "spec"])"));
  EXPECT_EQ(at("/$defs/SnapshotPolicy/required"), Json::parse(R"(["apiVersion", "kind",
      "metadata"])"));
  EXPECT_EQ(at("/$defs/Host/properties/spec/properties/fencing/properties/timeoutSeconds/default"),
            60);
  EXPECT_EQ(at("/$defs/SnapshotPolicy/properties/spec/properties/intervalSeconds/minimum"), 60);
  const std::string pool = "/$defs/StoragePool/properties/spec";
  EXPECT_EQ(at(pool + "/required"), Json::parse(R"(["path"])"));
  EXPECT_EQ(at("/$defs/StoragePool/required"), Json::parse(R"(["apiVersion", "kind", "metadata",
      "spec"])"));
  EXPECT_EQ(at(pool + "/properties/type/pattern"), "^dir$");
  EXPECT_EQ(at(pool + "/properties/type/default"), "dir");
  EXPECT_EQ(at(pool + "/properties/hostSelector/propertyNames/pattern"), kLabelKeyPattern);
  EXPECT_EQ(at(pool + "/properties/hosts/items/pattern"), kNamePattern);
  EXPECT_EQ(at(pool + "/properties/path/pattern"), "^/[^\\x00-\\x1f\\x7f]*$");
  EXPECT_EQ(at("/$defs/ObjectMeta/properties/name/pattern"), kNamePattern);
  EXPECT_EQ(at("/$defs/ObjectMeta/required"), Json::parse(R"(["name"])"));
  EXPECT_EQ(at("/$defs/ObjectMeta/properties/labels/propertyNames/pattern"), kLabelKeyPattern);
}

TEST(JsonSchemaTest, SchemaDefaultsAreTheDecodersDefaults) {
  // One table: what the schema says is filled in is exactly what decoding a spec of only the
  // required fields fills.
  const std::map<Kind, Json> required = {{Kind::kHost, {{"uri", "u"}}},
                                         {Kind::kStoragePool, {{"path", "/p"}}}};
  for (Kind kind : kAllKinds) {
    Json given = required.count(kind) ? required.at(kind) : Json::object();
    std::string text = "apiVersion: vmkeeper/v1\nkind: " + std::string(KindName(kind)) +
                       "\nmetadata: {name: x}\nspec: " + given.dump() + "\n";
    DecodeResult r = DecodeManifests(text, "m.yaml");
    ASSERT_EQ(r.objects.size(), 1u) << KindName(kind);
    Json expected = DefaultSpec(kind);
    expected.update(given);
    EXPECT_EQ(r.objects[0].spec, expected) << KindName(kind);
  }
}

}  // namespace
}  // namespace vmk::specs
