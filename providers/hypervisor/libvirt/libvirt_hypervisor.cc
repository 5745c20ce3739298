#include "providers/hypervisor/libvirt/libvirt_hypervisor.h"

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <cstdlib>
#include <cstring>
#include <strings.h>
#include <filesystem>
#include <optional>
#include <fstream>
#include <thread>
#include <utility>
#include <unistd.h>

#include "common/log.h"
#include "providers/hypervisor/libvirt/domain_xml.h"
#include "providers/hypervisor/libvirt/libvirt_event_loop.h"

namespace vmk::providers {

namespace {

constexpr char kEmbeddedPrefix[] = "test:///embedded/";

// Process-wide count of open helper threads still running (for tests and clean shutdown).
std::mutex g_pending_mu;
std::condition_variable g_pending_cv;
int g_pending_opens = 0;  // GUARDED_BY(g_pending_mu)

struct LastError {
  int code = VIR_ERR_OK;
  int domain = VIR_FROM_NONE;
  std::string message;
};

// Reads the calling thread's libvirt error (must be done before the next libvirt call).
LastError ReadLastError() {
  LastError e;
  if (virErrorPtr err = virGetLastError()) {
    e.code = err->code;
    e.domain = err->domain;
    e.message = err->message ? err->message : "unknown libvirt error";
  } else {
    e.message = "unknown libvirt error";
  }
  return e;
}

bool IsConnectionError(const LastError& e) {
  return e.domain == VIR_FROM_RPC || e.code == VIR_ERR_RPC || e.code == VIR_ERR_NO_CONNECT ||
         e.code == VIR_ERR_INVALID_CONN;
}

DomainState MapState(int state) {
  switch (state) {
    case VIR_DOMAIN_RUNNING: return DomainState::kRunning;
    case VIR_DOMAIN_BLOCKED: return DomainState::kBlocked;
    case VIR_DOMAIN_PAUSED: return DomainState::kPaused;
    case VIR_DOMAIN_SHUTDOWN: return DomainState::kShutdown;
    case VIR_DOMAIN_SHUTOFF: return DomainState::kShutoff;
    case VIR_DOMAIN_CRASHED: return DomainState::kCrashed;
    case VIR_DOMAIN_PMSUSPENDED: return DomainState::kSuspended;
    default: return DomainState::kNoState;
  }
}

DomainEventType MapEvent(int event, int detail) {
  switch (event) {
    case VIR_DOMAIN_EVENT_DEFINED: return DomainEventType::kDefined;
    case VIR_DOMAIN_EVENT_UNDEFINED: return DomainEventType::kUndefined;
    case VIR_DOMAIN_EVENT_STARTED: return DomainEventType::kStarted;
    case VIR_DOMAIN_EVENT_SUSPENDED: return DomainEventType::kSuspended;
    case VIR_DOMAIN_EVENT_PMSUSPENDED: return DomainEventType::kSuspended;
    case VIR_DOMAIN_EVENT_RESUMED: return DomainEventType::kResumed;
    case VIR_DOMAIN_EVENT_SHUTDOWN: return DomainEventType::kShutdown;
    case VIR_DOMAIN_EVENT_CRASHED: return DomainEventType::kCrashed;
    case VIR_DOMAIN_EVENT_STOPPED:
      return detail == VIR_DOMAIN_EVENT_STOPPED_CRASHED ? DomainEventType::kCrashed
                                                        : DomainEventType::kStopped;
    default: return DomainEventType::kOther;
  }
}

const char* CloseReasonName(int reason) {
  switch (reason) {
    case VIR_CONNECT_CLOSE_REASON_ERROR: return "error";
    case VIR_CONNECT_CLOSE_REASON_EOF: return "eof";
    case VIR_CONNECT_CLOSE_REASON_KEEPALIVE: return "keepalive";
    case VIR_CONNECT_CLOSE_REASON_CLIENT: return "client";
    default: return "error";
  }
}

// Owns a virDomainPtr.
class DomainHandle {
 public:
  explicit DomainHandle(virDomainPtr d = nullptr) : d_(d) {}
  ~DomainHandle() {
    if (d_) virDomainFree(d_);
  }
  DomainHandle(DomainHandle&& o) noexcept : d_(o.d_) { o.d_ = nullptr; }
  DomainHandle& operator=(DomainHandle&& o) noexcept {
    std::swap(d_, o.d_);
    return *this;
  }
  virDomainPtr get() const { return d_; }

 private:
  virDomainPtr d_;
};

}  // namespace

// The handlers a LibvirtHypervisor's callbacks call. `detached` is set when the hypervisor is
// destroyed; handlers run under `mu` so none runs after that.
struct LibvirtHypervisor::Handlers {
  std::mutex mu;
  std::function<void(const DomainEvent&)> domain;          // GUARDED_BY(mu)
  std::function<void(const ConnectionEvent&)> connection;  // GUARDED_BY(mu)
  bool detached = false;                                   // GUARDED_BY(mu)
};

namespace {

// What libvirt's callbacks see: never the hypervisor, so it can go away while a callback runs.
// The lifecycle callback holds it through a heap shared_ptr that libvirt's freecb deletes.
struct CallbackContext {
  std::shared_ptr<LibvirtHypervisor::Handlers> handlers;
  Clock* clock = nullptr;
  std::string uri;
  std::atomic<bool> alive{true};
};

void FreeContext(void* opaque) { delete static_cast<std::shared_ptr<CallbackContext>*>(opaque); }

int LifecycleCallback(virConnectPtr, virDomainPtr dom, int event, int detail, void* opaque) {
  auto& ctx = *static_cast<std::shared_ptr<CallbackContext>*>(opaque);
  DomainEvent e;
  const char* name = virDomainGetName(dom);
  e.domain = name ? name : "";
  e.type = MapEvent(event, detail);
  e.detail = detail;
  e.time = ctx->clock->WallNow();
  std::lock_guard<std::mutex> lock(ctx->handlers->mu);
  if (!ctx->handlers->detached && ctx->handlers->domain) ctx->handlers->domain(e);
  return 0;
}

void CloseCallback(virConnectPtr, int reason, void* opaque) {
  auto* ctx = static_cast<CallbackContext*>(opaque);
  ctx->alive = false;
  ConnectionEvent e;
  e.alive = false;
  e.reason = CloseReasonName(reason);
  e.time = ctx->clock->WallNow();
  log::Warning("libvirt connection closed", {{"uri", ctx->uri}, {"reason", e.reason}});
  std::lock_guard<std::mutex> lock(ctx->handlers->mu);
  if (!ctx->handlers->detached && ctx->handlers->connection) ctx->handlers->connection(e);
}

// The thread that makes the libvirt calls of one connection, one at a time, in order (libvirt
// 9.0's client misbehaves with several calls in flight on a connection that keepalive closes:
// see RunBounded). One long-lived thread per connection rather than one thread per call:
// creating a thread per call cost more than the call itself on the test driver. The thread ends
// after kIdleExit without a call and is made again by the next one: a burst of calls (a
// failover placing VMs there) shares one thread, while a fleet of hosts that only see a
// heartbeat a second does not keep a thread each (1,000 idle threads cost 60 MiB of RSS). A call that never returns holds only this thread; its
// connection is then marked dead and replaced, and the thread ends once libvirt lets go and the
// connection is dropped.
class CallThread {
 public:
  CallThread() : state_(std::make_shared<State>()) {}
  ~CallThread() {
    {
      std::lock_guard<std::mutex> l(state_->mu);
      state_->stopping = true;
    }
    state_->cv.notify_one();
  }
  CallThread(const CallThread&) = delete;
  CallThread& operator=(const CallThread&) = delete;

  // Whether a call is running or waiting.
  bool Busy() const {
    std::lock_guard<std::mutex> l(state_->mu);
    return state_->running || !state_->tasks.empty();
  }

  void Post(std::function<void()> task) {
    bool start = false;
    {
      std::lock_guard<std::mutex> l(state_->mu);
      state_->tasks.push_back(std::move(task));
      start = !std::exchange(state_->started, true);
    }
    if (start) {
      // Detached: the last task may drop the connection, whose destructor (this one) runs on
      // this very thread and only asks it to stop.
      std::thread([state = state_] { Run(*state); }).detach();
    } else {
      state_->cv.notify_one();
    }
  }

 private:
  struct State {
    std::mutex mu;
    std::condition_variable cv;
    std::deque<std::function<void()>> tasks;  // GUARDED_BY(mu)
    bool started = false;                     // GUARDED_BY(mu)
    bool running = false;                     // a task is running; GUARDED_BY(mu)
    bool stopping = false;                    // GUARDED_BY(mu)
  };

  static constexpr auto kIdleExit = std::chrono::milliseconds(200);

  static void Run(State& state) {
    std::unique_lock<std::mutex> l(state.mu);
    for (;;) {
      // Real time on purpose: this is the thread's own housekeeping, not controller logic.
      state.cv.wait_for(l, kIdleExit, [&] { return state.stopping || !state.tasks.empty(); });
      if (state.tasks.empty()) {
        // Stopping with nothing left, or idle: the next Post starts a new thread.
        state.started = false;
        return;
      }
      std::function<void()> task = std::move(state.tasks.front());
      state.tasks.pop_front();
      state.running = true;
      l.unlock();
      task();
      l.lock();
      state.running = false;
      l.unlock();
      // Destroyed before waiting again, outside the lock: it may hold the last reference to
      // the connection, whose destructor locks `state.mu`.
      task = nullptr;
      l.lock();
    }
  }

  std::shared_ptr<State> state_;
};

}  // namespace

// One open libvirt connection with its callbacks. Closed (callbacks deregistered first, since
// libvirt does not close a connection while callbacks hold it) when the last user drops it.
struct LibvirtHypervisor::Connection {
  virConnectPtr conn = nullptr;
  DomainXmlFlavor flavor = DomainXmlFlavor::kQemu;
  std::string hypervisor_type;
  int lifecycle_callback_id = -1;
  bool close_callback_registered = false;
  std::shared_ptr<CallbackContext> context;
  CallThread calls;  // makes the libvirt calls on `conn`, one at a time (see RunBounded)

  ~Connection() {
    if (conn == nullptr) return;
    if (lifecycle_callback_id >= 0) virConnectDomainEventDeregisterAny(conn, lifecycle_callback_id);
    if (close_callback_registered) virConnectUnregisterCloseCallback(conn, CloseCallback);
    virConnectClose(conn);
  }

  bool alive() const { return context->alive && virConnectIsAlive(conn) == 1; }

  // Turns the calling thread's libvirt error into a Status, marking the connection dead when
  // the error says the connection is gone.
  Status Fail(const std::string& what) {
    LastError e = ReadLastError();
    std::string message = what + ": " + e.message;
    if (IsConnectionError(e) || virConnectIsAlive(conn) != 1) {
      context->alive = false;
      return Status::Unavailable(message);
    }
    switch (e.code) {
      case VIR_ERR_NO_DOMAIN: return Status::NotFound(message);
      case VIR_ERR_OPERATION_INVALID: return Status::FailedPrecondition(message);
      case VIR_ERR_OPERATION_TIMEOUT: return Status::DeadlineExceeded(message);
      case VIR_ERR_XML_ERROR:
      case VIR_ERR_INVALID_ARG: return Status::InvalidArgument(message);
      default: return Status::Internal(message);
    }
  }
};

// A connection attempt running on its helper thread; shared between that thread and every
// Connect() waiting for it.
struct LibvirtHypervisor::OpenAttempt {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;                   // GUARDED_BY(mu)
  Status status;                       // GUARDED_BY(mu)
  std::shared_ptr<Connection> result;  // GUARDED_BY(mu)
};

namespace {

using Connection = LibvirtHypervisor::Connection;

// Process-wide count of libvirt calls still running on their helper thread (bounded calls whose
// caller gave up are counted until libvirt returns), for tests.
std::mutex g_calls_mu;
std::condition_variable g_calls_cv;
int g_calls_in_flight = 0;  // GUARDED_BY(g_calls_mu)

// Drops a connection that may be hung on a thread of its own: closing a remote connection talks
// to the daemon (deregistering events, the close RPC), which must not stall the caller.
void CloseInBackground(std::shared_ptr<Connection> conn) {
  if (conn == nullptr) return;
  std::thread([c = std::move(conn)]() mutable { c.reset(); }).detach();
}

// Runs `body` (every libvirt call of one method, so the thread-local libvirt error is read on
// the thread that made the call) on the connection's call thread and waits for it while the
// connection lives, at most `timeout`. A slow call on a live daemon (the first define on a busy
// host probes QEMU's capabilities; a big VM starts slowly) is waited for: keepalive, not a short
// timer, tells a hung daemon from a busy one. When keepalive or EOF closes the connection (the
// close callback), the caller stops waiting at once: libvirt does not always end the call then
// (a call queued behind another one was seen left polling after the other's keepalive closed
// the connection, libvirt 9.0 against a SIGSTOPped libvirtd). `timeout` is the backstop for a
// daemon that answers keepalive but never this call. On timeout the connection is marked dead,
// so no further call is sent on it and the next Connect() opens a new one; the call thread keeps
// its own references (the connection, the result slot) and finishes whenever libvirt returns.
// `body` must not refer to the hypervisor object, which may be gone by then.
template <typename R>
R RunBounded(Clock* clock, std::chrono::milliseconds timeout, std::shared_ptr<Connection> c,
             const std::string& what, std::function<R(Connection&)> body) {
  struct Slot {
    std::mutex mu;
    std::condition_variable cv;
    std::optional<R> result;  // GUARDED_BY(mu)
  };
  auto slot = std::make_shared<Slot>();
  {
    std::lock_guard<std::mutex> g(g_calls_mu);
    ++g_calls_in_flight;
  }
  std::shared_ptr<CallbackContext> context = c->context;
  Connection* target = c.get();
  target->calls.Post([slot, c = std::move(c), what, body = std::move(body)] {
    // One call at a time per connection (CallThread): libvirt 9.0's client crashes (seen:
    // SIGSEGV in its GLib dispatch under virNodeGetInfo) or leaves a call polling forever when
    // keepalive closes a connection that has several calls in flight. Callers still wait at
    // most `timeout`.
    std::optional<R> r;
    if (!c->context->alive) {
      r.emplace(Status::Unavailable(what + ": connection to " + c->context->uri + " is dead"));
    } else {
      r.emplace(body(*c));
    }
    {
      std::lock_guard<std::mutex> l(slot->mu);
      slot->result.emplace(std::move(*r));
    }
    slot->cv.notify_all();
    {
      std::lock_guard<std::mutex> g(g_calls_mu);
      --g_calls_in_flight;
    }
    g_calls_cv.notify_all();
  });

  // The close callback does not signal `slot->cv`: look at the connection every so often.
  constexpr auto kAliveCheckInterval = std::chrono::milliseconds(100);
  MonoTime deadline = clock->Now() + timeout;
  std::unique_lock<std::mutex> l(slot->mu);
  while (!slot->result.has_value()) {
    MonoTime now = clock->Now();
    if (now >= deadline) break;
    if (!context->alive) {
      return Status::Unavailable(what + ": connection to " + context->uri +
                                 " closed while the call was running");
    }
    clock->WaitUntil(l, slot->cv, std::min<MonoTime>(deadline, now + kAliveCheckInterval));
  }
  if (slot->result.has_value()) return std::move(*slot->result);
  context->alive = false;
  log::Warning("libvirt call timed out; connection marked dead",
               {{"uri", context->uri}, {"call", what}});
  return Status::DeadlineExceeded(what + ": no answer within " +
                                  std::to_string(timeout.count()) + " ms");
}

// Runs on the helper thread: open, then everything else that talks to the host, so the whole
// setup is bounded by the open timeout.
StatusOr<std::shared_ptr<Connection>> OpenConnection(
    const std::string& open_uri, const ConnectOptions& options,
    const std::shared_ptr<LibvirtHypervisor::Handlers>& handlers, Clock* clock) {
  virConnectPtr raw = virConnectOpen(open_uri.c_str());
  if (raw == nullptr) {
    return Status::Unavailable("open " + open_uri + ": " + ReadLastError().message);
  }
  auto c = std::make_shared<Connection>();
  c->conn = raw;
  c->context = std::make_shared<CallbackContext>();
  c->context->handlers = handlers;
  c->context->clock = clock;
  c->context->uri = open_uri;

  const char* type = virConnectGetType(raw);
  if (type == nullptr) return c->Fail("virConnectGetType");
  c->hypervisor_type = type;
  // The test driver calls itself "TEST".
  c->flavor = strcasecmp(type, "test") == 0 ? DomainXmlFlavor::kTest : DomainXmlFlavor::kQemu;

  // Local drivers (test:///...) do not do keepalive and say VIR_ERR_NO_SUPPORT: harmless, they
  // cannot hang. Any other failure on a remote connection leaves calls on it unbounded by
  // keepalive, so the connection is refused. (Calls are bounded anyway; see RunBounded.)
  if (options.keepalive_interval_seconds > 0) {
    int ka = virConnectSetKeepAlive(raw, options.keepalive_interval_seconds,
                                    options.keepalive_count);
    if (ka < 0) {
      LastError e = ReadLastError();
      if (e.code != VIR_ERR_NO_SUPPORT) {
        return Status::Unavailable("keepalive on " + open_uri + ": " + e.message);
      }
      virResetLastError();
    } else if (ka == 1) {
      log::Warning("libvirt daemon does not support keepalive", {{"uri", open_uri}});
    }
  }

  // libvirt reports success without storing anything (and so never calls a free function)
  // for drivers without close callbacks, such as test://. So the opaque is a plain pointer to
  // the context this Connection owns, valid until ~Connection unregisters the callback (after
  // which libvirt no longer calls it).
  if (virConnectRegisterCloseCallback(raw, CloseCallback, c->context.get(), nullptr) == 0) {
    c->close_callback_registered = true;
  } else {
    virResetLastError();
  }

  auto* event_opaque = new std::shared_ptr<CallbackContext>(c->context);
  int id = virConnectDomainEventRegisterAny(raw, nullptr, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                                            VIR_DOMAIN_EVENT_CALLBACK(LifecycleCallback),
                                            event_opaque, FreeContext);
  if (id < 0) {
    delete event_opaque;
    return c->Fail("register lifecycle events on " + open_uri);
  }
  c->lifecycle_callback_id = id;
  return c;
}

std::string DomainName(virDomainPtr dom) {
  const char* n = virDomainGetName(dom);
  return n ? n : "";
}

// Reads one domain's state and, when it carries our mark, its managed config.
// NotFound when the domain vanished meanwhile.
Status ReadDomainInfo(Connection& c, virDomainPtr dom, DomainInfo* info) {
  info->name = DomainName(dom);
  char uuid[VIR_UUID_STRING_BUFLEN];
  if (virDomainGetUUIDString(dom, uuid) < 0) return c.Fail("uuid of " + info->name);
  info->uuid = uuid;
  int state = 0, reason = 0;
  if (virDomainGetState(dom, &state, &reason, 0) < 0) return c.Fail("state of " + info->name);
  info->state = MapState(state);
  int persistent = virDomainIsPersistent(dom);
  if (persistent < 0) return c.Fail("persistence of " + info->name);
  info->persistent = persistent == 1;

  char* xml = virDomainGetXMLDesc(dom, VIR_DOMAIN_XML_INACTIVE);
  if (xml == nullptr) return c.Fail("XML of " + info->name);
  auto parsed = ParseDomainXml(xml);
  std::free(xml);
  if (!parsed.ok()) {
    // Not ours to judge: a definition we cannot read is treated as foreign.
    log::Warning("unreadable domain XML", {{"domain", info->name},
                                           {"error", parsed.status().message()}});
    info->owned = false;
    return Status::Ok();
  }
  info->owned = parsed->owned;
  if (!info->owned) return Status::Ok();
  info->config = parsed->config;
  info->live_generation = 0;
  if (IsActive(info->state)) {
    char* live = virDomainGetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT, kOwnerNamespace,
                                      VIR_DOMAIN_AFFECT_LIVE);
    if (live != nullptr) {
      auto mark = ParseOwnerMark(live);
      std::free(live);
      if (mark.ok()) info->live_generation = mark->generation;
    } else {
      LastError e = ReadLastError();
      if (e.code != VIR_ERR_NO_DOMAIN_METADATA) return c.Fail("live metadata of " + info->name);
    }
  }
  return Status::Ok();
}

// Looks `name` up: NotFound when absent, FailedPrecondition when it is not ours.
StatusOr<DomainHandle> LookupOwned(Connection& c, const std::string& name) {
  DomainHandle dom(virDomainLookupByName(c.conn, name.c_str()));
  if (dom.get() == nullptr) return c.Fail("look up domain " + name);
  // The persistent definition decides; a transient domain (undefined while running) has only
  // its live one.
  int persistent = virDomainIsPersistent(dom.get());
  if (persistent < 0) return c.Fail("persistence of " + name);
  char* mark = virDomainGetMetadata(dom.get(), VIR_DOMAIN_METADATA_ELEMENT, kOwnerNamespace,
                                    persistent ? VIR_DOMAIN_AFFECT_CONFIG : VIR_DOMAIN_AFFECT_LIVE);
  if (mark == nullptr) {
    LastError e = ReadLastError();
    if (e.code == VIR_ERR_NO_DOMAIN_METADATA) {
      return Status::FailedPrecondition("domain " + name + " is not owned by vmkeeper");
    }
    return c.Fail("owner mark of " + name);
  }
  std::free(mark);
  return dom;
}

std::string EmbeddedNodeDocument(int cpus, int64_t memory_mib) {
  std::string n = std::to_string(cpus);
  return "<node>\n"
         "  <cpu>\n"
         "    <nodes>1</nodes>\n    <sockets>1</sockets>\n    <cores>" + n + "</cores>\n"
         "    <threads>1</threads>\n    <active>" + n + "</active>\n"
         "    <mhz>2000</mhz>\n    <model>x86_64</model>\n"
         "  </cpu>\n"
         "  <memory>" + std::to_string(memory_mib * 1024) + "</memory>\n"
         "</node>\n";
}

bool ValidEmbeddedName(const std::string& name) {
  if (name.empty() || name.size() > 200 || name[0] == '.') return false;
  for (char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') {
      return false;
    }
  }
  return true;
}

}  // namespace

LibvirtHypervisor::LibvirtHypervisor(std::string host_name, std::string uri,
                                     ConnectOptions options, Clock* clock)
    : host_name_(std::move(host_name)),
      uri_(std::move(uri)),
      options_(std::move(options)),
      clock_(clock),
      open_uri_(uri_),
      handlers_(std::make_shared<Handlers>()) {
  if (uri_.rfind(kEmbeddedPrefix, 0) == 0) {
    std::filesystem::path dir = options_.embedded_host_dir.empty()
                                    ? std::filesystem::temp_directory_path() / "vmkeeper-embedded"
                                    : std::filesystem::path(options_.embedded_host_dir);
    std::error_code ec;
    std::filesystem::path abs = std::filesystem::absolute(dir, ec);
    if (ec) abs = dir;
    std::string name = uri_.substr(std::strlen(kEmbeddedPrefix));
    embedded_node_path_ = (abs / (name + ".xml")).lexically_normal().string();
    open_uri_ = "test://" + embedded_node_path_;
  }
}

LibvirtHypervisor::~LibvirtHypervisor() {
  {
    std::lock_guard<std::mutex> lock(handlers_->mu);
    handlers_->detached = true;
  }
  std::shared_ptr<Connection> conn;
  {
    std::lock_guard<std::mutex> lock(mu_);
    conn = std::move(conn_);
    pending_.reset();  // a running attempt owns itself and closes what it opened
  }
  // A connection known dead may be to a hung daemon, whose close would not return: it closes
  // on a thread of its own. A healthy one closes here (bounded by keepalive), unless a call in
  // flight on another thread still holds it.
  if (conn != nullptr && !conn->context->alive) CloseInBackground(std::move(conn));
}

Status LibvirtHypervisor::WriteEmbeddedNodeDocument() {
  std::string name = uri_.substr(std::strlen(kEmbeddedPrefix));
  if (!ValidEmbeddedName(name)) {
    return Status::InvalidArgument("embedded host name must be [A-Za-z0-9._-]+: " + uri_);
  }
  std::filesystem::path path(embedded_node_path_);
  std::error_code ec;
  std::filesystem::create_directories(path.parent_path(), ec);
  if (ec) {
    return Status::Unavailable("create " + path.parent_path().string() + ": " + ec.message());
  }
  // Written aside and renamed, so a concurrent opener never reads half a document.
  std::string tmp = embedded_node_path_ + ".tmp." + std::to_string(::getpid()) + "." +
                    std::to_string(reinterpret_cast<uintptr_t>(this));
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << EmbeddedNodeDocument(options_.embedded_cpus, options_.embedded_memory_mib);
    if (!out.flush()) return Status::Unavailable("write " + tmp);
  }
  std::filesystem::rename(tmp, path, ec);
  if (ec) return Status::Unavailable("rename " + tmp + ": " + ec.message());
  return Status::Ok();
}

bool LibvirtHypervisor::IsAlive() {
  std::shared_ptr<Connection> c;
  {
    std::lock_guard<std::mutex> lock(mu_);
    c = conn_;
  }
  return c != nullptr && c->alive();
}

Status LibvirtHypervisor::Connect() {
  std::shared_ptr<Connection> stale;  // closed outside the lock
  std::shared_ptr<OpenAttempt> attempt;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (conn_ != nullptr && conn_->alive()) return Status::Ok();
    stale = std::move(conn_);
    if (pending_ == nullptr) {
      VMK_RETURN_IF_ERROR(LibvirtEventLoop::Get()->Start());
      if (!embedded_node_path_.empty()) VMK_RETURN_IF_ERROR(WriteEmbeddedNodeDocument());
      pending_ = std::make_shared<OpenAttempt>();
      {
        std::lock_guard<std::mutex> g(g_pending_mu);
        ++g_pending_opens;
      }
      std::thread([attempt = pending_, open_uri = open_uri_, options = options_,
                   handlers = handlers_, clock = clock_] {
        auto result = OpenConnection(open_uri, options, handlers, clock);
        {
          std::lock_guard<std::mutex> l(attempt->mu);
          attempt->done = true;
          if (result.ok()) {
            attempt->result = std::move(result).value();
          } else {
            attempt->status = result.status();
          }
        }
        attempt->cv.notify_all();
        {
          std::lock_guard<std::mutex> g(g_pending_mu);
          --g_pending_opens;
        }
        g_pending_cv.notify_all();
      }).detach();
    }
    attempt = pending_;
  }
  CloseInBackground(std::move(stale));

  MonoTime deadline = clock_->Now() + options_.open_timeout;
  std::shared_ptr<Connection> opened;
  Status status;
  {
    std::unique_lock<std::mutex> l(attempt->mu);
    while (!attempt->done && clock_->Now() < deadline) clock_->WaitUntil(l, attempt->cv, deadline);
    if (!attempt->done) {
      log::Warning("libvirt connect timed out", {{"host", host_name_}, {"uri", uri_}});
      return Status::DeadlineExceeded("connect to " + uri_ + ": no answer within " +
                                      std::to_string(options_.open_timeout.count()) + " ms");
    }
    opened = attempt->result;
    status = attempt->status;
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (pending_ == attempt) {
    pending_.reset();
    if (opened) conn_ = opened;
  }
  if (!status.ok()) {
    log::Warning("libvirt connect failed", {{"host", host_name_}, {"error", status.message()}});
    return status;
  }
  if (opened) log::Info("libvirt connected", {{"host", host_name_}, {"uri", uri_}});
  return Status::Ok();
}

StatusOr<std::shared_ptr<LibvirtHypervisor::Connection>> LibvirtHypervisor::Current() {
  std::lock_guard<std::mutex> lock(mu_);
  if (conn_ == nullptr) return Status::Unavailable("not connected to " + uri_);
  if (!conn_->context->alive) return Status::Unavailable("connection to " + uri_ + " is dead");
  return conn_;
}

std::chrono::milliseconds LibvirtHypervisor::CallTimeout() const {
  // Keepalive ends the wait on a hung daemon (see RunBounded); this only bounds a call that a
  // live daemon never answers. Never shorter than keepalive's own verdict plus the open timeout.
  int ka = std::max(options_.keepalive_interval_seconds, 0);
  auto keepalive_verdict =
      options_.open_timeout +
      std::chrono::seconds(static_cast<int64_t>(ka) * (options_.keepalive_count + 1));
  return std::max<std::chrono::milliseconds>(keepalive_verdict, kSlowCallLimit);
}

Status LibvirtHypervisor::CheckAlive() {
  VMK_ASSIGN_OR_RETURN(auto conn, Current());
  // A daemon busy with a slow call still answers keepalive: while a call runs, the connection's
  // liveness (kept by keepalive and the close callback) is the heartbeat, so a heartbeat never
  // waits behind a slow operation and a busy host is not taken for a dead one.
  if (conn->calls.Busy()) {
    return conn->alive() ? Status::Ok()
                         : Status::Unavailable("connection to " + uri_ + " closed");
  }
  return GetHostInfo().status();
}

StatusOr<HostInfo> LibvirtHypervisor::GetHostInfo() {
  VMK_ASSIGN_OR_RETURN(auto conn, Current());
  return RunBounded<StatusOr<HostInfo>>(
      clock_, CallTimeout(), conn, "node info of " + uri_,
      [uri = uri_](Connection& c) -> StatusOr<HostInfo> {
        virNodeInfo node;
        if (virNodeGetInfo(c.conn, &node) < 0) return c.Fail("node info of " + uri);
        HostInfo info;
        info.cpus = static_cast<int>(node.cpus);
        info.memoryMiB = static_cast<int64_t>(node.memory / 1024);
        info.hypervisor = c.hypervisor_type;
        char* hostname = virConnectGetHostname(c.conn);
        if (hostname != nullptr) {
          info.hostname = hostname;
          std::free(hostname);
        } else {
          virResetLastError();
        }
        return info;
      });
}

StatusOr<std::vector<DomainInfo>> LibvirtHypervisor::ListDomains() {
  VMK_ASSIGN_OR_RETURN(auto conn, Current());
  return RunBounded<StatusOr<std::vector<DomainInfo>>>(
      clock_, CallTimeout(), conn, "list domains on " + uri_,
      [uri = uri_](Connection& c) -> StatusOr<std::vector<DomainInfo>> {
        virDomainPtr* doms = nullptr;
        int n = virConnectListAllDomains(c.conn, &doms, 0);
        if (n < 0) return c.Fail("list domains on " + uri);
        std::vector<DomainHandle> handles;
        handles.reserve(n);
        for (int i = 0; i < n; ++i) handles.emplace_back(doms[i]);
        std::free(doms);

        std::vector<DomainInfo> result;
        result.reserve(n);
        for (const DomainHandle& h : handles) {
          DomainInfo info;
          Status s = ReadDomainInfo(c, h.get(), &info);
          if (s.code() == StatusCode::kNotFound) continue;  // undefined while we listed
          VMK_RETURN_IF_ERROR(s);
          result.push_back(std::move(info));
        }
        return result;
      });
}

StatusOr<std::optional<DomainInfo>> LibvirtHypervisor::GetDomain(const std::string& name) {
  VMK_ASSIGN_OR_RETURN(auto conn, Current());
  return RunBounded<StatusOr<std::optional<DomainInfo>>>(
      clock_, CallTimeout(), conn, "look up domain " + name,
      [name](Connection& c) -> StatusOr<std::optional<DomainInfo>> {
        DomainHandle dom(virDomainLookupByName(c.conn, name.c_str()));
        if (dom.get() == nullptr) {
          Status s = c.Fail("look up domain " + name);
          if (s.code() == StatusCode::kNotFound) return std::optional<DomainInfo>();
          return s;
        }
        DomainInfo info;
        Status s = ReadDomainInfo(c, dom.get(), &info);
        if (s.code() == StatusCode::kNotFound) return std::optional<DomainInfo>();
        VMK_RETURN_IF_ERROR(s);
        return std::optional<DomainInfo>(std::move(info));
      });
}

Status LibvirtHypervisor::DefineDomain(const DomainConfig& config) {
  if (config.name.empty()) return Status::InvalidArgument("domain name must not be empty");
  if (config.cpus <= 0) return Status::InvalidArgument("cpus must be positive");
  if (config.memoryMiB <= 0) return Status::InvalidArgument("memoryMiB must be positive");
  VMK_ASSIGN_OR_RETURN(auto conn, Current());
  return RunBounded<Status>(
      clock_, CallTimeout(), conn, "define domain " + config.name,
      [config](Connection& c) -> Status {
        std::string uuid;
        {
          auto existing = LookupOwned(c, config.name);
          if (existing.ok()) {
            char buf[VIR_UUID_STRING_BUFLEN];
            if (virDomainGetUUIDString(existing->get(), buf) < 0) {
              return c.Fail("uuid of " + config.name);
            }
            uuid = buf;
          } else if (existing.status().code() != StatusCode::kNotFound) {
            return existing.status();
          }
        }
        std::string xml = GenerateDomainXml(config, c.flavor, uuid);
        DomainHandle dom(virDomainDefineXML(c.conn, xml.c_str()));
        if (dom.get() == nullptr) return c.Fail("define domain " + config.name);
        return Status::Ok();
      });
}

Status LibvirtHypervisor::StartDomain(const std::string& name) {
  VMK_ASSIGN_OR_RETURN(auto conn, Current());
  return RunBounded<Status>(
      clock_, CallTimeout(), conn, "start domain " + name, [name](Connection& c) -> Status {
        VMK_ASSIGN_OR_RETURN(DomainHandle dom, LookupOwned(c, name));
        int active = virDomainIsActive(dom.get());
        if (active < 0) return c.Fail("state of " + name);
        if (active == 1) return Status::Ok();
        if (virDomainCreate(dom.get()) < 0) {
          Status s = c.Fail("start domain " + name);
          // Lost a race with another starter: running is what was asked for.
          if (s.code() == StatusCode::kFailedPrecondition && virDomainIsActive(dom.get()) == 1) {
            return Status::Ok();
          }
          return s;
        }
        return Status::Ok();
      });
}

Status LibvirtHypervisor::ShutdownDomain(const std::string& name) {
  VMK_ASSIGN_OR_RETURN(auto conn, Current());
  return RunBounded<Status>(
      clock_, CallTimeout(), conn, "shut down domain " + name, [name](Connection& c) -> Status {
        VMK_ASSIGN_OR_RETURN(DomainHandle dom, LookupOwned(c, name));
        int active = virDomainIsActive(dom.get());
        if (active < 0) return c.Fail("state of " + name);
        if (active == 0) return Status::Ok();
        if (virDomainShutdown(dom.get()) < 0) {
          Status s = c.Fail("shut down domain " + name);
          if (s.code() == StatusCode::kFailedPrecondition && virDomainIsActive(dom.get()) == 0) {
            return Status::Ok();
          }
          return s;
        }
        return Status::Ok();
      });
}

Status LibvirtHypervisor::DestroyDomain(const std::string& name) {
  VMK_ASSIGN_OR_RETURN(auto conn, Current());
  return RunBounded<Status>(
      clock_, CallTimeout(), conn, "destroy domain " + name, [name](Connection& c) -> Status {
        VMK_ASSIGN_OR_RETURN(DomainHandle dom, LookupOwned(c, name));
        int active = virDomainIsActive(dom.get());
        if (active < 0) return c.Fail("state of " + name);
        if (active == 0) return Status::Ok();
        if (virDomainDestroy(dom.get()) < 0) {
          Status s = c.Fail("destroy domain " + name);
          if (s.code() == StatusCode::kFailedPrecondition && virDomainIsActive(dom.get()) == 0) {
            return Status::Ok();
          }
          return s;
        }
        return Status::Ok();
      });
}

Status LibvirtHypervisor::UndefineDomain(const std::string& name) {
  VMK_ASSIGN_OR_RETURN(auto conn, Current());
  return RunBounded<Status>(
      clock_, CallTimeout(), conn, "undefine domain " + name, [name](Connection& c) -> Status {
        auto dom = LookupOwned(c, name);
        if (dom.status().code() == StatusCode::kNotFound) return Status::Ok();
        if (!dom.ok()) return dom.status();
        // Drivers accept different flag sets (the test driver knows no NVRAM): fall back on
        // InvalidArgument, from the most thorough set to none.
        const unsigned int flag_sets[] = {
            VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA | VIR_DOMAIN_UNDEFINE_MANAGED_SAVE |
                VIR_DOMAIN_UNDEFINE_NVRAM,
            VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA | VIR_DOMAIN_UNDEFINE_MANAGED_SAVE,
            VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA,
            0};
        Status s;
        for (unsigned int flags : flag_sets) {
          if (virDomainUndefineFlags(dom->get(), flags) == 0) return Status::Ok();
          s = c.Fail("undefine domain " + name);
          if (s.code() == StatusCode::kNotFound) return Status::Ok();
          if (s.code() != StatusCode::kInvalidArgument) return s;
        }
        return s;
      });
}

void LibvirtHypervisor::SetDomainEventHandler(std::function<void(const DomainEvent&)> handler) {
  std::lock_guard<std::mutex> lock(handlers_->mu);
  handlers_->domain = std::move(handler);
}

void LibvirtHypervisor::SetConnectionEventHandler(
    std::function<void(const ConnectionEvent&)> handler) {
  std::lock_guard<std::mutex> lock(handlers_->mu);
  handlers_->connection = std::move(handler);
}

Status LibvirtHypervisor::DefineRawXmlForTest(const std::string& xml) {
  VMK_ASSIGN_OR_RETURN(auto conn, Current());
  return RunBounded<Status>(clock_, CallTimeout(), conn, "define raw XML",
                            [xml](Connection& c) -> Status {
                              DomainHandle dom(virDomainDefineXML(c.conn, xml.c_str()));
                              if (dom.get() == nullptr) return c.Fail("define raw XML");
                              return Status::Ok();
                            });
}

int LibvirtHypervisor::CallsInFlightForTest() {
  std::lock_guard<std::mutex> g(g_calls_mu);
  return g_calls_in_flight;
}

bool LibvirtHypervisor::WaitForCallsForTest(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> g(g_calls_mu);
  return g_calls_cv.wait_for(g, timeout, [] { return g_calls_in_flight == 0; });
}

void LibvirtHypervisor::MarkDeadForTest() {
  std::lock_guard<std::mutex> lock(mu_);
  if (conn_ != nullptr) conn_->context->alive = false;
}

int LibvirtHypervisor::PendingOpensForTest() {
  std::lock_guard<std::mutex> g(g_pending_mu);
  return g_pending_opens;
}

bool LibvirtHypervisor::WaitForPendingOpensForTest(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> g(g_pending_mu);
  return g_pending_cv.wait_for(g, timeout, [] { return g_pending_opens == 0; });
}

std::unique_ptr<Hypervisor> LibvirtHypervisorFactory::Create(const std::string& host_name,
                                                             const std::string& uri,
                                                             const ConnectOptions& options) {
  return std::make_unique<LibvirtHypervisor>(host_name, uri, options, clock_);
}

}  // namespace vmk::providers
