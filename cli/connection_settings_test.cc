// Which server and credentials a command uses: flags over environment over the config file over
// the default, each setting on its own; and the token's file checks.
#include "cli/connection_settings.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace vmk::cli {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;

class ConnectionSettingsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("vmk-connection-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    Write("file.token", "token-from-context-file\n");
    Write("flag.token", "  token-from-flag-file  \n");
    Write("env.token", "token-from-env-file");
    Write("config.yaml",
          "apiVersion: vmkeeper/v1\n"
          "kind: ClientConfig\n"
          "currentContext: prod\n"
          "contexts:\n"
          "  - name: prod\n"
          "    server: https://prod.example.com:7480\n"
          "    certificateAuthority: prod-ca.pem\n"
          "    tokenFile: file.token\n"
          "  - name: lab\n"
          "    server: http://127.0.0.1:7999\n");
    env_.default_config_file = Path("config.yaml");
  }
  void TearDown() override { fs::remove_all(dir_); }

  void Write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name) << text;
  }
  std::string Path(const std::string& name) const { return (dir_ / name).string(); }

  ConnectionSettings Resolve() {
    auto settings = ResolveConnectionSettings(flags_, env_);
    EXPECT_TRUE(settings.ok()) << settings.status().message();
    return settings.ok() ? *settings : ConnectionSettings{};
  }
  std::string ErrorOf() {
    auto settings = ResolveConnectionSettings(flags_, env_);
    EXPECT_FALSE(settings.ok());
    return settings.ok() ? "" : settings.status().message();
  }

  fs::path dir_;
  ConnectionFlags flags_;
  ConnectionEnvironment env_;
};

TEST_F(ConnectionSettingsTest, WithoutAConfigFileTheDefaultIsTodaysBehaviour) {
  env_.default_config_file = Path("absent.yaml");  // a missing default file is no error
  ConnectionSettings s = Resolve();
  EXPECT_EQ(s.server, "http://127.0.0.1:7480");
  EXPECT_EQ(s.server_from, "default");
  EXPECT_EQ(s.bearer_token, "");
  EXPECT_EQ(s.config_file, "");
  EXPECT_EQ(s.context, "");
  env_.default_config_file = "";
  EXPECT_EQ(Resolve().server, "http://127.0.0.1:7480");
}

TEST_F(ConnectionSettingsTest, TheConfigFilesCurrentContextComesBeforeTheDefault) {
  ConnectionSettings s = Resolve();
  EXPECT_EQ(s.config_file, Path("config.yaml"));
  EXPECT_EQ(s.context, "prod");
  EXPECT_EQ(s.server, "https://prod.example.com:7480");
  EXPECT_EQ(s.server_from, "context prod in " + Path("config.yaml"));
  EXPECT_EQ(s.bearer_token, "token-from-context-file");
  EXPECT_EQ(s.certificate_authority, Path("prod-ca.pem"));
}

TEST_F(ConnectionSettingsTest, EnvironmentComesBeforeTheConfigFile) {
  env_.server = "http://127.0.0.1:1111";
  env_.token = "token-from-env";
  ConnectionSettings s = Resolve();
  EXPECT_EQ(s.server, "http://127.0.0.1:1111");
  EXPECT_EQ(s.server_from, "$VMKEEPER_SERVER");
  EXPECT_EQ(s.bearer_token, "token-from-env");
  EXPECT_EQ(s.token_from, "$VMKEEPER_TOKEN");
  EXPECT_EQ(s.certificate_authority, Path("prod-ca.pem"));  // still the context's: not overridden

  env_.token.reset();
  env_.token_file = Path("env.token");
  EXPECT_EQ(Resolve().bearer_token, "token-from-env-file");

  env_.context = "lab";
  s = Resolve();
  EXPECT_EQ(s.context, "lab");
  EXPECT_EQ(s.context_from, "$VMKEEPER_CONTEXT");
  EXPECT_EQ(s.server, "http://127.0.0.1:1111");
  env_.server.reset();
  EXPECT_EQ(Resolve().server, "http://127.0.0.1:7999");
}

TEST_F(ConnectionSettingsTest, FlagsComeBeforeTheEnvironment) {
  env_.server = "http://127.0.0.1:1111";
  env_.token = "token-from-env";
  env_.context = "lab";
  flags_.server = "https://flag.example.com";
  flags_.token_file = Path("flag.token");
  flags_.context = "prod";
  flags_.certificate_authority = Path("flag-ca.pem");
  ConnectionSettings s = Resolve();
  EXPECT_EQ(s.server, "https://flag.example.com");
  EXPECT_EQ(s.server_from, "--server");
  EXPECT_EQ(s.bearer_token, "token-from-flag-file");  // white space around it dropped
  EXPECT_EQ(s.token_from, "--token-file " + Path("flag.token"));
  EXPECT_EQ(s.context, "prod");
  EXPECT_EQ(s.context_from, "--context");
  EXPECT_EQ(s.certificate_authority, Path("flag-ca.pem"));
  EXPECT_EQ(s.certificate_authority_from, "--certificate-authority");
}

TEST_F(ConnectionSettingsTest, TheConfigFileComesFromFlagThenEnvironmentThenDefault) {
  Write("other.yaml",
        "apiVersion: vmkeeper/v1\nkind: ClientConfig\ncurrentContext: o\n"
        "contexts:\n  - name: o\n    server: http://127.0.0.1:2222\n");
  Write("third.yaml",
        "apiVersion: vmkeeper/v1\nkind: ClientConfig\ncurrentContext: t\n"
        "contexts:\n  - name: t\n    server: http://127.0.0.1:3333\n");
  env_.config = Path("other.yaml");
  EXPECT_EQ(Resolve().server, "http://127.0.0.1:2222");
  flags_.config = Path("third.yaml");
  EXPECT_EQ(Resolve().server, "http://127.0.0.1:3333");
}

TEST_F(ConnectionSettingsTest, NamedThingsMustExist) {
  flags_.config = Path("absent.yaml");
  EXPECT_EQ(ErrorOf(), "config file " + Path("absent.yaml") + " (from --config) does not exist");
  flags_.config = "";
  env_.config = Path("absent.yaml");
  EXPECT_THAT(ErrorOf(), HasSubstr("(from $VMKEEPER_CONFIG) does not exist"));
  env_.config.reset();
  flags_.context = "staging";
  EXPECT_EQ(ErrorOf(), "context \"staging\" (from --context) is not in " + Path("config.yaml") +
                           " (contexts: prod, lab)");
  env_.default_config_file = Path("absent.yaml");
  EXPECT_EQ(ErrorOf(), "context \"staging\" (from --context): no config file (" +
                           Path("absent.yaml") + " does not exist)");
}

TEST_F(ConnectionSettingsTest, ABrokenConfigFileIsAnErrorWithItsPosition) {
  Write("config.yaml", "apiVersion: vmkeeper/v1\nkind: ClientConfig\nbogus: 1\n");
  EXPECT_EQ(ErrorOf(), Path("config.yaml") +
                           ":3:1: bogus: unknown field (known: apiVersion, kind, currentContext, "
                           "contexts)");
}

TEST_F(ConnectionSettingsTest, TokenSourcesAreCheckedWithoutShowingTheToken) {
  env_.default_config_file = "";
  env_.token = "has space";
  std::string message = ErrorOf();
  EXPECT_THAT(message, HasSubstr("$VMKEEPER_TOKEN: the token must be one word"));
  EXPECT_THAT(message, Not(HasSubstr("has space")));

  env_.token = "abc\r\nX-Injected: 1";
  EXPECT_THAT(ErrorOf(), Not(HasSubstr("Injected")));

  env_.token_file = Path("env.token");
  env_.token = "secret-value";
  message = ErrorOf();
  EXPECT_EQ(message, "both $VMKEEPER_TOKEN and $VMKEEPER_TOKEN_FILE are set: set one of them");

  env_.token.reset();
  Write("env.token", "\n\n");
  EXPECT_EQ(ErrorOf(), "token file " + Path("env.token") + ": the token is empty");
  Write("env.token", "two words\n");
  message = ErrorOf();
  EXPECT_THAT(message, HasSubstr("byte 4 is a space"));
  EXPECT_THAT(message, Not(HasSubstr("two words")));
  env_.token_file = Path("absent.token");
  EXPECT_EQ(ErrorOf(), "token file " + Path("absent.token") + ": cannot read it");
}

TEST_F(ConnectionSettingsTest, ClientCertificateFlagsGoTogether) {
  flags_.client_certificate = "me.pem";
  EXPECT_EQ(ErrorOf(), "--client-certificate and --client-key must be given together");
  flags_.client_key = "me-key.pem";
  ConnectionSettings s = Resolve();
  EXPECT_EQ(s.client_certificate, "me.pem");
  EXPECT_EQ(s.client_key, "me-key.pem");
}

TEST_F(ConnectionSettingsTest, SkippingVerificationExcludesACertificateAuthority) {
  flags_.insecure_skip_tls_verify = true;  // the prod context has a CA
  EXPECT_THAT(ErrorOf(), HasSubstr("exclude each other"));
  flags_.context = "lab";
  EXPECT_TRUE(Resolve().insecure_skip_tls_verify);
}

TEST_F(ConnectionSettingsTest, DescribeMasksTheToken) {
  ConnectionSettings s = Resolve();
  std::string text = s.Describe();
  EXPECT_THAT(text, Not(HasSubstr("token-from-context-file")));
  EXPECT_THAT(text, HasSubstr("token: <masked>"));
  EXPECT_THAT(text, HasSubstr("server: https://prod.example.com:7480"));
  EXPECT_THAT(text, HasSubstr("# from context prod in " + Path("config.yaml")));
  EXPECT_THAT(text, HasSubstr("context: prod"));
  EXPECT_THAT(text, HasSubstr("# from currentContext in " + Path("config.yaml")));
}

TEST(DefaultClientConfigPathTest, XdgThenHome) {
  EXPECT_EQ(DefaultClientConfigPath(std::string("/x"), std::string("/home/u")),
            "/x/vmkeeper/config.yaml");
  EXPECT_EQ(DefaultClientConfigPath(std::string(""), std::string("/home/u")),
            "/home/u/.config/vmkeeper/config.yaml");
  EXPECT_EQ(DefaultClientConfigPath(std::nullopt, std::nullopt), "");
}

// A server given by flag or environment is checked like the config file's, and a password in it
// never reaches the message.
TEST_F(ConnectionSettingsTest, ServersFromFlagsAndEnvironmentAreCheckedAndNeverShowAPassword) {
  env_.server = "http://admin:hunter2@127.0.0.1:1111";
  std::string error = ErrorOf();
  EXPECT_THAT(error, HasSubstr("$VMKEEPER_SERVER must be scheme://host[:port]"));
  EXPECT_THAT(error, HasSubstr("http://***@127.0.0.1:1111"));
  EXPECT_THAT(error, Not(HasSubstr("hunter2")));
  env_.server.reset();
  flags_.server = "https://u:p4ss@h.example.com/";
  error = ErrorOf();
  EXPECT_THAT(error, HasSubstr("--server must be"));
  EXPECT_THAT(error, Not(HasSubstr("p4ss")));
  flags_.server = "https://h.example.com/api";
  EXPECT_THAT(ErrorOf(), HasSubstr("--server must not have a path"));
}

}  // namespace
}  // namespace vmk::cli
