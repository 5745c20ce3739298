#include "specs/manifest_files.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "specs/decoder.h"

namespace vmk::specs {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

std::string Policy(const std::string& name) {
  return "apiVersion: vmkeeper/v1\nkind: SnapshotPolicy\nmetadata: {name: " + name + "}\n";
}

class ManifestFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::path(::testing::TempDir()) / "vmk-specs-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  void Write(const std::string& relative, const std::string& content) {
    fs::path p = fs::path(dir_) / relative;
    fs::create_directories(p.parent_path());
    std::ofstream(p) << content;
  }
  std::vector<std::string> Names(const DecodeResult& r) {
    std::vector<std::string> out;
    for (const Object& o : r.objects) out.push_back(o.metadata.name);
    return out;
  }

  std::string dir_;
};

TEST_F(ManifestFilesTest, DirectoryIsLoadedRecursivelyInSortedOrder) {
  Write("b.yaml", Policy("b"));
  Write("a.yml", Policy("a") + "---\n" + Policy("a2"));
  Write("sub/c.json",
        R"({"apiVersion": "vmkeeper/v1", "kind": "SnapshotPolicy", "metadata": {"name": "c"}})");
  Write("sub/deeper/d.yaml", Policy("d"));
  Write("notes.txt", "not yaml: [");
  Write("README.md", "# nothing");
  Write(".hidden.yaml", "this: is: not: loaded");
  Write(".git/config.yaml", "neither: [");
  Write("b.yaml.orig", "nor: [");

  DecodeResult r = LoadManifests(dir_);
  EXPECT_THAT(DiagnosticStrings(r.errors), IsEmpty());
  EXPECT_THAT(Names(r), ElementsAre("a", "a2", "b", "c", "d"));
  EXPECT_EQ(r.objects[3].source.file, dir_ + "/sub/c.json");
  EXPECT_EQ(r.objects[2].source.ToString(), dir_ + "/b.yaml:1:1");
}

TEST_F(ManifestFilesTest, ErrorsOfAllFilesAreReportedWithTheirPaths) {
  Write("a.yaml", Policy("Bad"));
  Write("b.yaml", "apiVersion: vmkeeper/v1\nkind: Host\n  name: x\n");
  Write("c.yaml", Policy("fine"));
  DecodeResult r = LoadManifests(dir_);
  EXPECT_THAT(DiagnosticStrings(r.errors),
              ElementsAre(dir_ + "/a.yaml:3:18: metadata.name: must be a DNS-1123 label: 1 to 63 "
                                 "lowercase letters, digits or '-', starting with a letter and "
                                 "ending with a letter or digit",
                          dir_ + "/b.yaml:3:7: invalid YAML: illegal map value"));
  EXPECT_THAT(Names(r), ElementsAre("fine"));
}

TEST_F(ManifestFilesTest, SingleFileWhateverItsExtension) {
  Write("fleet.txt", Policy("p"));
  DecodeResult r = LoadManifests(dir_ + "/fleet.txt");
  EXPECT_TRUE(r.ok());
  EXPECT_THAT(Names(r), ElementsAre("p"));
}

TEST_F(ManifestFilesTest, EmptyDirectoryIsAnError) {
  Write("only.txt", "x");
  DecodeResult r = LoadManifests(dir_);
  EXPECT_THAT(DiagnosticStrings(r.errors),
              ElementsAre(dir_ + ": directory holds no manifest files (*.yaml, *.yml, *.json)"));
}

TEST_F(ManifestFilesTest, MissingPathIsAnError) {
  DecodeResult r = LoadManifests(dir_ + "/nope");
  EXPECT_THAT(DiagnosticStrings(r.errors), ElementsAre(dir_ + "/nope: no such file or directory"));
}

TEST_F(ManifestFilesTest, ReadManifestFilesReturnsTexts) {
  Write("x.yaml", Policy("x"));
  ManifestFiles files = ReadManifestFiles(dir_);
  ASSERT_THAT(files.errors, IsEmpty());
  ASSERT_EQ(files.files.size(), 1u);
  EXPECT_EQ(files.files[0].name, dir_ + "/x.yaml");
  EXPECT_EQ(files.files[0].content, Policy("x"));
}

TEST(ManifestFileNameTest, Extensions) {
  EXPECT_TRUE(IsManifestFileName("a.yaml"));
  EXPECT_TRUE(IsManifestFileName("a.yml"));
  EXPECT_TRUE(IsManifestFileName("a.json"));
  EXPECT_FALSE(IsManifestFileName("a.yaml.bak"));
  EXPECT_FALSE(IsManifestFileName(".yaml"));
  EXPECT_FALSE(IsManifestFileName("yaml"));
}

}  // namespace
}  // namespace vmk::specs
