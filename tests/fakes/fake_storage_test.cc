// The fake storage keeps the real provider's contract (libvirt_storage_pool_test.cc and
// tests/e2e/storage_e2e_test.cc hold the real one to it) and adds what tests need: data a
// reader sees through the chain, hosts that see some pools, faults.
#include "tests/fakes/fake_storage.h"

#include <gtest/gtest.h>

#include "providers/hypervisor/hypervisor_wrapper.h"
#include "tests/fakes/fake_hypervisor.h"

namespace vmk::providers {
namespace {

class FakeStorageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    storage_->AddPool("shared", "/srv/pool");
    storage_->AddImage("/images/base.raw", ImageFormat::kRaw, 1 << 20, "base-state");
    hv_ = factory_.Create("hv01", "qemu+ssh://hv01/system", ConnectOptions());
    host_ = factory_.host("qemu+ssh://hv01/system");
    host_->AttachStorage(storage_, {"shared"});
    ASSERT_TRUE(hv_->Connect().ok());
    pool_ = hv_->OpenStoragePool("shared");
  }

  // A running VM "vm1" whose disk vda is the volume root.0 over the base image.
  void StartVmOnVolume() {
    ASSERT_TRUE(pool_->CreateVolume({"root.0", "/images/base.raw", ImageFormat::kRaw, 0}).ok());
    DomainConfig c;
    c.name = "vm1";
    c.disks = {{"root", "/srv/pool/root.0", "vda", ImageFormat::kQcow2}};
    ASSERT_TRUE(hv_->DefineDomain(c).ok());
    ASSERT_TRUE(hv_->StartDomain("vm1").ok());
  }

  std::shared_ptr<FakeStorage> storage_ = std::make_shared<FakeStorage>();
  FakeHypervisorFactory factory_;
  std::unique_ptr<Hypervisor> hv_;
  std::shared_ptr<FakeHost> host_;
  std::shared_ptr<StoragePool> pool_;
};

TEST_F(FakeStorageTest, LayerReadsThroughToItsBaseUntilWritten) {
  auto v = pool_->CreateVolume({"root.0", "/images/base.raw", ImageFormat::kRaw, 0});
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(v->capacity_bytes, 1 << 20);  // the base's size
  EXPECT_EQ(storage_->ReadData(v->path), "base-state");
  ASSERT_TRUE(storage_->WriteData(v->path, "mine").ok());
  EXPECT_EQ(storage_->ReadData(v->path), "mine");
  EXPECT_EQ(storage_->ReadData("/images/base.raw"), "base-state");
}

TEST_F(FakeStorageTest, KeepsTheProvidersRules) {
  EXPECT_EQ(pool_->CreateVolume({"a", "/images/base.raw", std::nullopt, 0}).status().code(),
            StatusCode::kInvalidArgument);  // a backing format is never guessed
  EXPECT_EQ(pool_->CreateVolume({"a", "", std::nullopt, 0}).status().code(),
            StatusCode::kInvalidArgument);  // an empty volume needs a size
  ASSERT_TRUE(pool_->CreateVolume({"a", "", std::nullopt, 1 << 20}).ok());
  EXPECT_EQ(pool_->CreateVolume({"a", "", std::nullopt, 1 << 20}).status().code(),
            StatusCode::kAlreadyExists);
  ASSERT_TRUE(pool_->CreateVolume({"b", "/srv/pool/a", ImageFormat::kQcow2, 0}).ok());
  EXPECT_EQ(pool_->DeleteVolume("a").code(), StatusCode::kFailedPrecondition);
  EXPECT_TRUE(pool_->DeleteVolume("absent").ok());
}

TEST_F(FakeStorageTest, FreezeIsAllOrNothing) {
  ASSERT_TRUE(pool_->CreateVolume({"root.0", "", std::nullopt, 1 << 20}).ok());
  ASSERT_TRUE(pool_->CreateVolume({"data.0", "", std::nullopt, 1 << 20}).ok());
  ASSERT_TRUE(pool_->CreateVolume({"data.1", "", std::nullopt, 1 << 20}).ok());
  auto failed = pool_->FreezeVolumes({{"root.0", "root.1"}, {"data.0", "data.1"}});
  EXPECT_EQ(failed.status().code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(storage_->Volumes("shared").size(), 3u);  // root.1 was not left behind
  auto ok = pool_->FreezeVolumes({{"root.0", "root.1"}});
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ((*ok)[0].backing_path, "/srv/pool/root.0");
}

TEST_F(FakeStorageTest, MergeKeepsWhatTheChildShows) {
  ASSERT_TRUE(pool_->CreateVolume({"s1", "/images/base.raw", ImageFormat::kRaw, 0}).ok());
  ASSERT_TRUE(storage_->WriteData("/srv/pool/s1", "snapshot-1").ok());
  ASSERT_TRUE(pool_->CreateVolume({"top", "/srv/pool/s1", ImageFormat::kQcow2, 0}).ok());
  ASSERT_TRUE(pool_->MergeBackingIntoChild("top").ok());
  EXPECT_EQ(storage_->ReadData("/srv/pool/top"), "snapshot-1");
  EXPECT_EQ(storage_->VolumeAt("/srv/pool/top")->backing_path, "/images/base.raw");
  EXPECT_TRUE(pool_->DeleteVolume("s1").ok());  // nothing sits on it any more
  EXPECT_EQ(storage_->ReadData("/srv/pool/top"), "snapshot-1");
}

TEST_F(FakeStorageTest, SnapshotDisksSwitchesTheRunningDomainToNewTops) {
  StartVmOnVolume();
  ASSERT_TRUE(storage_->WriteData("/srv/pool/root.0", "before").ok());
  ASSERT_TRUE(hv_->SnapshotDisks("vm1", {{"vda", "/srv/pool/root.1"}}).ok());
  auto domain = host_->Domain("vm1");
  ASSERT_TRUE(domain.has_value());
  EXPECT_EQ(domain->config->disks[0].source, "/srv/pool/root.1");
  // The guest writes on; the frozen layer keeps the snapshot's state.
  ASSERT_TRUE(storage_->WriteData("/srv/pool/root.1", "after").ok());
  EXPECT_EQ(storage_->ReadData("/srv/pool/root.0"), "before");
  EXPECT_EQ(storage_->ReadData("/srv/pool/root.1"), "after");
}

TEST_F(FakeStorageTest, SnapshotDisksRefusesWhatTheHypervisorWould) {
  StartVmOnVolume();
  EXPECT_EQ(hv_->SnapshotDisks("vm1", {{"vdz", "/srv/pool/x"}}).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(hv_->SnapshotDisks("vm1", {{"vda", "/elsewhere/x"}}).code(),
            StatusCode::kInvalidArgument);  // a new top outside every pool
  ASSERT_TRUE(hv_->DestroyDomain("vm1").ok());
  EXPECT_EQ(hv_->SnapshotDisks("vm1", {{"vda", "/srv/pool/root.1"}}).code(),
            StatusCode::kFailedPrecondition);
  EXPECT_EQ(storage_->Volumes("shared").size(), 1u);
}

// QEMU's intermediate block commit: root.1 (over root.0, under the running top root.2) goes
// into root.0; the top then sits on root.0 and reads the same; root.1's file is left.
TEST_F(FakeStorageTest, CommitDiskLayerMergesAnIntermediateLayerIntoTheOneUnderIt) {
  StartVmOnVolume();
  ASSERT_TRUE(storage_->WriteData("/srv/pool/root.0", "zero").ok());
  ASSERT_TRUE(hv_->SnapshotDisks("vm1", {{"vda", "/srv/pool/root.1"}}).ok());
  ASSERT_TRUE(storage_->WriteData("/srv/pool/root.1", "one").ok());
  ASSERT_TRUE(hv_->SnapshotDisks("vm1", {{"vda", "/srv/pool/root.2"}}).ok());
  ASSERT_TRUE(storage_->SetAllocation("/srv/pool/root.0", 100).ok());
  ASSERT_TRUE(storage_->SetAllocation("/srv/pool/root.1", 300).ok());
  const LayerCommit commit{"vda", "/srv/pool/root.0", "/srv/pool/root.1"};
  // Not the active top, not a base the layer does not sit on, not a disk it lacks.
  EXPECT_EQ(hv_->CommitDiskLayer("vm1", {"vda", "/srv/pool/root.1", "/srv/pool/root.2"},
                                 std::chrono::seconds(1))
                .code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(hv_->CommitDiskLayer("vm1", {"vda", "/images/base.raw", "/srv/pool/root.1"},
                                 std::chrono::seconds(1))
                .code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(hv_->CommitDiskLayer("vm1", {"vdz", commit.base, commit.top}, std::chrono::seconds(1))
                .code(),
            StatusCode::kInvalidArgument);
  host_->InjectFailure(FakeOp::kCommitDiskLayer, Status::Unavailable("keepalive"));
  EXPECT_EQ(hv_->CommitDiskLayer("vm1", commit, std::chrono::seconds(1)).code(),
            StatusCode::kUnavailable);
  EXPECT_EQ(storage_->VolumeAt("/srv/pool/root.2")->backing_path, "/srv/pool/root.1")
      << "a failed call merged nothing";

  ASSERT_TRUE(hv_->CommitDiskLayer("vm1", commit, std::chrono::seconds(1)).ok());
  EXPECT_EQ(storage_->VolumeAt("/srv/pool/root.2")->backing_path, "/srv/pool/root.0");
  EXPECT_EQ(storage_->ReadData("/srv/pool/root.0"), "one") << "root.0 holds what root.1 showed";
  EXPECT_EQ(storage_->ReadData("/srv/pool/root.2"), "one");
  EXPECT_EQ(storage_->VolumeAt("/srv/pool/root.0")->allocation_bytes, 300);
  EXPECT_TRUE(storage_->VolumeAt("/srv/pool/root.1").has_value()) << "left for the caller";
  EXPECT_TRUE(pool_->DeleteVolume("root.1").ok()) << "nothing is layered on it any more";
  EXPECT_EQ(host_->CallCount(FakeOp::kCommitDiskLayer), 5);

  ASSERT_TRUE(hv_->DestroyDomain("vm1").ok());
  EXPECT_EQ(hv_->CommitDiskLayer("vm1", commit, std::chrono::seconds(1)).code(),
            StatusCode::kFailedPrecondition);
}

// Decorators (the fault injector, the simulation's observers) keep the host's storage.
TEST_F(FakeStorageTest, AWrapperForwardsStorage) {
  StartVmOnVolume();
  HypervisorWrapper wrapper(factory_.Create("hv01", "qemu+ssh://hv01/system", ConnectOptions()));
  ASSERT_TRUE(wrapper.Connect().ok());
  EXPECT_TRUE(wrapper.OpenStoragePool("shared")->Info().ok());
  EXPECT_TRUE(wrapper.SnapshotDisks("vm1", {{"vda", "/srv/pool/root.1"}}).ok());
  EXPECT_EQ(host_->Domain("vm1")->config->disks[0].source, "/srv/pool/root.1");
  ASSERT_TRUE(wrapper.SnapshotDisks("vm1", {{"vda", "/srv/pool/root.2"}}).ok());
  EXPECT_TRUE(wrapper
                  .CommitDiskLayer("vm1", {"vda", "/srv/pool/root.0", "/srv/pool/root.1"},
                                   std::chrono::seconds(1))
                  .ok());
  EXPECT_EQ(storage_->VolumeAt("/srv/pool/root.2")->backing_path, "/srv/pool/root.0");
}

TEST_F(FakeStorageTest, APoolIsSeenOnlyThroughHostsThatMountIt) {
  auto other_hv = factory_.Create("hv02", "qemu+ssh://hv02/system", ConnectOptions());
  ASSERT_TRUE(other_hv->Connect().ok());
  EXPECT_EQ(other_hv->OpenStoragePool("shared")->Info().status().code(), StatusCode::kNotFound);
  EXPECT_EQ(hv_->OpenStoragePool("other")->Info().status().code(), StatusCode::kNotFound);
  host_->SetReachable(false);
  EXPECT_EQ(pool_->ListVolumes().status().code(), StatusCode::kUnavailable);
}

TEST_F(FakeStorageTest, FaultsAndVanishedVolumes) {
  storage_->InjectFailure(FakeStorageOp::kCreate, Status::Unavailable("nfs is gone"));
  EXPECT_EQ(pool_->CreateVolume({"a", "", std::nullopt, 1}).status().code(),
            StatusCode::kUnavailable);
  EXPECT_EQ(storage_->CallCount(FakeStorageOp::kCreate), 1);
  ASSERT_TRUE(pool_->CreateVolume({"a", "", std::nullopt, 1}).ok());
  // A failure injected for good (times < 1) lasts until ClearFailures.
  storage_->InjectFailure(FakeStorageOp::kDelete, Status::Internal("refused"), 0);
  EXPECT_FALSE(pool_->DeleteVolume("a").ok());
  EXPECT_FALSE(pool_->DeleteVolume("a").ok());
  storage_->ClearFailures();
  EXPECT_TRUE(pool_->DeleteVolume("a").ok());
  ASSERT_TRUE(pool_->CreateVolume({"a", "", std::nullopt, 1}).ok());
  storage_->RemoveVolumeBehindBack("shared", "a");
  EXPECT_FALSE(pool_->GetVolume("a")->has_value());
  storage_->SetPoolActive("shared", false);
  EXPECT_EQ(pool_->Info().status().code(), StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace vmk::providers
