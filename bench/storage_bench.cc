// storage_bench: the storage edge on a real QEMU guest (software emulation) and a libvirtd host
// (the e2e harness), with a dir pool in a scratch directory:
//   snapshot      Hypervisor::SnapshotDisks on the running, idle guest: the call's time, and the
//                 guest's pause as its HTTP server sees it (the slowest answer of a request loop
//                 running during the call, against the slowest answer of the same loop before)
//   space         the size on disk of each frozen layer of the idle guest, one second apart
//   restore+boot  destroy, a new top over the first frozen layer, define, start, first HTTP 200
// Prints one row per snapshot, the medians, and a JSON line. Needs root.
//
//   storage_bench [--snapshots N]
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <thread>

#include <CLI/CLI.hpp>

#include "bench/bench_util.h"
#include "providers/hypervisor/libvirt/libvirt_hypervisor.h"
#include "tests/e2e/qemu_fleet.h"

namespace vmk::e2e {
namespace {

using providers::DomainConfig;
using providers::ImageFormat;
using providers::InterfaceConfig;
using Steady = std::chrono::steady_clock;

double MsBetween(Steady::time_point a, Steady::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

// Blocks actually allocated to a file (what it costs in the pool), in KiB.
double AllocatedKiB(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return -1;
  return static_cast<double>(st.st_blocks) * 512 / 1024;
}

// Requests / until stopped; keeps the slowest answer's time.
class AnswerLoop {
 public:
  explicit AnswerLoop(int port) : port_(port), thread_([this] { Run(); }) {}
  ~AnswerLoop() { Stop(); }
  double Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    return slowest_ms_;
  }

 private:
  void Run() {
    while (!stop_) {
      auto t0 = Steady::now();
      HttpRequest(port_, "GET", "/", "", std::chrono::milliseconds(2000));
      slowest_ms_ = std::max(slowest_ms_, MsBetween(t0, Steady::now()));
    }
  }
  int port_;
  std::atomic<bool> stop_{false};
  double slowest_ms_ = 0;  // written by the loop, read after join
  std::thread thread_;
};

struct Setup {
  fs::path pool_dir;
  int port = 0;
  std::unique_ptr<providers::LibvirtHypervisor> hv;
  std::shared_ptr<providers::StoragePool> pool;
};

DomainConfig Guest(const Setup& s, const fs::path& scratch, const std::string& volume) {
  DomainConfig c;
  c.name = "bench1";
  c.cpus = 1;
  c.memoryMiB = 192;
  c.generation = 1;
  c.disks = {{"root", (s.pool_dir / volume).string(), "vda", ImageFormat::kQcow2}};
  c.boot = {(GuestDir() / "vmlinux").string(), (GuestDir() / "initramfs.cpio.gz").string(),
            "console=ttyS0 quiet panic=-1 vmname=bench1"};
  c.console_log_file = (scratch / "bench1.serial.log").string();
  c.interfaces = {{"net0", InterfaceConfig::Type::kUser, "", {{"127.0.0.1", s.port, 80}}}};
  return c;
}

bool Answers(int port) {
  return HttpRequest(port, "GET", "/", "", std::chrono::milliseconds(500)).status == 200;
}

int Main(int argc, char** argv) {
  int snapshots = 10;
  CLI::App app{"storage_bench: snapshots, space and restore on a real QEMU guest"};
  app.add_option("--snapshots", snapshots, "snapshots of the running guest")
      ->capture_default_str()
      ->check(CLI::Range(2, 1000));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  if (geteuid() != 0) {
    std::cerr << "storage_bench needs root (a libvirtd host in namespaces)\n";
    return 2;
  }
  ScratchDir build_scratch("storage-bench-build");
  if (auto e = BuildGuest(build_scratch.path()); !e.empty()) {
    std::cerr << e << "\n";
    return 1;
  }
  ScratchDir scratch("storage-bench");
  QemuFleet fleet(scratch.path());
  if (auto e = fleet.StartHosts(1); !e.empty()) {
    std::cerr << e << "\n";
    return 1;
  }
  Setup s;
  if (auto e = fleet.DefinePool("shared"); !e.empty()) return std::cerr << e << "\n", 1;
  s.pool_dir = fleet.PoolDir("shared");
  s.hv = std::make_unique<providers::LibvirtHypervisor>("hv01", fleet.uri(1),
                                                        providers::ConnectOptions{},
                                                        RealClock::Get());
  if (!s.hv->Connect().ok()) return std::cerr << "connect failed\n", 1;
  s.pool = s.hv->OpenStoragePool("shared");
  s.port = FreePort();
  const std::string base = (GuestDir() / "base.raw").string();
  if (!s.pool->CreateVolume({"root.0", base, ImageFormat::kRaw, 0}).ok() ||
      !s.hv->DefineDomain(Guest(s, scratch.path(), "root.0")).ok() ||
      !s.hv->StartDomain("bench1").ok() ||
      !WaitFor([&] { return Answers(s.port); }, std::chrono::seconds(120))) {
    std::cerr << "the guest did not come up\n";
    return 1;
  }

  std::vector<double> call_ms, pause_ms, baseline_ms, layer_kib;
  std::printf("%-4s %9s %14s %16s %14s\n", "snap", "call(ms)", "slowest(ms)", "baseline(ms)",
              "layer(KiB)");
  for (int i = 1; i <= snapshots; ++i) {
    std::this_thread::sleep_for(std::chrono::seconds(1));  // the idle interval being measured
    double baseline;
    {
      AnswerLoop before(s.port);
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
      baseline = before.Stop();
    }
    AnswerLoop during(s.port);
    auto t0 = Steady::now();
    Status st = s.hv->SnapshotDisks(
        "bench1", {{"vda", (s.pool_dir / ("root." + std::to_string(i))).string()}});
    double call = MsBetween(t0, Steady::now());
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // answers queued in the pause
    double slowest = during.Stop();
    if (!st.ok()) return std::cerr << st.ToString() << "\n", 1;
    double kib = AllocatedKiB((s.pool_dir / ("root." + std::to_string(i - 1))).string());
    call_ms.push_back(call);
    pause_ms.push_back(slowest);
    baseline_ms.push_back(baseline);
    if (i > 1) layer_kib.push_back(kib);  // root.0 also holds the first boot's writes
    std::printf("%-4d %9.1f %14.1f %16.1f %14.0f\n", i, call, slowest, baseline, kib);
  }

  // Restore + boot: the first frozen layer under a new top.
  auto t0 = Steady::now();
  if (!s.hv->DestroyDomain("bench1").ok()) return std::cerr << "destroy failed\n", 1;
  WaitFor([&] { return fleet.GuestPids("bench1").empty(); }, std::chrono::seconds(20));
  if (!s.pool->CreateVolume({"restored", (s.pool_dir / "root.1").string(), ImageFormat::kQcow2, 0})
           .ok() ||
      !s.hv->DefineDomain(Guest(s, scratch.path(), "restored")).ok() ||
      !s.hv->StartDomain("bench1").ok()) {
    return std::cerr << "restore failed\n", 1;
  }
  auto started = Steady::now();
  if (!WaitFor([&] { return Answers(s.port); }, std::chrono::seconds(120))) {
    return std::cerr << "the restored guest did not answer\n", 1;
  }
  double restore_ms = MsBetween(t0, started);
  double restore_boot_ms = MsBetween(t0, Steady::now());

  auto med = [](const std::vector<double>& v) { return bench::Summarize(v).median; };
  auto max = [](const std::vector<double>& v) { return *std::max_element(v.begin(), v.end()); };
  nlohmann::json summary = {
      {"snapshots", snapshots},
      {"snapshot_call_ms_median", med(call_ms)},
      {"snapshot_call_ms_max", max(call_ms)},
      {"slowest_answer_during_snapshot_ms_median", med(pause_ms)},
      {"slowest_answer_baseline_ms_median", med(baseline_ms)},
      {"idle_layer_kib_median", med(layer_kib)},
      {"restore_to_started_ms", restore_ms},
      {"restore_to_answering_ms", restore_boot_ms},
  };
  std::printf("med  %9.1f %14.1f %16.1f %14.0f\n", med(call_ms), med(pause_ms), med(baseline_ms),
              med(layer_kib));
  std::printf("restore: %.0f ms to started, %.0f ms to answering\n", restore_ms, restore_boot_ms);
  std::cout << summary.dump() << "\n";
  s.pool.reset();
  s.hv.reset();
  fleet.StopAll();
  return 0;
}

}  // namespace
}  // namespace vmk::e2e

int main(int argc, char** argv) { return vmk::e2e::Main(argc, argv); }
