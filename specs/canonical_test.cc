#include "specs/canonical.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "specs/decoder.h"

namespace vmk::specs {
namespace {

using ::testing::IsEmpty;

Object DecodeOne(const std::string& text) {
  DecodeResult r = DecodeManifests(text, "m.yaml");
  EXPECT_THAT(DiagnosticStrings(r.errors), IsEmpty()) << text;
  EXPECT_EQ(r.objects.size(), 1u) << text;
  return r.objects.empty() ? Object{} : r.objects[0];
}

TEST(CanonicalTest, FixedKeyOrderAndSortedSpec) {
  Object p = DecodeOne("spec: {keep: 3}\n"
                       "metadata: {labels: {tier: gold, app: x}, name: nightly}\n"
                       "kind: SnapshotPolicy\n"
                       "apiVersion: vmkeeper/v1\n");
  p.metadata.generation = 3;
  p.status = {{"lastSnapshot", "s1"}};
  EXPECT_EQ(CanonicalYaml(p, /*include_status=*/false),
            "apiVersion: vmkeeper/v1\n"
            "kind: SnapshotPolicy\n"
            "metadata:\n"
            "  name: nightly\n"
            "  labels:\n"
            "    app: x\n"
            "    tier: gold\n"
            "  generation: 3\n"
            "spec:\n"
            "  beforeChange: true\n"
            "  beforeFailover: true\n"
            "  intervalSeconds: 86400\n"
            "  keep: 3\n"
            "  rollbackDepth: 2\n");
  EXPECT_EQ(CanonicalYaml(p, /*include_status=*/true),
            "apiVersion: vmkeeper/v1\n"
            "kind: SnapshotPolicy\n"
            "metadata:\n"
            "  name: nightly\n"
            "  labels:\n"
            "    app: x\n"
            "    tier: gold\n"
            "  generation: 3\n"
            "spec:\n"
            "  beforeChange: true\n"
            "  beforeFailover: true\n"
            "  intervalSeconds: 86400\n"
            "  keep: 3\n"
            "  rollbackDepth: 2\n"
            "status:\n"
            "  lastSnapshot: s1\n");
}

TEST(CanonicalTest, VirtualMachineLayout) {
  Object vm = DecodeOne("apiVersion: vmkeeper/v1\n"
                        "kind: VirtualMachine\n"
                        "metadata: {name: wms01}\n"
                        "spec: {disks: [{name: root, image: /i.qcow2}]}\n");
  EXPECT_EQ(CanonicalYaml(vm, false),
            "apiVersion: vmkeeper/v1\n"
            "kind: VirtualMachine\n"
            "metadata:\n"
            "  name: wms01\n"
            "spec:\n"
            "  cpus: 1\n"
            "  disks:\n"
            "    - image: /i.qcow2\n"
            "      name: root\n"
            "      sizeGiB: 0\n"
            "  memoryMiB: 1024\n"
            "  placement:\n"
            "    hostSelector: {}\n"
            "    preferredHosts: []\n"
            "    priority: 0\n"
            "    requiredHosts: []\n"
            "    spreadBy: \"\"\n"
            "  restart:\n"
            "    limit: 3\n"
            "    windowSeconds: 600\n"
            "  running: true\n"
            "  snapshotPolicy: \"\"\n");
}

TEST(CanonicalTest, RoundTripDecodesToTheSameObject) {
  Object original = DecodeOne(
      "apiVersion: vmkeeper/v1\n"
      "kind: Host\n"
      "metadata:\n"
      "  name: hv01\n"
      "  labels: {rack: \"123\", zone: \"true\", example.com/role: \"\", n: \"null\"}\n"
      "  generation: 7\n"
      "spec:\n"
      "  uri: \"qemu+ssh://root@hv01/system?keyfile=/k: x\"\n"
      "  capacity: {cpus: 32, memoryMiB: 131072}\n"
      "  fencing:\n"
      "    agent: fence_ipmilan\n"
      "    args: {ip: 10.0.0.11, port: \"0x1F\", empty: \"\", colon: \"a: b\", dash: \"- x\",\n"
      "           hash: \"#x\", quote: \"it's \\\"q\\\"\", tilde: \"~\", space: \" lead\"}\n"
      "status:\n"
      "  conditions: [{type: Ready, status: \"True\"}]\n"
      "  count: 2\n"
      "  ratio: 0.25\n"
      "  when: \"2026-01-01T00:00:00Z\"\n"
      "  empty: {}\n");
  std::string text = CanonicalYaml(original, /*include_status=*/true);
  Object again = DecodeOne(text);
  EXPECT_EQ(again.kind, original.kind);
  EXPECT_EQ(again.metadata.name, original.metadata.name);
  EXPECT_EQ(again.metadata.labels, original.metadata.labels);
  EXPECT_EQ(again.metadata.generation, 7);
  EXPECT_EQ(again.spec, original.spec) << text;
  EXPECT_EQ(again.status, original.status) << text;
  // And the text is a fixed point.
  EXPECT_EQ(CanonicalYaml(again, true), text);
}

TEST(CanonicalTest, RoundTripOfAFullVirtualMachine) {
  Object original = DecodeOne(
      "apiVersion: vmkeeper/v1\n"
      "kind: VirtualMachine\n"
      "metadata: {name: wms01, labels: {service: wms}}\n"
      "spec:\n"
      "  running: false\n"
      "  cpus: 2\n"
      "  memoryMiB: 4096\n"
      "  disks: [{name: root, image: /var/lib/vmkeeper/images/wms.qcow2, sizeGiB: 20},\n"
      "          {name: data, image: /d}]\n"
      "  placement: {hostSelector: {rack: r1}, requiredHosts: [hv01, hv02],\n"
      "              preferredHosts: [hv02], spreadBy: service, priority: -100}\n"
      "  health: {http: {port: 8443, path: /health}, tcp: {port: 22}, periodSeconds: 5}\n"
      "  restart: {limit: 0, windowSeconds: 600}\n"
      "  snapshotPolicy: nightly\n");
  std::string text = CanonicalYaml(original, false);
  Object again = DecodeOne(text);
  EXPECT_EQ(again.spec, original.spec) << text;
  EXPECT_EQ(again.metadata.labels, original.metadata.labels);
  EXPECT_EQ(CanonicalYaml(again, false), text);
}

// ---- generation ---------------------------------------------------------------------------------

const char kVm[] =
    "apiVersion: vmkeeper/v1\n"
    "kind: VirtualMachine\n"
    "metadata: {name: wms01, labels: {service: wms}}\n"
    "spec:\n"
    "  cpus: 2\n"
    "  placement: {spreadBy: service}\n";

TEST(GenerationTest, NewObjectGetsOne) {
  EXPECT_EQ(NextGeneration(std::nullopt, DecodeOne(kVm)), 1);
}

TEST(GenerationTest, SameSpecWithOtherKeyOrderAndExplicitDefaultsIsUnchanged) {
  Object stored = DecodeOne(kVm);
  stored.metadata.generation = 4;
  Object applied = DecodeOne("kind: VirtualMachine\n"
                             "apiVersion: vmkeeper/v1\n"
                             "spec:\n"
                             "  placement: {priority: 0, spreadBy: service, requiredHosts: []}\n"
                             "  running: true\n"
                             "  cpus: 2\n"
                             "  memoryMiB: 1024\n"
                             "  restart: {windowSeconds: 600}\n"
                             "metadata: {labels: {service: wms}, name: wms01}\n");
  EXPECT_TRUE(SpecEquals(stored.spec, applied.spec));
  EXPECT_TRUE(LabelsEqual(stored, applied));
  EXPECT_EQ(NextGeneration(stored, applied), 4);
}

TEST(GenerationTest, LabelsOnlyChangeKeepsTheGeneration) {
  Object stored = DecodeOne(kVm);
  stored.metadata.generation = 2;
  Object applied = DecodeOne(kVm);
  applied.metadata.labels["tier"] = "gold";
  EXPECT_FALSE(LabelsEqual(stored, applied));
  EXPECT_EQ(NextGeneration(stored, applied), 2);
}

TEST(GenerationTest, SpecChangeBumpsByOne) {
  Object stored = DecodeOne(kVm);
  stored.metadata.generation = 2;
  std::string changed = kVm;
  changed.replace(changed.find("cpus: 2"), 7, "cpus: 3");
  Object applied = DecodeOne(changed);
  EXPECT_FALSE(SpecEquals(stored.spec, applied.spec));
  EXPECT_EQ(NextGeneration(stored, applied), 3);
}

TEST(GenerationTest, SpecsFromTheStoreCompareEqualToDecodedOnes) {
  // The store keeps JSON text: numbers come back unsigned. Still the same spec.
  Object decoded = DecodeOne(kVm);
  Json reparsed = Json::parse(decoded.spec.dump());
  EXPECT_TRUE(SpecEquals(decoded.spec, reparsed));
  EXPECT_TRUE(SpecEquals(Json(), Json::object()));
  EXPECT_FALSE(SpecEquals(Json(), Json{{"a", 1}}));
}

}  // namespace
}  // namespace vmk::specs
