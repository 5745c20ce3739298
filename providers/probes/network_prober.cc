#include "providers/probes/network_prober.h"

#include <algorithm>
#include <exception>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/http/http_client.h"
#include "common/subprocess.h"

namespace vmk::providers {
namespace {

// "[::1]" as written in URLs is the address ::1.
std::string Unbracketed(const std::string& address) {
  if (address.size() > 2 && address.front() == '[' && address.back() == ']') {
    return address.substr(1, address.size() - 2);
  }
  return address;
}

// A host name, an IPv4 address or an IPv6 address (unbracketed): nothing that could change the
// meaning of the URL it is put in.
bool IsValidAddress(const std::string& address) {
  return !address.empty() && std::all_of(address.begin(), address.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '.' || c == '_' || c == ':';
  });
}

// Printable ASCII without spaces or '#' (which would start a fragment that is never sent).
bool IsValidPath(const std::string& path) {
  return !path.empty() && path[0] == '/' && std::all_of(path.begin(), path.end(), [](char c) {
    return c > 0x20 && c < 0x7f && c != '#';
  });
}

std::string Endpoint(const std::string& address, int port) {
  bool ipv6_literal = address.find(':') != std::string::npos;
  return (ipv6_literal ? "[" + address + "]" : address) + ":" + std::to_string(port);
}

ProbeResult ProbeHttp(const ProbeSpec& spec, const std::string& address) {
  const std::string path = spec.path.empty() ? "/" : spec.path;
  if (!IsValidPath(path)) {
    return {false, "invalid probe: HTTP path must start with / and hold only printable "
                   "characters, no spaces or #"};
  }
  http::HttpRequest request;
  request.url = "http://" + Endpoint(address, spec.port) + path;
  request.user_agent = "vmkeeper-probe";
  request.timeout = spec.timeout;
  StatusOr<http::HttpResponse> answer = http::HttpClient().Do(request);
  if (!answer.ok()) return {false, answer.status().message()};
  return {answer->status >= 200 && answer->status <= 299, "HTTP " + std::to_string(answer->status)};
}

ProbeResult ProbeTcp(const ProbeSpec& spec, const std::string& address) {
  Status connected = http::HttpClient().Connect(address, spec.port, spec.timeout);
  if (!connected.ok()) return {false, connected.message()};
  return {true, "connected to " + Endpoint(address, spec.port)};
}

ProbeResult ProbeExec(const ProbeSpec& spec) {
  if (spec.command.empty() || spec.command[0].empty()) {
    return {false, "invalid probe: exec command is empty"};
  }
  SubprocessOptions command;
  command.argv = spec.command;
  command.search_path = true;
  command.timeout = spec.timeout;
  // A health check has had its time: no grace, the group is SIGKILLed at the deadline.
  command.kill_grace = Duration::zero();
  StatusOr<SubprocessResult> ran = RunSubprocess(command, RealClock::Get());
  if (!ran.ok()) return {false, "exec failed: " + ran.status().message()};
  if (ran->timed_out) {
    return {false, "timed out after " + std::to_string(spec.timeout.count()) +
                       " ms (command killed)"};
  }
  if (ran->exit_code) {
    return {*ran->exit_code == 0, "exit status " + std::to_string(*ran->exit_code)};
  }
  if (ran->term_signal) return {false, "killed by signal " + std::to_string(*ran->term_signal)};
  return {false, "exit status unknown"};
}

ProbeResult ProbeChecked(const ProbeSpec& spec) {
  if (spec.timeout.count() <= 0) return {false, "invalid probe: timeout must be positive"};
  if (spec.type == ProbeSpec::Type::kExec) return ProbeExec(spec);
  if (spec.port < 1 || spec.port > 65535) {
    return {false, "invalid probe: port " + std::to_string(spec.port) + " out of range"};
  }
  const std::string address = Unbracketed(spec.address);
  if (!IsValidAddress(address)) {
    return {false, "invalid probe: address must be a host name or an IP address"};
  }
  switch (spec.type) {
    case ProbeSpec::Type::kHttp: return ProbeHttp(spec, address);
    case ProbeSpec::Type::kTcp: return ProbeTcp(spec, address);
    case ProbeSpec::Type::kExec: break;
  }
  return {false, "invalid probe: unknown type"};
}

}  // namespace

ProbeResult NetworkProber::Probe(const ProbeSpec& spec) {
  try {
    return ProbeChecked(spec);
  } catch (const std::exception& e) {
    return ProbeResult{false, std::string("probe failed: ") + e.what()};
  } catch (...) {
    return ProbeResult{false, "probe failed"};
  }
}

}  // namespace vmk::providers
