// vmkeeper: the command-line client of vmkeeperd. See cli/cli_app.h for commands and exit codes.
#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <optional>
#include <string>

#include "cli/cli_app.h"
#include "common/clock.h"

int main(int argc, char** argv) {
  vmk::cli::CliEnvironment env;
  env.out = &std::cout;
  env.err = &std::cerr;
  env.in = &std::cin;
  auto get = [](const char* name) -> std::optional<std::string> {
    const char* value = std::getenv(name);
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  };
  env.server_env = get("VMKEEPER_SERVER");
  env.context_env = get("VMKEEPER_CONTEXT");
  env.token_env = get("VMKEEPER_TOKEN");
  env.token_file_env = get("VMKEEPER_TOKEN_FILE");
  env.config_env = get("VMKEEPER_CONFIG");
  env.default_config_file = vmk::cli::DefaultClientConfigPath(get("XDG_CONFIG_HOME"), get("HOME"));
  env.out_is_tty = isatty(STDOUT_FILENO) == 1;
  env.clock = vmk::RealClock::Get();
  return vmk::cli::RunVmkeeperCli(argc, argv, env);
}
