#include "cli/connection_settings.h"

#include <algorithm>
#include <fstream>
#include <sstream>
#include <vector>

#include "cli/client_config.h"

namespace vmk::cli {
namespace {

bool Given(const std::optional<std::string>& value) { return value && !value->empty(); }

// A token is sent as "Authorization: Bearer <token>": more than 64 KiB is not a token.
constexpr size_t kMaxTokenBytes = 64 * 1024;

std::string Trim(const std::string& text) {
  const char* space = " \t\r\n";
  size_t begin = text.find_first_not_of(space);
  if (begin == std::string::npos) return "";
  size_t end = text.find_last_not_of(space);
  return text.substr(begin, end - begin + 1);
}

}  // namespace

Status ValidateToken(const std::string& token, const std::string& source) {
  if (token.empty()) return Status::InvalidArgument(source + ": the token is empty");
  if (token.size() > kMaxTokenBytes) {
    return Status::InvalidArgument(source + ": the token is longer than " +
                                   std::to_string(kMaxTokenBytes) + " bytes");
  }
  for (size_t i = 0; i < token.size(); ++i) {
    const auto byte = static_cast<unsigned char>(token[i]);
    if (byte <= 0x20 || byte >= 0x7f) {
      // The position, never the byte or the token: a message must not leak any of it.
      return Status::InvalidArgument(
          source + ": the token must be one word of printable ASCII; byte " +
          std::to_string(i + 1) + " is a space, a control character or not ASCII");
    }
  }
  return Status::Ok();
}

StatusOr<std::string> ReadTokenFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::InvalidArgument("token file " + path + ": cannot read it");
  std::string text;
  char buffer[4096];
  while (in.read(buffer, sizeof buffer) || in.gcount() > 0) {
    text.append(buffer, static_cast<size_t>(in.gcount()));
    if (text.size() > kMaxTokenBytes + 2) break;
  }
  if (in.bad()) return Status::InvalidArgument("token file " + path + ": cannot read it");
  std::string token = Trim(text);
  VMK_RETURN_IF_ERROR(ValidateToken(token, "token file " + path));
  return token;
}

std::string DefaultClientConfigPath(const std::optional<std::string>& xdg_config_home,
                                    const std::optional<std::string>& home) {
  if (Given(xdg_config_home)) return *xdg_config_home + "/vmkeeper/config.yaml";
  if (Given(home)) return *home + "/.config/vmkeeper/config.yaml";
  return "";
}

StatusOr<ConnectionSettings> ResolveConnectionSettings(const ConnectionFlags& flags,
                                                       const ConnectionEnvironment& env) {
  ConnectionSettings out;

  // The config file: named ones must exist, the default one may be missing.
  std::string config_path = env.default_config_file;
  std::string config_from;
  if (!flags.config.empty()) {
    config_path = flags.config;
    config_from = "--config";
  } else if (Given(env.config)) {
    config_path = *env.config;
    config_from = "$VMKEEPER_CONFIG";
  }
  std::optional<ClientConfig> config;
  if (!config_path.empty()) {
    StatusOr<ClientConfig> loaded = LoadClientConfigFile(config_path);
    if (loaded.ok()) {
      config = std::move(loaded).value();
      out.config_file = config_path;
    } else if (loaded.status().code() != StatusCode::kNotFound) {
      return loaded.status();
    } else if (!config_from.empty()) {
      return Status::InvalidArgument("config file " + config_path + " (from " + config_from +
                                     ") does not exist");
    }
  }

  // The context.
  std::string context_name;
  if (!flags.context.empty()) {
    context_name = flags.context;
    out.context_from = "--context";
  } else if (Given(env.context)) {
    context_name = *env.context;
    out.context_from = "$VMKEEPER_CONTEXT";
  } else if (config && !config->current_context.empty()) {
    context_name = config->current_context;
    out.context_from = "currentContext in " + config->file;
  }
  const ClientContext* context = nullptr;
  if (!context_name.empty()) {
    if (!config) {
      return Status::InvalidArgument(
          "context \"" + context_name + "\" (from " + out.context_from + "): no config file (" +
          (config_path.empty() ? std::string("none configured") : config_path + " does not exist") +
          ")");
    }
    context = config->Find(context_name);
    if (context == nullptr) {
      std::string names;
      for (const ClientContext& c : config->contexts) {
        names += (names.empty() ? "" : ", ") + c.name;
      }
      return Status::InvalidArgument("context \"" + context_name + "\" (from " +
                                     out.context_from + ") is not in " + config->file +
                                     " (contexts: " + (names.empty() ? "none" : names) + ")");
    }
    out.context = context_name;
  }
  const std::string from_context =
      context ? "context " + context->name + " in " + config->file : std::string();

  // The server.
  if (!flags.server.empty()) {
    out.server = flags.server;
    out.server_from = "--server";
  } else if (Given(env.server)) {
    out.server = *env.server;
    out.server_from = "$VMKEEPER_SERVER";
  } else if (context) {
    out.server = context->server;
    out.server_from = from_context;
  }
  // The config file's servers were checked when it was read; a flag's or the environment's is
  // checked here, before it reaches a message or `config view` (a "user:password@" in it would
  // be printed).
  if (out.server_from == "--server" || out.server_from == "$VMKEEPER_SERVER") {
    if (Status valid = ValidateServerUrl(out.server); !valid.ok()) {
      return Status::InvalidArgument(out.server_from + " " + valid.message());
    }
  }

  // The bearer token.
  if (!flags.token_file.empty()) {
    VMK_ASSIGN_OR_RETURN(out.bearer_token, ReadTokenFile(flags.token_file));
    out.token_from = "--token-file " + flags.token_file;
  } else if (Given(env.token) && Given(env.token_file)) {
    return Status::InvalidArgument(
        "both $VMKEEPER_TOKEN and $VMKEEPER_TOKEN_FILE are set: set one of them");
  } else if (Given(env.token)) {
    VMK_RETURN_IF_ERROR(ValidateToken(*env.token, "$VMKEEPER_TOKEN"));
    out.bearer_token = *env.token;
    out.token_from = "$VMKEEPER_TOKEN";
  } else if (Given(env.token_file)) {
    VMK_ASSIGN_OR_RETURN(out.bearer_token, ReadTokenFile(*env.token_file));
    out.token_from = "$VMKEEPER_TOKEN_FILE " + *env.token_file;
  } else if (context && !context->token_file.empty()) {
    VMK_ASSIGN_OR_RETURN(out.bearer_token, ReadTokenFile(context->token_file));
    out.token_from = from_context + " (tokenFile " + context->token_file + ")";
  }

  // TLS.
  if (!flags.certificate_authority.empty()) {
    out.certificate_authority = flags.certificate_authority;
    out.certificate_authority_from = "--certificate-authority";
  } else if (context && !context->certificate_authority.empty()) {
    out.certificate_authority = context->certificate_authority;
    out.certificate_authority_from = from_context;
  }
  if (flags.client_certificate.empty() != flags.client_key.empty()) {
    return Status::InvalidArgument(
        "--client-certificate and --client-key must be given together");
  }
  if (!flags.client_certificate.empty()) {
    out.client_certificate = flags.client_certificate;
    out.client_key = flags.client_key;
    out.client_certificate_from = "--client-certificate and --client-key";
  } else if (context && !context->client_certificate.empty()) {
    out.client_certificate = context->client_certificate;
    out.client_key = context->client_key;
    out.client_certificate_from = from_context;
  }
  if (flags.insecure_skip_tls_verify) {
    out.insecure_skip_tls_verify = true;
    out.insecure_from = "--insecure-skip-tls-verify";
  } else if (context && context->insecure_skip_tls_verify) {
    out.insecure_skip_tls_verify = true;
    out.insecure_from = from_context;
  }
  if (out.insecure_skip_tls_verify && !out.certificate_authority.empty()) {
    return Status::InvalidArgument(
        "a certificate authority (from " + out.certificate_authority_from +
        ") and skipping TLS verification (from " + out.insecure_from +
        ") exclude each other: drop one");
  }
  return out;
}

std::string ConnectionSettings::Describe() const {
  std::vector<std::pair<std::string, std::string>> lines;  // "key: value", from
  lines.emplace_back("config: " + (config_file.empty() ? std::string("none") : config_file), "");
  lines.emplace_back("context: " + (context.empty() ? std::string("none") : context),
                     context_from);
  lines.emplace_back("server: " + server, server_from);
  // The token is never shown, not even its length.
  lines.emplace_back(std::string("token: ") + (bearer_token.empty() ? "none" : "<masked>"),
                     token_from);
  if (!certificate_authority.empty()) {
    lines.emplace_back("certificateAuthority: " + certificate_authority,
                       certificate_authority_from);
  }
  if (!client_certificate.empty()) {
    lines.emplace_back("clientCertificate: " + client_certificate, client_certificate_from);
    lines.emplace_back("clientKey: " + client_key, client_certificate_from);
  }
  if (insecure_skip_tls_verify) lines.emplace_back("insecureSkipTlsVerify: true", insecure_from);
  size_t width = 0;
  for (const auto& [text, from] : lines) width = std::max(width, text.size());
  std::ostringstream out;
  for (const auto& [text, from] : lines) {
    out << text;
    if (!from.empty()) out << std::string(width - text.size() + 2, ' ') << "# from " << from;
    out << "\n";
  }
  return out.str();
}

}  // namespace vmk::cli
