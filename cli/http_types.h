// Plain HTTP request/response values exchanged between the cpprestsdk edge (http_server.cc,
// http_client.cc) and the rest of cli/. They hold std types only, so no other translation unit
// pays for cpprestsdk's headers. Plain data, thread-compatible.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace vmk::cli {

struct HttpRequest {
  std::string method;                        // "GET", "POST", "DELETE", ...
  std::string path;                          // percent-decoded, e.g. "/api/v1/virtualmachines/wms01"
  std::map<std::string, std::string> query;  // percent-decoded; last value wins
  std::string body;
  // Server side only (HttpServer fills them; the client ignores them):
  std::string remote_address;  // the client's IP address, when the listener knows it
  // The Authorization header, for the server's admission check only: cleared before the request
  // reaches the handler, so a token is never logged or passed on.
  std::string authorization;
  // Who is calling, once admitted: a credential's name and role ("anonymous"/"admin" when the
  // daemon has no tokens file); empty on open routes (/healthz, /readyz).
  std::string user;
  std::string role;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers, e.g. Allow
};

}  // namespace vmk::cli
