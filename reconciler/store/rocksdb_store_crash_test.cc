// Crash safety of RocksDbStore: a child process applies batches in a loop and is SIGKILLed at a
// seeded moment; the reopened store must hold every batch the child saw committed, and each
// batch entirely or not at all. The child reports each step ("begin i" before CommitApply,
// "committed i", "status i", "event i" after each write returns), so a kill that follows "begin"
// lands inside the synced apply, one that follows "committed" inside the status write, and so on.
//
// The child is this test binary re-executed (fork + exec, never a bare fork: RocksDB's background
// threads and locks of the parent would not survive a fork). A static initializer below notices
// the child's environment variables and runs the child's loop before gtest's main.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "reconciler/store/rocksdb_store.h"

extern char** environ;

namespace vmk::reconciler {
namespace {

using specs::Json;
using specs::Kind;

constexpr char kChildDirEnv[] = "VMK_STORE_CRASH_CHILD_DIR";
constexpr char kChildFdEnv[] = "VMK_STORE_CRASH_CHILD_FD";
constexpr int kObjectsPerBatch = 50;

std::string VmName(int i) { return "vm-" + std::to_string(1000 + i); }
std::string MarkerName(int64_t batch) { return "marker-" + std::to_string(batch); }

// Newest batch whose marker is in the store; 0 if none.
StatusOr<int64_t> LastAppliedBatch(Store& store) {
  VMK_ASSIGN_OR_RETURN(std::vector<specs::Object> hosts, store.List(Kind::kHost));
  int64_t last = 0;
  for (const auto& h : hosts) last = std::max(last, h.metadata.generation);
  return last;
}

bool Report(int fd, const char* step, int64_t batch) {
  const std::string line = std::string(step) + " " + std::to_string(batch) + "\n";
  return write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
}

// The child: batch i puts every vm with generation i, puts marker-i (a Host, another key range)
// and deletes marker-(i-1); then records i in vm's status (synced) and in an event (not synced).
// Continues from whatever an earlier child left.
int RunCrashChild(const char* dir, int report_fd) {
  auto opened = RocksDbStore::Open(dir, RocksDbStoreOptions());
  if (!opened.ok()) return 2;
  RocksDbStore& store = **opened;
  auto last = LastAppliedBatch(store);
  if (!last.ok()) return 3;
  for (int64_t i = *last + 1;; ++i) {
    ApplyBatch batch;
    for (int v = 0; v < kObjectsPerBatch; ++v) {
      specs::Object vm;
      vm.kind = Kind::kVirtualMachine;
      vm.metadata.name = VmName(v);
      vm.metadata.generation = i;
      vm.spec = Json{{"batch", i}, {"cpus", 2}};
      batch.puts.push_back(std::move(vm));
    }
    specs::Object marker;
    marker.kind = Kind::kHost;
    marker.metadata.name = MarkerName(i);
    marker.metadata.generation = i;
    batch.puts.push_back(std::move(marker));
    if (i > 1) batch.deletes.push_back(ObjectRef{Kind::kHost, MarkerName(i - 1)});
    if (!Report(report_fd, "begin", i)) return 7;
    if (!store.CommitApply(batch).ok()) return 4;
    if (!Report(report_fd, "committed", i)) return 7;
    if (!store.PutStatus(Kind::kVirtualMachine, VmName(0), Json{{"batch", i}}, true).ok()) return 5;
    if (!Report(report_fd, "status", i)) return 7;
    Event event;
    event.kind = Kind::kVirtualMachine;
    event.name = VmName(0);
    event.reason = "Applied";
    event.message = std::to_string(i);
    if (!store.AppendEvent(event).ok()) return 6;
    if (!Report(report_fd, "event", i)) return 7;
  }
}

// Runs before main() in the re-executed child only; never returns there.
[[maybe_unused]] const bool kCrashChildHook = [] {
  const char* dir = std::getenv(kChildDirEnv);
  const char* fd = std::getenv(kChildFdEnv);
  if (dir != nullptr && fd != nullptr) _exit(RunCrashChild(dir, std::atoi(fd)));
  return false;
}();

constexpr const char* kSteps[] = {"begin", "committed", "status", "event"};

// The newest batch the child reported for each step, and how many lines it sent.
struct ChildRun {
  int64_t last[4] = {0, 0, 0, 0};  // indexed like kSteps
  int reports = 0;
  int64_t first_begun = 0;
  int64_t committed() const { return last[1]; }
  int64_t status_written() const { return last[2]; }
  int64_t event_written() const { return last[3]; }
};

class RocksDbStoreCrashTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = ::testing::TempDir() + "vmk_store_crash_XXXXXX";
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Starts a child on the database, reads its reports until `kill_after` lines arrived, kills
  // it with SIGKILL, then collects whatever else it had reported before dying.
  void RunChildAndKill(int kill_after, ChildRun* run) {
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    ASSERT_EQ(fcntl(fds[0], F_SETFD, FD_CLOEXEC), 0);
    // Everything the child needs is prepared before fork: after it, only exec.
    const std::string db = path();
    std::vector<std::string> env_storage;
    for (char** e = environ; *e != nullptr; ++e) env_storage.emplace_back(*e);
    env_storage.push_back(std::string(kChildDirEnv) + "=" + db);
    env_storage.push_back(std::string(kChildFdEnv) + "=" + std::to_string(fds[1]));
    std::vector<char*> envp;
    for (auto& e : env_storage) envp.push_back(e.data());
    envp.push_back(nullptr);
    std::string exe = "/proc/self/exe";
    // Should the hook not run, the child only lists tests and exits, and the parent sees EOF.
    std::string arg1 = "--gtest_list_tests";
    char* argv[] = {exe.data(), arg1.data(), nullptr};

    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      execve("/proc/self/exe", argv, envp.data());
      _exit(127);
    }
    close(fds[1]);
    // Whatever way this function returns, the child is dead and reaped.
    struct Reaper {
      pid_t pid;
      bool reaped = false;
      ~Reaper() {
        if (!reaped) {
          kill(pid, SIGKILL);
          waitpid(pid, nullptr, 0);
        }
      }
    } reaper{pid};

    std::string pending;
    bool killed = false;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    char buffer[4096];
    for (;;) {
      if (!killed && run->reports >= kill_after) {
        ASSERT_EQ(kill(pid, SIGKILL), 0);
        killed = true;
      }
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      pollfd pfd{fds[0], POLLIN, 0};
      const int ready = poll(&pfd, 1, static_cast<int>(std::max<int64_t>(left.count(), 0)));
      if (ready == 0) {
        close(fds[0]);
        FAIL() << "child made no progress before the deadline";
      }
      ASSERT_GT(ready, 0) << std::strerror(errno);
      const ssize_t n = read(fds[0], buffer, sizeof(buffer));
      ASSERT_GE(n, 0) << std::strerror(errno);
      if (n == 0) break;  // every copy of the write end is closed: the child is gone
      pending.append(buffer, static_cast<size_t>(n));
      size_t newline;
      while ((newline = pending.find('\n')) != std::string::npos) {
        const std::string line = pending.substr(0, newline);
        pending.erase(0, newline + 1);
        char step[16];
        long long batch = 0;
        ASSERT_EQ(std::sscanf(line.c_str(), "%15s %lld", step, &batch), 2) << line;
        const int index = run->reports % 4;  // the child reports the steps in a fixed cycle
        ASSERT_STREQ(step, kSteps[index]) << line;
        if (run->reports == 0) run->first_begun = batch;
        if (run->reports > 0) {
          ASSERT_EQ(batch, run->last[(index + 3) % 4] + (index == 0 ? 1 : 0)) << line;
        }
        run->last[index] = batch;
        ++run->reports;
      }
    }
    close(fds[0]);
    int wstatus = 0;
    ASSERT_EQ(waitpid(pid, &wstatus, 0), pid);
    reaper.reaped = true;
    ASSERT_TRUE(killed) << "child ended by itself, status " << wstatus;
    ASSERT_TRUE(WIFSIGNALED(wstatus) && WTERMSIG(wstatus) == SIGKILL) << wstatus;
  }

  // What the reopened store must show: one whole batch A, the last one reported committed or the
  // one after it (killed after its apply returned but before the report).
  void CheckStore(const ChildRun& run, int64_t* applied, int64_t* events_seen) {
    auto opened = RocksDbStore::Open(path(), RocksDbStoreOptions());
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    RocksDbStore& store = **opened;

    auto hosts = store.List(Kind::kHost);
    ASSERT_TRUE(hosts.ok());
    ASSERT_EQ(hosts->size(), 1u) << "exactly one marker: its put and its predecessor's delete "
                                    "are one batch";
    const int64_t a = (*hosts)[0].metadata.generation;
    EXPECT_EQ((*hosts)[0].metadata.name, MarkerName(a));
    EXPECT_GE(a, run.committed()) << "a batch reported committed was lost";
    EXPECT_LE(a, run.last[0]) << "a batch the child never began";

    auto vms = store.List(Kind::kVirtualMachine);
    ASSERT_TRUE(vms.ok());
    ASSERT_EQ(vms->size(), static_cast<size_t>(kObjectsPerBatch));
    for (const auto& vm : *vms) {
      EXPECT_EQ(vm.metadata.generation, a) << vm.metadata.name << ": partial batch";
      EXPECT_EQ(vm.spec["batch"], a) << vm.metadata.name;
    }
    // Status i is written after batch i: it records a batch between the last reported status
    // write and A.
    const Json& status = (*vms)[0].status;
    if (status.empty()) {
      EXPECT_EQ(a, 1) << "only the very first batch can lack its status";
      EXPECT_EQ(run.status_written(), 0);
    } else {
      const int64_t status_batch = status.at("batch").get<int64_t>();
      EXPECT_GE(status_batch, run.status_written()) << "a synced status write was lost";
      EXPECT_LE(status_batch, a);
    }
    // Events (unsynced, but a killed process loses nothing the kernel has): seqs contiguous and
    // never reused across restarts, at most one per batch, the newest between the last reported
    // event and A.
    auto events = store.ListEvents(std::nullopt, 0, 100000);
    ASSERT_TRUE(events.ok());
    int64_t previous_batch = 0;
    for (size_t i = 0; i < events->size(); ++i) {
      EXPECT_EQ((*events)[i].seq, static_cast<int64_t>(i) + 1);
      const int64_t batch = std::stoll((*events)[i].message);
      EXPECT_GT(batch, previous_batch);
      previous_batch = batch;
    }
    EXPECT_GE(previous_batch, run.event_written());
    EXPECT_LE(previous_batch, a);
    *applied = a;
    *events_seen = static_cast<int64_t>(events->size());
  }

  std::string path() const { return dir_ + "/db"; }
  std::string dir_;
};

TEST_F(RocksDbStoreCrashTest, SigkillLosesNoCommittedBatchAndLeavesNoPartialOne) {
  std::mt19937 rng(20261127);  // seeded: the same kill points on every run
  // Lines before the kill: 4 per batch, so the kill follows each step type about equally often.
  std::uniform_int_distribution<int> kill_after(1, 60);
  int64_t applied = 0;
  int lost_in_flight = 0;  // kills that fell inside an apply: that batch is absent, not partial
  for (int iteration = 0; iteration < 12; ++iteration) {
    SCOPED_TRACE("iteration " + std::to_string(iteration));
    ChildRun run;
    ASSERT_NO_FATAL_FAILURE(RunChildAndKill(kill_after(rng), &run));
    ASSERT_GE(run.reports, 1);
    EXPECT_EQ(run.first_begun, applied + 1) << "the child resumes after the last applied batch";
    int64_t events = 0;
    ASSERT_NO_FATAL_FAILURE(CheckStore(run, &applied, &events));
    if (applied < run.last[0]) ++lost_in_flight;
    std::printf("[ crash    ] killed after %d lines: began %lld, reported committed %lld, store "
                "holds batch %lld, %lld events\n",
                run.reports, static_cast<long long>(run.last[0]),
                static_cast<long long>(run.committed()), static_cast<long long>(applied),
                static_cast<long long>(events));
  }
  std::printf("[ crash    ] %d of 12 kills fell between a batch's begin and its durable commit\n",
              lost_in_flight);
}

}  // namespace
}  // namespace vmk::reconciler
