// What the tests of code that runs processes and opens sockets look at in /proc: whether a
// process is gone, and how many descriptors this process holds. Header-only (the tests of
// common/ use it without linking the test library).
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace vmk::fakes {

// True when no process `pid` runs: gone, or a zombie left to whoever adopted it.
inline bool ProcessGone(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  if (!stat) return true;
  std::string line;
  std::getline(stat, line);
  auto close_paren = line.rfind(')');
  return close_paren != std::string::npos && close_paren + 2 < line.size() &&
         line[close_paren + 2] == 'Z';
}

// Descriptors this process holds now.
inline int OpenDescriptorCount() {
  int n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) ++n;
  return n;
}

}  // namespace vmk::fakes
