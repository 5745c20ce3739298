#include "specs/decoder.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "specs/limits.h"
#include "specs/schema.h"

namespace vmk::specs {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

std::vector<std::string> Errors(const std::string& text, const std::string& file = "m.yaml") {
  return DiagnosticStrings(DecodeManifests(text, file).errors);
}

Object DecodeOne(const std::string& text) {
  DecodeResult r = DecodeManifests(text, "m.yaml");
  EXPECT_THAT(DiagnosticStrings(r.errors), IsEmpty());
  EXPECT_EQ(r.objects.size(), 1u);
  return r.objects.empty() ? Object{} : r.objects[0];
}

// ---- one test per error category, exact "file:line:col: path: message" -----------------------

TEST(DecoderTest, WrongTypeInteger) {
  EXPECT_THAT(Errors("apiVersion: vmkeeper/v1\n"
                     "kind: VirtualMachine\n"
                     "metadata:\n"
                     "  name: wms01\n"
                     "spec:\n"
                     "  cpus: two\n"),
              ElementsAre("m.yaml:6:9: spec.cpus: must be an integer"));
}

TEST(DecoderTest, QuotedNumberIsAStringNotAnInteger) {
  EXPECT_THAT(Errors("apiVersion: vmkeeper/v1\n"
                     "kind: VirtualMachine\n"
                     "metadata: {name: wms01}\n"
                     "spec: {cpus: \"2\"}\n"),
              ElementsAre("m.yaml:4:14: spec.cpus: must be an integer"));
}

TEST(DecoderTest, WrongTypeStringBooleanMappingList) {
  EXPECT_THAT(Errors("apiVersion: vmkeeper/v1\n"
                     "kind: VirtualMachine\n"
                     "metadata: {name: wms01}\n"
                     "spec:\n"
                     "  snapshotPolicy: 5\n"
                     "  running: yes\n"
                     "  placement: [a]\n"
                     "  disks: {name: root}\n"),
              ElementsAre("m.yaml:5:19: spec.snapshotPolicy: must be a string",
                          "m.yaml:6:12: spec.running: must be a boolean (true or false)",
                          "m.yaml:7:14: spec.placement: must be a mapping",
                          "m.yaml:8:10: spec.disks: must be a list"));
}

TEST(DecoderTest, UnknownFieldAtTopLevel) {
  EXPECT_THAT(Errors("apiVersion: vmkeeper/v1\n"
                     "kind: SnapshotPolicy\n"
                     "metadata: {name: nightly}\n"
                     "spce: {keep: 3}\n"),
              ElementsAre("m.yaml:4:1: spce: unknown field"));
}

TEST(DecoderTest, UnknownFieldInSpec) {
  EXPECT_THAT(Errors("apiVersion: vmkeeper/v1\n"
                     "kind: Host\n"
                     "metadata:\n"
                     "  name: hv01\n"
                     "spec:\n"
                     "  uri: test:///default\n"
                     "  capacity:\n"
                     "    cpus: 8\n"
                     "    memoryMiB: 4096\n"
                     "    disks: 3\n"),
              ElementsAre("m.yaml:10:5: spec.capacity.disks: unknown field"));
}

TEST(DecoderTest, UnknownFieldInListItem) {
  EXPECT_THAT(Errors("apiVersion: vmkeeper/v1\n"
                     "kind: VirtualMachine\n"
                     "metadata:\n"
                     "  name: wms01\n"
                     "spec:\n"
                     "  disks:\n"
                     "  - name: root\n"
                     "    image: /img/wms.qcow2\n"
                     "    size: 20\n"),
              ElementsAre("m.yaml:9:5: spec.disks[0].size: unknown field"));
}

TEST(DecoderTest, UnknownFieldInMetadata) {
  EXPECT_THAT(Errors("apiVersion: vmkeeper/v1\n"
                     "kind: SnapshotPolicy\n"
                     "metadata:\n"
                     "  name: nightly\n"
                     "  namespace: default\n"),
              ElementsAre("m.yaml:5:3: metadata.namespace: unknown field"));
}

TEST(DecoderTest, DuplicateKey) {
  EXPECT_THAT(Errors("apiVersion: vmkeeper/v1\n"
                     "kind: VirtualMachine\n"
                     "metadata:\n"
                     "  name: wms01\n"
                     "spec:\n"
                     "  cpus: 2\n"
                     "  memoryMiB: 2048\n"
                     "  cpus: 4\n"),
              ElementsAre("m.yaml:8:3: spec.cpus: duplicate key; first defined at line 6, "
                          "column 3"));
}

TEST(DecoderTest, DuplicateKeyAtEveryLevel) {
  EXPECT_THAT(
      Errors("apiVersion: vmkeeper/v1\n"
             "kind: VirtualMachine\n"
             "metadata: {name: a, labels: {x: \"1\", x: \"2\"}}\n"
             "spec:\n"
             "  placement: {hostSelector: {rack: r1, rack: r2}}\n"
             "  disks: [{name: d, image: i, name: e}]\n"
             "kind: VirtualMachine\n"
             "status: {a: 1, a: 2}\n"),
      ElementsAre(
          "m.yaml:3:38: metadata.labels.x: duplicate key; first defined at line 3, column 30",
          "m.yaml:5:40: spec.placement.hostSelector.rack: duplicate key; first defined at line "
          "5, column 30",
          "m.yaml:6:31: spec.disks[0].name: duplicate key; first defined at line 6, column 12",
          "m.yaml:7:1: kind: duplicate key; first defined at line 2, column 1",
          "m.yaml:8:16: status.a: duplicate key; first defined at line 8, column 10"));
}

TEST(DecoderTest, MissingRequiredFields) {
  EXPECT_THAT(Errors("apiVersion: vmkeeper/v1\n"
                     "kind: Host\n"
                     "metadata:\n"
                     "  name: hv01\n"
                     "spec:\n"
                     "  schedulable: false\n"),
              ElementsAre("m.yaml:6:3: spec.uri: is required"));
  EXPECT_THAT(Errors("apiVersion: vmkeeper/v1\n"
                     "kind: VirtualMachine\n"
                     "metadata: {labels: {a: b}}\n"
                     "spec:\n"
                     "  disks: [{image: /r}, {name: d, volume: {sizeGiB: 1}}]\n"
                     "  health: {http: {path: /h}}\n"),
              ElementsAre("m.yaml:3:11: metadata.name: is required",
                          "m.yaml:5:11: spec.disks[0].name: is required",
                          "m.yaml:5:42: spec.disks[1].volume.pool: is required",
                          "m.yaml:6:18: spec.health.http.port: is required"));
  // A disk with neither image nor volume is the validator's business (validator_test.cc).
}

TEST(DecoderTest, MissingTopLevelFieldsReportedAtTheDocument) {
  EXPECT_THAT(Errors("# a comment first\n"
                     "spec: {}\n"),
              ElementsAre("m.yaml:2:1: apiVersion: is required", "m.yaml:2:1: kind: is required",
                          "m.yaml:2:1: metadata: is required"));
}

TEST(DecoderTest, RequiredKeyWrittenWithNullValueIsReportedAtTheKey) {
  EXPECT_THAT(Errors("apiVersion: vmkeeper/v1\n"
                     "kind: Host\n"
                     "metadata:\n"
                     "  name: hv01\n"
                     "spec:\n"
                     "  schedulable: true\n"
                     "  uri:\n"),
              ElementsAre("m.yaml:7:3: spec.uri: is required"));
}

TEST(DecoderTest, BadName) {
  EXPECT_THAT(Errors("apiVersion: vmkeeper/v1\n"
                     "kind: SnapshotPolicy\n"
                     "metadata:\n"
                     "  name: Nightly_1\n"),
              ElementsAre("m.yaml:4:9: metadata.name: must be a DNS-1123 label: 1 to 63 "
                          "lowercase letters, digits or '-', starting with a letter and ending "
                          "with a letter or digit"));
  EXPECT_THAT(Errors("apiVersion: vmkeeper/v1\n"
                     "kind: SnapshotPolicy\n"
                     "metadata: {name: " + std::string(64, 'a') + "}\n"),
              ElementsAre("m.yaml:3:18: metadata.name: must be at most 63 characters long"));
  for (const char* bad : {"1abc", "abc-", "-abc", "a.b", "\"\""}) {
    EXPECT_EQ(Errors(std::string("apiVersion: vmkeeper/v1\nkind: Host\nmetadata: {name: ") + bad +
                     "}\nspec: {uri: test:///default}\n")
                  .size(),
              1u)
        << bad;
  }
  EXPECT_THAT(Errors("apiVersion: vmkeeper/v1\nkind: Host\nmetadata: {name: " +
                     std::string(63, 'a') + "}\nspec: {uri: test:///default}\n"),
              IsEmpty());
}

TEST(DecoderTest, BadLabels) {
  EXPECT_THAT(Errors("apiVersion: vmkeeper/v1\n"
                     "kind: SnapshotPolicy\n"
                     "metadata:\n"
                     "  name: nightly\n"
                     "  labels:\n"
                     "    \"bad key\": x\n"
                     "    tier: -front\n"
                     "    version: 2\n"
                     "    example.com/rack: r1\n"),
              ElementsAre("m.yaml:6:5: metadata.labels[\"bad key\"]: must be a label key: an "
                          "optional DNS subdomain prefix (at most 253 characters) and '/', then 1 "
                          "to 63 letters, digits, '-', '_' or '.', starting and ending with a "
                          "letter or digit",
                          "m.yaml:7:11: metadata.labels.tier: must be a label value: empty, or 1 "
                          "to 63 letters, digits, '-', '_' or '.', starting and ending with a "
                          "letter or digit",
                          "m.yaml:8:14: metadata.labels.version: must be a string"));
}

TEST(DecoderTest, OutOfRangeValues) {
  EXPECT_THAT(Errors("apiVersion: vmkeeper/v1\n"
                     "kind: VirtualMachine\n"
                     "metadata: {name: wms01}\n"
                     "spec:\n"
                     "  cpus: 0\n"
                     "  memoryMiB: 99999999999\n"
                     "  placement: {priority: -1001}\n"
                     "  health: {tcp: {port: 70000}}\n"
                     "  disks: [{name: root, image: x, sizeGiB: 99999999999999999999}]\n"),
              ElementsAre("m.yaml:5:9: spec.cpus: must be at least 1",
                          "m.yaml:6:14: spec.memoryMiB: must be at most 16777216",
                          "m.yaml:7:25: spec.placement.priority: must be at least -1000",
                          "m.yaml:8:24: spec.health.tcp.port: must be at most 65535",
                          "m.yaml:9:43: spec.disks[0].sizeGiB: is too large: must be at most "
                          "65536"));
  EXPECT_THAT(Errors("apiVersion: vmkeeper/v1\n"
                     "kind: SnapshotPolicy\n"
                     "metadata: {name: p}\n"
                     "spec: {intervalSeconds: 59, keep: 1001}\n"),
              ElementsAre("m.yaml:4:25: spec.intervalSeconds: must be at least 60",
                          "m.yaml:4:35: spec.keep: must be at most 1000"));
  EXPECT_THAT(Errors("apiVersion: vmkeeper/v1\n"
                     "kind: SnapshotPolicy\n"
                     "metadata: {name: p}\n"
                     "spec: {maxSnapshotGiB: 0}\n"),
              ElementsAre("m.yaml:4:24: spec.maxSnapshotGiB: must be at least 1"));
}

TEST(DecoderTest, BadApiVersion) {
  EXPECT_THAT(Errors("apiVersion: vmkeeper/v2\n"
                     "kind: SnapshotPolicy\n"
                     "metadata: {name: p}\n"),
              ElementsAre("m.yaml:1:13: apiVersion: must be \"vmkeeper/v1\""));
}

TEST(DecoderTest, UnknownKind) {
  EXPECT_THAT(Errors("apiVersion: vmkeeper/v1\n"
                     "kind: VirtualMachin\n"
                     "metadata: {name: p}\n"
                     "spec: {anything: 1}\n"),
              ElementsAre("m.yaml:2:7: kind: must be one of Host, SnapshotPolicy, "
                          "StoragePool, VirtualMachine"));
}

TEST(DecoderTest, YamlSyntaxErrorLocation) {
  EXPECT_THAT(Errors("apiVersion: vmkeeper/v1\n"
                     "kind: Host\n"
                     "metadata:\n"
                     "  name: hv01\n"
                     "spec:\n"
                     "  uri: [test\n"),
              ElementsAre("m.yaml:7:1: invalid YAML: end of sequence flow not found"));
  EXPECT_THAT(Errors("apiVersion: vmkeeper/v1\n"
                     "kind: Host\n"
                     "  name: x\n"),
              ElementsAre("m.yaml:3:7: invalid YAML: illegal map value"));
}

TEST(DecoderTest, DocumentThatIsNotAMapping) {
  EXPECT_THAT(Errors("- a\n- b\n"),
              ElementsAre("m.yaml:1:1: document must be a mapping with apiVersion, kind, "
                          "metadata and spec"));
}

TEST(DecoderTest, SeveralErrorsAcrossDocumentsAllReportedInLineOrder) {
  DecodeResult r = DecodeManifests("apiVersion: vmkeeper/v1\n"
                                   "kind: VirtualMachine\n"
                                   "metadata:\n"
                                   "  name: Bad\n"
                                   "spec:\n"
                                   "  cpus: 0\n"
                                   "  colour: red\n"
                                   "---\n"
                                   "apiVersion: vmkeeper/v1\n"
                                   "kind: SnapshotPolicy\n"
                                   "metadata: {name: nightly}\n"
                                   "spec: {keep: 0, keep: 2}\n"
                                   "---\n"
                                   "apiVersion: vmkeeper/v1\n"
                                   "kind: SnapshotPolicy\n"
                                   "metadata: {name: fine}\n",
                                   "fleet.yaml");
  EXPECT_THAT(
      DiagnosticStrings(r.errors),
      ElementsAre("fleet.yaml:4:9: metadata.name: must be a DNS-1123 label: 1 to 63 lowercase "
                  "letters, digits or '-', starting with a letter and ending with a letter or "
                  "digit",
                  "fleet.yaml:6:9: spec.cpus: must be at least 1",
                  "fleet.yaml:7:3: spec.colour: unknown field",
                  "fleet.yaml:12:14: spec.keep: must be at least 1",
                  "fleet.yaml:12:17: spec.keep: duplicate key; first defined at line 12, "
                  "column 8"));
  // Only the document without errors comes out.
  ASSERT_EQ(r.objects.size(), 1u);
  EXPECT_EQ(r.objects[0].metadata.name, "fine");
}

// ---- documents and files ----------------------------------------------------------------------

TEST(DecoderTest, MultiDocumentFileSkipsEmptyDocuments) {
  DecodeResult r = DecodeManifests("---\n"
                                   "# only a comment\n"
                                   "---\n"
                                   "apiVersion: vmkeeper/v1\n"
                                   "kind: Host\n"
                                   "metadata: {name: hv01}\n"
                                   "spec: {uri: \"test:///default\"}\n"
                                   "---\n"
                                   "---\n"
                                   "apiVersion: vmkeeper/v1\n"
                                   "kind: SnapshotPolicy\n"
                                   "metadata: {name: nightly}\n"
                                   "---\n"
                                   "apiVersion: vmkeeper/v1\n"
                                   "kind: VirtualMachine\n"
                                   "metadata: {name: wms01}\n"
                                   "spec: {snapshotPolicy: nightly}\n"
                                   "...\n",
                                   "fleet.yaml");
  EXPECT_THAT(DiagnosticStrings(r.errors), IsEmpty());
  ASSERT_EQ(r.objects.size(), 3u);
  EXPECT_EQ(r.objects[0].Key(), "Host/hv01");
  EXPECT_EQ(r.objects[1].Key(), "SnapshotPolicy/nightly");
  EXPECT_EQ(r.objects[2].Key(), "VirtualMachine/wms01");
  EXPECT_EQ(r.objects[0].source.ToString(), "fleet.yaml:4:1");
  EXPECT_EQ(r.objects[1].source.ToString(), "fleet.yaml:10:1");
  EXPECT_EQ(r.objects[2].source.ToString(), "fleet.yaml:14:1");
  EXPECT_EQ(r.objects[2].spec["snapshotPolicy"], "nightly");
}

TEST(DecoderTest, EmptyInputHasNoObjectsAndNoErrors) {
  DecodeResult r = DecodeManifests("", "empty.yaml");
  EXPECT_TRUE(r.ok());
  EXPECT_TRUE(r.objects.empty());
}

TEST(DecoderTest, JsonInputWorks) {
  Object o = DecodeOne(R"({"apiVersion": "vmkeeper/v1", "kind": "VirtualMachine",
    "metadata": {"name": "ce01", "labels": {"service": "ce"}},
    "spec": {"cpus": 4, "running": false, "disks": [{"name": "root", "image": "/i.qcow2"}],
             "placement": {"requiredHosts": ["hv01", "hv02"]}}})");
  EXPECT_EQ(o.Key(), "VirtualMachine/ce01");
  EXPECT_EQ(o.metadata.labels.at("service"), "ce");
  EXPECT_EQ(o.spec["cpus"], 4);
  EXPECT_EQ(o.spec["running"], false);
  EXPECT_EQ(o.spec["placement"]["requiredHosts"], Json::array({"hv01", "hv02"}));
  EXPECT_EQ(o.LocationOf("spec.placement.requiredHosts[1]").ToString(), "m.yaml:4:54");

  EXPECT_THAT(Errors(R"({"apiVersion": "vmkeeper/v1", "kind": "SnapshotPolicy",
"metadata": {"name": "p"}, "spec": {"keep": "3"}})"),
              ElementsAre("m.yaml:2:45: spec.keep: must be an integer"));
}

TEST(DecoderTest, FieldLocationsCoverEveryWrittenField) {
  Object o = DecodeOne("apiVersion: vmkeeper/v1\n"
                       "kind: VirtualMachine\n"
                       "metadata:\n"
                       "  name: wms01\n"
                       "  labels: {service: wms}\n"
                       "spec:\n"
                       "  placement:\n"
                       "    requiredHosts:\n"
                       "    - hv01\n"
                       "    - hv02\n"
                       "  disks:\n"
                       "  - {name: root, image: /i}\n");
  auto at = [&](const std::string& path) {
    auto it = o.field_locations.find(path);
    return it == o.field_locations.end() ? std::string("<none>") : it->second.ToString();
  };
  EXPECT_EQ(o.source.ToString(), "m.yaml:1:1");
  EXPECT_EQ(at("kind"), "m.yaml:2:7");
  EXPECT_EQ(at("metadata.name"), "m.yaml:4:9");
  EXPECT_EQ(at("metadata.labels.service"), "m.yaml:5:21");
  EXPECT_EQ(at("spec.placement.requiredHosts"), "m.yaml:9:5");
  EXPECT_EQ(at("spec.placement.requiredHosts[0]"), "m.yaml:9:7");
  EXPECT_EQ(at("spec.placement.requiredHosts[1]"), "m.yaml:10:7");
  EXPECT_EQ(at("spec.disks[0]"), "m.yaml:12:5");
  EXPECT_EQ(at("spec.disks[0].image"), "m.yaml:12:25");
  // Defaults were not written by the user: no location of their own; LocationOf falls back to
  // the closest written ancestor (the spec mapping, whose mark is its first key).
  EXPECT_EQ(at("spec.cpus"), "<none>");
  EXPECT_EQ(o.LocationOf("spec.cpus").ToString(), "m.yaml:7:3");
}

// ---- defaults -----------------------------------------------------------------------------------

TEST(DecoderTest, DefaultsFilledForVirtualMachine) {
  Object o = DecodeOne("apiVersion: vmkeeper/v1\n"
                       "kind: VirtualMachine\n"
                       "metadata: {name: wms01}\n"
                       "spec:\n"
                       "  disks: [{name: root, image: /i.qcow2}]\n");
  Json expected = Json::parse(R"({
    "running": true, "cpus": 1, "memoryMiB": 1024,
    "disks": [{"name": "root", "image": "/i.qcow2", "sizeGiB": 0}],
    "placement": {"hostSelector": {}, "requiredHosts": [], "preferredHosts": [], "spreadBy": "",
                  "priority": 0},
    "restart": {"limit": 3, "windowSeconds": 600},
    "snapshotPolicy": ""})");
  EXPECT_EQ(o.spec, expected) << o.spec.dump();
}

TEST(DecoderTest, OptionalObjectsStayAbsentButGetInnerDefaultsWhenGiven) {
  Object host = DecodeOne("apiVersion: vmkeeper/v1\n"
                          "kind: Host\n"
                          "metadata: {name: hv01}\n"
                          "spec:\n"
                          "  uri: qemu+ssh://root@hv01/system\n"
                          "  fencing: {agent: fence_ipmilan}\n");
  EXPECT_EQ(host.spec, Json::parse(R"({"uri": "qemu+ssh://root@hv01/system",
      "fencing": {"agent": "fence_ipmilan", "args": {}, "timeoutSeconds": 60},
      "acknowledgeUnsafe": false, "schedulable": true, "managementOutage": "Wait"})"))
      << host.spec.dump();

  Object vm = DecodeOne("apiVersion: vmkeeper/v1\n"
                        "kind: VirtualMachine\n"
                        "metadata: {name: wms01}\n"
                        "spec:\n"
                        "  health: {tcp: {port: 22}}\n");
  EXPECT_EQ(vm.spec["health"], Json::parse(R"({"tcp": {"port": 22}, "periodSeconds": 5,
      "timeoutSeconds": 2, "failureThreshold": 3, "startupGraceSeconds": 120,
      "managementOutage": "Wait"})"))
      << vm.spec.dump();
  EXPECT_FALSE(vm.spec["health"].contains("http"));
}

TEST(DecoderTest, AbsentOrNullSpecMeansAllDefaults) {
  Object p = DecodeOne("apiVersion: vmkeeper/v1\n"
                       "kind: SnapshotPolicy\n"
                       "metadata: {name: nightly}\n"
                       "spec:\n");
  EXPECT_EQ(p.spec, Json::parse(R"({"intervalSeconds": 86400, "keep": 7, "beforeChange": true,
      "beforeFailover": true, "rollbackDepth": 2})"));
  // No cap unless one is given: absent stays absent (existing policies keep their form).
  EXPECT_FALSE(p.spec.contains("maxSnapshotGiB"));
  Object capped = DecodeOne("apiVersion: vmkeeper/v1\n"
                            "kind: SnapshotPolicy\n"
                            "metadata: {name: nightly}\n"
                            "spec: {maxSnapshotGiB: 40}\n");
  EXPECT_EQ(capped.spec["maxSnapshotGiB"], 40);
  Object vm = DecodeOne("apiVersion: vmkeeper/v1\n"
                        "kind: VirtualMachine\n"
                        "metadata: {name: wms01}\n"
                        "spec: {cpus: ~, placement: null}\n");
  EXPECT_EQ(vm.spec["cpus"], 1);
  EXPECT_EQ(vm.spec["placement"]["priority"], 0);
}

TEST(DecoderTest, DefaultsFilledForStoragePool) {
  Object pool = DecodeOne("apiVersion: vmkeeper/v1\n"
                          "kind: StoragePool\n"
                          "metadata: {name: shared}\n"
                          "spec: {path: /srv/pools/shared}\n");
  EXPECT_EQ(pool.kind, Kind::kStoragePool);
  EXPECT_EQ(pool.spec, Json::parse(R"({"type": "dir", "path": "/srv/pools/shared",
      "hostSelector": {}, "hosts": []})"))
      << pool.spec.dump();
}

TEST(DecoderTest, StoragePoolErrors) {
  EXPECT_THAT(Errors("apiVersion: vmkeeper/v1\n"
                     "kind: StoragePool\n"
                     "metadata: {name: shared}\n"),
              ElementsAre("m.yaml:1:1: spec.path: is required"));
  EXPECT_THAT(
      Errors("apiVersion: vmkeeper/v1\n"
             "kind: StoragePool\n"
             "metadata: {name: shared}\n"
             "spec:\n"
             "  type: zfs\n"
             "  path: pools/shared\n"
             "  hostSelector: {storage: \"n f s\"}\n"
             "  hosts: [hv01, HV02, hv01]\n"
             "  size: 10\n"),
      ElementsAre(
          "m.yaml:5:9: spec.type: must be dir (the other libvirt pool types, logical, zfs and "
          "rbd, are not built yet)",
          "m.yaml:6:9: spec.path: must be an absolute path (starting with '/') without control "
          "characters (bytes below 0x20, or 0x7f)",
          std::string("m.yaml:7:27: spec.hostSelector.storage: ") + kLabelValueMessage,
          std::string("m.yaml:8:17: spec.hosts[1]: ") + kNameMessage,
          "m.yaml:8:23: spec.hosts[2]: duplicate value \"hv01\"; first at spec.hosts[0]",
          "m.yaml:9:3: spec.size: unknown field"));
  EXPECT_THAT(Errors("apiVersion: vmkeeper/v1\n"
                     "kind: StoragePool\n"
                     "metadata: {name: shared}\n"
                     "spec: {path: \"/srv/pools\\nshared\"}\n"),
              ElementsAre("m.yaml:4:14: spec.path: must be an absolute path (starting with '/') "
                          "without control characters (bytes below 0x20, or 0x7f)"));
}

TEST(DecoderTest, VolumeDisksGetTheirDefaultsAndImageDisksStayAsTheyWere) {
  Object vm = DecodeOne("apiVersion: vmkeeper/v1\n"
                        "kind: VirtualMachine\n"
                        "metadata: {name: web01}\n"
                        "spec:\n"
                        "  disks:\n"
                        "  - {name: root, volume: {pool: shared, baseImage: /b/debian.qcow2}}\n"
                        "  - {name: data, volume: {pool: shared, sizeGiB: 20, deletePolicy: "
                        "Delete}}\n"
                        "  - {name: old, image: /i/old.raw}\n"
                        "  - {name: new, image: /i/new.img, format: qcow2}\n");
  EXPECT_EQ(vm.spec["disks"], Json::parse(R"([
      {"name": "root", "sizeGiB": 0, "volume": {"pool": "shared",
       "baseImage": "/b/debian.qcow2", "sizeGiB": 0, "deletePolicy": "Retain"}},
      {"name": "data", "sizeGiB": 0, "volume": {"pool": "shared", "sizeGiB": 20,
       "deletePolicy": "Delete"}},
      {"name": "old", "image": "/i/old.raw", "sizeGiB": 0},
      {"name": "new", "image": "/i/new.img", "format": "qcow2", "sizeGiB": 0}])"))
      << vm.spec["disks"].dump();
  EXPECT_EQ(vm.LocationOf("spec.disks[1].volume.deletePolicy").ToString(), "m.yaml:7:68");
}

TEST(DecoderTest, DiskFormatAndVolumeFieldErrors) {
  EXPECT_THAT(
      Errors("apiVersion: vmkeeper/v1\n"
             "kind: VirtualMachine\n"
             "metadata: {name: web01}\n"
             "spec:\n"
             "  disks:\n"
             "  - {name: a, image: /i/a.vmdk, format: vmdk}\n"
             "  - name: b\n"
             "    volume:\n"
             "      pool: Shared\n"
             "      baseImage: images/debian.qcow2\n"
             "      baseFormat: QCOW2\n"
             "      sizeGiB: -1\n"
             "      deletePolicy: delete\n"
             "      thin: true\n"
             "  - {name: c, volume: {pool: p, baseImage: \"/b/\\x1b.raw\"}}\n"
             "  - {name: d, volume: shared}\n"),
      ElementsAre(
          "m.yaml:6:41: spec.disks[0].format: must be one of raw, qcow2",
          "m.yaml:9:13: spec.disks[1].volume.pool: must be the name of a StoragePool (a "
          "DNS-1123 label)",
          "m.yaml:10:18: spec.disks[1].volume.baseImage: must be an absolute path (starting "
          "with '/') without control characters (bytes below 0x20, or 0x7f)",
          "m.yaml:11:19: spec.disks[1].volume.baseFormat: must be one of raw, qcow2",
          "m.yaml:12:16: spec.disks[1].volume.sizeGiB: must be at least 0",
          "m.yaml:13:21: spec.disks[1].volume.deletePolicy: must be one of Retain, Delete",
          "m.yaml:14:7: spec.disks[1].volume.thin: unknown field",
          "m.yaml:15:44: spec.disks[2].volume.baseImage: must be an absolute path (starting "
          "with '/') without control characters (bytes below 0x20, or 0x7f)",
          "m.yaml:16:23: spec.disks[3].volume: must be a mapping"));
}

// ---- particular rules -----------------------------------------------------------------------

TEST(DecoderTest, FencingArgsAcceptNumbersButNotLineBreaks) {
  Object host = DecodeOne("apiVersion: vmkeeper/v1\n"
                          "kind: Host\n"
                          "metadata: {name: hv01}\n"
                          "spec:\n"
                          "  uri: test:///default\n"
                          "  fencing: {agent: fence_ipmilan, args: {ip: 10.0.0.11, ipport: 623, "
                          "lanplus: true}}\n");
  EXPECT_EQ(host.spec["fencing"]["args"],
            Json::parse(R"({"ip": "10.0.0.11", "ipport": "623", "lanplus": "true"})"));
  EXPECT_THAT(Errors("apiVersion: vmkeeper/v1\n"
                     "kind: Host\n"
                     "metadata: {name: hv01}\n"
                     "spec:\n"
                     "  uri: test:///default\n"
                     "  fencing: {agent: fence_ipmilan, args: {ip: \"1\\nport=9\"}}\n"),
              ElementsAre("m.yaml:6:46: spec.fencing.args.ip: must not contain line breaks"));
}

// What `get -o yaml` shows in place of a secret cannot be applied back as the secret; inline
// secrets themselves are accepted (fleets that have them keep fencing).
TEST(DecoderTest, TheSecretMaskIsRefusedAsASecretValue) {
  const std::string head =
      "apiVersion: vmkeeper/v1\nkind: Host\nmetadata: {name: hv01}\nspec:\n  uri: test:///default\n";
  EXPECT_THAT(Errors(head + "  fencing: {agent: fence_ipmilan, args: {password: \"***\"}}\n"),
              ElementsAre("m.yaml:6:52: spec.fencing.args.password: must be the secret, not "
                          "\"***\" (the mask vmkeeper shows in its place): write the real value, "
                          "or name a file that holds it with passwordFile"));
  EXPECT_THAT(Errors(head + "  fencing: {agent: fence_x, args: {API_Token: \"*** (secret changed)\"}}\n"),
              ::testing::SizeIs(1));
  Object host = DecodeOne(head + "  fencing: {agent: fence_ipmilan, args: {password: s3cret, "
                                 "login: \"***\"}}\n");
  EXPECT_EQ(host.spec["fencing"]["args"]["password"], "s3cret");
  EXPECT_EQ(host.spec["fencing"]["args"]["login"], "***");  // not a secret key: a value like any
}

TEST(DecoderTest, DiskNamesAndHostListsMustBeUnique) {
  EXPECT_THAT(Errors("apiVersion: vmkeeper/v1\n"
                     "kind: VirtualMachine\n"
                     "metadata: {name: wms01}\n"
                     "spec:\n"
                     "  disks:\n"
                     "  - {name: root, image: /a}\n"
                     "  - {name: root, image: /b}\n"
                     "  placement: {requiredHosts: [hv01, hv01]}\n"),
              ElementsAre("m.yaml:7:12: spec.disks[1].name: duplicate value \"root\"; first "
                          "used by spec.disks[0]",
                          "m.yaml:8:37: spec.placement.requiredHosts[1]: duplicate value "
                          "\"hv01\"; first at spec.placement.requiredHosts[0]"));
}

// A tiny QEMU guest as the end-to-end tests run it: direct kernel boot, serial log, user-mode
// networking with a port forward, and an exec probe.
TEST(DecoderTest, QemuGuestFieldsGetTheirDefaults) {
  Object vm = DecodeOne("apiVersion: vmkeeper/v1\n"
                        "kind: VirtualMachine\n"
                        "metadata: {name: web01}\n"
                        "spec:\n"
                        "  boot: {kernel: /g/vmlinux, initrd: /g/initrd.gz,\n"
                        "         cmdline: console=ttyS0}\n"
                        "  console: {logFile: /g/web01.log}\n"
                        "  interfaces:\n"
                        "  - name: net0\n"
                        "    portForwards: [{hostPort: 18080, guestPort: 80}]\n"
                        "  - {name: net1, type: bridge, bridge: br0}\n"
                        "  health: {exec: {command: [/bin/check, -H, web01]}}\n");
  EXPECT_EQ(vm.spec["boot"], Json::parse(R"({"kernel": "/g/vmlinux", "initrd": "/g/initrd.gz",
      "cmdline": "console=ttyS0"})"));
  EXPECT_EQ(vm.spec["console"], Json::parse(R"({"logFile": "/g/web01.log"})"));
  EXPECT_EQ(vm.spec["interfaces"], Json::parse(R"([
      {"name": "net0", "type": "user",
       "portForwards": [{"hostAddress": "127.0.0.1", "hostPort": 18080, "guestPort": 80}]},
      {"name": "net1", "type": "bridge", "bridge": "br0", "portForwards": []}])"))
      << vm.spec["interfaces"].dump();
  EXPECT_EQ(vm.spec["health"]["exec"],
            Json::parse(R"({"command": ["/bin/check", "-H", "web01"]})"));
  EXPECT_EQ(vm.LocationOf("spec.interfaces[0].portForwards[0].hostPort").ToString(), "m.yaml:10:31");

  // Boot with only a kernel, and a console without a file: the rest stays absent.
  Object minimal = DecodeOne("apiVersion: vmkeeper/v1\n"
                             "kind: VirtualMachine\n"
                             "metadata: {name: web01}\n"
                             "spec: {boot: {kernel: /g/vmlinux}, console: {}}\n");
  EXPECT_EQ(minimal.spec["boot"], Json::parse(R"({"kernel": "/g/vmlinux"})"));
  EXPECT_EQ(minimal.spec["console"], Json::object());
}

TEST(DecoderTest, QemuGuestFieldErrors) {
  EXPECT_THAT(
      Errors("apiVersion: vmkeeper/v1\n"
             "kind: VirtualMachine\n"
             "metadata: {name: web01}\n"
             "spec:\n"
             "  boot: {initrd: initrd.gz, cmdline: \"a\\nb\"}\n"
             "  console: {logFile: logs/web01.log}\n"
             "  interfaces:\n"
             "  - {name: net0, type: slirp}\n"
             "  - name: Net1\n"
             "    portForwards:\n"
             "    - {hostAddress: \"127.0.0.1,hostfwd=tcp::22-:22\", hostPort: 0, guestPort: 80}\n"
             "    - {hostAddress: localhost, guestPort: 65536}\n"
             "  - {name: net0, bridge: \"br 0\"}\n"
             "  health: {exec: {}}\n"),
      ElementsAre(
          "m.yaml:5:9: spec.boot.kernel: is required",
          "m.yaml:5:18: spec.boot.initrd: must be an absolute path (starting with '/') without "
          "control characters (bytes below 0x20, or 0x7f)",
          "m.yaml:5:38: spec.boot.cmdline: must not contain line breaks",
          "m.yaml:6:22: spec.console.logFile: must be an absolute path (starting with '/') "
          "without control characters (bytes below 0x20, or 0x7f)",
          "m.yaml:8:24: spec.interfaces[0].type: must be one of user, bridge, network",
          std::string("m.yaml:9:11: spec.interfaces[1].name: ") + kNameMessage,
          "m.yaml:11:21: spec.interfaces[1].portForwards[0].hostAddress: must be an IPv4 "
          "address (e.g. 127.0.0.1)",
          "m.yaml:11:64: spec.interfaces[1].portForwards[0].hostPort: must be at least 1",
          "m.yaml:12:7: spec.interfaces[1].portForwards[1].hostPort: is required",
          "m.yaml:12:21: spec.interfaces[1].portForwards[1].hostAddress: must be an IPv4 "
          "address (e.g. 127.0.0.1)",
          "m.yaml:12:43: spec.interfaces[1].portForwards[1].guestPort: must be at most 65535",
          "m.yaml:13:12: spec.interfaces[2].name: duplicate value \"net0\"; first used by "
          "spec.interfaces[0]",
          "m.yaml:13:26: spec.interfaces[2].bridge: must be a network device name: letters, "
          "digits, '-', '_' or '.'",
          "m.yaml:14:18: spec.health.exec.command: is required"));
}

// A path goes into libvirt XML, qemu-img arguments and logs as is: no byte below 0x20 (line
// breaks, tabs, escape sequences, NUL) and no DEL, in every absolute path field and in an image.
TEST(DecoderTest, PathsRefuseControlCharacters) {
  const std::string absolute =
      "must be an absolute path (starting with '/') without control characters (bytes below "
      "0x20, or 0x7f)";
  EXPECT_THAT(Errors("apiVersion: vmkeeper/v1\n"
                     "kind: VirtualMachine\n"
                     "metadata: {name: web01}\n"
                     "spec:\n"
                     "  boot: {kernel: \"/g/vm\\tlinux\", initrd: \"/g/init\\x7frd\"}\n"
                     "  console: {logFile: \"/g/log\\0\"}\n"
                     "  disks:\n"
                     "  - {name: a, image: \"/i/a\\e[31m.raw\"}\n"
                     "  - {name: b, image: \"/i/b\\x1f.raw\"}\n"),
              ElementsAre("m.yaml:5:18: spec.boot.kernel: " + absolute,
                          "m.yaml:5:42: spec.boot.initrd: " + absolute,
                          "m.yaml:6:22: spec.console.logFile: " + absolute,
                          "m.yaml:8:22: spec.disks[0].image: must not contain control characters "
                          "(bytes below 0x20, or 0x7f)",
                          "m.yaml:9:22: spec.disks[1].image: must not contain control characters "
                          "(bytes below 0x20, or 0x7f)"));
  // Everything else is fine, UTF-8 included; an image path may still be relative.
  Object vm = DecodeOne("apiVersion: vmkeeper/v1\n"
                        "kind: VirtualMachine\n"
                        "metadata: {name: web01}\n"
                        "spec:\n"
                        "  boot: {kernel: \"/g/vmlinux ~!#$%&()*+,;=@[]^{}|\"}\n"
                        "  console: {logFile: /g/j\u00e9r\u00f4me.log}\n"
                        "  disks: [{name: a, image: images/a.raw}]\n");
  EXPECT_EQ(vm.spec["boot"]["kernel"], "/g/vmlinux ~!#$%&()*+,;=@[]^{}|");
  EXPECT_EQ(vm.spec["console"]["logFile"], "/g/j\u00e9r\u00f4me.log");
  EXPECT_EQ(vm.spec["disks"][0]["image"], "images/a.raw");
}

TEST(DecoderTest, StatusIsAcceptedInAnyShape) {
  Object o = DecodeOne("apiVersion: vmkeeper/v1\n"
                       "kind: SnapshotPolicy\n"
                       "metadata: {name: nightly, generation: 4}\n"
                       "status: {lastSnapshot: '2026-01-01', count: 3, ok: true,\n"
                       "         x: [1.5, null]}\n");
  EXPECT_EQ(o.status, Json::parse(R"({"lastSnapshot": "2026-01-01", "count": 3, "ok": true,
      "x": [1.5, null]})"));
  EXPECT_EQ(o.metadata.generation, 4);
  Object scalar_status = DecodeOne("apiVersion: vmkeeper/v1\n"
                                   "kind: SnapshotPolicy\n"
                                   "metadata: {name: nightly}\n"
                                   "status: fine\n");
  EXPECT_TRUE(scalar_status.status.empty());
}

TEST(DecoderTest, DeepStatusIsRefusedNotRecursedInto) {
  std::string deep = "apiVersion: vmkeeper/v1\nkind: SnapshotPolicy\nmetadata: {name: p}\n"
                     "status: ";
  for (int i = 0; i < 100; ++i) deep += "[";
  for (int i = 0; i < 100; ++i) deep += "]";
  deep += "\n";
  DecodeResult r = DecodeManifests(deep, "m.yaml");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].message, "is nested too deeply (more than 64 levels)");
}

// A "billion laughs" under status: aliases of aliases, 10 per level. At 8 levels (10^8 nodes)
// this took vmkeeperd down with bad_alloc; now it is one error, reached after 100,000 nodes.
TEST(DecoderTest, AliasExpansionUnderStatusIsCapped) {
  std::string bomb = "apiVersion: vmkeeper/v1\nkind: SnapshotPolicy\nmetadata: {name: p}\n"
                     "status:\n  l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (int level = 1; level <= 8; ++level) {
    const std::string prev = "*l" + std::to_string(level - 1);
    bomb += "  l" + std::to_string(level) + ": &l" + std::to_string(level) + " [";
    for (int i = 0; i < 10; ++i) bomb += (i ? ", " : "") + prev;
    bomb += "]\n";
  }
  ASSERT_LT(bomb.size(), 1000u);
  DecodeResult r = DecodeManifests(bomb, "m.yaml");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].message,
            "is too large: it expands to more than 100000 nodes (YAML aliases?)");
  EXPECT_EQ(r.errors[0].location.file, "m.yaml");
  EXPECT_TRUE(r.objects.empty());
  // A few levels stay well under the cap and decode.
  std::string small = "apiVersion: vmkeeper/v1\nkind: SnapshotPolicy\nmetadata: {name: p}\n"
                      "status:\n  a: &a [1, 2, 3]\n  b: [*a, *a]\n";
  DecodeResult ok = DecodeManifests(small, "m.yaml");
  EXPECT_TRUE(ok.errors.empty());
}

TEST(DecoderTest, HostileInputsGiveErrorsNotCrashes) {
  std::string deep_flow(5000, '[');
  DecodeResult deep = DecodeManifests("status: " + deep_flow + "\n", "m.yaml");
  ASSERT_EQ(deep.errors.size(), 1u);
  EXPECT_EQ(deep.errors[0].message, "invalid YAML: nested too deeply");
  std::string long_name(100000, 'a');
  EXPECT_THAT(Errors("apiVersion: vmkeeper/v1\nkind: Host\nmetadata: {name: " + long_name +
                     "}\nspec: {uri: x}\n"),
              ElementsAre("m.yaml:3:18: metadata.name: must be at most 63 characters long"));
  std::string long_label(100000, 'b');
  EXPECT_EQ(Errors("apiVersion: vmkeeper/v1\nkind: Host\nmetadata: {name: a, labels: {" +
                   long_label + ": " + long_label + "}}\nspec: {uri: x}\n")
                .size(),
            1u);
  EXPECT_THAT(Errors("{[a]: b}\n"), ElementsAre("m.yaml:1:1: apiVersion: is required",
                                                "m.yaml:1:1: kind: is required",
                                                "m.yaml:1:1: metadata: is required",
                                                "m.yaml:1:2: keys must be strings"));
  EXPECT_THAT(Errors("\t\x01\xff: [\n"), ::testing::SizeIs(1));
  // Merge keys are not supported by yaml-cpp 0.7; "<<" is then just an unknown field.
  EXPECT_THAT(Errors("apiVersion: vmkeeper/v1\n"
                     "kind: VirtualMachine\n"
                     "metadata: {name: a}\n"
                     "spec: {<<: {cpus: 2}}\n"),
              ElementsAre("m.yaml:4:8: spec[\"<<\"]: unknown field"));
  // Anchors and aliases inside one document are fine.
  Object o = DecodeOne("apiVersion: vmkeeper/v1\n"
                       "kind: VirtualMachine\n"
                       "metadata: {name: a, labels: &l {app: x}}\n"
                       "spec: {placement: {hostSelector: *l}}\n");
  EXPECT_EQ(o.spec["placement"]["hostSelector"], Json::parse(R"({"app": "x"})"));
}

// Past 64 bits the value read is meaningless: 2^63 was once read as 0 and reported as "must be at
// least 1". It is "too large" (or "too small"), with the field's own bound.
TEST(DecoderTest, IntegerOverflowIsTooLargeNotTooSmall) {
  EXPECT_THAT(Errors("apiVersion: vmkeeper/v1\n"
                     "kind: VirtualMachine\n"
                     "metadata: {name: a, generation: 9223372036854775808}\n"
                     "spec:\n"
                     "  cpus: 9223372036854775808\n"
                     "  memoryMiB: 0x10000000000000000\n"
                     "  restart: {limit: -9223372036854775809}\n"),
              ElementsAre("m.yaml:3:33: metadata.generation: is too large: must be at most "
                          "9223372036854775807",
                          "m.yaml:5:9: spec.cpus: is too large: must be at most 512",
                          "m.yaml:6:14: spec.memoryMiB: is too large: must be at most 16777216",
                          "m.yaml:7:20: spec.restart.limit: is too small: must be at least 0"));
  // The edges of int64 are ordinary values.
  EXPECT_THAT(Errors("apiVersion: vmkeeper/v1\n"
                     "kind: VirtualMachine\n"
                     "metadata: {name: a, generation: 9223372036854775807}\n"
                     "spec: {cpus: -9223372036854775808}\n"),
              ElementsAre("m.yaml:4:14: spec.cpus: must be at least 1"));
}

// Every string of a spec ends up in libvirt XML, a command line, a log line or a terminal: no
// NUL, line break, escape or other byte below 0x20, and no DEL, in names, URIs, labels, paths,
// commands or fencing options.
TEST(DecoderTest, ControlCharactersAreRefusedInEveryString) {
  const std::string control = "must not contain control characters (bytes below 0x20, or 0x7f)";
  EXPECT_THAT(
      Errors(std::string("apiVersion: vmkeeper/v1\n"
                         "kind: Host\n"
                         "metadata: {name: \"hv\\x01\", labels: {rack: \"r\\0\"}}\n"
                         "spec:\n"
                         "  uri: \"qemu:///system\\0evil\"\n"
                         "  fencing: {agent: fence_ipmilan, args: {ip: \"10.0.0.1\\e[2J\"}}\n")),
      ElementsAre("m.yaml:3:18: metadata.name: " + std::string(kNameMessage),
                  "m.yaml:3:43: metadata.labels.rack: " + std::string(kLabelValueMessage),
                  "m.yaml:5:8: spec.uri: " + control,
                  "m.yaml:6:46: spec.fencing.args.ip: " + control));
  EXPECT_THAT(Errors("apiVersion: vmkeeper/v1\n"
                     "kind: VirtualMachine\n"
                     "metadata: {name: a}\n"
                     "spec:\n"
                     "  disks: [{name: root, image: \"/var/lib/x\\0.qcow2\"}]\n"
                     "  health: {exec: {command: [/bin/check, \"--x\\x7f\"]}}\n"),
              ElementsAre("m.yaml:5:31: spec.disks[0].image: " + control,
                          "m.yaml:6:41: spec.health.exec.command[1]: " + control));
  // Not in status, which is the controller's and kept as it is.
  Object o = DecodeOne("apiVersion: vmkeeper/v1\n"
                       "kind: SnapshotPolicy\n"
                       "metadata: {name: p}\n"
                       "status: {message: \"line one\\nline two\"}\n");
  EXPECT_EQ(o.status["message"], "line one\nline two");
}

// Found by fuzzing (fuzz/manifest_decoder_fuzzer.cc): a string that is not UTF-8 decoded, then
// rendered changed by CanonicalYaml (its emitter replaces such bytes) and could not be stored
// (JSON must be UTF-8); and a few hundred bytes that are not UTF-8 made yaml-cpp spin and take
// gigabytes. A stream that is not UTF-8 is refused before it is parsed, at its first bad byte
// (overlong forms and UTF-16 surrogates included); UTF-8 itself is fine.
TEST(DecoderTest, StreamsMustBeUtf8) {
  const std::string head = "apiVersion: vmkeeper/v1\nkind: Host\nmetadata: {name: hv}\nspec:\n";
  EXPECT_THAT(Errors(head + "  uri: \"qemu:///system\xe2S\"\n"),
              ElementsAre("m.yaml:5:23: is not valid UTF-8 (byte 0xe2): a manifest must be "
                          "UTF-8 text"));
  EXPECT_THAT(Errors(head + "  uri: qemu:///system\n  fencing: {agent: fence_x, args: {ip: \"\xc0\xaf\"}}\n"),
              ElementsAre("m.yaml:6:41: is not valid UTF-8 (byte 0xc0): a manifest must be "
                          "UTF-8 text"));
  EXPECT_THAT(Errors("\xed\xa0\x80"),
              ElementsAre("m.yaml:1:1: is not valid UTF-8 (byte 0xed): a manifest must be "
                          "UTF-8 text"));
  EXPECT_THAT(Errors("# \xff\xff\n" + head), ElementsAre("m.yaml:1:3: is not valid UTF-8 (byte "
                                                           "0xff): a manifest must be UTF-8 text"));
  Object o = DecodeOne(head + "  uri: \"qemu:///caf\xc3\xa9\"\n"
                       "  fencing: {agent: fence_ipmilan, args: {ip: \"\xe2\x9c\x93 \xf0\x9f\x98\x80\"}}\n");
  EXPECT_EQ(o.spec["uri"], "qemu:///caf\xc3\xa9");
  EXPECT_EQ(o.spec["fencing"]["args"]["ip"], "\xe2\x9c\x93 \xf0\x9f\x98\x80");
}

TEST(DecoderTest, ManifestStreamOverTheSizeCapIsRefusedUnparsed) {
  std::string big = "# " + std::string(kMaxManifestBytes, 'x') + "\n";
  EXPECT_THAT(Errors(big, "big.yaml"),
              ElementsAre("big.yaml:1:1: is too large: 8,388,611 bytes, a manifest file may have "
                          "at most 8,388,608"));
}

TEST(DecoderTest, DocumentOverTheSizeCapIsAnErrorAtItsStart) {
  const std::string policy = "apiVersion: vmkeeper/v1\nkind: SnapshotPolicy\nmetadata: {name: p}\n";
  std::string text = policy + "---\n" + policy + "status: {note: \"" +
                     std::string(kMaxDocumentBytes, 'x') + "\"}\n---\n" +
                     "apiVersion: vmkeeper/v1\nkind: SnapshotPolicy\nmetadata: {name: q}\n";
  DecodeResult r = DecodeManifests(text, "m.yaml");
  EXPECT_THAT(DiagnosticStrings(r.errors),
              ElementsAre("m.yaml:5:1: document is too large: 1,048,664 bytes, at most 1,048,576 "
                          "allowed"));
  ASSERT_EQ(r.objects.size(), 2u);  // the others decode
  EXPECT_EQ(r.objects[1].metadata.name, "q");
}

TEST(DecoderTest, TooManyDocumentsInOneStream) {
  std::string text;
  for (size_t i = 0; i <= kMaxObjectsPerApply; ++i) {
    text += "---\n{apiVersion: vmkeeper/v1, kind: SnapshotPolicy, metadata: {name: p" +
            std::to_string(i) + "}}\n";
  }
  DecodeResult r = DecodeManifests(text, "m.yaml");
  EXPECT_THAT(DiagnosticStrings(r.errors),
              ElementsAre("m.yaml:40001:1: too many documents: a manifest file may have at most "
                          "20,000"));
  EXPECT_TRUE(r.objects.empty()) << "refused before parsing";
  // Exactly the limit is fine.
  text.resize(text.rfind("---\n"));
  EXPECT_TRUE(DecodeManifests(text, "m.yaml").ok());
}

// yaml-cpp 0.7's LoadAll never ends on a "," outside a flow collection: its parser returns one
// empty document after another without consuming it, and LoadAll keeps them all until memory runs
// out (found by fuzzing, a 376-byte manifest took 2 GB). The decoder stops at the second document
// that starts where the one before it did.
TEST(DecoderTest, StrayCommaIsAnErrorNotAnEndlessParse) {
  EXPECT_THAT(DiagnosticStrings(DecodeManifests(",", "m.yaml").errors),
              ElementsAre("m.yaml:1:1: invalid YAML: unexpected \",\" (outside a flow collection?)"));
  EXPECT_THAT(DiagnosticStrings(DecodeManifests("[a],", "m.yaml").errors),
              ElementsAre("m.yaml:1:4: invalid YAML: unexpected \",\" (outside a flow collection?)"));
  const std::string vm =
      "apiVersion: vmkeeper/v1\nkind: SnapshotPolicy\nmetadata: {name: p}\n";
  EXPECT_THAT(DiagnosticStrings(DecodeManifests("# a comment\n,\n" + vm, "m.yaml").errors),
              ElementsAre("m.yaml:2:1: invalid YAML: unexpected \",\" (outside a flow collection?)"));
  // Empty documents start where their "---" is, each at its own place: not stuck.
  DecodeResult empties = DecodeManifests("---\n---\n---\n" + vm + "---\n", "m.yaml");
  EXPECT_TRUE(empties.ok()) << DiagnosticStrings(empties.errors)[0];
  EXPECT_EQ(empties.objects.size(), 1u);
}

TEST(DecoderTest, TooManyObjectsInOneApplyAcrossFiles) {
  std::string half;
  for (size_t i = 0; i < kMaxObjectsPerApply / 2; ++i) {
    half += "---\n{apiVersion: vmkeeper/v1, kind: SnapshotPolicy, metadata: {name: p" +
            std::to_string(i) + "}}\n";
  }
  DecodeResult all;
  all.Append(DecodeManifests(half, "a.yaml"));
  all.Append(DecodeManifests(half, "b.yaml"));
  EXPECT_TRUE(all.ok());
  all.Append(DecodeManifests(half, "c.yaml"));
  EXPECT_THAT(DiagnosticStrings(all.errors),
              ElementsAre("c.yaml:2:1: too many objects: one apply takes at most 20,000; split "
                          "the manifests into several applies"));
  EXPECT_EQ(all.objects.size(), kMaxObjectsPerApply);
}

// Aliases in the schema's own lists expand too: 100,000+ uses of one disk are one error, not
// 100,000 decoded disks and as many duplicate-name errors.
TEST(DecoderTest, AliasExpansionInSpecListsIsCapped) {
  std::string text = "apiVersion: vmkeeper/v1\nkind: VirtualMachine\nmetadata: {name: a}\n"
                     "spec:\n  disks: [&d {name: root, image: /i/a.raw}";
  for (int i = 0; i < 60000; ++i) text += ",*d";
  text += "]\n";
  ASSERT_LT(text.size(), kMaxDocumentBytes);
  DecodeResult r = DecodeManifests(text, "m.yaml");
  ASSERT_FALSE(r.errors.empty());
  EXPECT_EQ(r.errors.back().message,
            "is too large: it expands to more than 100000 nodes (YAML aliases?)");
  EXPECT_LT(r.errors.size(), 40000u);
  EXPECT_TRUE(r.objects.empty());
}

TEST(DecoderTest, FieldPathHelpers) {
  EXPECT_EQ(JoinFieldPath("", "spec"), "spec");
  EXPECT_EQ(JoinFieldPath("spec", "cpus"), "spec.cpus");
  EXPECT_EQ(JoinFieldPath("metadata.labels", "example.com/rack"),
            "metadata.labels[\"example.com/rack\"]");
  EXPECT_EQ(IndexFieldPath("spec.disks", 2), "spec.disks[2]");
}

}  // namespace
}  // namespace vmk::specs
