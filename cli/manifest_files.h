// Reading the manifest files named by `vmkeeper apply|diff -f PATH` (repeatable): a file is read
// as is; a directory contributes every *.yaml, *.yml and *.json file below it (recursively,
// sorted by path; specs::ReadManifestFiles does the walking); "-" reads standard input. Names are
// kept as the user gave them (relative to the current directory) so the server's errors point at
// files the user knows. Thread-compatible.
#pragma once

#include <istream>
#include <string>
#include <vector>

#include "common/status.h"
#include "reconciler/controller/control_plane.h"

namespace vmk::cli {

// InvalidArgument naming the path when a path is missing or unreadable, or when a directory
// holds no manifest file (one line per problem).
StatusOr<std::vector<reconciler::ManifestFile>> ReadManifestFiles(
    const std::vector<std::string>& paths, std::istream* stdin_stream);

}  // namespace vmk::cli
