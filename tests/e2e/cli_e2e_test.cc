// End to end: the vmkeeper CLI against a real vmkeeperd (RocksDB store, embedded libvirt
// test-driver hosts): apply / diff / get / describe / delete / events, dry run and prune, the
// diff exit codes, and bad input refused with its location while the store stays unchanged.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/e2e/daemon_harness.h"

namespace vmk::e2e {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class CliE2eTest : public ::testing::Test {
 protected:
  CliE2eTest() : scratch_(::testing::UnitTest::GetInstance()->current_test_info()->name()),
                 daemon_(scratch_.path() / "state") {}

  void SetUp() override { ASSERT_TRUE(daemon_.Start()) << daemon_.Log(); }

  CommandResult Cli(std::vector<std::string> args) {
    args.insert(args.begin(), {BinDir() + "/vmkeeper", "--server", daemon_.server()});
    return RunCommand(args, scratch_.path(), {}, SourceDir());
  }
  // A copy of examples/grid that a test may edit.
  fs::path CopyGrid() {
    fs::path dir = scratch_.path() / "grid";
    fs::remove_all(dir);
    fs::copy(SourceDir() + "/examples/grid", dir, fs::copy_options::recursive);
    return dir;
  }
  static void Replace(const fs::path& file, const std::string& from, const std::string& to) {
    std::string text = ReadFile(file);
    auto pos = text.find(from);
    ASSERT_NE(pos, std::string::npos) << from;
    text.replace(pos, from.size(), to);
    WriteFile(file, text);
  }
  // The whole desired state as the API shows it, without status (which moves on its own).
  std::string DesiredState() {
    std::string all;
    for (const char* kind : {"hosts", "vms", "snapshotpolicies", "storagepools"}) {
      auto r = Cli({"get", kind, "-o", "json"});
      EXPECT_EQ(r.exit_code, 0) << r.err;
      auto json = nlohmann::json::parse(r.out, nullptr, false);
      auto items = json.is_array() ? json : json.value("items", nlohmann::json::array());
      for (auto& item : items) item.erase("status");
      all += items.dump() + "\n";
    }
    return all;
  }

  ScratchDir scratch_;
  Daemon daemon_;
};

TEST_F(CliE2eTest, ApplyWaitGetDescribeDiffPruneAndDryRun) {
  auto applied = Cli({"apply", "-f", "examples/grid", "--wait", "--timeout", "60s"});
  ASSERT_EQ(applied.exit_code, 0) << applied.out << applied.err;
  EXPECT_THAT(applied.out, HasSubstr("host/hv01 created"));
  EXPECT_THAT(applied.out, HasSubstr("snapshotpolicy/nightly created"));
  EXPECT_THAT(applied.out, HasSubstr("virtualmachine/wms01 created"));
  EXPECT_THAT(applied.out, HasSubstr("9/9 ready"));

  auto again = Cli({"apply", "-f", "examples/grid"});
  ASSERT_EQ(again.exit_code, 0);
  EXPECT_THAT(again.out, HasSubstr("virtualmachine/wms01 unchanged"));
  EXPECT_THAT(again.out, Not(HasSubstr("created")));

  auto same = Cli({"diff", "-f", "examples/grid"});
  EXPECT_EQ(same.exit_code, 0) << same.out << same.err;
  EXPECT_EQ(same.out, "");

  auto wide = Cli({"get", "vms", "-o", "wide"});
  ASSERT_EQ(wide.exit_code, 0) << wide.err;
  for (const char* vm : {"wms01", "ce01", "ce02", "bdii01", "se01", "ui01"}) {
    EXPECT_THAT(wide.out, HasSubstr(vm));
  }
  EXPECT_THAT(wide.out, HasSubstr("running"));

  auto one = Cli({"get", "vm", "wms01", "-o", "json"});
  ASSERT_EQ(one.exit_code, 0) << one.err;
  auto json = nlohmann::json::parse(one.out);
  const std::string host = json["status"]["host"];
  EXPECT_TRUE(host == "hv01" || host == "hv02") << "wms01 must run on rack r1, not " << host;

  auto describe = Cli({"describe", "vm", "wms01"});
  ASSERT_EQ(describe.exit_code, 0) << describe.err;
  EXPECT_THAT(describe.out, HasSubstr("Ready"));
  EXPECT_THAT(describe.out, HasSubstr("Started"));

  // A change: diff shows it and exits 1; a dry run applies nothing.
  fs::path grid = CopyGrid();
  Replace(grid / "services.yaml", "  cpus: 4\n  memoryMiB: 8192\n  disks:\n    - {name: root, image: /var/lib/vmkeeper/images/wms01.qcow2",
          "  cpus: 4\n  memoryMiB: 16384\n  disks:\n    - {name: root, image: /var/lib/vmkeeper/images/wms01.qcow2");
  auto changed = Cli({"diff", "-f", grid.string()});
  EXPECT_EQ(changed.exit_code, 1) << changed.err;
  EXPECT_THAT(changed.out, HasSubstr("-  memoryMiB: 8192\n+  memoryMiB: 16384\n"));
  EXPECT_THAT(changed.out, HasSubstr("Actions:\n  redefine wms01 on " + host));
  auto dry = Cli({"apply", "-f", grid.string(), "--dry-run"});
  EXPECT_EQ(dry.exit_code, 0) << dry.err;
  EXPECT_THAT(dry.out, HasSubstr("virtualmachine/wms01 configured (dry run)"));
  EXPECT_EQ(Cli({"diff", "-f", grid.string()}).exit_code, 1) << "the dry run changed something";

  // Prune: the files no longer hold ui01.
  std::string services = ReadFile(grid / "services.yaml");
  services = services.substr(0, services.rfind("---\napiVersion: vmkeeper/v1\nkind: VirtualMachine\nmetadata:\n  name: ui01"));
  WriteFile(grid / "services.yaml", services);
  auto prune_diff = Cli({"diff", "-f", grid.string(), "--prune"});
  EXPECT_EQ(prune_diff.exit_code, 1);
  EXPECT_THAT(prune_diff.out, HasSubstr("stop and remove ui01 from hv0"));
  auto pruned = Cli({"apply", "-f", grid.string(), "--prune"});
  ASSERT_EQ(pruned.exit_code, 0) << pruned.err;
  EXPECT_THAT(pruned.out, HasSubstr("virtualmachine/ui01 pruned"));
  EXPECT_THAT(pruned.out, HasSubstr("virtualmachine/wms01 configured"));
  auto gone = Cli({"get", "vm", "ui01"});
  EXPECT_EQ(gone.exit_code, 1);
  EXPECT_THAT(gone.err, HasSubstr("not found"));
  EXPECT_EQ(Cli({"diff", "-f", grid.string(), "--prune"}).exit_code, 0);

  auto events = Cli({"events"});
  EXPECT_EQ(events.exit_code, 0);
  EXPECT_THAT(events.out, HasSubstr("Deleted"));

  auto deleted = Cli({"delete", "vm", "bdii01"});
  EXPECT_EQ(deleted.exit_code, 0) << deleted.err;
  EXPECT_EQ(Cli({"get", "vm", "bdii01"}).exit_code, 1);
  auto host_in_use = Cli({"delete", "host", host});
  EXPECT_EQ(host_in_use.exit_code, 1);
  EXPECT_THAT(host_in_use.err, HasSubstr("cannot be removed while VMs are placed on it"));

  EXPECT_EQ(daemon_.Terminate(), 0);
}

TEST_F(CliE2eTest, DiffExitsAboveOneOnErrorsAndUnreachableServers) {
  auto missing = Cli({"diff", "-f", "no/such/dir"});
  EXPECT_GT(missing.exit_code, 1);
  EXPECT_THAT(missing.err, HasSubstr("no/such/dir"));
  std::vector<std::string> args = {BinDir() + "/vmkeeper", "--server",
                                   "http://127.0.0.1:" + std::to_string(FreePort()), "diff", "-f",
                                   "examples/grid"};
  auto unreachable = RunCommand(args, scratch_.path(), {}, SourceDir());
  EXPECT_GT(unreachable.exit_code, 1);
  EXPECT_THAT(unreachable.err, HasSubstr("cannot reach vmkeeperd"));
  // VMKEEPER_SERVER is honoured.
  auto via_env = RunCommand({BinDir() + "/vmkeeper", "get", "hosts"}, scratch_.path(),
                     {"VMKEEPER_SERVER=" + daemon_.server()}, SourceDir());
  EXPECT_EQ(via_env.exit_code, 0) << via_env.err;
}

struct BadInput {
  std::string name;
  std::string yaml;      // appended after a valid VM, in bad.yaml
  std::string expected;  // the start of the error line: location and field path
};

void PrintTo(const BadInput& input, std::ostream* os) { *os << input.name; }

class BadInputTest : public CliE2eTest, public ::testing::WithParamInterface<BadInput> {};

// Line 1-9 of bad.yaml is this valid VM, so a bad document starts on line 10.
const char kValidVm[] = R"(apiVersion: vmkeeper/v1
kind: VirtualMachine
metadata:
  name: good01
spec:
  cpus: 1
  memoryMiB: 512
  disks: [{name: root, image: /i/good01.qcow2, format: qcow2}]
---
)";

TEST_P(BadInputTest, IsRefusedWithItsLocationAndChangesNothing) {
  auto setup = Cli({"apply", "-f", "examples/grid"});
  ASSERT_EQ(setup.exit_code, 0) << setup.err;
  const std::string before = DesiredState();
  fs::path file = scratch_.path() / "bad.yaml";
  WriteFile(file, kValidVm + GetParam().yaml);
  auto r = RunCommand({BinDir() + "/vmkeeper", "--server", daemon_.server(), "apply", "-f", "bad.yaml"},
               scratch_.path(), {}, scratch_.path().string());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr(GetParam().expected)) << r.err;
  EXPECT_THAT(r.err, HasSubstr("nothing was applied"));
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(DesiredState(), before) << "the store changed";
  auto good = Cli({"get", "vm", "good01"});
  EXPECT_EQ(good.exit_code, 1) << "the valid part of a refused apply was applied";
}

const char kVmHead[] = "apiVersion: vmkeeper/v1\nkind: VirtualMachine\nmetadata:\n  name: bad01\nspec:\n";

INSTANTIATE_TEST_SUITE_P(
    EveryKind, BadInputTest,
    ::testing::Values(
        BadInput{"WrongType", std::string(kVmHead) + "  cpus: many\n  disks: [{name: r, image: /i}]\n",
                 "bad.yaml:15:9: spec.cpus: "},
        BadInput{"UnknownField", std::string(kVmHead) + "  cpu: 2\n  disks: [{name: r, image: /i}]\n",
                 "bad.yaml:15:3: spec.cpu: "},
        BadInput{"UnknownNestedField",
                 std::string(kVmHead) + "  disks: [{name: r, image: /i, size: 3}]\n",
                 "bad.yaml:15:32: spec.disks[0].size: unknown field"},
        BadInput{"DuplicateKey",
                 std::string(kVmHead) + "  cpus: 1\n  cpus: 2\n  disks: [{name: r, image: /i}]\n",
                 "bad.yaml:16:3: spec.cpus: "},
        BadInput{"MissingRequiredField", std::string(kVmHead) + "  disks: [{name: r}]\n",
                 "bad.yaml:15:11: spec.disks[0].image: "},
        BadInput{"BadName",
                 "apiVersion: vmkeeper/v1\nkind: VirtualMachine\nmetadata:\n  name: Bad_Name\n"
                 "spec:\n  disks: [{name: r, image: /i}]\n",
                 "bad.yaml:13:9: metadata.name: "},
        BadInput{"OutOfRange",
                 std::string(kVmHead) + "  memoryMiB: 1\n  disks: [{name: r, image: /i}]\n",
                 "bad.yaml:15:14: spec.memoryMiB: "},
        BadInput{"DuplicateObject",
                 "apiVersion: vmkeeper/v1\nkind: VirtualMachine\nmetadata:\n  name: good01\n"
                 "spec:\n  disks: [{name: r, image: /i}]\n",
                 "bad.yaml:13:9: metadata.name: "},
        BadInput{"MissingHostReference",
                 std::string(kVmHead) +
                     "  disks: [{name: r, image: /i}]\n  placement: {requiredHosts: [hv99]}\n",
                 "bad.yaml:16:31: spec.placement.requiredHosts[0]: Host \"hv99\" does not exist"},
        BadInput{"MissingPolicyReference",
                 std::string(kVmHead) + "  disks: [{name: r, image: /i}]\n  snapshotPolicy: weekly\n",
                 "bad.yaml:16:19: spec.snapshotPolicy: "},
        BadInput{"YamlSyntax", std::string(kVmHead) + "  cpus: [1, 2\n", "bad.yaml:"}),
    [](const ::testing::TestParamInfo<BadInput>& info) { return info.param.name; });

}  // namespace
}  // namespace vmk::e2e
