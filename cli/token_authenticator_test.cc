#include "cli/token_authenticator.h"

#include <sys/stat.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace vmk::cli {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;

class TokenAuthenticatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("vmk-tokens-" + std::to_string(getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string Write(const std::string& name, const std::string& text) {
    const fs::path path = dir_ / name;
    std::ofstream(path) << text;
    chmod(path.c_str(), 0600);
    return path.string();
  }

  fs::path dir_;
};

constexpr char kViewerToken[] = "viewer-token-0123456789abcdef";
constexpr char kEditorToken[] = "editor-token-0123456789abcdef";

TEST(Sha256Test, KnownDigest) {
  // sha256("abc"), FIPS 180-2 appendix B.1.
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(RoleTest, NamesRoundTrip) {
  for (Role role : {Role::kViewer, Role::kEditor, Role::kAlerts, Role::kAdmin}) {
    EXPECT_EQ(ParseRole(RoleName(role)), role);
  }
  EXPECT_FALSE(ParseRole("root").has_value());
  EXPECT_FALSE(ParseRole("Admin").has_value());
}

TEST_F(TokenAuthenticatorTest, HashAndFileEntriesAuthenticate) {
  Write("editor.token", std::string(kEditorToken) + "\n");
  const std::string path =
      Write("tokens", "# comment line\n\ngrafana viewer sha256:" + Sha256Hex(kViewerToken) +
                          "   # trailing comment\n"
                          "ci-deploy editor file:editor.token\n");
  auto auth = TokenAuthenticator::Load(path);
  ASSERT_TRUE(auth.ok()) << auth.status().ToString();
  EXPECT_EQ((*auth)->credential_count(), 2u);

  auto viewer = (*auth)->Authenticate(std::string("Bearer ") + kViewerToken);
  ASSERT_TRUE(viewer.ok()) << viewer.status().ToString();
  EXPECT_EQ(viewer->name, "grafana");
  EXPECT_EQ(viewer->role, Role::kViewer);
  // The scheme is case-insensitive (RFC 7235).
  auto editor = (*auth)->Authenticate(std::string("bearer ") + kEditorToken);
  ASSERT_TRUE(editor.ok());
  EXPECT_EQ(editor->name, "ci-deploy");
  EXPECT_EQ(editor->role, Role::kEditor);
}

TEST_F(TokenAuthenticatorTest, RefusalsNeverEchoTheToken) {
  const std::string path = Write("tokens", "grafana viewer sha256:" + Sha256Hex(kViewerToken) + "\n");
  auto auth = TokenAuthenticator::Load(path);
  ASSERT_TRUE(auth.ok());
  const std::string wrong = "not-the-token-0123456789";
  const std::vector<std::string> headers = {
      "", "Basic dXNlcjpwYXNz", "Bearer", "Bearer " + wrong,
      std::string("Bearer ") + kViewerToken + "x", "Bearer bad token with spaces"};
  for (const std::string& header : headers) {
    auto result = (*auth)->Authenticate(header);
    ASSERT_FALSE(result.ok()) << header;
    EXPECT_THAT(result.status().message(), Not(HasSubstr(wrong)));
    EXPECT_THAT(result.status().message(), Not(HasSubstr("dXNlcjpwYXNz")));
  }
  EXPECT_THAT((*auth)->Authenticate("").status().message(), HasSubstr("no credentials"));
  EXPECT_THAT((*auth)->Authenticate("Basic dXNlcjpwYXNz").status().message(),
              HasSubstr("not a bearer token"));
  EXPECT_EQ((*auth)->Authenticate("Bearer " + wrong).status().message(), "invalid bearer token");
}

TEST_F(TokenAuthenticatorTest, MalformedFilesAreRefusedWithFileAndLine) {
  const std::string hash = Sha256Hex(kViewerToken);
  struct Case {
    std::string text;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"a viewer\n", "tokens:1: expected NAME ROLE SECRET"},
      {"\n# c\na root sha256:" + hash + "\n", "tokens:3: unknown role \"root\""},
      {"a viewer sha256:abc\n", "tokens:1: sha256: must be followed by 64 hex digits"},
      {"a viewer " + std::string(kViewerToken) + "\n", "the secret must be sha256:"},
      {"a viewer sha256:" + hash + "\na editor sha256:" + Sha256Hex(kEditorToken) + "\n",
       "tokens:2: credential \"a\" is defined twice"},
      {"a viewer sha256:" + hash + "\nb editor sha256:" + hash + "\n",
       "credential \"b\" has the same token as \"a\""},
      {"bad/name viewer sha256:" + hash + "\n", "credential name \"bad/name\" must be"},
      {"a viewer file:missing.token\n", "cannot read token file"},
      {"# nothing\n", "no credentials"},
  };
  for (const Case& c : cases) {
    const std::string path = Write("tokens", c.text);
    auto auth = TokenAuthenticator::Load(path);
    ASSERT_FALSE(auth.ok()) << c.text;
    EXPECT_THAT(auth.status().message(), HasSubstr(c.message)) << c.text;
    // A token pasted as the secret is never repeated in the error.
    EXPECT_THAT(auth.status().message(), Not(HasSubstr(kViewerToken)));
  }
  Write("short.token", "short\n");
  auto short_token = TokenAuthenticator::Load(Write("tokens", "a viewer file:short.token\n"));
  EXPECT_THAT(short_token.status().message(), HasSubstr("shorter than 16 characters"));
}

TEST_F(TokenAuthenticatorTest, ReloadRevokesAndABrokenFileKeepsTheCredentialsInForce) {
  const std::string viewer_line = "grafana viewer sha256:" + Sha256Hex(kViewerToken) + "\n";
  const std::string editor_line = "ci editor sha256:" + Sha256Hex(kEditorToken) + "\n";
  const std::string path = Write("tokens", viewer_line + editor_line);
  auto auth = TokenAuthenticator::Load(path);
  ASSERT_TRUE(auth.ok());
  ASSERT_TRUE((*auth)->Authenticate(std::string("Bearer ") + kEditorToken).ok());

  Write("tokens", viewer_line);
  ASSERT_TRUE((*auth)->Reload().ok());
  EXPECT_FALSE((*auth)->Authenticate(std::string("Bearer ") + kEditorToken).ok());
  EXPECT_TRUE((*auth)->Authenticate(std::string("Bearer ") + kViewerToken).ok());

  Write("tokens", "garbage\n");
  EXPECT_FALSE((*auth)->Reload().ok());
  EXPECT_TRUE((*auth)->Authenticate(std::string("Bearer ") + kViewerToken).ok());
  EXPECT_EQ((*auth)->credential_count(), 1u);
}

// Reloads while other threads authenticate: every answer is one of the two sets'. (cli_test is
// not run under TSan yet: docs/fuzzing.md, "Not done".)
TEST_F(TokenAuthenticatorTest, AuthenticateRacesReload) {
  const std::string viewer_line = "grafana viewer sha256:" + Sha256Hex(kViewerToken) + "\n";
  const std::string path = Write("tokens", viewer_line);
  auto auth = TokenAuthenticator::Load(path);
  ASSERT_TRUE(auth.ok());
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0};
  std::vector<std::thread> readers;
  for (int i = 0; i < 3; ++i) {
    readers.emplace_back([&] {
      while (!stop) {
        if (!(*auth)->Authenticate(std::string("Bearer ") + kViewerToken).ok()) ++failures;
      }
    });
  }
  int failed_reloads = 0;  // counted, not asserted in the loop: the readers must be joined
  for (int i = 0; i < 200; ++i) {
    Write("tokens", i % 2 == 0 ? viewer_line
                               : viewer_line + "ci editor sha256:" + Sha256Hex(kEditorToken) + "\n");
    if (!(*auth)->Reload().ok()) ++failed_reloads;
  }
  stop = true;
  for (auto& t : readers) t.join();
  EXPECT_EQ(failed_reloads, 0);
  EXPECT_EQ(failures, 0);
}

}  // namespace
}  // namespace vmk::cli
