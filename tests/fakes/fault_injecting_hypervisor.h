// FaultInjectingHypervisor: a Hypervisor that forwards to a real one (LibvirtHypervisor in the
// benchmarks), counts the calls made through it, and can be switched to behave like a host whose
// libvirtd died: from Fail() on, IsAlive() is false, Connect() and every call return Unavailable,
// no domain event is delivered any more, and (optionally) one connection event {alive: false,
// reason: "eof"} is sent, as libvirt's close callback does when the daemon's socket closes.
// FaultInjectingHypervisorFactory wraps every hypervisor a factory creates and keeps them by
// host name, so that a benchmark can fail one host and read the call counts of all of them.
//
// Thread-safety: every method is thread-safe (the switch and the counters are atomics; the
// handlers are guarded by a mutex and, as the interface asks, run without calling back into the
// hypervisor). The factory's map is guarded by its own mutex; a hypervisor it returned is owned
// by the controller and must not be used by the benchmark after the controller has stopped.
#pragma once

#include <array>
#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "common/mutex.h"
#include "providers/hypervisor/hypervisor_wrapper.h"

namespace vmk::bench {

class FaultInjectingHypervisor : public providers::HypervisorWrapper {
 public:
  // The calls that are counted (one counter each).
  enum Call {
    kConnect, kGetHostInfo, kListDomains, kGetDomain, kDefineDomain, kStartDomain,
    kShutdownDomain, kDestroyDomain, kUndefineDomain, kNumCalls
  };
  static const char* CallName(int call) {
    static const char* const kNames[] = {"Connect",       "GetHostInfo",    "ListDomains",
                                         "GetDomain",     "DefineDomain",   "StartDomain",
                                         "ShutdownDomain", "DestroyDomain", "UndefineDomain"};
    return call >= 0 && call < kNumCalls ? kNames[call] : "?";
  }
  using Counts = std::array<long, kNumCalls>;

  explicit FaultInjectingHypervisor(std::unique_ptr<providers::Hypervisor> inner)
      : HypervisorWrapper(std::move(inner)) {}
  // The inner hypervisor goes first: once it is gone no handler of ours can run, so the members
  // the handlers read are still alive whenever one does.
  ~FaultInjectingHypervisor() override { ResetTarget(); }

  // From now on the host is dead. With `send_close_event`, the connection handler hears
  // {alive: false, reason: "eof"} once, on the calling thread.
  void Fail(bool send_close_event) {
    if (failed_.exchange(true)) return;
    if (!send_close_event) return;
    providers::ConnectionEvent e;
    e.alive = false;
    e.reason = "eof";
    e.time = std::chrono::system_clock::now();
    MutexLock l(&handlers_mu_);
    if (connection_handler_) connection_handler_(e);
  }
  bool failed() const { return failed_; }

  // Calls made so far, by kind (including calls refused while failed).
  Counts counts() const {
    Counts out{};
    for (int i = 0; i < kNumCalls; ++i) out[i] = counts_[i].load(std::memory_order_relaxed);
    return out;
  }

  bool IsAlive() override { return !failed_ && HypervisorWrapper::IsAlive(); }
  Status Connect() override {
    Count(kConnect);
    if (failed_) return Dead("connect");
    return HypervisorWrapper::Connect();
  }
  StatusOr<providers::HostInfo> GetHostInfo() override {
    Count(kGetHostInfo);
    if (failed_) return Dead("node info");
    return HypervisorWrapper::GetHostInfo();
  }
  // Counted as a node-info call: on an idle connection the real heartbeat is one.
  Status CheckAlive() override {
    Count(kGetHostInfo);
    if (failed_) return Dead("heartbeat");
    return HypervisorWrapper::CheckAlive();
  }
  StatusOr<std::vector<providers::DomainInfo>> ListDomains() override {
    Count(kListDomains);
    if (failed_) return Dead("list domains");
    return HypervisorWrapper::ListDomains();
  }
  StatusOr<std::optional<providers::DomainInfo>> GetDomain(const std::string& name) override {
    Count(kGetDomain);
    if (failed_) return Dead("look up domain " + name);
    return HypervisorWrapper::GetDomain(name);
  }
  Status DefineDomain(const providers::DomainConfig& config) override {
    Count(kDefineDomain);
    if (failed_) return Dead("define domain " + config.name);
    return HypervisorWrapper::DefineDomain(config);
  }
  Status StartDomain(const std::string& name) override {
    Count(kStartDomain);
    if (failed_) return Dead("start domain " + name);
    return HypervisorWrapper::StartDomain(name);
  }
  Status ShutdownDomain(const std::string& name) override {
    Count(kShutdownDomain);
    if (failed_) return Dead("shut down domain " + name);
    return HypervisorWrapper::ShutdownDomain(name);
  }
  Status DestroyDomain(const std::string& name) override {
    Count(kDestroyDomain);
    if (failed_) return Dead("destroy domain " + name);
    return HypervisorWrapper::DestroyDomain(name);
  }
  Status UndefineDomain(const std::string& name) override {
    Count(kUndefineDomain);
    if (failed_) return Dead("undefine domain " + name);
    return HypervisorWrapper::UndefineDomain(name);
  }

  void SetDomainEventHandler(std::function<void(const providers::DomainEvent&)> handler) override {
    // A dead daemon sends no events: drop what the (still healthy) test host would deliver.
    HypervisorWrapper::SetDomainEventHandler([this, handler](const providers::DomainEvent& e) {
      if (!failed_ && handler) handler(e);
    });
  }
  void SetConnectionEventHandler(
      std::function<void(const providers::ConnectionEvent&)> handler) override {
    {
      MutexLock l(&handlers_mu_);
      connection_handler_ = handler;
    }
    HypervisorWrapper::SetConnectionEventHandler(std::move(handler));
  }

 private:
  void Count(Call c) { counts_[c].fetch_add(1, std::memory_order_relaxed); }
  Status Dead(const std::string& what) const {
    return Status::Unavailable(what + " on " + uri() + ": connection closed (injected failure)");
  }

  std::atomic<bool> failed_{false};
  std::array<std::atomic<long>, kNumCalls> counts_{};
  Mutex handlers_mu_;
  std::function<void(const providers::ConnectionEvent&)> connection_handler_
      GUARDED_BY(handlers_mu_);
};

class FaultInjectingHypervisorFactory : public providers::HypervisorFactory {
 public:
  // `inner` must outlive this factory.
  explicit FaultInjectingHypervisorFactory(providers::HypervisorFactory* inner) : inner_(inner) {}

  std::unique_ptr<providers::Hypervisor> Create(const std::string& host_name,
                                                const std::string& uri,
                                                const providers::ConnectOptions& options) override {
    auto h = std::make_unique<FaultInjectingHypervisor>(inner_->Create(host_name, uri, options));
    MutexLock l(&mu_);
    created_[host_name] = h.get();
    return h;
  }

  // The hypervisor last created for `host_name`, or nullptr. Valid while its owner keeps it.
  FaultInjectingHypervisor* Find(const std::string& host_name) {
    MutexLock l(&mu_);
    auto it = created_.find(host_name);
    return it == created_.end() ? nullptr : it->second;
  }

  // Sum of the call counts of every hypervisor created, except `except` (by host name).
  FaultInjectingHypervisor::Counts TotalCounts(const std::string& except = "") {
    FaultInjectingHypervisor::Counts sum{};
    MutexLock l(&mu_);
    for (const auto& [name, h] : created_) {
      if (name == except) continue;
      auto c = h->counts();
      for (size_t i = 0; i < sum.size(); ++i) sum[i] += c[i];
    }
    return sum;
  }

  // Forgets every hypervisor (call when their owner, the controller, is gone).
  void Clear() {
    MutexLock l(&mu_);
    created_.clear();
  }

 private:
  providers::HypervisorFactory* const inner_;
  Mutex mu_;
  std::map<std::string, FaultInjectingHypervisor*> created_ GUARDED_BY(mu_);
};

}  // namespace vmk::bench
