// LibvirtStoragePool against libvirt's test driver: a host described by a node document with a
// dir pool (the driver keeps volumes in memory, so no file is written). What needs real files
// (qemu-img's merge, QEMU's snapshot) is tested end to end in tests/e2e/storage_e2e_test.cc.
#include "providers/hypervisor/libvirt/libvirt_storage_pool.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>

#include "providers/hypervisor/libvirt/libvirt_hypervisor.h"

namespace vmk::providers {
namespace {

using namespace std::chrono_literals;

class LibvirtStoragePoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/vmk-pool-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    std::ofstream(dir_ + "/node.xml")
        << "<node>\n"
           "  <cpu><nodes>1</nodes><sockets>1</sockets><cores>2</cores><threads>1</threads>"
           "<active>2</active><mhz>2000</mhz><model>x86_64</model></cpu>\n"
           "  <memory>4194304</memory>\n"
           "  <pool type='dir'><name>shared</name><target><path>/srv/pool</path></target>"
           "</pool>\n"
           "</node>\n";
    hv_ = std::make_unique<LibvirtHypervisor>("hv01", "test://" + dir_ + "/node.xml",
                                              ConnectOptions{}, RealClock::Get());
    ASSERT_TRUE(hv_->Connect().ok());
    pool_ = hv_->OpenStoragePool("shared");
  }
  void TearDown() override {
    pool_.reset();
    hv_.reset();
    std::filesystem::remove_all(dir_);
  }

  std::string dir_;
  std::unique_ptr<LibvirtHypervisor> hv_;
  std::shared_ptr<StoragePool> pool_;
};

TEST_F(LibvirtStoragePoolTest, InfoNamesTypeAndPath) {
  auto info = pool_->Info();
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->name, "shared");
  EXPECT_EQ(info->type, "dir");
  EXPECT_EQ(info->path, "/srv/pool");
  EXPECT_TRUE(info->active);
  EXPECT_GT(info->capacity_bytes, 0);
}

TEST_F(LibvirtStoragePoolTest, PoolTheHostDoesNotSeeIsNotFound) {
  auto other = hv_->OpenStoragePool("elsewhere");
  EXPECT_EQ(other->Info().status().code(), StatusCode::kNotFound);
  EXPECT_EQ(other->ListVolumes().status().code(), StatusCode::kNotFound);
  EXPECT_EQ(other->CreateVolume({"x", "", std::nullopt, 1 << 20}).status().code(),
            StatusCode::kNotFound);
}

TEST_F(LibvirtStoragePoolTest, CreatesEmptyAndLayeredVolumesAndReadsTheChain) {
  auto empty = pool_->CreateVolume({"data.0", "", std::nullopt, 1 << 20});
  ASSERT_TRUE(empty.ok()) << empty.status().ToString();
  EXPECT_EQ(empty->path, "/srv/pool/data.0");
  EXPECT_EQ(empty->format, ImageFormat::kQcow2);
  EXPECT_EQ(empty->capacity_bytes, 1 << 20);
  EXPECT_TRUE(empty->backing_path.empty());

  auto layer = pool_->CreateVolume({"data.1", empty->path, ImageFormat::kQcow2, 1 << 20});
  ASSERT_TRUE(layer.ok()) << layer.status().ToString();
  EXPECT_EQ(layer->backing_path, "/srv/pool/data.0");
  EXPECT_EQ(layer->backing_format, ImageFormat::kQcow2);

  auto listed = pool_->ListVolumes();
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 2u);
  EXPECT_EQ((*listed)[0].name, "data.0");  // sorted
  auto chain = VolumeChain(*listed, "data.1");
  ASSERT_TRUE(chain.ok());
  ASSERT_EQ(chain->size(), 2u);
  EXPECT_EQ((*chain)[1].name, "data.0");

  auto got = pool_->GetVolume("data.1");
  ASSERT_TRUE(got.ok());
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ((*got)->backing_path, "/srv/pool/data.0");
  auto absent = pool_->GetVolume("nope");
  ASSERT_TRUE(absent.ok());
  EXPECT_FALSE(absent->has_value());
}

TEST_F(LibvirtStoragePoolTest, ExistingVolumeIsNeverReplaced) {
  ASSERT_TRUE(pool_->CreateVolume({"root.0", "", std::nullopt, 1 << 20}).ok());
  auto again = pool_->CreateVolume({"root.0", "", std::nullopt, 2 << 20});
  EXPECT_EQ(again.status().code(), StatusCode::kAlreadyExists) << again.status().ToString();
  auto kept = pool_->GetVolume("root.0");
  ASSERT_TRUE(kept.ok() && kept->has_value());
  EXPECT_EQ((*kept)->capacity_bytes, 1 << 20);
}

TEST_F(LibvirtStoragePoolTest, RefusesRequestsItWouldHaveToGuess) {
  EXPECT_EQ(pool_->CreateVolume({"a", "", std::nullopt, 0}).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(pool_->CreateVolume({"b", "/base.img", std::nullopt, 0}).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(pool_->CreateVolume({"../etc/x", "", std::nullopt, 1 << 20}).status().code(),
            StatusCode::kInvalidArgument);
}

TEST_F(LibvirtStoragePoolTest, DeleteRefusesALayerOthersSitOn) {
  ASSERT_TRUE(pool_->CreateVolume({"base", "", std::nullopt, 1 << 20}).ok());
  ASSERT_TRUE(pool_->CreateVolume({"top", "/srv/pool/base", ImageFormat::kQcow2, 1 << 20}).ok());
  Status refused = pool_->DeleteVolume("base");
  EXPECT_EQ(refused.code(), StatusCode::kFailedPrecondition) << refused.ToString();
  EXPECT_NE(refused.message().find("top"), std::string::npos);
  EXPECT_TRUE(pool_->DeleteVolume("top").ok());
  EXPECT_TRUE(pool_->DeleteVolume("base").ok());
  EXPECT_TRUE(pool_->DeleteVolume("base").ok());  // absent: done
  EXPECT_TRUE(pool_->ListVolumes()->empty());
}

TEST_F(LibvirtStoragePoolTest, FreezeMakesNewTopsAndUndoesAPartialOne) {
  ASSERT_TRUE(pool_->CreateVolume({"root.0", "", std::nullopt, 1 << 20}).ok());
  ASSERT_TRUE(pool_->CreateVolume({"data.0", "", std::nullopt, 2 << 20}).ok());
  auto tops = pool_->FreezeVolumes({{"root.0", "root.1"}, {"data.0", "data.1"}});
  ASSERT_TRUE(tops.ok()) << tops.status().ToString();
  ASSERT_EQ(tops->size(), 2u);
  EXPECT_EQ((*tops)[0].backing_path, "/srv/pool/root.0");
  EXPECT_EQ((*tops)[1].capacity_bytes, 2 << 20);

  // data.2 exists already: the second freeze fails and root.2 is deleted again.
  ASSERT_TRUE(pool_->CreateVolume({"data.2", "", std::nullopt, 1 << 20}).ok());
  auto partial = pool_->FreezeVolumes({{"root.1", "root.2"}, {"data.1", "data.2"}});
  EXPECT_EQ(partial.status().code(), StatusCode::kAlreadyExists);
  auto root2 = pool_->GetVolume("root.2");
  ASSERT_TRUE(root2.ok());
  EXPECT_FALSE(root2->has_value());
}

TEST_F(LibvirtStoragePoolTest, CallsFailUnavailableWhenTheConnectionIsGone) {
  hv_->MarkDeadForTest();
  EXPECT_EQ(pool_->ListVolumes().status().code(), StatusCode::kUnavailable);
}

TEST(VolumeCreateXmlTest, EscapesAndNamesTheBackingFormat) {
  std::string xml =
      VolumeCreateXml({"a&b", "/images/base <1>.img", ImageFormat::kRaw, 0});
  EXPECT_NE(xml.find("<name>a&amp;b</name>"), std::string::npos) << xml;
  EXPECT_NE(xml.find("<path>/images/base &lt;1&gt;.img</path>"), std::string::npos) << xml;
  EXPECT_NE(xml.find("<format type='raw'/>\n  </backingStore>"), std::string::npos) << xml;
  EXPECT_NE(xml.find("<target>\n    <format type='qcow2'/>"), std::string::npos) << xml;
}

TEST(DiskSnapshotXmlTest, ListedDisksGoExternalOthersAreLeftOut) {
  std::string xml = DiskSnapshotXml({"vda", "vdb"}, {{"vda", "/pool/root.2"}});
  EXPECT_NE(xml.find("<disk name='vda' snapshot='external' type='file'>\n"
                     "      <driver type='qcow2'/>\n"
                     "      <source file='/pool/root.2'/>"),
            std::string::npos)
      << xml;
  EXPECT_NE(xml.find("<disk name='vdb' snapshot='no'/>"), std::string::npos) << xml;
}

TEST(DiskSnapshotTest, TestDriverCannotSnapshotAStoppedOrForeignDomain) {
  LibvirtHypervisor hv("default", "test:///default", ConnectOptions{}, RealClock::Get());
  ASSERT_TRUE(hv.Connect().ok());
  // test:///default has a running foreign domain "test".
  EXPECT_EQ(hv.SnapshotDisks("test", {{"vda", "/x"}}).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(hv.SnapshotDisks("absent", {{"vda", "/x"}}).code(), StatusCode::kNotFound);
  EXPECT_EQ(hv.SnapshotDisks("test", {}).code(), StatusCode::kInvalidArgument);
}

TEST(CommitDiskLayerTest, TestDriverRefusesWhatItCannotCommit) {
  LibvirtHypervisor hv("default", "test:///default", ConnectOptions{}, RealClock::Get());
  ASSERT_TRUE(hv.Connect().ok());
  const std::chrono::seconds timeout(5);
  // test:///default has a running foreign domain "test".
  EXPECT_EQ(hv.CommitDiskLayer("test", {"vda", "/p/root.0", "/p/root.1"}, timeout).code(),
            StatusCode::kFailedPrecondition);
  EXPECT_EQ(hv.CommitDiskLayer("absent", {"vda", "/p/root.0", "/p/root.1"}, timeout).code(),
            StatusCode::kNotFound);
  EXPECT_EQ(hv.CommitDiskLayer("test", {"vda", "", "/p/root.1"}, timeout).code(),
            StatusCode::kInvalidArgument);
  hv.MarkDeadForTest();
  EXPECT_EQ(hv.CommitDiskLayer("test", {"vda", "/p/root.0", "/p/root.1"}, timeout).code(),
            StatusCode::kUnavailable);
}

TEST(DiskChainFromXmlTest, TheActiveTopThenEachBackingStore) {
  const std::string xml =
      "<domain><devices>"
      "<disk type='file' device='cdrom'><source file='/iso'/><target dev='hdc'/></disk>"
      "<disk type='file' device='disk'><source file='/p/root.2'/>"
      "<backingStore type='file'><format type='qcow2'/><source file='/p/root.1'/>"
      "<backingStore type='file'><format type='raw'/><source file='/images/base.raw'/>"
      "<backingStore/></backingStore></backingStore>"
      "<target dev='vda' bus='virtio'/></disk>"
      "</devices></domain>";
  auto chain = DiskChainFromXml(xml, "vda");
  ASSERT_TRUE(chain.ok()) << chain.status().ToString();
  EXPECT_EQ(*chain, (std::vector<std::string>{"/p/root.2", "/p/root.1", "/images/base.raw"}));
  EXPECT_EQ(DiskChainFromXml(xml, "vdb").status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace vmk::providers
