#include "cli/daemon_config.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cctype>
#include <cmath>

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <yaml-cpp/yaml.h>

#include "common/log.h"

namespace vmk::cli {
namespace {

std::string Where(const std::string& file, const YAML::Mark& mark) {
  if (mark.is_null()) return file;
  return file + ":" + std::to_string(mark.line + 1) + ":" + std::to_string(mark.column + 1);
}

Status ReadString(const YAML::Node& node, const std::string& file, const std::string& key,
                  std::string* out) {
  if (!node.IsScalar()) {
    return Status::InvalidArgument(Where(file, node.Mark()) + ": " + key + " must be a string");
  }
  *out = node.Scalar();
  return Status::Ok();
}

Status ReadInt(const YAML::Node& node, const std::string& file, const std::string& key,
               int64_t* out) {
  const std::string* text = node.IsScalar() ? &node.Scalar() : nullptr;
  int64_t value = 0;
  if (text != nullptr && !text->empty()) {
    auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), value);
    if (ec == std::errc() && end == text->data() + text->size()) {
      *out = value;
      return Status::Ok();
    }
  }
  return Status::InvalidArgument(Where(file, node.Mark()) + ": " + key + " must be an integer");
}

Status ReadNumber(const YAML::Node& node, const std::string& file, const std::string& key,
                  double* out) {
  const std::string* text = node.IsScalar() ? &node.Scalar() : nullptr;
  if (text != nullptr && !text->empty()) {
    double value = 0;
    auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), value);
    if (ec == std::errc() && end == text->data() + text->size() && std::isfinite(value)) {
      *out = value;
      return Status::Ok();
    }
  }
  return Status::InvalidArgument(Where(file, node.Mark()) + ": " + key + " must be a number");
}

Status ReadBool(const YAML::Node& node, const std::string& file, const std::string& key,
                bool* out) {
  if (node.IsScalar() && (node.Scalar() == "true" || node.Scalar() == "false")) {
    *out = node.Scalar() == "true";
    return Status::Ok();
  }
  return Status::InvalidArgument(Where(file, node.Mark()) + ": " + key +
                                 " must be true or false");
}

}  // namespace

std::string DaemonConfig::EffectiveEmbeddedHostDir() const {
  if (!embedded_host_dir.empty()) return embedded_host_dir;
  std::filesystem::path store(store_path);
  // "./state/store" -> "./state/embedded-hosts"; a trailing slash must not change the answer.
  if (!store.has_filename()) store = store.parent_path();
  return (store.parent_path() / "embedded-hosts").string();
}

Status DaemonConfig::Validate() const {
  if (store_path.empty()) return Status::InvalidArgument("store path must not be empty");
  auto listen_address = ParseListenAddress(listen);
  if (!listen_address.ok()) return listen_address.status();
  if (tls_cert.empty() != tls_key.empty()) {
    return Status::InvalidArgument("tlsCert and tlsKey must be given together");
  }
  if (!tls_client_ca.empty() && tls_cert.empty()) {
    return Status::InvalidArgument("tlsClientCa needs tlsCert and tlsKey (client certificates "
                                   "are asked for in the TLS handshake)");
  }
  if (audit_log_max_bytes < 4096) {
    return Status::InvalidArgument("auditLogMaxBytes must be at least 4096");
  }
  if (audit_log_max_files < 0 || audit_log_max_files > 1000) {
    return Status::InvalidArgument("auditLogMaxFiles must be between 0 and 1000");
  }
  if (!IsLoopbackHost(listen_address->host) && !insecure && (!tls() || token_file.empty())) {
    std::string missing = !tls() && token_file.empty() ? "TLS (tlsCert, tlsKey) and a tokens file"
                          : !tls()                    ? "TLS (tlsCert, tlsKey)"
                                                      : "a tokens file (tokenFile)";
    return Status::InvalidArgument(
        "listen address " + listen + " is not loopback: serving the API beyond this machine needs "
        "TLS and authentication, and " + missing +
        (!tls() && token_file.empty() ? " are" : " is") + " not configured (flags --tls-cert, "
        "--tls-key, --token-file); set insecure (--insecure) to serve it without them anyway");
  }
  if (resync_seconds < 1) return Status::InvalidArgument("resyncSeconds must be at least 1");
  if (heartbeat_interval_ms < 50 || heartbeat_interval_ms > 600'000) {
    return Status::InvalidArgument("heartbeatIntervalMs must be between 50 and 600000");
  }
  if (heartbeat_failures < 1 || heartbeat_failures > 100) {
    return Status::InvalidArgument("heartbeatFailures must be between 1 and 100");
  }
  if (heartbeat_timeout_ms < 10 || heartbeat_timeout_ms >= heartbeat_interval_ms) {
    return Status::InvalidArgument(
        "heartbeatTimeoutMs must be at least 10 and below heartbeatIntervalMs (a hung host's "
        "unanswered beat must fail before the next one is due)");
  }
  if (alert_host_label.empty() || alert_vm_label.empty()) {
    return Status::InvalidArgument("alertHostLabel and alertVmLabel must not be empty");
  }
  if (workers < 1 || workers > 256) {
    return Status::InvalidArgument("workers must be between 1 and 256");
  }
  log::Level level;
  if (!log::ParseLevel(log_level, &level)) {
    return Status::InvalidArgument("logLevel must be one of debug, info, warning, error (got \"" +
                                   log_level + "\")");
  }
  if (max_body_bytes < 1024) return Status::InvalidArgument("maxBodyBytes must be at least 1024");
  if (max_connections < 8 || max_connections > 100000) {
    return Status::InvalidArgument("maxConnections must be between 8 and 100000");
  }
  if (max_in_flight < 1 || max_in_flight > 10000) {
    return Status::InvalidArgument("maxInFlight must be between 1 and 10000");
  }
  if (request_timeout_seconds < 1 || request_timeout_seconds > 3600) {
    return Status::InvalidArgument("requestTimeoutSeconds must be between 1 and 3600");
  }
  if (idle_timeout_seconds < 1 || idle_timeout_seconds > 86400) {
    return Status::InvalidArgument("idleTimeoutSeconds must be between 1 and 86400");
  }
  if (!(write_rate_limit >= 0 && write_rate_limit <= 10000)) {
    return Status::InvalidArgument(
        "writeRateLimit must be between 0 (no limit) and 10000 writes per second");
  }
  if (write_burst < 1 || write_burst > 100000) {
    return Status::InvalidArgument("writeBurst must be between 1 and 100000");
  }
  for (const std::string& host : allowed_hosts) {
    const bool ok = host == "*" || (!host.empty() && host.size() <= 253 &&
                                    host.find_first_not_of("abcdefghijklmnopqrstuvwxyz"
                                                           "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                                           "0123456789-.") == std::string::npos);
    if (!ok) {
      return Status::InvalidArgument("allowedHosts: \"" + host +
                                     "\" is not a host name (no port, no scheme; or \"*\")");
    }
  }
  // Label keys become Prometheus label names label_<key>: a bounded, known set (never every
  // label of every VM), each a Kubernetes-style label key.
  if (metrics_vm_labels.size() > 16) {
    return Status::InvalidArgument("metricsVmLabels: at most 16 label keys");
  }
  for (const std::string& key : metrics_vm_labels) {
    const bool ok = !key.empty() && key.size() <= 63 &&
                    std::isalnum(static_cast<unsigned char>(key.front())) &&
                    std::isalnum(static_cast<unsigned char>(key.back())) &&
                    key.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                          "0123456789-_./") == std::string::npos;
    if (!ok) {
      return Status::InvalidArgument("metricsVmLabels: \"" + key + "\" is not a label key");
    }
  }
  return Status::Ok();
}

Status ParseDaemonConfig(const std::string& text, const std::string& file_name,
                         DaemonConfig* config) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    return Status::InvalidArgument(Where(file_name, e.mark) + ": " + e.msg);
  }
  if (root.IsNull()) return Status::Ok();
  if (!root.IsMap()) {
    return Status::InvalidArgument(Where(file_name, root.Mark()) +
                                   ": config must be a mapping of settings");
  }
  DaemonConfig updated = *config;
  try {
    for (const auto& entry : root) {
      if (!entry.first.IsScalar()) {
        return Status::InvalidArgument(Where(file_name, entry.first.Mark()) +
                                       ": keys must be strings");
      }
      const std::string key = entry.first.Scalar();
      const YAML::Node& value = entry.second;
      int64_t number = 0;
      if (key == "storePath") {
        VMK_RETURN_IF_ERROR(ReadString(value, file_name, key, &updated.store_path));
      } else if (key == "listen") {
        VMK_RETURN_IF_ERROR(ReadString(value, file_name, key, &updated.listen));
      } else if (key == "logLevel") {
        VMK_RETURN_IF_ERROR(ReadString(value, file_name, key, &updated.log_level));
      } else if (key == "embeddedHostDir") {
        VMK_RETURN_IF_ERROR(ReadString(value, file_name, key, &updated.embedded_host_dir));
      } else if (key == "alertHostLabel") {
        VMK_RETURN_IF_ERROR(ReadString(value, file_name, key, &updated.alert_host_label));
      } else if (key == "notifyUrl") {
        VMK_RETURN_IF_ERROR(ReadString(value, file_name, key, &updated.notify_url));
      } else if (key == "tokenFile") {
        VMK_RETURN_IF_ERROR(ReadString(value, file_name, key, &updated.token_file));
      } else if (key == "tlsCert") {
        VMK_RETURN_IF_ERROR(ReadString(value, file_name, key, &updated.tls_cert));
      } else if (key == "tlsKey") {
        VMK_RETURN_IF_ERROR(ReadString(value, file_name, key, &updated.tls_key));
      } else if (key == "tlsClientCa") {
        VMK_RETURN_IF_ERROR(ReadString(value, file_name, key, &updated.tls_client_ca));
      } else if (key == "auditLog") {
        VMK_RETURN_IF_ERROR(ReadString(value, file_name, key, &updated.audit_log));
      } else if (key == "insecure") {
        VMK_RETURN_IF_ERROR(ReadBool(value, file_name, key, &updated.insecure));
      } else if (key == "auditLogMaxBytes" || key == "auditLogMaxFiles") {
        VMK_RETURN_IF_ERROR(ReadInt(value, file_name, key, &number));
        if (number < 0 || number > (int64_t{1} << 50)) {
          return Status::InvalidArgument(Where(file_name, value.Mark()) + ": " + key +
                                         " is out of range");
        }
        if (key == "auditLogMaxBytes") updated.audit_log_max_bytes = number;
        if (key == "auditLogMaxFiles") updated.audit_log_max_files = static_cast<int>(std::min<int64_t>(number, 1'000'000));
      } else if (key == "alertVmLabel") {
        VMK_RETURN_IF_ERROR(ReadString(value, file_name, key, &updated.alert_vm_label));
      } else if (key == "fenceAgentDirs" || key == "metricsVmLabels" || key == "allowedHosts") {
        const bool dirs = key == "fenceAgentDirs";
        const bool hosts = key == "allowedHosts";
        if (!value.IsSequence()) {
          return Status::InvalidArgument(Where(file_name, value.Mark()) + ": " + key +
                                         (dirs    ? " must be a list of directories"
                                          : hosts ? " must be a list of host names"
                                                  : " must be a list of label keys"));
        }
        std::vector<std::string>& list = dirs    ? updated.fence_agent_dirs
                                         : hosts ? updated.allowed_hosts
                                                 : updated.metrics_vm_labels;
        list.clear();
        for (const auto& item : value) {
          std::string text;
          VMK_RETURN_IF_ERROR(ReadString(item, file_name, key, &text));
          list.push_back(text);
        }
      } else if (key == "heartbeatIntervalMs" || key == "heartbeatFailures" ||
                 key == "heartbeatTimeoutMs") {
        VMK_RETURN_IF_ERROR(ReadInt(value, file_name, key, &number));
        if (number < 0 || number > 3'600'000) {
          return Status::InvalidArgument(Where(file_name, value.Mark()) + ": " + key +
                                         " is out of range");
        }
        if (key == "heartbeatIntervalMs") updated.heartbeat_interval_ms = static_cast<int>(number);
        if (key == "heartbeatFailures") updated.heartbeat_failures = static_cast<int>(number);
        if (key == "heartbeatTimeoutMs") updated.heartbeat_timeout_ms = static_cast<int>(number);
      } else if (key == "maxConnections" || key == "maxInFlight" ||
                 key == "requestTimeoutSeconds" || key == "idleTimeoutSeconds") {
        VMK_RETURN_IF_ERROR(ReadInt(value, file_name, key, &number));
        if (number < 0 || number > 1'000'000) {
          return Status::InvalidArgument(Where(file_name, value.Mark()) + ": " + key +
                                         " is out of range");
        }
        const int n = static_cast<int>(number);
        if (key == "maxConnections") updated.max_connections = n;
        if (key == "maxInFlight") updated.max_in_flight = n;
        if (key == "requestTimeoutSeconds") updated.request_timeout_seconds = n;
        if (key == "idleTimeoutSeconds") updated.idle_timeout_seconds = n;
      } else if (key == "writeRateLimit") {
        VMK_RETURN_IF_ERROR(ReadNumber(value, file_name, key, &updated.write_rate_limit));
      } else if (key == "writeBurst") {
        VMK_RETURN_IF_ERROR(ReadInt(value, file_name, key, &number));
        if (number < 0 || number > 1'000'000) {
          return Status::InvalidArgument(Where(file_name, value.Mark()) + ": " + key +
                                         " is out of range");
        }
        updated.write_burst = static_cast<int>(number);
      } else if (key == "resyncSeconds" || key == "workers" || key == "maxBodyBytes") {
        VMK_RETURN_IF_ERROR(ReadInt(value, file_name, key, &number));
        if (number < 0 || number > (int64_t{1} << 40)) {
          return Status::InvalidArgument(Where(file_name, value.Mark()) + ": " + key +
                                         " is out of range");
        }
        if (key == "resyncSeconds") updated.resync_seconds = static_cast<int>(number);
        if (key == "workers") updated.workers = static_cast<int>(number);
        if (key == "maxBodyBytes") updated.max_body_bytes = static_cast<size_t>(number);
      } else {
        return Status::InvalidArgument(
            Where(file_name, entry.first.Mark()) + ": unknown setting \"" + key +
            "\" (known: storePath, listen, resyncSeconds, workers, logLevel, embeddedHostDir, "
            "maxBodyBytes, heartbeatIntervalMs, heartbeatFailures, heartbeatTimeoutMs, fenceAgentDirs, "
            "alertHostLabel, alertVmLabel, notifyUrl, metricsVmLabels, allowedHosts, "
            "maxConnections, maxInFlight, requestTimeoutSeconds, idleTimeoutSeconds, "
            "writeRateLimit, writeBurst, tokenFile, "
            "tlsCert, tlsKey, tlsClientCa, insecure, auditLog, auditLogMaxBytes, "
            "auditLogMaxFiles)");
      }
    }
  } catch (const YAML::Exception& e) {
    return Status::InvalidArgument(Where(file_name, e.mark) + ": " + e.msg);
  }
  Status valid = updated.Validate();
  if (!valid.ok()) return Status::InvalidArgument(file_name + ": " + valid.message());
  *config = std::move(updated);
  return Status::Ok();
}

Status LoadDaemonConfigFile(const std::string& path, DaemonConfig* config) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::InvalidArgument(path + ": cannot read config file");
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return Status::InvalidArgument(path + ": cannot read config file");
  return ParseDaemonConfig(text.str(), path, config);
}

std::string ListenAddress::ToString() const {
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

StatusOr<ListenAddress> ParseListenAddress(const std::string& text) {
  auto bad = [&](const std::string& why) {
    return Status::InvalidArgument("listen address \"" + text + "\" " + why +
                                   " (expected host:port, e.g. 127.0.0.1:7480)");
  };
  ListenAddress out;
  std::string port_text;
  if (!text.empty() && text.front() == '[') {
    size_t close = text.find(']');
    if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return bad("is malformed");
    }
    out.host = text.substr(1, close - 1);
    port_text = text.substr(close + 2);
  } else {
    size_t colon = text.rfind(':');
    if (colon == std::string::npos) return bad("has no port");
    out.host = text.substr(0, colon);
    if (out.host.find(':') != std::string::npos) return bad("must bracket IPv6 hosts");
    port_text = text.substr(colon + 1);
  }
  if (out.host.empty()) return bad("has no host");
  int port = -1;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (port_text.empty() || ec != std::errc() || end != port_text.data() + port_text.size() ||
      port < 0 || port > 65535) {
    return bad("has an invalid port");
  }
  out.port = port;
  return out;
}

}  // namespace vmk::cli
