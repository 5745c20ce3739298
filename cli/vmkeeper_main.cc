// vmkeeper: the command-line client of vmkeeperd. See cli/cli_app.h for commands and exit codes.
#include <unistd.h>

#include <cstdlib>
#include <iostream>

#include "cli/cli_app.h"
#include "common/clock.h"

int main(int argc, char** argv) {
  vmk::cli::CliEnvironment env;
  env.out = &std::cout;
  env.err = &std::cerr;
  env.in = &std::cin;
  if (const char* server = std::getenv("VMKEEPER_SERVER")) env.server_env = server;
  env.out_is_tty = isatty(STDOUT_FILENO) == 1;
  env.clock = vmk::RealClock::Get();
  return vmk::cli::RunVmkeeperCli(argc, argv, env);
}
