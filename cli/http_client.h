// HttpClient: a blocking HTTP client for the vmkeeper CLI and tests, over cpprestsdk's client,
// behind std types. Network failures come back as Unavailable with a message a user can act on
// ("cannot reach vmkeeperd at http://127.0.0.1:7480: connection refused"); HTTP error statuses
// are not errors here (the caller reads HttpResponse::status). Thread-safe.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "cli/http_types.h"
#include "common/status.h"

namespace vmk::cli {

class HttpClient {
 public:
  // base_url: "http://host:port"; "host:port" alone means http. InvalidArgument if malformed.
  static StatusOr<std::unique_ptr<HttpClient>> Create(const std::string& base_url,
                                                      std::chrono::milliseconds timeout);
  ~HttpClient();

  // path_and_query: "/api/v1/hosts?x=y" (already escaped). An empty body sends none.
  StatusOr<HttpResponse> Send(const std::string& method, const std::string& path_and_query,
                              const std::string& body = "",
                              const std::string& content_type = "application/json");

  const std::string& base_url() const { return base_url_; }

 private:
  class Impl;
  HttpClient(std::string base_url, std::unique_ptr<Impl> impl);

  std::string base_url_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace vmk::cli
