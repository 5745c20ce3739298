// ConnectionSettings: which vmkeeperd the CLI talks to and with which credentials, resolved from
// four sources, each setting on its own, the first that has it winning:
//
//   1. flags:        --server, --context, --token-file, --certificate-authority,
//                    --client-certificate, --client-key, --insecure-skip-tls-verify
//   2. environment:  $VMKEEPER_SERVER, $VMKEEPER_CONTEXT, $VMKEEPER_TOKEN or $VMKEEPER_TOKEN_FILE
//   3. config file:  the context chosen by --context, else $VMKEEPER_CONTEXT, else the file's
//                    currentContext (client_config.h)
//   4. default:      http://127.0.0.1:7480, no token
//
// The config file is --config, else $VMKEEPER_CONFIG, else ~/.config/vmkeeper/config.yaml
// ($XDG_CONFIG_HOME/vmkeeper/config.yaml when that is set). The default file may be missing (then
// only flags, environment and the default count); a file named by --config or $VMKEEPER_CONFIG
// must exist, and --context / $VMKEEPER_CONTEXT must name a context of it.
//
// Each setting records where it came from ("flag --server", "$VMKEEPER_TOKEN", "context prod
// (FILE)", "default") for `vmkeeper config view` and for messages. The bearer token is the only
// secret here: it is read from its file (or variable) once, checked to be one header-safe word,
// and never put in a message: Describe() masks it.
// Plain data and pure functions (they read files); thread-compatible.
#pragma once

#include <optional>
#include <string>

#include "common/status.h"

namespace vmk::cli {

inline constexpr char kDefaultServer[] = "http://127.0.0.1:7480";

// The flags, as given; empty / false = not given.
struct ConnectionFlags {
  std::string config;
  std::string server;
  std::string context;
  std::string token_file;
  std::string certificate_authority;
  std::string client_certificate;
  std::string client_key;
  bool insecure_skip_tls_verify = false;
};

// The environment variables; nullopt or empty = not set. default_config_file is where the
// config file is when neither --config nor $VMKEEPER_CONFIG says (computed from $HOME and
// $XDG_CONFIG_HOME by DefaultClientConfigPath); empty = no default file.
struct ConnectionEnvironment {
  std::optional<std::string> server;      // $VMKEEPER_SERVER
  std::optional<std::string> context;     // $VMKEEPER_CONTEXT
  std::optional<std::string> token;       // $VMKEEPER_TOKEN
  std::optional<std::string> token_file;  // $VMKEEPER_TOKEN_FILE
  std::optional<std::string> config;      // $VMKEEPER_CONFIG
  std::string default_config_file;
};

struct ConnectionSettings {
  std::string config_file;  // the file read; empty when none was
  std::string context;      // the context used; empty when none
  std::string context_from;
  std::string server = kDefaultServer;
  std::string server_from = "default";
  std::string bearer_token;  // secret; empty = none
  std::string token_from;    // "flag --token-file /path", "$VMKEEPER_TOKEN", ...
  std::string certificate_authority;
  std::string certificate_authority_from;
  std::string client_certificate;
  std::string client_key;
  std::string client_certificate_from;
  bool insecure_skip_tls_verify = false;
  std::string insecure_from;

  // The settings as YAML-like "key: value  # from" lines, the token masked.
  std::string Describe() const;
};

StatusOr<ConnectionSettings> ResolveConnectionSettings(const ConnectionFlags& flags,
                                                       const ConnectionEnvironment& env);

// $XDG_CONFIG_HOME/vmkeeper/config.yaml, else $HOME/.config/vmkeeper/config.yaml, else "".
std::string DefaultClientConfigPath(const std::optional<std::string>& xdg_config_home,
                                    const std::optional<std::string>& home);

// The token in a token file: its content without surrounding white space. InvalidArgument when
// the file cannot be read, is empty, or holds more than one word or a byte a header cannot carry;
// the message names the file, never the content.
StatusOr<std::string> ReadTokenFile(const std::string& path);
// Checks a token (from $VMKEEPER_TOKEN or a file): printable ASCII, no spaces. `source` names it
// in the message.
Status ValidateToken(const std::string& token, const std::string& source);

}  // namespace vmk::cli
