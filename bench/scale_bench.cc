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
//   4. peak RSS (getrusage ru_maxrss and /proc/self/status VmHWM) after convergence and at end.
// It prints a table on stdout and, last, one line "JSON {...}" with every figure. Nothing is
// asserted: the figures go to bench/README.md. Exit code 1 only when the run itself could not be
// done (setup failure, invalid manifests, no convergence before --timeout-seconds).
//
// Single-threaded driver; the controller runs its own workers and resync thread.
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
#include "providers/hypervisor/libvirt/libvirt_hypervisor.h"
#include "reconciler/controller/controller.h"
#include "reconciler/core/object_status.h"
#include "reconciler/store/rocksdb_store.h"
#include "bench/bench_util.h"

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
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
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

// hosts.yaml with every host, then vms-NN.yaml files of vms_per_file VMs each.
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
  for (int first = 0; first < flags.vms; first += flags.vms_per_file) {
    std::string text;
    for (int i = first; i < std::min(flags.vms, first + flags.vms_per_file); ++i) {
      const std::string name = VmName(i);
      text += "apiVersion: vmkeeper/v1\nkind: VirtualMachine\nmetadata:\n  name: " + name +
              "\n  labels: {service: svc" + std::to_string(i % 100) +
              "}\nspec:\n  cpus: 1\n  memoryMiB: 256\n  disks:\n    - {name: root, image: "
              "/var/lib/vmkeeper/images/" +
              name + ".qcow2, format: qcow2, sizeGiB: 1}\n---\n";
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
    std::printf("scale_bench: %d hosts, %d VMs, %d workers, %u cores, store in %s\n",
                flags_.hosts, flags_.vms, flags_.workers, std::thread::hardware_concurrency(),
                dir_.string().c_str());
    std::fflush(stdout);
    bool ok = ApplyUntilRunning();
    if (ok) ok = ResyncPasses();
    if (ok) Drift("drift", flags_.runs, 0, /*during_resync=*/false);
    if (ok) Drift("drift_during_resync", flags_.busy_runs, flags_.runs, /*during_resync=*/true);
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
    controller_ = std::make_unique<reconciler::Controller>(store_.get(), &factory_,
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
      providers::Hypervisor* host = controller_->HostConnectionForTest(before.host);
      if (!host) {
        ++failures;
        continue;
      }
      if (during_resync) controller_->ResyncNow();
      // The clock starts before the call: libvirt queues the lifecycle event inside
      // virDomainDestroy, and on a busy machine the controller may restart the domain before
      // this thread even returns from the call (a clock started at return then reads ~0).
      const auto t0 = SteadyClock::now();
      Status destroyed = host->DestroyDomain(vm);
      const double call_ms = MsSince(t0);
      if (!destroyed.ok()) {
        std::fprintf(stderr, "destroy %s: %s\n", vm.c_str(), destroyed.ToString().c_str());
        ++failures;
        continue;
      }
      const auto deadline = t0 + limit;
      double running = -1, counted = -1;
      while (SteadyClock::now() < deadline && running < 0) {
        auto d = host->GetDomain(vm);
        if (d.ok() && d->has_value() && (*d)->state == providers::DomainState::kRunning) {
          running = MsSince(t0);
          break;
        }
        std::this_thread::sleep_for(milliseconds(1));
      }
      while (SteadyClock::now() < deadline && running >= 0) {
        auto o = controller_->Get(specs::Kind::kVirtualMachine, vm);
        if (o.ok() && *o) {
          auto now = reconciler::VmStatus::FromJson((*o)->status);
          if (now.restartCount > before.restartCount && IsReady(**o)) {
            counted = MsSince(t0);
            break;
          }
        }
        std::this_thread::sleep_for(milliseconds(1));
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

  const Flags flags_;
  fs::path dir_;
  providers::LibvirtHypervisorFactory factory_;
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
