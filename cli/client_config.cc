#include "cli/client_config.h"

#include <charconv>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <utility>

#include <yaml-cpp/yaml.h>

#include "specs/decoder.h"
#include "specs/diagnostic.h"
#include "specs/scalar.h"

namespace vmk::cli {
namespace {

namespace fs = std::filesystem;
using specs::Diagnostic;

// Walks one parsed file, collecting every problem; yaml-cpp's types stay in this file.
class ConfigReader {
 public:
  explicit ConfigReader(const std::string& file) : file_(file) {}

  ClientConfig Read(const YAML::Node& root);
  std::vector<Diagnostic>& errors() { return errors_; }

  specs::SourceLocation Loc(const YAML::Mark& mark) const {
    specs::SourceLocation loc;
    loc.file = file_;
    loc.line = mark.line >= 0 ? mark.line + 1 : 0;
    loc.column = mark.column >= 0 ? mark.column + 1 : 0;
    return loc;
  }
  void Error(const YAML::Node& at, const std::string& path, std::string message) {
    errors_.push_back(Diagnostic{Loc(at.Mark()), path, std::move(message)});
  }

 private:
  struct Entry {
    std::string key;
    YAML::Node key_node;
    YAML::Node value;
  };

  // The entries of a mapping in document order; duplicate and non-string keys are reported and
  // left out (yaml-cpp keeps duplicates silently). A value that is not a mapping is reported.
  std::vector<Entry> Entries(const YAML::Node& map, const std::string& path);
  // A plain or quoted string; nullopt (reported) for anything else, null included.
  std::optional<std::string> String(const Entry& entry, const std::string& path);
  std::optional<bool> Bool(const Entry& entry, const std::string& path);
  // A file name, absolute against the config file's directory.
  std::optional<std::string> FileName(const Entry& entry, const std::string& path);
  void ReadContext(const YAML::Node& node, const std::string& path, ClientConfig* config);

  const std::string& file_;
  std::vector<Diagnostic> errors_;
};

std::vector<ConfigReader::Entry> ConfigReader::Entries(const YAML::Node& map,
                                                       const std::string& path) {
  std::vector<Entry> entries;
  if (!map.IsMap()) {
    Error(map, path, "must be a mapping");
    return entries;
  }
  std::map<std::string, YAML::Node> seen;
  for (auto it = map.begin(); it != map.end(); ++it) {
    YAML::Node key_node = it->first;  // copies: the iterator's proxies dangle
    YAML::Node value = it->second;
    if (!key_node.IsScalar()) {
      Error(key_node, path, "keys must be strings");
      continue;
    }
    std::string key = key_node.Scalar();
    auto [first, inserted] = seen.emplace(key, key_node);
    if (!inserted) {
      specs::SourceLocation at = Loc(first->second.Mark());
      Error(key_node, specs::JoinFieldPath(path, key),
            "duplicate key; first defined at line " + std::to_string(at.line) + ", column " +
                std::to_string(at.column));
      continue;
    }
    entries.push_back(Entry{std::move(key), key_node, value});
  }
  return entries;
}

std::optional<std::string> ConfigReader::String(const Entry& entry, const std::string& path) {
  const YAML::Node& v = entry.value;
  if (!v.IsScalar() || specs::ResolveScalar(v.Tag(), v.Scalar()) != specs::ScalarKind::kString) {
    Error(v.IsNull() ? entry.key_node : v, path, "must be a string");
    return std::nullopt;
  }
  return v.Scalar();
}

std::optional<bool> ConfigReader::Bool(const Entry& entry, const std::string& path) {
  const YAML::Node& v = entry.value;
  if (!v.IsScalar() || specs::ResolveScalar(v.Tag(), v.Scalar()) != specs::ScalarKind::kBool) {
    Error(v.IsNull() ? entry.key_node : v, path, "must be true or false");
    return std::nullopt;
  }
  const std::string& t = v.Scalar();
  return t == "true" || t == "True" || t == "TRUE";
}

std::optional<std::string> ConfigReader::FileName(const Entry& entry, const std::string& path) {
  std::optional<std::string> name = String(entry, path);
  if (!name) return std::nullopt;
  if (name->empty()) {
    Error(entry.value, path, "must not be empty");
    return std::nullopt;
  }
  fs::path p(*name);
  if (p.is_relative()) p = fs::absolute(fs::path(file_)).parent_path() / p;
  return p.lexically_normal().string();
}

void ConfigReader::ReadContext(const YAML::Node& node, const std::string& path,
                               ClientConfig* config) {
  ClientContext context;
  context.location = Loc(node.Mark()).ToString();
  std::map<std::string, const YAML::Node*> given;
  std::vector<Entry> entries = Entries(node, path);
  if (!node.IsMap()) return;
  bool ok = true;
  for (const Entry& e : entries) {
    const std::string child = specs::JoinFieldPath(path, e.key);
    given[e.key] = &e.key_node;
    std::optional<std::string> text;
    if (e.key == "name") {
      text = String(e, child);
      if (text && text->empty()) {
        Error(e.value, child, "must not be empty");
        text.reset();
      }
      if (text) context.name = *text;
    } else if (e.key == "server") {
      text = String(e, child);
      if (text) {
        Status valid = ValidateServerUrl(*text);
        if (!valid.ok()) {
          Error(e.value, child, valid.message());
          text.reset();
        } else {
          context.server = *text;
        }
      }
    } else if (e.key == "certificateAuthority") {
      text = FileName(e, child);
      if (text) context.certificate_authority = *text;
    } else if (e.key == "tokenFile") {
      text = FileName(e, child);
      if (text) context.token_file = *text;
    } else if (e.key == "clientCertificate") {
      text = FileName(e, child);
      if (text) context.client_certificate = *text;
    } else if (e.key == "clientKey") {
      text = FileName(e, child);
      if (text) context.client_key = *text;
    } else if (e.key == "insecureSkipTlsVerify") {
      std::optional<bool> flag = Bool(e, child);
      if (flag) context.insecure_skip_tls_verify = *flag;
      ok = ok && flag.has_value();
      continue;
    } else {
      Error(e.key_node, child,
            "unknown field (known: name, server, certificateAuthority, tokenFile, "
            "clientCertificate, clientKey, insecureSkipTlsVerify)");
      ok = false;
      continue;
    }
    ok = ok && text.has_value();
  }
  for (const char* required : {"name", "server"}) {
    if (!given.count(required)) {
      Error(node, specs::JoinFieldPath(path, required), "is required");
      ok = false;
    }
  }
  if (!context.client_certificate.empty() != !context.client_key.empty()) {
    const char* missing = context.client_key.empty() ? "clientKey" : "clientCertificate";
    const char* other = context.client_key.empty() ? "clientCertificate" : "clientKey";
    Error(*given[other], specs::JoinFieldPath(path, missing),
          std::string("is required with ") + other);
    ok = false;
  }
  if (context.insecure_skip_tls_verify && !context.certificate_authority.empty()) {
    Error(*given["insecureSkipTlsVerify"], specs::JoinFieldPath(path, "insecureSkipTlsVerify"),
          "must not be true with certificateAuthority (a CA given is a CA to check against)");
    ok = false;
  }
  if (ok && context.server.rfind("http://", 0) == 0) {
    for (const char* tls_only :
         {"certificateAuthority", "clientCertificate", "insecureSkipTlsVerify"}) {
      if (given.count(tls_only)) {
        Error(*given[tls_only], specs::JoinFieldPath(path, tls_only),
              "applies to https:// servers only, and server is http://");
        ok = false;
      }
    }
  }
  if (!context.name.empty()) {
    for (const ClientContext& other : config->contexts) {
      if (other.name == context.name) {
        Error(*given["name"], specs::JoinFieldPath(path, "name"),
              "duplicate context name \"" + context.name + "\"; first at " + other.location);
        ok = false;
      }
    }
  }
  if (ok) config->contexts.push_back(std::move(context));
}

ClientConfig ConfigReader::Read(const YAML::Node& root) {
  ClientConfig config;
  config.file = file_;
  if (root.IsNull()) {
    errors_.push_back(Diagnostic{Loc(root.Mark()), "",
                                 "is empty; it must have apiVersion: vmkeeper/v1 and "
                                 "kind: ClientConfig"});
    return config;
  }
  std::vector<Entry> entries = Entries(root, "");
  if (!root.IsMap()) return config;
  std::map<std::string, const Entry*> given;
  const Entry* current = nullptr;
  for (const Entry& e : entries) {
    given[e.key] = &e;
    if (e.key == "apiVersion" || e.key == "kind") {
      std::optional<std::string> text = String(e, e.key);
      const char* want = e.key == "kind" ? kClientConfigKind : kClientConfigApiVersion;
      if (text && *text != want) {
        Error(e.value, e.key, std::string("must be ") + want + " (got \"" + *text + "\")");
      }
    } else if (e.key == "currentContext") {
      std::optional<std::string> text = String(e, e.key);
      if (text) {
        config.current_context = *text;
        current = &e;
      }
    } else if (e.key == "contexts") {
      if (!e.value.IsSequence()) {
        Error(e.value.IsNull() ? e.key_node : e.value, "contexts", "must be a list");
        continue;
      }
      for (size_t i = 0; i < e.value.size(); ++i) {
        ReadContext(e.value[i], specs::IndexFieldPath("contexts", i), &config);
      }
    } else {
      Error(e.key_node, e.key,
            "unknown field (known: apiVersion, kind, currentContext, contexts)");
    }
  }
  for (const char* required : {"apiVersion", "kind"}) {
    if (!given.count(required)) Error(root, required, "is required");
  }
  if (current != nullptr && !config.current_context.empty() &&
      config.Find(config.current_context) == nullptr && errors_.empty()) {
    std::string names;
    for (const ClientContext& c : config.contexts) names += (names.empty() ? "" : ", ") + c.name;
    Error(current->value, "currentContext",
          "names no context (contexts: " + (names.empty() ? "none" : names) + ")");
  }
  return config;
}

bool AllDigits(const std::string& s) {
  return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos;
}

}  // namespace

const ClientContext* ClientConfig::Find(const std::string& name) const {
  for (const ClientContext& c : contexts) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

std::string RedactUserInfo(const std::string& url) {
  const size_t scheme_end = url.find("://");
  const size_t authority = scheme_end == std::string::npos ? 0 : scheme_end + 3;
  const size_t authority_end = url.find_first_of("/?#", authority);
  const size_t at = url.rfind('@', authority_end == std::string::npos ? url.npos : authority_end - 1);
  if (at == std::string::npos || at < authority) return url;
  return url.substr(0, authority) + "***@" + url.substr(at + 1);
}

Status ValidateServerUrl(const std::string& url) {
  // Messages quote the URL, but never a password someone put in it.
  const std::string shown = RedactUserInfo(url);
  std::string rest;
  if (url.rfind("http://", 0) == 0) {
    rest = url.substr(7);
  } else if (url.rfind("https://", 0) == 0) {
    rest = url.substr(8);
  } else {
    return Status::InvalidArgument("must start with http:// or https:// (got \"" + shown + "\")");
  }
  size_t slash = rest.find('/');
  if (slash != std::string::npos) {
    if (rest.substr(slash) != "/") {
      return Status::InvalidArgument("must not have a path (got \"" + shown + "\")");
    }
    rest.resize(slash);
  }
  if (rest.find_first_of("@?# ") != std::string::npos) {
    return Status::InvalidArgument(
        "must be scheme://host[:port], without user info, query or spaces (got \"" + shown + "\")");
  }
  std::string host = rest;
  std::string port;
  if (!rest.empty() && rest.front() == '[') {
    size_t close = rest.find(']');
    if (close == std::string::npos) {
      return Status::InvalidArgument("has an unclosed IPv6 bracket (got \"" + shown + "\")");
    }
    host = rest.substr(1, close - 1);
    std::string after = rest.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') {
        return Status::InvalidArgument("is malformed after ']' (got \"" + shown + "\")");
      }
      port = after.substr(1);
      if (port.empty()) return Status::InvalidArgument("has an empty port (got \"" + shown + "\")");
    }
  } else if (size_t colon = rest.find(':'); colon != std::string::npos) {
    host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
    if (port.empty()) return Status::InvalidArgument("has an empty port (got \"" + shown + "\")");
  }
  if (host.empty()) return Status::InvalidArgument("has no host (got \"" + shown + "\")");
  if (!port.empty()) {
    int value = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (!AllDigits(port) || ec != std::errc() || end != port.data() + port.size() || value < 1 ||
        value > 65535) {
      return Status::InvalidArgument("has an invalid port (got \"" + shown + "\")");
    }
  }
  return Status::Ok();
}

StatusOr<ClientConfig> ParseClientConfig(const std::string& text, const std::string& file_name) {
  ConfigReader reader(file_name);
  ClientConfig config;
  if (text.size() > kMaxClientConfigBytes) {
    return Status::InvalidArgument(file_name + ": is larger than " +
                                   std::to_string(kMaxClientConfigBytes) +
                                   " bytes; is it the right file?");
  }
  try {
    YAML::Node root = YAML::Load(text);
    config = reader.Read(root);
  } catch (const YAML::Exception& e) {
    reader.errors().push_back(Diagnostic{reader.Loc(e.mark), "", e.msg});
  }
  std::vector<Diagnostic>& errors = reader.errors();
  if (errors.empty()) return config;
  specs::SortByPosition(&errors);
  std::string message;
  for (const Diagnostic& d : errors) message += (message.empty() ? "" : "\n") + d.ToString();
  return Status::InvalidArgument(message);
}

StatusOr<ClientConfig> LoadClientConfigFile(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return Status::NotFound(path + ": no such file");
  if (fs::is_directory(path, ec)) {
    return Status::InvalidArgument(path + ": is a directory, not a config file");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::InvalidArgument(path + ": cannot read the config file");
  std::string text;
  char buffer[8192];
  while (in.read(buffer, sizeof buffer) || in.gcount() > 0) {
    text.append(buffer, static_cast<size_t>(in.gcount()));
    if (text.size() > kMaxClientConfigBytes) break;  // ParseClientConfig says so
  }
  if (in.bad()) return Status::InvalidArgument(path + ": cannot read the config file");
  return ParseClientConfig(text, path);
}

}  // namespace vmk::cli
