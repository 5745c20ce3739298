// A fleet of real hosts and tiny QEMU guests for end-to-end tests and benchmarks: N libvirtd
// hosts in their own namespaces (tests/e2e/libvirt_hosts.sh), each fenced by the test agent
// whose "off" really kills the host, and VMs booting the guest of tests/e2e/guest/ with their
// own disk and an HTTP port forwarded to 127.0.0.1. All hosts share the network namespace, so
// a VM keeps its port wherever it runs. Header-only; not thread-safe.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>

#include <algorithm>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "tests/e2e/daemon_harness.h"

namespace vmk::e2e {

// The guest's kernel, initramfs and blank disk, built once into the build tree.
inline fs::path GuestDir() { return fs::path(BinDir()) / "e2e-guest"; }

// Builds the guest if it is not built yet; returns "" or what went wrong.
inline std::string BuildGuest(const fs::path& scratch) {
  auto r = RunCommand({"/bin/bash", SourceDir() + "/tests/e2e/guest/build_guest.sh", GuestDir().string()},
                      scratch);
  return r.exit_code == 0 ? "" : "build_guest.sh failed: " + r.out + r.err;
}

// The guests' forwarded ports, each held until the fleet goes. FreePort()'s "bind port 0, close,
// let QEMU bind it later" left a guest's port free between the choice and QEMU's bind, and again
// while the VM moved to another host: a test running in parallel (ctest -j) could take it, and
// its own fresh guest of the same name would answer for ours ("hello from web01 gen=0"; the
// likely cause of two gen=0 failures of AVmOnASharedVolumeKeepsItsDataWhenItsHostDies seen
// only in full parallel runs). Ports come from 20000-29999, below Linux's ephemeral range
// (32768-60999: neither a bind to port 0 nor an outgoing connection takes them), and each is
// claimed with flock(2) on /tmp/vmk-guest-ports/PORT.lock, which every fleet respects.
class GuestPorts {
 public:
  GuestPorts() = default;
  ~GuestPorts() {
    for (int fd : held_) close(fd);
  }
  GuestPorts(const GuestPorts&) = delete;
  GuestPorts& operator=(const GuestPorts&) = delete;

  int Claim() {
    const fs::path dir = "/tmp/vmk-guest-ports";
    fs::create_directories(dir);
    std::mt19937 random(std::random_device{}() ^ static_cast<unsigned>(getpid()));
    for (int attempt = 0; attempt < 1000; ++attempt) {
      const int port = 20000 + static_cast<int>(random() % 10000);
      const std::string lock = (dir / (std::to_string(port) + ".lock")).string();
      const int fd = open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
      if (fd < 0) continue;
      if (flock(fd, LOCK_EX | LOCK_NB) != 0 || !Bindable(port)) {
        close(fd);
        continue;
      }
      held_.push_back(fd);
      return port;
    }
    return FreePort();  // 1,000 ports taken: not seen; the old way then
  }

 private:
  static bool Bindable(int port) {
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(port));
    const bool ok = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    close(fd);
    return ok;
  }

  std::vector<int> held_;
};

class QemuFleet {
 public:
  explicit QemuFleet(fs::path dir) : dir_(std::move(dir)) { fs::create_directories(FenceDir()); }
  ~QemuFleet() { StopAll(); }

  // Starts hosts 1..n; returns "" or what went wrong.
  std::string StartHosts(int n) {
    for (int h = 1; h <= n; ++h) {
      auto r = HostCtl({"start", std::to_string(h)});
      if (r.exit_code != 0) return "host " + std::to_string(h) + ": " + r.err;
      std::string uri = HostCtl({"qemu-uri", std::to_string(h)}).out;
      if (!uri.empty() && uri.back() == '\n') uri.pop_back();
      uris_.push_back(uri);
    }
    return "";
  }
  // Resumes stopped hosts, then kills every host (and so every guest).
  void StopAll() {
    for (size_t h = 1; h <= uris_.size(); ++h) HostCtl({"cont", std::to_string(h)});
    if (!uris_.empty()) HostCtl({"stop-all"});
    uris_.clear();
  }
  CommandResult HostCtl(const std::vector<std::string>& args) {
    return LibvirtHosts(HostsDir(), dir_, args);
  }

  // The QEMU URI of host h (1-based), once started.
  const std::string& uri(int h) const { return uris_.at(h - 1); }
  fs::path HostsDir() const { return dir_ / "hosts"; }
  fs::path FenceDir() const { return dir_ / "fence"; }
  fs::path SerialLog(const std::string& vm) const { return dir_ / (vm + ".serial.log"); }
  const std::vector<std::string>& vms() const { return vms_; }

  // Hosts hv01..hvNN, each fenced by the test agent with `fence_behaviour` (ok | fail | hang).
  std::string HostManifests(const std::string& fence_behaviour) const {
    std::string yaml;
    for (size_t h = 1; h <= uris_.size(); ++h) {
      const std::string n = std::to_string(h);
      yaml += "apiVersion: vmkeeper/v1\nkind: Host\nmetadata: {name: hv0" + n + "}\nspec:\n" +
              "  uri: \"" + uris_[h - 1] + "\"\n  capacity: {cpus: 4, memoryMiB: 2048}\n" +
              "  fencing:\n    agent: fence_test_agent\n    timeoutSeconds: 20\n    args:\n" +
              "      plug: hv0" + n + "\n      state_dir: \"" + FenceDir().string() + "\"\n" +
              "      behaviour: " + fence_behaviour + "\n" +
              "      kill_command: \"BASE=" + HostsDir().string() + " /bin/bash " + SourceDir() +
              "/tests/e2e/libvirt_hosts.sh kill " + n + "\"\n---\n";
    }
    return yaml;
  }
  // A dir pool `name` at dir/pools/name on every host, as an admin mounts and defines it (the
  // hosts share the machine's filesystem, as NFS clients share an export); "" or what failed.
  std::string DefinePool(const std::string& name) {
    fs::create_directories(PoolDir(name));
    for (const std::string& uri : uris_) {
      for (auto args : std::vector<std::vector<std::string>>{
               {"pool-define-as", name, "dir", "--target", PoolDir(name).string()},
               {"pool-start", name}}) {
        args.insert(args.begin(), {"/usr/bin/virsh", "-c", uri});
        auto r = RunCommand(args, dir_);
        if (r.exit_code != 0) return uri + ": virsh " + args[3] + ": " + r.err;
      }
    }
    return "";
  }
  fs::path PoolDir(const std::string& name) const { return dir_ / "pools" / name; }
  std::string PoolManifest(const std::string& name) const {
    return "apiVersion: vmkeeper/v1\nkind: StoragePool\nmetadata: {name: " + name +
           "}\nspec: {type: dir, path: \"" + PoolDir(name).string() + "\"}\n---\n";
  }

  // A guest VM preferring `host`, with its own disk (a copy of the blank one) and HTTP port;
  // with `pool`, its disk is instead a volume of that pool over the blank disk.
  std::string VmManifest(const std::string& vm, const std::string& host,
                         const std::string& pool = "") {
    const int port = guest_ports_.Claim();
    ports_[vm] = port;
    vms_.push_back(vm);
    fs::path disk = dir_ / (vm + ".raw");
    fs::copy_file(GuestDir() / "base.raw", disk, fs::copy_options::overwrite_existing);
    const std::string disk_yaml =
        pool.empty() ? "{name: root, image: " + disk.string() + "}"
                     : "{name: root, volume: {pool: " + pool + ", baseImage: " +
                           (GuestDir() / "base.raw").string() + "}}";
    const std::string p = std::to_string(port);
    return "apiVersion: vmkeeper/v1\nkind: VirtualMachine\nmetadata: {name: " + vm + "}\nspec:\n" +
           "  cpus: 1\n  memoryMiB: 192\n" +
           "  boot:\n    kernel: " + (GuestDir() / "vmlinux").string() + "\n    initrd: " +
           (GuestDir() / "initramfs.cpio.gz").string() +
           "\n    cmdline: \"console=ttyS0 quiet panic=-1 vmname=" + vm + "\"\n" +
           "  console: {logFile: " + SerialLog(vm).string() + "}\n" +
           "  disks: [" + disk_yaml + "]\n" +
           "  interfaces:\n  - name: net0\n    type: user\n    portForwards: [{hostPort: " + p +
           ", guestPort: 80}]\n" +
           "  health:\n    address: 127.0.0.1\n    http: {port: " + p + ", path: /}\n" +
           "    periodSeconds: 1\n    timeoutSeconds: 1\n    failureThreshold: 3\n" +
           "    startupGraceSeconds: 60\n" +
           "  placement: {preferredHosts: [" + host + "]}\n---\n";
  }

  // The guest's HTTP answer on its forwarded port; "" unless it answers 200.
  std::string Answer(const std::string& vm) const {
    auto r = HttpRequest(ports_.at(vm), "GET", "/", "", std::chrono::milliseconds(500));
    return r.status == 200 ? r.body : "";
  }
  bool Answers(const std::string& vm) const {
    return Answer(vm).find("hello from " + vm) != std::string::npos;
  }

  // Pids of the running QEMU processes of `vm` in this fleet (libvirt names them "guest=VM,...";
  // the fleet's directory in their command line tells them from another test's guest of the
  // same name, tests run in parallel).
  std::vector<int> GuestPids(const std::string& vm) const {
    std::vector<int> pids;
    const std::string name = "guest=" + vm + ",";
    const std::string mine = dir_.string() + "/";
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator("/proc", ec)) {
      const std::string pid = entry.path().filename().string();
      if (!std::all_of(pid.begin(), pid.end(), ::isdigit)) continue;
      std::string cmdline = ReadFile(entry.path() / "cmdline");
      std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
      if (cmdline.rfind("/usr/bin/qemu-system-x86_64", 0) == 0 &&
          cmdline.find(name) != std::string::npos && cmdline.find(mine) != std::string::npos) {
        pids.push_back(std::stoi(pid));
      }
    }
    return pids;
  }

  std::string FenceCalls() const { return ReadFile(FenceDir() / "calls.log"); }
  // How many times the fence agent was asked to power `host` off.
  int FenceOffCalls(const std::string& host) const {
    const std::string needle = "action=off target=" + host + " ";
    const std::string calls = FenceCalls();
    int n = 0;
    for (size_t at = calls.find(needle); at != std::string::npos; at = calls.find(needle, at + 1)) ++n;
    return n;
  }

 private:
  fs::path dir_;
  std::vector<std::string> uris_;
  std::vector<std::string> vms_;
  GuestPorts guest_ports_;  // released after ~QemuFleet has stopped the guests
  std::map<std::string, int> ports_;
};

}  // namespace vmk::e2e
