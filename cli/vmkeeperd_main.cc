// vmkeeperd: the vmkeeper controller with its REST API.
//
//   vmkeeperd [--config FILE] [--store PATH] [--listen HOST:PORT] [--resync-seconds N]
//             [--workers N] [--log-level LEVEL] [--embedded-host-dir DIR] [--ready-file PATH]
//             [--check-config] [--token-file PATH] [--tls-cert PEM --tls-key PEM]
//             [--tls-client-ca PEM] [--insecure] [--audit-log PATH] [--audit-log-max-bytes N]
//             [--audit-log-max-files N] [--write-rate-limit PER_SECOND] [--write-burst N]
//   vmkeeperd --hash-token < token    prints the "sha256:..." of a tokens file entry
//
// Flags override the config file, which overrides the defaults (cli/daemon_config.h).
// --check-config reads and validates them, prints "<file>: ok" and exits 0, or prints the
// error (file:line:col when known) and exits 2, without starting anything.
// With --ready-file the daemon writes "host:port\n" there once it serves requests (and removes
// it on shutdown), so scripts and tests can start it with --listen 127.0.0.1:0 and find the port.
// Under systemd (Type=notify) it sends READY=1 at that same point, STOPPING=1 on shutdown and,
// with WatchdogSec=, WATCHDOG=1 while its API answers (cli/service_notifier.h,
// cli/service_watchdog.h).
// SIGTERM/SIGINT stop it cleanly: the controller first, then the listener, then the store.
// SIGHUP reads the tokens file and the TLS files again (docs/security.md); a file that does not
// load leaves what is in force as it was, with an error in the log.
// A listen address that is not loopback is refused without TLS and a tokens file, unless
// --insecure (then a warning says so at every start).
#include <malloc.h>
#include <signal.h>

#include <algorithm>
#include <cctype>
#include <iterator>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>

#include <CLI/CLI.hpp>

#include "cli/api_guard.h"
#include "cli/api_router.h"
#include "cli/audit_log.h"
#include "cli/daemon_config.h"
#include "cli/http_server.h"
#include "cli/rate_limiter.h"
#include "cli/service_notifier.h"
#include "cli/service_watchdog.h"
#include "cli/token_authenticator.h"
#include "common/http/http_client.h"
#include "common/clock.h"
#include "common/log.h"
#include "metrics/api_metrics.h"
#include "providers/fencing/fence_agent_fencer.h"
#include "providers/hypervisor/libvirt/libvirt_hypervisor.h"
#include "providers/notify/webhook_notifier.h"
#include "reconciler/controller/controller.h"
#include "reconciler/store/rocksdb_store.h"

namespace {

namespace fs = std::filesystem;
using vmk::Status;

// Written to a temporary name and renamed, so a reader never sees half an address.
Status WriteReadyFile(const std::string& path, const std::string& address) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << address << "\n";
    out.close();
    if (!out) return Status::Internal("cannot write " + tmp);
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) return Status::Internal("cannot rename " + tmp + " to " + path + ": " + ec.message());
  return Status::Ok();
}

int Fail(const std::string& what, const Status& status) {
  vmk::log::Error(what, {{"error", status.message()}});
  return 1;
}

// The flags, over the config file, over the defaults (cli/daemon_config.h). Returns the exit code
// when the program ends here (help, bad flags or config), else nullopt.
std::optional<int> ReadConfig(int argc, char** argv, vmk::cli::DaemonConfig* config,
                              std::string* ready_file) {
  bool check_config = false;
  vmk::cli::DaemonConfig defaults;
  std::string config_file;
  std::string store_path, listen, log_level, embedded_host_dir;
  int resync_seconds = 0, workers = 0, heartbeat_interval_ms = 0, heartbeat_failures = 0;
  int heartbeat_timeout_ms = 0;
  std::vector<std::string> fence_agent_dirs;
  std::string notify_url;
  std::vector<std::string> metrics_vm_labels;
  size_t max_body_bytes = 0;
  std::vector<std::string> allowed_hosts;
  int max_connections = 0, max_in_flight = 0, request_timeout_seconds = 0, idle_timeout_seconds = 0;
  double write_rate_limit = 0;
  int write_burst = 0;
  std::string token_file, tls_cert, tls_key, tls_client_ca, audit_log;
  bool insecure = false, hash_token = false;
  int64_t audit_log_max_bytes = 0;
  int audit_log_max_files = 0;

  CLI::App app{"vmkeeperd: keeps the declared VMs running on their libvirt hosts", "vmkeeperd"};
  app.add_option("--config", config_file, "Config file (YAML or JSON)");
  auto* store_opt = app.add_option("--store", store_path,
                                   "RocksDB directory (default " + defaults.store_path + ")");
  auto* listen_opt = app.add_option("--listen", listen,
                                    "REST API address host:port; port 0 picks one (default " +
                                        defaults.listen + ")");
  auto* resync_opt = app.add_option("--resync-seconds", resync_seconds,
                                    "Full resync period (default 30)");
  auto* workers_opt = app.add_option("--workers", workers, "Reconcile workers (default 4)");
  auto* level_opt = app.add_option("--log-level", log_level, "debug|info|warning|error");
  auto* embedded_opt = app.add_option(
      "--embedded-host-dir", embedded_host_dir,
      "Directory of embedded test hosts (default <store>/../embedded-hosts)");
  auto* body_opt = app.add_option("--max-body-bytes", max_body_bytes,
                                  "Largest accepted request body (default 8 MiB)");
  auto* allowed_hosts_opt = app.add_option(
      "--allowed-host", allowed_hosts,
      "A Host header name the API answers besides IP addresses and localhost (repeatable; * = any)");
  auto* max_connections_opt = app.add_option("--max-connections", max_connections,
                                             "Open API connections (default 256)");
  auto* max_in_flight_opt = app.add_option(
      "--max-in-flight", max_in_flight, "API requests handled at once; more get 429 (default 32)");
  auto* request_timeout_opt = app.add_option(
      "--request-timeout-seconds", request_timeout_seconds,
      "A request's head and body must arrive within this time (default 30)");
  auto* idle_timeout_opt = app.add_option("--idle-timeout-seconds", idle_timeout_seconds,
                                          "Idle API connections are closed after (default 60)");
  auto* write_rate_opt = app.add_option(
      "--write-rate-limit", write_rate_limit,
      "API writes per second per credential (per client address without --token-file); more "
      "get 429; 0 = no limit (default 5)");
  auto* write_burst_opt = app.add_option(
      "--write-burst", write_burst,
      "Writes a credential may make at once above --write-rate-limit (default 20)");
  auto* hb_interval_opt = app.add_option("--heartbeat-interval-ms", heartbeat_interval_ms,
                                         "Host heartbeat interval (default 1000)");
  auto* hb_failures_opt = app.add_option(
      "--heartbeat-failures", heartbeat_failures,
      "Failed heartbeats that make a host NotReady and start its failover (default 3)");
  auto* hb_timeout_opt = app.add_option(
      "--heartbeat-timeout-ms", heartbeat_timeout_ms,
      "Longest one heartbeat waits for its answer, below the interval (default 500)");
  auto* fence_dirs_opt = app.add_option("--fence-agent-dir", fence_agent_dirs,
                                        "Where bare fence agent names are looked up (repeatable; "
                                        "default /usr/sbin, /usr/local/sbin)");
  auto* notify_opt = app.add_option("--notify-url", notify_url,
                                    "http://host:port/path: JSON POST for every failure and "
                                    "recovery (admin notifications)");
  auto* vm_labels_opt = app.add_option(
      "--metrics-vm-label", metrics_vm_labels,
      "A VM label exported in vmkeeper_vm_labels as label_<key> (repeatable; default: service)");
  auto* token_file_opt = app.add_option(
      "--token-file", token_file,
      "Credentials file: NAME ROLE sha256:HEX|file:PATH per line (docs/security.md); without "
      "it the API asks for no credentials");
  auto* tls_cert_opt = app.add_option("--tls-cert", tls_cert,
                                      "PEM certificate chain of the API (https); needs --tls-key");
  auto* tls_key_opt = app.add_option("--tls-key", tls_key, "PEM private key of --tls-cert");
  auto* tls_client_ca_opt = app.add_option(
      "--tls-client-ca", tls_client_ca,
      "PEM CA bundle: clients must present a certificate it signed");
  auto* insecure_opt = app.add_flag(
      "--insecure", insecure,
      "Serve a non-loopback --listen address without TLS and authentication anyway");
  auto* audit_log_opt = app.add_option(
      "--audit-log", audit_log, "Append a JSON line per write and per refused request here");
  auto* audit_bytes_opt = app.add_option("--audit-log-max-bytes", audit_log_max_bytes,
                                         "Rotate the audit log at this size (default 100 MiB)");
  auto* audit_files_opt = app.add_option("--audit-log-max-files", audit_log_max_files,
                                         "Rotated audit logs kept, PATH.1.. (default 5)");
  app.add_flag("--hash-token", hash_token,
               "Read a token on stdin, print its tokens-file secret sha256:HEX and exit");
  app.add_option("--ready-file", *ready_file,
                 "Write host:port here once listening (removed on shutdown)");
  app.add_flag("--check-config", check_config,
               "Validate the config file and flags, print the result and exit (0 ok, 2 error)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }

  if (hash_token) {
    std::string token((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
    while (!token.empty() && std::isspace(static_cast<unsigned char>(token.back()))) token.pop_back();
    if (token.size() < 16 || !vmk::cli::IsTokenText(token)) {
      std::cerr << "vmkeeperd: a token must have at least 16 characters of letters, digits and "
                   "-._~+/ (then = only at the end: RFC 6750), or no client could send it\n";
      return 2;
    }
    std::cout << "sha256:" << vmk::cli::Sha256Hex(token) << "\n";
    return 0;
  }
  if (!config_file.empty()) {
    Status loaded = vmk::cli::LoadDaemonConfigFile(config_file, config);
    if (!loaded.ok()) {
      std::cerr << "vmkeeperd: " << loaded.message() << "\n";
      return 2;
    }
  }
  if (store_opt->count() > 0) config->store_path = store_path;
  if (listen_opt->count() > 0) config->listen = listen;
  if (resync_opt->count() > 0) config->resync_seconds = resync_seconds;
  if (workers_opt->count() > 0) config->workers = workers;
  if (level_opt->count() > 0) config->log_level = log_level;
  if (embedded_opt->count() > 0) config->embedded_host_dir = embedded_host_dir;
  if (body_opt->count() > 0) config->max_body_bytes = max_body_bytes;
  if (allowed_hosts_opt->count() > 0) config->allowed_hosts = allowed_hosts;
  if (max_connections_opt->count() > 0) config->max_connections = max_connections;
  if (max_in_flight_opt->count() > 0) config->max_in_flight = max_in_flight;
  if (request_timeout_opt->count() > 0) config->request_timeout_seconds = request_timeout_seconds;
  if (idle_timeout_opt->count() > 0) config->idle_timeout_seconds = idle_timeout_seconds;
  if (write_rate_opt->count() > 0) config->write_rate_limit = write_rate_limit;
  if (write_burst_opt->count() > 0) config->write_burst = write_burst;
  if (hb_interval_opt->count() > 0) config->heartbeat_interval_ms = heartbeat_interval_ms;
  if (hb_failures_opt->count() > 0) config->heartbeat_failures = heartbeat_failures;
  if (hb_timeout_opt->count() > 0) config->heartbeat_timeout_ms = heartbeat_timeout_ms;
  if (fence_dirs_opt->count() > 0) config->fence_agent_dirs = fence_agent_dirs;
  if (notify_opt->count() > 0) config->notify_url = notify_url;
  if (vm_labels_opt->count() > 0) config->metrics_vm_labels = metrics_vm_labels;
  if (token_file_opt->count() > 0) config->token_file = token_file;
  if (tls_cert_opt->count() > 0) config->tls_cert = tls_cert;
  if (tls_key_opt->count() > 0) config->tls_key = tls_key;
  if (tls_client_ca_opt->count() > 0) config->tls_client_ca = tls_client_ca;
  if (insecure_opt->count() > 0) config->insecure = insecure;
  if (audit_log_opt->count() > 0) config->audit_log = audit_log;
  if (audit_bytes_opt->count() > 0) config->audit_log_max_bytes = audit_log_max_bytes;
  if (audit_files_opt->count() > 0) config->audit_log_max_files = audit_log_max_files;
  if (Status valid = config->Validate(); !valid.ok()) {
    std::cerr << "vmkeeperd: " << valid.message() << "\n";
    return 2;
  }
  if (check_config) {
    std::cout << (config_file.empty() ? std::string("flags") : config_file) << ": ok\n";
    return 0;
  }
  return std::nullopt;
}

// The controller's options from the config; the providers it is given must outlive it.
vmk::reconciler::ControllerOptions ControllerOptionsOf(const vmk::cli::DaemonConfig& config,
                                                       const std::string& embedded_dir) {
  vmk::reconciler::ControllerOptions options;
  options.workers = config.workers;
  options.resync_period = std::chrono::seconds(config.resync_seconds);
  options.connect.embedded_host_dir = embedded_dir;
  options.heartbeat_interval = std::chrono::milliseconds(config.heartbeat_interval_ms);
  options.heartbeat_failures = config.heartbeat_failures;
  options.heartbeat_timeout = std::chrono::milliseconds(config.heartbeat_timeout_ms);
  options.alert_labels.host = config.alert_host_label;
  options.alert_labels.vm = config.alert_vm_label;
  options.metrics_vm_labels = config.metrics_vm_labels;
  return options;
}

// The URL of our own /healthz through the listener bound at `address` ("host:port", "[v6]:port"):
// a wildcard address is reached on loopback.
std::string SelfHealthUrl(const std::string& address) {
  auto parsed = vmk::cli::ParseListenAddress(address);
  if (!parsed.ok()) return "http://" + address + "/healthz";
  vmk::cli::ListenAddress self = *parsed;
  if (self.host == "0.0.0.0") self.host = "127.0.0.1";
  if (self.host == "::") self.host = "::1";
  return "http://" + self.ToString() + "/healthz";
}

// Pets systemd's watchdog while our API answers, when the unit asks for one (WatchdogSec=).
// With TLS the check is only a TCP connect to the listener (the HTTP client here cannot present
// a client certificate nor trust our own): weaker, docs/security.md says so.
std::unique_ptr<vmk::cli::ServiceWatchdog> StartWatchdog(const vmk::cli::ServiceNotifier& notifier,
                                                         const std::string& address, bool tls) {
  auto period = notifier.WatchdogPeriod();
  if (!period) return nullptr;
  if (tls) {
    auto self = vmk::cli::ParseListenAddress(address);
    if (!self.ok()) return nullptr;
    std::string host = self->host == "0.0.0.0" ? "127.0.0.1" : self->host == "::" ? "::1" : self->host;
    const int port = self->port;
    const auto timeout = std::max(std::chrono::milliseconds(100),
                                  std::chrono::duration_cast<std::chrono::milliseconds>(*period / 4));
    auto watchdog = std::make_unique<vmk::cli::ServiceWatchdog>(
        vmk::RealClock::Get(), *period,
        [host, port, timeout] {
          Status connected = vmk::http::HttpClient().Connect(host, port, timeout);
          if (!connected.ok()) {
            vmk::log::Warning("liveness check: no connection", {{"error", connected.message()}});
          }
          return connected.ok();
        },
        [&notifier] { notifier.PetWatchdog(); });
    watchdog->Start();
    vmk::log::Info("systemd watchdog on (TLS: TCP connect check)", {{"address", address}});
    return watchdog;
  }
  vmk::http::HttpRequest request;
  request.url = SelfHealthUrl(address);
  request.timeout = std::max(std::chrono::milliseconds(100),
                             std::chrono::duration_cast<std::chrono::milliseconds>(*period / 4));
  auto watchdog = std::make_unique<vmk::cli::ServiceWatchdog>(
      vmk::RealClock::Get(), *period,
      [request] {
        auto answer = vmk::http::HttpClient().Do(request);
        if (!answer.ok()) {
          vmk::log::Warning("liveness check: no answer", {{"error", answer.status().message()}});
          return false;
        }
        return answer->status == 200;
      },
      [&notifier] { notifier.PetWatchdog(); });
  watchdog->Start();
  vmk::log::Info("systemd watchdog on",
                 {{"periodMs", std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                  *period).count())},
                  {"check", request.url}});
  return watchdog;
}

// The API's counts as the figures of its metrics (metrics/api_metrics.h, docs/metrics.md).
vmk::metrics::ApiFigures ApiFiguresOf(const vmk::cli::HttpEdgeStats& edge,
                                      const vmk::cli::ApiGuard::Stats& guard) {
  vmk::metrics::ApiFigures figures;
  for (size_t i = 0; i < vmk::cli::kEdgeRefusalCount; ++i) {
    figures.refused.emplace_back(
        vmk::cli::EdgeRefusalName(static_cast<vmk::cli::EdgeRefusal>(i)), edge.refused_by_reason[i]);
  }
  figures.refused.emplace_back("unauthenticated", guard.unauthenticated);
  figures.refused.emplace_back("forbidden", guard.forbidden);
  figures.refused.emplace_back("rate_limited", guard.rate_limited);
  figures.connections_closed = {{"request_timeout", edge.request_timeouts},
                                {"idle_timeout", edge.idle_timeouts},
                                {"over_limit", edge.over_connection_limit},
                                {"too_many_bytes", edge.request_too_large}};
  figures.open_connections = edge.open_connections;
  return figures;
}

// Loud, at every start: what --insecure leaves open.
void WarnIfInsecure(const vmk::cli::DaemonConfig& config) {
  auto listen = vmk::cli::ParseListenAddress(config.listen);
  if (!config.insecure || !listen.ok() || vmk::cli::IsLoopbackHost(listen->host)) return;
  if (config.tls() && !config.token_file.empty()) return;
  vmk::log::Warning(
      "INSECURE: --insecure serves the API beyond this machine without " +
          std::string(!config.tls() && config.token_file.empty()
                          ? "TLS and without authentication"
                          : !config.tls() ? "TLS: tokens and data cross the network in clear text"
                                          : "authentication: anyone who reaches it is admin") +
          "; use it only behind a network policy that admits trusted clients alone",
      {{"listen", config.listen}});
}

// Runs the daemon until SIGTERM/SIGINT (blocked in every thread, taken by sigwait here); SIGHUP
// reloads the tokens and TLS files.
int Serve(const vmk::cli::DaemonConfig& config, const std::string& ready_file,
          const sigset_t& signals) {
  const vmk::cli::ServiceNotifier service_manager;
  const std::string embedded_dir = config.EffectiveEmbeddedHostDir();
  std::error_code ec;
  fs::create_directories(config.store_path, ec);
  if (ec) return Fail("cannot create the store directory", Status::Internal(ec.message()));
  fs::create_directories(embedded_dir, ec);
  if (ec) return Fail("cannot create the embedded host directory", Status::Internal(ec.message()));

  vmk::log::Info("starting", {{"store", config.store_path},
                              {"listen", config.listen},
                              {"workers", std::to_string(config.workers)},
                              {"resyncSeconds", std::to_string(config.resync_seconds)},
                              {"embeddedHostDir", embedded_dir}});

  service_manager.Status("opening the store " + config.store_path);
  auto store = vmk::reconciler::RocksDbStore::Open(config.store_path,
                                                   vmk::reconciler::RocksDbStoreOptions{});
  if (!store.ok()) return Fail("cannot open the store", store.status());

  // The real providers (edges) the controller acts through.
  vmk::providers::LibvirtHypervisorFactory factory;
  vmk::reconciler::ControllerOptions controller_options = ControllerOptionsOf(config, embedded_dir);
  vmk::providers::FenceAgentFencerOptions fencer_options;
  fencer_options.agent_dirs = config.fence_agent_dirs;
  vmk::providers::FenceAgentFencer fencer(fencer_options, vmk::RealClock::Get());
  controller_options.fencer = &fencer;
  std::unique_ptr<vmk::providers::WebhookNotifier> notifier;
  if (!config.notify_url.empty()) {
    vmk::providers::WebhookNotifierOptions notifier_options;
    notifier_options.url = config.notify_url;
    auto created = vmk::providers::WebhookNotifier::Create(notifier_options, vmk::RealClock::Get());
    if (!created.ok()) return Fail("bad --notify-url", created.status());
    notifier = std::move(created).value();
    controller_options.notifier = notifier.get();
  }
  auto controller = std::make_unique<vmk::reconciler::Controller>(
      store->get(), &factory, vmk::RealClock::Get(), controller_options);
  if (Status started = controller->Start(); !started.ok()) {
    return Fail("cannot start the controller", started);
  }

  WarnIfInsecure(config);
  std::unique_ptr<vmk::cli::TokenAuthenticator> authenticator;
  if (!config.token_file.empty()) {
    auto loaded = vmk::cli::TokenAuthenticator::Load(config.token_file);
    if (!loaded.ok()) {
      controller->Stop();
      return Fail("cannot load the tokens file", loaded.status());
    }
    authenticator = std::move(loaded).value();
    vmk::log::Info("API authentication on",
                   {{"tokenFile", config.token_file},
                    {"credentials", std::to_string(authenticator->credential_count())}});
  } else {
    vmk::log::Warning("API authentication off: no --token-file, every caller is admin",
                      {{"listen", config.listen}});
  }
  std::unique_ptr<vmk::cli::AuditLog> audit_log;
  if (!config.audit_log.empty()) {
    vmk::cli::AuditLogOptions audit_options;
    audit_options.path = config.audit_log;
    audit_options.max_bytes = static_cast<uint64_t>(config.audit_log_max_bytes);
    audit_options.max_files = config.audit_log_max_files;
    auto opened = vmk::cli::AuditLog::Open(audit_options, vmk::RealClock::Get());
    if (!opened.ok()) {
      controller->Stop();
      return Fail("cannot open the audit log", opened.status());
    }
    audit_log = std::move(opened).value();
  }
  vmk::cli::RateLimit write_limit;
  write_limit.per_second = config.write_rate_limit;
  write_limit.burst = config.write_burst;
  vmk::cli::RateLimiter write_limiter(write_limit, vmk::RealClock::Get());
  const vmk::cli::ApiGuard guard(authenticator.get(), audit_log.get(),
                                 write_limiter.enabled() ? &write_limiter : nullptr);

  // /metrics: the controller's families, then the API's (read from the server and the guard
  // at each scrape; the server is made after the router, hence the pointer).
  const vmk::cli::HttpServer* api_server = nullptr;
  vmk::cli::ApiRouter router(controller.get(), [&api_server, &guard] {
    return api_server != nullptr ? vmk::metrics::ApiMetricsText(
                                       ApiFiguresOf(api_server->edge_stats(), guard.stats()))
                                 : std::string();
  });
  vmk::cli::HttpServerOptions server_options;
  server_options.tls_cert_file = config.tls_cert;
  server_options.tls_key_file = config.tls_key;
  server_options.tls_client_ca_file = config.tls_client_ca;
  server_options.admit = [&guard](vmk::cli::HttpRequest* r) { return guard.Admit(r); };
  server_options.on_answered = [&guard](const vmk::cli::HttpRequest& r,
                                        const vmk::cli::HttpResponse& response, bool by_edge) {
    guard.Record(r, response, by_edge);
  };
  server_options.listen = config.listen;
  server_options.max_body_bytes = config.max_body_bytes;
  server_options.allowed_hosts = config.allowed_hosts;
  server_options.max_connections = static_cast<size_t>(config.max_connections);
  server_options.max_in_flight = static_cast<size_t>(config.max_in_flight);
  server_options.request_timeout = std::chrono::seconds(config.request_timeout_seconds);
  server_options.idle_timeout = std::chrono::seconds(config.idle_timeout_seconds);
  vmk::cli::HttpServer server(
      server_options, [&router](const vmk::cli::HttpRequest& r) { return router.Handle(r); },
      vmk::RealClock::Get());
  api_server = &server;
  if (Status listening = server.Start(); !listening.ok()) {
    controller->Stop();
    return Fail("cannot start the REST API", listening);
  }
  vmk::log::Info("listening", {{"address", server.address()},
                              {"tls", server.tls() ? "true" : "false"},
                              {"clientCertificates", config.tls_client_ca.empty() ? "false" : "true"},
                              {"writeRateLimit", write_limiter.enabled()
                                                     ? std::to_string(config.write_rate_limit) +
                                                           "/s burst " +
                                                           std::to_string(config.write_burst)
                                                     : "off"}});
  if (!ready_file.empty()) {
    if (Status written = WriteReadyFile(ready_file, server.address()); !written.ok()) {
      server.Stop();
      controller->Stop();
      return Fail("cannot write the ready file", written);
    }
  }
  // Ready at the same point as the ready file: the store is open and the API serves.
  service_manager.Ready("serving on " + server.address());
  std::unique_ptr<vmk::cli::ServiceWatchdog> watchdog =
      StartWatchdog(service_manager, server.address(), server.tls());

  int signal_number = 0;
  for (;;) {
    if (sigwait(&signals, &signal_number) != 0) continue;
    if (signal_number != SIGHUP) break;
    if (!authenticator && !server.tls()) {
      vmk::log::Info("SIGHUP: nothing to reload (no tokens file, no TLS)");
      continue;
    }
    if (authenticator) {
      if (Status reloaded = authenticator->Reload(); reloaded.ok()) {
        vmk::log::Info("tokens file reloaded",
                       {{"credentials", std::to_string(authenticator->credential_count())}});
      } else {
        vmk::log::Error("tokens file not reloaded; the credentials in force stay",
                        {{"error", reloaded.message()}});
      }
    }
    if (server.tls()) {
      if (Status reloaded = server.ReloadTls(); reloaded.ok()) {
        vmk::log::Info("TLS files reloaded; new connections use them");
      } else {
        vmk::log::Error("TLS files not reloaded; the ones in force stay",
                        {{"error", reloaded.message()}});
      }
    }
  }
  vmk::log::Info("shutting down", {{"signal", signal_number == SIGTERM ? "SIGTERM" : "SIGINT"}});
  service_manager.Stopping("shutting down");
  if (watchdog) watchdog->Stop();
  if (!ready_file.empty()) fs::remove(ready_file, ec);
  // The controller first: from here on it starts no fence agent and no host action (its
  // reconciles are cancelled between steps). Stopping the API first let an in-flight host
  // reconcile fence up to a second after "shutting down" while the listener closed.
  controller->Stop();
  server.Stop();
  controller.reset();
  store->reset();
  vmk::log::Info("stopped");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // Big allocations (a request's head or body, the objects decoded from it) are mmap'ed and
  // given back to the system when freed. glibc otherwise raises its mmap threshold to the size
  // of each big block freed, up to 32 MiB, and serves the next ones from the heap, where
  // malloc_trim could not give them back: 5 x 100 MiB headers left 147 MB of 31 MB behind, 38 MB
  // with the threshold fixed (docs/http-edge.md). The cost is an mmap per block over 128 KiB.
  mallopt(M_MMAP_THRESHOLD, 128 * 1024);
  // Block the stop and reload signals before any thread starts, so every thread inherits the
  // mask and only the sigwait in Serve receives them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  vmk::cli::DaemonConfig config;
  std::string ready_file;
  if (auto exit_code = ReadConfig(argc, argv, &config, &ready_file)) return *exit_code;
  vmk::log::Level level = vmk::log::Level::kInfo;
  vmk::log::ParseLevel(config.log_level, &level);
  vmk::log::SetLevel(level);
  return Serve(config, ready_file, signals);
}
