// End to end: vmkeeperd SIGKILLed at different moments of an apply, then restarted over the same
// store, converges with every object present once and every VM defined on exactly one host.
// The hosts are libvirtd processes (libvirt's test driver served over their sockets, see
// libvirt_hosts.sh) so that they outlive the killed controller. Needs root (namespaces).
#include <iostream>
#include <set>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/e2e/daemon_harness.h"

namespace vmk::e2e {
namespace {

constexpr int kHosts = 3;
constexpr int kVms = 40;

class CrashRestartTest : public ::testing::Test {
 protected:
  CrashRestartTest() : scratch_("crash") {}

  void SetUp() override {
    ASSERT_EQ(geteuid(), 0u) << "this test runs libvirtd hosts in namespaces and needs root";
    hosts_base_ = scratch_.path() / "hosts";
    for (int h = 1; h <= kHosts; ++h) {
      auto r = HostCtl({"start", std::to_string(h)});
      ASSERT_EQ(r.exit_code, 0) << r.err;
      uris_.push_back(HostCtl({"uri", std::to_string(h)}).out);
      while (!uris_.back().empty() && uris_.back().back() == '\n') uris_.back().pop_back();
    }
  }
  void TearDown() override { HostCtl({"stop-all"}); }

  CommandResult HostCtl(const std::vector<std::string>& args) {
    return LibvirtHosts(hosts_base_, scratch_.path(), args);
  }

  fs::path WriteManifests() {
    std::string yaml;
    for (int h = 1; h <= kHosts; ++h) {
      yaml += "apiVersion: vmkeeper/v1\nkind: Host\nmetadata: {name: hv0" + std::to_string(h) +
              "}\nspec: {uri: \"" + uris_[h - 1] + "\", capacity: {cpus: 64, memoryMiB: 262144}}\n---\n";
    }
    for (int v = 0; v < kVms; ++v) {
      std::string name = "svc" + std::to_string(v);
      yaml += "apiVersion: vmkeeper/v1\nkind: VirtualMachine\nmetadata: {name: " + name +
              "}\nspec:\n  cpus: 1\n  memoryMiB: 512\n  disks: [{name: root, image: /img/" + name +
              ".qcow2, format: qcow2}]\n---\n";
    }
    fs::path file = scratch_.path() / "fleet.yaml";
    WriteFile(file, yaml);
    return file;
  }

  CommandResult Cli(const Daemon& d, std::vector<std::string> args) {
    args.insert(args.begin(), {BinDir() + "/vmkeeper", "--server", d.server()});
    return RunCommand(args, scratch_.path());
  }

  // Every VM with Ready=True, per `vmkeeper get vms -o json`.
  int ReadyVms(const Daemon& d) {
    auto r = Cli(d, {"get", "vms", "-o", "json"});
    if (r.exit_code != 0) return -1;
    auto json = nlohmann::json::parse(r.out, nullptr, false);
    if (json.is_discarded()) return -1;
    const auto& items = json.is_array() ? json : json.value("items", nlohmann::json::array());
    int ready = 0;
    for (const auto& vm : items) {
      if (!vm.is_object()) return -1;
      auto status = vm.value("status", nlohmann::json::object());
      if (!status.is_object()) continue;
      for (const auto& c : status.value("conditions", nlohmann::json::array())) {
        if (c.value("type", "") == "Ready" && c.value("status", "") == "True") ++ready;
      }
    }
    return ready;
  }

  // Domain name -> number of hosts that define it.
  std::map<std::string, int> DomainsOnHosts() {
    std::map<std::string, int> count;
    for (const auto& uri : uris_) {
      auto r = RunCommand({"/usr/bin/virsh", "-c", uri, "list", "--all", "--name"}, scratch_.path());
      EXPECT_EQ(r.exit_code, 0) << r.err;
      std::istringstream in(r.out);
      std::string name;
      while (std::getline(in, name)) {
        if (!name.empty() && name != "test") ++count[name];  // "test" is the driver's own
      }
    }
    return count;
  }

  ScratchDir scratch_;
  fs::path hosts_base_;
  std::vector<std::string> uris_;
};

TEST_F(CrashRestartTest, KilledAtAnyMomentOfAnApplyItConvergesWithNoDuplicateAndNothingLost) {
  const fs::path manifests = WriteManifests();
  // Kill moments after the apply starts: during the request, during the first defines, later.
  for (int delay_ms : {0, 15, 40, 120, 400}) {
    SCOPED_TRACE("killed " + std::to_string(delay_ms) + " ms into the apply");
    fs::path state = scratch_.path() / ("state-" + std::to_string(delay_ms));
    Daemon daemon(state);
    ASSERT_TRUE(daemon.Start()) << daemon.Log();
    CommandResult first;
    std::thread apply([&] { first = Cli(daemon, {"apply", "-f", manifests.string()}); });
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));  // the kill moment, not a sync
    daemon.Kill();
    apply.join();

    ASSERT_TRUE(daemon.Start()) << daemon.Log();
    auto again = Cli(daemon, {"apply", "-f", manifests.string()});
    ASSERT_EQ(again.exit_code, 0) << again.err;
    if (first.exit_code == 0) {
      // The first apply was acknowledged: everything it reported must be there, unchanged.
      EXPECT_THAT(again.out, ::testing::Not(::testing::HasSubstr("created"))) << again.out;
    }
    ASSERT_TRUE(WaitFor([&] { return ReadyVms(daemon) == kVms; }, std::chrono::seconds(60)))
        << "ready: " << ReadyVms(daemon) << "\n" << daemon.Log().substr(0, 4000);
    auto domains = DomainsOnHosts();
    EXPECT_EQ(domains.size(), static_cast<size_t>(kVms));
    for (const auto& [name, hosts] : domains) EXPECT_EQ(hosts, 1) << name << " defined twice";
    EXPECT_EQ(daemon.Terminate(), 0) << "SIGTERM must shut down cleanly";

    // The next round starts from empty hosts: restart them (same sockets, same URIs).
    auto created = [](const std::string& out) {
      size_t n = 0;
      for (size_t p = out.find(" created"); p != std::string::npos; p = out.find(" created", p + 1)) ++n;
      return n;
    };
    std::cout << "kill after " << delay_ms << " ms: first apply exit " << first.exit_code
              << ", objects created by the re-apply: " << created(again.out) << "\n";
    HostCtl({"stop-all"});
    for (int h = 1; h <= kHosts; ++h) {
      auto r = HostCtl({"start", std::to_string(h)});
      ASSERT_EQ(r.exit_code, 0) << r.err;
    }
  }
}

}  // namespace
}  // namespace vmk::e2e
