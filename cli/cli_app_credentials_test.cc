// Whole vmkeeper commands with credentials: the config file and its contexts, flags over
// environment over file, auth whoami, config view / use-context, the server's 401/403 message
// as the error, https with a CA and the insecure warning. Against local listeners that record
// what they were sent.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "cli/cli_app.h"
#include "specs/types.h"
#include "tests/fakes/closed_port.h"
#include "tests/fakes/loopback_http_server.h"
#include "tests/fakes/loopback_tls_server.h"
#include "tests/fakes/test_pki.h"

namespace vmk::cli {
namespace {

namespace fs = std::filesystem;
using fakes::LoopbackHttpServer;
using fakes::Reply;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kToken[] = "file-token-9d8e7f";

std::string JsonReply(int code, const std::string& reason, const std::string& body) {
  return "HTTP/1.1 " + std::to_string(code) + " " + reason +
         "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\nConnection: close\r\n\r\n" + body;
}

const std::string kWhoAmI = JsonReply(200, "OK", R"({"user":"alice","role":"admin"})");

class CliCredentialsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("vmk-cli-credentials-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    std::ofstream(dir_ / "token") << kToken << "\n";
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string Path(const std::string& name) const { return (dir_ / name).string(); }
  void WriteConfig(const std::string& contexts, const std::string& current) {
    std::ofstream(dir_ / "config.yaml")
        << "# my contexts\napiVersion: vmkeeper/v1\nkind: ClientConfig\n"
        << (current.empty() ? "" : "currentContext: " + current + "\n") << "contexts:\n"
        << contexts;
    env_.default_config_file = Path("config.yaml");
  }

  int Run(std::vector<std::string> args) {
    out_.str("");
    err_.str("");
    std::vector<const char*> raw = {"vmkeeper"};
    for (const auto& a : args) raw.push_back(a.c_str());
    env_.out = &out_;
    env_.err = &err_;
    env_.in = &in_;
    env_.clock = RealClock::Get();
    env_.request_timeout = std::chrono::seconds(10);
    return RunVmkeeperCli(static_cast<int>(raw.size()), raw.data(), env_);
  }

  fs::path dir_;
  CliEnvironment env_;
  std::ostringstream out_, err_;
  std::istringstream in_;
};

std::string UrlOf(const LoopbackHttpServer& server) {
  return "http://127.0.0.1:" + std::to_string(server.port());
}

TEST_F(CliCredentialsTest, WhoAmIShowsUserAndRoleAndSendsTheToken) {
  LoopbackHttpServer server(Reply::Raw(kWhoAmI));
  env_.token_env = kToken;
  EXPECT_EQ(Run({"auth", "whoami", "--server", UrlOf(server)}), 0) << err_.str();
  EXPECT_EQ(out_.str(), "user: alice\nrole: admin\n");
  ASSERT_TRUE(server.WaitForRequests(1, std::chrono::seconds(5)));
  EXPECT_EQ(server.last_request().request_line, "GET /api/v1/whoami HTTP/1.1");
  EXPECT_EQ(server.last_request().headers["authorization"], std::string("Bearer ") + kToken);

  EXPECT_EQ(Run({"--server", UrlOf(server), "auth", "whoami", "-o", "json"}), 0) << err_.str();
  EXPECT_EQ(specs::Json::parse(out_.str()), (specs::Json{{"user", "alice"}, {"role", "admin"}}));
}

TEST_F(CliCredentialsTest, EveryCommandShowsTheMessageOfA401Or403) {
  LoopbackHttpServer server(
      {Reply::Raw(JsonReply(401, "Unauthorized",
                            R"({"kind":"Status","apiVersion":"v1","status":"Failure",)"
                            R"("message":"the bearer token is not valid","reason":"Unauthorized",)"
                            R"("code":401})")),
       Reply::Raw(JsonReply(403, "Forbidden",
                            R"({"kind":"Status","apiVersion":"v1","status":"Failure",)"
                            R"("message":"user bob (viewer) may not delete virtualmachines",)"
                            R"("reason":"Forbidden","code":403})"))},
      Reply::WithStatus(500));
  env_.token_env = kToken;
  EXPECT_EQ(Run({"get", "vms", "--server", UrlOf(server)}), 1);
  EXPECT_EQ(err_.str(), "error: the bearer token is not valid\n");
  EXPECT_EQ(Run({"delete", "vm", "wms01", "--server", UrlOf(server)}), 1);
  EXPECT_EQ(err_.str(), "error: user bob (viewer) may not delete virtualmachines\n");
  EXPECT_THAT(out_.str() + err_.str(), Not(HasSubstr(kToken)));
}

TEST_F(CliCredentialsTest, TheCurrentContextGivesServerAndToken) {
  LoopbackHttpServer server(Reply::Raw(kWhoAmI));
  WriteConfig("  - name: lab\n    server: " + UrlOf(server) + "\n    tokenFile: token\n", "lab");
  EXPECT_EQ(Run({"auth", "whoami"}), 0) << err_.str();
  ASSERT_TRUE(server.WaitForRequests(1, std::chrono::seconds(5)));
  EXPECT_EQ(server.last_request().headers["authorization"], std::string("Bearer ") + kToken);
}

TEST_F(CliCredentialsTest, FlagsOverEnvironmentOverConfigFile) {
  LoopbackHttpServer from_file(Reply::Raw(kWhoAmI));
  LoopbackHttpServer from_env(Reply::Raw(kWhoAmI));
  LoopbackHttpServer from_flag(Reply::Raw(kWhoAmI));
  LoopbackHttpServer from_other_context(Reply::Raw(kWhoAmI));
  WriteConfig("  - name: a\n    server: " + UrlOf(from_file) + "\n" +
                  "  - name: b\n    server: " + UrlOf(from_other_context) + "\n",
              "a");
  ASSERT_EQ(Run({"auth", "whoami"}), 0) << err_.str();
  EXPECT_EQ(from_file.requests().size(), 1u);

  env_.server_env = UrlOf(from_env);
  ASSERT_EQ(Run({"auth", "whoami"}), 0) << err_.str();
  EXPECT_EQ(from_env.requests().size(), 1u);

  ASSERT_EQ(Run({"auth", "whoami", "--server", UrlOf(from_flag)}), 0) << err_.str();
  EXPECT_EQ(from_flag.requests().size(), 1u);

  env_.server_env.reset();
  env_.context_env = "a";
  ASSERT_EQ(Run({"auth", "whoami", "--context", "b"}), 0) << err_.str();
  EXPECT_EQ(from_other_context.requests().size(), 1u);
  EXPECT_EQ(from_file.requests().size(), 1u);
}

TEST_F(CliCredentialsTest, WithoutAnyConfigTodaysDefaultStands) {
  env_.default_config_file = Path("absent.yaml");
  EXPECT_EQ(Run({"config", "view"}), 0) << err_.str();
  EXPECT_EQ(out_.str(),
            "config: none\ncontext: none\nserver: http://127.0.0.1:7480  # from default\n"
            "token: none\n");
}

TEST_F(CliCredentialsTest, ATokenIsNotSentOverPlainHttpToAnotherHost) {
  WriteConfig("  - name: remote\n    server: http://192.0.2.1:7480\n    tokenFile: token\n",
              "remote");
  EXPECT_EQ(Run({"get", "vms"}), 1);
  EXPECT_THAT(err_.str(),
              AllOf(HasSubstr("error: refusing to send the bearer token to http://192.0.2.1:7480 "
                              "over plain http"),
                    Not(HasSubstr(kToken))));
}

TEST_F(CliCredentialsTest, ABadConfigFileStopsEveryCommandWithItsPosition) {
  std::ofstream(dir_ / "config.yaml") << "apiVersion: vmkeeper/v1\nkind: ClientConfig\n"
                                         "contexts:\n  - name: a\n    sever: http://h\n";
  env_.config_env = Path("config.yaml");
  EXPECT_EQ(Run({"get", "vms"}), 1);
  EXPECT_EQ(err_.str(), "error: " + Path("config.yaml") +
                            ":4:5: contexts[0].server: is required\n" + Path("config.yaml") +
                            ":5:5: contexts[0].sever: unknown field (known: name, server, "
                            "certificateAuthority, tokenFile, clientCertificate, clientKey, "
                            "insecureSkipTlsVerify)\n");
}

TEST_F(CliCredentialsTest, ConfigViewMasksTheToken) {
  WriteConfig("  - name: lab\n    server: http://127.0.0.1:7999\n    tokenFile: token\n", "lab");
  EXPECT_EQ(Run({"config", "view"}), 0) << err_.str();
  EXPECT_THAT(out_.str(), AllOf(HasSubstr("context: lab"), HasSubstr("token: <masked>"),
                                HasSubstr("server: http://127.0.0.1:7999"),
                                Not(HasSubstr(kToken))));
  env_.token_env = "env-token-xyz";
  EXPECT_EQ(Run({"config", "view", "--server", "http://127.0.0.1:1"}), 0) << err_.str();
  EXPECT_THAT(out_.str(), AllOf(HasSubstr("# from --server"), HasSubstr("# from $VMKEEPER_TOKEN"),
                                Not(HasSubstr("env-token-xyz"))));
}

TEST_F(CliCredentialsTest, UseContextRewritesOnlyCurrentContext) {
  WriteConfig("  - name: lab\n    server: http://127.0.0.1:7999\n"
              "  - name: prod\n    server: https://prod.example.com\n",
              "lab");
  EXPECT_EQ(Run({"config", "use-context", "prod"}), 0) << err_.str();
  EXPECT_EQ(out_.str(), "current context: prod (" + Path("config.yaml") + ")\n");
  std::ifstream in(Path("config.yaml"));
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_THAT(text.str(), AllOf(HasSubstr("# my contexts\n"),
                                HasSubstr("currentContext: \"prod\"\n"),
                                Not(HasSubstr("currentContext: lab"))));
  EXPECT_EQ(Run({"config", "view"}), 0) << err_.str();
  EXPECT_THAT(out_.str(), HasSubstr("server: https://prod.example.com"));

  EXPECT_EQ(Run({"config", "use-context", "staging"}), 1);
  EXPECT_EQ(err_.str(), "error: no context \"staging\" in " + Path("config.yaml") +
                            " (contexts: lab, prod)\n");

  // A file without currentContext gets one.
  WriteConfig("  - name: lab\n    server: http://127.0.0.1:7999\n", "");
  EXPECT_EQ(Run({"config", "use-context", "lab"}), 0) << err_.str();
  EXPECT_EQ(Run({"config", "view"}), 0) << err_.str();
  EXPECT_THAT(out_.str(), HasSubstr("context: lab"));
}

TEST_F(CliCredentialsTest, HttpsWithTheContextsCertificateAuthority) {
  fakes::TestPki pki(dir_.string(), "vmk");
  auto cert = pki.Issue("server", {"IP:127.0.0.1"});
  fakes::TlsServerOptions options;
  options.certificate_file = cert.certificate_file;
  options.key_file = cert.key_file;
  options.reply = kWhoAmI;
  fakes::LoopbackTlsServer server(options);
  const std::string url = "https://127.0.0.1:" + std::to_string(server.port());

  EXPECT_EQ(Run({"auth", "whoami", "--server", url}), 1);
  EXPECT_EQ(err_.str(), "error: cannot reach vmkeeperd at " + url +
                            ": certificate verify failed: unable to get local issuer "
                            "certificate; use --certificate-authority (or the context's "
                            "certificateAuthority) with the CA that signed the server's "
                            "certificate\n");

  WriteConfig("  - name: tls\n    server: " + url + "\n    certificateAuthority: " +
                  fs::path(pki.ca_file()).filename().string() + "\n    tokenFile: token\n",
              "tls");
  EXPECT_EQ(Run({"auth", "whoami"}), 0) << err_.str();
  EXPECT_EQ(out_.str(), "user: alice\nrole: admin\n");
  EXPECT_EQ(err_.str(), "");
  ASSERT_TRUE(server.WaitForRequests(1, std::chrono::seconds(5)));
  EXPECT_EQ(server.requests().back().request.headers.at("authorization"),
            std::string("Bearer ") + kToken);
}

TEST_F(CliCredentialsTest, SkippingTlsVerificationWarns) {
  fakes::TestPki pki(dir_.string(), "vmk");
  auto cert = pki.Issue("server", {"IP:127.0.0.1"}, /*self_signed=*/true);
  fakes::TlsServerOptions options;
  options.certificate_file = cert.certificate_file;
  options.key_file = cert.key_file;
  options.reply = kWhoAmI;
  fakes::LoopbackTlsServer server(options);
  const std::string url = "https://127.0.0.1:" + std::to_string(server.port());
  EXPECT_EQ(Run({"auth", "whoami", "--server", url, "--insecure-skip-tls-verify"}), 0)
      << err_.str();
  EXPECT_EQ(out_.str(), "user: alice\nrole: admin\n");
  EXPECT_EQ(err_.str(),
            "warning: the server's TLS certificate is not checked (insecureSkipTlsVerify, from "
            "--insecure-skip-tls-verify): anyone on the way can pose as vmkeeperd\n");
}

}  // namespace
}  // namespace vmk::cli
