// ClientConfig: the vmkeeper CLI's config file, like kubectl's kubeconfig: named contexts, each
// a vmkeeperd server URL and the credentials to use with it, and the current one.
//
//   apiVersion: vmkeeper/v1
//   kind: ClientConfig
//   currentContext: prod
//   contexts:
//     - name: prod
//       server: https://vmkeeperd.example.com:7480
//       certificateAuthority: ca.pem        # relative paths are relative to this file
//       tokenFile: prod.token               # or clientCertificate + clientKey
//     - name: lab
//       server: http://127.0.0.1:7480
//
// Parsing is strict, as for manifests: unknown fields, duplicate keys, wrong types, a missing
// required field, a bad URL or a currentContext that names no context are errors, every one
// reported as "file:line:col: field.path: message" (specs::Diagnostic). The file holds file
// names, never secrets: tokens are read from tokenFile when a command runs (connection_settings.h).
// Plain data and pure functions; thread-compatible.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"

namespace vmk::cli {

inline constexpr char kClientConfigApiVersion[] = "vmkeeper/v1";
inline constexpr char kClientConfigKind[] = "ClientConfig";
// A config file is a few contexts: anything larger is a mistake (a wrong file named).
inline constexpr size_t kMaxClientConfigBytes = 1024 * 1024;

struct ClientContext {
  std::string name;
  std::string server;  // http:// or https:// URL
  // File names, made absolute against the config file's directory. Empty = not set.
  std::string certificate_authority;
  std::string token_file;
  std::string client_certificate;
  std::string client_key;
  bool insecure_skip_tls_verify = false;
  std::string location;  // "file:line:col" of the context, for messages
};

struct ClientConfig {
  std::string file;  // the file it was read from
  std::vector<ClientContext> contexts;
  std::string current_context;  // empty = none

  // The context named `name`; nullptr when there is none.
  const ClientContext* Find(const std::string& name) const;
};

// Parses the text of a config file; `file_name` is used in messages and to make relative paths
// absolute. InvalidArgument listing every problem, one per line, in line order.
StatusOr<ClientConfig> ParseClientConfig(const std::string& text, const std::string& file_name);

// Reads and parses `path`. NotFound when it does not exist; InvalidArgument when it cannot be
// read, is larger than kMaxClientConfigBytes or does not parse.
StatusOr<ClientConfig> LoadClientConfigFile(const std::string& path);

// Checks a server URL as the CLI takes it: http:// or https://, a host, an optional port, no
// path, query, fragment or user info. The message says what is wrong ("must start with http://
// or https://").
Status ValidateServerUrl(const std::string& url);

// `url` with any user info ("user:password@") shown as "***@", for messages.
std::string RedactUserInfo(const std::string& url);

}  // namespace vmk::cli
