// End to end on real QEMU guests (software emulation) and three libvirtd hosts, each in its own
// namespaces (tests/e2e/libvirt_hosts.sh): the failure flows of the design as an admin would
// see them. A guest is Debian's kernel with a busybox initramfs (tests/e2e/guest/build_guest.sh)
// answering "hello from NAME gen=N" over HTTP on a port forwarded to 127.0.0.1, N counting its
// boots on its disk. All hosts share the network namespace, so a VM keeps its port wherever it
// runs, and "never two guests" is checked by counting QEMU processes for the VM.
//
//   - host killed           -> failed over on the fast path (refused + guest gone), the VM
//                              answers again from another host, one incident;
//   - libvirtd hung         -> (guest still answering) ManagementUnreachable, never fenced nor
//                              moved while it answers; fenced and moved once it stops answering;
//   - libvirtd restarted    -> (at once, and with a 10 s gap) never fenced nor moved, the guest
//                              answers throughout;
//   - host frozen           -> (libvirtd and QEMU SIGSTOPped) fenced, then moved; never two;
//   - fence agent failing   -> no failover, FencingFailed, the guest stays where it is;
//   - guest process killed  -> restarted on its host;
//   - a real Alertmanager   -> its host-down alert joins the host's incident, repeats add none.
// Needs root. Everything is started per test and stopped in TearDown, also on failure.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <set>
#include <thread>

#include "providers/storage/qemu_img.h"
#include "tests/e2e/alertmanager_process.h"
#include "tests/e2e/qemu_fleet.h"

namespace vmk::e2e {
namespace {

using nlohmann::json;
using std::chrono::seconds;

constexpr int kHosts = 3;

class QemuFailoverTest : public ::testing::Test {
 protected:
  QemuFailoverTest() : scratch_("qemu"), fleet_(scratch_.path()), daemon_(scratch_.path() / "state") {}

  static void SetUpTestSuite() {
    ScratchDir build_scratch("guest-build");
    guest_build_error_ = BuildGuest(build_scratch.path());
  }

  void SetUp() override {
    ASSERT_EQ(geteuid(), 0u) << "this test runs libvirtd hosts in namespaces and needs root";
    ASSERT_EQ(guest_build_error_, "");
    ASSERT_EQ(fleet_.StartHosts(kHosts), "");
  }

  void TearDown() override {
    if (HasFailure()) {
      std::cerr << "---- events ----\n" << Cli({"events", "--limit", "1000"}).out;
      std::string log = daemon_.Log();
      std::cerr << "---- vmkeeperd log (tail) ----\n"
                << log.substr(log.size() > 4000 ? log.size() - 4000 : 0) << "\n";
      for (const auto& vm : fleet_.vms()) {
        std::cerr << "---- serial console of " << vm << " ----\n" << ReadFile(fleet_.SerialLog(vm)) << "\n";
      }
      std::cerr << "---- fence agent calls ----\n" << fleet_.FenceCalls();
    }
    daemon_.Kill();
    // Killing a host's namespace kills the QEMU processes it started.
    fleet_.StopAll();
  }

  CommandResult HostCtl(const std::vector<std::string>& args) { return fleet_.HostCtl(args); }
  CommandResult Cli(std::vector<std::string> args) {
    args.insert(args.begin(), {BinDir() + "/vmkeeper", "--server", daemon_.server()});
    return RunCommand(args, scratch_.path());
  }
  bool StartDaemon() {
    return daemon_.Start({"--workers", "2", "--fence-agent-dir", SourceDir() + "/tests/e2e"});
  }
  CommandResult Apply(const std::string& yaml) {
    fs::path file = scratch_.path() / "fleet.yaml";
    WriteFile(file, yaml);
    return Cli({"apply", "-f", file.string()});
  }

  json GetJson(const std::string& kind, const std::string& name) {
    auto r = Cli({"get", kind, name, "-o", "json"});
    if (r.exit_code != 0) return json::object();
    auto doc = json::parse(r.out, nullptr, false);
    return doc.is_discarded() ? json::object() : doc;
  }
  // "Status/Reason" of a condition, e.g. "True/Running"; "<none>" when absent.
  std::string Condition(const std::string& kind, const std::string& name, const std::string& type) {
    auto status = GetJson(kind, name).value("status", json::object());
    for (const auto& c : status.value("conditions", json::array())) {
      if (c.value("type", "") == type) return c.value("status", "") + "/" + c.value("reason", "");
    }
    return "<none>";
  }
  std::string HostOf(const std::string& vm) {
    return GetJson("vm", vm).value("status", json::object()).value("host", "");
  }
  std::string Answer(const std::string& vm) { return fleet_.Answer(vm); }
  bool Answers(const std::string& vm) { return fleet_.Answers(vm); }
  int FenceOffCalls(const std::string& host) { return fleet_.FenceOffCalls(host); }
  std::string FenceCalls() { return fleet_.FenceCalls(); }
  json Incidents(const std::string& for_object) {
    auto r = Cli({"incidents", "--for", for_object, "-o", "json"});
    auto doc = json::parse(r.out, nullptr, false);
    if (doc.is_discarded()) return json::array();
    return doc.is_object() ? doc.value("items", json::array()) : doc;
  }
  std::string Events(const std::string& for_object) {
    return Cli({"events", "--for", for_object, "--limit", "1000"}).out;
  }

  // Waits for `condition`, checking at every look that no VM runs as two guests at once.
  bool WaitWatchingDoubles(const std::function<bool()>& condition, std::chrono::milliseconds deadline) {
    return WaitFor([&] {
      for (const auto& vm : fleet_.vms()) max_guests_ = std::max(max_guests_, fleet_.GuestPids(vm).size());
      return condition();
    }, deadline);
  }

  // Applies hosts and VMs and waits until every VM answers over HTTP from hv01.
  void ApplyAndWaitAnswering(const std::string& fence_behaviour, const std::vector<std::string>& vms) {
    std::string yaml = fleet_.HostManifests(fence_behaviour);
    for (const auto& vm : vms) yaml += fleet_.VmManifest(vm, "hv01");
    auto applied = Apply(yaml);
    ASSERT_EQ(applied.exit_code, 0) << applied.out << applied.err;
    for (const auto& vm : vms) {
      ASSERT_TRUE(WaitFor([&] { return Answers(vm) && Condition("vm", vm, "Ready") == "True/Running"; },
                          seconds(120)))
          << vm << " never answered: Ready=" << Condition("vm", vm, "Ready");
      EXPECT_EQ(HostOf(vm), "hv01");
      EXPECT_EQ(fleet_.GuestPids(vm).size(), 1u);
    }
  }

  ScratchDir scratch_;
  QemuFleet fleet_;
  Daemon daemon_;
  size_t max_guests_ = 0;
  static std::string guest_build_error_;
};

std::string QemuFailoverTest::guest_build_error_;

TEST_F(QemuFailoverTest, AKilledHostsVmAnswersAgainFromAnotherHost) {
  ASSERT_TRUE(StartDaemon()) << daemon_.Log();
  ApplyAndWaitAnswering("ok", {"web01"});
  const std::string first = Answer("web01");
  EXPECT_THAT(first, ::testing::HasSubstr("gen=0"));

  ASSERT_EQ(HostCtl({"kill", "1"}).exit_code, 0);
  EXPECT_TRUE(WaitFor([&] { return !Answers("web01"); }, seconds(10))) << "killing hv01 did not stop its guest";
  ASSERT_TRUE(WaitWatchingDoubles(
      [&] { return HostOf("web01") != "hv01" && Answers("web01"); }, seconds(120)))
      << "web01 does not answer from another host; host=" << HostOf("web01")
      << " Ready=" << Condition("vm", "web01", "Ready") << "\nhv01 events:\n" << Events("host/hv01");
  EXPECT_LE(max_guests_, 1u) << "web01 ran as two guests at once";
  // Same disk, booted once more.
  EXPECT_THAT(Answer("web01"), ::testing::HasSubstr("gen=1"));
  EXPECT_GE(FenceOffCalls("hv01"), 1) << "the dead host was not fenced first\n" << FenceCalls();
  // The fast path (docs/failure-detection.md, row 6): the daemon's socket refused and the guest
  // gone, so the host was failed over before the heartbeats' threshold (how fast:
  // bench/README.md, qemu_failover_bench --fault kill).
  EXPECT_THAT(Events("host/hv01"),
              ::testing::HasSubstr("connection refused and all 1 probed VMs fail their probes"));
  const std::string events = Events("host/hv01");
  EXPECT_LT(events.find("HostFailed"), events.find("HostNotReady"))
      << "failed over before the heartbeats' verdict:\n" << events;
  EXPECT_TRUE(WaitFor([&] { return Condition("vm", "web01", "Ready") == "True/Running"; }, seconds(60)));
  // One incident for the VM, with its recovery time.
  EXPECT_TRUE(WaitFor([&] {
    auto list = Incidents("vm/web01");
    return list.size() == 1 && !list[0].value("recovered", "").empty();
  }, seconds(30))) << Incidents("vm/web01").dump(2);
}

// A VM whose disk is a volume vmkeeper created in a pool every host mounts keeps its data when
// its host dies: the disk as the dead host left it is frozen as a before-failover snapshot, and
// the VM boots elsewhere on a new top over it (its boot counter goes on). Snapshots along the
// way: the policy's healthy baseline, and one asked for by hand while the guest runs. The base
// image under the volume is never written.
TEST_F(QemuFailoverTest, AVmOnASharedVolumeKeepsItsDataWhenItsHostDies) {
  ASSERT_TRUE(StartDaemon()) << daemon_.Log();
  ASSERT_EQ(fleet_.DefinePool("shared"), "");
  const std::string base_before = ReadFile(GuestDir() / "base.raw");
  std::string vm = fleet_.VmManifest("web01", "hv01", "shared");
  vm.insert(vm.rfind("---"), "  snapshotPolicy: daily\n");
  auto applied = Apply(fleet_.HostManifests("ok") + fleet_.PoolManifest("shared") +
                       "apiVersion: vmkeeper/v1\nkind: SnapshotPolicy\nmetadata: {name: daily}\n"
                       "spec: {intervalSeconds: 86400, beforeFailover: true}\n---\n" + vm);
  ASSERT_EQ(applied.exit_code, 0) << applied.out << applied.err;
  ASSERT_TRUE(WaitFor([&] { return Answers("web01"); }, seconds(120)))
      << "Ready=" << Condition("vm", "web01", "Ready") << "\n" << Events("vm/web01");
  EXPECT_THAT(Answer("web01"), ::testing::HasSubstr("gen=0"));
  EXPECT_TRUE(fs::exists(fleet_.PoolDir("shared") / "web01.root.0.qcow2"));
  EXPECT_THAT(Events("vm/web01"), ::testing::HasSubstr("VolumeCreated"));
  ASSERT_TRUE(WaitFor([&] { return Condition("pool", "shared", "Ready") == "True/Seen"; },
                      seconds(60)))
      << GetJson("pool", "shared").dump(2);
  // The baseline, once Ready.
  ASSERT_TRUE(WaitFor(
      [&] { return GetJson("vm", "web01")["status"].value("snapshots", json::array()).size() >= 1; },
      seconds(60)));
  // One asked for by hand: the running guest's disk moves to a new top, the guest goes on.
  auto snap = Cli({"snapshot", "web01", "--name", "before-crash", "--wait", "--timeout", "60s"});
  ASSERT_EQ(snap.exit_code, 0) << snap.out << snap.err;
  EXPECT_TRUE(Answers("web01"));
  const std::string crashed_top = GetJson("vm", "web01")["status"]["disks"][0].value("path", "");
  EXPECT_THAT(Cli({"snapshots", "web01"}).out, ::testing::HasSubstr("before-crash"));

  ASSERT_EQ(HostCtl({"kill", "1"}).exit_code, 0);
  ASSERT_TRUE(WaitWatchingDoubles(
      [&] { return HostOf("web01") != "hv01" && Answers("web01"); }, seconds(120)))
      << "host=" << HostOf("web01") << " Ready=" << Condition("vm", "web01", "Ready") << "\n"
      << Events("vm/web01");
  EXPECT_LE(max_guests_, 1u) << "web01 ran as two guests at once";
  EXPECT_THAT(Answer("web01"), ::testing::HasSubstr("gen=1")) << "the volume's data was kept";
  // The crash state: the top the dead host wrote, frozen before the VM started again.
  json status = GetJson("vm", "web01")["status"];
  json crash;
  for (const auto& r : status["snapshots"]) {
    if (r.value("reason", "") == "before-failover") crash = r;
  }
  ASSERT_FALSE(crash.is_null()) << status.dump(2);
  EXPECT_EQ(crash.value("phase", ""), "Taken") << crash.dump();
  EXPECT_EQ((fleet_.PoolDir("shared") / crash["layers"][0].value("volume", "")).string(),
            crashed_top);
  const std::string now_top = status["disks"][0].value("path", "");
  EXPECT_NE(now_top, crashed_top);
  auto info = providers::QemuImg().Info(now_top);
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->backing_path, crashed_top);
  const std::string events = Events("vm/web01");
  EXPECT_LT(events.find("(before-failover"), events.rfind("Started")) << events;
  EXPECT_EQ(ReadFile(GuestDir() / "base.raw"), base_before) << "the base image was written";
}

// deletePolicy: Delete through the CLI, on a running guest: the VM is Terminating until its
// domain is gone and then every layer of its disk (the top and a snapshot's frozen layer) is
// deleted; nothing of it is left in the pool, and the base image and a file of nobody's stay.
TEST_F(QemuFailoverTest, AVmWithADeleteVolumeDeletedThroughTheCliLeavesNoFileOfItInThePool) {
  ASSERT_TRUE(StartDaemon()) << daemon_.Log();
  ASSERT_EQ(fleet_.DefinePool("shared"), "");
  const std::string base_before = ReadFile(GuestDir() / "base.raw");
  std::string vm = fleet_.VmManifest("web01", "hv01", "shared");
  const std::string volume_end = ".raw}}]";
  ASSERT_NE(vm.find(volume_end), std::string::npos) << vm;
  vm.replace(vm.find(volume_end), volume_end.size(), ".raw, deletePolicy: Delete}}]");
  auto applied = Apply(fleet_.HostManifests("ok") + fleet_.PoolManifest("shared") + vm);
  ASSERT_EQ(applied.exit_code, 0) << applied.out << applied.err;
  ASSERT_TRUE(WaitFor([&] { return Answers("web01"); }, seconds(120)))
      << "Ready=" << Condition("vm", "web01", "Ready") << "\n" << Events("vm/web01");
  // Where it runs: hv01 is only preferred, and a host that has not yet been seen to see the
  // pool is passed over (in one CI run the VM went to hv02).
  const std::string host = HostOf("web01");
  ASSERT_FALSE(host.empty());
  auto snap = Cli({"snapshot", "web01", "--name", "one", "--wait", "--timeout", "60s"});
  ASSERT_EQ(snap.exit_code, 0) << snap.out << snap.err;
  const fs::path pool = fleet_.PoolDir("shared");
  EXPECT_TRUE(fs::exists(pool / "web01.root.0.qcow2"));
  EXPECT_TRUE(fs::exists(pool / "web01.root.1.qcow2"));
  WriteFile(pool / "notes.txt", "an admin's file");

  auto deleted = Cli({"delete", "vm", "web01"});
  ASSERT_EQ(deleted.exit_code, 0) << deleted.out << deleted.err;
  ASSERT_TRUE(WaitFor([&] { return Cli({"get", "vm", "web01"}).exit_code == 1; }, seconds(60)))
      << Cli({"describe", "vm", "web01"}).out;
  EXPECT_TRUE(fleet_.GuestPids("web01").empty());
  std::vector<std::string> left;
  for (const auto& entry : fs::directory_iterator(pool)) {
    const std::string file = entry.path().filename().string();
    if (file.rfind("web01.", 0) == 0) left.push_back(file);
  }
  EXPECT_THAT(left, ::testing::IsEmpty());
  EXPECT_EQ(ReadFile(pool / "notes.txt"), "an admin's file");
  EXPECT_EQ(ReadFile(GuestDir() / "base.raw"), base_before);
  const std::string events = Events("vm/web01");
  EXPECT_THAT(events, ::testing::HasSubstr("volume web01.root.1.qcow2 deleted from pool shared"));
  EXPECT_THAT(events, ::testing::HasSubstr("volume web01.root.0.qcow2 deleted from pool shared"));
  EXPECT_LT(events.find("stopped and removed from " + host), events.find("VolumeDeleted"))
      << events;
}

// Flow 2 on a real guest: a guest that keeps crashing (its QEMU killed) uses up its restarts and
// comes back from its last snapshot taken while healthy; the state it failed in stays, as a
// before-rollback snapshot. The guest counts its boots on its disk, so the answer tells which
// disk state booted: gen=1 is the healthy snapshot's (taken after the first boot), not the
// crashed top's (gen=3 by then).
TEST_F(QemuFailoverTest, AGuestThatKeepsCrashingIsRolledBackToItsLastHealthySnapshot) {
  ASSERT_TRUE(StartDaemon()) << daemon_.Log();
  ASSERT_EQ(fleet_.DefinePool("shared"), "");
  std::string vm = fleet_.VmManifest("web01", "hv01", "shared");
  vm.insert(vm.rfind("---"),
            "  snapshotPolicy: daily\n  restart: {limit: 2, windowSeconds: 600}\n");
  auto applied = Apply(fleet_.HostManifests("ok") + fleet_.PoolManifest("shared") +
                       "apiVersion: vmkeeper/v1\nkind: SnapshotPolicy\nmetadata: {name: daily}\n"
                       "spec: {intervalSeconds: 86400, rollbackDepth: 2}\n---\n" + vm);
  ASSERT_EQ(applied.exit_code, 0) << applied.out << applied.err;
  ASSERT_TRUE(WaitFor([&] { return Answers("web01"); }, seconds(120))) << Events("vm/web01");
  EXPECT_THAT(Answer("web01"), ::testing::HasSubstr("gen=0"));
  auto healthy_snapshot = [&] {
    for (const auto& r : GetJson("vm", "web01")["status"].value("snapshots", json::array())) {
      if (r.value("healthy", false) && r.value("phase", "") == "Taken") return true;
    }
    return false;
  };
  ASSERT_TRUE(WaitFor(healthy_snapshot, seconds(60))) << Cli({"snapshots", "web01"}).out;

  auto rollback = [&] {
    return GetJson("vm", "web01")["status"].value("rollback", json::object());
  };
  for (int kill_no = 1; kill_no <= 3; ++kill_no) {
    ASSERT_TRUE(WaitFor([&] { return !fleet_.GuestPids("web01").empty(); }, seconds(60)));
    for (int pid : fleet_.GuestPids("web01")) kill(pid, SIGKILL);
    if (kill_no < 3) {
      ASSERT_TRUE(WaitFor(
          [&] { return Answer("web01").find("gen=" + std::to_string(kill_no)) != std::string::npos; },
          seconds(90)))
          << "restart " << kill_no << ": " << Answer("web01") << "\n" << Events("vm/web01");
    }
  }
  // The third failure uses up the limit: back to the healthy snapshot.
  ASSERT_TRUE(WaitFor([&] { return rollback().value("target", "") != ""; }, seconds(90)))
      << Events("vm/web01");
  ASSERT_TRUE(WaitFor([&] { return Answers("web01"); }, seconds(90))) << Events("vm/web01");
  EXPECT_THAT(Answer("web01"), ::testing::HasSubstr("gen=1")) << "not the healthy snapshot's state";
  EXPECT_THAT(Events("vm/web01"), ::testing::HasSubstr("RolledBack"));
  json failed;
  const json status = GetJson("vm", "web01")["status"];
  for (const auto& r : status.value("snapshots", json::array())) {
    if (r.value("reason", "") == "before-rollback") failed = r;
  }
  ASSERT_FALSE(failed.is_null()) << status.dump(2);
  EXPECT_TRUE(fs::exists(fleet_.PoolDir("shared") / failed["layers"][0].value("volume", "")))
      << "the failed state is kept";

  // By hand, the same way back: shown first, then done; the guest boots s1's state again
  // (gen=1), not the restored top's next boot (gen=2).
  auto plan = Cli({"rollback", "web01", "--to", "s1", "--dry-run"});
  ASSERT_EQ(plan.exit_code, 0) << plan.out << plan.err;
  EXPECT_THAT(plan.out, ::testing::HasSubstr("back to snapshot s1"));
  EXPECT_THAT(plan.out, ::testing::HasSubstr("dry run"));
  auto asked = Cli({"rollback", "web01", "--to", "s1"});
  ASSERT_EQ(asked.exit_code, 0) << asked.out << asked.err;
  ASSERT_TRUE(WaitFor([&] { return !Answers("web01"); }, seconds(30))) << "not powered off";
  ASSERT_TRUE(WaitFor([&] { return Answers("web01"); }, seconds(90))) << Events("vm/web01");
  EXPECT_THAT(Answer("web01"), ::testing::HasSubstr("gen=1"));
}

// Rollback of a failed change (flow 3): web01 runs healthy on a volume under a policy with
// beforeChange; an update adds "noservice" to its kernel command line (the guest then never
// serves HTTP). The diff says the apply takes a before-change snapshot; the apply freezes the
// disk (its boot counter reads 1), the broken version boots (reads 1, writes 2) and never
// answers; past its startup grace the change fails: the before-change disk and the previous
// definition come back, so the guest answers again with gen=1 (the broken boot's 2 is not seen),
// the broken state stays as a before-rollback snapshot, and the change is not tried again.
TEST_F(QemuFailoverTest, AnUpdateThatBreaksTheGuestIsRolledBackToItsBeforeChangeDisk) {
  ASSERT_TRUE(StartDaemon()) << daemon_.Log();
  ASSERT_EQ(fleet_.DefinePool("shared"), "");
  std::string vm = fleet_.VmManifest("web01", "hv01", "shared");
  vm.replace(vm.find("startupGraceSeconds: 60"), 23, "startupGraceSeconds: 20");
  vm.insert(vm.rfind("---"), "  snapshotPolicy: daily\n");
  const std::string rest = fleet_.HostManifests("ok") + fleet_.PoolManifest("shared") +
                           "apiVersion: vmkeeper/v1\nkind: SnapshotPolicy\nmetadata: {name: daily}\n"
                           "spec: {intervalSeconds: 86400}\n---\n";
  auto applied = Apply(rest + vm);
  ASSERT_EQ(applied.exit_code, 0) << applied.out << applied.err;
  ASSERT_TRUE(WaitFor([&] { return Answers("web01"); }, seconds(120))) << Events("vm/web01");
  EXPECT_THAT(Answer("web01"), ::testing::HasSubstr("gen=0"));
  ASSERT_TRUE(WaitFor([&] { return Condition("vm", "web01", "Ready") == "True/Running"; },
                      seconds(60)));

  std::string broken = vm;
  broken.replace(broken.find("vmname=web01"), 12, "vmname=web01 noservice");
  const fs::path file = scratch_.path() / "broken.yaml";
  WriteFile(file, rest + broken);
  auto diff = Cli({"diff", "-f", file.string()});
  EXPECT_THAT(diff.out, ::testing::HasSubstr("after a before-change snapshot of its disks"))
      << diff.out << diff.err;
  auto updated = Cli({"apply", "-f", file.string()});
  ASSERT_EQ(updated.exit_code, 0) << updated.out << updated.err;

  auto change = [&] { return GetJson("vm", "web01")["status"].value("change", json::object()); };
  ASSERT_TRUE(WaitFor([&] { return change().value("phase", "") == "Watching"; }, seconds(30)))
      << Events("vm/web01");
  ASSERT_TRUE(WaitFor([&] { return change().value("phase", "") == "Failed"; }, seconds(90)))
      << Events("vm/web01");
  EXPECT_EQ(Condition("vm", "web01", "ChangeFailed"), "True/RolledBack");
  ASSERT_TRUE(WaitFor([&] { return Answers("web01"); }, seconds(90))) << Events("vm/web01");
  EXPECT_THAT(Answer("web01"), ::testing::HasSubstr("gen=1"))
      << "not the before-change disk (the broken boot wrote 2)";
  // Both the broken version and the restored one booted from a disk that had counted 1 boot.
  const std::string serial = ReadFile(fleet_.SerialLog("web01"));
  size_t boots_from_one = 0;
  for (size_t at = serial.find("disk-gen=1 "); at != std::string::npos;
       at = serial.find("disk-gen=1 ", at + 1)) {
    ++boots_from_one;
  }
  EXPECT_EQ(boots_from_one, 2u) << serial;

  const json status = GetJson("vm", "web01")["status"];
  EXPECT_EQ(status.value("observedGeneration", 0), 2);
  json before_change, failed;
  for (const auto& r : status.value("snapshots", json::array())) {
    if (r.value("reason", "") == "before-change") before_change = r;
    if (r.value("reason", "") == "before-rollback") failed = r;
  }
  ASSERT_FALSE(before_change.is_null()) << status.dump(2);
  EXPECT_EQ(before_change.value("name", ""), change().value("snapshot", ""));
  ASSERT_FALSE(failed.is_null()) << status.dump(2);
  EXPECT_TRUE(fs::exists(fleet_.PoolDir("shared") / failed["layers"][0].value("volume", "")))
      << "the state it failed in is kept";
  const std::string events = Events("vm/web01");
  EXPECT_THAT(events, ::testing::HasSubstr("ChangeFailed"));
  EXPECT_THAT(Cli({"describe", "vm", "web01"}).out,
              ::testing::HasSubstr("Last change:\n  Generation:               1 -> 2\n"
                                   "  Phase:                    Failed\n"));
  // Not tried again: one change started, and the guest still answers on the old version.
  size_t started = 0;
  for (size_t at = events.find("ChangeStarted"); at != std::string::npos;
       at = events.find("ChangeStarted", at + 1)) {
    ++started;
  }
  EXPECT_EQ(started, 1u) << events;
  EXPECT_TRUE(Answers("web01"));
}

// Pruning to keep on a running guest (docs/storage.md, Pruning): snapshots every minute, keep 2.
// The guest counts its boots on its disk: s1 and s2 hold 1 (one boot), then its QEMU is killed
// and it is restarted (2), and s3 holds 2. s3 prunes s1 by an online commit of s2's layer into
// s1's: the pool holds the 2 kept layers and the top, the top's chain reaches the base image,
// and a rollback to s2, now recorded on the merged layer, boots s2's state (gen=1).
TEST_F(QemuFailoverTest, ScheduledSnapshotsArePrunedToKeepAndAKeptOneRestores) {
  ASSERT_TRUE(StartDaemon()) << daemon_.Log();
  ASSERT_EQ(fleet_.DefinePool("shared"), "");
  std::string vm = fleet_.VmManifest("web01", "hv01", "shared");
  vm.insert(vm.rfind("---"), "  snapshotPolicy: minutely\n");
  auto applied = Apply(fleet_.HostManifests("ok") + fleet_.PoolManifest("shared") +
                       "apiVersion: vmkeeper/v1\nkind: SnapshotPolicy\nmetadata: {name: minutely}\n"
                       "spec: {intervalSeconds: 60, keep: 2}\n---\n" + vm);
  ASSERT_EQ(applied.exit_code, 0) << applied.out << applied.err;
  ASSERT_TRUE(WaitFor([&] { return Answers("web01"); }, seconds(120))) << Events("vm/web01");
  EXPECT_THAT(Answer("web01"), ::testing::HasSubstr("gen=0"));
  auto snapshots = [&] {
    std::vector<std::string> names;
    for (const auto& r : GetJson("vm", "web01")["status"].value("snapshots", json::array())) {
      if (r.value("phase", "") == "Taken") names.push_back(r.value("name", ""));
    }
    return names;
  };
  auto has = [&](const std::string& name) {
    auto names = snapshots();
    return std::find(names.begin(), names.end(), name) != names.end();
  };
  ASSERT_TRUE(WaitFor([&] { return has("s2"); }, seconds(100))) << Events("vm/web01");
  for (int pid : fleet_.GuestPids("web01")) kill(pid, SIGKILL);
  ASSERT_TRUE(WaitFor([&] { return Answer("web01").find("gen=1") != std::string::npos; },
                      seconds(60)))
      << Events("vm/web01");
  ASSERT_FALSE(has("s3")) << "s3 was taken before the restart: the test cannot tell s2 apart";
  ASSERT_TRUE(WaitFor([&] { return has("s3") && !has("s1"); }, seconds(100)))
      << Cli({"snapshots", "web01"}).out << Events("vm/web01");
  EXPECT_EQ(snapshots(), (std::vector<std::string>{"s2", "s3"}));
  // The record drops s1 before the event is written: wait for it, do not race it.
  EXPECT_TRUE(WaitFor([&] { return Events("vm/web01").find("SnapshotPruned") != std::string::npos; },
                      seconds(10)))
      << Events("vm/web01");
  EXPECT_TRUE(Answers("web01")) << "the guest ran on through the commit";

  // The pool: the kept layers and the top, chained down to the base image.
  const json status = GetJson("vm", "web01")["status"];
  std::set<std::string> expected = {status["disks"][0].value("volume", "")};
  for (const auto& r : status["snapshots"]) expected.insert(r["layers"][0].value("volume", ""));
  std::set<std::string> files;
  for (const auto& entry : fs::directory_iterator(fleet_.PoolDir("shared"))) {
    files.insert(entry.path().filename().string());
  }
  EXPECT_EQ(files, expected) << status.dump(2);
  EXPECT_EQ(files.size(), 3u);
  std::string path = status["disks"][0].value("path", "");
  providers::QemuImg qemu_img;
  for (int depth = 0; depth < 3; ++depth) {
    auto info = qemu_img.Info(path);
    ASSERT_TRUE(info.ok()) << path << ": " << info.status().ToString();
    path = info->backing_path;
  }
  EXPECT_EQ(path, (GuestDir() / "base.raw").string()) << "the top's chain is not whole";

  auto asked = Cli({"rollback", "web01", "--to", "s2"});
  ASSERT_EQ(asked.exit_code, 0) << asked.out << asked.err;
  ASSERT_TRUE(WaitFor([&] { return !Answers("web01"); }, seconds(30))) << "not powered off";
  ASSERT_TRUE(WaitFor([&] { return Answers("web01"); }, seconds(90))) << Events("vm/web01");
  EXPECT_THAT(Answer("web01"), ::testing::HasSubstr("gen=1")) << "not s2's state";
}

// A management-only outage (libvirtd hung, the guest serving its users) is not a host
// failure: ManagementUnreachable, no fence, the guest answers throughout. The moment the guest
// stops answering its probe (its QEMU stopped) the host is fenced and the VM moved: with no
// management plane, a failover is the only restart there is.
TEST_F(QemuFailoverTest, AHungLibvirtdWithAHealthyGuestIsNotFencedUntilTheGuestStopsAnswering) {
  ASSERT_TRUE(StartDaemon()) << daemon_.Log();
  ApplyAndWaitAnswering("ok", {"web01"});
  std::vector<int> before = fleet_.GuestPids("web01");
  ASSERT_EQ(before.size(), 1u);

  ASSERT_EQ(HostCtl({"stop", "1"}).exit_code, 0);
  ASSERT_TRUE(WaitWatchingDoubles(
      [&] { return Condition("host", "hv01", "ManagementUnreachable") == "True/GuestsAnswer"; },
      seconds(60)))
      << Condition("host", "hv01", "ManagementUnreachable") << "\n" << Events("host/hv01");
  // For 10 s more: never fenced, never moved, and the guest answers at every look.
  bool answered_throughout = true;
  EXPECT_FALSE(WaitWatchingDoubles(
      [&] {
        answered_throughout = answered_throughout && Answers("web01");
        return FenceOffCalls("hv01") > 0 || HostOf("web01") != "hv01";
      },
      seconds(10)))
      << "fenced or moved while its guest answered:\n" << FenceCalls() << Events("host/hv01");
  EXPECT_TRUE(answered_throughout);
  EXPECT_EQ(fleet_.GuestPids("web01"), before);
  EXPECT_THAT(Events("host/hv01"), ::testing::HasSubstr("ManagementUnreachable"));
  EXPECT_EQ(Condition("vm", "web01", "Ready"), "True/ManagementUnreachable");
  auto metrics = HttpRequest(std::stoi(daemon_.server().substr(daemon_.server().rfind(':') + 1)),
                             "GET", "/metrics");
  EXPECT_THAT(metrics.body,
              ::testing::HasSubstr("vmkeeper_host_management_unreachable{host=\"hv01\"} 1"));

  // The guest stops answering: fenced, moved, answering again from another host, never twice.
  ASSERT_EQ(kill(before[0], SIGSTOP), 0);
  ASSERT_TRUE(WaitWatchingDoubles(
      [&] {
        auto pids = fleet_.GuestPids("web01");
        return HostOf("web01") != "hv01" && pids.size() == 1 && pids != before && Answers("web01");
      },
      seconds(150)))
      << "web01 not moved; host=" << HostOf("web01") << "\nhv01 events:\n" << Events("host/hv01");
  EXPECT_LE(max_guests_, 1u) << "web01 ran as two guests at once";
  EXPECT_GE(FenceOffCalls("hv01"), 1) << FenceCalls();
  EXPECT_EQ(Condition("host", "hv01", "Fenced"), "True/FenceAgent");
  EXPECT_THAT(Events("host/hv01"), ::testing::HasSubstr("VM(s) there fail their probes"));
  EXPECT_THAT(Answer("web01"), ::testing::HasSubstr("gen=1"));
}

// libvirtd restarted under running guests (a package upgrade), at once and with a 10 s gap (a
// slow restart): never fenced, never moved, the guest answers at every look.
TEST_F(QemuFailoverTest, ALibvirtdRestartNeverFencesNorMovesItsGuests) {
  ASSERT_TRUE(StartDaemon()) << daemon_.Log();
  ApplyAndWaitAnswering("ok", {"web01"});
  const std::vector<int> before = fleet_.GuestPids("web01");
  ASSERT_EQ(before.size(), 1u);
  for (const char* gap : {"0", "10"}) {
    SCOPED_TRACE(std::string("restart with a gap of ") + gap + " s");
    int looks = 0;
    int answered = 0;
    // The restart runs while the guest is looked at (and answers) all along.
    std::atomic<bool> restarted{false};
    int restart_exit = -1;
    std::thread restart([&] {
      restart_exit = HostCtl({"restart", "1", gap}).exit_code;
      restarted = true;
    });
    EXPECT_TRUE(WaitWatchingDoubles(
        [&] {
          ++looks;
          if (Answers("web01")) ++answered;
          return restarted && Condition("host", "hv01", "Ready") == "True/Connected";
        },
        seconds(90)))
        << Condition("host", "hv01", "Ready") << "\n" << Events("host/hv01");
    restart.join();
    EXPECT_EQ(restart_exit, 0);
    EXPECT_EQ(answered, looks) << "the guest stopped answering during the restart";
    EXPECT_EQ(FenceOffCalls("hv01"), 0) << FenceCalls();
    EXPECT_EQ(HostOf("web01"), "hv01");
    EXPECT_EQ(fleet_.GuestPids("web01"), before);
    EXPECT_TRUE(WaitFor([&] { return Condition("vm", "web01", "Ready") == "True/Running"; },
                        seconds(60)));
  }
  EXPECT_THAT(Events("host/hv01"), ::testing::HasSubstr("ManagementUnreachable"))
      << "the 10 s restart outlasted the heartbeats' threshold";
  EXPECT_THAT(Events("host/hv01"), ::testing::Not(::testing::HasSubstr("HostFailed")));
  EXPECT_LE(max_guests_, 1u);
}

// A frozen host (libvirtd and its guests' QEMU stopped): no channel answers, so it is fenced and
// its VM started elsewhere; never two guests.
TEST_F(QemuFailoverTest, AFrozenHostIsFencedBeforeItsVmMovesAndNoVmRunsTwice) {
  ASSERT_TRUE(StartDaemon()) << daemon_.Log();
  ApplyAndWaitAnswering("ok", {"web01"});
  std::vector<int> before = fleet_.GuestPids("web01");
  ASSERT_EQ(before.size(), 1u);

  ASSERT_EQ(HostCtl({"freeze", "1"}).exit_code, 0);
  EXPECT_FALSE(Answers("web01"));
  ASSERT_TRUE(WaitWatchingDoubles(
      [&] {
        auto pids = fleet_.GuestPids("web01");
        return HostOf("web01") != "hv01" && pids.size() == 1 && pids != before && Answers("web01");
      },
      seconds(150)))
      << "web01 not moved; host=" << HostOf("web01") << " guests=" << fleet_.GuestPids("web01").size()
      << "\nhv01 events:\n" << Events("host/hv01");
  EXPECT_LE(max_guests_, 1u) << "web01 ran as two guests at once";
  EXPECT_GE(FenceOffCalls("hv01"), 1) << FenceCalls();
  EXPECT_EQ(Condition("host", "hv01", "Fenced"), "True/FenceAgent");
  EXPECT_THAT(Events("host/hv01"), ::testing::HasSubstr("probed VMs fail their probes"));
  EXPECT_THAT(Answer("web01"), ::testing::HasSubstr("gen=1"));
}

TEST_F(QemuFailoverTest, WhenFencingFailsNothingFailsOver) {
  ASSERT_TRUE(StartDaemon()) << daemon_.Log();
  ApplyAndWaitAnswering("fail", {"web01"});
  std::vector<int> before = fleet_.GuestPids("web01");
  ASSERT_EQ(before.size(), 1u);

  // No channel answers (libvirtd hung, the guest stopped): the host is taken for failed.
  ASSERT_EQ(HostCtl({"stop", "1"}).exit_code, 0);
  ASSERT_EQ(kill(before[0], SIGSTOP), 0);
  ASSERT_TRUE(WaitWatchingDoubles(
      [&] { return Condition("host", "hv01", "Fenced") == "False/FencingFailed"; }, seconds(120)))
      << Condition("host", "hv01", "Fenced") << "\n" << Events("host/hv01");
  EXPECT_THAT(Events("host/hv01"), ::testing::HasSubstr("FencingFailed"));
  auto metrics = HttpRequest(std::stoi(daemon_.server().substr(daemon_.server().rfind(':') + 1)), "GET",
                             "/metrics");
  EXPECT_THAT(metrics.body, ::testing::HasSubstr("vmkeeper_fencing_total{host=\"hv01\",result=\"failure\"}"));
  // Retried with backoff, still nothing moves: the same guest stays on hv01.
  ASSERT_TRUE(WaitWatchingDoubles([&] { return FenceOffCalls("hv01") >= 2; }, seconds(60)))
      << "fencing was not retried:\n" << FenceCalls();
  EXPECT_EQ(HostOf("web01"), "hv01");
  EXPECT_EQ(fleet_.GuestPids("web01"), before);
  EXPECT_LE(max_guests_, 1u);
  // The guest wakes up: it answers from where it always ran.
  ASSERT_EQ(kill(before[0], SIGCONT), 0);
  EXPECT_TRUE(WaitFor([&] { return Answers("web01"); }, seconds(30)));
  EXPECT_EQ(HostOf("web01"), "hv01");
}

TEST_F(QemuFailoverTest, AKilledGuestIsRestartedOnItsHost) {
  ASSERT_TRUE(StartDaemon()) << daemon_.Log();
  ApplyAndWaitAnswering("ok", {"web01"});
  auto pids = fleet_.GuestPids("web01");
  ASSERT_EQ(pids.size(), 1u);
  ASSERT_EQ(kill(pids[0], SIGKILL), 0);

  ASSERT_TRUE(WaitWatchingDoubles([&] { return Answer("web01").find("gen=1") != std::string::npos; },
                                  seconds(120)))
      << "not restarted\n" << Events("vm/web01");
  EXPECT_EQ(HostOf("web01"), "hv01");
  EXPECT_GE(GetJson("vm", "web01").value("status", json::object()).value("restartCount", 0), 1);
  EXPECT_THAT(Events("vm/web01"), ::testing::HasSubstr("Restarted"));
  EXPECT_TRUE(WaitFor([&] { return Condition("vm", "web01", "Ready") == "True/Running"; }, seconds(60)));
  EXPECT_LE(max_guests_, 1u);
}

TEST_F(QemuFailoverTest, AlertmanagersHostDownAlertJoinsTheOneIncidentOfTheFailure) {
  ASSERT_TRUE(StartDaemon()) << daemon_.Log();
  ApplyAndWaitAnswering("ok", {"web01"});

  // A real Alertmanager that sends its notifications to vmkeeperd and repeats them every second.
  AlertmanagerProcess alertmanager(scratch_.path() / "alertmanager");
  ASSERT_TRUE(alertmanager.Start(
      "route:\n  receiver: vmkeeper\n  group_by: [alertname, vmkeeper_host]\n"
      "  group_wait: 0s\n  group_interval: 1s\n  repeat_interval: 1s\n"
      "receivers:\n- name: vmkeeper\n  webhook_configs:\n  - url: " + daemon_.server() +
      "/api/v1/alerts\n    send_resolved: true\n"))
      << alertmanager.Log();

  ASSERT_EQ(HostCtl({"kill", "1"}).exit_code, 0);
  const std::string alert =
      "[{\"labels\":{\"alertname\":\"HostDown\",\"vmkeeper_host\":\"hv01\",\"severity\":\"critical\"},"
      "\"annotations\":{\"summary\":\"hv01 is down\"},\"startsAt\":\"" + AlertTimeNow() + "\"}]";
  auto posted = alertmanager.PostAlerts(alert);
  ASSERT_EQ(posted.status, 200) << posted.body;

  ASSERT_TRUE(WaitWatchingDoubles([&] { return HostOf("web01") != "hv01" && Answers("web01"); }, seconds(120)))
      << "no failover; hv01 events:\n" << Events("host/hv01");
  EXPECT_THAT(Events("host/hv01"), ::testing::HasSubstr("AlertFiring"));
  // Alertmanager kept re-sending (repeat_interval 1s)...
  ASSERT_TRUE(WaitFor([&] {
    return alertmanager.Metric("alertmanager_notifications_total{integration=\"webhook\"}") >= 3;
  }, seconds(30))) << "Alertmanager did not re-send";
  // ... and heartbeats, the close of the connection and every re-sent alert are one incident.
  auto host_incidents = Incidents("host/hv01");
  ASSERT_EQ(host_incidents.size(), 1u) << host_incidents.dump(2);
  auto sources = host_incidents[0].value("sources", std::vector<std::string>{});
  EXPECT_THAT(sources, ::testing::Contains("alert")) << host_incidents.dump(2);
  EXPECT_EQ(Incidents("vm/web01").size(), 1u) << Incidents("vm/web01").dump(2);
  EXPECT_LE(max_guests_, 1u);
}

}  // namespace
}  // namespace vmk::e2e
