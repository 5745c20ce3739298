// The connection machinery under LibvirtHypervisor, internal to providers/hypervisor/libvirt:
// Connection (one open libvirt connection with its callbacks and its CallThread), RunBounded
// (a call on the connection's call thread, waited for while the connection lives), StartOpen
// (virConnectOpen and the setup after it on a helper thread, shared as an OpenAttempt) and the
// process-wide counts of calls and opens still running, for tests and clean shutdown.
// LibvirtHypervisor (libvirt_hypervisor.h) describes the policy; the why of each part is here.
//
// Thread-safety: a Connection is shared (shared_ptr) by the hypervisor, its callers and its call
// thread; its libvirt calls are made on that thread only, one at a time; `context->alive` is
// atomic. The free functions are thread-safe.
#pragma once

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "common/clock.h"
#include "common/log.h"
#include "common/mutex.h"
#include "common/status.h"
#include "providers/hypervisor/hypervisor.h"
#include "providers/hypervisor/libvirt/call_thread.h"
#include "providers/hypervisor/libvirt/domain_document_cache.h"
#include "providers/hypervisor/libvirt/domain_xml.h"

namespace vmk::providers::libvirt_internal {

// Owns one libvirt object (a domain, a pool, a volume): freed with `Free` when it goes.
template <typename Ptr, int (*Free)(Ptr)>
class Handle {
 public:
  explicit Handle(Ptr p = nullptr) : p_(p) {}
  ~Handle() {
    if (p_) Free(p_);
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  Handle(Handle&& o) noexcept : p_(o.p_) { o.p_ = nullptr; }
  Handle& operator=(Handle&& o) noexcept {
    std::swap(p_, o.p_);
    return *this;
  }
  Ptr get() const { return p_; }

 private:
  Ptr p_;
};

struct LastError {
  int code = VIR_ERR_OK;
  int domain = VIR_FROM_NONE;
  int sys_errno = 0;  // the errno of a VIR_ERR_SYSTEM_ERROR (libvirt keeps it in int1)
  std::string message;
};

// Reads the calling thread's libvirt error (must be done before the next libvirt call).
LastError ReadLastError();

// The handlers a LibvirtHypervisor's callbacks call. `detached` is set when the hypervisor is
// destroyed; handlers run under `mu` so none runs after that.
struct Handlers {
  Mutex mu;
  std::function<void(const DomainEvent&)> domain GUARDED_BY(mu);
  std::function<void(const ConnectionEvent&)> connection GUARDED_BY(mu);
  bool detached GUARDED_BY(mu) = false;
};

// What libvirt's callbacks see: never the hypervisor, so it can go away while a callback runs.
// The lifecycle callback holds it through a heap shared_ptr that libvirt's freecb deletes.
struct CallbackContext {
  std::shared_ptr<Handlers> handlers;
  Clock* clock = nullptr;
  std::string uri;
  std::atomic<bool> alive{true};
};

// One open libvirt connection with its callbacks. Closed (callbacks deregistered first, since
// libvirt does not close a connection while callbacks hold it) when the last user drops it.
struct Connection {
  virConnectPtr conn = nullptr;
  DomainXmlFlavor flavor = DomainXmlFlavor::kQemu;
  std::string hypervisor_type;
  int lifecycle_callback_id = -1;
  bool close_callback_registered = false;
  std::shared_ptr<CallbackContext> context;
  CallThread calls;  // makes the libvirt calls on `conn`, one at a time (see RunBounded)
  // The last parse of each domain's documents; used only by the calls, on `calls`' thread.
  DomainDocumentCache documents;

  ~Connection();

  bool alive() const { return context->alive && virConnectIsAlive(conn) == 1; }

  // Turns the calling thread's libvirt error into a Status, marking the connection dead when
  // the error says the connection is gone.
  Status Fail(const std::string& what);
};

// A connection attempt running on its helper thread; shared between that thread and every
// Connect() waiting for it.
struct OpenAttempt {
  Mutex mu;
  std::condition_variable cv;
  bool done GUARDED_BY(mu) = false;
  Status status GUARDED_BY(mu);
  // The open failed because the host's address refused it at once (ECONNREFUSED, no socket,
  // unreachable network): the daemon or the host is down, not hung.
  bool refused GUARDED_BY(mu) = false;
  std::shared_ptr<Connection> result GUARDED_BY(mu);
};

// Opens `open_uri` on a helper thread of its own: the open, then everything else that talks to
// the host (keepalive, callbacks), so a caller can bound the whole setup by waiting on the
// attempt. The thread owns the attempt with the caller and counts in PendingOpens() until it
// ends; a connection it opens after every caller gave up is closed with the last reference.
// `domain_events`: register for lifecycle events (the heartbeat's own connection does not).
std::shared_ptr<OpenAttempt> StartOpen(const std::string& open_uri, const ConnectOptions& options,
                                       std::shared_ptr<Handlers> handlers, Clock* clock,
                                       bool domain_events = true);

// What an OpenAttempt ended with.
struct OpenResult {
  Status status;
  bool refused = false;                // see OpenAttempt::refused
  std::shared_ptr<Connection> result;  // null unless status is ok
};
// Waits for `attempt` to end, at most until `deadline`; nullopt when it still runs then.
std::optional<OpenResult> WaitForOpen(Clock* clock, OpenAttempt& attempt, MonoTime deadline);

// Drops a connection that may be hung on a thread of its own: closing a remote connection talks
// to the daemon (deregistering events, the close RPC), which must not stall the caller.
void CloseInBackground(std::shared_ptr<Connection> conn);

// Process-wide count of open helper threads still running (for tests and clean shutdown), and a
// wait for it to reach zero; false on timeout.
int PendingOpens();
bool WaitForPendingOpens(std::chrono::milliseconds timeout);

// Process-wide count of libvirt calls still running on their helper thread (bounded calls whose
// caller gave up are counted until libvirt returns), for tests; and a wait for it to reach zero.
// RunBounded counts a call in before posting it and out once its body returned.
int CallsInFlight();
bool WaitForCallsInFlight(std::chrono::milliseconds timeout);
void CountCallIn();
void CountCallOut();

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
// `mark_dead_on_timeout` false (the heartbeat): a call unanswered within `timeout` is reported
// but the connection is left to keepalive; the call keeps the call thread busy meanwhile.
template <typename R>
R RunBounded(Clock* clock, std::chrono::milliseconds timeout, std::shared_ptr<Connection> c,
             const std::string& what, std::function<R(Connection&)> body,
             bool mark_dead_on_timeout = true) {
  struct Slot {
    Mutex mu;
    std::condition_variable cv;
    std::optional<R> result GUARDED_BY(mu);
  };
  auto slot = std::make_shared<Slot>();
  CountCallIn();
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
      MutexLock l(&slot->mu);
      slot->result.emplace(std::move(*r));
    }
    slot->cv.notify_all();
    CountCallOut();
  });

  // The close callback does not signal `slot->cv`: look at the connection every so often.
  constexpr auto kAliveCheckInterval = std::chrono::milliseconds(100);
  MonoTime deadline = clock->Now() + timeout;
  MutexLock l(&slot->mu);
  while (!slot->result.has_value()) {
    MonoTime now = clock->Now();
    if (now >= deadline) break;
    if (!context->alive) {
      return Status::Unavailable(what + ": connection to " + context->uri +
                                 " closed while the call was running");
    }
    clock->WaitUntil(l.native(), slot->cv,
                     std::min<MonoTime>(deadline, now + kAliveCheckInterval));
  }
  if (slot->result.has_value()) return std::move(*slot->result);
  if (!mark_dead_on_timeout) {
    return Status::DeadlineExceeded(what + ": no answer within " +
                                    std::to_string(timeout.count()) + " ms");
  }
  context->alive = false;
  log::Warning("libvirt call timed out; connection marked dead",
               {{"uri", context->uri}, {"call", what}});
  return Status::DeadlineExceeded(what + ": no answer within " +
                                  std::to_string(timeout.count()) + " ms");
}

}  // namespace vmk::providers::libvirt_internal
