// The vmkeeper command-line client: parses arguments (CLI11), talks to vmkeeperd through
// ApiClient and prints results. Lives in the library (not in vmkeeper_main.cc) so tests can run
// whole commands against a real server and read their output.
//
// Exit codes: 0 success; 1 failure (unreachable server, validation errors, not found, apply
// --wait timeout); 2 usage errors. `diff` follows kubectl: 0 no differences, 1 differences,
// 2 errors.
//
// Thread-compatible: one RunVmkeeperCli call per environment at a time.
#pragma once

#include <chrono>
#include <iosfwd>
#include <optional>
#include <string>

#include "common/clock.h"
#include "common/status.h"

namespace vmk::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitDiffError = 2;

inline constexpr char kDefaultServer[] = "http://127.0.0.1:7480";

struct CliEnvironment {
  std::ostream* out = nullptr;
  std::ostream* err = nullptr;
  std::istream* in = nullptr;            // for -f -
  std::optional<std::string> server_env;  // $VMKEEPER_SERVER
  bool out_is_tty = false;                // progress is redrawn in place on a terminal
  Clock* clock = nullptr;                 // for apply --wait
  std::chrono::milliseconds poll_interval{1000};
  std::chrono::milliseconds request_timeout{60000};
};

int RunVmkeeperCli(int argc, const char* const* argv, const CliEnvironment& env);

// "300s", "5m", "1h", "1h30m", "90" (seconds). InvalidArgument otherwise.
StatusOr<std::chrono::seconds> ParseDuration(const std::string& text);

}  // namespace vmk::cli
