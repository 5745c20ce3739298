#include "specs/manifest_files.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>

namespace vmk::specs {
namespace {

namespace fs = std::filesystem;

Diagnostic FileError(const std::string& file, const std::string& message) {
  Diagnostic d;
  d.location.file = file;
  d.message = message;
  return d;
}

bool ReadFile(const std::string& file, ManifestFiles* out) {
  std::error_code ec;
  uintmax_t size = fs::file_size(file, ec);
  if (ec) {
    out->errors.push_back(FileError(file, "cannot read: " + ec.message()));
    return false;
  }
  if (size > kMaxManifestFileBytes) {
    out->errors.push_back(FileError(
        file, "file is larger than " + std::to_string(kMaxManifestFileBytes >> 20) + " MiB"));
    return false;
  }
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    out->errors.push_back(FileError(file, "cannot open for reading"));
    return false;
  }
  std::ostringstream content;
  content << in.rdbuf();
  if (in.bad()) {
    out->errors.push_back(FileError(file, "read error"));
    return false;
  }
  out->files.push_back(ManifestText{file, content.str()});
  return true;
}

}  // namespace

bool IsManifestFileName(const std::string& name) {
  auto ends_with = [&](const std::string& suffix) {
    return name.size() > suffix.size() &&
           name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  return ends_with(".yaml") || ends_with(".yml") || ends_with(".json");
}

ManifestFiles ReadManifestFiles(const std::string& path) {
  ManifestFiles out;
  std::error_code ec;
  fs::file_status status = fs::status(path, ec);
  if (ec || !fs::exists(status)) {
    out.errors.push_back(FileError(path, "no such file or directory"));
    return out;
  }
  if (!fs::is_directory(status)) {
    ReadFile(path, &out);
    return out;
  }

  std::vector<std::string> found;
  fs::recursive_directory_iterator it(path, fs::directory_options::none, ec);
  fs::recursive_directory_iterator end;
  while (!ec && it != end) {
    const fs::directory_entry& entry = *it;
    std::string name = entry.path().filename().string();
    bool hidden = !name.empty() && name[0] == '.';
    std::error_code type_ec;
    bool is_dir = entry.is_directory(type_ec);
    if (hidden && is_dir) {
      it.disable_recursion_pending();
    } else if (!hidden && !is_dir && IsManifestFileName(name) && entry.is_regular_file(type_ec)) {
      found.push_back(entry.path().string());
    }
    it.increment(ec);
  }
  if (ec) {
    out.errors.push_back(FileError(path, "cannot list directory: " + ec.message()));
    return out;
  }
  if (found.empty()) {
    out.errors.push_back(
        FileError(path, "directory holds no manifest files (*.yaml, *.yml, *.json)"));
    return out;
  }
  std::sort(found.begin(), found.end());
  for (const std::string& file : found) ReadFile(file, &out);
  return out;
}

}  // namespace vmk::specs
