// The client config file: a good file, and each kind of bad input reported as
// file:line:column: field.path: message.
#include "cli/client_config.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace vmk::cli {
namespace {

namespace fs = std::filesystem;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kFile[] = "/etc/vmk/config.yaml";

// The error of parsing `text`, which must fail.
std::string ErrorOf(const std::string& text) {
  auto parsed = ParseClientConfig(text, kFile);
  EXPECT_FALSE(parsed.ok()) << text;
  return parsed.ok() ? "" : parsed.status().message();
}

TEST(ClientConfigTest, ReadsAGoodFile) {
  auto config = ParseClientConfig(
      "apiVersion: vmkeeper/v1\n"
      "kind: ClientConfig\n"
      "currentContext: prod\n"
      "contexts:\n"
      "  - name: prod\n"
      "    server: https://vmkeeperd.example.com:7480\n"
      "    certificateAuthority: ca.pem\n"
      "    tokenFile: /secrets/prod.token\n"
      "  - name: lab\n"
      "    server: http://127.0.0.1:7480/\n"
      "  - name: mtls\n"
      "    server: https://[::1]:7443\n"
      "    clientCertificate: certs/me.pem\n"
      "    clientKey: certs/me-key.pem\n"
      "  - name: first-setup\n"
      "    server: https://10.0.0.5\n"
      "    insecureSkipTlsVerify: true\n",
      kFile);
  ASSERT_TRUE(config.ok()) << config.status().message();
  EXPECT_EQ(config->file, kFile);
  EXPECT_EQ(config->current_context, "prod");
  ASSERT_EQ(config->contexts.size(), 4u);
  const ClientContext* prod = config->Find("prod");
  ASSERT_NE(prod, nullptr);
  EXPECT_EQ(prod->server, "https://vmkeeperd.example.com:7480");
  EXPECT_EQ(prod->certificate_authority, "/etc/vmk/ca.pem");  // relative to the file
  EXPECT_EQ(prod->token_file, "/secrets/prod.token");
  EXPECT_FALSE(prod->insecure_skip_tls_verify);
  EXPECT_EQ(prod->location, "/etc/vmk/config.yaml:5:5");
  const ClientContext* mtls = config->Find("mtls");
  ASSERT_NE(mtls, nullptr);
  EXPECT_EQ(mtls->client_certificate, "/etc/vmk/certs/me.pem");
  EXPECT_EQ(mtls->client_key, "/etc/vmk/certs/me-key.pem");
  EXPECT_TRUE(config->Find("first-setup")->insecure_skip_tls_verify);
  EXPECT_EQ(config->Find("nope"), nullptr);
}

TEST(ClientConfigTest, ContextsAndCurrentContextAreOptional) {
  auto config = ParseClientConfig("apiVersion: vmkeeper/v1\nkind: ClientConfig\n", kFile);
  ASSERT_TRUE(config.ok()) << config.status().message();
  EXPECT_TRUE(config->contexts.empty());
  EXPECT_EQ(config->current_context, "");
}

TEST(ClientConfigTest, UnknownFieldsAreErrorsWithTheirPath) {
  EXPECT_EQ(ErrorOf("apiVersion: vmkeeper/v1\nkind: ClientConfig\nclusters: []\n"),
            "/etc/vmk/config.yaml:3:1: clusters: unknown field (known: apiVersion, kind, "
            "currentContext, contexts)");
  EXPECT_EQ(ErrorOf("apiVersion: vmkeeper/v1\nkind: ClientConfig\ncontexts:\n"
                    "  - name: a\n    server: http://h:1\n    token: s3cret\n"),
            "/etc/vmk/config.yaml:6:5: contexts[0].token: unknown field (known: name, server, "
            "certificateAuthority, tokenFile, clientCertificate, clientKey, "
            "insecureSkipTlsVerify)");
}

TEST(ClientConfigTest, DuplicateKeysAreErrors) {
  EXPECT_EQ(ErrorOf("apiVersion: vmkeeper/v1\nkind: ClientConfig\ncontexts:\n"
                    "  - name: a\n    server: http://h:1\n    server: http://h:2\n"),
            "/etc/vmk/config.yaml:6:5: contexts[0].server: duplicate key; first defined at "
            "line 5, column 5");
  EXPECT_THAT(ErrorOf("apiVersion: vmkeeper/v1\nkind: ClientConfig\nkind: ClientConfig\n"),
              HasSubstr(":3:1: kind: duplicate key; first defined at line 2, column 1"));
}

TEST(ClientConfigTest, DuplicateContextNamesAreErrors) {
  EXPECT_EQ(ErrorOf("apiVersion: vmkeeper/v1\nkind: ClientConfig\ncontexts:\n"
                    "  - name: a\n    server: http://h:1\n"
                    "  - name: a\n    server: http://h:2\n"),
            "/etc/vmk/config.yaml:6:5: contexts[1].name: duplicate context name \"a\"; first "
            "at /etc/vmk/config.yaml:4:5");
}

TEST(ClientConfigTest, WrongTypesAndValuesAreErrors) {
  const std::string head = "apiVersion: vmkeeper/v1\nkind: ClientConfig\n";
  EXPECT_EQ(ErrorOf(head + "contexts: {name: a}\n"),
            "/etc/vmk/config.yaml:3:11: contexts: must be a list");
  EXPECT_EQ(ErrorOf(head + "contexts:\n  - name: [a]\n    server: http://h:1\n"),
            "/etc/vmk/config.yaml:4:11: contexts[0].name: must be a string");
  EXPECT_EQ(ErrorOf(head + "contexts:\n  - name: a\n    server: h:1\n"),
            "/etc/vmk/config.yaml:5:13: contexts[0].server: must start with http:// or "
            "https:// (got \"h:1\")");
  EXPECT_EQ(ErrorOf(head + "contexts:\n  - name: a\n    server: https://h:99999\n"),
            "/etc/vmk/config.yaml:5:13: contexts[0].server: has an invalid port (got "
            "\"https://h:99999\")");
  EXPECT_EQ(ErrorOf(head + "contexts:\n  - name: a\n    server: https://h/api\n"),
            "/etc/vmk/config.yaml:5:13: contexts[0].server: must not have a path (got "
            "\"https://h/api\")");
  EXPECT_EQ(ErrorOf(head + "contexts:\n  - name: a\n    server: https://h\n"
                           "    insecureSkipTlsVerify: yes\n"),
            "/etc/vmk/config.yaml:6:28: contexts[0].insecureSkipTlsVerify: must be true or "
            "false");
  EXPECT_EQ(ErrorOf(head + "contexts:\n  - name: a\n    server: https://h\n    tokenFile: \"\"\n"),
            "/etc/vmk/config.yaml:6:16: contexts[0].tokenFile: must not be empty");
  EXPECT_EQ(ErrorOf(head + "contexts:\n  - server: https://h\n"),
            "/etc/vmk/config.yaml:4:5: contexts[0].name: is required");
  EXPECT_EQ(ErrorOf(head + "currentContext: 7\n"),
            "/etc/vmk/config.yaml:3:17: currentContext: must be a string");
}

TEST(ClientConfigTest, ApiVersionAndKindAreChecked) {
  EXPECT_EQ(ErrorOf("apiVersion: v1\nkind: Config\n"),
            "/etc/vmk/config.yaml:1:13: apiVersion: must be vmkeeper/v1 (got \"v1\")\n"
            "/etc/vmk/config.yaml:2:7: kind: must be ClientConfig (got \"Config\")");
  EXPECT_EQ(ErrorOf("contexts: []\n"),
            "/etc/vmk/config.yaml:1:1: apiVersion: is required\n"
            "/etc/vmk/config.yaml:1:1: kind: is required");
  EXPECT_THAT(ErrorOf(""), HasSubstr("is empty; it must have apiVersion: vmkeeper/v1"));
  EXPECT_EQ(ErrorOf("- a\n"), "/etc/vmk/config.yaml:1:1: must be a mapping");
}

TEST(ClientConfigTest, CredentialCombinationsAreChecked) {
  const std::string head =
      "apiVersion: vmkeeper/v1\nkind: ClientConfig\ncontexts:\n  - name: a\n";
  EXPECT_EQ(ErrorOf(head + "    server: https://h\n    clientCertificate: me.pem\n"),
            "/etc/vmk/config.yaml:6:5: contexts[0].clientKey: is required with "
            "clientCertificate");
  // vmkeeperd takes a client certificate as a second factor, never instead of the token
  // (docs/security.md): a context may, and against such a server must, have both.
  auto both = ParseClientConfig(head + "    server: https://h\n    tokenFile: t\n"
                                        "    clientCertificate: c\n    clientKey: k\n",
                                kFile);
  ASSERT_TRUE(both.ok()) << both.status().message();
  ASSERT_EQ(both->contexts.size(), 1u);
  EXPECT_FALSE(both->contexts[0].token_file.empty());
  EXPECT_FALSE(both->contexts[0].client_certificate.empty());
  EXPECT_EQ(ErrorOf(head + "    server: https://h\n    certificateAuthority: ca.pem\n"
                           "    insecureSkipTlsVerify: true\n"),
            "/etc/vmk/config.yaml:7:5: contexts[0].insecureSkipTlsVerify: must not be true with "
            "certificateAuthority (a CA given is a CA to check against)");
  EXPECT_EQ(ErrorOf(head + "    server: http://h\n    certificateAuthority: ca.pem\n"),
            "/etc/vmk/config.yaml:6:5: contexts[0].certificateAuthority: applies to https:// "
            "servers only, and server is http://");
}

TEST(ClientConfigTest, CurrentContextMustNameAContext) {
  EXPECT_EQ(ErrorOf("apiVersion: vmkeeper/v1\nkind: ClientConfig\ncurrentContext: prod\n"
                    "contexts:\n  - name: lab\n    server: http://h:1\n"),
            "/etc/vmk/config.yaml:3:17: currentContext: names no context (contexts: lab)");
}

TEST(ClientConfigTest, YamlSyntaxErrorsHaveTheirPosition) {
  EXPECT_THAT(ErrorOf("apiVersion: vmkeeper/v1\nkind: [ClientConfig\n"),
              testing::MatchesRegex("/etc/vmk/config\\.yaml:[23]:[0-9]+: .+"));
  EXPECT_THAT(ErrorOf("apiVersion: vmkeeper/v1\n  kind: x\n"),
              testing::StartsWith("/etc/vmk/config.yaml:2:"));
}

TEST(ClientConfigTest, EveryProblemIsReportedInLineOrder) {
  std::string message = ErrorOf(
      "apiVersion: vmkeeper/v1\nkind: ClientConfig\ncontexts:\n"
      "  - name: a\n    server: ftp://h\n    colour: blue\n"
      "extra: 1\n");
  EXPECT_EQ(message,
            "/etc/vmk/config.yaml:5:13: contexts[0].server: must start with http:// or https:// "
            "(got \"ftp://h\")\n"
            "/etc/vmk/config.yaml:6:5: contexts[0].colour: unknown field (known: name, server, "
            "certificateAuthority, tokenFile, clientCertificate, clientKey, "
            "insecureSkipTlsVerify)\n"
            "/etc/vmk/config.yaml:7:1: extra: unknown field (known: apiVersion, kind, "
            "currentContext, contexts)");
}

TEST(ClientConfigTest, LoadsFilesAndSaysWhatIsWrongWithThem) {
  fs::path dir = fs::temp_directory_path() / ("vmk-client-config-" + std::to_string(getpid()));
  fs::create_directories(dir);
  const std::string path = (dir / "config.yaml").string();

  auto missing = LoadClientConfigFile(path);
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);

  EXPECT_THAT(LoadClientConfigFile(dir.string()).status().message(), HasSubstr("is a directory"));

  std::ofstream(path) << "apiVersion: vmkeeper/v1\nkind: ClientConfig\n"
                         "contexts:\n  - name: a\n    server: https://h\n    tokenFile: t\n";
  auto loaded = LoadClientConfigFile(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  EXPECT_EQ(loaded->contexts.at(0).token_file, (dir / "t").string());

  std::ofstream(path) << std::string(kMaxClientConfigBytes + 10, '#');
  EXPECT_THAT(LoadClientConfigFile(path).status().message(),
              HasSubstr(path + ": is larger than 1048576 bytes"));
  fs::remove_all(dir);
}

TEST(ClientConfigTest, ServerUrls) {
  for (const char* good : {"http://127.0.0.1:7480", "https://h", "https://h/", "http://[::1]:80",
                           "https://vmkeeperd.example.com:443"}) {
    EXPECT_TRUE(ValidateServerUrl(good).ok()) << good;
  }
  for (const char* bad : {"127.0.0.1:7480", "ftp://h", "https://", "https://:80", "http://h:",
                          "http://user@h", "http://h?x=1", "http://[::1", "http://h:0",
                          "http://h:8a"}) {
    EXPECT_FALSE(ValidateServerUrl(bad).ok()) << bad;
  }
  EXPECT_THAT(ValidateServerUrl("https://ci:s3cret@h:7480").message(),
              AllOf(HasSubstr("https://***@h:7480"), Not(HasSubstr("s3cret"))));
}

TEST(ClientConfigTest, RedactUserInfo) {
  EXPECT_EQ(RedactUserInfo("https://u:p@h:1/x@y"), "https://***@h:1/x@y");
  EXPECT_EQ(RedactUserInfo("http://a@b@h"), "http://***@h");
  EXPECT_EQ(RedactUserInfo("http://h:80"), "http://h:80");
  EXPECT_EQ(RedactUserInfo("h/x@y"), "h/x@y");
}

}  // namespace
}  // namespace vmk::cli
