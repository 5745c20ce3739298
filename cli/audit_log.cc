#include "cli/audit_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>
#include <vector>

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

namespace {

constexpr auto kRefusalWindow = std::chrono::minutes(1);
constexpr auto kRotationRetry = std::chrono::minutes(1);
// Sources named in one summary; more are added up under "others" (a flood from many addresses
// must not make the summary, or the map behind it, grow without bound).
constexpr size_t kSummarySources = 20;

}  // namespace

AuditLog::~AuditLog() {
  MutexLock lock(&mu_);
  FlushSuppressedLocked();
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
  if (options.max_unidentified_refusals_per_minute < 0) {
    return Status::InvalidArgument("audit log refusals per minute must not be negative");
  }
  std::unique_ptr<AuditLog> log(new AuditLog(std::move(options), clock));
  MutexLock lock(&log->mu_);
  VMK_RETURN_IF_ERROR(log->OpenFileLocked());
  log->window_start_ = clock->Now();
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
    // Reopening would give the same full file back, and the next record would try again: keep
    // appending to it and try again later.
    log::Warning("cannot rotate the audit log; it grows past its size cap until a retry works",
                 {{"file", base}, {"error", std::strerror(errno)}});
    next_rotation_attempt_ = clock_->Now() + kRotationRetry;
    return;
  }
  if (Status opened = OpenFileLocked(); !opened.ok()) {
    log::Error("audit log not reopened after rotation", {{"error", opened.message()}});
  }
}

void AuditLog::AppendLocked(const std::string& line) {
  if (size_ > 0 && size_ + line.size() > options_.max_bytes &&
      clock_->Now() >= next_rotation_attempt_) {
    RotateLocked();
  }
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

void AuditLog::FlushSuppressedLocked() {
  if (window_suppressed_ > 0) {
    nlohmann::ordered_json line;
    line["time"] = FormatRfc3339(clock_->WallNow());
    line["user"] = nullptr;
    line["role"] = nullptr;
    line["source"] = nullptr;
    line["verb"] = "";
    line["path"] = "";
    line["status"] = 0;
    line["reason"] = "unidentified refusals not recorded one by one";
    line["suppressed"] = window_suppressed_;
    // The sources that sent the most first.
    std::vector<std::pair<std::string, uint64_t>> sources(window_sources_.begin(),
                                                          window_sources_.end());
    std::sort(sources.begin(), sources.end(),
              [](const auto& a, const auto& b) { return a.second > b.second; });
    nlohmann::ordered_json by_source = nlohmann::ordered_json::object();
    uint64_t others = 0;
    for (size_t i = 0; i < sources.size(); ++i) {
      if (i < kSummarySources && sources[i].first != "others") {
        by_source[sources[i].first] = sources[i].second;
      } else {
        others += sources[i].second;
      }
    }
    if (others > 0) by_source["others"] = others;
    line["sources"] = std::move(by_source);
    AppendLocked(line.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) +
                 "\n");
  }
  window_start_ = clock_->Now();
  window_written_ = 0;
  window_suppressed_ = 0;
  window_sources_.clear();
}

void AuditLog::Write(const AuditRecord& record) {
  const std::string line = AuditLine(record, FormatRfc3339(clock_->WallNow())) + "\n";
  MutexLock lock(&mu_);
  if (clock_->Now() - window_start_ >= kRefusalWindow) FlushSuppressedLocked();
  if (record.unidentified_refusal()) {
    if (window_written_ >= options_.max_unidentified_refusals_per_minute) {
      ++window_suppressed_;
      ++suppressed_total_;
      // Bounded: past a few thousand distinct sources in one minute, the rest are "others".
      const std::string source = record.source.empty() ? "unknown" : record.source;
      auto it = window_sources_.find(source);
      if (it != window_sources_.end()) {
        ++it->second;
      } else if (window_sources_.size() < 4096) {
        window_sources_.emplace(source, 1);
      } else {
        ++window_sources_["others"];
      }
      return;
    }
    ++window_written_;
  }
  AppendLocked(line);
}

uint64_t AuditLog::failed_writes() const {
  MutexLock lock(&mu_);
  return failed_;
}

uint64_t AuditLog::suppressed_refusals() const {
  MutexLock lock(&mu_);
  return suppressed_total_;
}

}  // namespace vmk::cli
