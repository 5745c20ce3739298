// relaunch_bench: the VMs of one failed host relaunched across the other hosts, by the
// production controller and by a bare loop making the same libvirt calls.
//
// Controller run (one per --runs, each from scratch): reconciler::Controller over a RocksDbStore
// in a temp dir, the real clock, the default heartbeat settings (1 s interval, NotReady after 3
// failures spanning 2 s), and LibvirtHypervisorFactory hosts on libvirt's test driver
// (test:///embedded/NAME), each wrapped in a FaultInjectingHypervisor that counts its calls.
// --hosts + 1 hosts are declared: hvfail (acknowledgeUnsafe: true, so fencing costs nothing) and
// hv000.. (64 CPUs / 256 GiB each). --vms VMs of 1 CPU / 256 MiB / one disk all name hvfail in
// placement.preferredHosts, so they all start there. Once they are Ready and the queue is idle,
// hvfail fails: its hypervisor reports a closed connection ("eof", as libvirt's close callback
// does when a libvirtd dies) and refuses every call from then on. Measured from the controller's
// own records (event times, ms) and its stored status:
//   detection  = failure -> first of the HostNotReady / HostFailed events of hvfail;
//   controller = HostFailed (the failover decision) -> every VM's status says Ready=True on a
//                host other than hvfail (seen by polling the store; the last VM's Started event
//                time is printed too, it has no polling delay);
//   total      = failure -> the same end.
// Bare loop (--runs times, with --workers threads and with one thread): --hosts fresh embedded
// test hosts opened with virConnectOpen (a lifecycle callback registered, as the controller's
// connections have), and for each VM, round-robin over the hosts, the libvirt calls the
// controller's relaunch makes (see BareRelaunchOne). Ratio = controller median / bare median.
//
// Prints a table and, last, one line "JSON {...}". Nothing is asserted; exit 1 only when a run
// could not be done (setup failure, no convergence before --timeout-seconds).
// Single-threaded driver, except the bare loop's worker threads.
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <CLI/CLI.hpp>

#include "bench/bench_util.h"
#include "tests/fakes/fault_injecting_hypervisor.h"
#include "common/clock.h"
#include "common/log.h"
#include "providers/hypervisor/libvirt/domain_xml.h"
#include "providers/hypervisor/libvirt/libvirt_event_loop.h"
#include "providers/hypervisor/libvirt/libvirt_hypervisor.h"
#include "reconciler/controller/controller.h"
#include "reconciler/core/object_status.h"
#include "reconciler/store/rocksdb_store.h"

namespace vmk {
namespace {

namespace fs = std::filesystem;
using bench::Json;
using bench::MsBetween;
using bench::Summarize;
using std::chrono::milliseconds;
using std::chrono::seconds;
using SteadyClock = std::chrono::steady_clock;
using SystemClock = std::chrono::system_clock;

constexpr char kFailedHost[] = "hvfail";
constexpr int kHostCpus = 64;
constexpr int64_t kHostMemoryMiB = 262144;
constexpr int kVmMemoryMiB = 256;

struct Flags {
  int vms = 1000;
  int hosts = 100;
  int workers = 4;
  int runs = 3;
  int timeout_seconds = 300;  // per phase of a run
  bool close_event = true;    // the failed host's connection reports "eof" (a killed libvirtd)
  bool controller = true;     // run the controller part
  bool bare = true;           // run the bare loops
  std::string log_level = "warning";
  std::string dir;  // default: <tmp>/vmk-relaunch-bench-<pid>
  bool keep_dir = false;
};

// Flags through CLI11: --name value or --name=value; --help prints them with their defaults.
// Returns the exit code when parsing ends the program (help, bad flags), else nullopt.
std::optional<int> ParseFlags(int argc, char** argv, Flags* f) {
  CLI::App app{"relaunch_bench: a failed host's VMs relaunched elsewhere (see bench/README.md)"};
  app.add_option("--vms", f->vms, "VMs on the host that fails")->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--hosts", f->hosts, "libvirt test-driver hosts")->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--workers", f->workers, "reconcile workers")->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--runs", f->runs, "runs")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--timeout-seconds", f->timeout_seconds, "per phase of a run")
      ->capture_default_str()->check(CLI::PositiveNumber);
  bool no_close_event = false, no_controller = false, no_bare = false;
  app.add_flag("--no-close-event", no_close_event,
               "the failed host's connection reports nothing (a hung, not a killed, libvirtd)");
  app.add_flag("--no-controller", no_controller, "skip the controller part");
  app.add_flag("--no-bare", no_bare, "skip the bare libvirt loops");
  app.add_option("--log-level", f->log_level, "debug|info|warning|error")->capture_default_str();
  app.add_option("--dir", f->dir, "work directory (default <tmp>/vmk-relaunch-bench-<pid>)");
  app.add_flag("--keep-dir", f->keep_dir, "keep the work directory");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  f->close_event = !no_close_event;
  f->controller = !no_controller;
  f->bare = !no_bare;
  return std::nullopt;
}

std::string HostName(int i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "hv%03d", i);
  return buf;
}

std::string VmName(int i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "vm%05d", i);
  return buf;
}

// hosts.yaml (hvfail first, able to hold every VM) and vms.yaml (every VM prefers hvfail).
std::vector<reconciler::ManifestFile> FleetManifests(const Flags& flags) {
  std::string hosts =
      std::string("apiVersion: vmkeeper/v1\nkind: Host\nmetadata:\n  name: ") + kFailedHost +
      "\nspec:\n  uri: test:///embedded/" + kFailedHost + "\n  acknowledgeUnsafe: true\n" +
      "  capacity: {cpus: " + std::to_string(std::max(kHostCpus, flags.vms)) +
      ", memoryMiB: " +
      std::to_string(std::max<int64_t>(kHostMemoryMiB, int64_t{kVmMemoryMiB} * flags.vms)) +
      "}\n---\n";
  for (int i = 0; i < flags.hosts; ++i) {
    const std::string name = HostName(i);
    hosts += "apiVersion: vmkeeper/v1\nkind: Host\nmetadata:\n  name: " + name +
             "\nspec:\n  uri: test:///embedded/" + name + "\n  capacity: {cpus: " +
             std::to_string(kHostCpus) + ", memoryMiB: " + std::to_string(kHostMemoryMiB) +
             "}\n---\n";
  }
  std::string vms;
  for (int i = 0; i < flags.vms; ++i) {
    const std::string name = VmName(i);
    vms += "apiVersion: vmkeeper/v1\nkind: VirtualMachine\nmetadata:\n  name: " + name +
           "\nspec:\n  cpus: 1\n  memoryMiB: " + std::to_string(kVmMemoryMiB) +
           "\n  disks:\n    - {name: root, image: /var/lib/vmkeeper/images/" + name +
           ".qcow2, format: qcow2, sizeGiB: 1}\n  placement: {preferredHosts: [" + kFailedHost + "]}\n---\n";
  }
  return {{"hosts.yaml", std::move(hosts)}, {"vms.yaml", std::move(vms)}};
}

Json CountsJson(const bench::FaultInjectingHypervisor::Counts& c, double per) {
  Json out = Json::object();
  for (int i = 0; i < bench::FaultInjectingHypervisor::kNumCalls; ++i) {
    if (c[i] == 0) continue;
    out[bench::FaultInjectingHypervisor::CallName(i)] = static_cast<double>(c[i]) / per;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The controller's relaunch.

struct ControllerRun {
  double detection_ms = -1;
  double controller_ms = -1;       // HostFailed -> all Ready elsewhere (store polled)
  double last_started_ms = -1;     // HostFailed -> the last VM's Started event
  double placed_ms = -1;           // HostFailed -> FailoverComplete (every VM placed)
  double total_ms = -1;
  Json report;
};

class ControllerRelaunch {
 public:
  ControllerRelaunch(const Flags& flags, fs::path dir) : flags_(flags), dir_(std::move(dir)) {}

  ~ControllerRelaunch() {
    if (controller_) controller_->Stop();
    controller_.reset();
    faults_.Clear();
    store_.reset();
  }

  // Builds the controller and waits until every VM runs on hvfail. False on failure.
  bool Setup() {
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
    reconciler::ControllerOptions options;  // default heartbeats and resync period
    options.workers = flags_.workers;
    options.connect.embedded_host_dir = (dir_ / "embedded").string();
    options.stop_grace = seconds(5);
    controller_ = std::make_unique<reconciler::Controller>(store_.get(), &faults_,
                                                           RealClock::Get(), options);
    Status started = controller_->Start();
    if (!started.ok()) {
      std::fprintf(stderr, "controller start: %s\n", started.ToString().c_str());
      return false;
    }
    const auto t0 = SteadyClock::now();
    auto outcome = controller_->Apply(FleetManifests(flags_), {});
    if (!outcome.ok() || !outcome->errors.empty()) {
      std::fprintf(stderr, "apply failed: %s\n",
                   !outcome.ok() ? outcome.status().ToString().c_str()
                                 : outcome->errors.front().c_str());
      return false;
    }
    const auto deadline = t0 + seconds(flags_.timeout_seconds);
    int on_failed_host = 0;
    while (SteadyClock::now() < deadline) {
      on_failed_host = 0;
      auto vms = controller_->List(specs::Kind::kVirtualMachine);
      if (vms.ok()) {
        for (const auto& vm : *vms) {
          if (bench::IsReady(vm) &&
              reconciler::VmStatus::FromJson(vm.status).host == kFailedHost) {
            ++on_failed_host;
          }
        }
      }
      if (on_failed_host == flags_.vms && controller_->Ready()) break;
      std::this_thread::sleep_for(milliseconds(50));
    }
    if (on_failed_host != flags_.vms) {
      std::fprintf(stderr, "only %d/%d VMs Ready on %s after %d s\n", on_failed_host, flags_.vms,
                   kFailedHost, flags_.timeout_seconds);
      return false;
    }
    setup_ms_ = MsBetween(t0, SteadyClock::now());
    if (!controller_->WaitIdle(seconds(flags_.timeout_seconds))) {
      std::fprintf(stderr, "queue not idle after the VMs started\n");
      return false;
    }
    return true;
  }

  // Fails hvfail and follows the relaunch to its end. False when it did not end in time.
  bool Measure(ControllerRun* out) {
    bench::FaultInjectingHypervisor* failed = faults_.Find(kFailedHost);
    if (!failed) {
      std::fprintf(stderr, "no hypervisor was created for %s\n", kFailedHost);
      return false;
    }
    ReadNewEvents();  // skip the setup's events
    const auto counts_before = faults_.TotalCounts(kFailedHost);
    const Json reconciles_before = bench::ReconcileCounts(*controller_);

    const SystemClock::time_point failed_at = SystemClock::now();
    const auto steady_failed_at = SteadyClock::now();
    failed->Fail(flags_.close_event);
    const auto deadline = steady_failed_at + seconds(flags_.timeout_seconds);

    std::unordered_map<std::string, SystemClock::time_point> started;  // VM -> Started event
    std::optional<SystemClock::time_point> not_ready, host_failed, failover_complete;
    int failed_scheduling = 0;
    Json host_events = Json::array();  // hvfail's events, ms after the failure
    std::optional<SystemClock::time_point> all_ready;
    int ready_elsewhere = 0;
    int list_polls = 0;
    std::map<std::string, int> per_host;
    while (SteadyClock::now() < deadline) {
      for (const auto& e : ReadNewEvents()) {
        WallTime t;
        if (!ParseRfc3339(e.time, &t)) continue;
        if (e.kind == specs::Kind::kHost && e.name == kFailedHost) {
          host_events.push_back({{"reason", e.reason}, {"ms", MsBetween(failed_at, t)}});
          if (e.reason == "HostNotReady" && !not_ready) not_ready = t;
          if (e.reason == "HostFailed" && !host_failed) host_failed = t;
          if (e.reason == "FailoverComplete" && !failover_complete) failover_complete = t;
        } else if (e.kind == specs::Kind::kVirtualMachine) {
          if (e.reason == "Started") started.emplace(e.name, t);
          if (e.reason == "FailedScheduling") ++failed_scheduling;
        }
      }
      if (static_cast<int>(started.size()) >= flags_.vms) {
        // Every VM has been started somewhere; the status is written right after the event.
        auto vms = controller_->List(specs::Kind::kVirtualMachine);
        ++list_polls;
        ready_elsewhere = 0;
        per_host.clear();
        if (vms.ok()) {
          for (const auto& vm : *vms) {
            const std::string host = reconciler::VmStatus::FromJson(vm.status).host;
            if (!bench::IsReady(vm) || host.empty() || host == kFailedHost) continue;
            ++ready_elsewhere;
            ++per_host[host];
          }
        }
        if (ready_elsewhere == flags_.vms) {
          all_ready = SystemClock::now();
          break;
        }
      }
      std::this_thread::sleep_for(milliseconds(5));
    }
    const auto counts_after = faults_.TotalCounts(kFailedHost);
    // The host's reconcile writes FailoverComplete after enqueueing the last VM, which may be
    // Ready by then: wait a little for it (outside the measurement) so it can be reported.
    const auto complete_deadline = SteadyClock::now() + seconds(2);
    while (all_ready && !failover_complete && SteadyClock::now() < complete_deadline) {
      for (const auto& e : ReadNewEvents()) {
        WallTime t;
        if (e.kind == specs::Kind::kHost && e.name == kFailedHost &&
            e.reason == "FailoverComplete" && ParseRfc3339(e.time, &t)) {
          failover_complete = t;
          host_events.push_back({{"reason", e.reason}, {"ms", MsBetween(failed_at, t)}});
        }
      }
      std::this_thread::sleep_for(milliseconds(5));
    }
    const Json reconciles = bench::Delta(bench::ReconcileCounts(*controller_), reconciles_before);
    if (!all_ready || !host_failed) {
      std::fprintf(stderr,
                   "relaunch not complete after %d s: HostFailed %s, %zu Started events, "
                   "%d Ready elsewhere, %d FailedScheduling\n",
                   flags_.timeout_seconds, host_failed ? "seen" : "not seen", started.size(),
                   ready_elsewhere, failed_scheduling);
      return false;
    }
    SystemClock::time_point last_started = host_failed.value();
    for (const auto& [vm, t] : started) last_started = std::max(last_started, t);
    const SystemClock::time_point detected =
        not_ready ? std::min(*not_ready, *host_failed) : *host_failed;

    out->detection_ms = MsBetween(failed_at, detected);
    out->controller_ms = MsBetween(*host_failed, *all_ready);
    out->last_started_ms = MsBetween(*host_failed, last_started);
    out->placed_ms = failover_complete ? MsBetween(*host_failed, *failover_complete) : -1;
    out->total_ms = MsBetween(failed_at, *all_ready);

    bench::FaultInjectingHypervisor::Counts calls{};
    for (size_t i = 0; i < calls.size(); ++i) calls[i] = counts_after[i] - counts_before[i];
    int min_per_host = flags_.vms, max_per_host = 0;
    for (const auto& [host, n] : per_host) {
      min_per_host = std::min(min_per_host, n);
      max_per_host = std::max(max_per_host, n);
    }
    if (static_cast<int>(per_host.size()) < flags_.hosts) min_per_host = 0;
    out->report = {{"setup_ms", setup_ms_},
                   {"detection_ms", out->detection_ms},
                   {"host_not_ready_event", not_ready.has_value()},
                   {"controller_ms", out->controller_ms},
                   {"last_started_event_ms", out->last_started_ms},
                   {"failover_complete_ms", out->placed_ms},
                   {"total_ms", out->total_ms},
                   {"list_polls", list_polls},
                   {"vms_per_host_min", min_per_host},
                   {"vms_per_host_max", max_per_host},
                   {"failed_scheduling_events", failed_scheduling},
                   {"failed_host_events", host_events},
                   {"reconciles", reconciles},
                   {"hypervisor_calls_per_vm", CountsJson(calls, flags_.vms)}};
    return true;
  }

 private:
  std::vector<reconciler::Event> ReadNewEvents() {
    auto events = controller_->Events(std::nullopt, last_event_seq_, SIZE_MAX);
    if (!events.ok()) return {};
    if (!events->empty()) last_event_seq_ = events->back().seq;
    return std::move(*events);
  }

  const Flags& flags_;
  const fs::path dir_;
  providers::LibvirtHypervisorFactory libvirt_;
  bench::FaultInjectingHypervisorFactory faults_{&libvirt_};
  std::unique_ptr<reconciler::RocksDbStore> store_;
  std::unique_ptr<reconciler::Controller> controller_;
  int64_t last_event_seq_ = 0;
  double setup_ms_ = 0;
};

// ---------------------------------------------------------------------------------------------
// The bare loop.

int CountLifecycleEvent(virConnectPtr, virDomainPtr, int, int, void* opaque) {
  static_cast<std::atomic<long>*>(opaque)->fetch_add(1, std::memory_order_relaxed);
  return 0;
}

std::string LastLibvirtError() {
  virErrorPtr e = virGetLastError();
  return e && e->message ? e->message : "unknown libvirt error";
}

// The libvirt calls of one VM's relaunch as the controller makes them through LibvirtHypervisor
// (vm_reconciler.cc steps 4-5 on a host whose listing does not hold the VM):
//   DefineDomain:  LookupByName (not found) ; GenerateDomainXml ; DefineXML
//   GetDomain:     LookupByName ; GetUUIDString ; GetState ; IsPersistent ; GetXMLDesc(INACTIVE)
//   StartDomain:   LookupByName ; IsPersistent ; GetMetadata(owner mark) ; IsActive ; Create
//   GetDomain:     LookupByName ; GetUUIDString ; GetState ; IsPersistent ; GetXMLDesc(INACTIVE)
//                  ; GetMetadata(LIVE)  (the domain is active now)
// The controller also parses the XML it reads back; the bare loop does not (not a libvirt call).
// Returns an error message, or "" on success.
std::string BareRelaunchOne(virConnectPtr conn, const std::string& name) {
  auto lookup = [&]() { return virDomainLookupByName(conn, name.c_str()); };
  auto read_info = [&](virDomainPtr d, bool active) -> std::string {
    char uuid[VIR_UUID_STRING_BUFLEN];
    int state = 0, reason = 0;
    if (virDomainGetUUIDString(d, uuid) < 0) return "uuid: " + LastLibvirtError();
    if (virDomainGetState(d, &state, &reason, 0) < 0) return "state: " + LastLibvirtError();
    if (virDomainIsPersistent(d) < 0) return "persistent: " + LastLibvirtError();
    char* xml = virDomainGetXMLDesc(d, VIR_DOMAIN_XML_INACTIVE);
    if (!xml) return "xml: " + LastLibvirtError();
    std::free(xml);
    if (active) {
      char* live = virDomainGetMetadata(d, VIR_DOMAIN_METADATA_ELEMENT, providers::kOwnerNamespace,
                                        VIR_DOMAIN_AFFECT_LIVE);
      if (!live) return "live metadata: " + LastLibvirtError();
      std::free(live);
    }
    return "";
  };

  // DefineDomain.
  if (virDomainPtr existing = lookup()) {
    virDomainFree(existing);
    return "domain already exists";
  }
  providers::DomainConfig config;
  config.name = name;
  config.cpus = 1;
  config.memoryMiB = kVmMemoryMiB;
  config.generation = 1;
  config.disks.push_back({"root", "/var/lib/vmkeeper/images/" + name + ".qcow2",
                          providers::DefaultDiskTarget(0)});
  const std::string xml = providers::GenerateDomainXml(config, providers::DomainXmlFlavor::kTest);
  virDomainPtr defined = virDomainDefineXML(conn, xml.c_str());
  if (!defined) return "define: " + LastLibvirtError();
  virDomainFree(defined);

  // GetDomain (shut off).
  virDomainPtr d = lookup();
  if (!d) return "lookup: " + LastLibvirtError();
  std::string error = read_info(d, /*active=*/false);
  virDomainFree(d);
  if (!error.empty()) return error;

  // StartDomain.
  d = lookup();
  if (!d) return "lookup: " + LastLibvirtError();
  int persistent = virDomainIsPersistent(d);
  char* mark = virDomainGetMetadata(d, VIR_DOMAIN_METADATA_ELEMENT, providers::kOwnerNamespace,
                                    persistent == 1 ? VIR_DOMAIN_AFFECT_CONFIG
                                                    : VIR_DOMAIN_AFFECT_LIVE);
  if (!mark) error = "owner mark: " + LastLibvirtError();
  std::free(mark);
  if (error.empty() && virDomainIsActive(d) != 0) error = "active before start";
  if (error.empty() && virDomainCreate(d) < 0) error = "create: " + LastLibvirtError();
  virDomainFree(d);
  if (!error.empty()) return error;

  // GetDomain (running).
  d = lookup();
  if (!d) return "lookup: " + LastLibvirtError();
  error = read_info(d, /*active=*/true);
  virDomainFree(d);
  return error;
}

struct BareRun {
  double ms = -1;
  long events = 0;
};

// Opens `hosts` fresh embedded test hosts, relaunches `vms` VMs over them round-robin with
// `threads` threads, and checks that every domain runs. False on failure.
bool RunBare(const Flags& flags, const fs::path& dir, int threads, BareRun* out) {
  std::error_code ec;
  fs::remove_all(dir, ec);
  fs::create_directories(dir, ec);
  if (ec) {
    std::fprintf(stderr, "cannot create %s: %s\n", dir.c_str(), ec.message().c_str());
    return false;
  }
  // Same node document as LibvirtHypervisor writes for an embedded host of this capacity.
  const std::string cpus = std::to_string(kHostCpus);
  const std::string node =
      "<node>\n  <cpu>\n    <nodes>1</nodes>\n    <sockets>1</sockets>\n    <cores>" + cpus +
      "</cores>\n    <threads>1</threads>\n    <active>" + cpus +
      "</active>\n    <mhz>2000</mhz>\n    <model>x86_64</model>\n  </cpu>\n  <memory>" +
      std::to_string(kHostMemoryMiB * 1024) + "</memory>\n</node>\n";
  std::atomic<long> events{0};
  std::vector<virConnectPtr> conns;
  std::vector<int> callbacks;
  bool ok = true;
  for (int h = 0; h < flags.hosts && ok; ++h) {
    const fs::path path = dir / (HostName(h) + ".xml");
    std::ofstream(path) << node;
    virConnectPtr c = virConnectOpen(("test://" + path.string()).c_str());
    if (!c) {
      std::fprintf(stderr, "open %s: %s\n", path.c_str(), LastLibvirtError().c_str());
      ok = false;
      break;
    }
    conns.push_back(c);
    int id = virConnectDomainEventRegisterAny(c, nullptr, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                                              VIR_DOMAIN_EVENT_CALLBACK(CountLifecycleEvent),
                                              &events, nullptr);
    if (id < 0) {
      std::fprintf(stderr, "register events: %s\n", LastLibvirtError().c_str());
      ok = false;
    }
    callbacks.push_back(id);
  }

  if (ok) {
    std::atomic<int> next{0};
    std::atomic<int> failures{0};
    std::mutex error_mu;
    std::string first_error;
    const auto t0 = SteadyClock::now();
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
      pool.emplace_back([&] {
        for (int i = next.fetch_add(1); i < flags.vms; i = next.fetch_add(1)) {
          std::string error = BareRelaunchOne(conns[i % conns.size()], VmName(i));
          if (!error.empty()) {
            ++failures;
            std::lock_guard<std::mutex> l(error_mu);
            if (first_error.empty()) first_error = VmName(i) + ": " + error;
          }
        }
      });
    }
    for (auto& t : pool) t.join();
    out->ms = MsBetween(t0, SteadyClock::now());
    int running = 0;
    for (virConnectPtr c : conns) running += std::max(0, virConnectNumOfDomains(c));
    if (failures > 0 || running != flags.vms) {
      std::fprintf(stderr, "bare loop: %d failures (first: %s), %d/%d domains running\n",
                   failures.load(), first_error.c_str(), running, flags.vms);
      ok = false;
    }
  }
  for (size_t i = 0; i < conns.size(); ++i) {
    if (i < callbacks.size() && callbacks[i] >= 0) {
      virConnectDomainEventDeregisterAny(conns[i], callbacks[i]);
    }
    virConnectClose(conns[i]);
  }
  out->events = events.load();
  fs::remove_all(dir, ec);
  return ok;
}

// ---------------------------------------------------------------------------------------------

std::string FmtMs(const bench::Summary& s) {
  char buf[128];
  std::snprintf(buf, sizeof buf, "%8.0f %8.0f %8.0f", s.median, s.min, s.max);
  return buf;
}

int Run(const Flags& flags) {
  const fs::path dir =
      flags.dir.empty()
          ? fs::temp_directory_path() / ("vmk-relaunch-bench-" + std::to_string(getpid()))
          : fs::path(flags.dir);
  Json report;
  report["config"] = {{"vms", flags.vms},
                      {"hosts", flags.hosts},
                      {"workers", flags.workers},
                      {"runs", flags.runs},
                      {"close_event", flags.close_event},
                      {"fencing", "acknowledgeUnsafe"},
                      {"heartbeat", "default: 1000 ms interval, 3 failures"},
                      {"cores", std::thread::hardware_concurrency()},
                      {"dir", dir.string()}};
  std::printf("relaunch_bench: %d VMs of %s relaunched across %d test:/// hosts, %d workers, "
              "%u cores, %d runs\n",
              flags.vms, kFailedHost, flags.hosts, flags.workers,
              std::thread::hardware_concurrency(), flags.runs);
  std::fflush(stdout);
  bool ok = true;

  std::vector<double> detection, controller, last_started, placed, total;
  Json runs = Json::array();
  for (int r = 0; r < flags.runs && ok && flags.controller; ++r) {
    ControllerRun run;
    {
      ControllerRelaunch bench(flags, dir / ("controller-" + std::to_string(r)));
      ok = bench.Setup() && bench.Measure(&run);
    }
    if (!flags.keep_dir) {
      std::error_code ec;
      fs::remove_all(dir / ("controller-" + std::to_string(r)), ec);
    }
    if (!ok) break;
    runs.push_back(run.report);
    detection.push_back(run.detection_ms);
    controller.push_back(run.controller_ms);
    last_started.push_back(run.last_started_ms);
    if (run.placed_ms >= 0) placed.push_back(run.placed_ms);
    total.push_back(run.total_ms);
    std::printf("controller run %d: setup %.0f ms; detection %.0f ms, controller %.0f ms (last "
                "Started event %.0f ms, all placed %.0f ms), total %.0f ms; %.0f vm + %.0f host "
                "reconciles; calls per VM %s\n",
                r + 1, run.report["setup_ms"].get<double>(), run.detection_ms, run.controller_ms,
                run.last_started_ms, run.placed_ms, run.total_ms,
                run.report["reconciles"]["vm"].get<double>(),
                run.report["reconciles"]["host"].get<double>(),
                run.report["hypervisor_calls_per_vm"].dump().c_str());
    std::fflush(stdout);
  }

  std::vector<double> bare_pool, bare_single;
  Json bare_runs = Json::array();
  for (int r = 0; r < flags.runs && ok && flags.bare; ++r) {
    for (int threads : {flags.workers, 1}) {
      BareRun run;
      ok = RunBare(flags, dir / ("bare-" + std::to_string(r)), threads, &run);
      if (!ok) break;
      if (threads == flags.workers) bare_pool.push_back(run.ms);
      if (threads == 1) bare_single.push_back(run.ms);
      bare_runs.push_back({{"threads", threads}, {"ms", run.ms}, {"events", run.events}});
      std::printf("bare loop run %d, %d thread%s: %.0f ms (%ld lifecycle events)\n", r + 1,
                  threads, threads == 1 ? "" : "s", run.ms, run.events);
      std::fflush(stdout);
      if (flags.workers == 1) break;
    }
  }

  const auto s_detection = Summarize(detection), s_controller = Summarize(controller),
             s_last = Summarize(last_started), s_placed = Summarize(placed),
             s_total = Summarize(total), s_pool = Summarize(bare_pool),
             s_single = Summarize(bare_single);
  const double ratio = s_pool.median > 0 ? s_controller.median / s_pool.median : -1;
  const double ratio_single = s_single.median > 0 ? s_controller.median / s_single.median : -1;

  std::printf("\n%-62s %8s %8s %8s\n", "figure (ms)", "median", "min", "max");
  if (!controller.empty()) {
    std::printf("%-62s %s\n", "detection: failure -> HostNotReady/HostFailed",
                FmtMs(s_detection).c_str());
    std::printf("%-62s %s\n", "controller: HostFailed -> all VMs Ready elsewhere (status)",
                FmtMs(s_controller).c_str());
    std::printf("%-62s %s\n", "  HostFailed -> last VM's Started event", FmtMs(s_last).c_str());
    std::printf("%-62s %s\n", "  HostFailed -> FailoverComplete (all placed)",
                FmtMs(s_placed).c_str());
    std::printf("%-62s %s\n", "total: failure -> all VMs Ready elsewhere", FmtMs(s_total).c_str());
  }
  if (!bare_pool.empty()) {
    char label[80];
    std::snprintf(label, sizeof label, "bare loop, %d threads", flags.workers);
    std::printf("%-62s %s\n", label, FmtMs(s_pool).c_str());
  }
  if (!bare_single.empty()) {
    std::printf("%-62s %s\n", "bare loop, 1 thread", FmtMs(s_single).c_str());
  }
  if (ratio > 0) {
    std::printf("ratio controller / bare loop (%d threads): %.2fx   (aim <= 1.2x: %s)\n",
                flags.workers, ratio, ratio <= 1.2 ? "met" : "MISSED");
  }
  if (ratio_single > 0) {
    std::printf("ratio controller / bare loop (1 thread):   %.2fx\n", ratio_single);
  }
  if (!controller.empty()) {
    std::printf("controller time %.0f ms (aim <= 1500 ms: %s)\n", s_controller.median,
                s_controller.median <= 1500 ? "met" : "MISSED");
  }

  report["controller"] = {{"detection_ms", s_detection.ToJson()},
                          {"controller_ms", s_controller.ToJson()},
                          {"last_started_event_ms", s_last.ToJson()},
                          {"failover_complete_ms", s_placed.ToJson()},
                          {"total_ms", s_total.ToJson()},
                          {"runs", runs}};
  report["bare"] = {{"threads_ms", s_pool.ToJson()},
                    {"single_thread_ms", s_single.ToJson()},
                    {"runs", bare_runs}};
  report["ratio"] = ratio;
  report["ratio_single_thread"] = ratio_single;
  report["ok"] = ok;
  std::printf("JSON %s\n", report.dump().c_str());
  std::fflush(stdout);
  if (!flags.keep_dir) {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  return ok ? 0 : 1;
}

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
  // libvirt's event implementation must be registered before the first connection opens (the
  // bare loop may run without the controller having opened any).
  vmk::Status loop = vmk::providers::LibvirtEventLoop::Get()->Start();
  if (!loop.ok()) {
    std::fprintf(stderr, "libvirt event loop: %s\n", loop.ToString().c_str());
    return 1;
  }
  return vmk::Run(flags);
}
