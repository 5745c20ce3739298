// Every directory of examples/ is a fleet someone applies (`vmkeeper apply -f examples/grid`):
// each must decode, and all of them together must validate (a reference may resolve in another
// example: qemu-guest's VM prefers grid's hv01).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "specs/decoder.h"
#include "specs/validator.h"

namespace vmk::specs {
namespace {

namespace fs = std::filesystem;
using ::testing::IsEmpty;

bool NothingStored(Kind, const std::string&) { return false; }

std::vector<std::string> Problems(const DecodeResult& decoded) {
  std::vector<std::string> out = DiagnosticStrings(decoded.errors);
  std::vector<std::string> cross =
      DiagnosticStrings(ValidateObjectSet(decoded.objects, NothingStored));
  out.insert(out.end(), cross.begin(), cross.end());
  return out;
}

TEST(ExamplesTest, EveryExampleDecodesAndAllValidateTogether) {
  const fs::path root = fs::path(VMK_SOURCE_DIR) / "examples";
  std::set<std::string> seen;
  DecodeResult all;
  for (const auto& entry : fs::directory_iterator(root)) {
    if (!entry.is_directory()) continue;
    const std::string name = entry.path().filename().string();
    seen.insert(name);
    DecodeResult decoded = LoadManifests(entry.path().string());
    EXPECT_THAT(DiagnosticStrings(decoded.errors), IsEmpty()) << name;
    EXPECT_FALSE(decoded.objects.empty()) << name;
    all.Append(std::move(decoded));
  }
  EXPECT_THAT(Problems(all), IsEmpty());
  // The walk found the examples the README names (a wrong root would find nothing).
  for (const char* expected : {"grid", "qemu-guest", "storage"}) {
    EXPECT_TRUE(seen.count(expected)) << expected;
  }
}

// It stands alone: its pool is where its VM's volumes live, and nothing else is needed.
TEST(ExamplesTest, TheStorageExampleValidatesOnItsOwn) {
  DecodeResult decoded =
      LoadManifests((fs::path(VMK_SOURCE_DIR) / "examples" / "storage").string());
  ASSERT_THAT(Problems(decoded), IsEmpty());
  std::set<std::string> keys;
  for (const Object& o : decoded.objects) keys.insert(o.Key());
  EXPECT_EQ(keys, (std::set<std::string>{"StoragePool/shared", "VirtualMachine/build01"}));
  for (const Object& o : decoded.objects) {
    if (o.kind != Kind::kVirtualMachine) continue;
    StatusOr<VirtualMachineSpec> vm = VirtualMachineSpecFromJson(o.spec);
    ASSERT_TRUE(vm.ok()) << vm.status().ToString();
    ASSERT_FALSE(vm->disks.empty());
    ASSERT_TRUE(vm->disks[0].volume.has_value());
    EXPECT_EQ(vm->disks[0].volume->pool, "shared");
    EXPECT_FALSE(vm->disks[0].volume->baseImage.empty()) << "a volume over a base image";
  }
}

}  // namespace
}  // namespace vmk::specs
