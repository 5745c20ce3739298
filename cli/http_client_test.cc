// HttpClient's credentials and TLS against real local listeners: the bearer token as a header,
// never in a message, refused over plain http to a host that is not loopback; https with the
// right CA, and the clear error of each way it can go wrong (unknown CA, self-signed, wrong host
// name, plain HTTP on an https URL, connection refused, missing client certificate).
#include "cli/http_client.h"

#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "cli/http_server.h"
#include "cli/tls_diagnosis.h"
#include "tests/fakes/closed_port.h"
#include "tests/fakes/loopback_http_server.h"
#include "tests/fakes/loopback_tls_server.h"
#include "tests/fakes/test_pki.h"

namespace vmk::cli {
namespace {

namespace fs = std::filesystem;
using fakes::LoopbackHttpServer;
using fakes::LoopbackTlsServer;
using fakes::Reply;
using fakes::TestPki;
using fakes::TlsServerOptions;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kToken[] = "vmk-secret-token-4f1c2a";
constexpr char kOkReply[] =
    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n"
    "Connection: close\r\n\r\n{}";

HttpClientOptions WithToken() {
  HttpClientOptions options;
  options.timeout = std::chrono::seconds(10);
  options.bearer_token = kToken;
  return options;
}

TEST(HttpClientTokenTest, SendsTheTokenAsABearerHeader) {
  LoopbackHttpServer server(Reply::Raw(kOkReply));
  auto client = HttpClient::Create("http://127.0.0.1:" + std::to_string(server.port()),
                                   WithToken());
  ASSERT_TRUE(client.ok()) << client.status().message();
  auto response = (*client)->Send("GET", "/api/v1/whoami");
  ASSERT_TRUE(response.ok()) << response.status().message();
  EXPECT_EQ(response->status, 200);
  ASSERT_TRUE(server.WaitForRequests(1, std::chrono::seconds(5)));
  EXPECT_EQ(server.last_request().headers["authorization"], std::string("Bearer ") + kToken);
}

TEST(HttpClientTokenTest, SendsNoAuthorizationWithoutAToken) {
  LoopbackHttpServer server(Reply::Raw(kOkReply));
  auto client = HttpClient::Create("http://127.0.0.1:" + std::to_string(server.port()),
                                   std::chrono::seconds(10));
  ASSERT_TRUE(client.ok());
  ASSERT_TRUE((*client)->Send("GET", "/healthz").ok());
  ASSERT_TRUE(server.WaitForRequests(1, std::chrono::seconds(5)));
  EXPECT_EQ(server.last_request().headers.count("authorization"), 0u);
}

TEST(HttpClientTokenTest, RefusesATokenOverPlainHttpToAHostThatIsNotLoopback) {
  for (const char* url : {"http://192.0.2.10:7480", "http://vmkeeperd.example.com",
                          "10.1.2.3:7480", "http://[2001:db8::1]:7480"}) {
    auto client = HttpClient::Create(url, WithToken());
    ASSERT_FALSE(client.ok()) << url;
    EXPECT_THAT(client.status().message(),
                AllOf(HasSubstr("refusing to send the bearer token to"),
                      HasSubstr("use an https:// server URL"), Not(HasSubstr(kToken))))
        << url;
  }
  // Loopback addresses are fine: the token never leaves the machine.
  for (const char* url : {"http://127.0.0.1:7480", "http://127.3.2.1:7480", "http://localhost",
                          "http://[::1]:7480", "http://LOCALHOST:1"}) {
    EXPECT_TRUE(HttpClient::Create(url, WithToken()).ok()) << url;
  }
  // Without a token, any host.
  EXPECT_TRUE(HttpClient::Create("http://192.0.2.10:7480", std::chrono::seconds(1)).ok());
}

TEST(HttpClientTokenTest, TheTokenIsInNoErrorMessage) {
  fakes::ClosedPort closed;
  auto client =
      HttpClient::Create("http://127.0.0.1:" + std::to_string(closed.port()), WithToken());
  ASSERT_TRUE(client.ok());
  auto refused = (*client)->Send("GET", "/api/v1/hosts");
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(refused.status().message(),
              AllOf(HasSubstr("connection refused"), Not(HasSubstr(kToken))));

  // A server that takes the request and never answers: the timeout's message.
  LoopbackHttpServer silent(Reply::NeverAnswer());
  HttpClientOptions quick = WithToken();
  quick.timeout = std::chrono::milliseconds(300);
  auto slow = HttpClient::Create("http://127.0.0.1:" + std::to_string(silent.port()), quick);
  ASSERT_TRUE(slow.ok());
  auto timed_out = (*slow)->Send("GET", "/api/v1/hosts");
  ASSERT_FALSE(timed_out.ok());
  EXPECT_THAT(timed_out.status().message(),
              AllOf(HasSubstr("timed out"), Not(HasSubstr(kToken))));
}

// A 429 (the write rate limit, or the in-flight cap) was refused before it was handled: the
// client waits its Retry-After and sends it again; a Retry-After it will not wait gives the 429.
TEST(HttpClientRetryTest, A429IsWaitedOutAndSentAgain) {
  const std::string too_many =
      "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 1\r\nContent-Length: 0\r\n"
      "Connection: close\r\n\r\n";
  LoopbackHttpServer server({Reply::Raw(too_many)}, Reply::Raw(kOkReply));
  auto client = HttpClient::Create(server.Url(""), std::chrono::seconds(10));
  ASSERT_TRUE(client.ok()) << client.status().message();
  auto response = (*client)->Send("DELETE", "/api/v1/virtualmachines/a");
  ASSERT_TRUE(response.ok()) << response.status().message();
  EXPECT_EQ(response->status, 200);
  ASSERT_EQ(server.requests().size(), 2u);
  EXPECT_EQ(server.requests()[1].request_line, "DELETE /api/v1/virtualmachines/a HTTP/1.1");

  const std::string too_long =
      "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 3600\r\nContent-Length: 0\r\n"
      "Connection: close\r\n\r\n";
  LoopbackHttpServer patient(Reply::Raw(too_long));
  auto client2 = HttpClient::Create(patient.Url(""), std::chrono::seconds(10));
  ASSERT_TRUE(client2.ok());
  auto refused = (*client2)->Send("DELETE", "/api/v1/virtualmachines/a");
  ASSERT_TRUE(refused.ok());
  EXPECT_EQ(refused->status, 429);
  EXPECT_EQ(patient.requests().size(), 1u);
}

class HttpClientTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("vmk-tls-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    pki_ = std::make_unique<TestPki>(dir_.string(), "vmk");
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::unique_ptr<LoopbackTlsServer> Serve(const fakes::IssuedCertificate& cert,
                                           const std::string& client_ca = "") {
    TlsServerOptions options;
    options.certificate_file = cert.certificate_file;
    options.key_file = cert.key_file;
    options.client_ca_file = client_ca;
    options.reply = kOkReply;
    return std::make_unique<LoopbackTlsServer>(options);
  }
  static std::string Url(const LoopbackTlsServer& server, const std::string& host = "127.0.0.1") {
    return "https://" + host + ":" + std::to_string(server.port());
  }
  // The message of a request that must fail.
  static std::string FailureOf(const std::string& url, const HttpClientOptions& options) {
    auto client = HttpClient::Create(url, options);
    if (!client.ok()) return "Create: " + client.status().message();
    auto response = (*client)->Send("GET", "/api/v1/whoami");
    EXPECT_FALSE(response.ok()) << url;
    return response.ok() ? "" : response.status().message();
  }

  fs::path dir_;
  std::unique_ptr<TestPki> pki_;
};

TEST_F(HttpClientTlsTest, WorksWithTheRightCertificateAuthority) {
  auto server = Serve(pki_->Issue("server", {"DNS:localhost", "IP:127.0.0.1"}));
  HttpClientOptions options = WithToken();
  options.certificate_authority = pki_->ca_file();
  for (const std::string& host : std::vector<std::string>{"127.0.0.1", "localhost"}) {
    auto client = HttpClient::Create(Url(*server, host), options);
    ASSERT_TRUE(client.ok()) << client.status().message();
    auto response = (*client)->Send("GET", "/api/v1/whoami");
    ASSERT_TRUE(response.ok()) << host << ": " << response.status().message();
    EXPECT_EQ(response->status, 200);
    EXPECT_EQ(response->body, "{}");
  }
  ASSERT_TRUE(server->WaitForRequests(2, std::chrono::seconds(5)));
  EXPECT_EQ(server->requests().at(0).request.headers.at("authorization"),
            std::string("Bearer ") + kToken);
}

TEST_F(HttpClientTlsTest, AnUnknownCertificateAuthorityIsAClearError) {
  auto server = Serve(pki_->Issue("server", {"IP:127.0.0.1"}));
  HttpClientOptions options = WithToken();  // the system's CAs do not know the test CA
  std::string message = FailureOf(Url(*server), options);
  EXPECT_THAT(message, AllOf(HasSubstr("cannot reach vmkeeperd at " + Url(*server)),
                             HasSubstr("certificate verify failed: unable to get local issuer "
                                       "certificate; use --certificate-authority"),
                             Not(HasSubstr(kToken))));

  TestPki other(dir_.string(), "other");
  options.certificate_authority = other.ca_file();
  EXPECT_THAT(FailureOf(Url(*server), options),
              HasSubstr("the server's certificate is not signed by " + other.ca_file()));
}

TEST_F(HttpClientTlsTest, ASelfSignedCertificateIsAClearError) {
  auto server = Serve(pki_->Issue("selfie", {"IP:127.0.0.1"}, /*self_signed=*/true));
  std::string message = FailureOf(Url(*server), WithToken());
  EXPECT_THAT(message, AllOf(HasSubstr("cannot reach vmkeeperd at " + Url(*server)),
                             HasSubstr("certificate verify failed: self"),
                             HasSubstr("signed certificate"),
                             HasSubstr("use --certificate-authority")));
  // Told not to check, the client goes through (and says nothing of it: the CLI warns).
  HttpClientOptions insecure = WithToken();
  insecure.insecure_skip_tls_verify = true;
  auto client = HttpClient::Create(Url(*server), insecure);
  ASSERT_TRUE(client.ok());
  auto response = (*client)->Send("GET", "/healthz");
  ASSERT_TRUE(response.ok()) << response.status().message();
  EXPECT_EQ(response->status, 200);
}

TEST_F(HttpClientTlsTest, AWrongHostNameIsAClearError) {
  auto server = Serve(pki_->Issue("elsewhere", {"DNS:elsewhere.example"}));
  HttpClientOptions options = WithToken();
  options.certificate_authority = pki_->ca_file();
  EXPECT_THAT(FailureOf(Url(*server), options),
              AllOf(HasSubstr("cannot reach vmkeeperd at " + Url(*server)),
                    HasSubstr("the server's certificate is for DNS:elsewhere.example, not "
                              "127.0.0.1")));
}

TEST_F(HttpClientTlsTest, PlainHttpOnAnHttpsUrlIsAClearError) {
  // vmkeeperd's own server without TLS, as a user would meet it (a short request timeout bounds
  // the test should it ever wait for a request head that a TLS handshake never completes).
  HttpServerOptions plain;
  plain.listen = "127.0.0.1:0";
  plain.request_timeout = std::chrono::milliseconds(500);
  plain.scan_interval = std::chrono::milliseconds(50);
  HttpServer server(
      plain, [](const HttpRequest&) { return HttpResponse{}; }, RealClock::Get());
  ASSERT_TRUE(server.Start().ok());
  const std::string url = "https://" + server.address();
  EXPECT_THAT(FailureOf(url, WithToken()),
              AllOf(HasSubstr("cannot reach vmkeeperd at " + url),
                    HasSubstr("the server speaks plain HTTP, not HTTPS: use http://" +
                              server.address())));
}

TEST_F(HttpClientTlsTest, ConnectionRefusedNamesTheUrl) {
  fakes::ClosedPort closed;
  const std::string url = "https://127.0.0.1:" + std::to_string(closed.port());
  EXPECT_EQ(FailureOf(url, WithToken()),
            "cannot reach vmkeeperd at " + url + ": connection refused");
}

TEST_F(HttpClientTlsTest, ClientCertificates) {
  TestPki clients(dir_.string(), "clients");
  auto server = Serve(pki_->Issue("server", {"IP:127.0.0.1"}), clients.ca_file());
  HttpClientOptions options;
  options.timeout = std::chrono::seconds(10);
  options.certificate_authority = pki_->ca_file();

  EXPECT_THAT(FailureOf(Url(*server), options),
              AllOf(HasSubstr("cannot reach vmkeeperd at " + Url(*server)),
                    HasSubstr("--client-certificate and --client-key")));

  auto alice = clients.Issue("alice", {});
  options.client_certificate = alice.certificate_file;
  options.client_key = alice.key_file;
  auto client = HttpClient::Create(Url(*server), options);
  ASSERT_TRUE(client.ok()) << client.status().message();
  auto response = (*client)->Send("GET", "/api/v1/whoami");
  ASSERT_TRUE(response.ok()) << response.status().message();
  ASSERT_TRUE(server->WaitForRequests(1, std::chrono::seconds(5)));
  EXPECT_EQ(server->requests().back().client_common_name, "alice");
}

TEST_F(HttpClientTlsTest, BadTlsFilesAreNamedAtCreate) {
  HttpClientOptions options;
  options.certificate_authority = (dir_ / "absent.pem").string();
  EXPECT_THAT(HttpClient::Create("https://127.0.0.1:1", options).status().message(),
              HasSubstr("certificate authority " + (dir_ / "absent.pem").string() +
                        ": No such file or directory"));
  auto alice = pki_->Issue("alice", {});
  auto bob = pki_->Issue("bob", {});
  options.certificate_authority = alice.key_file;  // a key, not a certificate
  EXPECT_THAT(HttpClient::Create("https://127.0.0.1:1", options).status().message(),
              HasSubstr("holds no PEM certificate"));
  options.certificate_authority = pki_->ca_file();
  options.client_certificate = alice.certificate_file;
  options.client_key = bob.key_file;
  EXPECT_THAT(HttpClient::Create("https://127.0.0.1:1", options).status().message(),
              HasSubstr("does not belong to client certificate"));
  options.client_key = "";
  EXPECT_THAT(HttpClient::Create("https://127.0.0.1:1", options).status().message(),
              HasSubstr("needs its key"));
}

// An encrypted client key fails in the client and in the TLS diagnosis alike (one loader), and
// neither asks for a passphrase: OpenSSL's default callback would prompt on the terminal.
TEST_F(HttpClientTlsTest, AnEncryptedClientKeyFailsWithoutAPrompt) {
  auto alice = pki_->Issue("alice", {});
  const std::string encrypted = (dir_ / "alice-encrypted-key.pem").string();
  {
    FILE* in = std::fopen(alice.key_file.c_str(), "rb");
    ASSERT_NE(in, nullptr);
    EVP_PKEY* key = PEM_read_PrivateKey(in, nullptr, nullptr, nullptr);
    std::fclose(in);
    ASSERT_NE(key, nullptr);
    FILE* out = std::fopen(encrypted.c_str(), "wb");
    ASSERT_NE(out, nullptr);
    char passphrase[] = "correct horse";
    EXPECT_EQ(PEM_write_PrivateKey(out, key, EVP_aes_128_cbc(),
                                   reinterpret_cast<unsigned char*>(passphrase),
                                   static_cast<int>(std::strlen(passphrase)), nullptr, nullptr),
              1);
    std::fclose(out);
    EVP_PKEY_free(key);
  }
  HttpClientOptions options;
  options.certificate_authority = pki_->ca_file();
  options.client_certificate = alice.certificate_file;
  options.client_key = encrypted;
  EXPECT_THAT(HttpClient::Create("https://127.0.0.1:1", options).status().message(),
              HasSubstr("client key " + encrypted + ": holds no unencrypted PEM private key"));

  TlsTarget target;
  target.host = "127.0.0.1";
  target.port = 1;
  target.certificate_authority = pki_->ca_file();
  target.client_certificate = alice.certificate_file;
  target.client_key = encrypted;
  EXPECT_THAT(DiagnoseTlsFailure(target, std::chrono::seconds(2)),
              HasSubstr("client key " + encrypted + ": holds no unencrypted PEM private key"));
}

}  // namespace
}  // namespace vmk::cli
