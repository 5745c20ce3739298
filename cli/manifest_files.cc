#include "cli/manifest_files.h"

#include <sstream>

#include "specs/manifest_files.h"

namespace vmk::cli {

StatusOr<std::vector<reconciler::ManifestFile>> ReadManifestFiles(
    const std::vector<std::string>& paths, std::istream* stdin_stream) {
  std::vector<reconciler::ManifestFile> files;
  std::vector<std::string> errors;
  for (const std::string& given : paths) {
    if (given == "-") {
      if (stdin_stream == nullptr) return Status::InvalidArgument("-: no standard input");
      std::ostringstream text;
      text << stdin_stream->rdbuf();
      files.push_back({"<stdin>", text.str()});
      continue;
    }
    // One reader for the CLI and the decoder: same file selection, order and size limit.
    specs::ManifestFiles found = specs::ReadManifestFiles(given);
    for (const auto& e : found.errors) errors.push_back(e.ToString());
    for (auto& f : found.files) files.push_back({std::move(f.name), std::move(f.content)});
  }
  if (!errors.empty()) {
    std::string message;
    for (const auto& e : errors) message += (message.empty() ? "" : "\n") + e;
    return Status::InvalidArgument(message);
  }
  return files;
}

}  // namespace vmk::cli
