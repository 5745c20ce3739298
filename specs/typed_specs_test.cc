#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "specs/decoder.h"
#include "specs/types.h"

namespace vmk::specs {
namespace {

Json SpecOf(const std::string& text) {
  DecodeResult r = DecodeManifests(text, "m.yaml");
  EXPECT_THAT(DiagnosticStrings(r.errors), ::testing::IsEmpty());
  return r.objects.empty() ? Json() : r.objects[0].spec;
}

TEST(TypedSpecsTest, VirtualMachine) {
  Json spec = SpecOf(
      "apiVersion: vmkeeper/v1\n"
      "kind: VirtualMachine\n"
      "metadata: {name: wms01}\n"
      "spec:\n"
      "  running: false\n"
      "  cpus: 2\n"
      "  memoryMiB: 4096\n"
      "  disks: [{name: root, image: /w.qcow2, sizeGiB: 20}]\n"
      "  placement: {hostSelector: {rack: r1}, requiredHosts: [hv01], preferredHosts: [hv02, "
      "hv01], spreadBy: service, priority: 100}\n"
      "  health: {http: {port: 8443}, periodSeconds: 7}\n"
      "  restart: {limit: 5}\n"
      "  snapshotPolicy: nightly\n");
  StatusOr<VirtualMachineSpec> vm = VirtualMachineSpecFromJson(spec);
  ASSERT_TRUE(vm.ok()) << vm.status().ToString();
  EXPECT_FALSE(vm->running);
  EXPECT_EQ(vm->cpus, 2);
  EXPECT_EQ(vm->memoryMiB, 4096);
  ASSERT_EQ(vm->disks.size(), 1u);
  EXPECT_EQ(vm->disks[0].name, "root");
  EXPECT_EQ(vm->disks[0].image, "/w.qcow2");
  EXPECT_EQ(vm->disks[0].sizeGiB, 20);
  EXPECT_EQ(vm->placement.hostSelector, (std::map<std::string, std::string>{{"rack", "r1"}}));
  EXPECT_EQ(vm->placement.requiredHosts, std::vector<std::string>{"hv01"});
  EXPECT_EQ(vm->placement.preferredHosts, (std::vector<std::string>{"hv02", "hv01"}));
  EXPECT_EQ(vm->placement.spreadBy, "service");
  EXPECT_EQ(vm->placement.priority, 100);
  ASSERT_TRUE(vm->health.has_value());
  ASSERT_TRUE(vm->health->http.has_value());
  EXPECT_EQ(vm->health->http->port, 8443);
  EXPECT_EQ(vm->health->http->path, "/");
  EXPECT_FALSE(vm->health->tcp.has_value());
  EXPECT_EQ(vm->health->periodSeconds, 7);
  EXPECT_EQ(vm->health->timeoutSeconds, 2);
  EXPECT_EQ(vm->health->failureThreshold, 3);
  EXPECT_EQ(vm->health->startupGraceSeconds, 120);
  EXPECT_EQ(vm->restart.limit, 5);
  EXPECT_EQ(vm->restart.windowSeconds, 600);
  EXPECT_EQ(vm->snapshotPolicy, "nightly");
}

TEST(TypedSpecsTest, VirtualMachineDefaultsMatchTheStructDefaults) {
  StatusOr<VirtualMachineSpec> vm = VirtualMachineSpecFromJson(
      SpecOf("apiVersion: vmkeeper/v1\nkind: VirtualMachine\nmetadata: {name: a}\n"));
  ASSERT_TRUE(vm.ok());
  VirtualMachineSpec defaults;
  EXPECT_EQ(vm->running, defaults.running);
  EXPECT_EQ(vm->cpus, defaults.cpus);
  EXPECT_EQ(vm->memoryMiB, defaults.memoryMiB);
  EXPECT_TRUE(vm->disks.empty());
  EXPECT_FALSE(vm->health.has_value());
  EXPECT_EQ(vm->restart.limit, defaults.restart.limit);
  EXPECT_EQ(vm->restart.windowSeconds, defaults.restart.windowSeconds);
  EXPECT_EQ(vm->placement.priority, defaults.placement.priority);
  EXPECT_EQ(vm->snapshotPolicy, "");
  EXPECT_FALSE(vm->boot.has_value());
  EXPECT_FALSE(vm->console.has_value());
  EXPECT_TRUE(vm->interfaces.empty());
}

TEST(TypedSpecsTest, VirtualMachineBootConsoleInterfacesAndExecProbe) {
  Json spec = SpecOf(
      "apiVersion: vmkeeper/v1\n"
      "kind: VirtualMachine\n"
      "metadata: {name: web01}\n"
      "spec:\n"
      "  boot: {kernel: /g/vmlinux, initrd: /g/initrd.gz, cmdline: \"console=ttyS0 panic=-1\"}\n"
      "  console: {logFile: /g/web01.log}\n"
      "  interfaces:\n"
      "  - name: net0\n"
      "    portForwards: [{hostPort: 18080, guestPort: 80}, {hostAddress: 0.0.0.0, hostPort: "
      "2222, guestPort: 22}]\n"
      "  - {name: net1, type: bridge, bridge: br0}\n"
      "  - {name: net2, type: network, network: default}\n"
      "  health: {exec: {command: [/bin/check, -H, web01]}}\n");
  StatusOr<VirtualMachineSpec> vm = VirtualMachineSpecFromJson(spec);
  ASSERT_TRUE(vm.ok()) << vm.status().ToString();
  ASSERT_TRUE(vm->boot.has_value());
  EXPECT_EQ(vm->boot->kernel, "/g/vmlinux");
  EXPECT_EQ(vm->boot->initrd, "/g/initrd.gz");
  EXPECT_EQ(vm->boot->cmdline, "console=ttyS0 panic=-1");
  ASSERT_TRUE(vm->console.has_value());
  EXPECT_EQ(vm->console->logFile, "/g/web01.log");
  ASSERT_EQ(vm->interfaces.size(), 3u);
  EXPECT_EQ(vm->interfaces[0].name, "net0");
  EXPECT_EQ(vm->interfaces[0].type, InterfaceSpec::Type::kUser);
  ASSERT_EQ(vm->interfaces[0].portForwards.size(), 2u);
  EXPECT_EQ(vm->interfaces[0].portForwards[0].hostAddress, "127.0.0.1");
  EXPECT_EQ(vm->interfaces[0].portForwards[0].hostPort, 18080);
  EXPECT_EQ(vm->interfaces[0].portForwards[0].guestPort, 80);
  EXPECT_EQ(vm->interfaces[0].portForwards[1].hostAddress, "0.0.0.0");
  EXPECT_EQ(vm->interfaces[0].portForwards[1].hostPort, 2222);
  EXPECT_EQ(vm->interfaces[0].portForwards[1].guestPort, 22);
  EXPECT_EQ(vm->interfaces[1].type, InterfaceSpec::Type::kBridge);
  EXPECT_EQ(vm->interfaces[1].bridge, "br0");
  EXPECT_TRUE(vm->interfaces[1].portForwards.empty());
  EXPECT_EQ(vm->interfaces[2].type, InterfaceSpec::Type::kNetwork);
  EXPECT_EQ(vm->interfaces[2].network, "default");
  ASSERT_TRUE(vm->health.has_value());
  ASSERT_TRUE(vm->health->exec.has_value());
  EXPECT_EQ(vm->health->exec->command, (std::vector<std::string>{"/bin/check", "-H", "web01"}));
  EXPECT_FALSE(vm->health->http.has_value());

  // Optional parts stay empty when not given; a spec stored before interfaces existed reads as
  // one without any.
  Json old = spec;
  old.erase("interfaces");
  old.erase("boot");
  old.erase("console");
  old["health"].erase("exec");
  StatusOr<VirtualMachineSpec> bare = VirtualMachineSpecFromJson(old);
  ASSERT_TRUE(bare.ok()) << bare.status().ToString();
  EXPECT_FALSE(bare->boot.has_value());
  EXPECT_FALSE(bare->console.has_value());
  EXPECT_TRUE(bare->interfaces.empty());
  EXPECT_FALSE(bare->health->exec.has_value());

  old["interfaces"] = Json::parse(R"([{"name": "x", "type": "macvtap", "portForwards": []}])");
  EXPECT_EQ(VirtualMachineSpecFromJson(old).status().code(), StatusCode::kInvalidArgument);
}

TEST(TypedSpecsTest, VirtualMachineImageAndVolumeDisks) {
  Json spec = SpecOf(
      "apiVersion: vmkeeper/v1\n"
      "kind: VirtualMachine\n"
      "metadata: {name: web01}\n"
      "spec:\n"
      "  disks:\n"
      "  - {name: root, volume: {pool: shared, baseImage: /b/debian.qcow2, baseFormat: qcow2}}\n"
      "  - {name: data, volume: {pool: fast, sizeGiB: 20, deletePolicy: Delete}}\n"
      "  - {name: iso, image: /i/tools.raw, format: raw}\n"
      "  - {name: old, image: /i/old.qcow2, sizeGiB: 8}\n");
  StatusOr<VirtualMachineSpec> vm = VirtualMachineSpecFromJson(spec);
  ASSERT_TRUE(vm.ok()) << vm.status().ToString();
  ASSERT_EQ(vm->disks.size(), 4u);

  const DiskSpec& root = vm->disks[0];
  EXPECT_EQ(root.name, "root");
  EXPECT_EQ(root.image, "");
  EXPECT_EQ(root.format, std::nullopt);
  ASSERT_TRUE(root.volume.has_value());
  EXPECT_EQ(root.volume->pool, "shared");
  EXPECT_EQ(root.volume->baseImage, "/b/debian.qcow2");
  EXPECT_EQ(root.volume->baseFormat, "qcow2");
  EXPECT_EQ(root.volume->sizeGiB, 0);
  EXPECT_FALSE(root.volume->deleteWithVm) << "deletePolicy defaults to Retain";

  const DiskSpec& data = vm->disks[1];
  ASSERT_TRUE(data.volume.has_value());
  EXPECT_EQ(data.volume->pool, "fast");
  EXPECT_EQ(data.volume->baseImage, "");
  EXPECT_EQ(data.volume->baseFormat, std::nullopt);
  EXPECT_EQ(data.volume->sizeGiB, 20);
  EXPECT_TRUE(data.volume->deleteWithVm);

  EXPECT_EQ(vm->disks[2].image, "/i/tools.raw");
  EXPECT_EQ(vm->disks[2].format, "raw");
  EXPECT_FALSE(vm->disks[2].volume.has_value());
  // A disk as specs were stored before formats and volumes: no format, no volume.
  EXPECT_EQ(vm->disks[3].image, "/i/old.qcow2");
  EXPECT_EQ(vm->disks[3].sizeGiB, 8);
  EXPECT_EQ(vm->disks[3].format, std::nullopt);
  EXPECT_FALSE(vm->disks[3].volume.has_value());

  spec["disks"][1]["volume"]["deletePolicy"] = "Shred";
  EXPECT_EQ(VirtualMachineSpecFromJson(spec).status().code(), StatusCode::kInvalidArgument);
  spec["disks"][1]["volume"].erase("deletePolicy");
  EXPECT_EQ(VirtualMachineSpecFromJson(spec).status().code(), StatusCode::kInvalidArgument);
}

TEST(TypedSpecsTest, InterfaceTypeNames) {
  for (auto type : {InterfaceSpec::Type::kUser, InterfaceSpec::Type::kBridge,
                    InterfaceSpec::Type::kNetwork}) {
    EXPECT_EQ(InterfaceTypeFromName(InterfaceTypeName(type)), type);
  }
  EXPECT_EQ(InterfaceTypeFromName("passt"), std::nullopt);
}

TEST(TypedSpecsTest, Host) {
  StatusOr<HostSpec> host = HostSpecFromJson(
      SpecOf("apiVersion: vmkeeper/v1\nkind: Host\nmetadata: {name: hv01}\n"
             "spec:\n"
             "  uri: qemu+ssh://root@hv01/system\n"
             "  capacity: {cpus: 32, memoryMiB: 131072}\n"
             "  fencing: {agent: fence_ipmilan, args: {ip: 10.0.0.11}, timeoutSeconds: 30}\n"
             "  acknowledgeUnsafe: true\n"
             "  schedulable: false\n"));
  ASSERT_TRUE(host.ok()) << host.status().ToString();
  EXPECT_EQ(host->uri, "qemu+ssh://root@hv01/system");
  ASSERT_TRUE(host->capacity.has_value());
  EXPECT_EQ(host->capacity->cpus, 32);
  EXPECT_EQ(host->capacity->memoryMiB, 131072);
  ASSERT_TRUE(host->fencing.has_value());
  EXPECT_EQ(host->fencing->agent, "fence_ipmilan");
  EXPECT_EQ(host->fencing->args.at("ip"), "10.0.0.11");
  EXPECT_EQ(host->fencing->timeoutSeconds, 30);
  EXPECT_TRUE(host->acknowledgeUnsafe);
  EXPECT_FALSE(host->schedulable);

  StatusOr<HostSpec> bare = HostSpecFromJson(
      SpecOf("apiVersion: vmkeeper/v1\nkind: Host\nmetadata: {name: hv01}\nspec: {uri: x}\n"));
  ASSERT_TRUE(bare.ok());
  EXPECT_FALSE(bare->capacity.has_value());
  EXPECT_FALSE(bare->fencing.has_value());
  EXPECT_FALSE(bare->acknowledgeUnsafe);
  EXPECT_TRUE(bare->schedulable);
}

TEST(TypedSpecsTest, SnapshotPolicy) {
  StatusOr<SnapshotPolicySpec> p = SnapshotPolicySpecFromJson(
      SpecOf("apiVersion: vmkeeper/v1\nkind: SnapshotPolicy\nmetadata: {name: p}\n"
             "spec: {intervalSeconds: 3600, beforeFailover: false}\n"));
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->intervalSeconds, 3600);
  EXPECT_EQ(p->keep, 7);
  EXPECT_TRUE(p->beforeChange);
  EXPECT_FALSE(p->beforeFailover);
  EXPECT_FALSE(p->maxSnapshotGiB.has_value()) << "absent: no cap";

  StatusOr<SnapshotPolicySpec> capped = SnapshotPolicySpecFromJson(
      SpecOf("apiVersion: vmkeeper/v1\nkind: SnapshotPolicy\nmetadata: {name: p}\n"
             "spec: {keep: 2, maxSnapshotGiB: 40}\n"));
  ASSERT_TRUE(capped.ok()) << capped.status().ToString();
  EXPECT_EQ(capped->keep, 2);
  EXPECT_EQ(capped->maxSnapshotGiB, 40);
  // Stored before the field existed (and before rollbackDepth): the defaults.
  StatusOr<SnapshotPolicySpec> old = SnapshotPolicySpecFromJson(Json::parse(
      R"({"intervalSeconds": 60, "keep": 3, "beforeChange": true, "beforeFailover": true})"));
  ASSERT_TRUE(old.ok()) << old.status().ToString();
  EXPECT_FALSE(old->maxSnapshotGiB.has_value());
  EXPECT_EQ(old->rollbackDepth, 2);
}

TEST(TypedSpecsTest, StoragePool) {
  StatusOr<StoragePoolSpec> pool = StoragePoolSpecFromJson(
      SpecOf("apiVersion: vmkeeper/v1\nkind: StoragePool\nmetadata: {name: shared}\n"
             "spec:\n"
             "  type: dir\n"
             "  path: /srv/vmkeeper/pools/shared\n"
             "  hostSelector: {storage: nfs}\n"
             "  hosts: [hv01, hv02]\n"));
  ASSERT_TRUE(pool.ok()) << pool.status().ToString();
  EXPECT_EQ(pool->type, "dir");
  EXPECT_EQ(pool->path, "/srv/vmkeeper/pools/shared");
  EXPECT_EQ(pool->hostSelector, (std::map<std::string, std::string>{{"storage", "nfs"}}));
  EXPECT_EQ(pool->hosts, (std::vector<std::string>{"hv01", "hv02"}));
}

TEST(TypedSpecsTest, StoragePoolDefaultsMatchTheStructDefaults) {
  StatusOr<StoragePoolSpec> pool = StoragePoolSpecFromJson(
      SpecOf("apiVersion: vmkeeper/v1\nkind: StoragePool\nmetadata: {name: p}\n"
             "spec: {path: /p}\n"));
  ASSERT_TRUE(pool.ok()) << pool.status().ToString();
  StoragePoolSpec defaults;
  EXPECT_EQ(pool->type, defaults.type);
  EXPECT_EQ(pool->type, "dir");
  EXPECT_EQ(pool->path, "/p");
  EXPECT_TRUE(pool->hostSelector.empty());
  EXPECT_TRUE(pool->hosts.empty());
}

TEST(PoolVisibleOnHostTest, EmptySelectorAndNoHostsMeanEveryHost) {
  StoragePoolSpec pool;
  pool.path = "/p";
  EXPECT_TRUE(PoolVisibleOnHost(pool, "hv01", {}));
  EXPECT_TRUE(PoolVisibleOnHost(pool, "hv02", {{"rack", "r1"}}));
}

TEST(PoolVisibleOnHostTest, SelectorNeedsEveryLabelWithItsValue) {
  StoragePoolSpec pool;
  pool.hostSelector = {{"storage", "nfs"}, {"rack", "r1"}};
  EXPECT_TRUE(PoolVisibleOnHost(pool, "hv01", {{"storage", "nfs"}, {"rack", "r1"}, {"x", "y"}}));
  EXPECT_FALSE(PoolVisibleOnHost(pool, "hv01", {{"storage", "nfs"}}));  // rack missing
  EXPECT_FALSE(PoolVisibleOnHost(pool, "hv01", {{"storage", "nfs"}, {"rack", "r2"}}));
  EXPECT_FALSE(PoolVisibleOnHost(pool, "hv01", {}));
}

TEST(PoolVisibleOnHostTest, HostListRestrictsAndIsIntersectedWithTheSelector) {
  StoragePoolSpec pool;
  pool.hosts = {"hv01", "hv03"};
  EXPECT_TRUE(PoolVisibleOnHost(pool, "hv01", {}));
  EXPECT_TRUE(PoolVisibleOnHost(pool, "hv03", {}));
  EXPECT_FALSE(PoolVisibleOnHost(pool, "hv02", {}));
  EXPECT_FALSE(PoolVisibleOnHost(pool, "hv0", {})) << "names match whole, not as prefixes";
  pool.hostSelector = {{"storage", "nfs"}};
  EXPECT_TRUE(PoolVisibleOnHost(pool, "hv01", {{"storage", "nfs"}}));
  EXPECT_FALSE(PoolVisibleOnHost(pool, "hv03", {{"storage", "local"}})) << "listed, not selected";
  EXPECT_FALSE(PoolVisibleOnHost(pool, "hv02", {{"storage", "nfs"}})) << "selected, not listed";
}

TEST(TypedSpecsTest, JsonThatDidNotComeFromTheDecoderIsInvalidArgument) {
  StatusOr<VirtualMachineSpec> vm = VirtualMachineSpecFromJson(Json{{"cpus", "two"}});
  ASSERT_FALSE(vm.ok());
  EXPECT_EQ(vm.status().code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(HostSpecFromJson(Json::object()).ok());
  EXPECT_FALSE(SnapshotPolicySpecFromJson(Json()).ok());
  EXPECT_FALSE(SnapshotPolicySpecFromJson(Json::array()).ok());
  EXPECT_FALSE(StoragePoolSpecFromJson(Json{{"type", "dir"}}).ok()) << "path is required";
  EXPECT_EQ(StoragePoolSpecFromJson(Json::array()).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace vmk::specs
