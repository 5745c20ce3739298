#include "reconciler/store/store_watcher.h"

#include <mutex>
#include <vector>

#include <gtest/gtest.h>

#include "tests/fakes/memory_store.h"

namespace vmk::reconciler {
namespace {

specs::Object Vm(const std::string& name) {
  specs::Object o;
  o.kind = specs::Kind::kVirtualMachine;
  o.metadata.name = name;
  o.metadata.generation = 1;
  return o;
}

TEST(StoreWatcherTest, HandsOverEveryChangeInOrderAndWaitForSeesTheWritersOwnWrite) {
  MemoryStore store;
  std::mutex mu;
  std::vector<std::string> seen;
  StoreWatcher watcher(
      &store, store.Revision(), /*objects_only=*/false,
      [&](const std::vector<Change>& changes) {
        std::lock_guard<std::mutex> l(mu);
        for (const auto& c : changes) seen.push_back(ChangeTypeName(c.type) + (" " + c.object.name));
      },
      [] { FAIL() << "nothing was compacted"; });
  auto r1 = store.CommitApply({{Vm("a")}, {}, {}});
  ASSERT_TRUE(r1.ok());
  ASSERT_TRUE(store.PutStatus(specs::Kind::kVirtualMachine, "a", specs::Json{{"x", 1}}, false).ok());
  auto r3 = store.CommitApply({{}, {{specs::Kind::kVirtualMachine, "a"}}, {}});
  ASSERT_TRUE(r3.ok());
  ASSERT_TRUE(watcher.WaitFor(*r3, std::chrono::seconds(30)));
  std::lock_guard<std::mutex> l(mu);
  EXPECT_EQ(seen, (std::vector<std::string>{"applied a", "status a", "deleted a"}));
}

// A watcher that fell behind the feed's window (a slow handler, a long pause) is told to look at
// everything, then follows from the store's revision.
TEST(StoreWatcherTest, AWatcherBehindTheWindowRelistsAndFollowsOn) {
  MemoryStore store;
  ASSERT_TRUE(store.CommitApply({{Vm("a")}, {}, {}}).ok());
  // MemoryStore keeps 10,000 changes: write past them before the watcher starts from 0.
  for (int i = 0; i < 10001; ++i) {
    ASSERT_TRUE(store.PutStatus(specs::Kind::kVirtualMachine, "a", specs::Json{{"i", i}}, false).ok());
  }
  std::mutex mu;
  int relists = 0;
  std::vector<int64_t> revisions;
  StoreWatcher watcher(
      &store, 0, /*objects_only=*/false,
      [&](const std::vector<Change>& changes) {
        std::lock_guard<std::mutex> l(mu);
        for (const auto& c : changes) revisions.push_back(c.revision);
      },
      [&] {
        std::lock_guard<std::mutex> l(mu);
        ++relists;
      });
  ASSERT_TRUE(watcher.WaitFor(store.Revision(), std::chrono::seconds(30)));
  auto next = store.CommitApply({{Vm("b")}, {}, {}});
  ASSERT_TRUE(next.ok());
  ASSERT_TRUE(watcher.WaitFor(*next, std::chrono::seconds(30)));
  std::lock_guard<std::mutex> l(mu);
  EXPECT_EQ(relists, 1);
  EXPECT_EQ(revisions, std::vector<int64_t>{*next}) << "after the relist only what came next";
}

TEST(StoreWatcherTest, WaitForAfterStopIsFalse) {
  MemoryStore store;
  StoreWatcher watcher(&store, 0, /*objects_only=*/false, [](const std::vector<Change>&) {},
                       [] {});
  watcher.Stop();
  EXPECT_FALSE(watcher.WaitFor(1, std::chrono::milliseconds(10)));
}

// The controller's watcher follows objects only, yet WaitFor a revision that was a status
// write returns: the feed tells how far it went.
TEST(StoreWatcherTest, AnObjectsOnlyWatcherStillReachesTheStoresRevision) {
  MemoryStore store;
  std::mutex mu;
  std::vector<std::string> seen;
  StoreWatcher watcher(
      &store, 0, /*objects_only=*/true,
      [&](const std::vector<Change>& changes) {
        std::lock_guard<std::mutex> l(mu);
        for (const auto& c : changes) seen.push_back(ChangeTypeName(c.type) + (" " + c.object.name));
      },
      [] { FAIL() << "nothing was compacted"; });
  ASSERT_TRUE(store.CommitApply({{Vm("a")}, {}, {}}).ok());
  ASSERT_TRUE(store.PutStatus(specs::Kind::kVirtualMachine, "a", specs::Json{{"x", 1}}, false).ok());
  ASSERT_TRUE(watcher.WaitFor(store.Revision(), std::chrono::seconds(30)));
  std::lock_guard<std::mutex> l(mu);
  EXPECT_EQ(seen, std::vector<std::string>{"applied a"});
}

}  // namespace
}  // namespace vmk::reconciler
