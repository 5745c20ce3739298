// TokenAuthenticator: who is calling vmkeeperd's API, from the bearer token of a request
// (Authorization: Bearer <token>), checked against the credentials of a tokens file
// (docs/security.md has the format):
//
//   # NAME        ROLE     SECRET
//   ci-deploy     editor   sha256:<64 hex digits: the SHA-256 of the token>
//   grafana       viewer   file:/etc/vmkeeper/tokens/grafana   (a file holding the token itself)
//
// Only the SHA-256 of each token is kept in memory: a token read from a file: entry is hashed
// and its bytes wiped at once. A presented token is hashed and compared with every credential's
// hash with CRYPTO_memcmp, all of them every time, so the time taken says nothing about which
// bytes or which credential matched.
//
// Reload() reads the file again (vmkeeperd calls it on SIGHUP); a file that does not parse
// leaves the credentials in force unchanged. Thread-safe: Authenticate runs on any number of
// threads while Reload swaps the set in one step.
#pragma once

#include <array>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/mutex.h"
#include "common/status.h"

namespace vmk::cli {

// What a credential may do (docs/security.md has the table, route by route):
//   viewer  reads (GETs of the API, /metrics, events, incidents, availability, diff)
//   editor  what viewer may, and apply, delete, snapshot, rollback
//   alerts  only the Alertmanager intake, POST /api/v1/alerts
//   admin   everything
enum class Role { kViewer, kEditor, kAlerts, kAdmin };

std::string_view RoleName(Role role);
std::optional<Role> ParseRole(std::string_view name);

// The caller of a request: a credential's name and role, or "anonymous" with kAdmin when the
// daemon has no tokens file.
struct Identity {
  std::string name;
  Role role = Role::kAdmin;
};

// The SHA-256 of `text`, 64 lowercase hex digits (what a sha256: entry holds).
std::string Sha256Hex(std::string_view text);

// RFC 6750's b64token (letters, digits, "-._~+/", then "=" only at the end): what a bearer token
// may be made of. Authenticate refuses anything else before hashing, so --hash-token and the
// tokens file's file: entries check with this too: a token they took could never log in.
bool IsTokenText(std::string_view token);

class TokenAuthenticator {
 public:
  // Reads the tokens file at `path`. InvalidArgument naming the file and line for a malformed
  // entry, an unknown role, a duplicate name or token, an unreadable or empty token file; a
  // file with no credential at all is refused too (it would lock everyone out).
  static StatusOr<std::unique_ptr<TokenAuthenticator>> Load(const std::string& path);

  // Reads the file again; on error the credentials in force stay as they were.
  Status Reload() EXCLUDES(mu_);

  // The identity whose token `authorization` (the Authorization header's value) carries.
  // InvalidArgument when the header is missing or is not a bearer token, NotFound when the
  // token is no credential's; the message (for the 401) never contains the token.
  StatusOr<Identity> Authenticate(std::string_view authorization) const EXCLUDES(mu_);

  size_t credential_count() const EXCLUDES(mu_);
  const std::string& path() const { return path_; }

  struct Credential {
    std::string name;
    Role role = Role::kViewer;
    std::array<unsigned char, 32> token_sha256{};
  };

 private:
  explicit TokenAuthenticator(std::string path) : path_(std::move(path)) {}

  const std::string path_;
  mutable Mutex mu_;
  std::shared_ptr<const std::vector<Credential>> credentials_ GUARDED_BY(mu_);
};

// Parses the text of a tokens file; `file_name` for messages, relative file: paths resolved
// against `base_dir`. Exposed for tests.
StatusOr<std::vector<TokenAuthenticator::Credential>> ParseTokensFile(
    const std::string& text, const std::string& file_name, const std::string& base_dir);

}  // namespace vmk::cli
