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
// Refusals of unidentified callers (no credential: a 401, or an edge refusal before any token
// was looked at) cost a client nothing to make, so a flood of them could rotate the real
// records away. At most max_unidentified_refusals_per_minute of them are written one by one in
// each minute; the rest are counted, per source, and written as one summary record when the
// minute is over (at the next record, or when the log is closed):
//
//   {"time":"...","verb":"","path":"","status":0,"reason":"unidentified refusals not recorded
//    one by one","suppressed":5123,"sources":{"203.0.113.9":5100,"198.51.100.1":23}}
//
// Refusals of an identified credential (403) and every write are always written one by one.
//
// Rotation by size: a record that would take the file past max_bytes first renames PATH to
// PATH.1 (PATH.1 to PATH.2, ... up to PATH.<max_files>, the oldest dropped) and starts a new
// PATH. Each record is one write(2) to a descriptor opened with O_APPEND. A failed write is
// logged (once until writes succeed again) and counted; requests are never refused for it. A
// rotation that fails (the rename refused) is retried a minute later, not at every record; the
// file grows past max_bytes meanwhile.
//
// Thread-safe: Write may be called from any number of threads.
#pragma once

#include <cstdint>
#include <map>
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
  // Refusals of unidentified callers written one by one per minute; the rest are summarised.
  int max_unidentified_refusals_per_minute = 60;
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

  // A refusal of a caller that no credential identifies.
  bool unidentified_refusal() const { return user.empty() && status >= 400; }
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
  // Unidentified refusals counted into summaries instead of written (since the start).
  uint64_t suppressed_refusals() const EXCLUDES(mu_);

 private:
  AuditLog(AuditLogOptions options, Clock* clock);
  Status OpenFileLocked() REQUIRES(mu_);
  void RotateLocked() REQUIRES(mu_);
  // Appends one line (rotating first if it would pass max_bytes); false if it failed.
  void AppendLocked(const std::string& line) REQUIRES(mu_);
  // Writes the summary of the unidentified refusals held back, if any, and starts a new minute.
  void FlushSuppressedLocked() REQUIRES(mu_);

  const AuditLogOptions options_;
  Clock* const clock_;
  mutable Mutex mu_;
  int fd_ GUARDED_BY(mu_) = -1;
  uint64_t size_ GUARDED_BY(mu_) = 0;
  uint64_t failed_ GUARDED_BY(mu_) = 0;
  bool failing_ GUARDED_BY(mu_) = false;
  // A failed rotation is not retried before this.
  MonoTime next_rotation_attempt_ GUARDED_BY(mu_){};
  // The minute of unidentified refusals being counted.
  MonoTime window_start_ GUARDED_BY(mu_){};
  int window_written_ GUARDED_BY(mu_) = 0;
  uint64_t window_suppressed_ GUARDED_BY(mu_) = 0;
  std::map<std::string, uint64_t> window_sources_ GUARDED_BY(mu_);
  uint64_t suppressed_total_ GUARDED_BY(mu_) = 0;
};

// The record as its line (without the newline): exposed for tests.
std::string AuditLine(const AuditRecord& record, const std::string& time_rfc3339);

}  // namespace vmk::cli
