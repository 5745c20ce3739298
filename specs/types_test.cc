#include "specs/types.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <iterator>
#include <string>

namespace vmk::specs {
namespace {

TEST(KindTest, NamesRoundTrip) {
  for (Kind kind : kAllKinds) {
    EXPECT_EQ(KindFromName(KindName(kind)), kind) << KindName(kind);
  }
  EXPECT_EQ(KindName(Kind::kStoragePool), "StoragePool");
  EXPECT_EQ(KindFromName("storagepool"), std::nullopt) << "manifests spell the kind exactly";
  EXPECT_EQ(KindFromName("Pool"), std::nullopt);
}

TEST(KindTest, EveryKindIsListedOnceAndPoolsComeBeforeVms) {
  EXPECT_EQ(std::size(kAllKinds), 4u);
  auto position = [](Kind kind) {
    return std::find(std::begin(kAllKinds), std::end(kAllKinds), kind) - std::begin(kAllKinds);
  };
  for (Kind kind : {Kind::kHost, Kind::kSnapshotPolicy, Kind::kStoragePool}) {
    EXPECT_LT(position(kind), position(Kind::kVirtualMachine)) << KindName(kind);
  }
}

TEST(KindTest, CliSpellings) {
  for (const char* name : {"storagepool", "storagepools", "pool", "pools", "StoragePool",
                           "POOLS"}) {
    EXPECT_EQ(KindFromCliName(name), Kind::kStoragePool) << name;
  }
  for (const char* name : {"host", "hosts", "Host"}) {
    EXPECT_EQ(KindFromCliName(name), Kind::kHost) << name;
  }
  for (const char* name : {"vm", "vms", "virtualmachine", "virtualmachines", "VirtualMachine"}) {
    EXPECT_EQ(KindFromCliName(name), Kind::kVirtualMachine) << name;
  }
  for (const char* name : {"sp", "snapshotpolicy", "snapshotpolicies"}) {
    EXPECT_EQ(KindFromCliName(name), Kind::kSnapshotPolicy) << name;
  }
  for (const char* name : {"", "poo", "storage", "sps", "volumes"}) {
    EXPECT_EQ(KindFromCliName(name), std::nullopt) << name;
  }
}

}  // namespace
}  // namespace vmk::specs
