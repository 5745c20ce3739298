// The storage edge on real parts: a libvirtd host in its own namespaces (tests/e2e/
// libvirt_hosts.sh) with a dir pool, real qcow2 files, qemu-img, and a tiny QEMU guest whose
// disk is a volume of the pool. The guest counts its boots on its disk and answers
// "hello from NAME gen=N" (N = the count it found), so each disk state is told apart from
// inside the guest:
//
//   boot on root.0                      gen=0   (root.0 now holds 1)
//   snapshot while running: root.0 frozen, the guest goes on writing root.1
//   two restarts on root.1              gen=1, gen=2 (root.1 holds 3)
//   restore: a new top root.2 over root.0       gen=1, the snapshot's state
//   the failed top root.1 is still there, untouched (qemu-img shows it over root.0)
//   prune root.0: merged into both children, deleted; root.2 boots on with gen=2
//
// Needs root. Everything runs under one scratch directory, removed at the end.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>

#include "providers/hypervisor/libvirt/libvirt_hypervisor.h"
#include "providers/storage/qemu_img.h"
#include "tests/e2e/qemu_fleet.h"

namespace vmk::e2e {
namespace {

using providers::DomainConfig;
using providers::ImageFormat;
using providers::InterfaceConfig;
using providers::LibvirtHypervisor;
using providers::StoragePool;
using providers::VolumeInfo;
using std::chrono::seconds;

class StorageE2eTest : public ::testing::Test {
 protected:
  StorageE2eTest() : scratch_("storage"), fleet_(scratch_.path()) {}

  static void SetUpTestSuite() {
    ScratchDir build_scratch("guest-build-storage");
    guest_build_error_ = BuildGuest(build_scratch.path());
  }

  void SetUp() override {
    ASSERT_EQ(geteuid(), 0u) << "this test runs a libvirtd host in namespaces and needs root";
    ASSERT_EQ(guest_build_error_, "");
    ASSERT_EQ(fleet_.StartHosts(1), "");
    // What an admin does on each host that mounts the pool.
    ASSERT_EQ(fleet_.DefinePool("shared"), "");
    pool_dir_ = fleet_.PoolDir("shared");
    hv_ = std::make_unique<LibvirtHypervisor>("hv01", fleet_.uri(1), providers::ConnectOptions{},
                                              RealClock::Get());
    ASSERT_TRUE(hv_->Connect().ok());
    pool_ = hv_->OpenStoragePool("shared");
    port_ = FreePort();
  }

  void TearDown() override {
    if (HasFailure()) std::cerr << "---- serial console ----\n" << ReadFile(SerialLog()) << "\n";
    pool_.reset();
    hv_.reset();
    fleet_.StopAll();
  }

  fs::path SerialLog() const { return scratch_.path() / "vm1.serial.log"; }
  std::string Path(const std::string& volume) const { return (pool_dir_ / volume).string(); }

  DomainConfig GuestOn(const std::string& volume) const {
    DomainConfig c;
    c.name = "vm1";
    c.cpus = 1;
    c.memoryMiB = 192;
    c.generation = 1;
    c.disks = {{"root", Path(volume), "vda", ImageFormat::kQcow2}};
    c.boot = {(GuestDir() / "vmlinux").string(), (GuestDir() / "initramfs.cpio.gz").string(),
              "console=ttyS0 quiet panic=-1 vmname=vm1"};
    c.console_log_file = SerialLog().string();
    c.interfaces = {{"net0", InterfaceConfig::Type::kUser, "", {{"127.0.0.1", port_, 80}}}};
    return c;
  }

  // Boots vm1 on `volume` and returns the generation it reports ("" if it never answers).
  std::string BootAndAnswer(const std::string& volume) {
    if (!hv_->DefineDomain(GuestOn(volume)).ok()) return "define failed";
    Status started = hv_->StartDomain("vm1");
    if (!started.ok()) return started.ToString();
    std::string answer;
    WaitFor(
        [&] {
          auto r = HttpRequest(port_, "GET", "/", "", std::chrono::milliseconds(500));
          if (r.status == 200) answer = r.body;
          return r.status == 200;
        },
        seconds(90));
    size_t at = answer.find("gen=");
    return at == std::string::npos ? "no answer" : answer.substr(at, answer.find_first_of(" \n", at) - at);
  }

  void Stop() {
    ASSERT_TRUE(hv_->DestroyDomain("vm1").ok());
    // The forwarded port is free again only once QEMU is gone.
    ASSERT_TRUE(WaitFor([&] { return fleet_.GuestPids("vm1").empty(); }, seconds(20)));
  }

  static inline std::string guest_build_error_;
  ScratchDir scratch_;
  QemuFleet fleet_;
  fs::path pool_dir_;
  std::unique_ptr<LibvirtHypervisor> hv_;
  std::shared_ptr<StoragePool> pool_;
  int port_ = 0;
};

TEST_F(StorageE2eTest, SnapshotRestoreAndPruneOnARunningGuest) {
  const std::string base = (GuestDir() / "base.raw").string();
  auto root0 = pool_->CreateVolume({"root.0", base, ImageFormat::kRaw, 0});
  ASSERT_TRUE(root0.ok()) << root0.status().ToString();
  EXPECT_EQ(root0->backing_path, base);
  EXPECT_EQ(root0->capacity_bytes, static_cast<int64_t>(fs::file_size(base)));
  providers::QemuImg qemu_img;
  auto info = qemu_img.Info(Path("root.0"));
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->format, ImageFormat::kQcow2);  // read from the header: no .qcow2 in the name
  EXPECT_EQ(info->backing_format, ImageFormat::kRaw);

  ASSERT_EQ(BootAndAnswer("root.0"), "gen=0");

  // The snapshot: QEMU moves to root.1 while the guest runs; root.0 is frozen.
  auto t0 = std::chrono::steady_clock::now();
  Status snap = hv_->SnapshotDisks("vm1", {{"vda", Path("root.1")}});
  auto snapshot_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::steady_clock::now() - t0).count();
  ASSERT_TRUE(snap.ok()) << snap.ToString();
  std::cout << "snapshot of a running guest took " << snapshot_ms << " ms\n";
  auto domain = hv_->GetDomain("vm1");
  ASSERT_TRUE(domain.ok() && domain->has_value());
  // libvirt rewrote the persistent definition too: the controller must follow the new top.
  EXPECT_EQ((*domain)->config->disks[0].source, Path("root.1"));
  EXPECT_TRUE(providers::IsActive((*domain)->state));
  auto root1 = pool_->GetVolume("root.1");  // a file libvirt's pool had not seen
  ASSERT_TRUE(root1.ok() && root1->has_value()) << root1.status().ToString();
  EXPECT_EQ((*root1)->backing_path, Path("root.0"));
  EXPECT_EQ(pool_->DeleteVolume("root.0").code(), StatusCode::kFailedPrecondition);

  Stop();
  ASSERT_EQ(BootAndAnswer("root.1"), "gen=1");
  Stop();
  ASSERT_EQ(BootAndAnswer("root.1"), "gen=2");
  Stop();

  // Restore: a new top over the frozen layer boots the snapshot's state; root.1 stays.
  auto root2 = pool_->CreateVolume({"root.2", Path("root.0"), ImageFormat::kQcow2, 0});
  ASSERT_TRUE(root2.ok()) << root2.status().ToString();
  ASSERT_EQ(BootAndAnswer("root.2"), "gen=1");
  Stop();
  auto kept = qemu_img.Info(Path("root.1"));
  ASSERT_TRUE(kept.ok());
  EXPECT_EQ(kept->backing_path, Path("root.0"));

  // Prune root.0: each child takes what it read from it, then the layer goes.
  ASSERT_TRUE(pool_->MergeBackingIntoChild("root.1").ok());
  ASSERT_TRUE(pool_->MergeBackingIntoChild("root.2").ok());
  auto merged = pool_->GetVolume("root.2");
  ASSERT_TRUE(merged.ok() && merged->has_value());
  EXPECT_EQ((*merged)->backing_path, base);
  ASSERT_TRUE(pool_->DeleteVolume("root.0").ok());
  EXPECT_FALSE(fs::exists(Path("root.0")));
  ASSERT_EQ(BootAndAnswer("root.2"), "gen=2");
  Stop();
  ASSERT_EQ(BootAndAnswer("root.1"), "gen=3");  // the failed state, intact
}

// Pruning a running guest's snapshot layer (docs/storage.md, Pruning): QEMU commits the layer
// above it into it while the guest runs; the top then sits on the pruned layer, which holds the
// newer snapshot's state, and the committed file can go.
//
//   boot on root.0 (gen=0, root.0 holds 1); snapshot: root.1; restart on root.1 (gen=1, root.1
//   holds 2); snapshot: root.2. Commit root.1 into root.0 while running: root.2 sits on root.0,
//   which now holds 2; root.1 is deleted. A new top over root.0 boots gen=2.
TEST_F(StorageE2eTest, CommitOfAnIntermediateLayerOfARunningGuest) {
  const std::string base = (GuestDir() / "base.raw").string();
  ASSERT_TRUE(pool_->CreateVolume({"root.0", base, ImageFormat::kRaw, 0}).ok());
  ASSERT_EQ(BootAndAnswer("root.0"), "gen=0");
  ASSERT_TRUE(hv_->SnapshotDisks("vm1", {{"vda", Path("root.1")}}).ok());
  Stop();
  ASSERT_EQ(BootAndAnswer("root.1"), "gen=1");
  ASSERT_TRUE(hv_->SnapshotDisks("vm1", {{"vda", Path("root.2")}}).ok());
  // Not the active top (it would wait for a pivot), not across layers.
  EXPECT_EQ(hv_->CommitDiskLayer("vm1", {"vda", Path("root.1"), Path("root.2")}, seconds(30))
                .code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(hv_->CommitDiskLayer("vm1", {"vda", base, Path("root.1")}, seconds(30)).code(),
            StatusCode::kInvalidArgument);

  auto t0 = std::chrono::steady_clock::now();
  Status committed =
      hv_->CommitDiskLayer("vm1", {"vda", Path("root.0"), Path("root.1")}, seconds(60));
  auto commit_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::steady_clock::now() - t0).count();
  ASSERT_TRUE(committed.ok()) << committed.ToString();
  std::cout << "online commit of an idle guest's layer (" << fs::file_size(Path("root.1"))
            << " bytes of file) took " << commit_ms << " ms\n";
  auto domain = hv_->GetDomain("vm1");
  ASSERT_TRUE(domain.ok() && domain->has_value());
  EXPECT_TRUE(providers::IsActive((*domain)->state)) << "the guest kept running";
  EXPECT_EQ((*domain)->config->disks[0].source, Path("root.2"));
  auto http = HttpRequest(port_, "GET", "/", "", std::chrono::milliseconds(2000));
  EXPECT_EQ(http.status, 200) << "the guest answers after the commit";
  // The pool's view: root.2 now on root.0, nothing on root.1, which goes.
  auto volumes = pool_->ListVolumes();
  ASSERT_TRUE(volumes.ok()) << volumes.status().ToString();
  auto chain = providers::VolumeChain(*volumes, "root.2");
  ASSERT_TRUE(chain.ok()) << chain.status().ToString();
  ASSERT_EQ(chain->size(), 2u);
  EXPECT_EQ((*chain)[1].name, "root.0");
  EXPECT_EQ((*chain)[1].backing_path, base);
  EXPECT_TRUE(providers::VolumesBackedBy(*volumes, Path("root.1")).empty());
  ASSERT_TRUE(pool_->DeleteVolume("root.1").ok());
  // Done already: a second call finds top out of the chain.
  EXPECT_EQ(hv_->CommitDiskLayer("vm1", {"vda", Path("root.0"), Path("root.1")}, seconds(30))
                .code(),
            StatusCode::kInvalidArgument);
  Stop();

  // root.0 now holds what root.1 held at the second snapshot: its restore boots gen=2.
  ASSERT_TRUE(pool_->CreateVolume({"root.3", Path("root.0"), ImageFormat::kQcow2, 0}).ok());
  ASSERT_EQ(BootAndAnswer("root.3"), "gen=2");
  Stop();
  ASSERT_EQ(BootAndAnswer("root.2"), "gen=2") << "the top reads what it read before";
}

TEST_F(StorageE2eTest, SnapshotOfAStoppedDomainIsRefusedAndFreezeIsUsedInstead) {
  ASSERT_TRUE(pool_->CreateVolume({"data.0", "", std::nullopt, 8 << 20}).ok());
  DomainConfig c = GuestOn("data.0");
  ASSERT_TRUE(hv_->DefineDomain(c).ok());
  EXPECT_EQ(hv_->SnapshotDisks("vm1", {{"vda", Path("data.1")}}).code(),
            StatusCode::kFailedPrecondition);
  auto frozen = pool_->FreezeVolumes({{"data.0", "data.1"}});
  ASSERT_TRUE(frozen.ok()) << frozen.status().ToString();
  EXPECT_EQ((*frozen)[0].backing_path, Path("data.0"));
  EXPECT_EQ((*frozen)[0].capacity_bytes, 8 << 20);
  auto info = providers::QemuImg().Info(Path("data.1"));
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->backing_path, Path("data.0"));
  EXPECT_EQ(info->backing_format, ImageFormat::kQcow2);
  ASSERT_TRUE(hv_->UndefineDomain("vm1").ok());
}

TEST(QemuImgTest, SaysWhatIsNotThere) {
  providers::QemuImg qemu_img;
  EXPECT_EQ(qemu_img.Info("/nonexistent/disk.img").status().code(), StatusCode::kNotFound);
  providers::QemuImg missing(RealClock::Get(), "/nonexistent/qemu-img");
  EXPECT_EQ(missing.Info("/x").status().code(), StatusCode::kUnavailable);
}

}  // namespace
}  // namespace vmk::e2e
