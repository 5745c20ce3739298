// DaemonConfig: the settings of vmkeeperd, from defaults, then a config file (YAML or JSON),
// then command-line flags. Also the parser of "host:port" listen addresses, shared with the
// HTTP server. Plain data and pure functions, thread-compatible.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "common/net_address.h"

namespace vmk::cli {

struct DaemonConfig {
  std::string store_path = "./vmkeeper-state/store";
  std::string listen = "127.0.0.1:7480";
  int resync_seconds = 30;
  int workers = 4;
  std::string log_level = "info";
  // Empty = <store_path>/../embedded-hosts (see EffectiveEmbeddedHostDir).
  std::string embedded_host_dir;
  // Requests with a larger body are refused with 413.
  size_t max_body_bytes = 8 * 1024 * 1024;
  // The API's edge (docs/http-edge.md): Host names accepted besides IP literals and localhost
  // ("*" = any); open connections; requests handled at once (more get 429); how long a request
  // may take to arrive from its first byte, and a connection may stay idle.
  std::vector<std::string> allowed_hosts;
  int max_connections = 256;
  int max_in_flight = 32;
  int request_timeout_seconds = 30;
  int idle_timeout_seconds = 60;
  // Writes (apply, diff, delete, snapshot, rollback) per second and burst per credential, or
  // per client address without a tokens file (docs/security.md); more get 429. 0 = no limit.
  double write_rate_limit = 5;
  int write_burst = 20;
  // API security (docs/security.md). The tokens file (credentials and roles); empty = no
  // authentication, everyone is the anonymous admin.
  std::string token_file;
  // TLS: PEM certificate chain and key; with a client CA bundle, client certificates are
  // required and verified.
  std::string tls_cert;
  std::string tls_key;
  std::string tls_client_ca;
  // Serve a non-loopback listen address without TLS and authentication anyway.
  bool insecure = false;
  // JSON lines of every write and refusal; empty = none. Rotated past max bytes, keeping
  // max files old ones (PATH.1 ..).
  std::string audit_log;
  int64_t audit_log_max_bytes = 100 * 1024 * 1024;
  int audit_log_max_files = 5;
  // Host heartbeats: NotReady after `heartbeat_failures` failures spanning their intervals.
  int heartbeat_interval_ms = 1000;
  int heartbeat_failures = 3;
  // The longest one heartbeat waits for its answer (below the interval).
  int heartbeat_timeout_ms = 500;
  // Where fence agents named without a path (fence_ipmilan) are looked up, in order.
  std::vector<std::string> fence_agent_dirs = {"/usr/sbin", "/usr/local/sbin"};
  // Alertmanager labels that name a host or a VM.
  std::string alert_host_label = "vmkeeper_host";
  std::string alert_vm_label = "vmkeeper_vm";
  // http://host:port/path that gets a JSON POST for every failure and recovery; empty = none.
  std::string notify_url;
  // VM metadata labels exported in vmkeeper_vm_labels (per-service availability in PromQL).
  std::vector<std::string> metrics_vm_labels = {"service"};

  // The embedded host directory, defaulted from the store path when not set.
  std::string EffectiveEmbeddedHostDir() const;
  // Range and syntax checks of every field; InvalidArgument naming the field. A listen address
  // that is not loopback needs TLS and a tokens file, or insecure.
  Status Validate() const;
  bool tls() const { return !tls_cert.empty(); }
};

// Overlays the keys of the config file `path` on *config. Keys: storePath, listen,
// resyncSeconds, workers, logLevel, embeddedHostDir, maxBodyBytes, heartbeatIntervalMs,
// heartbeatFailures, heartbeatTimeoutMs, fenceAgentDirs (list), alertHostLabel, alertVmLabel, notifyUrl,
// metricsVmLabels (list), allowedHosts (list), maxConnections, maxInFlight,
// requestTimeoutSeconds, idleTimeoutSeconds, writeRateLimit (a number), writeBurst, tokenFile, tlsCert, tlsKey, tlsClientCa,
// insecure (boolean), auditLog, auditLogMaxBytes, auditLogMaxFiles. Unknown keys, wrong types and
// unreadable files are InvalidArgument errors whose message starts with the file name
// (and line:col when known). An empty file changes nothing.
Status LoadDaemonConfigFile(const std::string& path, DaemonConfig* config);
// Same, from text already read; `file_name` is used in messages.
Status ParseDaemonConfig(const std::string& text, const std::string& file_name,
                         DaemonConfig* config);

struct ListenAddress {
  std::string host;  // without brackets for IPv6 literals
  int port = 0;      // 0 = pick a free port

  // "127.0.0.1:7480", "[::1]:7480"
  std::string ToString() const;
};

// Parses "host:port" or "[v6]:port"; port 0..65535.
StatusOr<ListenAddress> ParseListenAddress(const std::string& text);
// Whether a listen host is loopback: vmk::IsLoopbackHost (common/net_address.h).
using vmk::IsLoopbackHost;

}  // namespace vmk::cli
