// Finding and reading manifest files: a single file, or every *.yaml, *.yml and *.json file of a
// directory tree (hidden files and directories skipped), in sorted path order so that loading is
// deterministic. The CLI uses it to collect what it sends to the daemon; LoadManifests uses it to
// decode. Stateless; safe to call from any thread.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "specs/diagnostic.h"

namespace vmk::specs {

// A manifest file as read from disk: its path (for messages) and its text.
struct ManifestText {
  std::string name;
  std::string content;
};

struct ManifestFiles {
  std::vector<ManifestText> files;
  std::vector<Diagnostic> errors;  // "path: message" (no line)
};

// Files larger than this are refused rather than read into memory.
inline constexpr uintmax_t kMaxManifestFileBytes = 16u << 20;

// `path` is a file (read whatever its extension) or a directory (searched recursively). A path
// that does not exist, a directory without manifest files and an unreadable file are errors.
ManifestFiles ReadManifestFiles(const std::string& path);

// True for names ending in .yaml, .yml or .json.
bool IsManifestFileName(const std::string& name);

}  // namespace vmk::specs
