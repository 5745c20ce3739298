// HttpServer: a small HTTP/1.1 server over cpprestsdk's listener, behind std types, and the
// API's edge: what reaches the handler has passed these checks, in this order (each refusal is a
// JSON {"error": ...} with the status in brackets; docs/http-edge.md has the reasons):
//   TRACE and CONNECT [405]; request-target over max_url_bytes [414]; more than max_header_count
//   headers or max_header_bytes of them [431]; a Host that is not an IP literal, localhost or an
//   allowed name [400, DNS rebinding]; a write (POST/PUT/PATCH/DELETE) whose Origin is not this
//   server [403, CSRF]; a chunked body [411]; a Content-Length over max_body_bytes [413, refused
//   before the body is read]; a body sent with a write that is neither application/json nor
//   application/yaml [415]; more than max_in_flight requests handled at once, or more than
//   max_body_bytes_in_flight of bodies being received [429 with Retry-After]. OPTIONS is
//   answered here (204 with the path's Allow, no CORS grant). A refused request's connection is
//   closed and its unread body dropped.
// Then the options' admit hook (vmkeeperd's ApiGuard: authentication and roles) sees the head
// and may refuse it, still before the body is read; on_answered hears of every answer and
// refusal (the audit log).
// With tls_cert_file set the listener speaks only TLS (1.2 and up); with tls_client_ca_file it
// requires and verifies a client certificate. ReloadTls() reads the files again: connections
// accepted after it use them (cpprestsdk builds a TLS context per connection).
// Bodies are received without holding a thread. Connection limits (timeouts, the connection
// cap) are a ConnectionReaper's (connection_reaper.h): cpprestsdk enforces none of them.
//
// cpprestsdk runs handlers on its shared thread pool: the handler must be thread-safe and quick.
// Start()/Stop() are not thread-safe with each other; everything else is.
#pragma once

#include <array>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cli/http_types.h"
#include "common/clock.h"
#include "common/status.h"

namespace vmk::cli {

struct HttpServerOptions {
  // "host:port"; port 0 picks a free port (see address() for the one chosen).
  std::string listen = "127.0.0.1:7480";
  size_t max_body_bytes = 8 * 1024 * 1024;
  // Host header names accepted besides IP literals and "localhost" (case-insensitive, without
  // port); "*" accepts any.
  std::vector<std::string> allowed_hosts;
  size_t max_url_bytes = 8 * 1024;
  size_t max_header_count = 100;
  size_t max_header_bytes = 64 * 1024;  // names and values of all headers together
  // Requests being handled at once (their bodies received), and bytes of bodies being received.
  size_t max_in_flight = 32;
  size_t max_body_bytes_in_flight = 64 * 1024 * 1024;
  // Connections (see ConnectionLimits): a request must arrive within request_timeout of its
  // first byte; a connection idle for idle_timeout is closed.
  size_t max_connections = 256;
  std::chrono::milliseconds request_timeout{30000};
  std::chrono::milliseconds idle_timeout{60000};
  std::chrono::milliseconds scan_interval{200};
  // TLS: PEM files of the certificate chain (leaf first) and its unencrypted key; empty = plain
  // HTTP. With a client CA bundle, clients must present a certificate it signed.
  std::string tls_cert_file;
  std::string tls_key_file;
  std::string tls_client_ca_file;
  // Called with a request's head (no body yet) once the edge's checks passed; may set the
  // request's user and role, or return the refusal. Thread-safe, quick.
  std::function<std::optional<HttpResponse>(HttpRequest*)> admit;
  // Called once a request is answered or refused (by_edge: by the edge's own checks, the
  // request then holding only its method, path and source, or by too many requests at once).
  // Refusals by admit come with by_edge false. Thread-safe, quick.
  std::function<void(const HttpRequest&, const HttpResponse&, bool by_edge)> on_answered;
};

// Why the edge itself refused a request (the reason label of
// vmkeeper_api_requests_refused_total, docs/metrics.md).
enum class EdgeRefusal {
  kMethod,           // 405: TRACE, CONNECT
  kUriTooLong,       // 414
  kHeadersTooLarge,  // 431
  kMalformed,        // 400: a request target or head cpprestsdk could not decode
  kHost,             // 400: Host missing or not a name of this server (DNS rebinding)
  kOrigin,           // 403: a cross-origin write (CSRF)
  kChunked,          // 411: a body without Content-Length
  kTooLarge,         // 413: Content-Length over max_body_bytes
  kContentType,      // 415
  kTooBusy,          // 429: more than max_in_flight requests at once
  kTooManyBodies,    // 429: more than max_body_bytes_in_flight of bodies being received
};
inline constexpr size_t kEdgeRefusalCount = 11;
// "method", "uri_too_long", "headers_too_large", "malformed", "host", "origin", "chunked",
// "too_large", "content_type", "too_busy", "too_many_bodies".
std::string_view EdgeRefusalName(EdgeRefusal reason);

// What the edge refused and closed so far (for logs, tests and /metrics).
struct HttpEdgeStats {
  uint64_t refused = 0;            // requests refused by the edge or the admit hook
  uint64_t too_busy = 0;           // of which 429 by the edge (too busy, too many bodies)
  // The edge's own refusals by EdgeRefusal (the admit hook's are its own to count).
  std::array<uint64_t, kEdgeRefusalCount> refused_by_reason{};
  uint64_t open_connections = 0;   // at the last scan
  uint64_t request_timeouts = 0;   // connections closed: request not received in time
  uint64_t idle_timeouts = 0;      // connections closed: idle
  uint64_t over_connection_limit = 0;
  uint64_t request_too_large = 0;  // connections closed: unanswered bytes over the cap
};

using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

class HttpServer {
 public:
  // clock (for request durations in logs) must outlive the server.
  HttpServer(HttpServerOptions options, HttpHandler handler, Clock* clock);
  ~HttpServer();  // Stops.

  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and starts serving. Unavailable if the address cannot be bound.
  Status Start();
  // Stops accepting and waits for the listener to close. Idempotent.
  void Stop();

  // Reads the TLS files again; on error the ones in use stay. FailedPrecondition without TLS.
  Status ReloadTls();
  bool tls() const;

  // The bound address, "127.0.0.1:43121"; empty before Start().
  std::string address() const;
  HttpEdgeStats edge_stats() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

// A currently free TCP port on `host` (binds port 0 and closes it). The port may be taken by
// someone else before it is used: callers retry.
StatusOr<int> PickFreePort(const std::string& host);

}  // namespace vmk::cli
