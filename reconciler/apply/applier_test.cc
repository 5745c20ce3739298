#include "reconciler/apply/applier.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/fakes/memory_store.h"
#include "reconciler/core/object_status.h"

namespace vmk::reconciler {
namespace {

using specs::Kind;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

const char kHost[] = R"(apiVersion: vmkeeper/v1
kind: Host
metadata: {name: hv01}
spec: {uri: "test:///embedded/hv01"}
)";

std::string Vm(const std::string& name, int memory = 2048, const std::string& labels = "{}") {
  return "---\napiVersion: vmkeeper/v1\nkind: VirtualMachine\nmetadata: {name: " + name +
         ", labels: " + labels + "}\nspec:\n  memoryMiB: " + std::to_string(memory) +
         "\n  disks: [{name: root, image: /i/" + name + ".qcow2}]\n";
}

class ApplierTest : public ::testing::Test {
 protected:
  ApplierTest()
      : applier_(&store_, [this](const std::vector<ObjectRef>& c) { changed_ = c; },
                 [](const specs::Object&) { return std::string("hv01"); }) {}

  ApplyOutcome Apply(const std::string& yaml, ApplyOptions options = {}) {
    auto out = applier_.Apply({{"fleet.yaml", yaml}}, options);
    EXPECT_TRUE(out.ok()) << out.status().ToString();
    return out.ok() ? *out : ApplyOutcome{};
  }
  std::vector<std::string> Actions(const ApplyOutcome& out) {
    std::vector<std::string> v;
    for (const auto& r : out.results) {
      v.push_back(std::string(specs::KindName(r.kind)) + "/" + r.name + " " + r.action);
    }
    return v;
  }
  int64_t Generation(const std::string& vm) {
    auto o = store_.Get(Kind::kVirtualMachine, vm);
    return (o.ok() && *o) ? (*o)->metadata.generation : -1;
  }

  MemoryStore store_;
  std::vector<ObjectRef> changed_;
  Applier applier_;
};

TEST_F(ApplierTest, CreatedUnchangedConfigured) {
  EXPECT_THAT(Actions(Apply(kHost + Vm("a"))),
              ElementsAre("Host/hv01 created", "VirtualMachine/a created"));
  EXPECT_EQ(Generation("a"), 1);
  EXPECT_EQ(changed_.size(), 2u);
  changed_.clear();
  EXPECT_THAT(Actions(Apply(kHost + Vm("a"))),
              ElementsAre("Host/hv01 unchanged", "VirtualMachine/a unchanged"));
  EXPECT_TRUE(changed_.empty()) << "nothing committed, nothing enqueued";
  EXPECT_THAT(Actions(Apply(kHost + Vm("a", 4096))),
              ElementsAre("Host/hv01 unchanged", "VirtualMachine/a configured"));
  EXPECT_EQ(Generation("a"), 2);
}

TEST_F(ApplierTest, LabelsAloneConfigureWithoutBumpingTheGeneration) {
  Apply(kHost + Vm("a"));
  EXPECT_THAT(Actions(Apply(kHost + Vm("a", 2048, "{tier: gold}"))),
              ElementsAre("Host/hv01 unchanged", "VirtualMachine/a configured"));
  EXPECT_EQ(Generation("a"), 1);
}

TEST_F(ApplierTest, StatusInManifestsIsIgnoredAndStoredStatusKept) {
  Apply(kHost + Vm("a"));
  ASSERT_TRUE(store_.PutStatus(Kind::kVirtualMachine, "a", {{"host", "hv01"}}, true).ok());
  Apply(kHost + Vm("a", 4096) + "status: {host: elsewhere}\n");
  auto o = store_.Get(Kind::kVirtualMachine, "a");
  ASSERT_TRUE(o.ok() && *o);
  EXPECT_EQ((*o)->status["host"], "hv01");
}

TEST_F(ApplierTest, DryRunChangesNothing) {
  auto out = Apply(kHost + Vm("a"), {true, false});
  EXPECT_THAT(Actions(out), ElementsAre("Host/hv01 created", "VirtualMachine/a created"));
  auto vms = store_.List(Kind::kVirtualMachine);
  ASSERT_TRUE(vms.ok());
  EXPECT_TRUE(vms->empty());
  EXPECT_TRUE(changed_.empty());
}

TEST_F(ApplierTest, AnyErrorRefusesTheWholeApply) {
  Apply(kHost + Vm("a"));
  auto out = Apply(kHost + Vm("a", 4096) + Vm("b", 1));
  ASSERT_EQ(out.errors.size(), 1u);
  EXPECT_THAT(out.errors[0], HasSubstr("fleet.yaml:"));
  EXPECT_THAT(out.errors[0], HasSubstr("spec.memoryMiB"));
  EXPECT_TRUE(out.results.empty());
  EXPECT_EQ(Generation("a"), 1) << "the valid part was not applied either";
  EXPECT_EQ(Generation("b"), -1);
}

TEST_F(ApplierTest, ErrorsOfAllFilesAreListedAtOnce) {
  auto out = applier_.Apply({{"one.yaml", Vm("x", 1)}, {"two.yaml", Vm("Bad_Name")}}, {});
  ASSERT_TRUE(out.ok());
  ASSERT_EQ(out->errors.size(), 2u);
  EXPECT_THAT(out->errors[0], HasSubstr("one.yaml:"));
  EXPECT_THAT(out->errors[1], HasSubstr("two.yaml:"));
}

TEST_F(ApplierTest, PruneDeletesWhatTheFilesNoLongerHold) {
  Apply(kHost + Vm("a") + Vm("b"));
  auto out = Apply(kHost + Vm("a"), {false, true});
  EXPECT_THAT(Actions(out), ElementsAre("Host/hv01 unchanged", "VirtualMachine/a unchanged",
                                        "VirtualMachine/b pruned"));
  EXPECT_EQ(Generation("b"), -1);
}

TEST_F(ApplierTest, AHostWithVmsPlacedOnItCannotBeRemoved) {
  Apply(kHost + Vm("a"));
  ASSERT_TRUE(store_.PutStatus(Kind::kVirtualMachine, "a", {{"host", "hv01"}}, true).ok());
  auto out = Apply(Vm("a"), {false, true});
  // The VM stays but its host would go.
  ASSERT_EQ(out.errors.size(), 1u);
  EXPECT_EQ(out.errors[0],
            "Host/hv01: cannot be removed while VMs are placed on it (a): delete or move them first");
  Status s = applier_.Delete(Kind::kHost, "hv01");
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  // Removing both together is fine: the host's cleanup removes the VM's domain.
  out = Apply(kHost, {false, true});
  EXPECT_TRUE(out.errors.empty());
  out = Apply("", {false, true});
  EXPECT_FALSE(out.errors.empty()) << "an empty apply with prune must not wipe everything";
}

// A Ready VM on volumes under a policy with beforeChange: the diff says its disks are kept
// first and the change is watched; a change of its labels or of a stopped VM says nothing.
TEST_F(ApplierTest, DiffSaysWhenAnApplyTakesABeforeChangeSnapshot) {
  const std::string vm =
      "apiVersion: vmkeeper/v1\nkind: VirtualMachine\nmetadata: {name: a}\nspec:\n"
      "  memoryMiB: MEM\n  disks: [{name: root, image: /images/a.qcow2, format: qcow2}]\n"
      "  snapshotPolicy: p\n---\n";
  auto with_memory = [&](const std::string& mib) {
    std::string out = vm;
    out.replace(out.find("MEM"), 3, mib);
    return out;
  };
  const std::string policy = "---\napiVersion: vmkeeper/v1\nkind: SnapshotPolicy\nmetadata: {name: p}\n"
                             "spec: {intervalSeconds: 3600}\n---\n";
  ApplyOutcome applied = Apply(kHost + policy + with_memory("1024"));
  ASSERT_TRUE(applied.errors.empty()) << applied.errors.front();
  VmStatus status;
  status.host = "hv01";
  status.conditions.push_back({"Ready", "True", "Running", "", ""});
  status.disks.push_back({"root", "", "shared", "a.root.0.qcow2", "/srv/a.root.0.qcow2", "qcow2"});
  ASSERT_TRUE(store_.PutStatus(Kind::kVirtualMachine, "a", status.ToJson(), true).ok());
  auto diff = applier_.Diff({{"fleet.yaml", kHost + policy + with_memory("2048")}}, false);
  ASSERT_TRUE(diff.ok()) << diff.status().ToString();
  EXPECT_THAT(diff->actions,
              ElementsAre("redefine a on hv01 (generation 2) and restart it, after a "
                          "before-change snapshot of its disks; rolled back to generation 1 if "
                          "not Ready within its startup grace"));

  status.conditions[0].status = "False";  // nothing healthy to go back to
  ASSERT_TRUE(store_.PutStatus(Kind::kVirtualMachine, "a", status.ToJson(), true).ok());
  diff = applier_.Diff({{"fleet.yaml", kHost + policy + with_memory("2048")}}, false);
  ASSERT_TRUE(diff.ok());
  EXPECT_THAT(diff->actions, ElementsAre("redefine a on hv01 (generation 2) and restart it"));
}

TEST_F(ApplierTest, DeleteOfAMissingObjectIsNotFound) {
  Status s = applier_.Delete(Kind::kVirtualMachine, "ghost");
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_EQ(s.message(), "virtualmachine \"ghost\" not found");
}

TEST_F(ApplierTest, DiffShowsAUnifiedDiffAndThePlannedActions) {
  Apply(kHost + Vm("a"));
  ASSERT_TRUE(store_.PutStatus(Kind::kVirtualMachine, "a", {{"host", "hv01"}}, true).ok());
  auto same = applier_.Diff({{"fleet.yaml", kHost + Vm("a")}}, false);
  ASSERT_TRUE(same.ok());
  EXPECT_FALSE(same->changed);
  EXPECT_EQ(same->diff, "");
  EXPECT_TRUE(same->actions.empty());

  auto diff = applier_.Diff({{"fleet.yaml", kHost + Vm("a", 4096) + Vm("b")}}, false);
  ASSERT_TRUE(diff.ok());
  EXPECT_TRUE(diff->changed);
  EXPECT_THAT(diff->diff, HasSubstr("--- live/VirtualMachine/a\n+++ applied/VirtualMachine/a\n"));
  EXPECT_THAT(diff->diff, HasSubstr("-  memoryMiB: 2048\n+  memoryMiB: 4096\n"));
  EXPECT_THAT(diff->diff, HasSubstr("--- /dev/null\n+++ applied/VirtualMachine/b\n"));
  EXPECT_THAT(diff->actions, ElementsAre("redefine a on hv01 (generation 2) and restart it",
                                         "define and start b on hv01"));
  EXPECT_EQ(Generation("a"), 1) << "diff writes nothing";
  EXPECT_EQ(Generation("b"), -1);

  auto pruned = applier_.Diff({{"fleet.yaml", kHost}}, true);
  ASSERT_TRUE(pruned.ok());
  EXPECT_THAT(pruned->actions, ElementsAre("stop and remove a from hv01"));
  EXPECT_THAT(pruned->diff, HasSubstr("+++ /dev/null"));
}

// Diff compares the real secrets (the store keeps them; generations follow them) but shows
// neither value: a change reads "(secret changed)", an unchanged secret makes no diff line.
TEST_F(ApplierTest, DiffComparesSecretsButShowsNeitherValue) {
  auto host = [](const std::string& password, const std::string& token) {
    return "apiVersion: vmkeeper/v1\nkind: Host\nmetadata: {name: hv01}\nspec:\n"
           "  uri: test:///embedded/hv01\n  fencing:\n    agent: fence_ipmilan\n    args: {ip: "
           "10.0.0.1, password: " + password + ", api_token: " + token + "}\n";
  };
  Apply(host("old-pw-71", "tok-same-72"));
  auto stored = store_.Get(Kind::kHost, "hv01");
  ASSERT_TRUE(stored.ok() && *stored);
  EXPECT_EQ((**stored).spec["fencing"]["args"]["password"], "old-pw-71") << "the store keeps it";

  auto same = applier_.Diff({{"fleet.yaml", host("old-pw-71", "tok-same-72")}}, false);
  ASSERT_TRUE(same.ok());
  EXPECT_FALSE(same->changed);
  EXPECT_EQ(same->diff, "");

  auto diff = applier_.Diff({{"fleet.yaml", host("new-pw-73", "tok-same-72")}}, false);
  ASSERT_TRUE(diff.ok());
  EXPECT_TRUE(diff->changed);
  EXPECT_THAT(diff->diff, HasSubstr("-      password: \"***\"\n+      password: \"*** (secret changed)\"\n"));
  for (const char* secret : {"old-pw-71", "new-pw-73", "tok-same-72"}) {
    EXPECT_THAT(diff->diff, Not(HasSubstr(secret)));
  }
  auto pruned = applier_.Diff({{"fleet.yaml", Vm("x")}}, true);
  ASSERT_TRUE(pruned.ok());
  EXPECT_THAT(pruned->diff, HasSubstr("--- live/Host/hv01"));
  EXPECT_THAT(pruned->diff, Not(HasSubstr("old-pw-71")));

  EXPECT_THAT(Actions(Apply(host("new-pw-73", "tok-same-72"))), ElementsAre("Host/hv01 configured"));
  stored = store_.Get(Kind::kHost, "hv01");
  EXPECT_EQ((**stored).spec["fencing"]["args"]["password"], "new-pw-73");
  EXPECT_EQ((**stored).metadata.generation, 2);
}

std::string Pool(const std::string& name, const std::string& path = "/srv/pools/shared") {
  return "---\napiVersion: vmkeeper/v1\nkind: StoragePool\nmetadata: {name: " + name +
         "}\nspec: {path: " + path + "}\n";
}

TEST_F(ApplierTest, StoragePoolsAreAppliedDiffedAndPruned) {
  EXPECT_THAT(Actions(Apply(kHost + Pool("shared"))),
              ElementsAre("Host/hv01 created", "StoragePool/shared created"));
  auto stored = store_.Get(Kind::kStoragePool, "shared");
  ASSERT_TRUE(stored.ok() && *stored);
  EXPECT_EQ((*stored)->spec["path"], "/srv/pools/shared");
  EXPECT_EQ((*stored)->spec["type"], "dir");

  auto diff = applier_.Diff({{"fleet.yaml", kHost + Pool("shared", "/srv/p2") + Pool("more")}},
                            false);
  ASSERT_TRUE(diff.ok()) << diff.status().ToString();
  EXPECT_THAT(diff->actions,
              ElementsAre("update storage pool shared", "create storage pool more"));
  EXPECT_THAT(diff->diff, HasSubstr("--- live/StoragePool/shared\n+++ applied/StoragePool/shared"));
  EXPECT_THAT(diff->diff, HasSubstr("-  path: /srv/pools/shared\n+  path: /srv/p2\n"));

  auto pruned = applier_.Diff({{"fleet.yaml", kHost}}, true);
  ASSERT_TRUE(pruned.ok());
  EXPECT_THAT(pruned->actions, ElementsAre("delete storage pool shared"));
  EXPECT_THAT(Actions(Apply(kHost, {false, true})),
              ElementsAre("Host/hv01 unchanged", "StoragePool/shared pruned"));
}

std::string VmOnPool(const std::string& name, const std::string& pool) {
  return "---\napiVersion: vmkeeper/v1\nkind: VirtualMachine\nmetadata: {name: " + name +
         "}\nspec:\n  disks: [{name: root, volume: {pool: " + pool +
         ", baseImage: /b/debian.qcow2}}]\n";
}

TEST_F(ApplierTest, AStoragePoolThatVmsUseCannotBeDeletedOrPruned) {
  Apply(kHost + Pool("shared") + Pool("spare") + VmOnPool("a", "shared") +
        VmOnPool("b", "shared"));
  Status s = applier_.Delete(Kind::kStoragePool, "shared");
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(s.message(),
            "StoragePool/shared is used by VirtualMachine/a, VirtualMachine/b: delete or change "
            "those VMs first");
  // Pruned while a VM that stays uses it: the VM's reference no longer resolves.
  auto out = Apply(kHost + Pool("spare") + VmOnPool("a", "shared"), {false, true});
  ASSERT_EQ(out.errors.size(), 1u);
  EXPECT_THAT(out.errors[0], HasSubstr("fleet.yaml:"));
  EXPECT_THAT(out.errors[0],
              HasSubstr("spec.disks[0].volume.pool: StoragePool \"shared\" does not exist"));
  auto stored = store_.Get(Kind::kStoragePool, "shared");
  ASSERT_TRUE(stored.ok());
  EXPECT_TRUE(stored->has_value()) << "nothing was pruned";

  // Another pool is free to go, and so is this one once no VM uses it.
  EXPECT_TRUE(applier_.Delete(Kind::kStoragePool, "spare").ok());
  Apply(kHost + Pool("shared") + VmOnPool("a", "shared") + VmOnPool("b", "shared") +
        Pool("other") + VmOnPool("c", "other"));
  ASSERT_TRUE(applier_.Delete(Kind::kVirtualMachine, "a").ok());
  ASSERT_TRUE(applier_.Delete(Kind::kVirtualMachine, "b").ok());
  EXPECT_TRUE(applier_.Delete(Kind::kStoragePool, "shared").ok());
  EXPECT_THAT(Actions(Apply(kHost, {false, true})),
              ElementsAre("Host/hv01 unchanged", "StoragePool/other pruned",
                          "VirtualMachine/c pruned"))
      << "a pool goes with the VMs that use it";
}

TEST_F(ApplierTest, ASnapshotPolicyThatVmsUseCannotBeDeleted) {
  Apply(std::string(kHost) +
        "---\napiVersion: vmkeeper/v1\nkind: SnapshotPolicy\nmetadata: {name: nightly}\n" +
        Vm("a") + "  snapshotPolicy: nightly\n");
  Status s = applier_.Delete(Kind::kSnapshotPolicy, "nightly");
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(s.message(),
            "SnapshotPolicy/nightly is used by VirtualMachine/a: delete or change those VMs first");
  ASSERT_TRUE(applier_.Delete(Kind::kVirtualMachine, "a").ok());
  EXPECT_TRUE(applier_.Delete(Kind::kSnapshotPolicy, "nightly").ok());
}

// A VM with a volume disk whose deletePolicy is Delete: marked, not removed (its status records
// the volumes its reconcile deletes first), and never applied again while it goes.
const char kPool[] =
    "---\napiVersion: vmkeeper/v1\nkind: StoragePool\nmetadata: {name: shared}\n"
    "spec: {path: /srv/pool}\n";
std::string VolumeVm(const std::string& name, const std::string& policy) {
  return "---\napiVersion: vmkeeper/v1\nkind: VirtualMachine\nmetadata: {name: " + name +
         "}\nspec:\n  disks: [{name: root, volume: {pool: shared, sizeGiB: 1, deletePolicy: " +
         policy + "}}]\n";
}

TEST_F(ApplierTest, DeleteMarksAVmWhoseVolumesGoWithIt) {
  Apply(std::string(kHost) + kPool + VolumeVm("a", "Delete") + VolumeVm("b", "Retain"));
  ASSERT_TRUE(store_.PutStatus(Kind::kVirtualMachine, "a", {{"host", "hv01"}}, false).ok());
  auto before = store_.Get(Kind::kVirtualMachine, "a");
  ASSERT_TRUE(before.ok() && *before);
  changed_.clear();
  ASSERT_TRUE(applier_.Delete(Kind::kVirtualMachine, "a").ok());
  auto marked = store_.Get(Kind::kVirtualMachine, "a");
  ASSERT_TRUE(marked.ok() && *marked) << "kept until its reconcile deleted its volumes";
  EXPECT_TRUE((*marked)->metadata.terminating());
  EXPECT_THAT((*marked)->metadata.finalizers, ElementsAre("vmkeeper.dev/volumes"));
  EXPECT_EQ((*marked)->metadata.generation, (*before)->metadata.generation);
  EXPECT_EQ((*marked)->spec, (*before)->spec);
  EXPECT_EQ(VmStatus::FromJson((*marked)->status).host, "hv01") << "its record stays";
  EXPECT_EQ(changed_.size(), 1u) << "enqueued";
  const int64_t revision = (*marked)->revision;
  // Asked again: it is going already; the mark (and its time) stays as it was.
  ASSERT_TRUE(applier_.Delete(Kind::kVirtualMachine, "a").ok());
  EXPECT_EQ((*store_.Get(Kind::kVirtualMachine, "a"))->revision, revision);
  // Retain only: removed at once, as before.
  ASSERT_TRUE(applier_.Delete(Kind::kVirtualMachine, "b").ok());
  EXPECT_FALSE(*store_.Get(Kind::kVirtualMachine, "b"));
}

TEST_F(ApplierTest, AVmBeingDeletedIsNotAppliedAgain) {
  Apply(std::string(kHost) + kPool + VolumeVm("a", "Delete"));
  ASSERT_TRUE(applier_.Delete(Kind::kVirtualMachine, "a").ok());
  auto out = applier_.Apply({{"fleet.yaml", std::string(kHost) + kPool + VolumeVm("a", "Delete")}},
                            {});
  ASSERT_TRUE(out.ok());
  ASSERT_EQ(out->errors.size(), 1u);
  EXPECT_THAT(out->errors[0], ::testing::StartsWith("fleet.yaml:"));
  EXPECT_THAT(out->errors[0],
              HasSubstr(": metadata.name: VirtualMachine/a must not be applied while it is being "
                        "deleted since "));
  EXPECT_THAT(out->errors[0],
              HasSubstr("(finalizer vmkeeper.dev/volumes); apply it again once it is gone"));
  EXPECT_TRUE(out->results.empty()) << "nothing applied";
  auto diff = applier_.Diff({{"fleet.yaml", std::string(kHost) + kPool + VolumeVm("a", "Delete")}},
                            false);
  ASSERT_TRUE(diff.ok());
  EXPECT_EQ(diff->errors, out->errors);
}

TEST_F(ApplierTest, AManifestCannotMarkAnObjectItself) {
  auto out = applier_.Apply(
      {{"fleet.yaml", "apiVersion: vmkeeper/v1\nkind: Host\nmetadata: {name: hv01, "
                      "deletionTimestamp: \"2026-12-05T01:00:00Z\"}\nspec: {uri: \"test:///x\"}\n"}},
      {});
  ASSERT_TRUE(out.ok());
  ASSERT_FALSE(out->errors.empty());
  EXPECT_THAT(out->errors[0], HasSubstr("fleet.yaml:3:"));
  EXPECT_THAT(out->errors[0], HasSubstr("deletionTimestamp"));
  EXPECT_FALSE(*store_.Get(Kind::kHost, "hv01"));
}

TEST_F(ApplierTest, PruneMarksAVmWhoseVolumesGoWithItAndKeepsItsPool) {
  Apply(std::string(kHost) + kPool + VolumeVm("a", "Delete") + VolumeVm("b", "Retain"));
  // Its pool cannot go in the same apply: the VM's volumes are deleted there first.
  auto refused = applier_.Apply({{"fleet.yaml", kHost}}, {false, true});
  ASSERT_TRUE(refused.ok());
  ASSERT_EQ(refused->errors.size(), 1u);
  EXPECT_EQ(refused->errors[0],
            "StoragePool/shared: cannot be removed while VirtualMachine/a is being deleted: the "
            "volumes it has there (deletePolicy Delete) are deleted first; prune it once the VM "
            "is gone");
  auto diff = applier_.Diff({{"fleet.yaml", std::string(kHost) + kPool}}, true);
  ASSERT_TRUE(diff.ok());
  EXPECT_THAT(diff->actions,
              ElementsAre("stop and remove a, then delete the volumes of its disks root "
                          "(deletePolicy Delete; Terminating until then)",
                          "stop and remove b"));
  EXPECT_THAT(Actions(Apply(std::string(kHost) + kPool, {false, true})),
              ElementsAre("Host/hv01 unchanged", "StoragePool/shared unchanged",
                          "VirtualMachine/a pruned", "VirtualMachine/b pruned"));
  auto a = store_.Get(Kind::kVirtualMachine, "a");
  ASSERT_TRUE(a.ok() && *a);
  EXPECT_TRUE((*a)->metadata.terminating());
  EXPECT_FALSE(*store_.Get(Kind::kVirtualMachine, "b"));
  // Pruned again while it goes: nothing more to do for it; its pool still cannot go.
  EXPECT_THAT(Actions(Apply(std::string(kHost) + kPool, {false, true})),
              ElementsAre("Host/hv01 unchanged", "StoragePool/shared unchanged"));
  Status s = applier_.Delete(Kind::kStoragePool, "shared");
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("VirtualMachine/a (being deleted)"));
}

TEST_F(ApplierTest, UnifiedDiffOfEqualTextsIsEmpty) {
  EXPECT_EQ(UnifiedDiff("a", "x\ny\n", "b", "x\ny\n"), "");
  EXPECT_EQ(UnifiedDiff("a", "x\n", "b", "y\n"), "--- a\n+++ b\n@@ -1,1 +1,1 @@\n-x\n+y\n");
}

}  // namespace
}  // namespace vmk::reconciler
