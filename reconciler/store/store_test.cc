// Store semantics, run against both implementations (typed tests), then RocksDbStore's own
// durability and error paths. The crash test lives in rocksdb_store_crash_test.cc.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include "tests/fakes/memory_store.h"
#include "reconciler/store/rocksdb_store.h"

namespace vmk::reconciler {
namespace {

using specs::Json;
using specs::Kind;
using ::testing::ElementsAre;

std::string MakeTempDir() {
  std::string pattern = ::testing::TempDir() + "vmk_store_test_XXXXXX";
  char* dir = mkdtemp(pattern.data());
  EXPECT_NE(dir, nullptr) << "mkdtemp failed";
  return pattern;
}

specs::Object MakeObject(Kind kind, const std::string& name, int64_t generation,
                         Json spec = Json{{"cpus", 2}}) {
  specs::Object object;
  object.kind = kind;
  object.metadata.name = name;
  object.metadata.generation = generation;
  object.spec = std::move(spec);
  return object;
}

specs::Object MakeVm(const std::string& name, int64_t generation, Json spec = Json{{"cpus", 2}}) {
  return MakeObject(Kind::kVirtualMachine, name, generation, std::move(spec));
}

Event MakeEvent(Kind kind, const std::string& name, const std::string& reason) {
  Event event;
  event.time = "2026-11-27T14:20:54Z";
  event.kind = kind;
  event.name = name;
  event.type = "Normal";
  event.reason = reason;
  event.message = "message of " + reason;
  return event;
}

std::vector<std::string> Names(const std::vector<specs::Object>& objects) {
  std::vector<std::string> names;
  for (const auto& o : objects) names.push_back(o.metadata.name);
  return names;
}

std::vector<int64_t> Seqs(const std::vector<Event>& events) {
  std::vector<int64_t> seqs;
  for (const auto& e : events) seqs.push_back(e.seq);
  return seqs;
}

struct MemoryStoreMaker {
  static StatusOr<std::unique_ptr<Store>> Make(const std::string& dir, size_t max_events) {
    return std::unique_ptr<Store>(std::make_unique<MemoryStore>(max_events));
  }
};

struct RocksDbStoreMaker {
  static StatusOr<std::unique_ptr<Store>> Make(const std::string& dir, size_t max_events) {
    RocksDbStoreOptions options;
    options.max_events = max_events;
    VMK_ASSIGN_OR_RETURN(std::unique_ptr<RocksDbStore> store,
                         RocksDbStore::Open(dir + "/db", options));
    return std::unique_ptr<Store>(std::move(store));
  }
};

template <typename Maker>
class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir();
    Reopen(10000);
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  // A fresh store (or, for RocksDB, the same database) with another event bound.
  void Reopen(size_t max_events) {
    store_.reset();
    auto store = Maker::Make(dir_, max_events);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).value();
  }
  void Apply(std::vector<specs::Object> puts, std::vector<ObjectRef> deletes = {}) {
    ApplyBatch batch{std::move(puts), std::move(deletes), {}};
    Status s = store_->CommitApply(batch).status();
    ASSERT_TRUE(s.ok()) << s.ToString();
  }
  std::optional<specs::Object> MustGet(Kind kind, const std::string& name) {
    auto got = store_->Get(kind, name);
    EXPECT_TRUE(got.ok()) << got.status().ToString();
    return got.ok() ? *got : std::nullopt;
  }

  std::string dir_;
  std::unique_ptr<Store> store_;
};

using StoreMakers = ::testing::Types<MemoryStoreMaker, RocksDbStoreMaker>;
class StoreMakerNames {
 public:
  template <typename T>
  static std::string GetName(int) {
    return std::is_same_v<T, MemoryStoreMaker> ? "Memory" : "RocksDb";
  }
};
TYPED_TEST_SUITE(StoreTest, StoreMakers, StoreMakerNames);

TYPED_TEST(StoreTest, EmptyStoreHasNothing) {
  EXPECT_EQ(this->MustGet(Kind::kVirtualMachine, "wms01"), std::nullopt);
  auto list = this->store_->List(Kind::kVirtualMachine);
  ASSERT_TRUE(list.ok());
  EXPECT_TRUE(list->empty());
  auto events = this->store_->ListEvents(std::nullopt, 0, 100);
  ASSERT_TRUE(events.ok());
  EXPECT_TRUE(events->empty());
  auto history = this->store_->ListHistory("");
  ASSERT_TRUE(history.ok());
  EXPECT_TRUE(history->empty());
}

TYPED_TEST(StoreTest, PutThenGetRoundTripsMetadataAndSpec) {
  specs::Object vm = MakeVm("wms01", 3, Json{{"cpus", 4}, {"disks", Json::array({"root"})}});
  vm.metadata.labels = {{"service", "wms"}, {"tier", "core"}};
  vm.source.file = "fleet.yaml";  // decoding details, not stored
  vm.field_locations["spec.cpus"] = specs::SourceLocation{"fleet.yaml", 7, 3};
  this->Apply({vm});

  auto got = this->MustGet(Kind::kVirtualMachine, "wms01");
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->kind, Kind::kVirtualMachine);
  EXPECT_EQ(got->metadata.name, "wms01");
  EXPECT_EQ(got->metadata.generation, 3);
  EXPECT_EQ(got->metadata.labels, vm.metadata.labels);
  EXPECT_EQ(got->spec, vm.spec);
  EXPECT_EQ(got->status, Json::object());
  EXPECT_TRUE(got->source.file.empty());
  EXPECT_TRUE(got->field_locations.empty());
  // Same name, other kind: a different object.
  EXPECT_EQ(this->MustGet(Kind::kHost, "wms01"), std::nullopt);
}

TYPED_TEST(StoreTest, ListIsPerKindAndSortedByName) {
  this->Apply({MakeVm("ui01", 1), MakeVm("ce01", 1), MakeVm("se01", 1), MakeVm("bdii01", 1),
               MakeObject(Kind::kHost, "hv02", 1), MakeObject(Kind::kHost, "hv01", 1)});
  auto vms = this->store_->List(Kind::kVirtualMachine);
  ASSERT_TRUE(vms.ok());
  EXPECT_THAT(Names(*vms), ElementsAre("bdii01", "ce01", "se01", "ui01"));
  auto hosts = this->store_->List(Kind::kHost);
  ASSERT_TRUE(hosts.ok());
  EXPECT_THAT(Names(*hosts), ElementsAre("hv01", "hv02"));
  for (const auto& h : *hosts) EXPECT_EQ(h.kind, Kind::kHost);
  auto policies = this->store_->List(Kind::kSnapshotPolicy);
  ASSERT_TRUE(policies.ok());
  EXPECT_TRUE(policies->empty());
  auto vm_names = this->store_->ListNames(Kind::kVirtualMachine);
  ASSERT_TRUE(vm_names.ok());
  EXPECT_THAT(*vm_names, ElementsAre("bdii01", "ce01", "se01", "ui01"));
  auto host_names = this->store_->ListNames(Kind::kHost);
  ASSERT_TRUE(host_names.ok());
  EXPECT_THAT(*host_names, ElementsAre("hv01", "hv02"));
}

TYPED_TEST(StoreTest, ApplyKeepsStatusAndIgnoresStatusOfPuts) {
  this->Apply({MakeVm("wms01", 1)});
  ASSERT_TRUE(this->store_->PutStatus(Kind::kVirtualMachine, "wms01",
                                      Json{{"host", "hv01"}, {"observedGeneration", 1}},
                                      /*sync=*/true).ok());

  specs::Object changed = MakeVm("wms01", 2, Json{{"cpus", 8}});
  changed.status = Json{{"host", "somewhere-else"}};  // an apply never writes status
  this->Apply({changed});

  auto got = this->MustGet(Kind::kVirtualMachine, "wms01");
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->metadata.generation, 2);
  EXPECT_EQ(got->spec, (Json{{"cpus", 8}}));
  EXPECT_EQ(got->status, (Json{{"host", "hv01"}, {"observedGeneration", 1}}));

  auto list = this->store_->List(Kind::kVirtualMachine);
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].status["host"], "hv01");
}

TYPED_TEST(StoreTest, StatusOfAnObjectNeverShowsOnAnother) {
  this->Apply({MakeVm("a", 1), MakeVm("b", 1), MakeObject(Kind::kHost, "a", 1)});
  ASSERT_TRUE(this->store_->PutStatus(Kind::kVirtualMachine, "a", Json{{"x", 1}}, false).ok());
  EXPECT_EQ(this->MustGet(Kind::kVirtualMachine, "b")->status, Json::object());
  EXPECT_EQ(this->MustGet(Kind::kHost, "a")->status, Json::object());
  auto list = this->store_->List(Kind::kVirtualMachine);
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].status, (Json{{"x", 1}}));
  EXPECT_EQ((*list)[1].status, Json::object());
}

TYPED_TEST(StoreTest, DeleteRemovesObjectAndItsStatus) {
  this->Apply({MakeVm("wms01", 1), MakeVm("ce01", 1)});
  ASSERT_TRUE(this->store_->PutStatus(Kind::kVirtualMachine, "wms01", Json{{"host", "hv01"}},
                                      true).ok());
  this->Apply({}, {ObjectRef{Kind::kVirtualMachine, "wms01"}});
  EXPECT_EQ(this->MustGet(Kind::kVirtualMachine, "wms01"), std::nullopt);
  auto list = this->store_->List(Kind::kVirtualMachine);
  ASSERT_TRUE(list.ok());
  EXPECT_THAT(Names(*list), ElementsAre("ce01"));

  // Re-created under the same name: it starts without the old status.
  this->Apply({MakeVm("wms01", 1)});
  auto got = this->MustGet(Kind::kVirtualMachine, "wms01");
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->status, Json::object());
}

TYPED_TEST(StoreTest, DeletingAMissingObjectIsANoOp) {
  this->Apply({}, {ObjectRef{Kind::kHost, "never-existed"}});
  EXPECT_EQ(this->MustGet(Kind::kHost, "never-existed"), std::nullopt);
}

TYPED_TEST(StoreTest, ApplyPutsAndDeletesTogether) {
  this->Apply({MakeVm("old", 1)});
  this->Apply({MakeVm("new", 1), MakeObject(Kind::kHost, "hv01", 1)},
              {ObjectRef{Kind::kVirtualMachine, "old"}});
  auto list = this->store_->List(Kind::kVirtualMachine);
  ASSERT_TRUE(list.ok());
  EXPECT_THAT(Names(*list), ElementsAre("new"));
  EXPECT_TRUE(this->MustGet(Kind::kHost, "hv01").has_value());
}

TYPED_TEST(StoreTest, InvalidBatchWritesNothing) {
  this->Apply({MakeVm("keep", 1)});
  ApplyBatch twice{{MakeVm("fresh", 1), MakeVm("dup", 1), MakeVm("dup", 2)}, {}, {}};
  EXPECT_EQ(this->store_->CommitApply(twice).status().code(), StatusCode::kInvalidArgument);
  ApplyBatch put_and_delete{{MakeVm("fresh", 1), MakeVm("keep", 2)},
                            {ObjectRef{Kind::kVirtualMachine, "keep"}},
                            {}};
  EXPECT_EQ(this->store_->CommitApply(put_and_delete).status().code(), StatusCode::kInvalidArgument);
  ApplyBatch nameless{{MakeVm("fresh", 1), MakeVm("", 1)}, {}, {}};
  EXPECT_EQ(this->store_->CommitApply(nameless).status().code(), StatusCode::kInvalidArgument);
  ApplyBatch bad_utf8{{MakeVm("fresh", 1), MakeVm("bad", 1, Json{{"image", "\xff\xfe"}})},
                      {},
                      {}};
  EXPECT_EQ(this->store_->CommitApply(bad_utf8).status().code(), StatusCode::kInvalidArgument);

  auto list = this->store_->List(Kind::kVirtualMachine);
  ASSERT_TRUE(list.ok());
  EXPECT_THAT(Names(*list), ElementsAre("keep"));
  EXPECT_EQ((*list)[0].metadata.generation, 1);
}

TYPED_TEST(StoreTest, PutStatusOnMissingObjectIsNotFound) {
  Status s = this->store_->PutStatus(Kind::kVirtualMachine, "ghost", Json{{"a", 1}}, true);
  EXPECT_EQ(s.code(), StatusCode::kNotFound) << s.ToString();

  this->Apply({MakeVm("wms01", 1)});
  this->Apply({}, {ObjectRef{Kind::kVirtualMachine, "wms01"}});
  s = this->store_->PutStatus(Kind::kVirtualMachine, "wms01", Json{{"a", 1}}, false);
  EXPECT_EQ(s.code(), StatusCode::kNotFound) << s.ToString();
  // The failed write left nothing behind for a later object of that name.
  this->Apply({MakeVm("wms01", 1)});
  EXPECT_EQ(this->MustGet(Kind::kVirtualMachine, "wms01")->status, Json::object());
}

TYPED_TEST(StoreTest, PutStatusReplacesWholeStatusSyncedOrNot) {
  this->Apply({MakeVm("wms01", 1)});
  ASSERT_TRUE(this->store_->PutStatus(Kind::kVirtualMachine, "wms01",
                                      Json{{"host", "hv01"}, {"restarts", 2}}, true).ok());
  ASSERT_TRUE(this->store_->PutStatus(Kind::kVirtualMachine, "wms01", Json{{"state", "Running"}},
                                      false).ok());
  EXPECT_EQ(this->MustGet(Kind::kVirtualMachine, "wms01")->status,
            (Json{{"state", "Running"}}));
  EXPECT_EQ(this->store_->PutStatus(Kind::kVirtualMachine, "wms01", Json{{"m", "\xc3"}}, true)
                .code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(this->MustGet(Kind::kVirtualMachine, "wms01")->status,
            (Json{{"state", "Running"}}));
}

TYPED_TEST(StoreTest, EventsGetIncreasingSeqsAndRoundTrip) {
  for (int i = 0; i < 5; ++i) {
    Event e = MakeEvent(Kind::kVirtualMachine, "wms01", "Reason" + std::to_string(i));
    e.seq = 999;  // ignored: the store assigns seqs
    auto seq = this->store_->AppendEvent(e);
    ASSERT_TRUE(seq.ok()) << seq.status().ToString();
    EXPECT_EQ(*seq, i + 1);
  }
  auto events = this->store_->ListEvents(std::nullopt, 0, 100);
  ASSERT_TRUE(events.ok());
  EXPECT_THAT(Seqs(*events), ElementsAre(1, 2, 3, 4, 5));
  const Event& third = (*events)[2];
  EXPECT_EQ(third.time, "2026-11-27T14:20:54Z");
  EXPECT_EQ(third.kind, Kind::kVirtualMachine);
  EXPECT_EQ(third.name, "wms01");
  EXPECT_EQ(third.type, "Normal");
  EXPECT_EQ(third.reason, "Reason2");
  EXPECT_EQ(third.message, "message of Reason2");
}

TYPED_TEST(StoreTest, EventsFilterByObject) {
  ASSERT_TRUE(this->store_->AppendEvent(MakeEvent(Kind::kVirtualMachine, "a", "R1")).ok());
  ASSERT_TRUE(this->store_->AppendEvent(MakeEvent(Kind::kHost, "a", "R2")).ok());
  ASSERT_TRUE(this->store_->AppendEvent(MakeEvent(Kind::kVirtualMachine, "b", "R3")).ok());
  ASSERT_TRUE(this->store_->AppendEvent(MakeEvent(Kind::kVirtualMachine, "a", "R4")).ok());

  auto vm_a = this->store_->ListEvents(ObjectRef{Kind::kVirtualMachine, "a"}, 0, 100);
  ASSERT_TRUE(vm_a.ok());
  EXPECT_THAT(Seqs(*vm_a), ElementsAre(1, 4));
  auto host_a = this->store_->ListEvents(ObjectRef{Kind::kHost, "a"}, 0, 100);
  ASSERT_TRUE(host_a.ok());
  EXPECT_THAT(Seqs(*host_a), ElementsAre(2));
  auto none = this->store_->ListEvents(ObjectRef{Kind::kHost, "zzz"}, 0, 100);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  // An empty name does not filter.
  auto all = this->store_->ListEvents(ObjectRef{Kind::kHost, ""}, 0, 100);
  ASSERT_TRUE(all.ok());
  EXPECT_THAT(Seqs(*all), ElementsAre(1, 2, 3, 4));
}

TYPED_TEST(StoreTest, EventsAfterSeqAndLimitKeepTheNewest) {
  for (int i = 0; i < 10; ++i) {
    const std::string name = i % 2 == 0 ? "even" : "odd";
    ASSERT_TRUE(this->store_->AppendEvent(MakeEvent(Kind::kVirtualMachine, name, "R")).ok());
  }
  auto after = this->store_->ListEvents(std::nullopt, 7, 100);
  ASSERT_TRUE(after.ok());
  EXPECT_THAT(Seqs(*after), ElementsAre(8, 9, 10));
  auto newest = this->store_->ListEvents(std::nullopt, 0, 3);
  ASSERT_TRUE(newest.ok());
  EXPECT_THAT(Seqs(*newest), ElementsAre(8, 9, 10));
  auto odd_newest = this->store_->ListEvents(ObjectRef{Kind::kVirtualMachine, "odd"}, 2, 2);
  ASSERT_TRUE(odd_newest.ok());
  EXPECT_THAT(Seqs(*odd_newest), ElementsAre(8, 10));
  auto odd_after = this->store_->ListEvents(ObjectRef{Kind::kVirtualMachine, "odd"}, 5, 100);
  ASSERT_TRUE(odd_after.ok());
  EXPECT_THAT(Seqs(*odd_after), ElementsAre(6, 8, 10));
  auto zero = this->store_->ListEvents(std::nullopt, 0, 0);
  ASSERT_TRUE(zero.ok());
  EXPECT_TRUE(zero->empty());
  auto past_end = this->store_->ListEvents(std::nullopt, 10, 100);
  ASSERT_TRUE(past_end.ok());
  EXPECT_TRUE(past_end->empty());
}

TYPED_TEST(StoreTest, EventsAreTrimmedToTheBound) {
  this->Reopen(5);
  for (int i = 1; i <= 12; ++i) {
    auto seq = this->store_->AppendEvent(MakeEvent(Kind::kHost, "hv01", "R"));
    ASSERT_TRUE(seq.ok());
    EXPECT_EQ(*seq, i);
    auto events = this->store_->ListEvents(std::nullopt, 0, 100);
    ASSERT_TRUE(events.ok());
    EXPECT_EQ(events->size(), std::min<size_t>(i, 5));
  }
  auto events = this->store_->ListEvents(std::nullopt, 0, 100);
  ASSERT_TRUE(events.ok());
  EXPECT_THAT(Seqs(*events), ElementsAre(8, 9, 10, 11, 12));
}

TYPED_TEST(StoreTest, HistoryListsByPrefixInKeyOrder) {
  ASSERT_TRUE(this->store_->PutHistory("incident/wms01/0002", Json{{"n", 2}}, true).ok());
  ASSERT_TRUE(this->store_->PutHistory("incident/wms01/0001", Json{{"n", 1}}, true).ok());
  ASSERT_TRUE(this->store_->PutHistory("incident/wms010/0001", Json{{"n", 10}}, true).ok());
  ASSERT_TRUE(this->store_->PutHistory("incident/ce01/0001", Json{{"n", 3}}, true).ok());
  ASSERT_TRUE(this->store_->PutHistory("intent/wms01", Json{{"step", "fence"}}, true).ok());

  auto wms = this->store_->ListHistory("incident/wms01/");
  ASSERT_TRUE(wms.ok());
  ASSERT_EQ(wms->size(), 2u);
  EXPECT_EQ((*wms)[0].first, "incident/wms01/0001");
  EXPECT_EQ((*wms)[0].second, (Json{{"n", 1}}));
  EXPECT_EQ((*wms)[1].first, "incident/wms01/0002");

  auto incidents = this->store_->ListHistory("incident/");
  ASSERT_TRUE(incidents.ok());
  ASSERT_EQ(incidents->size(), 4u);
  EXPECT_EQ((*incidents)[0].first, "incident/ce01/0001");
  EXPECT_EQ((*incidents)[3].first, "incident/wms010/0001");

  auto all = this->store_->ListHistory("");
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 5u);

  // A key written again is replaced (the caller decides what is append-only).
  ASSERT_TRUE(this->store_->PutHistory("intent/wms01", Json{{"step", "start"}}, true).ok());
  auto intent = this->store_->ListHistory("intent/");
  ASSERT_TRUE(intent.ok());
  ASSERT_EQ(intent->size(), 1u);
  EXPECT_EQ((*intent)[0].second, (Json{{"step", "start"}}));

  EXPECT_EQ(this->store_->PutHistory("", Json{}, true).code(), StatusCode::kInvalidArgument);
  auto none = this->store_->ListHistory("nothing/");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

// Lets status writers run freely, and lets the applier stop them and wait until none is inside
// a PutStatus (writer-preferring, unlike std::shared_mutex on glibc).
class WriterGate {
 public:
  bool Enter() {
    std::unique_lock<std::mutex> lock(mutex_);
    cv_.wait(lock, [&] { return !closed_ || stopped_; });
    if (stopped_) return false;
    ++inside_;
    return true;
  }
  void Exit(bool wrote) {
    std::lock_guard<std::mutex> lock(mutex_);
    --inside_;
    if (wrote) ++writes_;
    cv_.notify_all();
  }
  void Close() {
    std::unique_lock<std::mutex> lock(mutex_);
    closed_ = true;
    cv_.wait(lock, [&] { return inside_ == 0; });
  }
  void Open() {
    std::lock_guard<std::mutex> lock(mutex_);
    closed_ = false;
    cv_.notify_all();
  }
  // Waits until writers have done `n` more successful writes than now, so deletes race them.
  bool WaitForWrites(int n) {
    std::unique_lock<std::mutex> lock(mutex_);
    const int64_t target = writes_ + n;
    return cv_.wait_for(lock, std::chrono::seconds(30), [&] { return writes_ >= target; });
  }
  void Stop() {
    std::lock_guard<std::mutex> lock(mutex_);
    stopped_ = true;
    cv_.notify_all();
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool closed_ = false;
  bool stopped_ = false;
  int inside_ = 0;
  int64_t writes_ = 0;
};

// A status written between an object's delete and its re-creation would be an orphan that
// shows up on the new object. Writers hammer PutStatus while the applier deletes; after each
// delete the applier stops the writers, re-creates the objects and checks they have no status.
TYPED_TEST(StoreTest, ConcurrentStatusWritesAndAppliesDoNotCorrupt) {
  constexpr int kObjects = 4;
  constexpr int kRounds = 60;
  constexpr int kWriters = 3;
  std::vector<specs::Object> puts;
  std::vector<ObjectRef> deletes;
  for (int i = 0; i < kObjects; ++i) {
    puts.push_back(MakeVm("vm" + std::to_string(i), 1));
    deletes.push_back(ObjectRef{Kind::kVirtualMachine, "vm" + std::to_string(i)});
  }
  this->Apply(puts);

  WriterGate gate;
  std::atomic<int> unexpected{0};
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      for (int64_t n = 0; gate.Enter(); ++n) {
        const std::string name = "vm" + std::to_string((n + w) % kObjects);
        Status s = this->store_->PutStatus(Kind::kVirtualMachine, name,
                                           Json{{"writer", w}, {"n", n}}, /*sync=*/n % 4 == 0);
        if (!s.ok() && s.code() != StatusCode::kNotFound) ++unexpected;
        gate.Exit(s.ok());
      }
    });
  }
  std::thread reader;
  // Whatever way this test ends, writers are released and every thread is joined.
  struct Joiner {
    WriterGate& gate;
    std::vector<std::thread>& writers;
    std::thread& reader;
    ~Joiner() {
      gate.Stop();
      for (auto& t : writers) t.join();
      if (reader.joinable()) reader.join();
    }
  } joiner{gate, writers, reader};
  reader = std::thread([&] {
    // Batches are atomic: a list sees all objects or none, all of one generation.
    for (int i = 0; i < 200; ++i) {
      auto list = this->store_->List(Kind::kVirtualMachine);
      if (!list.ok()) { ++unexpected; continue; }
      if (!list->empty() && list->size() != kObjects) ++unexpected;
      for (const auto& o : *list) {
        if (o.metadata.generation != (*list)[0].metadata.generation) ++unexpected;
      }
    }
  });

  for (int round = 2; round < kRounds + 2; ++round) {
    ASSERT_TRUE(gate.WaitForWrites(kWriters)) << "writers made no progress";
    ASSERT_TRUE(this->store_->CommitApply(ApplyBatch{{}, deletes, {}}).ok());
    gate.Close();
    for (auto& p : puts) p.metadata.generation = round;
    ASSERT_TRUE(this->store_->CommitApply(ApplyBatch{puts, {}, {}}).ok());
    auto list = this->store_->List(Kind::kVirtualMachine);
    ASSERT_TRUE(list.ok());
    ASSERT_EQ(list->size(), static_cast<size_t>(kObjects));
    for (const auto& o : *list) {
      EXPECT_EQ(o.status, Json::object()) << o.metadata.name << " round " << round;
      EXPECT_EQ(o.metadata.generation, round);
    }
    gate.Open();
  }
  gate.Stop();
  for (auto& t : writers) t.join();
  writers.clear();
  reader.join();
  EXPECT_EQ(unexpected.load(), 0);
}

TYPED_TEST(StoreTest, ConcurrentEventsGetUniqueContiguousSeqs) {
  constexpr int kThreads = 4;
  constexpr int kPerThread = 100;
  std::vector<std::vector<int64_t>> seqs(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        auto seq = this->store_->AppendEvent(
            MakeEvent(Kind::kVirtualMachine, "t" + std::to_string(t), "R"));
        seqs[t].push_back(seq.ok() ? *seq : -1);
      }
    });
  }
  for (auto& t : threads) t.join();
  std::vector<int64_t> all;
  for (const auto& s : seqs) {
    EXPECT_TRUE(std::is_sorted(s.begin(), s.end()));  // increasing within a thread
    all.insert(all.end(), s.begin(), s.end());
  }
  std::sort(all.begin(), all.end());
  std::vector<int64_t> expected(kThreads * kPerThread);
  for (size_t i = 0; i < expected.size(); ++i) expected[i] = static_cast<int64_t>(i) + 1;
  EXPECT_EQ(all, expected);
  auto listed = this->store_->ListEvents(std::nullopt, 0, 10000);
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(Seqs(*listed), expected);
  auto one = this->store_->ListEvents(ObjectRef{Kind::kVirtualMachine, "t2"}, 0, 10000);
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(Seqs(*one), seqs[2]);
}

// ---- Revisions, conditional writes, change feed --------------------------------------------

std::vector<std::string> Describe(const std::vector<Change>& changes) {
  std::vector<std::string> out;
  for (const auto& c : changes) {
    out.push_back(std::to_string(c.revision) + " " + ChangeTypeName(c.type) + " " +
                  c.object.ToString());
  }
  return out;
}

TYPED_TEST(StoreTest, EveryChangeTakesTheNextRevision) {
  EXPECT_EQ(this->store_->Revision(), 0);
  auto r1 = this->store_->CommitApply({{MakeVm("a", 1), MakeVm("b", 1)}, {}, {}});
  ASSERT_TRUE(r1.ok()) << r1.status().ToString();
  EXPECT_EQ(*r1, 1) << "one batch, one revision";
  auto s2 = this->store_->PutStatusIf({Kind::kVirtualMachine, "a", Json{{"host", "hv01"}}, false,
                                       std::nullopt});
  ASSERT_TRUE(s2.ok());
  EXPECT_EQ(*s2, 2);
  auto r3 = this->store_->CommitApply({{MakeVm("a", 2)}, {}, {}});
  ASSERT_TRUE(r3.ok());
  EXPECT_EQ(*r3, 3);
  auto a = this->MustGet(Kind::kVirtualMachine, "a");
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->revision, 3);
  EXPECT_EQ(a->status_revision, 2) << "an apply leaves the status and its revision alone";
  auto b = this->MustGet(Kind::kVirtualMachine, "b");
  EXPECT_EQ(b->revision, 1);
  EXPECT_EQ(b->status_revision, 0) << "no status yet";
  auto listed = this->store_->List(Kind::kVirtualMachine);
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 2u);
  EXPECT_EQ((*listed)[0].revision, 3);
  EXPECT_EQ((*listed)[0].status_revision, 2);
  EXPECT_EQ(this->store_->Revision(), 3);
  // Deleting what is not there changes nothing and takes no revision.
  auto none = this->store_->CommitApply({{}, {ObjectRef{Kind::kHost, "ghost"}}, {}});
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(*none, 3);
  EXPECT_EQ(this->store_->Revision(), 3);
}

TYPED_TEST(StoreTest, AnApplyConditionedOnStaleRevisionsChangesNothing) {
  this->Apply({MakeVm("a", 1)});
  const int64_t read = this->MustGet(Kind::kVirtualMachine, "a")->revision;
  this->Apply({MakeVm("a", 2)});  // another writer
  ApplyBatch stale{{MakeVm("a", 3), MakeVm("new", 1)}, {}, {}};
  stale.expected_revisions[{Kind::kVirtualMachine, "a"}] = read;
  auto r = this->store_->CommitApply(stale);
  EXPECT_EQ(r.status().code(), StatusCode::kAborted);
  EXPECT_THAT(r.status().message(), ::testing::HasSubstr("VirtualMachine/a changed meanwhile"));
  EXPECT_EQ(this->MustGet(Kind::kVirtualMachine, "a")->metadata.generation, 2);
  EXPECT_FALSE(this->MustGet(Kind::kVirtualMachine, "new").has_value()) << "all or nothing";

  // 0 = must not exist.
  ApplyBatch create{{MakeVm("a", 9)}, {}, {{{Kind::kVirtualMachine, "a"}, 0}}};
  EXPECT_EQ(this->store_->CommitApply(create).status().code(), StatusCode::kAborted);
  ApplyBatch fresh{{MakeVm("fresh", 1)}, {}, {{{Kind::kVirtualMachine, "fresh"}, 0}}};
  EXPECT_TRUE(this->store_->CommitApply(fresh).ok());
  // A delete conditioned on what was read.
  ApplyBatch del{{}, {{Kind::kVirtualMachine, "a"}}, {{{Kind::kVirtualMachine, "a"}, read}}};
  EXPECT_EQ(this->store_->CommitApply(del).status().code(), StatusCode::kAborted);
  del.expected_revisions[{Kind::kVirtualMachine, "a"}] =
      this->MustGet(Kind::kVirtualMachine, "a")->revision;
  EXPECT_TRUE(this->store_->CommitApply(del).ok());
  EXPECT_FALSE(this->MustGet(Kind::kVirtualMachine, "a").has_value());
}

TYPED_TEST(StoreTest, AStatusWriteConditionedOnAStaleStatusRevisionChangesNothing) {
  this->Apply({MakeVm("a", 1)});
  const StatusWrite first{Kind::kVirtualMachine, "a", Json{{"host", "hv01"}}, false, 0};
  auto written = this->store_->PutStatusIf(first);
  ASSERT_TRUE(written.ok()) << written.status().ToString();
  // A second writer that also read "no status" loses.
  StatusWrite second{Kind::kVirtualMachine, "a", Json{{"host", "hv02"}}, false, 0};
  EXPECT_EQ(this->store_->PutStatusIf(second).status().code(), StatusCode::kAborted);
  EXPECT_EQ(this->MustGet(Kind::kVirtualMachine, "a")->status, (Json{{"host", "hv01"}}));
  second.expected_status_revision = *written;
  EXPECT_TRUE(this->store_->PutStatusIf(second).ok());

  // The object deleted and created again: a writer that read the old incarnation's status
  // must not write it onto the new one.
  const int64_t old_status = this->MustGet(Kind::kVirtualMachine, "a")->status_revision;
  this->Apply({}, {ObjectRef{Kind::kVirtualMachine, "a"}});
  this->Apply({MakeVm("a", 1)});
  StatusWrite late{Kind::kVirtualMachine, "a", Json{{"host", "hv02"}}, true, old_status};
  EXPECT_EQ(this->store_->PutStatusIf(late).status().code(), StatusCode::kAborted);
  EXPECT_EQ(this->MustGet(Kind::kVirtualMachine, "a")->status, Json::object());
  // And a write about a deleted object is NotFound, condition or not.
  this->Apply({}, {ObjectRef{Kind::kVirtualMachine, "a"}});
  EXPECT_EQ(this->store_->PutStatusIf(late).status().code(), StatusCode::kNotFound);
}

TYPED_TEST(StoreTest, TheChangeFeedListsEveryChangeInOrder) {
  this->Apply({MakeVm("a", 1), MakeObject(Kind::kHost, "hv01", 1)});
  ASSERT_TRUE(this->store_->PutStatus(Kind::kVirtualMachine, "a", Json{{"x", 1}}, false).ok());
  ASSERT_TRUE(this->store_->AppendEvent(MakeEvent(Kind::kHost, "hv01", "Seen")).ok());
  ASSERT_TRUE(this->store_->PutHistory("incident/x", Json{{"y", 1}}, false).ok());
  this->Apply({}, {ObjectRef{Kind::kVirtualMachine, "a"}});
  auto all = this->store_->Changes({0, 100, std::chrono::milliseconds(0)});
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  EXPECT_EQ(all->revision, 3);
  EXPECT_THAT(Describe(all->changes), ElementsAre("1 applied VirtualMachine/a", "1 applied Host/hv01",
                                          "2 status VirtualMachine/a",
                                          "3 deleted VirtualMachine/a"))
      << "in batch order; events and history take no revision";
  auto after = this->store_->Changes({1, 1, std::chrono::milliseconds(0)});
  ASSERT_TRUE(after.ok());
  EXPECT_THAT(Describe(after->changes), ElementsAre("2 status VirtualMachine/a"))
      << "at most `limit`";
  EXPECT_EQ(after->revision, 2);
  auto objects = this->store_->Changes({0, 100, std::chrono::milliseconds(0), true});
  ASSERT_TRUE(objects.ok());
  EXPECT_THAT(Describe(objects->changes),
              ElementsAre("1 applied VirtualMachine/a", "1 applied Host/hv01",
                          "3 deleted VirtualMachine/a"));
  auto none = this->store_->Changes({3, 100, std::chrono::milliseconds(0)});
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->changes.empty());
}

TYPED_TEST(StoreTest, AWaitingReaderGetsTheNextChangeAsSoonAsItIsWritten) {
  this->Apply({MakeVm("a", 1)});
  const int64_t now = this->store_->Revision();
  std::thread writer([&] {
    ASSERT_TRUE(this->store_->PutStatus(Kind::kVirtualMachine, "a", Json{{"x", 1}}, true).ok());
  });
  // A generous wait that returns early: the writer's change ends it.
  auto changes = this->store_->Changes({now, 10, std::chrono::seconds(30)});
  writer.join();
  ASSERT_TRUE(changes.ok());
  EXPECT_THAT(Describe(changes->changes),
              ElementsAre(std::to_string(now + 1) + " status VirtualMachine/a"));
}

// ---- RocksDbStore only ---------------------------------------------------------------------

class RocksDbStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = MakeTempDir(); }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::unique_ptr<RocksDbStore> MustOpen(size_t max_events = 10000) {
    RocksDbStoreOptions options;
    options.max_events = max_events;
    auto store = RocksDbStore::Open(path(), options);
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    return store.ok() ? std::move(store).value() : nullptr;
  }
  std::string path() const { return dir_ + "/db"; }

  std::string dir_;
};

TEST_F(RocksDbStoreTest, ReopenSeesEverything) {
  {
    auto store = MustOpen();
    ASSERT_NE(store, nullptr);
    specs::Object vm = MakeVm("wms01", 4, Json{{"cpus", 2}});
    vm.metadata.labels = {{"service", "wms"}};
    ASSERT_TRUE(store->CommitApply({{vm, MakeVm("gone", 1), MakeObject(Kind::kHost, "hv01", 1)},
                                    {},
                                    {}}).ok());
    ASSERT_TRUE(store->PutStatus(Kind::kVirtualMachine, "wms01", Json{{"host", "hv01"}}, true)
                    .ok());
    ASSERT_TRUE(store->PutStatus(Kind::kHost, "hv01", Json{{"ready", true}}, false).ok());
    ASSERT_TRUE(store->CommitApply({{}, {ObjectRef{Kind::kVirtualMachine, "gone"}}, {}}).ok());
    for (int i = 0; i < 3; ++i) {
      ASSERT_TRUE(store->AppendEvent(MakeEvent(Kind::kVirtualMachine, "wms01", "Started")).ok());
    }
    ASSERT_TRUE(store->PutHistory("incident/wms01/1", Json{{"occurred", "t0"}}, true).ok());
  }
  auto store = MustOpen();
  ASSERT_NE(store, nullptr);
  auto vm = store->Get(Kind::kVirtualMachine, "wms01");
  ASSERT_TRUE(vm.ok());
  ASSERT_TRUE(vm->has_value());
  EXPECT_EQ((*vm)->metadata.generation, 4);
  EXPECT_EQ((*vm)->metadata.labels.at("service"), "wms");
  EXPECT_EQ((*vm)->spec, (Json{{"cpus", 2}}));
  EXPECT_EQ((*vm)->status, (Json{{"host", "hv01"}}));
  auto host = store->Get(Kind::kHost, "hv01");
  ASSERT_TRUE(host.ok() && host->has_value());
  EXPECT_EQ((*host)->status, (Json{{"ready", true}}));
  auto gone = store->Get(Kind::kVirtualMachine, "gone");
  ASSERT_TRUE(gone.ok());
  EXPECT_FALSE(gone->has_value());
  auto history = store->ListHistory("incident/");
  ASSERT_TRUE(history.ok());
  ASSERT_EQ(history->size(), 1u);
  EXPECT_EQ((*history)[0].second, (Json{{"occurred", "t0"}}));
  // The event counter survives: seqs are never reused.
  auto seq = store->AppendEvent(MakeEvent(Kind::kVirtualMachine, "wms01", "Stopped"));
  ASSERT_TRUE(seq.ok());
  EXPECT_EQ(*seq, 4);
  auto events = store->ListEvents(std::nullopt, 0, 100);
  ASSERT_TRUE(events.ok());
  EXPECT_THAT(Seqs(*events), ElementsAre(1, 2, 3, 4));
}

TEST_F(RocksDbStoreTest, TrimContinuesAfterReopenAndHonoursASmallerBound) {
  {
    auto store = MustOpen(3);
    ASSERT_NE(store, nullptr);
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(store->AppendEvent(MakeEvent(Kind::kHost, "h", "R")).ok());
  }
  {
    auto store = MustOpen(3);
    ASSERT_NE(store, nullptr);
    auto seq = store->AppendEvent(MakeEvent(Kind::kHost, "h", "R"));
    ASSERT_TRUE(seq.ok());
    EXPECT_EQ(*seq, 6);
    auto events = store->ListEvents(std::nullopt, 0, 100);
    ASSERT_TRUE(events.ok());
    EXPECT_THAT(Seqs(*events), ElementsAre(4, 5, 6));
  }
  auto store = MustOpen(1);
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->AppendEvent(MakeEvent(Kind::kHost, "h", "R")).ok());
  auto events = store->ListEvents(std::nullopt, 0, 100);
  ASSERT_TRUE(events.ok());
  EXPECT_THAT(Seqs(*events), ElementsAre(7));
}

TEST_F(RocksDbStoreTest, TheRevisionContinuesAfterReopenAndOlderChangesAreGone) {
  {
    auto store = MustOpen();
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(store->CommitApply({{MakeVm("a", 1)}, {}, {}}).ok());
    ASSERT_TRUE(store->PutStatus(Kind::kVirtualMachine, "a", Json{{"x", 1}}, true).ok());
    EXPECT_EQ(store->Revision(), 2);
  }
  auto store = MustOpen();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->Revision(), 2);
  auto a = store->Get(Kind::kVirtualMachine, "a");
  ASSERT_TRUE(a.ok() && a->has_value());
  EXPECT_EQ((*a)->revision, 1);
  EXPECT_EQ((*a)->status_revision, 2);
  EXPECT_EQ(store->Changes({0, 10, std::chrono::milliseconds(0)}).status().code(),
            StatusCode::kOutOfRange)
      << "the feed of a reopened store starts at its revision: older watchers list again";
  auto applied = store->CommitApply({{MakeVm("b", 1)}, {}, {}});
  ASSERT_TRUE(applied.ok());
  EXPECT_EQ(*applied, 3);
  auto changes = store->Changes({2, 10, std::chrono::milliseconds(0)});
  ASSERT_TRUE(changes.ok());
  EXPECT_THAT(Describe(changes->changes), ElementsAre("3 applied VirtualMachine/b"));
}

// A store written before revisions existed: plain JSON records. Opening it gives every record
// revision 1, so that conditional writes never mistake an existing record for a missing one.
TEST_F(RocksDbStoreTest, RecordsWrittenBeforeRevisionsAreMigratedAtOpen) {
  {
    rocksdb::Options options;
    options.create_if_missing = true;
    rocksdb::DB* raw = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(options, path(), &raw).ok());
    std::unique_ptr<rocksdb::DB> db(raw);
    const std::string object =
        specs::ObjectToJson(MakeVm("old", 4), /*include_status=*/false).dump();
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), "o/VirtualMachine/old", object).ok());
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), "s/VirtualMachine/old", R"({"host":"hv01"})").ok());
    ASSERT_TRUE(db->Close().ok());
  }
  auto store = MustOpen();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->Revision(), 1);
  auto old = store->Get(Kind::kVirtualMachine, "old");
  ASSERT_TRUE(old.ok() && old->has_value()) << old.status().ToString();
  EXPECT_EQ((*old)->metadata.generation, 4);
  EXPECT_EQ((*old)->revision, 1);
  EXPECT_EQ((*old)->status_revision, 1);
  EXPECT_EQ((*old)->status, (Json{{"host", "hv01"}}));
  ApplyBatch as_new{{MakeVm("old", 5)}, {}, {{{Kind::kVirtualMachine, "old"}, 0}}};
  EXPECT_EQ(store->CommitApply(as_new).status().code(), StatusCode::kAborted);
  ApplyBatch as_read{{MakeVm("old", 5)}, {}, {{{Kind::kVirtualMachine, "old"}, 1}}};
  EXPECT_TRUE(store->CommitApply(as_read).ok());
}

TEST_F(RocksDbStoreTest, SecondOpenOfTheSameDatabaseIsUnavailable) {
  auto first = MustOpen();
  ASSERT_NE(first, nullptr);
  auto second = RocksDbStore::Open(path(), RocksDbStoreOptions());
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), StatusCode::kUnavailable) << second.status().ToString();
}

TEST_F(RocksDbStoreTest, BadOptionsAndPathsAreErrors) {
  RocksDbStoreOptions no_events;
  no_events.max_events = 0;
  EXPECT_EQ(RocksDbStore::Open(path(), no_events).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(RocksDbStore::Open("", RocksDbStoreOptions()).status().code(),
            StatusCode::kInvalidArgument);
  const std::string file = dir_ + "/plain-file";
  std::FILE* f = std::fopen(file.c_str(), "w");
  ASSERT_NE(f, nullptr);
  std::fclose(f);
  EXPECT_FALSE(RocksDbStore::Open(file, RocksDbStoreOptions()).ok());
}

TEST_F(RocksDbStoreTest, CorruptRecordsAreInternalErrors) {
  {
    rocksdb::Options options;
    options.create_if_missing = true;
    rocksdb::DB* raw = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(options, path(), &raw).ok());
    std::unique_ptr<rocksdb::DB> db(raw);
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), "o/VirtualMachine/bad", "{not json").ok());
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), "o/Host/nokind", R"({"metadata":{}})").ok());
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), "e/00000000000000000001", "[]").ok());
    ASSERT_TRUE(db->Close().ok());
  }
  auto store = MustOpen();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->Get(Kind::kVirtualMachine, "bad").status().code(), StatusCode::kInternal);
  EXPECT_EQ(store->List(Kind::kVirtualMachine).status().code(), StatusCode::kInternal);
  EXPECT_EQ(store->Get(Kind::kHost, "nokind").status().code(), StatusCode::kInternal);
  EXPECT_EQ(store->ListEvents(std::nullopt, 0, 10).status().code(), StatusCode::kInternal);
  // The counter was recovered from the event key even without m/event_seq.
  auto seq = store->AppendEvent(MakeEvent(Kind::kHost, "h", "R"));
  ASSERT_TRUE(seq.ok());
  EXPECT_EQ(*seq, 2);
}

// Not a pass/fail test: prints what a synced apply costs on this machine's disk.
TEST_F(RocksDbStoreTest, ReportsSyncedCommitApplyCost) {
  auto store = MustOpen();
  ASSERT_NE(store, nullptr);
  auto measure = [&](int objects, int iterations) {
    std::vector<specs::Object> puts;
    for (int i = 0; i < objects; ++i) {
      puts.push_back(MakeVm("vm" + std::to_string(i), 1,
                            Json{{"cpus", 2}, {"memoryMiB", 4096},
                                 {"disks", Json::array({Json{{"name", "root"},
                                                             {"image", "/images/x.qcow2"}}})}}));
    }
    const auto start = std::chrono::steady_clock::now();
    for (int it = 0; it < iterations; ++it) {
      for (auto& p : puts) p.metadata.generation = it + 1;
      EXPECT_TRUE(store->CommitApply(ApplyBatch{puts, {}, {}}).ok());
    }
    const std::chrono::duration<double, std::milli> elapsed =
        std::chrono::steady_clock::now() - start;
    return elapsed.count() / iterations;
  };
  const double one = measure(1, 200);
  const double hundred = measure(100, 50);
  std::printf("[ cost     ] synced CommitApply: 1 object %.3f ms, 100 objects %.3f ms\n", one,
              hundred);
  RecordProperty("commit_apply_1_object_ms", std::to_string(one));
  RecordProperty("commit_apply_100_objects_ms", std::to_string(hundred));
  auto list = store->List(Kind::kVirtualMachine);
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->size(), 100u);
}

}  // namespace
}  // namespace vmk::reconciler
