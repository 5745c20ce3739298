// Prober: one health check of a VM's service. Implementations: NetworkProber (HTTP requiring a
// 2xx answer within the timeout; TCP connect; exec of a local command) and FakeProber (unit
// tests). Thread-safe; every call is bounded by the probe's timeout and never throws.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "common/status.h"

namespace vmk::providers {

struct ProbeSpec {
  enum class Type { kHttp, kTcp, kExec };
  Type type = Type::kHttp;
  std::string address = "127.0.0.1";  // host name or IP to reach the service at
  int port = 0;
  std::string path = "/";             // HTTP
  std::vector<std::string> command;   // exec: argv; success = exit status 0
  std::chrono::milliseconds timeout{2000};
};

struct ProbeResult {
  bool healthy = false;
  std::string message;  // "HTTP 200", "connection refused", "timed out after 2000 ms", ...
};

class Prober {
 public:
  virtual ~Prober() = default;
  virtual ProbeResult Probe(const ProbeSpec& spec) = 0;
};

}  // namespace vmk::providers
