#include "providers/hypervisor/libvirt/libvirt_connection.h"

#include <strings.h>

#include <cerrno>
#include <thread>
#include <utility>

namespace vmk::providers::libvirt_internal {
namespace {

// Process-wide count of open helper threads still running (for tests and clean shutdown).
Mutex g_pending_mu;
std::condition_variable g_pending_cv;
int g_pending_opens GUARDED_BY(g_pending_mu) = 0;

// Process-wide count of libvirt calls still running on their helper thread (bounded calls whose
// caller gave up are counted until libvirt returns), for tests.
Mutex g_calls_mu;
std::condition_variable g_calls_cv;
int g_calls_in_flight GUARDED_BY(g_calls_mu) = 0;

bool IsConnectionError(const LastError& e) {
  return e.domain == VIR_FROM_RPC || e.code == VIR_ERR_RPC || e.code == VIR_ERR_NO_CONNECT ||
         e.code == VIR_ERR_INVALID_CONN;
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

void FreeContext(void* opaque) { delete static_cast<std::shared_ptr<CallbackContext>*>(opaque); }

int LifecycleCallback(virConnectPtr, virDomainPtr dom, int event, int detail, void* opaque) {
  auto& ctx = *static_cast<std::shared_ptr<CallbackContext>*>(opaque);
  DomainEvent e;
  const char* name = virDomainGetName(dom);
  e.domain = name ? name : "";
  e.type = MapEvent(event, detail);
  e.detail = detail;
  e.time = ctx->clock->WallNow();
  MutexLock lock(&ctx->handlers->mu);
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
  MutexLock lock(&ctx->handlers->mu);
  if (!ctx->handlers->detached && ctx->handlers->connection) ctx->handlers->connection(e);
}

// Local drivers (test:///...) do not do keepalive and say VIR_ERR_NO_SUPPORT: harmless, they
// cannot hang. Any other failure on a remote connection leaves calls on it unbounded by
// keepalive, so the connection is refused. (Calls are bounded anyway; see RunBounded.)
Status EnableKeepAlive(virConnectPtr raw, const std::string& open_uri,
                       const ConnectOptions& options) {
  if (options.keepalive_interval_seconds <= 0) return Status::Ok();
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
  return Status::Ok();
}

// Runs on the helper thread: open, then everything else that talks to the host, so the whole
// setup is bounded by the open timeout.
// Whether a failed open was refused at once by the host's address (see OpenAttempt::refused).
bool RefusedAtOnce(const LastError& e) {
  if (e.code != VIR_ERR_SYSTEM_ERROR) return false;
  switch (e.sys_errno) {
    case ECONNREFUSED:
    case ENOENT:  // a unix socket that is not there: the daemon is not running
    case ECONNRESET:
    case EHOSTUNREACH:
    case ENETUNREACH:
    case EHOSTDOWN:
      return true;
    default:
      return false;
  }
}

StatusOr<std::shared_ptr<Connection>> OpenConnection(const std::string& open_uri,
                                                     const ConnectOptions& options,
                                                     const std::shared_ptr<Handlers>& handlers,
                                                     Clock* clock, bool domain_events,
                                                     bool* refused) {
  virConnectPtr raw = virConnectOpen(open_uri.c_str());
  if (raw == nullptr) {
    LastError e = ReadLastError();
    *refused = RefusedAtOnce(e);
    return Status::Unavailable("open " + open_uri + ": " + e.message);
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

  VMK_RETURN_IF_ERROR(EnableKeepAlive(raw, open_uri, options));

  // libvirt reports success without storing anything (and so never calls a free function)
  // for drivers without close callbacks, such as test://. So the opaque is a plain pointer to
  // the context this Connection owns, valid until ~Connection unregisters the callback (after
  // which libvirt no longer calls it).
  if (virConnectRegisterCloseCallback(raw, CloseCallback, c->context.get(), nullptr) == 0) {
    c->close_callback_registered = true;
  } else {
    virResetLastError();
  }

  if (!domain_events) return c;
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

}  // namespace

LastError ReadLastError() {
  LastError e;
  if (virErrorPtr err = virGetLastError()) {
    e.code = err->code;
    e.domain = err->domain;
    e.message = err->message ? err->message : "unknown libvirt error";
    if (err->code == VIR_ERR_SYSTEM_ERROR) e.sys_errno = err->int1;
  } else {
    e.message = "unknown libvirt error";
  }
  return e;
}

Connection::~Connection() {
  if (conn == nullptr) return;
  if (lifecycle_callback_id >= 0) virConnectDomainEventDeregisterAny(conn, lifecycle_callback_id);
  if (close_callback_registered) virConnectUnregisterCloseCallback(conn, CloseCallback);
  virConnectClose(conn);
}

Status Connection::Fail(const std::string& what) {
  LastError e = ReadLastError();
  std::string message = what + ": " + e.message;
  if (IsConnectionError(e) || virConnectIsAlive(conn) != 1) {
    context->alive = false;
    return Status::Unavailable(message);
  }
  switch (e.code) {
    case VIR_ERR_NO_DOMAIN:
    case VIR_ERR_NO_STORAGE_POOL:
    case VIR_ERR_NO_STORAGE_VOL: return Status::NotFound(message);
    case VIR_ERR_STORAGE_VOL_EXIST: return Status::AlreadyExists(message);
    case VIR_ERR_OPERATION_INVALID: return Status::FailedPrecondition(message);
    case VIR_ERR_OPERATION_TIMEOUT: return Status::DeadlineExceeded(message);
    case VIR_ERR_XML_ERROR:
    case VIR_ERR_INVALID_ARG: return Status::InvalidArgument(message);
    default: return Status::Internal(message);
  }
}

std::shared_ptr<OpenAttempt> StartOpen(const std::string& open_uri, const ConnectOptions& options,
                                       std::shared_ptr<Handlers> handlers, Clock* clock,
                                       bool domain_events) {
  auto attempt = std::make_shared<OpenAttempt>();
  {
    MutexLock g(&g_pending_mu);
    ++g_pending_opens;
  }
  std::thread([attempt, open_uri, options, handlers = std::move(handlers), clock, domain_events] {
    bool refused = false;
    auto result = OpenConnection(open_uri, options, handlers, clock, domain_events, &refused);
    {
      MutexLock l(&attempt->mu);
      attempt->done = true;
      attempt->refused = refused;
      if (result.ok()) {
        attempt->result = std::move(result).value();
      } else {
        attempt->status = result.status();
      }
    }
    attempt->cv.notify_all();
    {
      MutexLock g(&g_pending_mu);
      --g_pending_opens;
    }
    g_pending_cv.notify_all();
  }).detach();
  return attempt;
}

std::optional<OpenResult> WaitForOpen(Clock* clock, OpenAttempt& attempt, MonoTime deadline) {
  MutexLock l(&attempt.mu);
  while (!attempt.done && clock->Now() < deadline) {
    clock->WaitUntil(l.native(), attempt.cv, deadline);
  }
  if (!attempt.done) return std::nullopt;
  return OpenResult{attempt.status, attempt.refused, attempt.result};
}

void CloseInBackground(std::shared_ptr<Connection> conn) {
  if (conn == nullptr) return;
  std::thread([c = std::move(conn)]() mutable { c.reset(); }).detach();
}

int PendingOpens() {
  MutexLock g(&g_pending_mu);
  return g_pending_opens;
}

bool WaitForPendingOpens(std::chrono::milliseconds timeout) {
  MutexLock g(&g_pending_mu);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (g_pending_opens != 0 && g.WaitUntil(g_pending_cv, deadline)) {}
  return g_pending_opens == 0;
}

int CallsInFlight() {
  MutexLock g(&g_calls_mu);
  return g_calls_in_flight;
}

bool WaitForCallsInFlight(std::chrono::milliseconds timeout) {
  MutexLock g(&g_calls_mu);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (g_calls_in_flight != 0 && g.WaitUntil(g_calls_cv, deadline)) {}
  return g_calls_in_flight == 0;
}

void CountCallIn() {
  MutexLock g(&g_calls_mu);
  ++g_calls_in_flight;
}

void CountCallOut() {
  {
    MutexLock g(&g_calls_mu);
    --g_calls_in_flight;
  }
  g_calls_cv.notify_all();
}

}  // namespace vmk::providers::libvirt_internal
