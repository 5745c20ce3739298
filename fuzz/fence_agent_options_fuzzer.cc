// libFuzzer target: the fence-agent option checks (FenceAgentFencer::Validate in
// providers/fencing/fence_agent_fencer.h), which build the agent's stdin from a Host's
// spec.fencing.agent and args. Nothing is run: Validate only resolves the agent and reads
// secret files.
//
// Input: the first line is the agent; every further line is one arg, "key=value" split at the
// first '=' (a line without one is a key with an empty value); "\\n" in a line stands for a line
// break and "\\0" for a NUL, so the checks against smuggled options are reachable. The agent
// directory is a private temporary directory holding one executable, fence_fuzz. The value of a
// secret-file key (one ending in "File") is confined to that directory (its last path component
// is kept), so the fuzzer reads only the files put there: "secret" (one line), "two-lines" and
// "empty".
#include <sys/stat.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <string>

#include "common/clock.h"
#include "providers/fencing/fence_agent_fencer.h"

namespace {

std::string MakeAgentDir() {
  char dir_template[] = "/tmp/vmk-fence-fuzz.XXXXXX";
  const char* dir = ::mkdtemp(dir_template);
  if (dir == nullptr) std::abort();
  const std::string d(dir);
  std::ofstream(d + "/fence_fuzz") << "#!/bin/sh\nexit 1\n";
  ::chmod((d + "/fence_fuzz").c_str(), 0755);
  std::ofstream(d + "/secret") << "s3cret\n";
  std::ofstream(d + "/two-lines") << "a\nb\n";
  std::ofstream(d + "/empty");
  return d;
}

std::string Unescape(const std::string& line) {
  std::string out;
  for (size_t i = 0; i < line.size(); ++i) {
    if (line[i] == '\\' && i + 1 < line.size() && (line[i + 1] == 'n' || line[i + 1] == '0')) {
      out += line[i + 1] == 'n' ? '\n' : '\0';
      ++i;
    } else {
      out += line[i];
    }
  }
  return out;
}

bool EndsWithFile(const std::string& key) {
  return key.size() > 4 && key.compare(key.size() - 4, 4, "File") == 0;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace vmk::providers;
  static const std::string agent_dir = MakeAgentDir();
  static const FenceAgentFencer fencer(
      [] {
        FenceAgentFencerOptions options;
        options.agent_dirs = {agent_dir};
        return options;
      }(),
      vmk::RealClock::Get());

  const std::string input(reinterpret_cast<const char*>(data), size);
  FenceRequest request;
  request.host = "hv01";
  request.timeout = std::chrono::seconds(5);
  size_t pos = 0;
  bool first = true;
  while (pos <= input.size()) {
    size_t end = input.find('\n', pos);
    if (end == std::string::npos) end = input.size();
    const std::string line = Unescape(input.substr(pos, end - pos));
    pos = end + 1;
    if (first) {
      first = false;
      // An absolute path must stay inside the agent directory.
      request.agent = !line.empty() && line[0] == '/' ? agent_dir + "/fence_fuzz" : line;
      continue;
    }
    const size_t eq = line.find('=');
    std::string key = line.substr(0, eq);
    std::string value = eq == std::string::npos ? "" : line.substr(eq + 1);
    if (EndsWithFile(key)) {
      const size_t slash = value.rfind('/');
      value = agent_dir + "/" + (slash == std::string::npos ? value : value.substr(slash + 1));
    }
    request.args[key] = value;
  }
  (void)fencer.Validate(request);
  return 0;
}
