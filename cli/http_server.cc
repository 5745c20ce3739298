// The only server-side translation unit that includes cpprestsdk.
#include "cli/http_server.h"

#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <exception>

#include <cpprest/containerstream.h>
#include <cpprest/http_listener.h>

#include "cli/api_router.h"
#include "cli/daemon_config.h"
#include "common/log.h"

namespace vmk::cli {

using web::http::http_request;
using web::http::experimental::listener::http_listener;
using web::http::experimental::listener::http_listener_config;

class HttpServer::Impl {
 public:
  Impl(HttpServerOptions options, HttpHandler handler, Clock* clock)
      : options_(std::move(options)), handler_(std::move(handler)), clock_(clock) {}

  Status Start();
  void Stop();
  void Serve(http_request request);
  // Reads the body within the cap; false with *response set (413) when it is refused.
  bool ReadBody(http_request& request, std::string* body, HttpResponse* response);

  HttpServerOptions options_;
  HttpHandler handler_;
  Clock* clock_;
  std::unique_ptr<http_listener> listener_;
  std::string address_;
};

namespace {

// The body is refused unread, but note cpprestsdk's own limit: it sends no reply before it has
// received the whole body (into its request buffer), so an oversized upload still costs its
// transfer before the 413 goes out; the listener timeout bounds slow senders. This is one reason
// the server binds to loopback by default.
HttpResponse TooLarge(size_t cap) {
  return ErrorResponse(413, "request body exceeds the limit of " + std::to_string(cap) + " bytes");
}

void Reply(http_request& request, const HttpResponse& response) {
  web::http::http_response reply(static_cast<web::http::status_code>(response.status));
  reply.set_body(response.body, response.content_type);
  for (const auto& [name, value] : response.headers) reply.headers().add(name, value);
  // The client may be gone; a failed reply must not surface as an unobserved task exception.
  request.reply(reply).then([](pplx::task<void> done) {
    try {
      done.get();
    } catch (const std::exception& e) {
      log::Debug("reply not delivered", {{"error", e.what()}});
    }
  });
}

}  // namespace

bool HttpServer::Impl::ReadBody(http_request& request, std::string* body,
                                HttpResponse* response) {
  const auto& headers = request.headers();
  const uint64_t length = headers.content_length();
  const size_t cap = options_.max_body_bytes;
  if (length > cap) {
    *response = TooLarge(cap);
    return false;
  }
  if (length > 0) {
    *body = request.extract_utf8string(true).get();
    if (body->size() > cap) {
      *response = TooLarge(cap);
      return false;
    }
    return true;
  }
  if (!headers.has("Transfer-Encoding")) return true;  // no body
  // Chunked: read in pieces and stop as soon as the cap is passed.
  concurrency::streams::container_buffer<std::string> buffer;
  auto in = request.body();
  while (true) {
    size_t got = in.read(buffer, 64 * 1024).get();
    if (got == 0) break;
    if (buffer.collection().size() > cap) {
      *response = TooLarge(cap);
      return false;
    }
  }
  *body = std::move(buffer.collection());
  return true;
}

void HttpServer::Impl::Serve(http_request request) {
  const MonoTime start = clock_->Now();
  HttpRequest req;
  HttpResponse response;
  try {
    req.method = request.method();
    const web::uri& uri = request.request_uri();
    req.path = web::uri::decode(uri.path());
    for (const auto& [key, value] : web::uri::split_query(uri.query())) {
      req.query[web::uri::decode(key)] = web::uri::decode(value);
    }
    if (ReadBody(request, &req.body, &response)) response = handler_(req);
  } catch (const web::uri_exception& e) {
    response = ErrorResponse(400, std::string("malformed request URI: ") + e.what());
  } catch (const std::exception& e) {
    log::Error("request failed", {{"method", req.method}, {"path", req.path}, {"error", e.what()}});
    response = ErrorResponse(500, std::string("internal error: ") + e.what());
  } catch (...) {
    response = ErrorResponse(500, "internal error");
  }
  try {
    Reply(request, response);
  } catch (const std::exception& e) {
    log::Warning("reply failed", {{"path", req.path}, {"error", e.what()}});
  } catch (...) {
  }
  if (log::Enabled(log::Level::kDebug)) {
    auto micros =
        std::chrono::duration_cast<std::chrono::microseconds>(clock_->Now() - start).count();
    log::Debug("request", {{"method", req.method},
                           {"path", req.path},
                           {"status", std::to_string(response.status)},
                           {"durationSeconds", std::to_string(micros / 1e6)}});
  }
}

Status HttpServer::Impl::Start() {
  if (listener_) return Status::FailedPrecondition("server already started");
  VMK_ASSIGN_OR_RETURN(ListenAddress address, ParseListenAddress(options_.listen));
  // With port 0 we choose a free port ourselves (cpprestsdk cannot report the one it bound);
  // another process may grab it first, so try a few.
  const int attempts = address.port == 0 ? 10 : 1;
  std::string last_error;
  for (int i = 0; i < attempts; ++i) {
    ListenAddress bind_to = address;
    if (bind_to.port == 0) {
      VMK_ASSIGN_OR_RETURN(bind_to.port, PickFreePort(address.host));
    }
    try {
      http_listener_config config;
      config.set_timeout(options_.request_timeout);
      auto listener =
          std::make_unique<http_listener>(web::uri("http://" + bind_to.ToString()), config);
      listener->support([this](http_request request) { Serve(std::move(request)); });
      listener->open().wait();
      listener_ = std::move(listener);
      address_ = bind_to.ToString();
      return Status::Ok();
    } catch (const std::exception& e) {
      last_error = e.what();
    }
  }
  return Status::Unavailable("cannot listen on " + options_.listen + ": " + last_error);
}

void HttpServer::Impl::Stop() {
  if (!listener_) return;
  try {
    listener_->close().wait();
  } catch (const std::exception& e) {
    log::Warning("closing the listener failed", {{"error", e.what()}});
  }
  listener_.reset();
}

HttpServer::HttpServer(HttpServerOptions options, HttpHandler handler, Clock* clock)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(handler), clock)) {}

HttpServer::~HttpServer() { Stop(); }

Status HttpServer::Start() { return impl_->Start(); }
void HttpServer::Stop() { impl_->Stop(); }
std::string HttpServer::address() const { return impl_->address_; }

StatusOr<int> PickFreePort(const std::string& host) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* found = nullptr;
  int rc = getaddrinfo(host.c_str(), "0", &hints, &found);
  if (rc != 0) {
    return Status::InvalidArgument("cannot resolve " + host + ": " + gai_strerror(rc));
  }
  std::string error = "no address";
  int port = -1;
  for (addrinfo* a = found; a != nullptr && port < 0; a = a->ai_next) {
    int fd = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
    if (fd < 0) continue;
    sockaddr_storage bound{};
    socklen_t len = sizeof(bound);
    if (bind(fd, a->ai_addr, a->ai_addrlen) == 0 &&
        getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &len) == 0) {
      port = bound.ss_family == AF_INET6
                 ? ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port)
                 : ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
    } else {
      error = std::strerror(errno);
    }
    close(fd);
  }
  freeaddrinfo(found);
  if (port < 0) return Status::Unavailable("cannot bind a port on " + host + ": " + error);
  return port;
}

}  // namespace vmk::cli
