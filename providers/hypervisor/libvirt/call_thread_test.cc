#include "providers/hypervisor/libvirt/call_thread.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <fstream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace vmk::providers::libvirt_internal {
namespace {

using namespace std::chrono_literals;

// A one-shot signal between threads.
class Latch {
 public:
  void Open() {
    {
      std::lock_guard<std::mutex> l(mu_);
      open_ = true;
    }
    cv_.notify_all();
  }
  bool WaitFor(std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> l(mu_);
    return cv_.wait_for(l, timeout, [&] { return open_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
};

int ThreadsInProcess() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("Threads:", 0) == 0) return std::stoi(line.substr(8));
  }
  return -1;
}

TEST(CallThreadTest, RunsTasksInOrderOneAtATime) {
  CallThread calls;
  std::mutex mu;
  std::vector<int> order;
  std::atomic<int> running{0};
  std::atomic<int> overlaps{0};
  Latch done;
  constexpr int kTasks = 100;
  for (int i = 0; i < kTasks; ++i) {
    calls.Post([&, i] {
      if (running.fetch_add(1) != 0) ++overlaps;
      {
        std::lock_guard<std::mutex> l(mu);
        order.push_back(i);
      }
      running.fetch_sub(1);
      if (i == kTasks - 1) done.Open();
    });
  }
  ASSERT_TRUE(done.WaitFor(10s));
  EXPECT_EQ(overlaps.load(), 0);
  std::lock_guard<std::mutex> l(mu);
  ASSERT_EQ(order.size(), static_cast<size_t>(kTasks));
  for (int i = 0; i < kTasks; ++i) EXPECT_EQ(order[i], i);
}

TEST(CallThreadTest, BusyWhileATaskRunsOrWaitsAndABurstSharesOneThread) {
  CallThread calls;
  EXPECT_FALSE(calls.Busy());
  Latch started, release, second_done;
  std::thread::id first_id, second_id;
  calls.Post([&] {
    first_id = std::this_thread::get_id();
    started.Open();
    release.WaitFor(10s);
  });
  calls.Post([&] {
    second_id = std::this_thread::get_id();
    second_done.Open();
  });
  ASSERT_TRUE(started.WaitFor(10s));
  EXPECT_TRUE(calls.Busy());
  release.Open();
  ASSERT_TRUE(second_done.WaitFor(10s));
  EXPECT_EQ(first_id, second_id);
  EXPECT_NE(first_id, std::this_thread::get_id());
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (calls.Busy() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(1ms);
  }
  EXPECT_FALSE(calls.Busy());
}

TEST(CallThreadTest, ThreadEndsWhenIdleAndTheNextPostStartsAnother) {
  CallThread calls;
  const int before = ThreadsInProcess();
  ASSERT_GT(before, 0);
  for (int round = 0; round < 2; ++round) {
    Latch ran;
    calls.Post([&] { ran.Open(); });
    ASSERT_TRUE(ran.WaitFor(10s)) << "round " << round;
    // Real time, as in CallThread: its thread ends kIdleExit after the last task.
    auto deadline = std::chrono::steady_clock::now() + 10 * CallThread::kIdleExit;
    while (ThreadsInProcess() > before && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(10ms);
    }
    EXPECT_LE(ThreadsInProcess(), before) << "round " << round;
  }
}

TEST(CallThreadTest, ItsLastTaskMayDestroyIt) {
  // As a connection's last call drops the connection, and with it the CallThread, on the
  // CallThread's own thread.
  struct Owner {
    CallThread calls;
    Latch* destroyed;
    ~Owner() { destroyed->Open(); }
  };
  Latch destroyed;
  auto owner = std::make_shared<Owner>();
  owner->destroyed = &destroyed;
  Owner* raw = owner.get();
  raw->calls.Post([owner = std::move(owner)]() mutable { owner.reset(); });
  EXPECT_TRUE(destroyed.WaitFor(10s));
}

}  // namespace
}  // namespace vmk::providers::libvirt_internal
