#include "specs/validator.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <utility>
#include <vector>

#include "specs/decoder.h"

namespace vmk::specs {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

// Decodes several (file, text) pairs into one set, expecting no decode errors.
std::vector<Object> DecodeAll(const std::vector<std::pair<std::string, std::string>>& files) {
  DecodeResult all;
  for (const auto& [name, text] : files) all.Append(DecodeManifests(text, name));
  EXPECT_THAT(DiagnosticStrings(all.errors), IsEmpty());
  return all.objects;
}

bool NothingStored(Kind, const std::string&) { return false; }

const char kHosts[] =
    "apiVersion: vmkeeper/v1\n"
    "kind: Host\n"
    "metadata: {name: hv01}\n"
    "spec: {uri: \"qemu+ssh://root@hv01/system\"}\n"
    "---\n"
    "apiVersion: vmkeeper/v1\n"
    "kind: Host\n"
    "metadata: {name: hv02}\n"
    "spec: {uri: \"qemu+ssh://root@hv02/system\"}\n";

TEST(ValidatorTest, ConsistentSetHasNoErrors) {
  std::vector<Object> objects = DecodeAll({
      {"hosts.yaml", kHosts},
      {"vms.yaml",
       "apiVersion: vmkeeper/v1\n"
       "kind: VirtualMachine\n"
       "metadata: {name: wms01}\n"
       "spec:\n"
       "  snapshotPolicy: nightly\n"
       "  placement: {requiredHosts: [hv01, hv02], preferredHosts: [hv02]}\n"},
      {"policies.yaml",
       "apiVersion: vmkeeper/v1\nkind: SnapshotPolicy\nmetadata: {name: nightly}\n"},
  });
  EXPECT_THAT(DiagnosticStrings(ValidateObjectSet(objects, NothingStored)), IsEmpty());
}

TEST(ValidatorTest, DuplicateObjectNamesTheFirstOne) {
  const char vm[] =
      "apiVersion: vmkeeper/v1\n"
      "kind: VirtualMachine\n"
      "metadata:\n"
      "  name: wms01\n";
  std::vector<Object> objects = DecodeAll({{"a.yaml", vm}, {"b.yaml", vm}});
  EXPECT_THAT(DiagnosticStrings(ValidateObjectSet(objects, NothingStored)),
              ElementsAre("b.yaml:4:9: metadata.name: duplicate VirtualMachine \"wms01\"; first "
                          "defined at a.yaml:4:9"));
}

TEST(ValidatorTest, SameNameInDifferentKindsIsFine) {
  std::vector<Object> objects = DecodeAll({{"m.yaml",
                                            "apiVersion: vmkeeper/v1\n"
                                            "kind: VirtualMachine\n"
                                            "metadata: {name: x}\n"
                                            "---\n"
                                            "apiVersion: vmkeeper/v1\n"
                                            "kind: SnapshotPolicy\n"
                                            "metadata: {name: x}\n"}});
  EXPECT_THAT(DiagnosticStrings(ValidateObjectSet(objects, NothingStored)), IsEmpty());
}

TEST(ValidatorTest, MissingHostReference) {
  std::vector<Object> objects = DecodeAll({
      {"hosts.yaml", kHosts},
      {"vm.yaml",
       "apiVersion: vmkeeper/v1\n"
       "kind: VirtualMachine\n"
       "metadata: {name: wms01}\n"
       "spec:\n"
       "  placement:\n"
       "    requiredHosts: [hv01, hv09]\n"
       "    preferredHosts:\n"
       "    - hv07\n"},
  });
  EXPECT_THAT(
      DiagnosticStrings(ValidateObjectSet(objects, NothingStored)),
      ElementsAre("vm.yaml:6:27: spec.placement.requiredHosts[1]: Host \"hv09\" does not exist",
                  "vm.yaml:8:7: spec.placement.preferredHosts[0]: Host \"hv07\" does not exist"));
}

TEST(ValidatorTest, MissingPolicyReference) {
  std::vector<Object> objects = DecodeAll({{"vm.yaml",
                                            "apiVersion: vmkeeper/v1\n"
                                            "kind: VirtualMachine\n"
                                            "metadata: {name: wms01}\n"
                                            "spec:\n"
                                            "  snapshotPolicy: nightly\n"}});
  EXPECT_THAT(DiagnosticStrings(ValidateObjectSet(objects, NothingStored)),
              ElementsAre("vm.yaml:5:19: spec.snapshotPolicy: SnapshotPolicy \"nightly\" does "
                          "not exist"));
}

TEST(ValidatorTest, StoragePoolHostsMustExist) {
  std::vector<Object> objects = DecodeAll({
      {"hosts.yaml", kHosts},
      {"pool.yaml",
       "apiVersion: vmkeeper/v1\n"
       "kind: StoragePool\n"
       "metadata: {name: shared}\n"
       "spec:\n"
       "  path: /srv/pools/shared\n"
       "  hosts: [hv02, hv09]\n"},
  });
  EXPECT_THAT(DiagnosticStrings(ValidateObjectSet(objects, NothingStored)),
              ElementsAre("pool.yaml:6:17: spec.hosts[1]: Host \"hv09\" does not exist"));
  auto only_hv09_stored = [](Kind kind, const std::string& name) {
    return kind == Kind::kHost && name == "hv09";
  };
  EXPECT_THAT(DiagnosticStrings(ValidateObjectSet(objects, only_hv09_stored)), IsEmpty());
}

const char kPool[] =
    "apiVersion: vmkeeper/v1\n"
    "kind: StoragePool\n"
    "metadata: {name: shared}\n"
    "spec: {path: /srv/pools/shared}\n";

// A VM named wms01 with these disks, for the disk rules below; its disks start on line 6.
std::string VmWithDisks(const std::string& disks) {
  return "apiVersion: vmkeeper/v1\n"
         "kind: VirtualMachine\n"
         "metadata: {name: wms01}\n"
         "spec:\n"
         "  disks:\n" +
         disks;
}

std::vector<std::string> DiskErrors(const std::string& disks) {
  std::vector<Object> objects = DecodeAll({{"pool.yaml", kPool}, {"vm.yaml", VmWithDisks(disks)}});
  return DiagnosticStrings(ValidateObjectSet(objects, NothingStored));
}

TEST(ValidatorTest, ValidVolumeDisks) {
  EXPECT_THAT(DiskErrors("  - {name: root, volume: {pool: shared, baseImage: /b/debian.qcow2}}\n"
                         "  - name: base\n"
                         "    volume: {pool: shared, baseImage: /b/d.raw, baseFormat: raw, "
                         "sizeGiB: 40}\n"
                         "  - {name: data, volume: {pool: shared, sizeGiB: 100, deletePolicy: "
                         "Delete}}\n"
                         "  - {name: iso, image: /i/tools.raw, format: raw, sizeGiB: 1}\n"),
              IsEmpty());
}

TEST(ValidatorTest, ADiskIsAnImageOrAVolumeNeverBothNorNeither) {
  EXPECT_THAT(
      DiskErrors("  - {name: root}\n"
                 "  - name: data\n"
                 "    image: /i/data.raw\n"
                 "    volume: {pool: shared, sizeGiB: 10}\n"),
      ElementsAre("vm.yaml:6:5: spec.disks[0].image: is required unless volume is given: a disk "
                  "is an image file or a volume in a StoragePool",
                  "vm.yaml:9:13: spec.disks[1].volume: must not be given together with image: a "
                  "disk is an image file or a volume in a StoragePool, not both"));
}

TEST(ValidatorTest, VolumeDiskRules) {
  EXPECT_THAT(
      DiskErrors("  - {name: a, format: qcow2, sizeGiB: 10, volume: {pool: shared, baseImage: "
                 "/b}}\n"
                 "  - {name: b, volume: {pool: shared}}\n"
                 "  - name: c\n"
                 "    volume:\n"
                 "      pool: shared\n"
                 "      sizeGiB: 0\n"
                 "      baseFormat: qcow2\n"),
      ElementsAre("vm.yaml:6:23: spec.disks[0].format: must not be given with volume: the "
                  "format of a volume's base image is volume.baseFormat",
                  "vm.yaml:6:39: spec.disks[0].sizeGiB: must not be given with volume: the size "
                  "of a volume is volume.sizeGiB",
                  // Not written: reported where its volume is.
                  "vm.yaml:7:23: spec.disks[1].volume.sizeGiB: must be at least 1 when baseImage "
                  "is not given: an empty volume needs a size",
                  "vm.yaml:12:19: spec.disks[2].volume.baseFormat: must not be given without "
                  "baseImage",
                  "vm.yaml:11:16: spec.disks[2].volume.sizeGiB: must be at least 1 when "
                  "baseImage is not given: an empty volume needs a size"));
}

TEST(ValidatorTest, MissingStoragePoolReference) {
  std::vector<Object> objects = DecodeAll(
      {{"vm.yaml", VmWithDisks("  - {name: root, image: /i/root.raw}\n"
                               "  - {name: data, volume: {pool: shared, sizeGiB: 10}}\n")}});
  EXPECT_THAT(DiagnosticStrings(ValidateObjectSet(objects, NothingStored)),
              ElementsAre("vm.yaml:7:33: spec.disks[1].volume.pool: StoragePool \"shared\" does "
                          "not exist"));
  auto pool_stored = [](Kind kind, const std::string& name) {
    return kind == Kind::kStoragePool && name == "shared";
  };
  EXPECT_THAT(DiagnosticStrings(ValidateObjectSet(objects, pool_stored)), IsEmpty());
  auto other_kind_stored = [](Kind kind, const std::string& name) {
    return kind != Kind::kStoragePool && name == "shared";
  };
  EXPECT_THAT(DiagnosticStrings(ValidateObjectSet(objects, other_kind_stored)),
              ::testing::SizeIs(1));
}

TEST(ValidatorTest, ReferencesResolveInTheStore) {
  std::vector<Object> objects = DecodeAll({{"vm.yaml",
                                            "apiVersion: vmkeeper/v1\n"
                                            "kind: VirtualMachine\n"
                                            "metadata: {name: wms01}\n"
                                            "spec:\n"
                                            "  snapshotPolicy: nightly\n"
                                            "  placement: {requiredHosts: [hv01, hv02]}\n"}});
  std::set<std::pair<Kind, std::string>> asked;
  auto store = [&](Kind kind, const std::string& name) {
    asked.emplace(kind, name);
    return (kind == Kind::kSnapshotPolicy && name == "nightly") ||
           (kind == Kind::kHost && name == "hv01");
  };
  EXPECT_THAT(DiagnosticStrings(ValidateObjectSet(objects, store)),
              ElementsAre("vm.yaml:6:37: spec.placement.requiredHosts[1]: Host \"hv02\" does not "
                          "exist"));
  EXPECT_TRUE(asked.count({Kind::kSnapshotPolicy, "nightly"}));
  EXPECT_TRUE(asked.count({Kind::kHost, "hv02"}));
  // A policy by that name in another kind does not satisfy the reference.
  EXPECT_FALSE(asked.count({Kind::kVirtualMachine, "nightly"}));
}

TEST(ValidatorTest, DuplicateHostUri) {
  std::vector<Object> objects = DecodeAll({
      {"hosts.yaml", kHosts},
      {"more.yaml",
       "apiVersion: vmkeeper/v1\n"
       "kind: Host\n"
       "metadata: {name: hv03}\n"
       "spec: {uri: \"qemu+ssh://root@hv01/system\"}\n"},
  });
  EXPECT_THAT(DiagnosticStrings(ValidateObjectSet(objects, NothingStored)),
              ElementsAre("more.yaml:4:13: spec.uri: must be unique: Host \"hv01\" has the same "
                          "uri (hosts.yaml:4:13)"));
}

TEST(ValidatorTest, AllErrorsOfASetAreReported) {
  std::vector<Object> objects = DecodeAll({
      {"m.yaml",
       "apiVersion: vmkeeper/v1\n"
       "kind: VirtualMachine\n"
       "metadata: {name: a}\n"
       "spec: {snapshotPolicy: p1, placement: {requiredHosts: [h1]}}\n"
       "---\n"
       "apiVersion: vmkeeper/v1\n"
       "kind: VirtualMachine\n"
       "metadata: {name: a}\n"},
  });
  EXPECT_THAT(
      DiagnosticStrings(ValidateObjectSet(objects, NothingStored)),
      ElementsAre("m.yaml:8:18: metadata.name: duplicate VirtualMachine \"a\"; first defined at "
                  "m.yaml:3:18",
                  "m.yaml:4:24: spec.snapshotPolicy: SnapshotPolicy \"p1\" does not exist",
                  "m.yaml:4:56: spec.placement.requiredHosts[0]: Host \"h1\" does not exist"));
}

TEST(ValidatorTest, QemuGuestWithUserNetworkingIsConsistent) {
  std::vector<Object> objects = DecodeAll({{"vm.yaml",
                                            "apiVersion: vmkeeper/v1\n"
                                            "kind: VirtualMachine\n"
                                            "metadata: {name: web01}\n"
                                            "spec:\n"
                                            "  interfaces:\n"
                                            "  - name: net0\n"
                                            "    portForwards:\n"
                                            "    - {hostPort: 18080, guestPort: 80}\n"
                                            "    - {hostPort: 18022, guestPort: 22}\n"
                                            "  - {name: net1, type: bridge, bridge: br0}\n"
                                            "  - {name: net2, type: network, network: default}\n"
                                            "  health: {exec: {command: [/bin/true]}}\n"}});
  EXPECT_THAT(DiagnosticStrings(ValidateObjectSet(objects, NothingStored)), IsEmpty());
}

TEST(ValidatorTest, InterfaceFieldsMustMatchTheirType) {
  std::vector<Object> objects = DecodeAll({{"vm.yaml",
                                            "apiVersion: vmkeeper/v1\n"
                                            "kind: VirtualMachine\n"
                                            "metadata: {name: web01}\n"
                                            "spec:\n"
                                            "  interfaces:\n"
                                            "  - {name: a, type: bridge}\n"
                                            "  - {name: b, type: network, bridge: br0}\n"
                                            "  - {name: c, network: default}\n"
                                            "  - name: d\n"
                                            "    type: bridge\n"
                                            "    bridge: br0\n"
                                            "    portForwards: [{hostPort: 1, guestPort: 2}]\n"}});
  EXPECT_THAT(
      DiagnosticStrings(ValidateObjectSet(objects, NothingStored)),
      ElementsAre("vm.yaml:6:5: spec.interfaces[0].bridge: is required when type is bridge",
                  "vm.yaml:7:38: spec.interfaces[1].bridge: must not be set unless type is bridge",
                  "vm.yaml:7:5: spec.interfaces[1].network: is required when type is network",
                  "vm.yaml:8:24: spec.interfaces[2].network: must not be set unless type is "
                  "network",
                  "vm.yaml:12:19: spec.interfaces[3].portForwards: must be empty unless type "
                  "is user"));
}

TEST(ValidatorTest, HostPortsAreUniqueAcrossTheVmsInterfaces) {
  std::vector<Object> objects = DecodeAll({{"vm.yaml",
                                            "apiVersion: vmkeeper/v1\n"
                                            "kind: VirtualMachine\n"
                                            "metadata: {name: web01}\n"
                                            "spec:\n"
                                            "  interfaces:\n"
                                            "  - name: net0\n"
                                            "    portForwards:\n"
                                            "    - {hostPort: 18080, guestPort: 80}\n"
                                            "    - {hostPort: 18080, guestPort: 81}\n"
                                            "  - name: net1\n"
                                            "    portForwards:\n"
                                            "    - {hostAddress: 127.0.0.2, hostPort: 18080, "
                                            "guestPort: 80}\n"}});
  EXPECT_THAT(
      DiagnosticStrings(ValidateObjectSet(objects, NothingStored)),
      ElementsAre("vm.yaml:9:18: spec.interfaces[0].portForwards[1].hostPort: must be unique "
                  "within the VM: 18080 is already forwarded by "
                  "spec.interfaces[0].portForwards[0].hostPort",
                  "vm.yaml:12:42: spec.interfaces[1].portForwards[0].hostPort: must be unique "
                  "within the VM: 18080 is already forwarded by "
                  "spec.interfaces[0].portForwards[0].hostPort"));
}

TEST(ValidatorTest, AtMostEightUserInterfaces) {
  std::string vm =
      "apiVersion: vmkeeper/v1\n"
      "kind: VirtualMachine\n"
      "metadata: {name: web01}\n"
      "spec:\n"
      "  interfaces:\n";
  for (int i = 0; i < 9; ++i) vm += "  - {name: n" + std::to_string(i) + "}\n";
  std::vector<Object> objects = DecodeAll({{"vm.yaml", vm}});
  EXPECT_THAT(DiagnosticStrings(ValidateObjectSet(objects, NothingStored)),
              ElementsAre("vm.yaml:14:5: spec.interfaces[8]: must not be of type user: at most 8 "
                          "interfaces of type user are allowed"));
}

TEST(ValidatorTest, ExecProbeNeedsACommand) {
  std::vector<Object> objects = DecodeAll({{"vm.yaml",
                                            "apiVersion: vmkeeper/v1\n"
                                            "kind: VirtualMachine\n"
                                            "metadata: {name: web01}\n"
                                            "spec:\n"
                                            "  health: {exec: {command: []}}\n"}});
  EXPECT_THAT(DiagnosticStrings(ValidateObjectSet(objects, NothingStored)),
              ElementsAre("vm.yaml:5:28: spec.health.exec.command: must not be empty: it is the "
                          "argv to run"));
}

TEST(ValidatorTest, ObjectsWithoutLocationsStillGetErrors) {
  Object vm;
  vm.kind = Kind::kVirtualMachine;
  vm.metadata.name = "wms01";
  vm.spec = {{"snapshotPolicy", "gone"}};
  EXPECT_THAT(DiagnosticStrings(ValidateObjectSet({vm}, nullptr)),
              ElementsAre("<input>: spec.snapshotPolicy: SnapshotPolicy \"gone\" does not exist"));
}

}  // namespace
}  // namespace vmk::specs
