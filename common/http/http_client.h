// HttpClient: one HTTP(S) request with one deadline, on libcurl. The notifier's webhook POST and
// the HTTP health probe both go through it (and the TCP probe through Connect, its connect-only
// sibling), so resolving, connecting, TLS and answer parsing exist once, in a library that has
// seen every peer there is. Not to be confused with cli/'s vmk::cli::HttpClient (cpprestsdk, for
// the vmkeeper CLI talking to vmkeeperd).
//
// What one request does:
//   - Resolves, connects, sends the request and reads the answer's status line, all within
//     request.timeout: one deadline on steady_clock, never reported before it has passed
//     (libcurl's own CURLOPT_TIMEOUT_MS is only a backstop just behind it). Names are resolved
//     on libcurl's threaded resolver, so DNS is bounded by the deadline too (a plain getaddrinfo
//     call is not): a resolver that hangs costs at most the timeout, and the lookup is abandoned
//     (CURLOPT_QUICK_EXIT: its thread finishes on its own) rather than waited for.
//   - Stops at the final status line: headers and body are not read, so a server that drips an
//     endless body after "200 OK" answers in time. 1xx interim answers are skipped.
//   - HTTP/1.1 with "Connection: close", one fresh connection per request, no proxy (the
//     *_proxy environment variables are ignored: probes and webhooks go straight to their
//     target), no redirects followed (a 3xx is an answer like any other), http and https only.
//     https verifies the peer's certificate and name against the system's CA store.
//   - Sockets are opened close-on-exec. Never throws, and never signals: CURLOPT_NOSIGNAL, as
//     threaded code needs.
//
// Answers and errors. A status line, whatever its code, is an answer: StatusOr holds it. A
// request that got no status line is an error whose message is made for humans and logs:
//   DeadlineExceeded  "timed out after 500 ms (connecting)" (or "resolving the host name",
//                     "TLS handshake", "waiting for the HTTP answer")
//   Aborted           "interrupted": the Cancellation passed in was cancelled
//   InvalidArgument   the request itself is malformed (URL, scheme, timeout, header lines)
//   Internal          libcurl itself failed (initialisation, memory)
//   Unavailable       everything else: "connection refused", "connection reset by peer",
//                     "connection closed without an answer", "bad HTTP answer: ...",
//                     "cannot resolve <host>", "TLS: ...", ...
// Messages name at most the host and port, never the URL's path or query (webhook URLs carry
// secret tokens there).
//
// Thread-safe: Do and Connect keep no state between calls, so any number may run at once (each
// has its own libcurl handles). libcurl's process-wide setup (curl_global_init) runs once, on
// first use, whatever the thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "common/mutex.h"
#include "common/status.h"

namespace vmk::http {

class CancellationRegistration;  // http_client.cc: a request's registration, for its lifetime

// Lets one thread interrupt the requests another thread has in flight, promptly (the waiting
// request is woken, not polled). Once cancelled it stays cancelled: requests started with it
// fail at once with Aborted. Thread-safe.
class Cancellation {
 public:
  Cancellation() = default;
  Cancellation(const Cancellation&) = delete;
  Cancellation& operator=(const Cancellation&) = delete;

  void Cancel();
  bool cancelled() const;

 private:
  friend class CancellationRegistration;
  // A request in flight registers how to wake it; Cancel() calls every registered waker under
  // mu_, so a request unregisters (under mu_) before its handles go away.
  // Both are const: a request registers through the const Cancellation it was given.
  // Register returns 0 when already cancelled (none kept).
  uint64_t Register(std::function<void()> waker) const EXCLUDES(mu_);
  void Unregister(uint64_t id) const EXCLUDES(mu_);

  mutable Mutex mu_;
  bool cancelled_ GUARDED_BY(mu_) = false;
  mutable uint64_t next_id_ GUARDED_BY(mu_) = 1;
  mutable std::map<uint64_t, std::function<void()>> wakers_ GUARDED_BY(mu_);
};

struct HttpRequest {
  enum class Method { kGet, kPost };
  Method method = Method::kGet;
  // http://host[:port][/path][?query] or https://...; host a name, IPv4 or [IPv6]. The path is
  // sent as written (no dot-segment squashing). The caller validates what users configure.
  std::string url;
  // Extra header lines, "Name: value". Host, Content-Length and Connection are set by the client.
  std::vector<std::string> headers;
  std::string body;  // kPost: sent with its Content-Length
  std::string user_agent = "vmkeeper";
  std::chrono::milliseconds timeout{5000};  // the one deadline, see above; must be positive
};

struct HttpResponse {
  int status = 0;  // the final status code, 200..599 (or any other 3-digit code a peer sends)
};

class HttpClient {
 public:
  HttpClient() = default;
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Makes `request` and returns the status of its answer, or why there is none (see above).
  // `cancel`, when given, must outlive the call.
  StatusOr<HttpResponse> Do(const HttpRequest& request,
                            const Cancellation* cancel = nullptr) const;

  // Resolves `host` (a name, IPv4, or IPv6 with or without brackets) and connects to `port`
  // over TCP within `timeout`, then closes: sends nothing. Ok when a connection was
  // established; the errors of Do otherwise. The same resolver and deadline as Do, for probes
  // that only ask "does anything accept connections there?".
  Status Connect(const std::string& host, int port, std::chrono::milliseconds timeout,
                 const Cancellation* cancel = nullptr) const;
};

}  // namespace vmk::http
