// HttpClient: a blocking HTTP(S) client for the vmkeeper CLI and tests, over cpprestsdk's client,
// behind std types. Network failures come back as Unavailable with a message a user can act on
// ("cannot reach vmkeeperd at http://127.0.0.1:7480: connection refused"; for https, what was
// wrong with TLS: tls_diagnosis.h); HTTP error statuses are not errors here (the caller reads
// HttpResponse::status).
//
// A bearer token, when given, goes with every request as "Authorization: Bearer <token>" and
// nowhere else: no message of this class contains it. It is refused at Create for a plain
// http:// URL whose host is not a loopback address, where anyone on the path could read it.
// Thread-safe.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "cli/http_types.h"
#include "common/status.h"

namespace vmk::cli {

struct HttpClientOptions {
  std::chrono::milliseconds timeout{60000};
  std::string bearer_token;  // secret; empty = none
  // https only. PEM files: the CA that signs the server's certificate (it replaces the system's
  // CAs), and a client certificate with its key. Empty = not used.
  std::string certificate_authority;
  std::string client_certificate;
  std::string client_key;
  bool insecure_skip_tls_verify = false;  // accept any server certificate (tests, first setup)
};

class HttpClient {
 public:
  // base_url: "http://host:port" or "https://host:port"; "host:port" alone means http.
  // InvalidArgument if malformed, if a file of `options` cannot be read or does not hold what it
  // should, or for a token over plain http to a host that is not a loopback address.
  static StatusOr<std::unique_ptr<HttpClient>> Create(const std::string& base_url,
                                                      const HttpClientOptions& options);
  static StatusOr<std::unique_ptr<HttpClient>> Create(const std::string& base_url,
                                                      std::chrono::milliseconds timeout);
  ~HttpClient();

  // path_and_query: "/api/v1/hosts?x=y" (already escaped). An empty body sends none. A 429
  // with a Retry-After of at most 30 s is waited out and sent again, up to 5 times.
  StatusOr<HttpResponse> Send(const std::string& method, const std::string& path_and_query,
                              const std::string& body = "",
                              const std::string& content_type = "application/json");

  const std::string& base_url() const { return base_url_; }

 private:
  class Impl;
  HttpClient(std::string base_url, std::unique_ptr<Impl> impl);
  StatusOr<HttpResponse> SendOnce(const std::string& method, const std::string& path_and_query,
                                  const std::string& body, const std::string& content_type);

  std::string base_url_;  // never holds a secret: a token is not part of a URL
  std::unique_ptr<Impl> impl_;
};

}  // namespace vmk::cli
