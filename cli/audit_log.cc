#include "cli/audit_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include <nlohmann/json.hpp>

#include "common/log.h"

namespace vmk::cli {

std::string AuditLine(const AuditRecord& record, const std::string& time_rfc3339) {
  nlohmann::ordered_json line;
  line["time"] = time_rfc3339;
  line["user"] = record.user.empty() ? nlohmann::ordered_json() : nlohmann::ordered_json(record.user);
  line["role"] = record.role.empty() ? nlohmann::ordered_json() : nlohmann::ordered_json(record.role);
  line["source"] =
      record.source.empty() ? nlohmann::ordered_json() : nlohmann::ordered_json(record.source);
  line["verb"] = record.verb;
  line["path"] = record.path;
  if (!record.objects.empty()) line["objects"] = record.objects;
  line["status"] = record.status;
  if (!record.reason.empty()) line["reason"] = record.reason;
  // Paths and names come from clients: a stray byte must not make the record an exception.
  return line.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

AuditLog::AuditLog(AuditLogOptions options, Clock* clock)
    : options_(std::move(options)), clock_(clock) {}

AuditLog::~AuditLog() {
  MutexLock lock(&mu_);
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
}

StatusOr<std::unique_ptr<AuditLog>> AuditLog::Open(AuditLogOptions options, Clock* clock) {
  if (options.path.empty()) return Status::InvalidArgument("audit log path must not be empty");
  if (options.max_bytes < 4096) {
    return Status::InvalidArgument("audit log max bytes must be at least 4096");
  }
  if (options.max_files < 0 || options.max_files > 1000) {
    return Status::InvalidArgument("audit log max files must be between 0 and 1000");
  }
  std::unique_ptr<AuditLog> log(new AuditLog(std::move(options), clock));
  MutexLock lock(&log->mu_);
  VMK_RETURN_IF_ERROR(log->OpenFileLocked());
  return log;
}

Status AuditLog::OpenFileLocked() {
  // 0600: the log says who did what; it is for the operators.
  int fd = open(options_.path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) {
    return Status::Unavailable("cannot open audit log " + options_.path + ": " +
                               std::strerror(errno));
  }
  struct stat info {};
  size_ = fstat(fd, &info) == 0 ? static_cast<uint64_t>(info.st_size) : 0;
  if (fd_ >= 0) close(fd_);
  fd_ = fd;
  return Status::Ok();
}

void AuditLog::RotateLocked() {
  const std::string& base = options_.path;
  if (options_.max_files == 0) {
    if (fd_ >= 0 && ftruncate(fd_, 0) == 0) size_ = 0;
    return;
  }
  // PATH.<n-1> -> PATH.<n>, ..., PATH -> PATH.1; rename(2) replaces the oldest.
  for (int i = options_.max_files - 1; i >= 1; --i) {
    const std::string from = base + "." + std::to_string(i);
    const std::string to = base + "." + std::to_string(i + 1);
    if (std::rename(from.c_str(), to.c_str()) != 0 && errno != ENOENT) {
      log::Warning("cannot rotate the audit log", {{"from", from}, {"error", std::strerror(errno)}});
    }
  }
  if (std::rename(base.c_str(), (base + ".1").c_str()) != 0) {
    log::Warning("cannot rotate the audit log", {{"file", base}, {"error", std::strerror(errno)}});
  }
  if (Status opened = OpenFileLocked(); !opened.ok()) {
    log::Error("audit log not reopened after rotation", {{"error", opened.message()}});
  }
}

void AuditLog::Write(const AuditRecord& record) {
  const std::string line = AuditLine(record, FormatRfc3339(clock_->WallNow())) + "\n";
  MutexLock lock(&mu_);
  if (size_ > 0 && size_ + line.size() > options_.max_bytes) RotateLocked();
  bool written = false;
  if (fd_ >= 0) {
    const ssize_t n = ::write(fd_, line.data(), line.size());
    written = n == static_cast<ssize_t>(line.size());
    if (n > 0) size_ += static_cast<uint64_t>(n);
  }
  if (written) {
    if (failing_) log::Info("audit log writes work again", {{"file", options_.path}});
    failing_ = false;
    return;
  }
  ++failed_;
  if (!failing_) {
    log::Error("cannot write the audit log",
               {{"file", options_.path}, {"error", std::strerror(errno)}});
  }
  failing_ = true;
}

uint64_t AuditLog::failed_writes() const {
  MutexLock lock(&mu_);
  return failed_;
}

}  // namespace vmk::cli
