// The storage step of the VM reconcile (DiskResolver), driven through the VM reconciler with
// fake hosts that mount a fake shared storage.
#include "reconciler/vm/disk_resolver.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/fakes/reconcile_fixture.h"

namespace vmk::reconciler {
namespace {

using providers::DomainState;
using providers::FakeStorageOp;
using providers::ImageFormat;
using ::testing::Contains;
using ::testing::Not;

constexpr char kBase[] = "/images/base.raw";
constexpr char kVolume[] = "wms01.root.0.qcow2";
constexpr char kVolumePath[] = "/srv/pool/wms01.root.0.qcow2";

class DiskResolverTest : public ReconcileFixture {
 protected:
  void SetUp() override {
    storage_->AddPool("shared", "/srv/pool");
    storage_->AddImage(kBase, ImageFormat::kRaw, 1 << 30, "base");
  }
  // Hosts hv01 (label storage=nfs, mounts the pool) and hv02 (neither), synced.
  void TwoHosts(bool hv01_mounts = true) {
    Apply(HostYaml("hv01", "{storage: nfs}") + HostYaml("hv02") + PoolYaml());
    if (hv01_mounts) Host("hv01").AttachStorage(storage_, {"shared"});
    SyncHost("hv01");
    SyncHost("hv02");
  }
  static std::string PoolYaml() {
    return "apiVersion: vmkeeper/v1\nkind: StoragePool\nmetadata: {name: shared}\n"
           "spec: {type: dir, path: /srv/pool, hostSelector: {storage: nfs}}\n---\n";
  }
  static std::string VolumeVm(const std::string& volume = "{pool: shared, baseImage: " +
                                                          std::string(kBase) + "}") {
    return "apiVersion: vmkeeper/v1\nkind: VirtualMachine\nmetadata: {name: wms01}\n"
           "spec:\n  cpus: 2\n  memoryMiB: 2048\n  disks: [{name: root, volume: " +
           volume + "}]\n---\n";
  }
  static std::string ImageVm(const std::string& image) {
    return "apiVersion: vmkeeper/v1\nkind: VirtualMachine\nmetadata: {name: wms01}\n"
           "spec:\n  cpus: 2\n  memoryMiB: 2048\n  disks: [{name: root, image: " + image +
           "}]\n---\n";
  }
  std::optional<providers::DomainInfo> Domain() { return Host("hv01").Domain("wms01"); }
};

TEST(LayerVolumeNameTest, VmDiskAndIndex) {
  EXPECT_EQ(LayerVolumeName("wms01", "root", 0), "wms01.root.0.qcow2");
  EXPECT_EQ(LayerVolumeName("wms01", "data", 12), "wms01.data.12.qcow2");
}

TEST_F(DiskResolverTest, AVolumeIsCreatedOverItsBaseWhereThePoolIsAndUsed) {
  TwoHosts();
  Apply(VolumeVm());
  ReconcileVmOk("wms01");
  EXPECT_EQ(StatusOf("wms01").host, "hv01") << "the only host that sees the pool";
  auto volume = storage_->VolumeAt(kVolumePath);
  ASSERT_TRUE(volume.has_value());
  EXPECT_EQ(volume->backing_path, kBase);
  EXPECT_EQ(volume->backing_format, ImageFormat::kRaw);  // read from the base
  EXPECT_EQ(storage_->ReadData(kVolumePath), "base");
  auto domain = Domain();
  ASSERT_TRUE(domain.has_value());
  EXPECT_EQ(domain->state, DomainState::kRunning);
  EXPECT_EQ(domain->config->disks[0].source, kVolumePath);
  EXPECT_EQ(domain->config->disks[0].format, ImageFormat::kQcow2);
  ASSERT_EQ(StatusOf("wms01").disks.size(), 1u);
  EXPECT_EQ(StatusOf("wms01").disks[0].volume, kVolume);
  EXPECT_EQ(StatusOf("wms01").disks[0].path, kVolumePath);
  EXPECT_THAT(Reasons("wms01"), Contains("VolumeCreated"));

  // Level-triggered and idempotent: nothing more is created or changed.
  const int creates = storage_->CallCount(FakeStorageOp::kCreate);
  Host("hv01").ResetCallCounts();
  ReconcileVmOk("wms01");
  EXPECT_EQ(storage_->CallCount(FakeStorageOp::kCreate), creates);
  EXPECT_EQ(Host("hv01").MutatingCallCount(), 0);
}

TEST_F(DiskResolverTest, AnEmptyVolumeHasItsDeclaredSize) {
  TwoHosts();
  Apply(VolumeVm("{pool: shared, sizeGiB: 20}"));
  ReconcileVmOk("wms01");
  auto volume = storage_->VolumeAt(kVolumePath);
  ASSERT_TRUE(volume.has_value());
  EXPECT_EQ(volume->capacity_bytes, int64_t{20} << 30);
  EXPECT_TRUE(volume->backing_path.empty());
}

TEST_F(DiskResolverTest, AVanishedVolumeIsNeverCreatedAgain) {
  TwoHosts();
  Apply(VolumeVm());
  ReconcileVmOk("wms01");
  ASSERT_TRUE(Host("hv01").SetRunning("wms01", false).ok());
  storage_->RemoveVolumeBehindBack("shared", kVolume);
  const int creates = storage_->CallCount(FakeStorageOp::kCreate);
  auto r = ReconcileVm("wms01");
  EXPECT_TRUE(r.status.ok());
  EXPECT_EQ(storage_->CallCount(FakeStorageOp::kCreate), creates);
  EXPECT_FALSE(storage_->VolumeAt(kVolumePath).has_value());
  EXPECT_EQ(ConditionStatus("wms01", "Ready"), "False/VolumeMissing");
  EXPECT_THAT(Reasons("wms01"), Contains("VolumeMissing"));
  EXPECT_NE(Domain()->state, DomainState::kRunning) << "not started on a missing disk";
}

TEST_F(DiskResolverTest, AVolumeTheControllerDidNotRecordIsNotTakenOver) {
  TwoHosts();
  auto pool = storage_->Pool("shared", nullptr);
  ASSERT_TRUE(pool->CreateVolume({kVolume, "", std::nullopt, 1 << 20}).ok());
  ASSERT_TRUE(storage_->WriteData(kVolumePath, "someone else's").ok());
  Apply(VolumeVm());
  ReconcileVmOk("wms01");
  EXPECT_EQ(ConditionStatus("wms01", "Ready"), "False/VolumeConflict");
  EXPECT_FALSE(Domain().has_value());
  EXPECT_EQ(storage_->ReadData(kVolumePath), "someone else's");
}

// The name is recorded before the volume is made: a controller stopped after the create but
// before its status write finds its own volume and goes on with it.
TEST_F(DiskResolverTest, ResumesAfterAStopBetweenTheIntentAndTheCreate) {
  TwoHosts();
  Apply(VolumeVm());
  storage_->InjectFailure(FakeStorageOp::kCreate, Status::Unavailable("nfs hiccup"));
  auto failed = ReconcileVm("wms01");
  EXPECT_FALSE(failed.status.ok());
  ASSERT_EQ(StatusOf("wms01").disks.size(), 1u);
  EXPECT_EQ(StatusOf("wms01").disks[0].volume, kVolume) << "the intent is durable";
  EXPECT_EQ(StatusOf("wms01").disks[0].path, "");
  // Now the create happens, but the controller "dies" before recording it.
  ASSERT_TRUE(storage_->Pool("shared", nullptr)
                  ->CreateVolume({kVolume, kBase, ImageFormat::kRaw, 0})
                  .ok());
  ReconcileVmOk("wms01");
  EXPECT_EQ(StatusOf("wms01").disks[0].path, kVolumePath);
  EXPECT_EQ(Domain()->state, DomainState::kRunning);
  EXPECT_THAT(Reasons("wms01"), Not(Contains("VolumeConflict")));
}

TEST_F(DiskResolverTest, AHostThatDoesNotMountThePoolBlocksTheVm) {
  TwoHosts(/*hv01_mounts=*/false);
  Apply(VolumeVm());
  ReconcileVmOk("wms01");
  EXPECT_EQ(ConditionStatus("wms01", "Ready"), "False/PoolUnavailable");
  EXPECT_FALSE(Domain().has_value());
}

TEST_F(DiskResolverTest, AnImagesFormatIsReadOnceAndRecorded) {
  TwoHosts();
  storage_->AddImage("/images/plain.img", ImageFormat::kQcow2, 1 << 30);
  Apply(ImageVm("/images/plain.img"));
  ReconcileVmOk("wms01");
  const std::string host = StatusOf("wms01").host;
  auto domain = Host(host).Domain("wms01");
  ASSERT_TRUE(domain.has_value());
  EXPECT_EQ(domain->config->disks[0].format, ImageFormat::kQcow2) << "not guessed from .img";
  EXPECT_EQ(StatusOf("wms01").disks[0].format, "qcow2");
  EXPECT_THAT(Reasons("wms01"), Contains("DiskFormatRead"));
  // What the file claims later is not read again (a guest could write a header into it).
  storage_->AddImage("/images/plain.img", ImageFormat::kRaw, 1 << 30);
  const int inspections = storage_->CallCount(FakeStorageOp::kInspect);
  ReconcileVmOk("wms01");
  EXPECT_EQ(storage_->CallCount(FakeStorageOp::kInspect), inspections);
  EXPECT_EQ(Host(host).Domain("wms01")->config->disks[0].format, ImageFormat::kQcow2);
}

TEST_F(DiskResolverTest, ADeclaredFormatIsUsedAsDeclared) {
  TwoHosts();
  Apply(ImageVm("/images/x.qcow2, format: raw"));
  ReconcileVmOk("wms01");
  auto domain = Host(StatusOf("wms01").host).Domain("wms01");
  ASSERT_TRUE(domain.has_value());
  EXPECT_EQ(domain->config->disks[0].format, ImageFormat::kRaw);
  EXPECT_EQ(storage_->CallCount(FakeStorageOp::kInspect), 0);
}

TEST_F(DiskResolverTest, AnUnreadableImageBlocksTheVmAndSaysHowToFixIt) {
  TwoHosts();
  Apply(ImageVm("/images/absent.img"));
  ReconcileVmOk("wms01");
  EXPECT_EQ(ConditionStatus("wms01", "Ready"), "False/DiskFormatUnknown");
  auto status = StatusOf("wms01");
  const auto* ready = specs::FindCondition(status.conditions, "Ready");
  ASSERT_NE(ready, nullptr);
  EXPECT_NE(ready->message.find("declare it in the disk's format field"), std::string::npos)
      << ready->message;
  EXPECT_FALSE(Host(status.host).Domain("wms01").has_value());
}

}  // namespace
}  // namespace vmk::reconciler
