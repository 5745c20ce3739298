// HttpServer: a small HTTP/1.1 server over cpprestsdk's listener, behind std types. It turns
// each request into an HttpRequest, enforces the body cap (413 before reading an oversized
// body), calls the handler, and catches every exception so none reaches cpprestsdk.
//
// cpprestsdk runs handlers on its shared thread pool: the handler must be thread-safe and quick.
// Start()/Stop() are not thread-safe with each other; everything else is.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "cli/http_types.h"
#include "common/clock.h"
#include "common/status.h"

namespace vmk::cli {

struct HttpServerOptions {
  // "host:port"; port 0 picks a free port (see address() for the one chosen).
  std::string listen = "127.0.0.1:7480";
  size_t max_body_bytes = 8 * 1024 * 1024;
  // Slow clients are cut off after this long.
  std::chrono::seconds request_timeout{30};
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

  // The bound address, "127.0.0.1:43121"; empty before Start().
  std::string address() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

// A currently free TCP port on `host` (binds port 0 and closes it). The port may be taken by
// someone else before it is used: callers retry.
StatusOr<int> PickFreePort(const std::string& host);

}  // namespace vmk::cli
