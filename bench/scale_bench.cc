// scale_bench: the production controller at fleet scale, end to end.
//
// Wiring as vmkeeperd has it: reconciler::Controller over a RocksDbStore in a temp dir, libvirt
// test-driver hosts (test:///embedded/NAME, each an independent in-memory host in this process)
// through LibvirtHypervisorFactory, and the real clock. The fleet (N hosts, M VMs of 1 CPU /
// 256 MiB / one disk) is generated in memory and applied through Controller::Apply, as the REST
// API would. The program measures, in this order:
//   1. apply -> all running: the Apply call, then until every VM's status says Ready=True;
//   2. one full resync pass with nothing to do: ResyncNow() until WaitIdle() (several passes);
//   3. drift: a domain destroyed through the host's own connection (behind the reconciler's
//      back) until that host shows it running again, and until its status counts the restart,
//      both from the start of the destroy call (see Drift()); then the same with a full resync
//      pass started just before the destroy (the controller busy when the failure happens);
//   4. peak RSS (getrusage ru_maxrss and /proc/self/status VmHWM) after convergence and at end;
//   6. per-VM metrics mode only (--metrics-scrapes N): N timed MetricsText() scrapes (what
//      GET /metrics serves) with their size and series, the heap the scrape leaves behind, a
//      separate metrics::VmMetrics filled like the fleet's (its heap and its own serialisation),
//      and Availability() over every VM (what `vmkeeper availability` asks);
//   5. storage mode only (--snapshot-vms N): N VMs on volume disks under a SnapshotPolicy, the
//      hosts wrapped in SlowStorageHypervisor (storage and snapshots in memory, each call taking
//      --storage-latency-ms). Each storm: the N snapshots come due (the policy's next interval,
//      or N manual requests at once), until every one is Taken; meanwhile a domain is destroyed
//      behind the controller's back (drift), and every heartbeat's time is recorded.
// It prints a table on stdout and, last, one line "JSON {...}" with every figure. Nothing is
// asserted: the figures go to bench/README.md. Exit code 1 only when the run itself could not be
// done (setup failure, invalid manifests, no convergence before --timeout-seconds).
//
// Single-threaded driver; the controller runs its own workers and resync thread.
#include <malloc.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <numeric>
#include <random>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include <nlohmann/json.hpp>

#include <CLI/CLI.hpp>

#include "common/clock.h"
#include "common/log.h"
#include "metrics/vm_metrics.h"
#include "providers/hypervisor/libvirt/libvirt_hypervisor.h"
#include "reconciler/controller/controller.h"
#include "reconciler/core/object_status.h"
#include "reconciler/store/rocksdb_store.h"
#include "bench/bench_util.h"
#include "bench/slow_storage_factory.h"
#include "common/rfc3339.h"

namespace vmk {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;
using SteadyClock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;
using bench::Delta;
using bench::Fmt;
using bench::IsReady;
using bench::MetricSum;
using bench::MsBetween;
using bench::ReconcileCounts;
using bench::Summarize;
using bench::Summary;

// ---------------------------------------------------------------------------------------------
// Flags.

struct Flags {
  int hosts = 1000;
  int vms = 10000;
  int workers = 4;
  int runs = 20;             // drift measurements
  int resync_passes = 5;
  int busy_runs = 5;         // drift measurements started together with a resync pass
  int vms_per_file = 1000;
  int timeout_seconds = 1800;  // per phase
  uint32_t seed = 42;
  std::string log_level = "warning";
  std::string dir;  // default: <tmp>/vmk-scale-bench-<pid>
  bool keep_dir = false;
  // Storage mode (0 = off): the first snapshot_vms VMs are on volume disks under a policy.
  int snapshot_vms = 0;
  int storage_latency_ms = 25;        // SnapshotDisks and the storage calls that change things
  int storage_lookup_latency_ms = 0;  // the storage calls that only read
  int snapshot_interval_seconds = 60;  // the policy's (60 is the least it accepts)
  std::string snapshot_trigger = "scheduled";  // scheduled | manual
  int storms = 3;
  int storm_drift_offset_ms = -1;  // -1: the middle of the wave's due instants
  // Per-VM metrics mode (0 = off): this many timed MetricsText() scrapes after the drift phases.
  int metrics_scrapes = 0;
  int availability_runs = 5;  // timed Availability() calls over every VM, in that mode
};

// Flags through CLI11: --name value or --name=value; --help prints them with their defaults.
// Returns the exit code when parsing ends the program (help, bad flags), else nullopt.
std::optional<int> ParseFlags(int argc, char** argv, Flags* f) {
  CLI::App app{"scale_bench: the real controller at fleet scale (see bench/README.md)"};
  app.add_option("--hosts", f->hosts, "libvirt test-driver hosts")->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--vms", f->vms, "VMs")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--workers", f->workers, "reconcile workers")->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--runs", f->runs, "drift measurements")->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--busy-runs", f->busy_runs, "drift measurements during a resync pass")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  app.add_option("--resync-passes", f->resync_passes, "timed resync passes")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  app.add_option("--vms-per-file", f->vms_per_file, "VMs per manifest file")
      ->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--timeout-seconds", f->timeout_seconds, "per phase")->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--seed", f->seed, "placement seed")->capture_default_str();
  app.add_option("--log-level", f->log_level, "debug|info|warning|error")->capture_default_str();
  app.add_option("--dir", f->dir, "work directory (default <tmp>/vmk-scale-bench-<pid>)");
  app.add_flag("--keep-dir", f->keep_dir, "keep the work directory");
  app.add_option("--snapshot-vms", f->snapshot_vms,
                 "storage mode: this many VMs on volume disks under a SnapshotPolicy (0: off)")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  app.add_option("--storage-latency-ms", f->storage_latency_ms,
                 "each snapshot, volume create, freeze, delete call")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  app.add_option("--storage-lookup-latency-ms", f->storage_lookup_latency_ms,
                 "each pool info, volume get, volume list call")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  auto* interval = app.add_option("--snapshot-interval-seconds", f->snapshot_interval_seconds,
                                  "the policy's interval (default 60, or 86400 with manual)")
                       ->check(CLI::Range(60, 31536000));
  app.add_option("--snapshot-trigger", f->snapshot_trigger,
                 "scheduled: the policy's next interval comes due; manual: N requests at once")
      ->capture_default_str()->check(CLI::IsMember({"scheduled", "manual"}));
  app.add_option("--storms", f->storms, "snapshot storms measured")->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--storm-drift-offset-ms", f->storm_drift_offset_ms,
                 "scheduled storms: destroy the drift VM this long after the first due instant "
                 "(-1: the middle of the due instants)")
      ->capture_default_str();
  app.add_option("--metrics-scrapes", f->metrics_scrapes,
                 "per-VM metrics mode: timed MetricsText() scrapes after the drift phases, with "
                 "their size, and the heap of the per-VM metrics (0: off)")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  app.add_option("--availability-runs", f->availability_runs,
                 "per-VM metrics mode: timed Availability() calls over every VM")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  if (f->snapshot_vms > f->vms) {
    std::fprintf(stderr, "--snapshot-vms must not exceed --vms\n");
    return 2;
  }
  // Manual storms must not meet a scheduled wave: the policy then only takes the baselines.
  if (f->snapshot_trigger == "manual" && interval->count() == 0) {
    f->snapshot_interval_seconds = 86400;
  }
  return std::nullopt;
}

// ---------------------------------------------------------------------------------------------
// Small helpers: time, statistics, memory, metrics.

double MsSince(SteadyClock::time_point from) { return MsBetween(from, SteadyClock::now()); }

// A "Vm...:   123 kB" field of /proc/self/status, in KiB; -1 when absent.
long ProcStatusKiB(const char* field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  const size_t len = std::strlen(field);
  while (std::getline(in, line)) {
    if (line.compare(0, len, field) == 0 && line.size() > len && line[len] == ':') {
      return std::strtol(line.c_str() + len + 1, nullptr, 10);
    }
  }
  return -1;
}

Json MemorySnapshot() {
  struct rusage usage {};
  getrusage(RUSAGE_SELF, &usage);
  return {{"ru_maxrss_mib", static_cast<double>(usage.ru_maxrss) / 1024.0},  // KiB on Linux
          {"vm_hwm_mib", static_cast<double>(ProcStatusKiB("VmHWM")) / 1024.0},
          {"vm_rss_mib", static_cast<double>(ProcStatusKiB("VmRSS")) / 1024.0},
          {"threads", ProcStatusKiB("Threads")}};
}

std::string FmtMemory(const Json& m) {
  char buf[256];
  std::snprintf(buf, sizeof buf, "peak %.0f MiB (ru_maxrss), VmHWM %.0f MiB, now %.0f MiB, %ld threads",
                m["ru_maxrss_mib"].get<double>(), m["vm_hwm_mib"].get<double>(),
                m["vm_rss_mib"].get<double>(), m["threads"].get<long>());
  return buf;
}

// ---------------------------------------------------------------------------------------------
// The fleet.

std::string HostName(int i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "hv%04d", i);
  return buf;
}

std::string VmName(int i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "vm%05d", i);
  return buf;
}

// Storage mode: the pool every host sees (the FakeStorage's) and the policy of the first
// --snapshot-vms VMs.
constexpr const char* kBenchPool = "bench";
constexpr const char* kBenchPoolPath = "/var/lib/vmkeeper/pools/bench";
constexpr const char* kBenchPolicy = "bench";

// hosts.yaml with every host, in storage mode storage.yaml (the pool and the policy), then
// vms-NN.yaml files of vms_per_file VMs each.
std::vector<reconciler::ManifestFile> FleetManifests(const Flags& flags) {
  // Room for twice the even share, so that placement never runs out of capacity.
  const int per_host = (flags.vms + flags.hosts - 1) / flags.hosts;
  const int cpus = std::max(64, 2 * per_host);
  const int64_t memory_mib = std::max<int64_t>(262144, int64_t{512} * per_host);
  std::vector<reconciler::ManifestFile> files;
  std::string hosts;
  for (int i = 0; i < flags.hosts; ++i) {
    const std::string name = HostName(i);
    hosts += "apiVersion: vmkeeper/v1\nkind: Host\nmetadata:\n  name: " + name +
             "\n  labels: {rack: r" + std::to_string(i % 10) + "}\nspec:\n  uri: test:///embedded/" +
             name + "\n  capacity: {cpus: " + std::to_string(cpus) +
             ", memoryMiB: " + std::to_string(memory_mib) + "}\n---\n";
  }
  files.push_back({"hosts.yaml", std::move(hosts)});
  if (flags.snapshot_vms > 0) {
    files.push_back({"storage.yaml",
                     "apiVersion: vmkeeper/v1\nkind: StoragePool\nmetadata:\n  name: " +
                         std::string(kBenchPool) + "\nspec:\n  type: dir\n  path: " +
                         kBenchPoolPath + "\n---\napiVersion: vmkeeper/v1\nkind: SnapshotPolicy\n"
                         "metadata:\n  name: " + kBenchPolicy + "\nspec:\n  intervalSeconds: " +
                         std::to_string(flags.snapshot_interval_seconds) + "\n---\n"});
  }
  for (int first = 0; first < flags.vms; first += flags.vms_per_file) {
    std::string text;
    for (int i = first; i < std::min(flags.vms, first + flags.vms_per_file); ++i) {
      const std::string name = VmName(i);
      text += "apiVersion: vmkeeper/v1\nkind: VirtualMachine\nmetadata:\n  name: " + name +
              "\n  labels: {service: svc" + std::to_string(i % 100) +
              "}\nspec:\n  cpus: 1\n  memoryMiB: 256\n  disks:\n";
      if (i < flags.snapshot_vms) {
        text += "    - {name: root, volume: {pool: " + std::string(kBenchPool) +
                ", sizeGiB: 1}}\n  snapshotPolicy: " + kBenchPolicy + "\n---\n";
      } else {
        text += "    - {name: root, image: /var/lib/vmkeeper/images/" + name +
                ".qcow2, format: qcow2, sizeGiB: 1}\n---\n";
      }
    }
    char file[32];
    std::snprintf(file, sizeof file, "vms-%02d.yaml", first / flags.vms_per_file);
    files.push_back({file, std::move(text)});
  }
  return files;
}

// ---------------------------------------------------------------------------------------------
// The benchmark.

class ScaleBench {
 public:
  explicit ScaleBench(Flags flags) : flags_(std::move(flags)) {}

  int Run() {
    if (!Setup()) return 1;
    report_["config"] = {{"hosts", flags_.hosts},
                         {"vms", flags_.vms},
                         {"workers", flags_.workers},
                         {"runs", flags_.runs},
                         {"busy_runs", flags_.busy_runs},
                         {"resync_passes", flags_.resync_passes},
                         {"seed", flags_.seed},
                         {"cores", std::thread::hardware_concurrency()},
                         {"dir", dir_.string()}};
    if (StorageMode()) {
      report_["config"]["storage"] = {
          {"snapshot_vms", flags_.snapshot_vms},
          {"storage_latency_ms", flags_.storage_latency_ms},
          {"storage_lookup_latency_ms", flags_.storage_lookup_latency_ms},
          {"snapshot_interval_seconds", flags_.snapshot_interval_seconds},
          {"snapshot_trigger", flags_.snapshot_trigger},
          {"storms", flags_.storms}};
      std::printf("storage mode: %d VMs on volumes under a %d s policy, storage calls %d ms "
                  "(lookups %d ms), %d %s storms\n",
                  flags_.snapshot_vms, flags_.snapshot_interval_seconds,
                  flags_.storage_latency_ms, flags_.storage_lookup_latency_ms, flags_.storms,
                  flags_.snapshot_trigger.c_str());
    }
    std::printf("scale_bench: %d hosts, %d VMs, %d workers, %u cores, store in %s\n",
                flags_.hosts, flags_.vms, flags_.workers, std::thread::hardware_concurrency(),
                dir_.string().c_str());
    std::fflush(stdout);
    bool ok = StorageMode() ? PrepareStorage() : true;
    if (ok) ok = ApplyUntilRunning();
    if (ok) ok = ResyncPasses();
    if (ok) Drift("drift", flags_.runs, 0, /*during_resync=*/false);
    if (ok) Drift("drift_during_resync", flags_.busy_runs, flags_.runs, /*during_resync=*/true);
    if (ok && StorageMode()) ok = SnapshotStorms();
    if (ok && flags_.metrics_scrapes > 0) MetricsCost();
    report_["memory_end"] = MemorySnapshot();
    report_["reconciles_total"] = ReconcileCounts(*controller_);
    std::printf("memory at end:          %s\n", FmtMemory(report_["memory_end"]).c_str());
    auto stop_start = SteadyClock::now();
    controller_->Stop();
    report_["stop_ms"] = MsSince(stop_start);
    std::printf("controller stop:        %.0f ms\n", report_["stop_ms"].get<double>());
    std::printf("JSON %s\n", report_.dump().c_str());
    std::fflush(stdout);
    controller_.reset();
    store_.reset();
    if (!flags_.keep_dir) {
      std::error_code ec;
      fs::remove_all(dir_, ec);
    }
    return ok ? 0 : 1;
  }

 private:
  bool Setup() {
    dir_ = flags_.dir.empty()
               ? fs::temp_directory_path() / ("vmk-scale-bench-" + std::to_string(getpid()))
               : fs::path(flags_.dir);
    std::error_code ec;
    fs::remove_all(dir_, ec);
    fs::create_directories(dir_ / "embedded", ec);
    if (ec) {
      std::fprintf(stderr, "cannot create %s: %s\n", dir_.c_str(), ec.message().c_str());
      return false;
    }
    auto store = reconciler::RocksDbStore::Open((dir_ / "store").string(), {});
    if (!store.ok()) {
      std::fprintf(stderr, "cannot open store: %s\n", store.status().ToString().c_str());
      return false;
    }
    store_ = std::move(*store);
    reconciler::ControllerOptions options;
    options.workers = flags_.workers;
    // The periodic resync must not run during the measurements: passes are started by hand.
    options.resync_period = std::chrono::hours(24);
    options.connect.embedded_host_dir = (dir_ / "embedded").string();
    options.stop_grace = seconds(5);
    providers::HypervisorFactory* factory = &factory_;
    if (StorageMode()) {
      storage_ = std::make_shared<providers::FakeStorage>();
      storage_->AddPool(kBenchPool, kBenchPoolPath);
      bench::StorageLatency latency;
      latency.change = milliseconds(flags_.storage_latency_ms);
      latency.lookup = milliseconds(flags_.storage_lookup_latency_ms);
      slow_factory_ =
          std::make_unique<bench::SlowStorageHypervisorFactory>(&factory_, storage_, latency);
      factory = slow_factory_.get();
    }
    controller_ = std::make_unique<reconciler::Controller>(store_.get(), factory,
                                                           RealClock::Get(), options);
    Status started = controller_->Start();
    if (!started.ok()) {
      std::fprintf(stderr, "controller start: %s\n", started.ToString().c_str());
      return false;
    }
    return true;
  }

  // Reads the events recorded since the last call; counts them by reason and collects the VMs
  // that got "Started". Returns false when events were trimmed before being read (a gap).
  bool ReadNewEvents(std::unordered_set<std::string>* started) {
    auto events = controller_->Events(std::nullopt, last_event_seq_, SIZE_MAX);
    if (!events.ok()) return false;
    bool contiguous = true;
    for (const auto& e : *events) {
      if (e.seq != last_event_seq_ + 1) contiguous = false;
      last_event_seq_ = e.seq;
      ++event_reasons_[e.reason];
      if (started && e.kind == specs::Kind::kVirtualMachine && e.reason == "Started") {
        started->insert(e.name);
      }
    }
    return contiguous;
  }

  // Phase 1. Progress comes from the event stream (cheap: only new events are read, every
  // 20 ms); once every VM has a "Started" event (or events were lost), the store is listed until
  // every VM's status says Ready=True, which is the end of the measurement.
  bool ApplyUntilRunning() {
    auto files = FleetManifests(flags_);
    size_t bytes = 0;
    for (const auto& f : files) bytes += f.content.size();
    const auto deadline = SteadyClock::now() + seconds(flags_.timeout_seconds);

    const auto t0 = SteadyClock::now();
    auto outcome = controller_->Apply(files, {});
    const double apply_ms = MsSince(t0);
    if (!outcome.ok()) {
      std::fprintf(stderr, "apply failed: %s\n", outcome.status().ToString().c_str());
      return false;
    }
    if (!outcome->errors.empty()) {
      for (size_t i = 0; i < std::min<size_t>(5, outcome->errors.size()); ++i) {
        std::fprintf(stderr, "apply error: %s\n", outcome->errors[i].c_str());
      }
      return false;
    }
    std::printf("apply call:             %.0f ms (%zu objects, %zu files, %.1f MiB of YAML)\n",
                apply_ms, outcome->results.size(), files.size(),
                static_cast<double>(bytes) / (1 << 20));
    std::fflush(stdout);

    std::unordered_set<std::string> started;
    double hosts_synced_ms = -1;
    bool events_lost = false;
    auto last_progress = SteadyClock::now();
    while (SteadyClock::now() < deadline) {
      if (!ReadNewEvents(&started)) events_lost = true;
      if (hosts_synced_ms < 0 && controller_->Ready()) hosts_synced_ms = MsSince(t0);
      if (static_cast<int>(started.size()) >= flags_.vms || events_lost) break;
      if (MsSince(last_progress) > 10000) {
        std::fprintf(stderr, "  ... %.0f s: %zu/%d VMs started\n", MsSince(t0) / 1000,
                     started.size(), flags_.vms);
        last_progress = SteadyClock::now();
      }
      std::this_thread::sleep_for(milliseconds(20));
    }
    const double all_started_ms = MsSince(t0);

    int ready = 0;
    int lists = 0;
    double list_ms_total = 0;
    std::map<std::string, int> per_host;
    while (SteadyClock::now() < deadline) {
      auto list_start = SteadyClock::now();
      auto vms = controller_->List(specs::Kind::kVirtualMachine);
      list_ms_total += MsSince(list_start);
      ++lists;
      ready = 0;
      per_host.clear();
      if (vms.ok()) {
        for (const auto& vm : *vms) {
          if (!IsReady(vm)) continue;
          ++ready;
          ++per_host[reconciler::VmStatus::FromJson(vm.status).host];
        }
      }
      if (ready >= flags_.vms) break;
      std::this_thread::sleep_for(milliseconds(events_lost ? 200 : 20));
    }
    const double all_ready_ms = MsSince(t0);
    if (hosts_synced_ms < 0 && controller_->Ready()) hosts_synced_ms = MsSince(t0);
    if (ready < flags_.vms) {
      std::fprintf(stderr, "only %d/%d VMs Ready after %d s\n", ready, flags_.vms,
                   flags_.timeout_seconds);
      report_["apply"] = {{"apply_call_ms", apply_ms}, {"ready", ready}, {"timed_out", true}};
      return false;
    }
    int min_per_host = flags_.vms, max_per_host = 0;
    for (const auto& [host, n] : per_host) {
      min_per_host = std::min(min_per_host, n);
      max_per_host = std::max(max_per_host, n);
    }
    if (static_cast<int>(per_host.size()) < flags_.hosts) min_per_host = 0;

    const bool idle = controller_->WaitIdle(seconds(flags_.timeout_seconds));
    const double idle_ms = MsBetween(t0, SteadyClock::now());
    ReadNewEvents(nullptr);
    converged_counts_ = ReconcileCounts(*controller_);
    Json memory = MemorySnapshot();

    report_["apply"] = {{"apply_call_ms", apply_ms},
                        {"hosts_synced_ms", hosts_synced_ms},
                        {"all_started_event_seen_ms", all_started_ms},
                        {"all_ready_ms", all_ready_ms},
                        {"queue_idle_ms", idle_ms},
                        {"queue_idle", idle},
                        {"events_lost", events_lost},
                        {"list_polls", lists},
                        {"list_ms_mean", list_ms_total / std::max(1, lists)},
                        {"vms_per_host_min", min_per_host},
                        {"vms_per_host_max", max_per_host},
                        {"reconciles", converged_counts_},
                        {"events_by_reason", event_reasons_}};
    report_["memory_converged"] = memory;
    std::printf("all hosts synced:       %.0f ms after apply start\n", hosts_synced_ms);
    std::printf("all VMs Started event:  %.0f ms after apply start%s\n", all_started_ms,
                events_lost ? " (events were trimmed before read: fell back to listing)" : "");
    std::printf("all VMs Ready=True:     %.0f ms after apply start (%d list polls, %.0f ms each)\n",
                all_ready_ms, lists, list_ms_total / std::max(1, lists));
    std::printf("queue idle:             %.0f ms after apply start%s\n", idle_ms,
                idle ? "" : " (NOT idle at timeout)");
    std::printf("placement:              %d..%d VMs per host\n", min_per_host, max_per_host);
    std::printf("reconciles to converge: %.0f vm + %.0f host (%.0f errors, %.0f requeues); "
                "reconcile time %.1f s vm + %.1f s host\n",
                converged_counts_["vm"].get<double>(), converged_counts_["host"].get<double>(),
                converged_counts_["error"].get<double>(), converged_counts_["requeue"].get<double>(),
                converged_counts_["vm_seconds_sum"].get<double>(),
                converged_counts_["host_seconds_sum"].get<double>());
    std::printf("memory after converge:  %s\n", FmtMemory(memory).c_str());
    std::fflush(stdout);
    return true;
  }

  // Phase 2. Nothing changed since convergence: a pass should find nothing to do.
  bool ResyncPasses() {
    std::vector<double> pass_ms, enqueue_ms;
    Json passes = Json::array();
    for (int i = 0; i < flags_.resync_passes; ++i) {
      if (!controller_->WaitIdle(seconds(flags_.timeout_seconds))) {
        std::fprintf(stderr, "queue not idle before resync pass %d\n", i);
        return false;
      }
      ReadNewEvents(nullptr);
      const int64_t seq_before = last_event_seq_;
      Json before = ReconcileCounts(*controller_);
      const auto t0 = SteadyClock::now();
      controller_->ResyncNow();
      const double enqueued = MsSince(t0);
      const bool idle = controller_->WaitIdle(seconds(flags_.timeout_seconds));
      const double ms = MsSince(t0);
      if (!idle) {
        std::fprintf(stderr, "resync pass %d did not finish within %d s\n", i,
                     flags_.timeout_seconds);
        return false;
      }
      ReadNewEvents(nullptr);
      Json delta = Delta(ReconcileCounts(*controller_), before);
      passes.push_back({{"ms", ms},
                        {"enqueue_ms", enqueued},
                        {"reconciles", delta},
                        {"events", last_event_seq_ - seq_before}});
      pass_ms.push_back(ms);
      enqueue_ms.push_back(enqueued);
      std::printf("resync pass %d:          %.0f ms (ResyncNow %.0f ms; %.0f vm + %.0f host "
                  "reconciles, %lld events)\n",
                  i + 1, ms, enqueued, delta["vm"].get<double>(), delta["host"].get<double>(),
                  static_cast<long long>(last_event_seq_ - seq_before));
      std::fflush(stdout);
    }
    Summary s = Summarize(pass_ms);
    report_["resync"] = {{"pass_ms", s.ToJson()},
                         {"enqueue_ms", Summarize(enqueue_ms).ToJson()},
                         {"passes", passes}};
    std::printf("resync pass:            %s\n", Fmt(s, "ms").c_str());
    report_["memory_after_resync"] = MemorySnapshot();
    return true;
  }

  // One drift: `vm`'s domain destroyed on `host` behind the controller's back, then that host
  // polled every millisecond until the domain runs again, then the stored status until it
  // counts the restart and says Ready; times in ms from the start of the destroy call, -1 when
  // not seen within `limit`.
  struct DriftSample {
    Status destroyed;
    double call_ms = -1, running_ms = -1, status_ms = -1;
  };
  DriftSample DestroyAndWatch(providers::Hypervisor* host, const std::string& vm,
                              int64_t restarts_before, SteadyClock::duration limit) {
    DriftSample out;
    // The clock starts before the call: libvirt queues the lifecycle event inside
    // virDomainDestroy, and on a busy machine the controller may restart the domain before
    // this thread even returns from the call (a clock started at return then reads ~0).
    const auto t0 = SteadyClock::now();
    out.destroyed = host->DestroyDomain(vm);
    out.call_ms = MsSince(t0);
    if (!out.destroyed.ok()) return out;
    const auto deadline = t0 + limit;
    while (SteadyClock::now() < deadline) {
      auto d = host->GetDomain(vm);
      if (d.ok() && d->has_value() && (*d)->state == providers::DomainState::kRunning) {
        out.running_ms = MsSince(t0);
        break;
      }
      std::this_thread::sleep_for(milliseconds(1));
    }
    while (SteadyClock::now() < deadline && out.running_ms >= 0) {
      auto o = controller_->Get(specs::Kind::kVirtualMachine, vm);
      if (o.ok() && *o) {
        auto now = reconciler::VmStatus::FromJson((*o)->status);
        if (now.restartCount > restarts_before && IsReady(**o)) {
          out.status_ms = MsSince(t0);
          break;
        }
      }
      std::this_thread::sleep_for(milliseconds(1));
    }
    return out;
  }

  // A host's own connection, to act behind the controller's back. In storage mode that is the
  // libvirt host inside the SlowStorageHypervisor, so the benchmark's own calls do not queue on
  // the simulated connection (a guest that crashes does not ask the controller's connection).
  providers::Hypervisor* BehindTheBack(const std::string& host) {
    providers::Hypervisor* conn = controller_->HostConnectionForTest(host);
    if (auto* slow = dynamic_cast<bench::SlowStorageHypervisor*>(conn)) return slow->target();
    return conn;
  }

  // Phase 3. Each run starts from an idle queue, destroys one VM's domain through its host's
  // connection and polls that host every millisecond. With `during_resync`, a full resync pass
  // is started just before the destroy, so the event's key joins a queue of ~11,000 keys: the
  // worst case of a controller that is busy when the failure happens.
  void Drift(const char* label, int runs, int first, bool during_resync) {
    std::vector<int> order(flags_.vms);
    std::iota(order.begin(), order.end(), 0);
    std::mt19937 rng(flags_.seed);
    std::shuffle(order.begin(), order.end(), rng);
    runs = std::min(runs, flags_.vms - first);
    std::vector<double> running_ms, status_ms, call_ms_all;
    int failures = 0;
    Json samples = Json::array();
    const auto limit = seconds(during_resync ? 60 : 10);
    for (int r = 0; r < runs; ++r) {
      const std::string vm = VmName(order[first + r]);
      (void)controller_->WaitIdle(seconds(flags_.timeout_seconds));
      auto object = controller_->Get(specs::Kind::kVirtualMachine, vm);
      if (!object.ok() || !*object) {
        ++failures;
        continue;
      }
      const auto before = reconciler::VmStatus::FromJson((*object)->status);
      providers::Hypervisor* host = BehindTheBack(before.host);
      if (!host) {
        ++failures;
        continue;
      }
      if (during_resync) controller_->ResyncNow();
      const DriftSample d = DestroyAndWatch(host, vm, before.restartCount, limit);
      const double call_ms = d.call_ms, running = d.running_ms, counted = d.status_ms;
      if (!d.destroyed.ok()) {
        std::fprintf(stderr, "destroy %s: %s\n", vm.c_str(), d.destroyed.ToString().c_str());
        ++failures;
        continue;
      }
      samples.push_back({{"vm", vm}, {"host", before.host}, {"destroy_call_ms", call_ms},
                         {"running_ms", running}, {"status_ms", counted}});
      if (running < 0 || counted < 0) {
        ++failures;
        std::fprintf(stderr, "drift %s on %s not corrected within %lld s\n", vm.c_str(),
                     before.host.c_str(), static_cast<long long>(limit.count()));
        continue;
      }
      running_ms.push_back(running);
      status_ms.push_back(counted);
      call_ms_all.push_back(call_ms);
    }
    (void)controller_->WaitIdle(seconds(flags_.timeout_seconds));
    Summary running = Summarize(running_ms);
    Summary status = Summarize(status_ms);
    report_[label] = {{"running_again_ms", running.ToJson()},
                      {"status_restart_counted_ms", status.ToJson()},
                      {"destroy_call_ms", Summarize(call_ms_all).ToJson()},
                      {"failures", failures},
                      {"samples", samples}};
    std::printf("%s -> running again: %s\n", label, Fmt(running, "ms").c_str());
    std::printf("%s -> status counted: %s\n", label, Fmt(status, "ms").c_str());
    std::printf("  (from the start of the destroy call, which itself took %s)\n",
                Fmt(Summarize(call_ms_all), "ms").c_str());
    if (failures) std::printf("%s failures: %d of %d\n", label, failures, runs);
    std::fflush(stdout);
  }

  // ---------------------------------------------------------------------------------------------
  // Per-VM metrics mode.

  // Bytes malloc has handed out and not got back (small blocks and mmapped ones).
  static double HeapMiB() {
    struct mallinfo2 m = mallinfo2();
    return static_cast<double>(m.uordblks + m.hblkhd) / (1 << 20);
  }

  // Phase 6. After the drift phases (their restarts are closed incidents: the recovery
  // histograms and failure counters of those VMs are not all zero), with the queue idle:
  //   - MetricsText() N times: time, bytes, series (all, and the vmkeeper_vm_* ones);
  //   - the heap before the first scrape and after the last (what a scrape leaves behind);
  //   - a metrics::VmMetrics of its own with the fleet's VMs (host, service label, a failure,
  //     a recovery, a restart each): the heap those children take, and AppendText alone;
  //   - Availability() over every VM, 30 d, plain and grouped by service.
  void MetricsCost() {
    (void)controller_->WaitIdle(seconds(flags_.timeout_seconds));
    Json out;
    const double heap_before = HeapMiB();
    const double rss_before = static_cast<double>(ProcStatusKiB("VmRSS")) / 1024.0;
    std::vector<double> scrape_ms;
    size_t bytes = 0, series = 0, vm_series = 0, vm_bytes = 0;
    for (int i = 0; i < flags_.metrics_scrapes; ++i) {
      const auto t0 = SteadyClock::now();
      std::string text = controller_->MetricsText();
      scrape_ms.push_back(MsSince(t0));
      if (i == 0) {
        bytes = text.size();
        size_t pos = 0;
        while (pos < text.size()) {
          size_t end = text.find('\n', pos);
          if (end == std::string::npos) end = text.size();
          if (end > pos && text[pos] != '#') {
            ++series;
            if (text.compare(pos, 12, "vmkeeper_vm_") == 0) {
              ++vm_series;
              vm_bytes += end - pos + 1;
            }
          }
          pos = end + 1;
        }
      }
    }
    const double heap_after = HeapMiB();
    const double rss_after = static_cast<double>(ProcStatusKiB("VmRSS")) / 1024.0;
    Summary scrape = Summarize(scrape_ms);
    std::vector<double> sorted = scrape_ms;
    std::sort(sorted.begin(), sorted.end());
    const double p95 = sorted.empty() ? 0
        : sorted[std::min(sorted.size() - 1,
                          static_cast<size_t>(std::ceil(0.95 * static_cast<double>(sorted.size()))) - 1)];
    out["scrape_ms"] = scrape.ToJson();
    out["scrape_ms"]["p95"] = p95;
    out["bytes"] = bytes;
    out["series"] = series;
    out["vm_series"] = vm_series;
    out["vm_bytes"] = vm_bytes;
    out["heap_mib_before_after_scrapes"] = {heap_before, heap_after};
    out["rss_mib_before_after_scrapes"] = {rss_before, rss_after};
    std::printf("metrics scrape:         %s, p95 %.1f ms\n", Fmt(scrape, "ms").c_str(), p95);
    std::printf("metrics text:           %.2f MiB, %zu series (%zu vmkeeper_vm_*: %.2f MiB, %.1f "
                "per VM)\n",
                static_cast<double>(bytes) / (1 << 20), series, vm_series,
                static_cast<double>(vm_bytes) / (1 << 20),
                static_cast<double>(vm_series) / flags_.vms);
    std::printf("heap around scrapes:    %.1f -> %.1f MiB (RSS %.1f -> %.1f MiB)\n", heap_before,
                heap_after, rss_before, rss_after);

    // The per-VM metrics on their own: the same VMs, shaped as the controller fills them.
    {
      const double heap0 = HeapMiB();
      const double rss0 = static_cast<double>(ProcStatusKiB("VmRSS")) / 1024.0;
      auto vm_metrics = std::make_unique<metrics::VmMetrics>(std::vector<std::string>{"service"});
      std::map<std::string, metrics::VmAvailabilityFigures> figures;
      for (int i = 0; i < flags_.vms; ++i) {
        const std::string name = VmName(i);
        metrics::VmGauges g;
        g.host = HostName(i % flags_.hosts);
        g.ready = g.healthy = true;
        g.labels = {{"service", "svc" + std::to_string(i % 100)}};
        vm_metrics->SetVm(name, g);
        vm_metrics->CountFailure(name, "VmStopped");
        vm_metrics->ObserveRecovery(name, 1.5);
        vm_metrics->CountRestart(name, true);
        figures[name] = {3600.0 + i, 1.5, 0, false};
      }
      const double heap1 = HeapMiB();
      const double rss1 = static_cast<double>(ProcStatusKiB("VmRSS")) / 1024.0;
      std::vector<double> append_ms;
      size_t append_bytes = 0;
      for (int i = 0; i < flags_.metrics_scrapes; ++i) {
        std::string text;
        const auto t0 = SteadyClock::now();
        vm_metrics->AppendText(figures, &text);
        append_ms.push_back(MsSince(t0));
        append_bytes = text.size();
      }
      const double figures_mib = [&] {
        // The figures map alone (what MetricsText builds per scrape), measured by freeing it.
        const double with = HeapMiB();
        figures.clear();
        return with - HeapMiB();
      }();
      vm_metrics.reset();
      const double heap2 = HeapMiB();
      out["own_vm_metrics"] = {{"heap_mib", heap1 - heap0 - figures_mib},
                               {"figures_map_mib", figures_mib},
                               {"heap_mib_freed", heap1 - heap2 - figures_mib},
                               {"rss_mib_added", rss1 - rss0},
                               {"append_text_ms", Summarize(append_ms).ToJson()},
                               {"append_text_bytes", append_bytes}};
      std::printf("own VmMetrics, %d VMs:  heap %.1f MiB (%.0f B per VM) + the per-scrape figures "
                  "map %.1f MiB; RSS +%.1f MiB; AppendText %s, %.2f MiB\n",
                  flags_.vms, heap1 - heap0 - figures_mib,
                  (heap1 - heap0 - figures_mib) * (1 << 20) / flags_.vms, figures_mib,
                  rss1 - rss0, Fmt(Summarize(append_ms), "ms").c_str(),
                  static_cast<double>(append_bytes) / (1 << 20));
    }

    // `vmkeeper availability` over the fleet.
    for (const char* group_by : {"", "service"}) {
      std::vector<double> ms;
      size_t rows = 0;
      for (int i = 0; i < flags_.availability_runs; ++i) {
        reconciler::AvailabilityQuery query;
        query.group_by = group_by;
        const auto t0 = SteadyClock::now();
        auto report = controller_->Availability(query);
        ms.push_back(MsSince(t0));
        if (report.ok()) rows = report->vms.size();
      }
      const std::string key = std::string("availability_ms") + (*group_by ? "_by_service" : "");
      out[key] = Summarize(ms).ToJson();
      out[key]["rows"] = rows;
      std::printf("availability%-11s %s, %zu VMs\n", *group_by ? " --by svc:" : ":",
                  Fmt(Summarize(ms), "ms").c_str(), rows);
    }
    report_["metrics"] = out;
    std::fflush(stdout);
  }

  // ---------------------------------------------------------------------------------------------
  // Storage mode.

  bool StorageMode() const { return flags_.snapshot_vms > 0; }

  // VMs vm00000 .. vm(N-1) are the ones on volumes under the policy.
  bool IsSnapshotVm(const std::string& name) const {
    return name.size() > 2 && std::atoi(name.c_str() + 2) < flags_.snapshot_vms;
  }

  bool AppliedCleanly(const StatusOr<reconciler::ApplyOutcome>& outcome, const char* what) {
    if (!outcome.ok()) {
      std::fprintf(stderr, "apply %s failed: %s\n", what, outcome.status().ToString().c_str());
      return false;
    }
    for (const auto& e : outcome->errors) std::fprintf(stderr, "apply %s: %s\n", what, e.c_str());
    return outcome->errors.empty();
  }

  // Before phase 1: the hosts, then (once every host is synced, so that the pool's reconcile
  // finds them answering) the pool and the policy, until the pool is Ready. A VM applied before
  // its pool is seen would wait 30 s to be scheduled again, which is not what phase 1 measures.
  bool PrepareStorage() {
    auto files = FleetManifests(flags_);
    const auto t0 = SteadyClock::now();
    const auto deadline = t0 + seconds(flags_.timeout_seconds);
    if (!AppliedCleanly(controller_->Apply({files[0]}, {}), "hosts")) return false;
    while (!controller_->Ready()) {
      if (SteadyClock::now() > deadline) {
        std::fprintf(stderr, "hosts not synced within %d s\n", flags_.timeout_seconds);
        return false;
      }
      std::this_thread::sleep_for(milliseconds(20));
    }
    if (!AppliedCleanly(controller_->Apply({files[1]}, {}), "pool and policy")) return false;
    while (true) {
      auto pool = controller_->Get(specs::Kind::kStoragePool, kBenchPool);
      if (pool.ok() && *pool && (*pool)->status.contains("conditions")) {
        auto conditions = specs::ConditionsFromJson((*pool)->status["conditions"]);
        const auto* ready = specs::FindCondition(conditions, "Ready");
        if (ready && ready->status == "True") break;
      }
      if (SteadyClock::now() > deadline) {
        std::fprintf(stderr, "pool %s not Ready within %d s\n", kBenchPool,
                     flags_.timeout_seconds);
        return false;
      }
      std::this_thread::sleep_for(milliseconds(20));
    }
    std::printf("storage set up:         hosts synced, pool seen by all, in %.0f ms\n",
                MsSince(t0));
    std::fflush(stdout);
    return true;
  }

  std::map<std::string, reconciler::VmStatus> SnapshotVmStatuses() {
    std::map<std::string, reconciler::VmStatus> out;
    auto vms = controller_->List(specs::Kind::kVirtualMachine);
    if (!vms.ok()) return out;
    for (const auto& vm : *vms) {
      if (IsSnapshotVm(vm.metadata.name)) {
        out[vm.metadata.name] = reconciler::VmStatus::FromJson(vm.status);
      }
    }
    return out;
  }

  static int TakenCount(const reconciler::VmStatus& status) {
    int n = 0;
    for (const auto& s : status.snapshots) n += s.phase == "Taken";
    return n;
  }

  // Every host's heartbeat intervals (ms) that ended within [from, to): the time since the same
  // host's heartbeat before. The nominal interval is 1 s; a storm that holds the workers makes
  // the interval that ends after it longer.
  std::vector<double> HeartbeatGaps(SteadyClock::time_point from, SteadyClock::time_point to) {
    std::vector<double> gaps;
    for (const auto& [name, host] : slow_factory_->Hosts()) {
      auto beats = host->Heartbeats();
      for (size_t i = 1; i < beats.size(); ++i) {
        if (beats[i] >= from && beats[i] < to) gaps.push_back(MsBetween(beats[i - 1], beats[i]));
      }
    }
    return gaps;
  }

  struct HostTotals {
    long snapshot_calls = 0;
    double connection_wait_ms = 0;
    long own_defines_dropped = 0;
    int own_defines_expected = 0;
  };
  HostTotals SumHosts() {
    HostTotals t;
    for (const auto& [name, host] : slow_factory_->Hosts()) {
      t.snapshot_calls += host->snapshot_calls();
      t.connection_wait_ms += host->connection_wait_ms();
      t.own_defines_dropped += host->own_defines_dropped();
      t.own_defines_expected += host->own_defines_expected();
    }
    return t;
  }

  // Phase 5. First every VM under the policy takes its baseline (once Ready); then each storm.
  bool SnapshotStorms() {
    const int n = flags_.snapshot_vms;
    const auto deadline = SteadyClock::now() + seconds(flags_.timeout_seconds);
    std::map<std::string, reconciler::VmStatus> statuses;
    while (true) {
      statuses = SnapshotVmStatuses();
      int with = 0;
      for (const auto& [name, s] : statuses) {
        with += TakenCount(s) >= 1 && !s.lastScheduledSnapshot.empty();
      }
      if (with >= n) break;
      if (SteadyClock::now() > deadline) {
        std::fprintf(stderr, "only %d/%d VMs took their baseline snapshot\n", with, n);
        return false;
      }
      std::this_thread::sleep_for(milliseconds(50));
    }
    WallTime first{WallTime::max()}, last{WallTime::min()};
    for (const auto& [name, s] : statuses) {
      WallTime t;
      if (!ParseRfc3339(s.lastScheduledSnapshot, &t)) continue;
      first = std::min(first, t);
      last = std::max(last, t);
    }
    const double baseline_span_ms = MsBetween(first, last);
    std::printf("baseline snapshots:     all %d Taken, asked for over %.0f ms (a scheduled wave "
                "comes due over the same span)\n",
                n, baseline_span_ms);
    std::fflush(stdout);

    std::vector<int> order(flags_.vms);
    std::iota(order.begin(), order.end(), 0);
    std::mt19937 rng(flags_.seed);
    std::shuffle(order.begin(), order.end(), rng);
    Json storms = Json::array();
    std::vector<double> duration, vm_median, vm_max, running, counted, gap_max, quiet_gap_max;
    int late_total = 0, failed_total = 0, suspect_total = 0;
    SteadyClock::time_point previous_end = SteadyClock::now();
    for (int k = 0; k < flags_.storms; ++k) {
      const std::string drift_vm =
          VmName(order[(flags_.runs + flags_.busy_runs + k) % flags_.vms]);
      Json r = Storm(k, drift_vm, previous_end);
      if (r.is_null()) return false;
      previous_end = SteadyClock::now();
      duration.push_back(r["all_taken_ms"].get<double>());
      vm_median.push_back(r["per_vm_ms"]["median"].get<double>());
      vm_max.push_back(r["per_vm_ms"]["max"].get<double>());
      if (r["drift"]["running_ms"].get<double>() >= 0) {
        running.push_back(r["drift"]["running_ms"].get<double>());
      }
      if (r["drift"]["status_ms"].get<double>() >= 0) {
        counted.push_back(r["drift"]["status_ms"].get<double>());
      }
      gap_max.push_back(r["heartbeat_gap_ms"]["max"].get<double>());
      quiet_gap_max.push_back(r["quiet_heartbeat_gap_ms"]["max"].get<double>());
      late_total += r["heartbeats_late"].get<int>();
      failed_total += r["snapshots_failed"].get<int>();
      suspect_total += r["host_health_events"].get<int>();
      storms.push_back(std::move(r));
    }
    Json summary = {{"all_taken_ms", Summarize(duration).ToJson()},
                    {"per_vm_median_ms", Summarize(vm_median).ToJson()},
                    {"per_vm_max_ms", Summarize(vm_max).ToJson()},
                    {"drift_running_ms", Summarize(running).ToJson()},
                    {"drift_status_ms", Summarize(counted).ToJson()},
                    {"heartbeat_gap_max_ms", Summarize(gap_max).ToJson()},
                    {"quiet_heartbeat_gap_max_ms", Summarize(quiet_gap_max).ToJson()},
                    {"heartbeats_late", late_total},
                    {"snapshots_failed", failed_total},
                    {"host_health_events", suspect_total}};
    HostTotals totals = SumHosts();
    report_["snapshot"] = {{"baseline_span_ms", baseline_span_ms},
                           {"storms", storms},
                           {"summary", summary},
                           {"snapshot_calls", totals.snapshot_calls},
                           {"own_define_events_dropped", totals.own_defines_dropped},
                           {"own_define_events_still_expected", totals.own_defines_expected}};
    std::printf("storms (%d, %s), medians: all %d Taken %.0f ms after the first came due; per VM "
                "(due -> Taken) median %.0f / max %.0f ms\n",
                flags_.storms, flags_.snapshot_trigger.c_str(), n, Summarize(duration).median,
                Summarize(vm_median).median, Summarize(vm_max).median);
    std::printf("storm drift -> running again: %s\n", Fmt(Summarize(running), "ms").c_str());
    std::printf("storm drift -> status counted: %s\n", Fmt(Summarize(counted), "ms").c_str());
    std::printf("heartbeat interval, longest per storm: %s (quiet 10 s before: %s); %d late "
                "(> 1.5 s), %d HostSuspect/HostNotReady, %d snapshots failed\n",
                Fmt(Summarize(gap_max), "ms").c_str(), Fmt(Summarize(quiet_gap_max), "ms").c_str(),
                late_total, suspect_total, failed_total);
    std::printf("snapshot calls %ld; own Defined events dropped %ld (still expected %d)\n",
                totals.snapshot_calls, totals.own_defines_dropped, totals.own_defines_expected);
    std::fflush(stdout);
    return true;
  }

  // One storm: the N snapshots come due (scheduled: each VM's next interval, as its baseline
  // set it; manual: N RequestSnapshot calls, the API's path, one after the other at once), a
  // domain is destroyed meanwhile, and the storm ends when every VM has a SnapshotTaken (or
  // SnapshotFailed) event. Null when it could not be run.
  Json Storm(int k, const std::string& drift_vm, SteadyClock::time_point previous_end) {
    const int n = flags_.snapshot_vms;
    const bool manual = flags_.snapshot_trigger == "manual";
    constexpr auto kQuiet = seconds(10);
    (void)controller_->WaitIdle(seconds(flags_.timeout_seconds));
    if (manual) std::this_thread::sleep_until(previous_end + kQuiet + seconds(1));
    ReadNewEvents(nullptr);
    int64_t seq = last_event_seq_;
    const Json counts_before = ReconcileCounts(*controller_);
    const HostTotals hosts_before = SumHosts();
    auto statuses = SnapshotVmStatuses();
    auto object = controller_->Get(specs::Kind::kVirtualMachine, drift_vm);
    if (!object.ok() || !*object) return nullptr;
    const auto drift_before = reconciler::VmStatus::FromJson((*object)->status);
    providers::Hypervisor* drift_host = BehindTheBack(drift_before.host);
    if (!drift_host) return nullptr;

    // Wall times (the status and events) to this process's steady clock, to the millisecond.
    const WallTime wall_now = std::chrono::system_clock::now();
    const auto steady_now = SteadyClock::now();
    auto to_steady = [&](WallTime w) {
      return steady_now + std::chrono::duration_cast<SteadyClock::duration>(w - wall_now);
    };
    std::map<std::string, WallTime> due;
    WallTime first_due{WallTime::max()}, last_due{WallTime::min()};
    if (!manual) {
      const auto interval = seconds(flags_.snapshot_interval_seconds);
      for (const auto& [name, s] : statuses) {
        WallTime last;
        if (!ParseRfc3339(s.lastScheduledSnapshot, &last)) return nullptr;
        due[name] = last + interval;
        first_due = std::min(first_due, due[name]);
        last_due = std::max(last_due, due[name]);
      }
      const auto offset = flags_.storm_drift_offset_ms >= 0
                              ? std::chrono::duration_cast<WallTime::duration>(
                                    milliseconds(flags_.storm_drift_offset_ms))
                              : (last_due - first_due) / 2;
      std::this_thread::sleep_until(to_steady(first_due + offset));
    } else {
      for (const auto& [name, s] : statuses) {
        due[name] = std::chrono::system_clock::now();
        first_due = std::min(first_due, due[name]);
        last_due = due[name];
        auto asked = controller_->RequestSnapshot(name, "storm" + std::to_string(k + 1));
        if (!asked.ok()) {
          std::fprintf(stderr, "snapshot request %s: %s\n", name.c_str(),
                       asked.status().ToString().c_str());
          return nullptr;
        }
      }
    }
    const auto drift_start = SteadyClock::now();
    const DriftSample drift =
        DestroyAndWatch(drift_host, drift_vm, drift_before.restartCount, seconds(60));

    // The storm's end, from the events' own times (no polling delay).
    std::map<std::string, WallTime> settled;
    int failed = 0, health_events = 0;
    const auto deadline = SteadyClock::now() + seconds(flags_.timeout_seconds);
    while (static_cast<int>(settled.size()) < n && SteadyClock::now() < deadline) {
      auto events = controller_->Events(std::nullopt, seq, SIZE_MAX);
      if (events.ok()) {
        for (const auto& e : *events) {
          seq = e.seq;
          if (e.kind == specs::Kind::kHost &&
              (e.reason == "HostSuspect" || e.reason == "HostNotReady")) {
            ++health_events;
          }
          if (e.kind != specs::Kind::kVirtualMachine || !IsSnapshotVm(e.name)) continue;
          if (e.reason != "SnapshotTaken" && e.reason != "SnapshotFailed") continue;
          if (settled.count(e.name)) continue;
          WallTime t;
          if (!ParseRfc3339(e.time, &t)) continue;
          settled[e.name] = t;
          failed += e.reason == "SnapshotFailed";
        }
      }
      std::this_thread::sleep_for(milliseconds(5));
    }
    if (static_cast<int>(settled.size()) < n) {
      std::fprintf(stderr, "storm %d: only %zu/%d snapshots settled within %d s\n", k + 1,
                   settled.size(), n, flags_.timeout_seconds);
      return nullptr;
    }
    WallTime end{WallTime::min()};
    std::vector<double> per_vm;
    for (const auto& [name, t] : settled) {
      end = std::max(end, t);
      per_vm.push_back(MsBetween(due[name], t));
    }
    // Heartbeats that ended during the storm or within one interval after it (the ones it held
    // back), against those of the quiet seconds before it.
    std::this_thread::sleep_until(to_steady(end) + seconds(2));
    (void)controller_->WaitIdle(seconds(flags_.timeout_seconds));
    ReadNewEvents(nullptr);
    const auto storm_from = to_steady(first_due);
    std::vector<double> gaps = HeartbeatGaps(storm_from, to_steady(end) + seconds(1));
    std::vector<double> quiet = HeartbeatGaps(storm_from - kQuiet, storm_from);
    int late = 0;
    for (double g : gaps) late += g > 1500;
    const HostTotals hosts_after = SumHosts();
    Json r = {{"trigger", flags_.snapshot_trigger},
              {"due_span_ms", MsBetween(first_due, last_due)},
              {"all_taken_ms", MsBetween(first_due, end)},
              {"per_vm_ms", Summarize(per_vm).ToJson()},
              {"snapshots_failed", failed},
              {"drift", {{"vm", drift_vm}, {"host", drift_before.host},
                         {"destroy_ok", drift.destroyed.ok()},
                         {"destroyed_at_ms", MsBetween(storm_from, drift_start)},
                         {"running_ms", drift.running_ms}, {"status_ms", drift.status_ms}}},
              {"heartbeat_gap_ms", Summarize(gaps).ToJson()},
              {"quiet_heartbeat_gap_ms", Summarize(quiet).ToJson()},
              {"heartbeats_late", late},
              {"host_health_events", health_events},
              {"connection_wait_ms",
               hosts_after.connection_wait_ms - hosts_before.connection_wait_ms},
              {"snapshot_calls", hosts_after.snapshot_calls - hosts_before.snapshot_calls},
              {"reconciles", Delta(ReconcileCounts(*controller_), counts_before)}};
    std::printf("storm %d (%s):          due over %.0f ms; all %d settled %.0f ms after the first "
                "came due (%d failed); per VM %s; drift %s -> running %.1f ms, counted %.1f ms; "
                "heartbeat interval max %.0f ms (quiet %.0f ms)\n",
                k + 1, flags_.snapshot_trigger.c_str(), MsBetween(first_due, last_due), n,
                MsBetween(first_due, end), failed, Fmt(Summarize(per_vm), "ms").c_str(),
                drift_vm.c_str(), drift.running_ms, drift.status_ms, Summarize(gaps).max,
                Summarize(quiet).max);
    std::fflush(stdout);
    return r;
  }

  const Flags flags_;
  fs::path dir_;
  providers::LibvirtHypervisorFactory factory_;
  std::shared_ptr<providers::FakeStorage> storage_;                   // storage mode
  std::unique_ptr<bench::SlowStorageHypervisorFactory> slow_factory_;  // storage mode
  std::unique_ptr<reconciler::RocksDbStore> store_;
  std::unique_ptr<reconciler::Controller> controller_;
  int64_t last_event_seq_ = 0;
  std::map<std::string, int> event_reasons_;
  Json converged_counts_;
  Json report_;
};

}  // namespace
}  // namespace vmk

int main(int argc, char** argv) {
  vmk::Flags flags;
  if (auto exit_code = vmk::ParseFlags(argc, argv, &flags)) return *exit_code;
  vmk::log::Level level;
  if (!vmk::log::ParseLevel(flags.log_level, &level)) {
    std::fprintf(stderr, "bad --log-level %s\n", flags.log_level.c_str());
    return 2;
  }
  vmk::log::SetLevel(level);
  return vmk::ScaleBench(std::move(flags)).Run();
}
