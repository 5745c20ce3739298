#include "providers/storage/qemu_img.h"

#include <nlohmann/json.hpp>

#include "common/subprocess.h"

namespace vmk::providers {

StatusOr<ImageInfo> ParseQemuImgInfo(const std::string& path, const std::string& text) {
  nlohmann::json json = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!json.is_object() || !json.contains("format") || !json["format"].is_string()) {
    return Status::Unavailable("qemu-img info " + path + ": unexpected answer");
  }
  ImageInfo info;
  info.path = path;
  std::string format = json["format"].get<std::string>();
  std::optional<ImageFormat> parsed = ImageFormatFromName(format);
  if (!parsed) {
    return Status::InvalidArgument("image " + path + " is in format " + format +
                                   "; vmkeeper uses raw and qcow2 images");
  }
  info.format = *parsed;
  auto number = [&](const char* key) -> int64_t {
    auto it = json.find(key);
    return it != json.end() && it->is_number_integer() ? it->get<int64_t>() : 0;
  };
  info.virtual_size_bytes = number("virtual-size");
  info.actual_size_bytes = number("actual-size");
  for (const char* key : {"full-backing-filename", "backing-filename"}) {
    auto it = json.find(key);
    if (it != json.end() && it->is_string() && info.backing_path.empty()) {
      info.backing_path = it->get<std::string>();
    }
  }
  auto backing_format = json.find("backing-filename-format");
  if (backing_format != json.end() && backing_format->is_string()) {
    info.backing_format = ImageFormatFromName(backing_format->get<std::string>());
  }
  return info;
}

StatusOr<std::string> QemuImg::Run(const std::vector<std::string>& args,
                                   const std::string& what) const {
  SubprocessOptions options;
  options.argv = {program_};
  options.argv.insert(options.argv.end(), args.begin(), args.end());
  options.search_path = true;
  options.capture_output = true;
  options.timeout = timeout_;
  auto result = RunSubprocess(options, clock_);
  if (!result.ok()) {
    return Status::Unavailable(what + ": cannot run " + program_ + ": " +
                               result.status().message());
  }
  if (result->timed_out) {
    return Status::DeadlineExceeded(what + ": " + program_ + " did not finish in time");
  }
  if (!result->succeeded()) {
    std::string err = result->stderr_tail;
    while (!err.empty() && (err.back() == '\n' || err.back() == '\r')) err.pop_back();
    if (err.find("No such file or directory") != std::string::npos) {
      return Status::NotFound(what + ": " + err);
    }
    return Status::Unavailable(what + ": " + err);
  }
  return std::move(result->stdout_tail);
}

StatusOr<ImageInfo> QemuImg::Info(const std::string& path) const {
  auto out = Run({"info", "--output=json", "--force-share", "--", path}, "qemu-img info " + path);
  if (!out.ok()) return out.status();
  return ParseQemuImgInfo(path, *out);
}

Status QemuImg::Rebase(const std::string& image, const std::string& new_backing,
                       std::optional<ImageFormat> new_backing_format) const {
  std::vector<std::string> args = {"rebase", "-f", "qcow2", "-b", new_backing};
  if (!new_backing.empty()) {
    if (!new_backing_format) {
      return Status::InvalidArgument("rebase " + image + ": the new backing's format is needed");
    }
    args.push_back("-F");
    args.push_back(ImageFormatName(*new_backing_format));
  }
  args.push_back("--");
  args.push_back(image);
  return Run(args, "qemu-img rebase " + image).status();
}

}  // namespace vmk::providers
