// AuditLog: who did what through vmkeeperd's API, one JSON object per line, appended to a file
// (docs/security.md has the format):
//
//   {"time":"2026-12-05T12:00:00.123Z","user":"ci-deploy","role":"editor","source":"10.0.0.7",
//    "verb":"DELETE","path":"/api/v1/virtualmachines/wms01","status":200}
//
// vmkeeperd writes a record for every mutating request and every refused one (401, 403, the
// write rate limit's 429, and the edge's refusals but its load-shedding 429s); the record holds
// no header, body or token, only what is listed in AuditRecord.
//
// Rotation by size: a record that would take the file past max_bytes first renames PATH to
// PATH.1 (PATH.1 to PATH.2, ... up to PATH.<max_files>, the oldest dropped) and starts a new
// PATH. Each record is one write(2) to a descriptor opened with O_APPEND. A failed write is
// logged (once until writes succeed again) and counted; requests are never refused for it.
//
// Thread-safe: Write may be called from any number of threads.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/mutex.h"
#include "common/status.h"

namespace vmk::cli {

struct AuditLogOptions {
  std::string path;
  // A file reaching this size is rotated (at least 4096).
  uint64_t max_bytes = 100 * 1024 * 1024;
  // Rotated files kept: PATH.1 .. PATH.<max_files> (0 = none: the file is truncated instead).
  int max_files = 5;
};

struct AuditRecord {
  std::string user;    // credential name; empty when unauthenticated
  std::string role;    // empty when unauthenticated
  std::string source;  // the client's address, when known
  std::string verb;    // the HTTP method
  std::string path;    // the request path, without the query
  std::vector<std::string> objects;  // "Kind/name" of the objects an apply touched
  int status = 0;      // the HTTP status answered
  std::string reason;  // why it was refused, for 401/403 and the edge's refusals
};

class AuditLog {
 public:
  // Opens (creates) the file; InvalidArgument if the options are bad, Unavailable if the file
  // cannot be opened. clock gives the records' times and must outlive the log.
  static StatusOr<std::unique_ptr<AuditLog>> Open(AuditLogOptions options, Clock* clock);
  ~AuditLog();

  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  void Write(const AuditRecord& record) EXCLUDES(mu_);

  // Records that could not be written (since the start).
  uint64_t failed_writes() const EXCLUDES(mu_);

 private:
  AuditLog(AuditLogOptions options, Clock* clock);
  Status OpenFileLocked() REQUIRES(mu_);
  void RotateLocked() REQUIRES(mu_);

  const AuditLogOptions options_;
  Clock* const clock_;
  mutable Mutex mu_;
  int fd_ GUARDED_BY(mu_) = -1;
  uint64_t size_ GUARDED_BY(mu_) = 0;
  uint64_t failed_ GUARDED_BY(mu_) = 0;
  bool failing_ GUARDED_BY(mu_) = false;
};

// The record as its line (without the newline): exposed for tests.
std::string AuditLine(const AuditRecord& record, const std::string& time_rfc3339);

}  // namespace vmk::cli
