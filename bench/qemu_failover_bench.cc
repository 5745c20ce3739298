// qemu_failover_bench: host failure -> VM answering again on another host, on real QEMU guests
// (software emulation) and three libvirtd hosts, with vmkeeperd's default heartbeat settings
// (1 s x 3, 500 ms timeout) and the test fence agent. Each run starts everything afresh, boots
// one guest per host (so every host has started QEMU before: a warm host, as in production),
// fails the host of web01 (--fault kill: SIGKILL to its namespace; freeze: SIGSTOP of libvirtd
// and the guests' QEMU) and splits the time until web01 answers HTTP again into:
//   detection   fault -> HostFailed event (the decision: fast path or the heartbeats' verdict)
//   fencing     HostFailed -> HostFenced (the agent run)
//   scheduling  HostFenced -> FailedOver event of the VM (placed on a new host)
//   start       FailedOver -> Started event (define + start on the new host)
//   boot        Started -> first HTTP 200 from the guest
// Event times come from vmkeeperd's JSON log (ms); kill and answer times from this process's
// wall clock. Prints one row per run, the medians, and a JSON line. Needs root.
// --storage: web01's disk is an image file (image), a volume in a pool every host mounts
// (volume), or such a volume under a policy with beforeFailover, whose crash state is frozen
// before it starts elsewhere (snapshot): the difference is what that snapshot costs.
// --fault restart: libvirtd of web01's host is restarted with a 10 s gap (its guests keep
// running); web01 is asked over HTTP every 100 ms from the restart until the host is Ready
// again, and the run reports the answered ratio and whether anything was fenced (it must not).
//
//   qemu_failover_bench [--runs N] [--storage image|volume|snapshot] [--fault kill|freeze|restart]
#include <time.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>

#include "bench/bench_util.h"
#include "common/rfc3339.h"
#include "tests/e2e/qemu_fleet.h"

namespace vmk::e2e {
namespace {

using Clock = std::chrono::system_clock;

double MsSinceEpoch(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(t.time_since_epoch()).count();
}

// "2026-11-27T16:51:18.447Z" -> ms since the epoch.
std::optional<double> ParseTs(const std::string& ts) {
  WallTime t;
  if (!ParseRfc3339(ts, &t)) return std::nullopt;
  return MsSinceEpoch(t);
}

// Times of the events `reason` about `object` logged at or after `after_ms`, oldest first.
std::vector<double> EventTimes(const std::string& log, const std::string& object,
                               const std::string& reason, double after_ms) {
  std::vector<double> times;
  std::istringstream lines(log);
  std::string line;
  while (std::getline(lines, line)) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object()) continue;
    if (j.value("event", "") != reason || j.value("object", "") != object) continue;
    auto t = ParseTs(j.value("ts", ""));
    // Log times have ms resolution: allow the fault's own millisecond.
    if (t && *t >= after_ms - 1) times.push_back(*t);
  }
  return times;
}

std::optional<double> EventTime(const std::string& log, const std::string& object,
                                const std::string& reason, double after_ms) {
  auto times = EventTimes(log, object, reason, after_ms);
  if (times.empty()) return std::nullopt;
  return times.front();
}

struct Run {
  double detection = 0, fencing = 0, scheduling = 0, start = 0, boot = 0;
  int asked = 0, answered = 0, fences = 0;  // --fault restart
  double to_started() const { return detection + fencing + scheduling + start; }
  double total() const { return to_started() + boot; }
};

std::optional<Run> OneRun(int index, const std::string& storage, const std::string& fault,
                          std::string* error) {
  ScratchDir scratch("qemu-bench-" + std::to_string(index));
  QemuFleet fleet(scratch.path());
  if (auto e = fleet.StartHosts(3); !e.empty()) return *error = e, std::nullopt;
  std::string web01 = fleet.VmManifest("web01", "hv01", storage == "image" ? "" : "shared");
  std::string storage_yaml;
  if (storage != "image") {
    if (auto e = fleet.DefinePool("shared"); !e.empty()) return *error = e, std::nullopt;
    storage_yaml = fleet.PoolManifest("shared") +
                   "apiVersion: vmkeeper/v1\nkind: SnapshotPolicy\nmetadata: {name: p}\n"
                   "spec: {intervalSeconds: 86400, beforeFailover: " +
                   (storage == "snapshot" ? "true" : "false") + "}\n---\n";
    web01.insert(web01.rfind("---"), "  snapshotPolicy: p\n");
  }
  Daemon daemon(scratch.path() / "state");
  if (!daemon.Start({"--fence-agent-dir", SourceDir() + "/tests/e2e"})) {
    return *error = "vmkeeperd did not start: " + daemon.Log(), std::nullopt;
  }
  std::string yaml = fleet.HostManifests("ok") + storage_yaml + web01 +
                     fleet.VmManifest("warm02", "hv02") + fleet.VmManifest("warm03", "hv03");
  WriteFile(scratch.path() / "fleet.yaml", yaml);
  auto applied = RunCommand({BinDir() + "/vmkeeper", "--server", daemon.server(), "apply", "-f",
                             (scratch.path() / "fleet.yaml").string()},
                            scratch.path());
  if (applied.exit_code != 0) return *error = "apply: " + applied.err, std::nullopt;
  for (const auto& vm : fleet.vms()) {
    if (!WaitFor([&] { return fleet.Answers(vm); }, std::chrono::seconds(120))) {
      return *error = vm + " never answered", std::nullopt;
    }
  }
  // Start from a settled fleet: every VM Ready (its probe passed) in vmkeeper's status.
  auto ready = [&](const std::string& vm) {
    auto r = RunCommand({BinDir() + "/vmkeeper", "--server", daemon.server(), "get", "vm", vm, "-o", "json"},
                        scratch.path());
    auto j = nlohmann::json::parse(r.out, nullptr, false);
    if (j.is_discarded()) return false;
    for (const auto& c : j.value("status", nlohmann::json::object()).value("conditions", nlohmann::json::array())) {
      if (c.value("type", "") == "Ready") return c.value("status", "") == "True";
    }
    return false;
  };
  for (const auto& vm : fleet.vms()) {
    if (!WaitFor([&] { return ready(vm); }, std::chrono::seconds(60))) {
      return *error = vm + " never Ready", std::nullopt;
    }
  }

  if (fault == "restart") {
    const double began = MsSinceEpoch(Clock::now());
    std::atomic<bool> restarted{false};
    int restart_exit = -1;
    std::thread restart([&] {
      restart_exit = fleet.HostCtl({"restart", "1", "10"}).exit_code;
      restarted = true;
    });
    Run r;
    auto host_ready = [&] {
      auto g = RunCommand({BinDir() + "/vmkeeper", "--server", daemon.server(), "get", "host",
                           "hv01", "-o", "json"},
                          scratch.path());
      return g.out.find("\"Connected\"") != std::string::npos;
    };
    bool ready_again = WaitFor(
        [&] {
          ++r.asked;
          if (fleet.Answers("web01")) ++r.answered;
          std::this_thread::sleep_for(std::chrono::milliseconds(100));  // the asking rate
          return restarted && host_ready();
        },
        std::chrono::seconds(120));
    restart.join();
    if (restart_exit != 0 || !ready_again) {
      return *error = "the host did not come back\n" + daemon.Log(), std::nullopt;
    }
    r.fences = static_cast<int>(EventTimes(daemon.Log(), "Host/hv01", "HostFenced", began).size());
    daemon.Kill();
    return r;
  }

  const double killed = MsSinceEpoch(Clock::now());
  if (fleet.HostCtl({fault, "1"}).exit_code != 0) return *error = fault + " failed", std::nullopt;
  // The old guest dies (or freezes) with its host; wait for the new one.
  WaitFor([&] { return !fleet.Answers("web01"); }, std::chrono::seconds(5));
  if (!WaitFor([&] { return fleet.Answers("web01"); }, std::chrono::seconds(120))) {
    return *error = "web01 never answered again\n" + daemon.Log(), std::nullopt;
  }
  const double answered = MsSinceEpoch(Clock::now());

  const std::string log = daemon.Log();
  auto not_ready = EventTime(log, "Host/hv01", "HostFailed", killed);
  auto fenced = EventTime(log, "Host/hv01", "HostFenced", killed);
  auto failed_over = EventTime(log, "VirtualMachine/web01", "FailedOver", killed);
  auto started = EventTime(log, "VirtualMachine/web01", "Started", killed);
  if (!not_ready || !fenced || !failed_over || !started) {
    return *error = "missing events in the log", std::nullopt;
  }
  Run r;
  r.detection = *not_ready - killed;
  r.fencing = *fenced - *not_ready;
  r.scheduling = *failed_over - *fenced;
  r.start = *started - *failed_over;
  r.boot = answered - *started;
  daemon.Kill();
  return r;
}

int Main(int argc, char** argv) {
  int runs = 5;
  std::string storage = "image";
  std::string fault = "kill";
  CLI::App app{"qemu_failover_bench: host crash to VM answering elsewhere, on real QEMU guests"};
  app.add_option("--runs", runs, "host crashes measured")->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--storage", storage, "web01's disk: image | volume | snapshot")
      ->capture_default_str()
      ->check(CLI::IsMember({"image", "volume", "snapshot"}));
  app.add_option("--fault", fault, "what happens to web01's host: kill | freeze | restart")
      ->capture_default_str()
      ->check(CLI::IsMember({"kill", "freeze", "restart"}));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  if (geteuid() != 0) {
    std::cerr << "qemu_failover_bench needs root (libvirtd hosts in namespaces)\n";
    return 2;
  }
  ScratchDir build_scratch("qemu-bench-build");
  if (auto e = BuildGuest(build_scratch.path()); !e.empty()) {
    std::cerr << e << "\n";
    return 1;
  }
  std::vector<Run> results;
  if (fault == "restart") {
    std::printf("%-4s %8s %9s %7s\n", "run", "asked", "answered", "fences");
    int asked = 0, answered = 0, fences = 0;
    for (int i = 0; i < runs; ++i) {
      std::string error;
      auto r = OneRun(i, storage, fault, &error);
      if (!r) {
        std::cerr << "run " << i << " failed: " << error.substr(0, 4000) << "\n";
        return 1;
      }
      std::printf("%-4d %8d %9d %7d\n", i, r->asked, r->answered, r->fences);
      std::fflush(stdout);
      asked += r->asked;
      answered += r->answered;
      fences += r->fences;
    }
    nlohmann::json summary = {{"runs", runs},
                              {"fault", fault},
                              {"asked", asked},
                              {"answered", answered},
                              {"answered_ratio", asked ? double(answered) / asked : 0.0},
                              {"fences", fences}};
    std::cout << summary.dump() << "\n";
    return fences == 0 ? 0 : 1;
  }
  std::printf("%-4s %10s %9s %11s %8s %8s %12s %8s   (ms)\n", "run", "detection", "fencing",
              "scheduling", "start", "boot", "to-started", "total");
  for (int i = 0; i < runs; ++i) {
    std::string error;
    auto r = OneRun(i, storage, fault, &error);
    if (!r) {
      std::cerr << "run " << i << " failed: " << error.substr(0, 4000) << "\n";
      return 1;
    }
    results.push_back(*r);
    std::printf("%-4d %10.0f %9.0f %11.0f %8.0f %8.0f %12.0f %8.0f\n", i, r->detection, r->fencing,
                r->scheduling, r->start, r->boot, r->to_started(), r->total());
    std::fflush(stdout);
  }
  auto median = [&](double (*field)(const Run&)) {
    std::vector<double> v;
    for (const auto& r : results) v.push_back(field(r));
    return bench::Summarize(v).median;
  };
  nlohmann::json summary = {
      {"runs", runs},
      {"storage", storage},
      {"fault", fault},
      {"detection_ms", median([](const Run& r) { return r.detection; })},
      {"fencing_ms", median([](const Run& r) { return r.fencing; })},
      {"scheduling_ms", median([](const Run& r) { return r.scheduling; })},
      {"start_ms", median([](const Run& r) { return r.start; })},
      {"boot_ms", median([](const Run& r) { return r.boot; })},
      {"crash_to_started_ms", median([](const Run& r) { return r.to_started(); })},
      {"crash_to_answering_ms", median([](const Run& r) { return r.total(); })},
  };
  std::printf("%-4s %10.0f %9.0f %11.0f %8.0f %8.0f %12.0f %8.0f\n", "med",
              summary["detection_ms"].get<double>(), summary["fencing_ms"].get<double>(),
              summary["scheduling_ms"].get<double>(), summary["start_ms"].get<double>(),
              summary["boot_ms"].get<double>(), summary["crash_to_started_ms"].get<double>(),
              summary["crash_to_answering_ms"].get<double>());
  std::cout << summary.dump() << "\n";
  return 0;
}

}  // namespace
}  // namespace vmk::e2e

int main(int argc, char** argv) { return vmk::e2e::Main(argc, argv); }
