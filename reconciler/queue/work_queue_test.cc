#include "reconciler/queue/work_queue.h"

#include <atomic>
#include <future>
#include <map>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace vmk::reconciler {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// Runs Get() on another thread; the future resolves with the key or "<shutdown>".
std::future<std::string> AsyncGet(WorkQueue* q) {
  return std::async(std::launch::async, [q] {
    std::string key;
    return q->Get(&key) ? key : std::string("<shutdown>");
  });
}

TEST(WorkQueueTest, HoldsAKeyOnce) {
  FakeClock clock;
  WorkQueue q(&clock);
  q.Add("vm/a");
  q.Add("vm/b");
  q.Add("vm/a");
  EXPECT_EQ(q.Len(), 2u);
  std::string key;
  ASSERT_TRUE(q.Get(&key));
  EXPECT_EQ(key, "vm/a");
  ASSERT_TRUE(q.Get(&key));
  EXPECT_EQ(key, "vm/b");
  EXPECT_EQ(q.Len(), 0u);
}

TEST(WorkQueueTest, KeyAddedWhileInFlightIsHandedOutAgainOnlyAfterDone) {
  FakeClock clock;
  WorkQueue q(&clock);
  q.Add("vm/a");
  std::string key;
  ASSERT_TRUE(q.Get(&key));
  q.Add("vm/a");  // arrives while a worker holds it
  q.Add("vm/a");
  EXPECT_EQ(q.Len(), 0u) << "must not be ready while in flight";
  auto second = AsyncGet(&q);
  EXPECT_EQ(second.wait_for(milliseconds(50)), std::future_status::timeout);
  q.Done("vm/a");
  ASSERT_EQ(second.wait_for(seconds(5)), std::future_status::ready);
  EXPECT_EQ(second.get(), "vm/a");
  q.Done("vm/a");
  EXPECT_EQ(q.Len(), 0u) << "the two re-adds collapse into one";
}

TEST(WorkQueueTest, NeverGivesOneKeyToTwoWorkers) {
  RealClock* clock = RealClock::Get();
  WorkQueue q(clock);
  std::atomic<int> concurrent_max{0};
  std::mutex mu;
  std::map<std::string, int> in_flight;
  std::atomic<int> processed{0};
  std::vector<std::thread> workers;
  for (int w = 0; w < 4; ++w) {
    workers.emplace_back([&] {
      std::string key;
      while (q.Get(&key)) {
        {
          std::lock_guard<std::mutex> l(mu);
          int n = ++in_flight[key];
          concurrent_max = std::max(concurrent_max.load(), n);
        }
        std::this_thread::yield();
        {
          std::lock_guard<std::mutex> l(mu);
          --in_flight[key];
        }
        ++processed;
        q.Done(key);
      }
    });
  }
  for (int i = 0; i < 20000; ++i) q.Add("vm/" + std::to_string(i % 7));
  ASSERT_TRUE(q.WaitIdle(milliseconds(10000)));
  q.ShutDown();
  for (auto& t : workers) t.join();
  EXPECT_EQ(concurrent_max.load(), 1);
  EXPECT_GE(processed.load(), 7);
}

TEST(WorkQueueTest, HighPriorityKeysGoFirstAndAWaitingLowKeyCanMoveUp) {
  FakeClock clock;
  WorkQueue q(&clock);
  q.Add("vm/resync1", WorkQueue::Priority::kLow);
  q.Add("vm/resync2", WorkQueue::Priority::kLow);
  q.Add("vm/event");
  q.Add("vm/resync2");  // an event for a key the resync already queued
  q.Add("vm/event", WorkQueue::Priority::kLow);  // a low add never demotes
  EXPECT_EQ(q.Len(), 3u);
  std::vector<std::string> order;
  std::string key;
  while (q.Len() > 0 && q.Get(&key)) {
    order.push_back(key);
    q.Done(key);
  }
  EXPECT_EQ(order, (std::vector<std::string>{"vm/event", "vm/resync2", "vm/resync1"}));
}

TEST(WorkQueueTest, AKeyReAddedInFlightKeepsTheMostUrgentPriority) {
  FakeClock clock;
  WorkQueue q(&clock);
  q.Add("vm/a");
  std::string key;
  ASSERT_TRUE(q.Get(&key));
  q.Add("vm/a", WorkQueue::Priority::kLow);
  q.Add("vm/a");
  q.Add("vm/b", WorkQueue::Priority::kLow);
  q.Done("vm/a");
  ASSERT_TRUE(q.Get(&key));
  EXPECT_EQ(key, "vm/a") << "re-queued in the high lane, ahead of the low vm/b";
  q.Done(key);
  ASSERT_TRUE(q.Get(&key));
  EXPECT_EQ(key, "vm/b");
  q.Done(key);
  EXPECT_EQ(q.Len(), 0u);
}

TEST(WorkQueueTest, AddAfterWaitsForTheClock) {
  FakeClock clock;
  WorkQueue q(&clock);
  q.AddAfter("vm/a", seconds(10));
  EXPECT_EQ(q.Len(), 0u);
  EXPECT_EQ(q.Delayed(), 1u);
  auto got = AsyncGet(&q);
  clock.Advance(seconds(9));
  EXPECT_EQ(got.wait_for(milliseconds(50)), std::future_status::timeout);
  clock.Advance(seconds(1));
  ASSERT_EQ(got.wait_for(seconds(5)), std::future_status::ready);
  EXPECT_EQ(got.get(), "vm/a");
}

TEST(WorkQueueTest, AddAfterKeepsTheEarliestDeadline) {
  FakeClock clock;
  WorkQueue q(&clock);
  q.AddAfter("vm/a", seconds(30));
  q.AddAfter("vm/a", seconds(5));
  q.AddAfter("vm/a", seconds(60));
  EXPECT_EQ(q.Delayed(), 1u);
  clock.Advance(seconds(5));
  std::string key;
  ASSERT_TRUE(q.Get(&key));
  EXPECT_EQ(key, "vm/a");
  EXPECT_EQ(q.Delayed(), 0u);
}

// Periodic work (scheduled snapshots) comes due in the low lane: a failure reported while a
// wave of it waits goes first. A high wake-up planned for the same key keeps it high.
TEST(WorkQueueTest, AKeyDelayedAsLowJoinsTheLowLaneWhenDue) {
  FakeClock clock;
  WorkQueue q(&clock);
  q.AddAfter("vm/snap1", seconds(10), WorkQueue::Priority::kLow);
  q.AddAfter("vm/snap2", seconds(10), WorkQueue::Priority::kLow);
  q.AddAfter("vm/both", seconds(10), WorkQueue::Priority::kLow);
  q.AddAfter("vm/both", seconds(20));  // later, but high: the earlier wake-up serves it, high
  clock.Advance(seconds(10));
  q.Add("vm/crashed");
  std::vector<std::string> order;
  std::string key;
  while (q.Len() > 0 && q.Get(&key)) {
    order.push_back(key);
    q.Done(key);
  }
  EXPECT_EQ(order, (std::vector<std::string>{"vm/crashed", "vm/both", "vm/snap1", "vm/snap2"}));
}

TEST(WorkQueueTest, RateLimitedBacksOffExponentiallyAndForgetResets) {
  FakeClock clock;
  WorkQueue q(&clock, {milliseconds(5), seconds(1)});
  std::string key;
  // Delays 5, 10, 20, 40 ms.
  for (int i = 0; i < 4; ++i) {
    q.AddRateLimited("vm/a");
    Duration expected = milliseconds(5) * (1 << i);
    clock.Advance(expected - milliseconds(1));
    EXPECT_EQ(q.Len(), 0u) << "ready before its backoff of " << i;
    clock.Advance(milliseconds(1));
    EXPECT_EQ(q.Len(), 1u);
    ASSERT_TRUE(q.Get(&key));
    q.Done(key);
  }
  EXPECT_EQ(q.NumRequeues("vm/a"), 4);
  // Capped at max_delay.
  for (int i = 0; i < 20; ++i) q.AddRateLimited("vm/b");
  clock.Advance(seconds(1));
  ASSERT_TRUE(q.Get(&key));
  EXPECT_EQ(key, "vm/b");
  q.Done(key);
  q.Forget("vm/a");
  EXPECT_EQ(q.NumRequeues("vm/a"), 0);
  q.AddRateLimited("vm/a");
  clock.Advance(milliseconds(5));
  ASSERT_TRUE(q.Get(&key));
  EXPECT_EQ(key, "vm/a");
}

TEST(WorkQueueTest, ShutDownReleasesWaiters) {
  FakeClock clock;
  WorkQueue q(&clock);
  auto got = AsyncGet(&q);
  auto delayed_waiter = std::async(std::launch::async, [&] {
    q.AddAfter("vm/x", seconds(100));
    return true;
  });
  delayed_waiter.get();
  q.ShutDown();
  ASSERT_EQ(got.wait_for(seconds(5)), std::future_status::ready);
  EXPECT_EQ(got.get(), "<shutdown>");
  q.Add("vm/late");
  EXPECT_EQ(q.Len(), 0u);
}

}  // namespace
}  // namespace vmk::reconciler
