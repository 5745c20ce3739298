#include "cli/audit_log.h"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace vmk::cli {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

std::vector<std::string> Lines(const fs::path& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line)) lines.push_back(line);
  return lines;
}

class AuditLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("vmk-audit-" + std::to_string(getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path dir_;
  FakeClock clock_;
};

AuditRecord Delete(int i) {
  AuditRecord r;
  r.user = "ci-deploy";
  r.role = "editor";
  r.source = "10.0.0.7";
  r.verb = "DELETE";
  r.path = "/api/v1/virtualmachines/vm" + std::to_string(i);
  r.status = 200;
  return r;
}

TEST_F(AuditLogTest, OneJsonLinePerRecordWithItsFields) {
  AuditLogOptions options;
  options.path = (dir_ / "audit.log").string();
  auto log = AuditLog::Open(options, &clock_);
  ASSERT_TRUE(log.ok()) << log.status().ToString();
  (*log)->Write(Delete(1));
  AuditRecord denied;
  denied.verb = "POST";
  denied.path = "/api/v1/apply";
  denied.source = "127.0.0.1";
  denied.status = 401;
  denied.reason = "invalid bearer token";
  (*log)->Write(denied);
  AuditRecord applied = Delete(2);
  applied.verb = "POST";
  applied.path = "/api/v1/apply";
  applied.objects = {"VirtualMachine/a", "Host/hv01"};
  (*log)->Write(applied);

  std::vector<std::string> lines = Lines(options.path);
  ASSERT_EQ(lines.size(), 3u);
  nlohmann::json first = nlohmann::json::parse(lines[0]);
  EXPECT_EQ(first["time"], FormatRfc3339(clock_.WallNow()));
  EXPECT_EQ(first["user"], "ci-deploy");
  EXPECT_EQ(first["role"], "editor");
  EXPECT_EQ(first["source"], "10.0.0.7");
  EXPECT_EQ(first["verb"], "DELETE");
  EXPECT_EQ(first["path"], "/api/v1/virtualmachines/vm1");
  EXPECT_EQ(first["status"], 200);
  EXPECT_FALSE(first.contains("reason"));
  nlohmann::json second = nlohmann::json::parse(lines[1]);
  EXPECT_TRUE(second["user"].is_null());
  EXPECT_TRUE(second["role"].is_null());
  EXPECT_EQ(second["status"], 401);
  EXPECT_EQ(second["reason"], "invalid bearer token");
  nlohmann::json third = nlohmann::json::parse(lines[2]);
  EXPECT_EQ(third["objects"], nlohmann::json::array({"VirtualMachine/a", "Host/hv01"}));
  EXPECT_EQ(fs::status(options.path).permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write);
}

TEST_F(AuditLogTest, RotatesAtTheSizeCapKeepingMaxFiles) {
  AuditLogOptions options;
  options.path = (dir_ / "audit.log").string();
  options.max_bytes = 4096;
  options.max_files = 2;
  auto log = AuditLog::Open(options, &clock_);
  ASSERT_TRUE(log.ok());
  const size_t line_bytes = AuditLine(Delete(100), FormatRfc3339(clock_.WallNow())).size() + 1;
  const int per_file = static_cast<int>(4096 / line_bytes);
  const int total = per_file * 4 + 3;  // fills the file 4 times over, then a few more
  for (int i = 100; i < 100 + total; ++i) (*log)->Write(Delete(i));

  EXPECT_TRUE(fs::exists(options.path + ".1"));
  EXPECT_TRUE(fs::exists(options.path + ".2"));
  EXPECT_FALSE(fs::exists(options.path + ".3"));
  int seen = 0;
  int last = 0;
  // Oldest first: .2, .1, then the live file; every line whole, in order, no file over the cap.
  for (const std::string& file : {options.path + ".2", options.path + ".1", options.path}) {
    EXPECT_LE(fs::file_size(file), 4096u) << file;
    for (const std::string& line : Lines(file)) {
      nlohmann::json record = nlohmann::json::parse(line);
      const std::string path = record["path"];
      const int n = std::stoi(path.substr(path.rfind("vm") + 2));
      EXPECT_GT(n, last);
      last = n;
      ++seen;
    }
  }
  EXPECT_EQ(last, 100 + total - 1);
  // Each full file holds per_file lines: the live one has the last 3, .1 and .2 the ones
  // before; the 2 * per_file oldest were dropped with the third rotation.
  EXPECT_EQ(seen, 2 * per_file + 3);
  EXPECT_EQ((*log)->failed_writes(), 0u);
}

TEST_F(AuditLogTest, ConcurrentWritersNeverInterleaveLines) {
  AuditLogOptions options;
  options.path = (dir_ / "audit.log").string();
  options.max_bytes = 64 * 1024;
  options.max_files = 50;
  auto log = AuditLog::Open(options, &clock_);
  ASSERT_TRUE(log.ok());
  std::vector<std::thread> writers;
  for (int t = 0; t < 4; ++t) {
    writers.emplace_back([&, t] {
      for (int i = 0; i < 500; ++i) (*log)->Write(Delete(t * 1000 + i));
    });
  }
  for (auto& w : writers) w.join();
  size_t lines = 0;
  for (const auto& entry : fs::directory_iterator(dir_)) {
    for (const std::string& line : Lines(entry.path())) {
      EXPECT_TRUE(nlohmann::json::accept(line)) << line;
      ++lines;
    }
  }
  EXPECT_EQ(lines, 2000u);
}

TEST_F(AuditLogTest, BadOptionsAndUnwritablePathsAreErrors) {
  AuditLogOptions options;
  EXPECT_THAT(AuditLog::Open(options, &clock_).status().message(), HasSubstr("must not be empty"));
  options.path = (dir_ / "a.log").string();
  options.max_bytes = 100;
  EXPECT_THAT(AuditLog::Open(options, &clock_).status().message(), HasSubstr("at least 4096"));
  options.max_bytes = 4096;
  options.path = (dir_ / "no" / "such" / "dir" / "a.log").string();
  EXPECT_THAT(AuditLog::Open(options, &clock_).status().message(),
              HasSubstr("cannot open audit log"));
}

AuditRecord Unidentified(const std::string& source) {
  AuditRecord r;
  r.source = source;
  r.verb = "POST";
  r.path = "/api/v1/apply";
  r.status = 401;
  r.reason = "missing bearer token";
  return r;
}

// A flood of 401s must not rotate the real records away: past the cap per minute they become
// one summary record, while writes and a known credential's refusals are all kept.
TEST_F(AuditLogTest, AFloodOfUnidentifiedRefusalsIsSummarised) {
  AuditLogOptions options;
  options.path = (dir_ / "audit.log").string();
  options.max_unidentified_refusals_per_minute = 3;
  auto log = AuditLog::Open(options, &clock_);
  ASSERT_TRUE(log.ok());
  (*log)->Write(Delete(1));
  for (int i = 0; i < 8; ++i) (*log)->Write(Unidentified("203.0.113.9"));
  for (int i = 0; i < 2; ++i) (*log)->Write(Unidentified("198.51.100.1"));
  AuditRecord forbidden = Delete(2);
  forbidden.role = "viewer";
  forbidden.status = 403;
  (*log)->Write(forbidden);
  (*log)->Write(Delete(3));
  std::vector<std::string> lines = Lines(options.path);
  ASSERT_EQ(lines.size(), 6u);  // 1 write, 3 refusals, the 403, 1 write
  EXPECT_EQ((*log)->suppressed_refusals(), 7u);

  clock_.Advance(std::chrono::seconds(61));
  (*log)->Write(Unidentified("203.0.113.9"));  // a new minute: written again
  lines = Lines(options.path);
  ASSERT_EQ(lines.size(), 8u);
  nlohmann::json summary = nlohmann::json::parse(lines[6]);
  EXPECT_EQ(summary["suppressed"], 7);
  EXPECT_EQ(summary["sources"]["203.0.113.9"], 5);
  EXPECT_EQ(summary["sources"]["198.51.100.1"], 2);
  EXPECT_EQ(summary["status"], 0);
  EXPECT_THAT(summary["reason"].get<std::string>(), HasSubstr("not recorded one by one"));
  EXPECT_EQ(nlohmann::json::parse(lines[7])["status"], 401);
}

TEST_F(AuditLogTest, RefusalsHeldBackAreSummarisedWhenTheLogCloses) {
  AuditLogOptions options;
  options.path = (dir_ / "audit.log").string();
  options.max_unidentified_refusals_per_minute = 0;
  {
    auto log = AuditLog::Open(options, &clock_);
    ASSERT_TRUE(log.ok());
    for (int i = 0; i < 4; ++i) (*log)->Write(Unidentified("192.0.2.1"));
    EXPECT_TRUE(Lines(options.path).empty());
  }
  std::vector<std::string> lines = Lines(options.path);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(nlohmann::json::parse(lines[0])["sources"]["192.0.2.1"], 4);
}

// A rename that fails (here PATH.1 is a directory that is not empty) is retried a minute later,
// not at every record; the records meanwhile go on to PATH.
TEST_F(AuditLogTest, AFailedRotationIsRetriedLaterNotAtEveryRecord) {
  AuditLogOptions options;
  options.path = (dir_ / "audit.log").string();
  options.max_bytes = 4096;
  options.max_files = 1;
  fs::create_directories(dir_ / "audit.log.1" / "in-the-way");
  auto log = AuditLog::Open(options, &clock_);
  ASSERT_TRUE(log.ok());
  for (int i = 0; i < 60; ++i) (*log)->Write(Delete(i));  // about 8 KiB: past the cap
  EXPECT_EQ(Lines(options.path).size(), 60u);
  EXPECT_GT(fs::file_size(options.path), options.max_bytes);

  fs::remove_all(dir_ / "audit.log.1");
  (*log)->Write(Delete(60));
  EXPECT_FALSE(fs::exists(dir_ / "audit.log.1")) << "retried before its minute was over";
  clock_.Advance(std::chrono::seconds(61));
  (*log)->Write(Delete(61));
  ASSERT_TRUE(fs::exists(dir_ / "audit.log.1"));
  EXPECT_EQ(Lines(dir_ / "audit.log.1").size(), 61u);
  EXPECT_EQ(Lines(options.path).size(), 1u);
  EXPECT_EQ((*log)->failed_writes(), 0u);
}

}  // namespace
}  // namespace vmk::cli
