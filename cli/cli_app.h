// The vmkeeper command-line client: parses arguments (CLI11), talks to vmkeeperd through
// ApiClient and prints results. Lives in the library (not in vmkeeper_main.cc) so tests can run
// whole commands against a real server and read their output.
//
// Which server and which credentials: flags over environment over the config file over the
// default (connection_settings.h has the rules).
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

#include "cli/connection_settings.h"
#include "common/clock.h"
#include "common/status.h"

namespace vmk::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitDiffError = 2;

struct CliEnvironment {
  std::ostream* out = nullptr;
  std::ostream* err = nullptr;
  std::istream* in = nullptr;            // for -f -
  std::optional<std::string> server_env;  // $VMKEEPER_SERVER
  std::optional<std::string> context_env;     // $VMKEEPER_CONTEXT
  std::optional<std::string> token_env;       // $VMKEEPER_TOKEN
  std::optional<std::string> token_file_env;  // $VMKEEPER_TOKEN_FILE
  std::optional<std::string> config_env;      // $VMKEEPER_CONFIG
  // The config file when neither --config nor $VMKEEPER_CONFIG names one
  // (DefaultClientConfigPath); empty = none, as in tests.
  std::string default_config_file;
  bool out_is_tty = false;                // progress is redrawn in place on a terminal
  Clock* clock = nullptr;                 // for apply --wait
  std::chrono::milliseconds poll_interval{1000};
  std::chrono::milliseconds request_timeout{60000};
};

int RunVmkeeperCli(int argc, const char* const* argv, const CliEnvironment& env);

// "300s", "5m", "1h", "1h30m", "90" (seconds). InvalidArgument otherwise.
StatusOr<std::chrono::seconds> ParseDuration(const std::string& text);

}  // namespace vmk::cli
