// API security (issue 10, parts 3, 4 and 7) against a real vmkeeperd process on loopback:
// bearer tokens and roles route by route, 401/403 bodies, revocation by SIGHUP, TLS (with and
// without client certificates, reloaded by SIGHUP), the refusal of a non-loopback listen
// address without TLS and authentication, and the audit log. Certificates are made here with
// the OpenSSL API (a CA, another CA, leaf certificates, an expired one). docs/security.md.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <memory>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "cli/api_router.h"
#include "cli/token_authenticator.h"
#include "common/rfc3339.h"
#include "tests/e2e/daemon_harness.h"

namespace vmk::cli {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;
using e2e::ReadFile;
using e2e::RunCommand;
using e2e::ScratchDir;
using e2e::WaitFor;
using e2e::WriteFile;
using Json = nlohmann::json;

// --- certificates -------------------------------------------------------------------------------

struct KeyPair {
  EVP_PKEY* key = nullptr;
  X509* cert = nullptr;
  KeyPair() = default;
  KeyPair(const KeyPair&) = delete;
  KeyPair& operator=(const KeyPair&) = delete;
  ~KeyPair() {
    EVP_PKEY_free(key);
    X509_free(cert);
  }
};

void AddExtension(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  ASSERT_NE(ext, nullptr) << value;
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

// A P-256 key and its certificate, valid from `from` to `until` seconds from now, signed by
// `issuer` (self-signed when null). A CA, or a leaf for 127.0.0.1.
std::unique_ptr<KeyPair> MakeCert(const std::string& cn, const KeyPair* issuer, bool ca,
                                  long from = -3600, long until = 86400) {
  static long serial = 1;
  auto pair = std::make_unique<KeyPair>();
  pair->key = EVP_EC_gen("P-256");
  pair->cert = X509_new();
  X509* cert = pair->cert;
  X509_set_version(cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), serial++);
  X509_gmtime_adj(X509_getm_notBefore(cert), from);
  X509_gmtime_adj(X509_getm_notAfter(cert), until);
  X509_set_pubkey(cert, pair->key);
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509* issuer_cert = issuer != nullptr ? issuer->cert : cert;
  X509_set_issuer_name(cert, X509_get_subject_name(issuer_cert));
  if (ca) {
    AddExtension(cert, issuer_cert, NID_basic_constraints, "critical,CA:TRUE");
    AddExtension(cert, issuer_cert, NID_key_usage, "critical,keyCertSign,cRLSign");
  } else {
    AddExtension(cert, issuer_cert, NID_basic_constraints, "critical,CA:FALSE");
    AddExtension(cert, issuer_cert, NID_subject_alt_name, "IP:127.0.0.1,DNS:localhost");
    AddExtension(cert, issuer_cert, NID_ext_key_usage, "serverAuth,clientAuth");
  }
  X509_sign(cert, issuer != nullptr ? issuer->key : pair->key, EVP_sha256());
  return pair;
}

void WritePem(const KeyPair& pair, const fs::path& cert_file, const fs::path& key_file) {
  FILE* f = fopen(cert_file.c_str(), "w");
  ASSERT_NE(f, nullptr);
  PEM_write_X509(f, pair.cert);
  fclose(f);
  if (key_file.empty()) return;
  f = fopen(key_file.c_str(), "w");
  ASSERT_NE(f, nullptr);
  PEM_write_PrivateKey(f, pair.key, nullptr, nullptr, 0, nullptr, nullptr);
  fclose(f);
  chmod(key_file.c_str(), 0600);
}

// --- a small HTTP/1.0 client, plain or over TLS -------------------------------------------------

struct Answer {
  int status = 0;  // 0: no HTTP answer (refused, reset, TLS failure)
  std::map<std::string, std::string> headers;  // names lowercased
  std::string body;
  std::string error;  // why there is no answer
};

struct TlsClient {
  std::string ca_file;    // trusted CA; empty = plain HTTP
  std::string cert_file;  // client certificate and key, if any
  std::string key_file;
};

Answer ParseAnswer(const std::string& raw) {
  Answer a;
  if (raw.compare(0, 5, "HTTP/") != 0) {
    a.error = raw.empty() ? "no answer" : "not HTTP";
    return a;
  }
  a.status = std::atoi(raw.c_str() + raw.find(' ') + 1);
  size_t end = raw.find("\r\n\r\n");
  size_t at = raw.find("\r\n") + 2;
  while (at < end) {
    size_t eol = raw.find("\r\n", at);
    std::string line = raw.substr(at, eol - at);
    size_t colon = line.find(':');
    if (colon != std::string::npos) {
      std::string name = line.substr(0, colon);
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      a.headers[name] = line.substr(line.find_first_not_of(' ', colon + 1));
    }
    at = eol + 2;
  }
  if (end != std::string::npos) a.body = raw.substr(end + 4);
  return a;
}

// `extra_headers`: whole lines, each ending in \r\n.
Answer Call(int port, const std::string& method, const std::string& path,
            const std::string& token = "", const std::string& body = "",
            const TlsClient& tls = {}, const std::string& extra_headers = "") {
  Answer answer;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    answer.error = "connect failed";
    return answer;
  }
  std::string request = method + " " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n";
  if (!token.empty()) request += "Authorization: Bearer " + token + "\r\n";
  request += extra_headers;
  if (!body.empty() || method == "POST") {
    request += "Content-Type: application/json\r\nContent-Length: " +
               std::to_string(body.size()) + "\r\n";
  }
  request += "\r\n" + body;
  std::string raw;
  if (tls.ca_file.empty()) {
    send(fd, request.data(), request.size(), MSG_NOSIGNAL);
    char buf[4096];
    for (ssize_t n; (n = recv(fd, buf, sizeof buf, 0)) > 0;) raw.append(buf, static_cast<size_t>(n));
    close(fd);
    return ParseAnswer(raw);
  }
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_load_verify_locations(ctx, tls.ca_file.c_str(), nullptr);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  if (!tls.cert_file.empty()) {
    SSL_CTX_use_certificate_chain_file(ctx, tls.cert_file.c_str());
    SSL_CTX_use_PrivateKey_file(ctx, tls.key_file.c_str(), SSL_FILETYPE_PEM);
  }
  SSL* ssl = SSL_new(ctx);
  SSL_set_fd(ssl, fd);
  X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), "127.0.0.1");
  if (SSL_connect(ssl) != 1) {
    char text[256];
    ERR_error_string_n(ERR_get_error(), text, sizeof text);
    answer.error = std::string("handshake: ") + text;
  } else {
    SSL_write(ssl, request.data(), static_cast<int>(request.size()));
    char buf[4096];
    for (int n; (n = SSL_read(ssl, buf, sizeof buf)) > 0;) raw.append(buf, static_cast<size_t>(n));
    answer = ParseAnswer(raw);
    if (answer.status == 0) {
      char text[256];
      ERR_error_string_n(ERR_get_error(), text, sizeof text);
      answer.error += std::string(": ") + text;
    }
  }
  ERR_clear_error();
  SSL_free(ssl);
  SSL_CTX_free(ctx);
  close(fd);
  return answer;
}

// --- a vmkeeperd with the flags under test --------------------------------------------------------

class SecureDaemon {
 public:
  explicit SecureDaemon(fs::path dir) : dir_(std::move(dir)) {}
  ~SecureDaemon() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }

  // Starts vmkeeperd on a free loopback port and waits until it listens.
  bool Start(const std::vector<std::string>& args, const std::string& listen_host = "127.0.0.1") {
    port_ = e2e::FreePort();
    const fs::path ready = dir_ / "ready";
    fs::remove(ready);
    std::vector<std::string> argv = {e2e::BinDir() + "/vmkeeperd",
                                     "--store", (dir_ / "store").string(),
                                     "--embedded-host-dir", (dir_ / "embedded").string(),
                                     "--ready-file", ready.string(),
                                     "--listen", listen_host + ":" + std::to_string(port_)};
    argv.insert(argv.end(), args.begin(), args.end());
    pid_ = fork();
    if (pid_ == 0) {
      int log = open((dir_ / "vmkeeperd.log").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      dup2(log, 1);
      dup2(log, 2);
      std::vector<char*> c_args;
      for (const auto& a : argv) c_args.push_back(const_cast<char*>(a.c_str()));
      c_args.push_back(nullptr);
      execv(c_args[0], c_args.data());
      _exit(127);
    }
    return WaitFor([&] { return fs::exists(ready) || !Alive(); }) && Alive();
  }

  bool Alive() {
    if (pid_ <= 0) return false;
    if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
      pid_ = -1;
      return false;
    }
    return true;
  }
  // SIGHUP, then waits until the daemon logged `logged` once more than before.
  bool Hup(const std::string& logged) {
    const size_t before = Count(logged);
    kill(pid_, SIGHUP);
    return WaitFor([&] { return Count(logged) > before; }, std::chrono::seconds(10));
  }
  size_t Count(const std::string& text) const {
    const std::string log = Log();
    size_t n = 0;
    for (size_t at = log.find(text); at != std::string::npos; at = log.find(text, at + 1)) ++n;
    return n;
  }
  std::string Log() const { return ReadFile(dir_ / "vmkeeperd.log"); }
  int port() const { return port_; }

 private:
  fs::path dir_;
  pid_t pid_ = -1;
  int port_ = 0;
};

// --- fixtures -------------------------------------------------------------------------------------

const std::map<Role, std::string> kTokens = {
    {Role::kViewer, "viewer-token-AAAAAAAAAAAAAAAAAAAAAAAA"},
    {Role::kEditor, "editor-token-BBBBBBBBBBBBBBBBBBBBBBBB"},
    {Role::kAlerts, "alerts-token-CCCCCCCCCCCCCCCCCCCCCCCC"},
    {Role::kAdmin, "admin-token-DDDDDDDDDDDDDDDDDDDDDDDDD"},
};

const char kVm[] =
    "apiVersion: vmkeeper/v1\nkind: VirtualMachine\nmetadata:\n  name: good01\nspec:\n  cpus: 1\n"
    "  memoryMiB: 512\n  disks: [{name: root, image: /i/good01.qcow2, format: qcow2}]\n";

std::string ApplyBody(bool dry_run) {
  return Json{{"files", {{{"name", "vm.yaml"}, {"content", kVm}}}}, {"dryRun", dry_run}}.dump();
}

std::string DiffBody() { return Json{{"files", {{{"name", "vm.yaml"}, {"content", kVm}}}}}.dump(); }

class ApiSecurityTest : public ::testing::Test {
 protected:
  ApiSecurityTest() : scratch_(::testing::UnitTest::GetInstance()->current_test_info()->name()) {}

  // A tokens file with one credential per role: viewer and admin by hash, editor and alerts
  // from token files.
  std::string WriteTokens(const std::vector<Role>& roles = {Role::kViewer, Role::kEditor,
                                                            Role::kAlerts, Role::kAdmin}) {
    const fs::path path = scratch_.path() / "tokens";
    std::string text = "# test credentials\n";
    for (Role role : roles) {
      const std::string name = "the-" + std::string(RoleName(role));
      if (role == Role::kEditor || role == Role::kAlerts) {
        const fs::path token = scratch_.path() / (name + ".token");
        WriteFile(token, kTokens.at(role) + "\n");
        chmod(token.c_str(), 0600);
        text += name + " " + std::string(RoleName(role)) + " file:" + token.filename().string() + "\n";
      } else {
        text += name + " " + std::string(RoleName(role)) + " sha256:" + Sha256Hex(kTokens.at(role)) + "\n";
      }
    }
    WriteFile(path, text);
    return path.string();
  }

  ScratchDir scratch_;
};

struct Route {
  std::string method;
  std::string path;
  std::string body;
  // Who may, as docs/security.md's table says: V viewer, E editor, L alerts, A admin, * anyone
  // (no token needed).
  std::string roles;
};

// Every route of the router (api_router.h), with a body it accepts or at least parses.
const std::vector<Route> kRoutes = {
    {"GET", "/metrics", "", "VEA"},
    {"GET", "/api/v1/hosts", "", "VEA"},
    {"GET", "/api/v1/virtualmachines", "", "VEA"},
    {"GET", "/api/v1/virtualmachines/good01", "", "VEA"},
    {"GET", "/api/v1/snapshotpolicies", "", "VEA"},
    {"GET", "/api/v1/storagepools", "", "VEA"},
    {"GET", "/api/v1/events", "", "VEA"},
    {"GET", "/api/v1/incidents", "", "VEA"},
    {"GET", "/api/v1/availability", "", "VEA"},
    {"GET", "/api/v1/whoami", "", "VELA"},
    {"POST", "/api/v1/diff", DiffBody(), "EA"},
    {"POST", "/api/v1/apply", ApplyBody(true), "EA"},
    {"DELETE", "/api/v1/virtualmachines/nosuchvm", "", "EA"},
    {"POST", "/api/v1/virtualmachines/nosuchvm/snapshots", "{}", "EA"},
    {"POST", "/api/v1/virtualmachines/nosuchvm/rollback", R"({"dryRun":true})", "EA"},
    {"POST", "/api/v1/alerts", R"({"version":"4","status":"firing","alerts":[]})", "LA"},
    {"GET", "/healthz", "", "*"},
    {"GET", "/readyz", "", "*"},
};

char RoleLetter(Role role) {
  switch (role) {
    case Role::kViewer: return 'V';
    case Role::kEditor: return 'E';
    case Role::kAlerts: return 'L';
    case Role::kAdmin: return 'A';
  }
  return '?';
}

// Every route by every role: 403 exactly where the role may not, else the route's own answer
// (never 401/403, never "no such endpoint"); without a token 401 except on the open routes.
TEST_F(ApiSecurityTest, EveryRouteByEveryRole) {
  SecureDaemon daemon(scratch_.path());
  ASSERT_TRUE(daemon.Start({"--token-file", WriteTokens()})) << daemon.Log();
  for (const Route& route : kRoutes) {
    const bool open = route.roles == "*";
    for (const auto& [role, token] : kTokens) {
      const Answer a = Call(daemon.port(), route.method, route.path, token, route.body);
      const std::string what = route.method + " " + route.path + " as " + std::string(RoleName(role));
      ASSERT_NE(a.status, 0) << what << ": " << a.error;
      if (open || route.roles.find(RoleLetter(role)) != std::string::npos) {
        EXPECT_NE(a.status, 401) << what << " " << a.body;
        EXPECT_NE(a.status, 403) << what << " " << a.body;
        EXPECT_THAT(a.body, Not(HasSubstr("no such endpoint"))) << what;
      } else {
        EXPECT_EQ(a.status, 403) << what << " " << a.body;
      }
    }
    const Answer anonymous = Call(daemon.port(), route.method, route.path, "", route.body);
    EXPECT_EQ(anonymous.status == 401, !open)
        << route.method << " " << route.path << " without a token: " << anonymous.status;
  }
  // Paths that are not routes are judged like a read or a write.
  EXPECT_EQ(ApiRouter::RequiredAccess("GET", "/api/v1/nothing"), Access::kRead);
  EXPECT_EQ(ApiRouter::RequiredAccess("PUT", "/api/v1/nothing"), Access::kWrite);
  EXPECT_EQ(ApiRouter::RequiredAccess("POST", "/api/v1/diff"), Access::kWrite);
  EXPECT_EQ(ApiRouter::RequiredAccess("POST", "/api/v1/apply"), Access::kWrite);
  EXPECT_EQ(ApiRouter::RequiredAccess("POST", "/api/v1/alerts"), Access::kAlerts);
  EXPECT_EQ(ApiRouter::RequiredAccess("GET", "/api/v1/whoami"), Access::kAuthenticated);
  EXPECT_EQ(ApiRouter::RequiredAccess("GET", "/metrics"), Access::kRead);
  EXPECT_EQ(ApiRouter::RequiredAccess("DELETE", "/api/v1//virtualmachines/x/"), Access::kWrite);
  EXPECT_EQ(ApiRouter::RequiredAccess("POST", "/api/v1/alerts/"), Access::kAlerts);
}

TEST_F(ApiSecurityTest, WhoamiNamesTheCredentialAndRole) {
  SecureDaemon daemon(scratch_.path());
  ASSERT_TRUE(daemon.Start({"--token-file", WriteTokens()})) << daemon.Log();
  for (const auto& [role, token] : kTokens) {
    const Answer a = Call(daemon.port(), "GET", "/api/v1/whoami", token);
    ASSERT_EQ(a.status, 200) << a.body;
    EXPECT_EQ(Json::parse(a.body),
              (Json{{"user", "the-" + std::string(RoleName(role))}, {"role", RoleName(role)}}));
  }
}

TEST_F(ApiSecurityTest, WithoutATokensFileEveryoneIsTheAnonymousAdmin) {
  SecureDaemon daemon(scratch_.path());
  ASSERT_TRUE(daemon.Start({})) << daemon.Log();
  const Answer a = Call(daemon.port(), "GET", "/api/v1/whoami");
  ASSERT_EQ(a.status, 200);
  EXPECT_EQ(Json::parse(a.body), (Json{{"user", "anonymous"}, {"role", "admin"}}));
  EXPECT_EQ(Call(daemon.port(), "POST", "/api/v1/apply", "", ApplyBody(true)).status, 200);
  EXPECT_EQ(Call(daemon.port(), "GET", "/api/v1/virtualmachines", "some-token-that-is-ignored").status,
            200);
}

TEST_F(ApiSecurityTest, RefusalsAreKubernetesStatusBodies) {
  SecureDaemon daemon(scratch_.path());
  ASSERT_TRUE(daemon.Start({"--token-file", WriteTokens()})) << daemon.Log();
  for (const std::string& token : {std::string(), std::string("wrong-token-0123456789abcdef")}) {
    const Answer a = Call(daemon.port(), "POST", "/api/v1/apply", token, ApplyBody(false));
    ASSERT_EQ(a.status, 401);
    EXPECT_EQ(a.headers.at("www-authenticate"), "Bearer");
    Json body = Json::parse(a.body);
    EXPECT_EQ(body["kind"], "Status");
    EXPECT_EQ(body["apiVersion"], "v1");
    EXPECT_EQ(body["status"], "Failure");
    EXPECT_EQ(body["reason"], "Unauthorized");
    EXPECT_EQ(body["code"], 401);
    EXPECT_THAT(body["message"].get<std::string>(), Not(HasSubstr("wrong-token")));
  }
  const Answer forbidden = Call(daemon.port(), "DELETE", "/api/v1/virtualmachines/wms01",
                                kTokens.at(Role::kViewer));
  ASSERT_EQ(forbidden.status, 403);
  Json body = Json::parse(forbidden.body);
  EXPECT_EQ(body["kind"], "Status");
  EXPECT_EQ(body["reason"], "Forbidden");
  EXPECT_EQ(body["code"], 403);
  EXPECT_EQ(body["message"],
            "credential \"the-viewer\" (role viewer) may not DELETE "
            "/api/v1/virtualmachines/wms01: it needs role editor, admin");
  // A refused write never reached the store.
  EXPECT_EQ(Call(daemon.port(), "GET", "/api/v1/virtualmachines/good01", kTokens.at(Role::kAdmin)).status,
            404);
}

TEST_F(ApiSecurityTest, ATokenRemovedFromTheFileIsRefusedAfterSighup) {
  SecureDaemon daemon(scratch_.path());
  ASSERT_TRUE(daemon.Start({"--token-file", WriteTokens()})) << daemon.Log();
  ASSERT_EQ(Call(daemon.port(), "GET", "/api/v1/whoami", kTokens.at(Role::kEditor)).status, 200);

  WriteTokens({Role::kViewer, Role::kAdmin});
  ASSERT_TRUE(daemon.Hup("tokens file reloaded")) << daemon.Log();
  EXPECT_EQ(Call(daemon.port(), "GET", "/api/v1/whoami", kTokens.at(Role::kEditor)).status, 401);
  EXPECT_EQ(Call(daemon.port(), "GET", "/api/v1/whoami", kTokens.at(Role::kViewer)).status, 200);

  // A broken file on SIGHUP: logged, and the credentials in force stay.
  WriteFile(scratch_.path() / "tokens", "the-viewer viewer not-a-secret\n");
  ASSERT_TRUE(daemon.Hup("tokens file not reloaded")) << daemon.Log();
  EXPECT_EQ(Call(daemon.port(), "GET", "/api/v1/whoami", kTokens.at(Role::kViewer)).status, 200);
  EXPECT_TRUE(daemon.Alive());
}

TEST_F(ApiSecurityTest, NonLoopbackListenNeedsTlsAndAuthenticationOrInsecure) {
  const std::string vmkeeperd = e2e::BinDir() + "/vmkeeperd";
  auto refused = RunCommand({vmkeeperd, "--listen", "0.0.0.0:7480", "--store",
                             (scratch_.path() / "store").string()},
                            scratch_.path());
  EXPECT_EQ(refused.exit_code, 2);
  EXPECT_THAT(refused.err, HasSubstr("listen address 0.0.0.0:7480 is not loopback: serving the "
                                     "API beyond this machine needs TLS and authentication"));
  EXPECT_THAT(refused.err, HasSubstr("--insecure"));
  EXPECT_FALSE(fs::exists(scratch_.path() / "store")) << "refused before anything started";
  auto tokens_only = RunCommand({vmkeeperd, "--listen", "[::]:7480", "--token-file",
                                 WriteTokens(), "--check-config"},
                                scratch_.path());
  EXPECT_EQ(tokens_only.exit_code, 2);
  EXPECT_THAT(tokens_only.err, HasSubstr("TLS (tlsCert, tlsKey) is not configured"));
  auto insecure = RunCommand({vmkeeperd, "--listen", "0.0.0.0:7480", "--insecure", "--check-config"},
                             scratch_.path());
  EXPECT_EQ(insecure.exit_code, 0) << insecure.err;

  // Started with --insecure on every address: it serves, and says loudly what it leaves open.
  SecureDaemon daemon(scratch_.path());
  ASSERT_TRUE(daemon.Start({"--insecure"}, "0.0.0.0"))
      << daemon.Log();
  EXPECT_THAT(daemon.Log(), HasSubstr("INSECURE: --insecure serves the API beyond this machine "
                                      "without TLS and without authentication"));
}

class ApiTlsTest : public ApiSecurityTest {
 protected:
  void SetUp() override {
    ca_ = MakeCert("vmkeeper test CA", nullptr, true);
    other_ca_ = MakeCert("another CA", nullptr, true);
    server_ = MakeCert("127.0.0.1", ca_.get(), false);
    client_ = MakeCert("client", ca_.get(), false);
    foreign_client_ = MakeCert("foreign client", other_ca_.get(), false);
    expired_client_ = MakeCert("expired client", ca_.get(), false, -7200, -3600);
    const fs::path d = scratch_.path();
    WritePem(*ca_, d / "ca.crt", "");
    WritePem(*other_ca_, d / "other-ca.crt", "");
    WritePem(*server_, d / "server.crt", d / "server.key");
    WritePem(*client_, d / "client.crt", d / "client.key");
    WritePem(*foreign_client_, d / "foreign.crt", d / "foreign.key");
    WritePem(*expired_client_, d / "expired.crt", d / "expired.key");
  }

  std::vector<std::string> TlsFlags() const {
    const fs::path d = scratch_.path();
    return {"--tls-cert", (d / "server.crt").string(), "--tls-key", (d / "server.key").string()};
  }
  TlsClient Trusting(const std::string& ca, const std::string& client = "") const {
    const fs::path d = scratch_.path();
    TlsClient c{(d / ca).string(), "", ""};
    if (!client.empty()) {
      c.cert_file = (d / (client + ".crt")).string();
      c.key_file = (d / (client + ".key")).string();
    }
    return c;
  }

  std::unique_ptr<KeyPair> ca_, other_ca_, server_, client_, foreign_client_, expired_client_;
};

TEST_F(ApiTlsTest, HttpsWithTheRightCaOnlyAndNoPlainHttp) {
  SecureDaemon daemon(scratch_.path());
  std::vector<std::string> flags = TlsFlags();
  flags.insert(flags.end(), {"--token-file", WriteTokens()});
  ASSERT_TRUE(daemon.Start(flags)) << daemon.Log();
  const std::string admin = kTokens.at(Role::kAdmin);

  const Answer ok = Call(daemon.port(), "GET", "/api/v1/whoami", admin, "", Trusting("ca.crt"));
  ASSERT_EQ(ok.status, 200) << ok.error;
  EXPECT_EQ(Json::parse(ok.body)["user"], "the-admin");
  EXPECT_EQ(Call(daemon.port(), "GET", "/api/v1/whoami", "", "", Trusting("ca.crt")).status, 401);
  EXPECT_EQ(Call(daemon.port(), "GET", "/healthz", "", "", Trusting("ca.crt")).status, 200);

  const Answer plain = Call(daemon.port(), "GET", "/api/v1/whoami", admin);
  EXPECT_EQ(plain.status, 0) << "plain HTTP to the TLS port must get no HTTP answer";
  const Answer other = Call(daemon.port(), "GET", "/api/v1/whoami", admin, "", Trusting("other-ca.crt"));
  EXPECT_EQ(other.status, 0);
  EXPECT_THAT(other.error, HasSubstr("certificate verify failed"));
  // Still serving after the failed handshakes.
  EXPECT_EQ(Call(daemon.port(), "GET", "/healthz", "", "", Trusting("ca.crt")).status, 200);
}

TEST_F(ApiTlsTest, ClientCertificatesAreRequiredAndVerified) {
  SecureDaemon daemon(scratch_.path());
  std::vector<std::string> flags = TlsFlags();
  flags.insert(flags.end(), {"--tls-client-ca", (scratch_.path() / "ca.crt").string(),
                             "--token-file", WriteTokens()});
  ASSERT_TRUE(daemon.Start(flags)) << daemon.Log();
  const std::string viewer = kTokens.at(Role::kViewer);

  const Answer ok =
      Call(daemon.port(), "GET", "/api/v1/whoami", viewer, "", Trusting("ca.crt", "client"));
  ASSERT_EQ(ok.status, 200) << ok.error;
  EXPECT_EQ(Json::parse(ok.body)["role"], "viewer") << "the token still names the caller";
  for (const std::string& client : {std::string(), std::string("foreign"), std::string("expired")}) {
    const Answer refused =
        Call(daemon.port(), "GET", "/api/v1/whoami", viewer, "", Trusting("ca.crt", client));
    EXPECT_EQ(refused.status, 0) << "client certificate \"" << client << "\" was accepted";
  }
  EXPECT_EQ(Call(daemon.port(), "GET", "/healthz", "", "", Trusting("ca.crt", "client")).status, 200);
}

TEST_F(ApiTlsTest, SighupLoadsANewCertificateForNewConnections) {
  SecureDaemon daemon(scratch_.path());
  std::vector<std::string> flags = TlsFlags();
  flags.insert(flags.end(), {"--token-file", WriteTokens()});
  ASSERT_TRUE(daemon.Start(flags)) << daemon.Log();
  ASSERT_EQ(Call(daemon.port(), "GET", "/healthz", "", "", Trusting("ca.crt")).status, 200);

  auto renewed = MakeCert("127.0.0.1", other_ca_.get(), false);
  WritePem(*renewed, scratch_.path() / "server.crt", scratch_.path() / "server.key");
  ASSERT_TRUE(daemon.Hup("TLS files reloaded")) << daemon.Log();
  EXPECT_EQ(Call(daemon.port(), "GET", "/healthz", "", "", Trusting("other-ca.crt")).status, 200);
  EXPECT_EQ(Call(daemon.port(), "GET", "/healthz", "", "", Trusting("ca.crt")).status, 0);

  // A key that does not match: refused, the certificate in force stays.
  auto stray = MakeCert("127.0.0.1", ca_.get(), false);
  WritePem(*stray, scratch_.path() / "stray.crt", scratch_.path() / "server.key");
  ASSERT_TRUE(daemon.Hup("TLS files not reloaded")) << daemon.Log();
  EXPECT_EQ(Call(daemon.port(), "GET", "/healthz", "", "", Trusting("other-ca.crt")).status, 200);
}

// The ConnectionReaper works on the TCP sockets under TLS alike: a client that never starts
// its handshake is idle, one that stops halfway has an unanswered request.
TEST_F(ApiTlsTest, StalledHandshakesAreClosedByTheConnectionLimits) {
  SecureDaemon daemon(scratch_.path());
  std::vector<std::string> flags = TlsFlags();
  flags.insert(flags.end(), {"--token-file", WriteTokens(), "--idle-timeout-seconds", "1",
                             "--request-timeout-seconds", "1"});
  ASSERT_TRUE(daemon.Start(flags)) << daemon.Log();
  auto open_raw = [&](const std::string& send_first) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(daemon.port()));
    EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    if (!send_first.empty()) send(fd, send_first.data(), send_first.size(), MSG_NOSIGNAL);
    return fd;
  };
  auto closed_within = [](int fd, std::chrono::seconds limit) {
    return WaitFor(
        [fd] {
          pollfd p{fd, POLLIN, 0};
          if (poll(&p, 1, 0) <= 0) return false;
          char buf[256];
          return recv(fd, buf, sizeof buf, MSG_DONTWAIT) <= 0;
        },
        limit);
  };
  const int idle = open_raw("");
  // The first bytes of a TLS ClientHello record, and no more.
  const int half = open_raw(std::string("\x16\x03\x01\x02\x00\x01", 6));
  EXPECT_TRUE(closed_within(idle, std::chrono::seconds(5)));
  EXPECT_TRUE(closed_within(half, std::chrono::seconds(5)));
  close(idle);
  close(half);
  EXPECT_EQ(Call(daemon.port(), "GET", "/healthz", "", "", Trusting("ca.crt")).status, 200);
}

TEST_F(ApiSecurityTest, AuditLogRecordsWritesAndDenialsWithoutSecrets) {
  SecureDaemon daemon(scratch_.path());
  const fs::path audit = scratch_.path() / "audit.log";
  ASSERT_TRUE(daemon.Start({"--token-file", WriteTokens(), "--audit-log", audit.string()}))
      << daemon.Log();
  const int port = daemon.port();
  ASSERT_EQ(Call(port, "POST", "/api/v1/apply", kTokens.at(Role::kEditor), ApplyBody(false)).status, 200);
  ASSERT_EQ(Call(port, "GET", "/api/v1/virtualmachines", kTokens.at(Role::kViewer)).status, 200);
  ASSERT_EQ(Call(port, "POST", "/api/v1/diff", kTokens.at(Role::kEditor), DiffBody()).status, 200);
  ASSERT_EQ(Call(port, "DELETE", "/api/v1/virtualmachines/good01", kTokens.at(Role::kViewer)).status, 403);
  ASSERT_EQ(Call(port, "GET", "/api/v1/events", "wrong-token-0123456789abcdef").status, 401);
  ASSERT_EQ(Call(port, "DELETE", "/api/v1/virtualmachines/good01", kTokens.at(Role::kAdmin)).status, 200);
  // Refused by the edge (a cross-origin write) before any token is looked at.
  ASSERT_EQ(Call(port, "POST", "/api/v1/apply", kTokens.at(Role::kAdmin), ApplyBody(false), {},
                 "Origin: http://evil.example\r\n")
                .status,
            403);

  std::vector<Json> lines;
  ASSERT_TRUE(WaitFor([&] {
    lines.clear();
    std::istringstream in(ReadFile(audit));
    for (std::string line; std::getline(in, line);) lines.push_back(Json::parse(line));
    return lines.size() >= 6;
  }));
  ASSERT_EQ(lines.size(), 6u) << "reads are not recorded";
  auto expect = [](const Json& l, const std::string& user, const std::string& verb,
                   const std::string& path, int status) {
    EXPECT_EQ(l["user"], user.empty() ? Json() : Json(user)) << l;
    EXPECT_EQ(l["verb"], verb) << l;
    EXPECT_EQ(l["path"], path) << l;
    EXPECT_EQ(l["status"], status) << l;
    EXPECT_EQ(l["source"], "127.0.0.1") << l;
    WallTime t;
    EXPECT_TRUE(ParseRfc3339(l["time"].get<std::string>(), &t)) << l;
  };
  expect(lines[0], "the-editor", "POST", "/api/v1/apply", 200);
  EXPECT_EQ(lines[0]["role"], "editor");
  EXPECT_EQ(lines[0]["objects"], Json::array({"VirtualMachine/good01"}));
  // diff is an editor's (it compares stored secrets), recorded like the other writes.
  expect(lines[1], "the-editor", "POST", "/api/v1/diff", 200);
  expect(lines[2], "the-viewer", "DELETE", "/api/v1/virtualmachines/good01", 403);
  EXPECT_THAT(lines[2]["reason"].get<std::string>(), HasSubstr("may not DELETE"));
  expect(lines[3], "", "GET", "/api/v1/events", 401);
  EXPECT_EQ(lines[3]["reason"], "invalid bearer token");
  expect(lines[4], "the-admin", "DELETE", "/api/v1/virtualmachines/good01", 200);
  expect(lines[5], "", "POST", "/api/v1/apply", 403);
  EXPECT_THAT(lines[5]["reason"].get<std::string>(), HasSubstr("cross-origin write refused"));
  const std::string text = ReadFile(audit);
  for (const auto& [role, token] : kTokens) EXPECT_THAT(text, Not(HasSubstr(token)));
  EXPECT_THAT(text, Not(HasSubstr("wrong-token")));
}

TEST_F(ApiSecurityTest, AuditLogRotatesAtItsSizeCap) {
  SecureDaemon daemon(scratch_.path());
  const fs::path audit = scratch_.path() / "audit.log";
  ASSERT_TRUE(daemon.Start({"--token-file", WriteTokens(), "--audit-log", audit.string(),
                            "--audit-log-max-bytes", "4096", "--audit-log-max-files", "2"}))
      << daemon.Log();
  // Each denial is a line of about 200 bytes: 80 of them fill the file four times over.
  for (int i = 0; i < 80; ++i) {
    ASSERT_EQ(Call(daemon.port(), "POST", "/api/v1/apply", kTokens.at(Role::kViewer), "{}").status, 403);
  }
  ASSERT_TRUE(WaitFor([&] { return fs::exists(audit.string() + ".2"); })) << daemon.Log();
  EXPECT_FALSE(fs::exists(audit.string() + ".3"));
  for (const std::string& file : {audit.string(), audit.string() + ".1", audit.string() + ".2"}) {
    EXPECT_LE(fs::file_size(file), 4096u) << file;
    std::istringstream in(ReadFile(file));
    for (std::string line; std::getline(in, line);) {
      EXPECT_EQ(Json::parse(line)["status"], 403) << file;
    }
  }
}

// The value of the child of `family` with `labels` ("reason=\"x\"", or "" for none) in a
// /metrics text; -1 when absent.
double Sample(const std::string& metrics, const std::string& family, const std::string& labels) {
  const std::string name = labels.empty() ? family + " " : family + "{" + labels + "} ";
  std::istringstream lines(metrics);
  for (std::string line; std::getline(lines, line);) {
    if (line.compare(0, name.size(), name) == 0) return std::stod(line.substr(name.size()));
  }
  return -1;
}

// Writes per credential (docs/security.md): an editor over its bucket gets 429 with Retry-After
// from the bucket and a Status body, while a viewer's read, another credential's write and
// Alertmanager's intake still pass; the refusal is audited and counted in /metrics.
TEST_F(ApiSecurityTest, WritesOverACredentialsRateLimitGet429WithRetryAfter) {
  SecureDaemon daemon(scratch_.path());
  const fs::path audit = scratch_.path() / "audit.log";
  // Two writes at once, then one per 100 s: the third write waits about 100 s.
  ASSERT_TRUE(daemon.Start({"--token-file", WriteTokens(), "--audit-log", audit.string(),
                            "--write-rate-limit", "0.01", "--write-burst", "2"}))
      << daemon.Log();
  const int port = daemon.port();
  const std::string& editor = kTokens.at(Role::kEditor);
  ASSERT_EQ(Call(port, "POST", "/api/v1/apply", editor, ApplyBody(true)).status, 200);
  ASSERT_EQ(Call(port, "POST", "/api/v1/diff", editor, DiffBody()).status, 200);
  const Answer limited = Call(port, "DELETE", "/api/v1/virtualmachines/good01", editor);
  ASSERT_EQ(limited.status, 429) << limited.body;
  const int retry_after = std::stoi(limited.headers.at("retry-after"));
  EXPECT_GE(retry_after, 60);  // 100 s less the time the test took so far
  EXPECT_LE(retry_after, 100);
  Json body = Json::parse(limited.body);
  EXPECT_EQ(body["kind"], "Status");
  EXPECT_EQ(body["status"], "Failure");
  EXPECT_EQ(body["reason"], "TooManyRequests");
  EXPECT_EQ(body["code"], 429);
  EXPECT_EQ(body["details"]["retryAfterSeconds"], retry_after);
  EXPECT_THAT(body["message"].get<std::string>(),
              HasSubstr("credential \"the-editor\" is over the write rate limit"));
  // Still limited; the editor's reads are not.
  EXPECT_EQ(Call(port, "POST", "/api/v1/apply", editor, ApplyBody(true)).status, 429);
  EXPECT_EQ(Call(port, "GET", "/api/v1/virtualmachines", editor).status, 200);
  // Others are not touched: a viewer's read, the admin's writes, Alertmanager's posts (beyond
  // any burst: the intake is not limited), and a viewer's write is a 403, not a 429.
  EXPECT_EQ(Call(port, "GET", "/api/v1/virtualmachines", kTokens.at(Role::kViewer)).status, 200);
  EXPECT_EQ(Call(port, "POST", "/api/v1/apply", kTokens.at(Role::kAdmin), ApplyBody(true)).status, 200);
  EXPECT_EQ(Call(port, "DELETE", "/api/v1/virtualmachines/nosuchvm", kTokens.at(Role::kAdmin)).status,
            404);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(Call(port, "POST", "/api/v1/alerts", kTokens.at(Role::kAlerts),
                   R"({"version":"4","status":"firing","alerts":[]})")
                  .status,
              200);
  }
  EXPECT_EQ(Call(port, "DELETE", "/api/v1/virtualmachines/x", kTokens.at(Role::kViewer)).status, 403);
  EXPECT_EQ(Call(port, "GET", "/healthz").status, 200);

  // Audited like the other refusals, with who and why.
  bool found = false;
  ASSERT_TRUE(WaitFor([&] {
    std::istringstream in(ReadFile(audit));
    for (std::string line; std::getline(in, line);) {
      const Json l = Json::parse(line);
      if (l["status"] == 429 && l["verb"] == "DELETE") {
        EXPECT_EQ(l["user"], "the-editor") << l;
        EXPECT_EQ(l["role"], "editor") << l;
        EXPECT_THAT(l["reason"].get<std::string>(), HasSubstr("write rate limit")) << l;
        found = true;
      }
    }
    return found;
  }));
  // And counted: two rate-limited writes, one 403.
  const Answer metrics = Call(port, "GET", "/metrics", kTokens.at(Role::kViewer));
  ASSERT_EQ(metrics.status, 200);
  EXPECT_EQ(Sample(metrics.body, "vmkeeper_api_requests_refused_total", "reason=\"rate_limited\""), 2);
  EXPECT_EQ(Sample(metrics.body, "vmkeeper_api_requests_refused_total", "reason=\"forbidden\""), 1);
  EXPECT_EQ(Sample(metrics.body, "vmkeeper_api_requests_refused_total", "reason=\"unauthenticated\""), 0);
}

// Without a tokens file everyone is the anonymous admin: the bucket is the client address's.
TEST_F(ApiSecurityTest, WithoutATokensFileTheWriteLimitIsPerClientAddress) {
  SecureDaemon daemon(scratch_.path());
  ASSERT_TRUE(daemon.Start({"--write-rate-limit", "0.01", "--write-burst", "1"})) << daemon.Log();
  EXPECT_EQ(Call(daemon.port(), "DELETE", "/api/v1/virtualmachines/nosuchvm").status, 404);
  const Answer limited = Call(daemon.port(), "DELETE", "/api/v1/virtualmachines/nosuchvm");
  ASSERT_EQ(limited.status, 429);
  EXPECT_THAT(limited.body, HasSubstr("client 127.0.0.1 is over the write rate limit"));
  EXPECT_GE(std::stoi(limited.headers.at("retry-after")), 60);
  EXPECT_EQ(Call(daemon.port(), "GET", "/api/v1/virtualmachines").status, 200);
}

TEST_F(ApiSecurityTest, WriteRateLimitZeroIsOff) {
  SecureDaemon daemon(scratch_.path());
  ASSERT_TRUE(daemon.Start({"--write-rate-limit", "0", "--write-burst", "1"})) << daemon.Log();
  for (int i = 0; i < 30; ++i) {
    ASSERT_EQ(Call(daemon.port(), "DELETE", "/api/v1/virtualmachines/nosuchvm").status, 404) << i;
  }
}

// /metrics counts the edge's refusals by reason, the connections the limits closed and the
// open connections, each provoked here against a real vmkeeperd.
TEST_F(ApiSecurityTest, MetricsCountRefusalsAndClosedConnections) {
  SecureDaemon daemon(scratch_.path());
  ASSERT_TRUE(daemon.Start({"--token-file", WriteTokens(), "--idle-timeout-seconds", "1",
                            "--max-body-bytes", "2048"}))
      << daemon.Log();
  const int port = daemon.port();
  const std::string& viewer = kTokens.at(Role::kViewer);
  auto scrape = [&] {
    const Answer a = Call(port, "GET", "/metrics", viewer);
    EXPECT_EQ(a.status, 200) << a.body;
    return a.body;
  };
  const std::string before = scrape();
  for (const char* reason : {"method", "uri_too_long", "headers_too_large", "malformed", "host",
                             "origin", "chunked", "too_large", "content_type", "too_busy",
                             "too_many_bodies", "unauthenticated", "forbidden", "rate_limited"}) {
    EXPECT_EQ(Sample(before, "vmkeeper_api_requests_refused_total",
                     "reason=\"" + std::string(reason) + "\""),
              0)
        << reason << " is there from start, at 0";
  }
  for (const char* reason : {"request_timeout", "idle_timeout", "over_limit", "too_many_bytes"}) {
    EXPECT_EQ(Sample(before, "vmkeeper_api_connections_closed_total",
                     "reason=\"" + std::string(reason) + "\""),
              0)
        << reason;
  }

  EXPECT_EQ(Call(port, "TRACE", "/", viewer).status, 405);
  EXPECT_EQ(Call(port, "POST", "/api/v1/apply", kTokens.at(Role::kEditor), ApplyBody(true), {},
                 "Origin: http://evil.example\r\n")
                .status,
            403);
  EXPECT_EQ(Call(port, "POST", "/api/v1/apply", kTokens.at(Role::kEditor), std::string(4096, ' ')).status,
            413);
  EXPECT_EQ(Call(port, "GET", "/api/v1/events").status, 401);
  EXPECT_EQ(Call(port, "GET", "/api/v1/events", "wrong-token-0123456789abcdef").status, 401);
  EXPECT_EQ(Call(port, "POST", "/api/v1/apply", viewer, ApplyBody(true)).status, 403);

  // A connection that sends nothing: open while it lasts, closed by the idle timeout.
  int idle = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  ASSERT_EQ(connect(idle, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  EXPECT_TRUE(WaitFor([&] {
    return Sample(scrape(), "vmkeeper_api_open_connections", "") >= 1;
  }, std::chrono::seconds(10)));
  std::string after;
  EXPECT_TRUE(WaitFor([&] {
    after = scrape();
    return Sample(after, "vmkeeper_api_connections_closed_total", "reason=\"idle_timeout\"") >= 1;
  }, std::chrono::seconds(20))) << after;
  close(idle);
  EXPECT_EQ(Sample(after, "vmkeeper_api_requests_refused_total", "reason=\"method\""), 1);
  EXPECT_EQ(Sample(after, "vmkeeper_api_requests_refused_total", "reason=\"origin\""), 1);
  EXPECT_EQ(Sample(after, "vmkeeper_api_requests_refused_total", "reason=\"too_large\""), 1);
  EXPECT_EQ(Sample(after, "vmkeeper_api_requests_refused_total", "reason=\"unauthenticated\""), 2);
  EXPECT_EQ(Sample(after, "vmkeeper_api_requests_refused_total", "reason=\"forbidden\""), 1);
  EXPECT_EQ(Sample(after, "vmkeeper_api_requests_refused_total", "reason=\"host\""), 0);
  EXPECT_EQ(Sample(after, "vmkeeper_api_requests_refused_total", "reason=\"rate_limited\""), 0);
  EXPECT_THAT(after, HasSubstr("# TYPE vmkeeper_api_connections_closed_total counter"));
  EXPECT_THAT(after, HasSubstr("# TYPE vmkeeper_api_open_connections gauge"));
}

}  // namespace
}  // namespace vmk::cli
