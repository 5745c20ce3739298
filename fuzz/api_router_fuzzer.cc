// libFuzzer target: the REST router (cli/api_router.h) over an in-memory control plane
// (tests/fakes/fake_control_plane.h), without a daemon or a socket: routing, query parameters,
// request bodies (apply/diff files, snapshot and rollback requests, availability windows, event
// filters) and the JSON it renders. Checks that Handle() answers every request with a status in
// 200..599 and, when it says application/json, a body that is valid JSON.
//
// Input: the first line is "METHOD PATH[?QUERY]" (QUERY as "k=v&k=v", taken as already
// percent-decoded, as HttpServer passes it); the rest is the body.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <string>

#include <nlohmann/json.hpp>

#include "cli/api_router.h"
#include "common/log.h"
#include "tests/fakes/fake_control_plane.h"

namespace {

vmk::cli::HttpRequest ParseRequest(const std::string& input) {
  vmk::cli::HttpRequest request;
  const size_t eol = input.find('\n');
  const std::string first = input.substr(0, eol);
  request.body = eol == std::string::npos ? "" : input.substr(eol + 1);
  const size_t space = first.find(' ');
  request.method = first.substr(0, space);
  std::string target = space == std::string::npos ? "" : first.substr(space + 1);
  const size_t question = target.find('?');
  request.path = target.substr(0, question);
  if (question == std::string::npos) return request;
  const std::string query = target.substr(question + 1);
  size_t pos = 0;
  while (pos <= query.size()) {
    size_t amp = query.find('&', pos);
    if (amp == std::string::npos) amp = query.size();
    const std::string pair = query.substr(pos, amp - pos);
    const size_t eq = pair.find('=');
    request.query[pair.substr(0, eq)] = eq == std::string::npos ? "" : pair.substr(eq + 1);
    pos = amp + 1;
  }
  return request;
}

vmk::specs::Object MakeObject(vmk::specs::Kind kind, const std::string& name) {
  vmk::specs::Object object;
  object.kind = kind;
  object.metadata.name = name;
  object.metadata.generation = 1;
  return object;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool quiet = [] {
    vmk::log::SetLevel(vmk::log::Level::kError);  // the router's warnings: not findings
    return true;
  }();
  (void)quiet;
  vmk::cli::FakeControlPlane control_plane;
  control_plane.Put(MakeObject(vmk::specs::Kind::kVirtualMachine, "wms01"));
  control_plane.Put(MakeObject(vmk::specs::Kind::kHost, "hv01"));
  vmk::cli::ApiRouter router(&control_plane);

  const std::string input(reinterpret_cast<const char*>(data), size);
  const vmk::cli::HttpResponse response = router.Handle(ParseRequest(input));
  if (response.status < 200 || response.status > 599) {
    std::cerr << "api_router_fuzzer: status " << response.status << "\n";
    std::abort();
  }
  if (response.content_type == "application/json" && !nlohmann::json::accept(response.body)) {
    std::cerr << "api_router_fuzzer: invalid JSON body: " << response.body << "\n";
    std::abort();
  }
  return 0;
}
