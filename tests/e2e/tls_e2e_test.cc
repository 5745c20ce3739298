// End to end with TLS and bearer tokens (issue 10: "TLS end to end with the CLI and with a real
// Alertmanager posting with a token"). A real vmkeeperd serves only TLS on loopback, with a
// tokens file (one entry hashed by `vmkeeperd --hash-token`, the others `file:`) and an audit
// log; its hosts are the libvirt test driver's. Against it:
//   - the vmkeeper CLI, configured by a client config file of contexts (server https://...,
//     certificateAuthority, tokenFile), applies, gets, diffs and says who it is as an editor; as
//     a viewer its apply is refused with the server's 403 message; without a token it gets the
//     401 message; trusting another CA it says which URL and that the certificate failed;
//   - a real Alertmanager whose webhook receiver posts to https://.../api/v1/alerts with the
//     alerts credential's token file and the CA delivers a VM's alert: AlertFiring on the VM;
//   - the same with a viewer's token: refused with 403 (audit log), and the VM is untouched,
//     until the token file holds the alerts token: Alertmanager reads it at every try;
//   - with --tls-client-ca, a context with a token and a client certificate works, and the same
//     token without the certificate gets the CLI's "wants a client certificate".
// The audit log is checked for who did what each time. docs/security.md, docs/cli.md.
#include <sys/stat.h>

#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/e2e/alertmanager_process.h"
#include "tests/e2e/daemon_harness.h"
#include "tests/fakes/test_pki.h"

namespace vmk::e2e {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using Json = nlohmann::json;

// Tokens as `openssl rand -base64 24` makes them (RFC 6750's alphabet, over 16 characters).
constexpr char kEditorToken[] = "Ed1tor+token/0123456789abcdefAB==";
constexpr char kViewerToken[] = "V1ewer-token.0123456789abcdef~CD";
constexpr char kAlertsToken[] = "A1erts_token-0123456789abcdef+EF";

class TlsE2eTest : public ::testing::Test {
 protected:
  TlsE2eTest()
      : scratch_(std::string("tls-") +
                 ::testing::UnitTest::GetInstance()->current_test_info()->name()),
        daemon_(scratch_.path() / "state") {}

  void SetUp() override {
    const fs::path dir = scratch_.path();
    pki_ = std::make_unique<fakes::TestPki>(dir.string(), "vmkeeper");
    // The CA a careless client might trust instead: it signed nothing the daemon serves.
    impostor_pki_ = std::make_unique<fakes::TestPki>(dir.string(), "impostor");
    const fakes::IssuedCertificate server = pki_->Issue("vmkeeperd", {"IP:127.0.0.1"});
    // The CLI's own certificate, for a daemon that asks for one (a second factor, not a role).
    const fakes::IssuedCertificate client = pki_->Issue("cli-client", {"DNS:cli-client"});

    WriteSecret(dir / "editor.token", kEditorToken);
    WriteSecret(dir / "viewer.token", kViewerToken);
    WriteSecret(dir / "alerts.token", kAlertsToken);
    // The editor's entry is hashed the way docs/security.md tells an admin to.
    const CommandResult hashed = RunCommand(
        {"/bin/sh", "-c", "printf %s \"$TOKEN\" | \"$VMKEEPERD\" --hash-token"}, dir,
        {std::string("TOKEN=") + kEditorToken, "VMKEEPERD=" + BinDir() + "/vmkeeperd"});
    ASSERT_EQ(hashed.exit_code, 0) << hashed.err;
    std::string editor_secret = hashed.out;
    while (!editor_secret.empty() && editor_secret.back() == '\n') editor_secret.pop_back();
    ASSERT_EQ(editor_secret.rfind("sha256:", 0), 0u) << editor_secret;
    WriteFile(dir / "tokens",
              "# NAME       ROLE    SECRET\n"
              "ci-deploy    editor  " + editor_secret + "\n"
              "grafana      viewer  file:viewer.token\n"
              "alertmanager alerts  file:alerts.token\n");

    audit_log_ = dir / "audit.log";
    std::vector<std::string> flags = {"--tls-cert", server.certificate_file, "--tls-key",
                                      server.key_file, "--token-file", (dir / "tokens").string(),
                                      "--audit-log", audit_log_.string()};
    if (RequireClientCertificates()) flags.insert(flags.end(), {"--tls-client-ca", pki_->ca_file()});
    ASSERT_TRUE(daemon_.Start(flags)) << daemon_.Log();

    // The CLI's contexts; relative paths are the config file's directory's.
    const std::string url = daemon_.https_server();
    const std::string ca = fs::path(pki_->ca_file()).filename().string();
    WriteFile(dir / "vmkeeper.yaml",
              "apiVersion: vmkeeper/v1\nkind: ClientConfig\ncurrentContext: editor\ncontexts:\n"
              "  - name: editor\n    server: " + url + "\n    certificateAuthority: " + ca +
              "\n    tokenFile: editor.token\n"
              "  - name: viewer\n    server: " + url + "\n    certificateAuthority: " + ca +
              "\n    tokenFile: viewer.token\n"
              "  - name: no-token\n    server: " + url + "\n    certificateAuthority: " + ca + "\n"
              "  - name: system-ca\n    server: " + url + "\n    tokenFile: editor.token\n"
              "  - name: editor-mtls\n    server: " + url + "\n    certificateAuthority: " + ca +
              "\n    tokenFile: editor.token\n    clientCertificate: " + client.certificate_file +
              "\n    clientKey: " + client.key_file + "\n"
              "  - name: wrong-ca\n    server: " + url + "\n    certificateAuthority: " +
              fs::path(impostor_pki_->ca_file()).filename().string() +
              "\n    tokenFile: editor.token\n");
  }

  // Whether the daemon gets --tls-client-ca (the test CA): every client must then present a
  // certificate it signed.
  virtual bool RequireClientCertificates() const { return false; }

  void TearDown() override {
    if (HasFailure()) {
      std::cerr << "---- audit log ----\n" << ReadFile(audit_log_) << "---- vmkeeperd log ----\n"
                << daemon_.Log() << "\n";
    }
  }

  static void WriteSecret(const fs::path& file, const std::string& token) {
    WriteFile(file, token + "\n");
    ASSERT_EQ(chmod(file.c_str(), 0600), 0);
  }

  // The vmkeeper CLI with the config file above (through $VMKEEPER_CONFIG) and `context` (empty:
  // its currentContext), run in the source tree so examples/ is at hand. The other variables
  // are emptied (empty counts as unset) so the environment the tests run in cannot override
  // the context.
  CommandResult Cli(const std::string& context, std::vector<std::string> args) {
    if (!context.empty()) args.insert(args.begin(), {"--context", context});
    args.insert(args.begin(), BinDir() + "/vmkeeper");
    return RunCommand(args, scratch_.path(),
                      {"VMKEEPER_CONFIG=" + (scratch_.path() / "vmkeeper.yaml").string(),
                       "VMKEEPER_CONTEXT=", "VMKEEPER_SERVER=", "VMKEEPER_TOKEN=",
                       "VMKEEPER_TOKEN_FILE="},
                      SourceDir());
  }

  std::vector<Json> AuditRecords() const {
    std::vector<Json> records;
    std::istringstream in(ReadFile(audit_log_));
    for (std::string line; std::getline(in, line);) {
      Json record = Json::parse(line, nullptr, false);
      if (!record.is_discarded()) records.push_back(record);
    }
    return records;
  }
  // Audit records by `user` (null for the unauthenticated) for `verb path` answered `status`.
  size_t AuditCount(const Json& user, const std::string& verb, const std::string& path,
                    int status) const {
    size_t n = 0;
    for (const Json& r : AuditRecords()) {
      if (r.value("user", Json()) == user && r.value("verb", "") == verb &&
          r.value("path", "") == path && r.value("status", 0) == status) {
        ++n;
      }
    }
    return n;
  }

  // An Alertmanager that sends every alert group to vmkeeperd's webhook at once over TLS,
  // trusting the test CA and presenting the token in `token_file`.
  std::string AlertmanagerConfig(const std::string& token_file) const {
    return "route:\n  receiver: vmkeeper\n  group_by: [alertname, vmkeeper_vm]\n"
           "  group_wait: 0s\n  group_interval: 1s\n  repeat_interval: 1h\n"
           "receivers:\n- name: vmkeeper\n  webhook_configs:\n"
           "  - url: " + daemon_.https_server() + "/api/v1/alerts\n"
           "    send_resolved: true\n"
           "    http_config:\n"
           "      authorization:\n"
           "        credentials_file: " + (scratch_.path() / token_file).string() + "\n"
           "      tls_config:\n"
           "        ca_file: " + pki_->ca_file() + "\n";
  }
  static std::string VmAlert(const std::string& vm) {
    return "[{\"labels\":{\"alertname\":\"ServiceProbeFailing\",\"vmkeeper_vm\":\"" + vm +
           "\",\"severity\":\"page\"},\"annotations\":{\"summary\":\"" + vm +
           " health probe failing\"},\"startsAt\":\"" + AlertTimeNow() + "\"}]";
  }
  // The grid of examples/ applied as the editor: the VMs an alert can name.
  void ApplyGrid() {
    const CommandResult applied = Cli("", {"apply", "-f", "examples/grid"});
    ASSERT_EQ(applied.exit_code, 0) << applied.out << applied.err;
    ASSERT_THAT(applied.out, HasSubstr("virtualmachine/wms01 created"));
  }
  std::string Events(const std::string& object) {
    return Cli("viewer", {"events", "--for", object, "--limit", "1000"}).out;
  }

  ScratchDir scratch_;
  Daemon daemon_;
  std::unique_ptr<fakes::TestPki> pki_;
  std::unique_ptr<fakes::TestPki> impostor_pki_;
  fs::path audit_log_;
};

TEST_F(TlsE2eTest, CliWithAConfigFileContextOverTlsAndTokens) {
  // The editor (currentContext): apply, get, diff, whoami.
  const CommandResult applied = Cli("", {"apply", "-f", "examples/grid"});
  ASSERT_EQ(applied.exit_code, 0) << applied.out << applied.err;
  EXPECT_THAT(applied.out, HasSubstr("host/hv01 created"));
  EXPECT_THAT(applied.out, HasSubstr("virtualmachine/wms01 created"));
  const CommandResult vms = Cli("", {"get", "vms"});
  ASSERT_EQ(vms.exit_code, 0) << vms.err;
  for (const char* vm : {"wms01", "ce01", "ce02", "bdii01", "se01", "ui01"}) {
    EXPECT_THAT(vms.out, HasSubstr(vm));
  }
  const CommandResult same = Cli("", {"diff", "-f", "examples/grid"});
  EXPECT_EQ(same.exit_code, 0) << same.out << same.err;
  EXPECT_EQ(same.out, "");
  const CommandResult whoami = Cli("editor", {"auth", "whoami"});
  ASSERT_EQ(whoami.exit_code, 0) << whoami.err;
  EXPECT_EQ(whoami.out, "user: ci-deploy\nrole: editor\n");

  // The viewer reads, and may neither apply nor diff.
  const CommandResult viewer_whoami = Cli("viewer", {"auth", "whoami", "-o", "json"});
  ASSERT_EQ(viewer_whoami.exit_code, 0) << viewer_whoami.err;
  EXPECT_EQ(Json::parse(viewer_whoami.out), (Json{{"user", "grafana"}, {"role", "viewer"}}));
  EXPECT_EQ(Cli("viewer", {"get", "vm", "wms01"}).exit_code, 0);
  const CommandResult viewer_apply = Cli("viewer", {"apply", "-f", "examples/grid"});
  EXPECT_EQ(viewer_apply.exit_code, 1) << viewer_apply.out;
  EXPECT_THAT(viewer_apply.err,
              HasSubstr("error: credential \"grafana\" (role viewer) may not POST /api/v1/apply: "
                        "it needs role editor, admin"));
  const CommandResult viewer_diff = Cli("viewer", {"diff", "-f", "examples/grid"});
  EXPECT_GT(viewer_diff.exit_code, 1) << "diff: above 1 is an error";
  EXPECT_THAT(viewer_diff.err, HasSubstr("may not POST /api/v1/diff"));

  // No token: the 401 message.
  const CommandResult anonymous = Cli("no-token", {"get", "vms"});
  EXPECT_EQ(anonymous.exit_code, 1);
  EXPECT_THAT(anonymous.err,
              HasSubstr("error: no credentials: send Authorization: Bearer <token>"));

  // Trusting another CA: the URL, the certificate's failure and the CA file it was checked
  // against; trusting the system's CAs: the same, and how to name the right CA.
  const CommandResult wrong_ca = Cli("wrong-ca", {"get", "vms"});
  EXPECT_EQ(wrong_ca.exit_code, 1);
  EXPECT_THAT(wrong_ca.err,
              HasSubstr("error: cannot reach vmkeeperd at " + daemon_.https_server() +
                        ": certificate verify failed: unable to get local issuer certificate; "
                        "the server's certificate is not signed by " +
                        impostor_pki_->ca_file()));
  const CommandResult system_ca = Cli("system-ca", {"get", "vms"});
  EXPECT_EQ(system_ca.exit_code, 1);
  EXPECT_THAT(system_ca.err,
              HasSubstr("error: cannot reach vmkeeperd at " + daemon_.https_server() +
                        ": certificate verify failed: unable to get local issuer certificate; "
                        "use --certificate-authority (or the context's certificateAuthority)"));
  // A client that does not trust the server never sent its token: nothing reached the API.
  EXPECT_EQ(AuditCount(nullptr, "GET", "/api/v1/virtualmachines", 401), 1u)
      << "only the no-token request was refused";

  // The audit log: the editor's writes under its credential's name, the refusals.
  std::vector<Json> records;
  ASSERT_TRUE(WaitFor([&] {
    records = AuditRecords();
    return records.size() >= 5;
  }, std::chrono::seconds(10)));
  const Json& apply = records[0];
  EXPECT_EQ(apply["user"], "ci-deploy") << apply;
  EXPECT_EQ(apply["role"], "editor") << apply;
  EXPECT_EQ(apply["verb"], "POST");
  EXPECT_EQ(apply["path"], "/api/v1/apply");
  EXPECT_EQ(apply["status"], 200);
  EXPECT_EQ(apply["source"], "127.0.0.1");
  EXPECT_THAT(apply["objects"].dump(), HasSubstr("\"VirtualMachine/wms01\""));
  EXPECT_THAT(apply["objects"].dump(), HasSubstr("\"Host/hv01\""));
  EXPECT_EQ(AuditCount("ci-deploy", "POST", "/api/v1/diff", 200), 1u);
  EXPECT_EQ(AuditCount("grafana", "POST", "/api/v1/apply", 403), 1u);
  EXPECT_EQ(AuditCount("grafana", "POST", "/api/v1/diff", 403), 1u);
  EXPECT_EQ(AuditCount("grafana", "GET", "/api/v1/virtualmachines/wms01", 200), 0u)
      << "answered reads are not audited";
  // No token leaves its file: not in the audit log, nor in the daemon's log.
  const std::string audit_text = ReadFile(audit_log_);
  const std::string log = daemon_.Log();
  for (const char* token : {kEditorToken, kViewerToken, kAlertsToken}) {
    EXPECT_THAT(audit_text, Not(HasSubstr(token)));
    EXPECT_THAT(log, Not(HasSubstr(token)));
  }
}

TEST_F(TlsE2eTest, AlertmanagerDeliversAnAlertOverTlsWithTheAlertsToken) {
  if (!AlertmanagerProcess::Installed()) {
    GTEST_SKIP() << AlertmanagerProcess::kBinary << " is missing (scripts/install-deps.sh installs it)";
  }
  ApplyGrid();
  AlertmanagerProcess alertmanager(scratch_.path() / "alertmanager");
  ASSERT_TRUE(alertmanager.Start(AlertmanagerConfig("alerts.token"))) << alertmanager.Log();
  const HttpResult posted = alertmanager.PostAlerts(VmAlert("wms01"));
  ASSERT_EQ(posted.status, 200) << posted.body;

  // Delivered: the daemon took it from the alerts credential and acted on it.
  ASSERT_TRUE(WaitFor([&] {
    return AuditCount("alertmanager", "POST", "/api/v1/alerts", 200) >= 1;
  }, std::chrono::seconds(30)))
      << "no delivery in the audit log\n" << alertmanager.Log();
  EXPECT_TRUE(WaitFor([&] {
    return Events("vm/wms01").find("AlertFiring") != std::string::npos;
  }, std::chrono::seconds(30)))
      << Events("vm/wms01");
  EXPECT_THAT(Events("vm/wms01"), HasSubstr("ServiceProbeFailing: wms01 health probe failing"));
  EXPECT_GE(alertmanager.Metric("alertmanager_notifications_total{integration=\"webhook\"}"), 1);
  EXPECT_EQ(alertmanager.Metric("alertmanager_notifications_failed_total{integration=\"webhook\"}"),
            0)
      << alertmanager.Log();
  EXPECT_EQ(AuditCount("alertmanager", "POST", "/api/v1/alerts", 403), 0u);
  EXPECT_EQ(AuditCount(nullptr, "POST", "/api/v1/alerts", 401), 0u);
  EXPECT_THAT(daemon_.Log(), HasSubstr("alerts received"));
}

TEST_F(TlsE2eTest, AlertmanagerWithAViewersTokenIsRefusedAndChangesNothingUntilItsTokenIs) {
  if (!AlertmanagerProcess::Installed()) {
    GTEST_SKIP() << AlertmanagerProcess::kBinary << " is missing (scripts/install-deps.sh installs it)";
  }
  ApplyGrid();
  // Its own copy of the viewer's token: the file is rewritten below.
  const fs::path token_file = scratch_.path() / "alertmanager.token";
  WriteSecret(token_file, kViewerToken);
  AlertmanagerProcess alertmanager(scratch_.path() / "alertmanager");
  ASSERT_TRUE(alertmanager.Start(AlertmanagerConfig(token_file.filename().string())))
      << alertmanager.Log();
  const HttpResult posted = alertmanager.PostAlerts(VmAlert("ce01"));
  ASSERT_EQ(posted.status, 200) << posted.body;

  // Alertmanager did try (over TLS, with the token: the refusal names the credential) and
  // counted the failure; the daemon refused before reading the body.
  ASSERT_TRUE(WaitFor([&] {
    return AuditCount("grafana", "POST", "/api/v1/alerts", 403) >= 1 &&
           alertmanager.Metric(
               "alertmanager_notifications_failed_total{integration=\"webhook\"}") >= 1;
  }, std::chrono::seconds(30)))
      << "no refused delivery\n" << alertmanager.Log();
  bool reason_seen = false;
  for (const Json& r : AuditRecords()) {
    if (r.value("path", "") != "/api/v1/alerts") continue;
    EXPECT_EQ(r["status"], 403) << r;
    EXPECT_EQ(r["role"], "viewer") << r;
    reason_seen = r.value("reason", "") ==
                  "credential \"grafana\" (role viewer) may not POST /api/v1/alerts: it needs "
                  "role alerts, admin";
    EXPECT_TRUE(reason_seen) << r;
  }
  EXPECT_TRUE(reason_seen);
  // Nothing reached the alert intake: no event, no incident for the VM.
  EXPECT_THAT(Events("vm/ce01"), Not(HasSubstr("Alert")));
  const CommandResult incidents = Cli("viewer", {"incidents", "--for", "vm/ce01", "-o", "json"});
  ASSERT_EQ(incidents.exit_code, 0) << incidents.err;
  Json parsed = Json::parse(incidents.out, nullptr, false);
  ASSERT_FALSE(parsed.is_discarded()) << incidents.out;
  if (parsed.is_object()) parsed = parsed.value("items", Json::array());
  EXPECT_TRUE(parsed.empty()) << parsed.dump(2);
  EXPECT_THAT(daemon_.Log(), Not(HasSubstr("alerts received")));

  // Alertmanager reads the credentials file at every try: with the alerts token in it (written
  // aside and renamed over, so no try reads half a file), a later try of the same group is
  // delivered without a reload, and the daemon acts on it.
  WriteSecret(scratch_.path() / "alertmanager.token.new", kAlertsToken);
  fs::rename(scratch_.path() / "alertmanager.token.new", token_file);
  ASSERT_TRUE(WaitFor([&] {
    return AuditCount("alertmanager", "POST", "/api/v1/alerts", 200) >= 1;
  }, std::chrono::seconds(30)))
      << "not delivered with the new token\n" << alertmanager.Log();
  EXPECT_TRUE(WaitFor([&] {
    return Events("vm/ce01").find("AlertFiring") != std::string::npos;
  }, std::chrono::seconds(10)))
      << Events("vm/ce01");
}

class TlsE2eClientCertificateTest : public TlsE2eTest {
 protected:
  bool RequireClientCertificates() const override { return true; }
};

// With --tls-client-ca the CLI needs its context's client certificate as well as its token; the
// token still names the caller.
TEST_F(TlsE2eClientCertificateTest, CliContextWithATokenAndAClientCertificate) {
  const CommandResult applied = Cli("editor-mtls", {"apply", "-f", "examples/grid"});
  ASSERT_EQ(applied.exit_code, 0) << applied.out << applied.err;
  EXPECT_THAT(applied.out, HasSubstr("virtualmachine/wms01 created"));
  const CommandResult whoami = Cli("editor-mtls", {"auth", "whoami"});
  ASSERT_EQ(whoami.exit_code, 0) << whoami.err;
  EXPECT_EQ(whoami.out, "user: ci-deploy\nrole: editor\n");

  // The same token without the certificate: the handshake ends, and the CLI says what it lacks.
  const CommandResult no_certificate = Cli("editor", {"get", "vms"});
  EXPECT_EQ(no_certificate.exit_code, 1);
  EXPECT_THAT(no_certificate.err,
              HasSubstr("error: cannot reach vmkeeperd at " + daemon_.https_server()));
  EXPECT_THAT(no_certificate.err, HasSubstr("it wants a client certificate: use "
                                            "--client-certificate and --client-key"));
  EXPECT_EQ(AuditCount("ci-deploy", "POST", "/api/v1/apply", 200), 1u);
  EXPECT_EQ(AuditRecords().size(), 1u) << "a connection without a certificate reached the API";
}

}  // namespace
}  // namespace vmk::e2e
