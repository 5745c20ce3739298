// The only server-side translation unit that includes cpprestsdk.
#include "cli/http_server.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cctype>
#include <cstring>
#include <exception>
#include <optional>
#include <stdexcept>

#include <cpprest/http_listener.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "cli/api_router.h"
#include "cli/connection_reaper.h"
#include "cli/daemon_config.h"
#include "common/log.h"
#include "common/mutex.h"
#include "common/net_address.h"

namespace vmk::cli {

using web::http::http_request;
using web::http::experimental::listener::http_listener;
using web::http::experimental::listener::http_listener_config;

namespace {
std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}
}  // namespace

// The TLS files, parsed once (at start and on each reload) and shared by the contexts of the
// connections accepted meanwhile (each up-references the objects it uses). Immutable.
class TlsMaterial {
 public:
  ~TlsMaterial() {
    X509_free(cert_);
    for (X509* c : chain_) X509_free(c);
    EVP_PKEY_free(key_);
    X509_STORE_free(client_ca_);
    if (client_ca_names_ != nullptr) sk_X509_NAME_pop_free(client_ca_names_, X509_NAME_free);
  }
  TlsMaterial(const TlsMaterial&) = delete;
  TlsMaterial& operator=(const TlsMaterial&) = delete;

  static StatusOr<std::shared_ptr<const TlsMaterial>> Load(const std::string& cert_file,
                                                           const std::string& key_file,
                                                           const std::string& client_ca_file);
  // Sets up one connection's context; false if OpenSSL refuses (not expected: Load checked it).
  bool Configure(SSL_CTX* ctx) const;
  bool verifies_clients() const { return client_ca_ != nullptr; }

 private:
  TlsMaterial() = default;
  X509* cert_ = nullptr;
  std::vector<X509*> chain_;
  EVP_PKEY* key_ = nullptr;
  X509_STORE* client_ca_ = nullptr;
  STACK_OF(X509_NAME)* client_ca_names_ = nullptr;
};

namespace {

// OpenSSL's most recent error, for messages; clears the queue.
std::string OpenSslError() {
  unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return "unknown error";
  char text[256];
  ERR_error_string_n(code, text, sizeof(text));
  return text;
}

// Every certificate of a PEM file, in order.
StatusOr<std::vector<X509*>> ReadCertificates(const std::string& path, const char* what) {
  BIO* bio = BIO_new_file(path.c_str(), "r");
  if (bio == nullptr) {
    ERR_clear_error();
    return Status::InvalidArgument(std::string("cannot read the ") + what + " " + path);
  }
  std::vector<X509*> certs;
  while (X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) certs.push_back(cert);
  ERR_clear_error();  // the end of the file reads as an error
  BIO_free(bio);
  if (certs.empty()) {
    return Status::InvalidArgument(std::string("the ") + what + " " + path +
                                   " holds no PEM certificate");
  }
  return certs;
}

// Never asks for a passphrase (a daemon has no terminal): an encrypted key fails to load.
int NoPassphrase(char*, int, int, void*) { return 0; }

}  // namespace

StatusOr<std::shared_ptr<const TlsMaterial>> TlsMaterial::Load(const std::string& cert_file,
                                                               const std::string& key_file,
                                                               const std::string& client_ca_file) {
  std::shared_ptr<TlsMaterial> tls(new TlsMaterial());
  VMK_ASSIGN_OR_RETURN(std::vector<X509*> certs, ReadCertificates(cert_file, "TLS certificate"));
  tls->cert_ = certs.front();
  tls->chain_.assign(certs.begin() + 1, certs.end());
  BIO* bio = BIO_new_file(key_file.c_str(), "r");
  if (bio == nullptr) {
    ERR_clear_error();
    return Status::InvalidArgument("cannot read the TLS key " + key_file);
  }
  tls->key_ = PEM_read_bio_PrivateKey(bio, nullptr, NoPassphrase, nullptr);
  BIO_free(bio);
  if (tls->key_ == nullptr) {
    return Status::InvalidArgument("the TLS key " + key_file +
                                   " holds no unencrypted PEM private key: " + OpenSslError());
  }
  if (X509_check_private_key(tls->cert_, tls->key_) != 1) {
    ERR_clear_error();
    return Status::InvalidArgument("the TLS key " + key_file + " is not the key of " + cert_file);
  }
  if (X509_cmp_current_time(X509_get0_notAfter(tls->cert_)) <= 0) {
    log::Warning("the TLS certificate has expired: clients will refuse it", {{"file", cert_file}});
  }
  if (!client_ca_file.empty()) {
    VMK_ASSIGN_OR_RETURN(std::vector<X509*> cas, ReadCertificates(client_ca_file, "client CA file"));
    tls->client_ca_ = X509_STORE_new();
    tls->client_ca_names_ = sk_X509_NAME_new_null();
    bool ok = tls->client_ca_ != nullptr && tls->client_ca_names_ != nullptr;
    for (X509* ca : cas) {
      ok = ok && X509_STORE_add_cert(tls->client_ca_, ca) == 1;
      X509_NAME* name = ok ? X509_NAME_dup(X509_get_subject_name(ca)) : nullptr;
      ok = ok && name != nullptr && sk_X509_NAME_push(tls->client_ca_names_, name) > 0;
      X509_free(ca);
    }
    if (!ok) return Status::Internal("cannot load the client CA file: " + OpenSslError());
  }
  // The whole set up once on a throwaway context, so a connection's never fails.
  SSL_CTX* probe = SSL_CTX_new(TLS_server_method());
  const bool usable = probe != nullptr && tls->Configure(probe) && SSL_CTX_check_private_key(probe) == 1;
  SSL_CTX_free(probe);
  if (!usable) return Status::InvalidArgument("TLS set-up refused: " + OpenSslError());
  return std::shared_ptr<const TlsMaterial>(std::move(tls));
}

bool TlsMaterial::Configure(SSL_CTX* ctx) const {
  bool ok = SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) == 1 &&
            SSL_CTX_use_certificate(ctx, cert_) == 1 && SSL_CTX_use_PrivateKey(ctx, key_) == 1;
  for (X509* c : chain_) ok = ok && SSL_CTX_add1_chain_cert(ctx, c) == 1;
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                               SSL_OP_CIPHER_SERVER_PREFERENCE);
  // Every connection has a context of its own (cpprestsdk's design), so a session ticket or a
  // cached session could never be resumed: issue none.
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_num_tickets(ctx, 0);
  if (client_ca_ != nullptr) {
    STACK_OF(X509_NAME)* names = SSL_dup_CA_list(client_ca_names_);
    SSL_CTX_set1_cert_store(ctx, client_ca_);
    ok = ok && names != nullptr;
    if (names != nullptr) SSL_CTX_set_client_CA_list(ctx, names);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  }
  return ok;
}

class HttpServer::Impl {
 public:
  Impl(HttpServerOptions options, HttpHandler handler, Clock* clock)
      : options_(std::move(options)), handler_(std::move(handler)), clock_(clock) {
    for (std::string& name : options_.allowed_hosts) name = Lower(name);
  }

  Status Start();
  void Stop();
  void Serve(http_request request);

  // A refusal by the edge's own checks: why, and the answer.
  struct Refusal {
    EdgeRefusal reason;
    HttpResponse response;
  };
  // The edge's checks of a request whose head has arrived (its body has not, or not all);
  // the refusal when it is refused.
  std::optional<Refusal> Check(http_request& request, const std::string& method,
                               uint64_t content_length);
  bool HostAllowed(const std::string& host_header) const;
  // Replies and ends the exchange: the connection is closed after the reply and a body not yet
  // received is dropped instead of read.
  void Refuse(http_request& request, HttpResponse response, uint64_t content_length);
  void CountEdgeRefusal(EdgeRefusal reason) {
    ++refused_by_reason_[static_cast<size_t>(reason)];
    if (reason == EdgeRefusal::kTooBusy || reason == EdgeRefusal::kTooManyBodies) ++too_busy_;
  }
  // Runs the handler on a received request and replies.
  void Handle(http_request request, HttpRequest req, MonoTime start);
  // A connection's TLS context (cpprestsdk calls it for each accepted connection).
  void ConfigureTls(boost::asio::ssl::context& context);
  Status LoadTls();

  HttpServerOptions options_;
  HttpHandler handler_;
  Clock* clock_;
  std::unique_ptr<http_listener> listener_;
  std::unique_ptr<ConnectionReaper> reaper_;
  std::string address_;
  std::atomic<size_t> in_flight_{0};
  std::atomic<size_t> body_bytes_in_flight_{0};
  std::atomic<uint64_t> refused_{0};
  std::atomic<uint64_t> too_busy_{0};
  std::array<std::atomic<uint64_t>, kEdgeRefusalCount> refused_by_reason_{};
  Mutex tls_mu_;
  std::shared_ptr<const TlsMaterial> tls_ GUARDED_BY(tls_mu_);
};

Status HttpServer::Impl::LoadTls() {
  if (options_.tls_cert_file.empty() != options_.tls_key_file.empty()) {
    return Status::InvalidArgument("TLS needs both a certificate and its key");
  }
  if (options_.tls_cert_file.empty()) {
    if (!options_.tls_client_ca_file.empty()) {
      return Status::InvalidArgument("a client CA needs TLS (a certificate and its key)");
    }
    return Status::FailedPrecondition("TLS is not configured");
  }
  VMK_ASSIGN_OR_RETURN(std::shared_ptr<const TlsMaterial> loaded,
                       TlsMaterial::Load(options_.tls_cert_file, options_.tls_key_file,
                                         options_.tls_client_ca_file));
  MutexLock lock(&tls_mu_);
  tls_ = std::move(loaded);
  return Status::Ok();
}

void HttpServer::Impl::ConfigureTls(boost::asio::ssl::context& context) {
  std::shared_ptr<const TlsMaterial> tls;
  {
    MutexLock lock(&tls_mu_);
    tls = tls_;
  }
  // cpprestsdk catches only boost::system::system_error from here (it then drops the
  // connection); anything else would escape its accept loop.
  if (tls == nullptr || !tls->Configure(context.native_handle())) {
    ERR_clear_error();
    throw boost::system::system_error(
        boost::system::error_code(EPROTO, boost::system::generic_category()), "TLS set-up");
  }
}

namespace {

// A request this big (head or body) asks the reaper to give freed memory back to the system.
constexpr uint64_t kTrimAfterBytes = 1024 * 1024;
// A refused request's body up to this size is read (and thrown away) before the connection is
// closed. Closing a socket with unread bytes makes Linux send a reset, and a reset that reaches
// the client before it has read the refusal discards the refusal from its receive queue: the
// client then sees "connection reset" instead of the 401 saying why. Reading a small body first
// is the lingering close web servers do; a bigger one is dropped unread (it is not worth taking
// in), and its client may see the reset.
constexpr uint64_t kDrainRefusedBodyBytes = 64 * 1024;
constexpr char kAllMethods[] = "GET, HEAD, POST, DELETE, OPTIONS";

void Reply(http_request& request, const HttpResponse& response) {
  web::http::http_response reply(static_cast<web::http::status_code>(response.status));
  if (response.status != 204) reply.set_body(response.body, response.content_type);
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

// "host" of a Host header value "host", "host:port", "[v6]" or "[v6]:port"; lowercase, without
// one trailing dot. Empty when malformed.
std::string HostName(const std::string& value) {
  std::string host;
  if (!value.empty() && value.front() == '[') {
    size_t close = value.find(']');
    if (close == std::string::npos) return "";
    host = value.substr(1, close - 1);
    if (close + 1 < value.size() && value[close + 1] != ':') return "";
  } else {
    size_t colon = value.find(':');
    if (colon != std::string::npos && value.find(':', colon + 1) != std::string::npos) return "";
    host = value.substr(0, colon);
  }
  if (!host.empty() && host.back() == '.') host.pop_back();
  return Lower(host);
}

}  // namespace

bool HttpServer::Impl::HostAllowed(const std::string& host_header) const {
  const std::string host = HostName(host_header);
  if (host.empty()) return false;
  // An IP literal cannot be rebound to another address; localhost is ours by definition.
  if (IsIpLiteral(host) || host == "localhost") return true;
  for (const std::string& allowed : options_.allowed_hosts) {
    if (allowed == "*" || allowed == host) return true;
  }
  return false;
}

std::optional<HttpServer::Impl::Refusal> HttpServer::Impl::Check(http_request& request,
                                                                 const std::string& method,
                                                                 uint64_t content_length) {
  if (method == "TRACE" || method == "CONNECT") {
    HttpResponse r = ErrorResponse(405, method + " is not supported");
    r.headers.emplace_back("Allow", kAllMethods);
    return Refusal{EdgeRefusal::kMethod, r};
  }
  const size_t url_bytes = request.request_uri().to_string().size();
  if (url_bytes > options_.max_url_bytes) {
    return Refusal{EdgeRefusal::kUriTooLong,
                   ErrorResponse(414, "request URI of " + std::to_string(url_bytes) +
                                          " bytes exceeds the limit of " +
                                          std::to_string(options_.max_url_bytes))};
  }
  const auto& headers = request.headers();
  size_t header_bytes = 0;
  for (const auto& [name, value] : headers) header_bytes += name.size() + value.size() + 4;
  if (headers.size() > options_.max_header_count || header_bytes > options_.max_header_bytes) {
    return Refusal{EdgeRefusal::kHeadersTooLarge,
                   ErrorResponse(431, "request headers exceed the limit of " +
                                          std::to_string(options_.max_header_count) +
                                          " headers or " +
                                          std::to_string(options_.max_header_bytes) + " bytes")};
  }
  std::string host;
  if (!headers.match("Host", host) || host.empty()) {
    return Refusal{EdgeRefusal::kHost, ErrorResponse(400, "a Host header is required")};
  }
  if (!HostAllowed(host)) {
    return Refusal{EdgeRefusal::kHost,
                   ErrorResponse(400, "Host \"" + host.substr(0, 100) +
                                          "\" is not a name of this server (allowed: IP "
                                          "addresses, localhost and the names configured in "
                                          "allowedHosts)")};
  }
  std::string origin;
  if (IsWriteMethod(method) && headers.match("Origin", origin)) {
    // A browser names the page's origin; a write is accepted only from a page of this server.
    const size_t scheme_end = origin.find("://");
    const std::string authority = scheme_end == std::string::npos ? "" : origin.substr(scheme_end + 3);
    if (Lower(authority) != Lower(host)) {
      return Refusal{EdgeRefusal::kOrigin,
                     ErrorResponse(403, "cross-origin write refused: Origin \"" +
                                            origin.substr(0, 100) + "\" is not this server")};
    }
  }
  std::string transfer_encoding;
  if (headers.match("Transfer-Encoding", transfer_encoding)) {
    return Refusal{EdgeRefusal::kChunked,
                   ErrorResponse(411, "a request body must have a Content-Length (chunked "
                                      "bodies are not accepted)")};
  }
  if (content_length > options_.max_body_bytes) {
    return Refusal{EdgeRefusal::kTooLarge,
                   ErrorResponse(413, "request body exceeds the limit of " +
                                          std::to_string(options_.max_body_bytes) + " bytes")};
  }
  if (IsWriteMethod(method) && content_length > 0) {
    std::string type = Lower(headers.content_type());
    type = type.substr(0, type.find(';'));
    while (!type.empty() && type.back() == ' ') type.pop_back();
    if (type != "application/json" && type != "application/yaml") {
      return Refusal{EdgeRefusal::kContentType,
                     ErrorResponse(415, "a request body must be application/json or "
                                        "application/yaml (got \"" + type.substr(0, 100) + "\")")};
    }
  }
  return std::nullopt;
}

void HttpServer::Impl::Refuse(http_request& request, HttpResponse response,
                              uint64_t content_length) {
  ++refused_;
  response.headers.emplace_back("Connection", "close");
  Reply(request, response);
  // cpprestsdk reads a body nobody asked for by itself, and sends the reply once it has.
  if (content_length <= kDrainRefusedBodyBytes) return;
  // cpprestsdk writes its reply only once the whole body has arrived (do_response waits for
  // content_ready), reading all of it. End the body now, the way cpprestsdk itself does when
  // the client breaks off mid-body: _complete() with an error closes the body's stream (the
  // read loop stops at its next piece) and makes content_ready fail, so the reply goes out at
  // once; "Connection: close" then ends the connection and whatever was still coming.
  try {
    request.content_ready().then([](pplx::task<http_request> ready) {
      try {
        ready.get();
      } catch (...) {  // the error we set: observed here, so pplx never reports it
      }
    });
    request._get_impl()->_complete(
        0, std::make_exception_ptr(std::runtime_error("request refused; body dropped")));
  } catch (const std::exception& e) {
    log::Debug("cannot drop a refused body", {{"error", e.what()}});
  }
}

void HttpServer::Impl::Handle(http_request request, HttpRequest req, MonoTime start) {
  HttpResponse response;
  const size_t in_flight = ++in_flight_;
  bool shed = false;  // refused by the edge: too many requests at once
  try {
    if (in_flight > options_.max_in_flight) {
      response = ErrorResponse(429, "too many requests at once; retry shortly");
      response.headers.emplace_back("Retry-After", "1");
      shed = true;
      CountEdgeRefusal(EdgeRefusal::kTooBusy);
      ++refused_;
    } else if (req.method == "OPTIONS") {
      // The path's methods, from the router's 405 for a method no route has.
      HttpRequest probe = req;
      probe.method = "OPTIONS";
      HttpResponse routed = handler_(probe);
      if (routed.status == 405) {
        response = HttpResponse{};
        response.status = 204;
        for (const auto& [name, value] : routed.headers) {
          if (name == "Allow") response.headers.emplace_back("Allow", value + ", OPTIONS");
        }
      } else {
        response = routed;
      }
    } else {
      response = handler_(req);
    }
  } catch (const std::exception& e) {
    log::Error("request failed", {{"method", req.method}, {"path", req.path}, {"error", e.what()}});
    response = ErrorResponse(500, std::string("internal error: ") + e.what());
  } catch (...) {
    response = ErrorResponse(500, "internal error");
  }
  --in_flight_;
  // A big request leaves freed memory behind (its body, the objects decoded from it): ask for
  // it to be given back once the reply is out.
  if (req.body.size() >= kTrimAfterBytes && reaper_) reaper_->RequestTrim();
  if (options_.on_answered) {
    try {
      options_.on_answered(req, response, /*by_edge=*/shed);
    } catch (const std::exception& e) {
      log::Error("recording an answer failed", {{"path", req.path}, {"error", e.what()}});
    }
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

void HttpServer::Impl::Serve(http_request request) {
  const MonoTime start = clock_->Now();
  HttpRequest req;
  uint64_t length = 0;
  // An edge refusal: told to on_answered with what is known of the request (its raw path).
  auto refuse_at_edge = [&](EdgeRefusal reason, HttpResponse response) {
    CountEdgeRefusal(reason);
    if (options_.on_answered) {
      try {
        if (req.path.empty()) req.path = request.request_uri().path().substr(0, 1024);
        options_.on_answered(req, response, /*by_edge=*/true);
      } catch (const std::exception& e) {
        log::Error("recording a refusal failed", {{"error", e.what()}});
      }
    }
    Refuse(request, std::move(response), length);
  };
  try {
    req.method = request.method();
    req.remote_address = request.remote_address();
    length = request.headers().content_length();
    if (std::optional<Refusal> refused = Check(request, req.method, length)) {
      refuse_at_edge(refused->reason, std::move(refused->response));
      return;
    }
    const web::uri& uri = request.request_uri();
    req.path = web::uri::decode(uri.path());
    for (const auto& [key, value] : web::uri::split_query(uri.query())) {
      req.query[web::uri::decode(key)] = web::uri::decode(value);
    }
    request.headers().match("Authorization", req.authorization);
  } catch (const web::uri_exception& e) {
    refuse_at_edge(EdgeRefusal::kMalformed,
                   ErrorResponse(400, std::string("malformed request URI: ") + e.what()));
    return;
  } catch (const std::exception& e) {
    refuse_at_edge(EdgeRefusal::kMalformed,
                   ErrorResponse(400, std::string("malformed request: ") + e.what()));
    return;
  }
  if (options_.admit) {
    std::optional<HttpResponse> refused = options_.admit(&req);
    req.authorization.clear();
    if (refused) {
      if (options_.on_answered) {
        try {
          options_.on_answered(req, *refused, /*by_edge=*/false);
        } catch (const std::exception& e) {
          log::Error("recording a refusal failed", {{"error", e.what()}});
        }
      }
      Refuse(request, std::move(*refused), length);
      return;
    }
  }
  req.authorization.clear();
  if (length == 0) {
    Handle(std::move(request), std::move(req), start);
    return;
  }
  // Reserve the body's bytes, then let cpprestsdk receive it without holding this thread.
  if ((body_bytes_in_flight_ += length) > options_.max_body_bytes_in_flight) {
    body_bytes_in_flight_ -= length;
    HttpResponse busy = ErrorResponse(429, "too many request bodies being received; retry shortly");
    busy.headers.emplace_back("Retry-After", "1");
    refuse_at_edge(EdgeRefusal::kTooManyBodies, std::move(busy));
    return;
  }
  request.extract_utf8string(true).then(
      [this, request, req = std::move(req), start, length](pplx::task<std::string> body) mutable {
        body_bytes_in_flight_ -= length;
        try {
          req.body = body.get();
        } catch (const std::exception& e) {
          // The client went away or was cut off (ConnectionReaper) mid-body.
          log::Debug("request body not received", {{"path", req.path}, {"error", e.what()}});
          return;
        }
        Handle(std::move(request), std::move(req), start);
      });
}

Status HttpServer::Impl::Start() {
  if (listener_) return Status::FailedPrecondition("server already started");
  VMK_ASSIGN_OR_RETURN(ListenAddress address, ParseListenAddress(options_.listen));
  const bool tls = !options_.tls_cert_file.empty() || !options_.tls_key_file.empty() ||
                   !options_.tls_client_ca_file.empty();
  if (tls) VMK_RETURN_IF_ERROR(LoadTls());
  // Each connection is a descriptor: with the soft limit at 1,024 a flood of idle sockets made
  // the API unreachable before any cap could act. Take what the hard limit allows.
  rlimit files{};
  if (getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
    files.rlim_cur = files.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &files) != 0) log::Warning("cannot raise the file limit");
  }
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
      // http_listener_config::set_timeout() is not passed: the asio listener ignores it
      // (docs/http-edge.md); the reaper enforces the timeouts instead.
      http_listener_config config;
      if (tls) {
        config.set_ssl_context_callback(
            [this](boost::asio::ssl::context& context) { ConfigureTls(context); });
      }
      auto listener = std::make_unique<http_listener>(
          web::uri((tls ? "https://" : "http://") + bind_to.ToString()), config);
      listener->support([this](http_request request) { Serve(std::move(request)); });
      // Without their own handlers cpprestsdk answers these two itself, before the general
      // one: TRACE by echoing the request (headers included), OPTIONS with an empty Allow.
      for (const auto& method : {web::http::methods::TRCE, web::http::methods::OPTIONS}) {
        listener->support(method, [this](http_request request) { Serve(std::move(request)); });
      }
      listener->open().wait();
      ConnectionLimits limits;
      limits.request_timeout = options_.request_timeout;
      limits.idle_timeout = options_.idle_timeout;
      limits.max_connections = options_.max_connections;
      limits.max_request_bytes = options_.max_header_bytes + options_.max_body_bytes + 64 * 1024;
      limits.scan_interval = options_.scan_interval;
      auto reaper = std::make_unique<ConnectionReaper>(bind_to.host, bind_to.port, limits, clock_);
      if (Status started = reaper->Start(); !started.ok()) {
        listener->close().wait();
        return started;
      }
      listener_ = std::move(listener);
      reaper_ = std::move(reaper);
      address_ = bind_to.ToString();
      return Status::Ok();
    } catch (const std::exception& e) {
      last_error = e.what();
    }
  }
  return Status::Unavailable("cannot listen on " + options_.listen + ": " + last_error);
}

void HttpServer::Impl::Stop() {
  if (reaper_) reaper_->Stop();
  if (!listener_) return;
  try {
    listener_->close().wait();
  } catch (const std::exception& e) {
    log::Warning("closing the listener failed", {{"error", e.what()}});
  }
  listener_.reset();
  reaper_.reset();
}

HttpServer::HttpServer(HttpServerOptions options, HttpHandler handler, Clock* clock)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(handler), clock)) {}

HttpServer::~HttpServer() { Stop(); }

Status HttpServer::Start() { return impl_->Start(); }
void HttpServer::Stop() { impl_->Stop(); }
std::string HttpServer::address() const { return impl_->address_; }

Status HttpServer::ReloadTls() { return impl_->LoadTls(); }

bool HttpServer::tls() const {
  MutexLock lock(&impl_->tls_mu_);
  return impl_->tls_ != nullptr;
}

HttpEdgeStats HttpServer::edge_stats() const {
  HttpEdgeStats out;
  out.refused = impl_->refused_;
  out.too_busy = impl_->too_busy_;
  for (size_t i = 0; i < kEdgeRefusalCount; ++i) out.refused_by_reason[i] = impl_->refused_by_reason_[i];
  if (impl_->reaper_) {
    ConnectionReaper::Stats c = impl_->reaper_->stats();
    out.open_connections = c.open;
    out.request_timeouts = c.request_timeouts;
    out.idle_timeouts = c.idle_timeouts;
    out.over_connection_limit = c.over_limit;
    out.request_too_large = c.too_many_bytes;
  }
  return out;
}

std::string_view EdgeRefusalName(EdgeRefusal reason) {
  switch (reason) {
    case EdgeRefusal::kMethod: return "method";
    case EdgeRefusal::kUriTooLong: return "uri_too_long";
    case EdgeRefusal::kHeadersTooLarge: return "headers_too_large";
    case EdgeRefusal::kMalformed: return "malformed";
    case EdgeRefusal::kHost: return "host";
    case EdgeRefusal::kOrigin: return "origin";
    case EdgeRefusal::kChunked: return "chunked";
    case EdgeRefusal::kTooLarge: return "too_large";
    case EdgeRefusal::kContentType: return "content_type";
    case EdgeRefusal::kTooBusy: return "too_busy";
    case EdgeRefusal::kTooManyBodies: return "too_many_bodies";
  }
  return "unknown";
}

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
