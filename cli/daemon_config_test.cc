#include "cli/daemon_config.h"

#include <filesystem>
#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace vmk::cli {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

TEST(DaemonConfigTest, DefaultsAreValid) {
  DaemonConfig config;
  EXPECT_TRUE(config.Validate().ok());
  EXPECT_EQ(config.listen, "127.0.0.1:7480");
  EXPECT_EQ(config.EffectiveEmbeddedHostDir(), "./vmkeeper-state/embedded-hosts");
}

TEST(DaemonConfigTest, YamlOverlaysDefaults) {
  DaemonConfig config;
  Status s = ParseDaemonConfig(
      "storePath: /var/lib/vmkeeper/store\nlisten: 127.0.0.1:9000\nresyncSeconds: 10\n"
      "workers: 8\nlogLevel: debug\n",
      "vmkeeperd.yaml", &config);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(config.store_path, "/var/lib/vmkeeper/store");
  EXPECT_EQ(config.listen, "127.0.0.1:9000");
  EXPECT_EQ(config.resync_seconds, 10);
  EXPECT_EQ(config.workers, 8);
  EXPECT_EQ(config.log_level, "debug");
  EXPECT_EQ(config.EffectiveEmbeddedHostDir(), "/var/lib/vmkeeper/embedded-hosts");
}

TEST(DaemonConfigTest, MetricsVmLabelsAreAListOfLabelKeys) {
  DaemonConfig config;
  EXPECT_EQ(config.metrics_vm_labels, std::vector<std::string>{"service"});
  Status s = ParseDaemonConfig("metricsVmLabels: [service, app.kubernetes.io/name]\n", "d.yaml",
                               &config);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(config.metrics_vm_labels,
            (std::vector<std::string>{"service", "app.kubernetes.io/name"}));
  EXPECT_TRUE(config.Validate().ok());
  EXPECT_THAT(ParseDaemonConfig("metricsVmLabels: service\n", "d.yaml", &config).message(),
              HasSubstr("must be a list of label keys"));
  config.metrics_vm_labels = {"bad key"};
  EXPECT_THAT(config.Validate().message(), HasSubstr("\"bad key\" is not a label key"));
}

// A hung host's first unanswered beat must fail before the next is due: the timeout stays
// below the interval.
TEST(DaemonConfigTest, HeartbeatTimeoutStaysBelowTheInterval) {
  DaemonConfig config;
  EXPECT_EQ(config.heartbeat_timeout_ms, 500);
  ASSERT_TRUE(ParseDaemonConfig("heartbeatTimeoutMs: 800\nheartbeatIntervalMs: 2000\n", "d.yaml",
                                &config)
                  .ok());
  EXPECT_EQ(config.heartbeat_timeout_ms, 800);
  EXPECT_TRUE(config.Validate().ok());
  config.heartbeat_timeout_ms = 2000;
  EXPECT_THAT(config.Validate().message(), HasSubstr("below heartbeatIntervalMs"));
  config.heartbeat_timeout_ms = 5;
  EXPECT_THAT(config.Validate().message(), HasSubstr("at least 10"));
}

// The HTTP edge's keys (docs/http-edge.md).
TEST(DaemonConfigTest, EdgeLimitsAndAllowedHostsAreRead) {
  DaemonConfig config;
  Status s = ParseDaemonConfig(
      "allowedHosts: [vmkeeper.example.org]\nmaxConnections: 512\nmaxInFlight: 16\n"
      "requestTimeoutSeconds: 20\nidleTimeoutSeconds: 120\n",
      "d.yaml", &config);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(config.allowed_hosts, std::vector<std::string>{"vmkeeper.example.org"});
  EXPECT_EQ(config.max_connections, 512);
  EXPECT_EQ(config.max_in_flight, 16);
  EXPECT_EQ(config.request_timeout_seconds, 20);
  EXPECT_EQ(config.idle_timeout_seconds, 120);
  EXPECT_TRUE(config.Validate().ok());
  config.max_connections = 1;
  EXPECT_THAT(config.Validate().message(), HasSubstr("maxConnections"));
}

// The write rate limit (docs/security.md): a number of writes per second and a burst.
TEST(DaemonConfigTest, WriteRateLimitIsRead) {
  DaemonConfig config;
  EXPECT_EQ(config.write_rate_limit, 5);
  EXPECT_EQ(config.write_burst, 20);
  Status s = ParseDaemonConfig("writeRateLimit: 0.5\nwriteBurst: 3\n", "d.yaml", &config);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(config.write_rate_limit, 0.5);
  EXPECT_EQ(config.write_burst, 3);
  ASSERT_TRUE(ParseDaemonConfig("writeRateLimit: 0\n", "d.yaml", &config).ok());  // off
  EXPECT_EQ(config.write_rate_limit, 0);
  EXPECT_THAT(ParseDaemonConfig("writeRateLimit: fast\n", "d.yaml", &config).message(),
              StartsWith("d.yaml:1:17: writeRateLimit must be a number"));
  EXPECT_THAT(ParseDaemonConfig("writeRateLimit: .nan\n", "d.yaml", &config).message(),
              HasSubstr("writeRateLimit must be a number"));
  EXPECT_THAT(ParseDaemonConfig("writeRateLimit: -1\n", "d.yaml", &config).message(),
              HasSubstr("writeRateLimit must be between 0"));
  EXPECT_THAT(ParseDaemonConfig("writeBurst: 0\n", "d.yaml", &config).message(),
              HasSubstr("writeBurst must be between 1"));
  EXPECT_EQ(config.write_burst, 3) << "a failed load changes nothing";
}

TEST(DaemonConfigTest, JsonWorksToo) {
  DaemonConfig config;
  Status s = ParseDaemonConfig(R"({"workers": 2, "embeddedHostDir": "/tmp/hosts"})", "d.json",
                               &config);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(config.workers, 2);
  EXPECT_EQ(config.EffectiveEmbeddedHostDir(), "/tmp/hosts");
}

TEST(DaemonConfigTest, UnknownKeyNamesFileAndPosition) {
  DaemonConfig config;
  Status s = ParseDaemonConfig("workers: 2\nworkerz: 3\n", "/etc/vmkeeperd.yaml", &config);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), StartsWith("/etc/vmkeeperd.yaml:2:1: unknown setting \"workerz\""));
  EXPECT_EQ(config.workers, 4) << "a failed load changes nothing";
}

TEST(DaemonConfigTest, WrongTypesAndRangesAreErrors) {
  DaemonConfig config;
  EXPECT_THAT(ParseDaemonConfig("workers: many\n", "c.yaml", &config).message(),
              StartsWith("c.yaml:1:10: workers must be an integer"));
  EXPECT_THAT(ParseDaemonConfig("listen: [a]\n", "c.yaml", &config).message(),
              HasSubstr("listen must be a string"));
  EXPECT_THAT(ParseDaemonConfig("workers: 0\n", "c.yaml", &config).message(),
              StartsWith("c.yaml: workers must be between 1 and 256"));
  EXPECT_THAT(ParseDaemonConfig("logLevel: loud\n", "c.yaml", &config).message(),
              HasSubstr("logLevel"));
  EXPECT_THAT(ParseDaemonConfig("listen: nowhere\n", "c.yaml", &config).message(),
              HasSubstr("has no port"));
  EXPECT_THAT(ParseDaemonConfig("- a\n- b\n", "c.yaml", &config).message(),
              HasSubstr("mapping"));
  EXPECT_THAT(ParseDaemonConfig("a: [\n", "c.yaml", &config).message(), StartsWith("c.yaml:"));
}

TEST(DaemonConfigTest, EmptyFileChangesNothing) {
  DaemonConfig config;
  EXPECT_TRUE(ParseDaemonConfig("", "c.yaml", &config).ok());
  EXPECT_EQ(config.workers, 4);
}

TEST(DaemonConfigTest, LoadsFromDiskAndNamesMissingFile) {
  auto dir = std::filesystem::temp_directory_path() / ("vmk-config-test-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  std::string path = (dir / "d.yaml").string();
  std::ofstream(path) << "resyncSeconds: 5\n";
  DaemonConfig config;
  ASSERT_TRUE(LoadDaemonConfigFile(path, &config).ok());
  EXPECT_EQ(config.resync_seconds, 5);
  Status missing = LoadDaemonConfigFile((dir / "none.yaml").string(), &config);
  EXPECT_THAT(missing.message(), StartsWith((dir / "none.yaml").string() + ": "));
  std::filesystem::remove_all(dir);
}

TEST(ListenAddressTest, Parses) {
  auto v4 = ParseListenAddress("127.0.0.1:7480");
  ASSERT_TRUE(v4.ok());
  EXPECT_EQ(v4->host, "127.0.0.1");
  EXPECT_EQ(v4->port, 7480);
  auto v6 = ParseListenAddress("[::1]:0");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, 0);
  EXPECT_EQ(v6->ToString(), "[::1]:0");
  EXPECT_FALSE(ParseListenAddress("127.0.0.1").ok());
  EXPECT_FALSE(ParseListenAddress(":80").ok());
  EXPECT_FALSE(ParseListenAddress("h:70000").ok());
  EXPECT_FALSE(ParseListenAddress("h:8o").ok());
  EXPECT_FALSE(ParseListenAddress("::1:80").ok());
}

// Beyond loopback the API needs TLS and a tokens file, or an explicit insecure.
TEST(DaemonConfigTest, NonLoopbackListenNeedsTlsAndTokensOrInsecure) {
  EXPECT_TRUE(IsLoopbackHost("127.0.0.1"));
  EXPECT_TRUE(IsLoopbackHost("127.8.9.10"));
  EXPECT_TRUE(IsLoopbackHost("::1"));
  EXPECT_TRUE(IsLoopbackHost("localhost"));
  EXPECT_FALSE(IsLoopbackHost("0.0.0.0"));
  EXPECT_FALSE(IsLoopbackHost("::"));
  EXPECT_FALSE(IsLoopbackHost("10.0.0.1"));
  EXPECT_FALSE(IsLoopbackHost("vmkeeper.example"));

  DaemonConfig config;
  config.listen = "0.0.0.0:7480";
  EXPECT_THAT(config.Validate().message(),
              HasSubstr("is not loopback: serving the API beyond this machine needs TLS and "
                        "authentication, and TLS (tlsCert, tlsKey) and a tokens file are not "
                        "configured"));
  config.tls_cert = "/etc/vmkeeper/tls.crt";
  config.tls_key = "/etc/vmkeeper/tls.key";
  EXPECT_THAT(config.Validate().message(), HasSubstr("a tokens file (tokenFile) is not configured"));
  config.token_file = "/etc/vmkeeper/tokens";
  EXPECT_TRUE(config.Validate().ok());
  config.tls_cert.clear();
  config.tls_key.clear();
  EXPECT_THAT(config.Validate().message(), HasSubstr("TLS (tlsCert, tlsKey) is not configured"));
  config.insecure = true;
  EXPECT_TRUE(config.Validate().ok());
}

TEST(DaemonConfigTest, SecurityKeysParseAndCheck) {
  DaemonConfig config;
  Status s = ParseDaemonConfig(
      "listen: \"[::]:7480\"\ntokenFile: /etc/vmkeeper/tokens\ntlsCert: /tls/crt\n"
      "tlsKey: /tls/key\ntlsClientCa: /tls/ca\ninsecure: false\nauditLog: /var/log/a.log\n"
      "auditLogMaxBytes: 1048576\nauditLogMaxFiles: 3\n",
      "d.yaml", &config);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(config.token_file, "/etc/vmkeeper/tokens");
  EXPECT_EQ(config.tls_client_ca, "/tls/ca");
  EXPECT_EQ(config.audit_log, "/var/log/a.log");
  EXPECT_EQ(config.audit_log_max_bytes, 1048576);
  EXPECT_EQ(config.audit_log_max_files, 3);
  EXPECT_THAT(ParseDaemonConfig("insecure: yes please\n", "d.yaml", &config).message(),
              HasSubstr("insecure must be true or false"));
  EXPECT_THAT(ParseDaemonConfig("tlsKey: \"\"\n", "d.yaml", &config).message(),
              HasSubstr("tlsCert and tlsKey must be given together"));
  EXPECT_THAT(ParseDaemonConfig("auditLogMaxBytes: 100\n", "d.yaml", &config).message(),
              HasSubstr("auditLogMaxBytes must be at least 4096"));
  DaemonConfig no_tls;
  no_tls.tls_client_ca = "/tls/ca";
  EXPECT_THAT(no_tls.Validate().message(), HasSubstr("tlsClientCa needs tlsCert and tlsKey"));
}

}  // namespace
}  // namespace vmk::cli
