// QemuImg: the few qemu-img operations libvirt 9.0 has no call for, run on the controller's
// machine (so the images must be visible there: the pool's shared directory is mounted on the
// controller too, see docs/storage.md).
//
//   - Info: what an image really is (its format read from its header, sizes, backing file).
//     Opened with --force-share (a running VM holds the write lock) and without its backing
//     chain (qemu-img info opens no backing file unless asked to).
//   - Rebase: puts an image onto another backing image, copying into it whatever differs, so
//     what a reader of the image sees does not change (qemu-img rebase in its safe mode).
//
// Thread-safe: each call runs its own qemu-img process.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "common/clock.h"
#include "common/status.h"
#include "providers/storage/storage_pool.h"

namespace vmk::providers {

struct ImageInfo {
  std::string path;
  ImageFormat format = ImageFormat::kRaw;
  int64_t virtual_size_bytes = 0;
  int64_t actual_size_bytes = 0;
  std::string backing_path;  // absolute (qemu-img's full-backing-filename); empty: none
  std::optional<ImageFormat> backing_format;
};

// Reads what an image file really is. The controller's view: it runs where the controller runs.
class ImageInspector {
 public:
  virtual ~ImageInspector() = default;
  // NotFound when the file is absent; InvalidArgument when its format is neither raw nor qcow2;
  // Unavailable when it cannot be read.
  virtual StatusOr<ImageInfo> Inspect(const std::string& path) = 0;
};

class QemuImg : public ImageInspector {
 public:
  explicit QemuImg(Clock* clock = RealClock::Get(), std::string program = "qemu-img",
                   Duration timeout = std::chrono::minutes(10))
      : clock_(clock), program_(std::move(program)), timeout_(timeout) {}

  // NotFound when the file is absent; InvalidArgument when its format is neither raw nor qcow2;
  // Unavailable when qemu-img cannot be run or fails otherwise.
  StatusOr<ImageInfo> Info(const std::string& path) const;
  StatusOr<ImageInfo> Inspect(const std::string& path) override { return Info(path); }
  // Rebases the qcow2 image `image` onto `new_backing` (empty: none, the image becomes
  // standalone). The image must not be in use.
  Status Rebase(const std::string& image, const std::string& new_backing,
                std::optional<ImageFormat> new_backing_format) const;

 private:
  StatusOr<std::string> Run(const std::vector<std::string>& args, const std::string& what) const;

  Clock* clock_;
  std::string program_;
  Duration timeout_;
};

// Parses `qemu-img info --output=json` (exposed for tests).
StatusOr<ImageInfo> ParseQemuImgInfo(const std::string& path, const std::string& json);

}  // namespace vmk::providers
