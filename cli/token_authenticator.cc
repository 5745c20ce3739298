#include "cli/token_authenticator.h"

#include <sys/stat.h>

#include <cctype>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "common/log.h"

namespace vmk::cli {
namespace {

using Digest = std::array<unsigned char, 32>;

bool Sha256(std::string_view text, Digest* out) {
  unsigned int length = 0;
  return EVP_Digest(text.data(), text.size(), out->data(), &length, EVP_sha256(), nullptr) == 1 &&
         length == out->size();
}

bool ParseHexDigest(std::string_view hex, Digest* out) {
  if (hex.size() != 64) return false;
  for (size_t i = 0; i < 32; ++i) {
    int value = 0;
    for (size_t j = 0; j < 2; ++j) {
      const char c = static_cast<char>(std::tolower(static_cast<unsigned char>(hex[2 * i + j])));
      int digit = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
      if (digit < 0) return false;
      value = value * 16 + digit;
    }
    (*out)[i] = static_cast<unsigned char>(value);
  }
  return true;
}

bool IsCredentialName(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) &&
        std::string_view("-._@").find(c) == std::string_view::npos) {
      return false;
    }
  }
  return true;
}

// The SHA-256 of the token held in `path`: its whole content, without trailing whitespace
// (the newline an editor or `echo` adds). The token's bytes are wiped before returning.
StatusOr<Digest> HashTokenFile(const std::string& path, const std::string& where) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::InvalidArgument(where + ": cannot read token file " + path);
  std::string token((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  while (!token.empty() && std::isspace(static_cast<unsigned char>(token.back()))) {
    token.pop_back();
  }
  Status bad;
  Digest digest{};
  if (token.size() < 16) {
    bad = Status::InvalidArgument(where + ": the token in " + path +
                                  " is shorter than 16 characters");
  } else if (!IsTokenText(token)) {
    bad = Status::InvalidArgument(where + ": the token in " + path +
                                  " has characters a bearer token cannot have (allowed: letters, "
                                  "digits, -._~+/ and trailing =)");
  } else if (!Sha256(token, &digest)) {
    bad = Status::Internal(where + ": SHA-256 failed");
  }
  OPENSSL_cleanse(token.data(), token.size());
  if (!bad.ok()) return bad;
  struct stat info {};
  if (stat(path.c_str(), &info) == 0 && (info.st_mode & 0077) != 0) {
    log::Warning("token file is readable or writable by others than its owner",
                 {{"file", path}, {"mode", std::to_string(info.st_mode & 0777)}});
  }
  return digest;
}

std::vector<std::string> Fields(const std::string& line) {
  std::istringstream in(line);
  std::vector<std::string> fields;
  std::string field;
  while (in >> field) fields.push_back(field);
  return fields;
}

}  // namespace

bool IsTokenText(std::string_view token) {
  if (token.empty()) return false;
  size_t i = 0;
  while (i < token.size() && (std::isalnum(static_cast<unsigned char>(token[i])) ||
                              std::string_view("-._~+/").find(token[i]) != std::string_view::npos)) {
    ++i;
  }
  if (i == 0) return false;
  while (i < token.size() && token[i] == '=') ++i;
  return i == token.size();
}


std::string_view RoleName(Role role) {
  switch (role) {
    case Role::kViewer: return "viewer";
    case Role::kEditor: return "editor";
    case Role::kAlerts: return "alerts";
    case Role::kAdmin: return "admin";
  }
  return "unknown";
}

std::optional<Role> ParseRole(std::string_view name) {
  for (Role role : {Role::kViewer, Role::kEditor, Role::kAlerts, Role::kAdmin}) {
    if (RoleName(role) == name) return role;
  }
  return std::nullopt;
}

std::string Sha256Hex(std::string_view text) {
  Digest digest{};
  if (!Sha256(text, &digest)) return "";
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char byte : digest) {
    out += kHex[byte >> 4];
    out += kHex[byte & 15];
  }
  return out;
}

StatusOr<std::vector<TokenAuthenticator::Credential>> ParseTokensFile(
    const std::string& text, const std::string& file_name, const std::string& base_dir) {
  std::vector<TokenAuthenticator::Credential> credentials;
  std::set<std::string> names;
  std::istringstream lines(text);
  std::string line;
  int number = 0;
  while (std::getline(lines, line)) {
    ++number;
    const std::string where = file_name + ":" + std::to_string(number);
    if (size_t hash = line.find('#'); hash != std::string::npos) line.resize(hash);
    std::vector<std::string> fields = Fields(line);
    if (fields.empty()) continue;
    if (fields.size() != 3) {
      return Status::InvalidArgument(
          where + ": expected NAME ROLE SECRET (SECRET: sha256:<64 hex digits> or file:<path>), "
                  "got " + std::to_string(fields.size()) + " fields");
    }
    TokenAuthenticator::Credential credential;
    credential.name = fields[0];
    if (!IsCredentialName(credential.name)) {
      return Status::InvalidArgument(where + ": credential name \"" + credential.name.substr(0, 64) +
                                     "\" must be 1-64 letters, digits and -._@");
    }
    std::optional<Role> role = ParseRole(fields[1]);
    if (!role) {
      return Status::InvalidArgument(where + ": unknown role \"" + fields[1].substr(0, 32) +
                                     "\" (roles: viewer, editor, alerts, admin)");
    }
    credential.role = *role;
    const std::string& secret = fields[2];
    if (secret.rfind("sha256:", 0) == 0) {
      if (!ParseHexDigest(std::string_view(secret).substr(7), &credential.token_sha256)) {
        return Status::InvalidArgument(where + ": sha256: must be followed by 64 hex digits");
      }
    } else if (secret.rfind("file:", 0) == 0 && secret.size() > 5) {
      std::filesystem::path path(secret.substr(5));
      if (path.is_relative()) path = std::filesystem::path(base_dir) / path;
      VMK_ASSIGN_OR_RETURN(credential.token_sha256, HashTokenFile(path.string(), where));
    } else {
      // Never echo the field: it may be a token pasted in by mistake.
      return Status::InvalidArgument(where + ": the secret must be sha256:<64 hex digits> or "
                                             "file:<path> (a token itself is never written here)");
    }
    if (!names.insert(credential.name).second) {
      return Status::InvalidArgument(where + ": credential \"" + credential.name +
                                     "\" is defined twice");
    }
    for (const auto& other : credentials) {
      if (other.token_sha256 == credential.token_sha256) {
        return Status::InvalidArgument(where + ": credential \"" + credential.name +
                                       "\" has the same token as \"" + other.name + "\"");
      }
    }
    credentials.push_back(std::move(credential));
  }
  if (credentials.empty()) {
    return Status::InvalidArgument(file_name + ": no credentials (every request would be refused)");
  }
  return credentials;
}

StatusOr<std::unique_ptr<TokenAuthenticator>> TokenAuthenticator::Load(const std::string& path) {
  std::unique_ptr<TokenAuthenticator> authenticator(new TokenAuthenticator(path));
  VMK_RETURN_IF_ERROR(authenticator->Reload());
  return authenticator;
}

Status TokenAuthenticator::Reload() {
  std::ifstream in(path_, std::ios::binary);
  if (!in) return Status::InvalidArgument(path_ + ": cannot read the tokens file");
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return Status::InvalidArgument(path_ + ": cannot read the tokens file");
  const std::string base_dir = std::filesystem::path(path_).parent_path().string();
  VMK_ASSIGN_OR_RETURN(std::vector<Credential> parsed, ParseTokensFile(text.str(), path_, base_dir));
  auto fresh = std::make_shared<const std::vector<Credential>>(std::move(parsed));
  MutexLock lock(&mu_);
  credentials_ = std::move(fresh);
  return Status::Ok();
}

StatusOr<Identity> TokenAuthenticator::Authenticate(std::string_view authorization) const {
  if (authorization.empty()) {
    return Status::InvalidArgument("no credentials: send Authorization: Bearer <token>");
  }
  const size_t space = authorization.find(' ');
  std::string scheme(authorization.substr(0, space));
  for (char& c : scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (space == std::string_view::npos || scheme != "bearer") {
    return Status::InvalidArgument("the Authorization header is not a bearer token (send "
                                   "Authorization: Bearer <token>)");
  }
  std::string_view token = authorization.substr(space + 1);
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
  Digest presented{};
  if (!IsTokenText(token) || !Sha256(token, &presented)) {
    return Status::NotFound("invalid bearer token");
  }
  std::shared_ptr<const std::vector<Credential>> credentials;
  {
    MutexLock lock(&mu_);
    credentials = credentials_;
  }
  // Every hash is compared, whichever matches, each in constant time.
  const Credential* match = nullptr;
  for (const Credential& credential : *credentials) {
    const bool equal =
        CRYPTO_memcmp(credential.token_sha256.data(), presented.data(), presented.size()) == 0;
    if (equal) match = &credential;
  }
  if (match == nullptr) return Status::NotFound("invalid bearer token");
  return Identity{match->name, match->role};
}

size_t TokenAuthenticator::credential_count() const {
  MutexLock lock(&mu_);
  return credentials_ ? credentials_->size() : 0;
}

}  // namespace vmk::cli
