#include "reconciler/queue/key_locks.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace vmk::reconciler {
namespace {

TEST(KeyLocksTest, HoldersOfOneKeyTakeTurnsAndTheMapEmptiesAfterwards) {
  KeyLocks locks;
  std::atomic<int> inside{0};
  std::atomic<int> max_inside{0};
  int counter = 0;  // written only under the "vm/a" lock
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 2000; ++i) {
        auto guard = locks.Lock("vm/a");
        int now = ++inside;
        int seen = max_inside.load();
        while (now > seen && !max_inside.compare_exchange_weak(seen, now)) {
        }
        ++counter;
        --inside;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(max_inside.load(), 1);
  EXPECT_EQ(counter, 8000);
  EXPECT_EQ(locks.Size(), 0u);
}

TEST(KeyLocksTest, DifferentKeysDoNotWaitForEachOther) {
  KeyLocks locks;
  auto a = locks.Lock("vm/a");
  // Would deadlock (and time the test out) if "vm/b" waited for "vm/a".
  std::thread other([&] { auto b = locks.Lock("vm/b"); });
  other.join();
  EXPECT_EQ(locks.Size(), 1u);
  a.Release();
  EXPECT_EQ(locks.Size(), 0u);
}

TEST(KeyLocksTest, AMovedGuardReleasesOnce) {
  KeyLocks locks;
  KeyLocks::Guard outer;
  {
    auto inner = locks.Lock("vm/a");
    outer = std::move(inner);
  }
  EXPECT_EQ(locks.Size(), 1u) << "the moved-from guard released the lock";
  outer.Release();
  EXPECT_EQ(locks.Size(), 0u);
  auto again = locks.Lock("vm/a");  // would block forever if still held
  EXPECT_EQ(locks.Size(), 1u);
}

}  // namespace
}  // namespace vmk::reconciler
