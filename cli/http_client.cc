// The only client-side translation unit that includes cpprestsdk.
#include "cli/http_client.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <optional>
#include <thread>

#include <cpprest/http_client.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "cli/client_tls.h"
#include "cli/tls_diagnosis.h"
#include "common/net_address.h"

namespace vmk::cli {

class HttpClient::Impl {
 public:
  Impl(std::unique_ptr<web::http::client::http_client> client, std::string bearer_token,
       bool https, TlsTarget tls)
      : client(std::move(client)),
        bearer_token(std::move(bearer_token)),
        https(https),
        tls(std::move(tls)) {}
  const std::unique_ptr<web::http::client::http_client> client;
  const std::string bearer_token;  // secret: only ever put in the Authorization header
  const bool https;
  const TlsTarget tls;  // what to look at when a TLS connection fails
};

namespace {

// How long each step of a TLS diagnosis may wait (it runs only after a failure).
constexpr std::chrono::milliseconds kDiagnosisTimeout{3000};

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

constexpr int kMaxRateLimitRetries = 5;
constexpr std::chrono::seconds kMaxRetryAfter{30};

// A Retry-After of delta-seconds (the only form vmkeeperd sends); none for an HTTP date or junk.
std::optional<std::chrono::seconds> RetryAfterOf(const HttpResponse& response) {
  for (const auto& [name, value] : response.headers) {
    if (name != "Retry-After") continue;
    int seconds = 0;
    auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
    if (ec != std::errc() || end != value.data() + value.size() || seconds < 0) return std::nullopt;
    return std::chrono::seconds(std::max(seconds, 1));
  }
  return std::nullopt;
}

ClientTlsFiles TlsFilesOf(const HttpClientOptions& options) {
  return {options.certificate_authority, options.client_certificate, options.client_key};
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
  HttpClientOptions options;
  options.timeout = timeout;
  return Create(base_url, options);
}

StatusOr<std::unique_ptr<HttpClient>> HttpClient::Create(const std::string& base_url,
                                                         const HttpClientOptions& options) {
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
    const bool https = uri.scheme() == "https";
    std::string host = uri.host();
    if (host.size() > 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
    if (!options.bearer_token.empty() && !https && !IsLoopbackHost(host)) {
      return Status::InvalidArgument(
          "refusing to send the bearer token to " + url +
          " over plain http, where anyone on the way could read it: use an https:// server URL "
          "(plain http carries a token to a loopback address only)");
    }
    web::http::client::http_client_config config;
    config.set_timeout(std::chrono::duration_cast<std::chrono::microseconds>(options.timeout));
    TlsTarget tls;
    if (https) {
      // The files are checked now, so that a bad one is named before any request; the
      // callback below loads them again for each connection cpprestsdk opens.
      std::unique_ptr<SSL_CTX, void (*)(SSL_CTX*)> check(SSL_CTX_new(TLS_client_method()),
                                                         SSL_CTX_free);
      if (!check) return Status::Internal("OpenSSL could not make a TLS context");
      VMK_RETURN_IF_ERROR(ConfigureClientTls(check.get(), TlsFilesOf(options)));
      config.set_validate_certificates(!options.insecure_skip_tls_verify);
      HttpClientOptions tls_files = options;
      tls_files.bearer_token.clear();  // the callback needs the files only
      config.set_ssl_context_callback([tls_files](boost::asio::ssl::context& context) {
        // Checked above, but a file may have changed since: failing here must end the
        // connection, not leave it on the system's CAs cpprestsdk loaded (fail closed).
        Status configured = ConfigureClientTls(context.native_handle(), TlsFilesOf(tls_files));
        if (!configured.ok()) {
          throw boost::system::system_error(
              boost::system::errc::make_error_code(boost::system::errc::permission_denied),
              configured.message());
        }
      });
      tls.host = host;
      tls.port = uri.port() > 0 ? uri.port() : 443;
      tls.certificate_authority = options.certificate_authority;
      tls.client_certificate = options.client_certificate;
      tls.client_key = options.client_key;
      tls.verify = !options.insecure_skip_tls_verify;
    }
    auto client = std::make_unique<web::http::client::http_client>(uri, config);
    return std::unique_ptr<HttpClient>(new HttpClient(
        url, std::make_unique<Impl>(std::move(client), options.bearer_token, https, tls)));
  } catch (const std::exception& e) {
    return Status::InvalidArgument("invalid server URL " + base_url + ": " + e.what());
  }
}

StatusOr<HttpResponse> HttpClient::Send(const std::string& method,
                                        const std::string& path_and_query,
                                        const std::string& body,
                                        const std::string& content_type) {
  // A 429 is a refusal before the request was handled (the server's in-flight cap or the
  // caller's write rate limit), so sending it again is safe: wait as its Retry-After says and
  // retry, as client-go does, so that a script deleting 50 VMs one by one slows down instead of
  // failing. Bounded: a wait longer than kMaxRetryAfter, or more than kMaxRateLimitRetries of
  // them, gives the 429 to the caller, whose message says when to retry.
  for (int retries = 0;; ++retries) {
    StatusOr<HttpResponse> response = SendOnce(method, path_and_query, body, content_type);
    if (!response.ok() || response->status != 429 || retries >= kMaxRateLimitRetries) {
      return response;
    }
    const std::optional<std::chrono::seconds> wait = RetryAfterOf(*response);
    if (!wait || *wait > kMaxRetryAfter) return response;
    std::this_thread::sleep_for(*wait);
  }
}

StatusOr<HttpResponse> HttpClient::SendOnce(const std::string& method,
                                            const std::string& path_and_query,
                                            const std::string& body,
                                            const std::string& content_type) {
  try {
    web::http::http_request request(method);
    request.set_request_uri(path_and_query);
    if (!body.empty()) request.set_body(body, content_type);
    if (!impl_->bearer_token.empty()) {
      request.headers().add("Authorization", "Bearer " + impl_->bearer_token);
    }
    web::http::http_response reply = impl_->client->request(request).get();
    HttpResponse out;
    out.status = reply.status_code();
    out.content_type = reply.headers().content_type();
    std::string retry_after;
    if (reply.headers().match("Retry-After", retry_after)) {
      out.headers.emplace_back("Retry-After", retry_after);
    }
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
    } else if (impl_->https) {
      // Whatever went wrong, a TLS problem is the likely cause and cpprestsdk's words for it
      // ("handshake: certificate verify failed", "stream truncated") do not say which.
      std::string diagnosis = DiagnoseTlsFailure(impl_->tls, kDiagnosisTimeout);
      if (!diagnosis.empty()) reason = diagnosis;
    }
    return Status::Unavailable("cannot reach vmkeeperd at " + base_url_ + ": " +
                               LowerFirst(reason));
  } catch (const std::exception& e) {
    return Status::Unavailable("request to vmkeeperd at " + base_url_ + " failed: " + e.what());
  }
}

}  // namespace vmk::cli
