// The only client-side translation unit that includes cpprestsdk.
#include "cli/http_client.h"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <exception>

#include <cpprest/http_client.h>

namespace vmk::cli {

class HttpClient::Impl {
 public:
  explicit Impl(std::unique_ptr<web::http::client::http_client> client)
      : client(std::move(client)) {}
  std::unique_ptr<web::http::client::http_client> client;
};

namespace {

// cpprestsdk reports every failed connect as "host unreachable" (it maps connection refused to
// it). A refused connection is the common case (vmkeeperd not running), so on such a failure we
// connect once ourselves, with a short timeout, to tell the user what really happened.
std::string DiagnoseConnect(const std::string& host, int port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  int rc = getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found);
  if (rc != 0) return std::string("cannot resolve ") + host + ": " + gai_strerror(rc);
  std::string reason = "no route to host";
  for (addrinfo* a = found; a != nullptr; a = a->ai_next) {
    int fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK, a->ai_protocol);
    if (fd < 0) continue;
    int err = 0;
    if (connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
      err = errno;
      if (err == EINPROGRESS) {
        pollfd p{fd, POLLOUT, 0};
        if (poll(&p, 1, 2000) == 1) {
          socklen_t len = sizeof(err);
          getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
        } else {
          err = ETIMEDOUT;
        }
      }
    }
    close(fd);
    if (err == 0) {
      reason = "connection failed";  // reachable now: it was a transient failure
      break;
    }
    reason = std::strerror(err);
  }
  freeaddrinfo(found);
  return reason;
}

std::string LowerFirst(std::string text) {
  if (!text.empty()) text[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(text[0])));
  return text;
}

}  // namespace

HttpClient::HttpClient(std::string base_url, std::unique_ptr<Impl> impl)
    : base_url_(std::move(base_url)), impl_(std::move(impl)) {}

HttpClient::~HttpClient() = default;

StatusOr<std::unique_ptr<HttpClient>> HttpClient::Create(const std::string& base_url,
                                                         std::chrono::milliseconds timeout) {
  std::string url = base_url;
  if (url.find("://") == std::string::npos) url = "http://" + url;
  while (url.size() > 1 && url.back() == '/') url.pop_back();
  try {
    web::uri uri(url);
    if (uri.scheme() != "http" && uri.scheme() != "https") {
      return Status::InvalidArgument("server URL " + base_url + " must use http or https");
    }
    if (uri.host().empty()) {
      return Status::InvalidArgument("server URL " + base_url + " has no host");
    }
    web::http::client::http_client_config config;
    config.set_timeout(std::chrono::duration_cast<std::chrono::microseconds>(timeout));
    auto client = std::make_unique<web::http::client::http_client>(uri, config);
    return std::unique_ptr<HttpClient>(
        new HttpClient(url, std::make_unique<Impl>(std::move(client))));
  } catch (const std::exception& e) {
    return Status::InvalidArgument("invalid server URL " + base_url + ": " + e.what());
  }
}

StatusOr<HttpResponse> HttpClient::Send(const std::string& method,
                                        const std::string& path_and_query,
                                        const std::string& body,
                                        const std::string& content_type) {
  try {
    web::http::http_request request(method);
    request.set_request_uri(path_and_query);
    if (!body.empty()) request.set_body(body, content_type);
    web::http::http_response reply = impl_->client->request(request).get();
    HttpResponse out;
    out.status = reply.status_code();
    out.content_type = reply.headers().content_type();
    out.body = reply.extract_utf8string(true).get();
    return out;
  } catch (const web::http::http_exception& e) {
    std::string reason = e.error_code() ? e.error_code().message() : std::string(e.what());
    if (e.error_code() == std::errc::timed_out) reason = "request timed out";
    if (e.error_code() == std::errc::host_unreachable) {
      const web::uri& uri = impl_->client->base_uri();
      int port = uri.port() > 0 ? uri.port() : (uri.scheme() == "https" ? 443 : 80);
      std::string host = uri.host();
      if (host.size() > 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
      reason = DiagnoseConnect(host, port);
    }
    return Status::Unavailable("cannot reach vmkeeperd at " + base_url_ + ": " +
                               LowerFirst(reason));
  } catch (const std::exception& e) {
    return Status::Unavailable("request to vmkeeperd at " + base_url_ + " failed: " + e.what());
  }
}

}  // namespace vmk::cli
