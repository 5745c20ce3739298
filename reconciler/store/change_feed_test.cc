#include "reconciler/store/change_feed.h"

#include <thread>

#include <gtest/gtest.h>

namespace vmk::reconciler {
namespace {

Change At(int64_t revision, const std::string& name) {
  return Change{revision, Change::Type::kStatus, ObjectRef{specs::Kind::kVirtualMachine, name}};
}

TEST(ChangeFeedTest, ReadersOlderThanTheWindowAreToldToListAgain) {
  ChangeFeed feed(/*capacity=*/3);
  feed.Start(10);
  EXPECT_EQ(feed.Since({9, 10, std::chrono::milliseconds(0)}).status().code(),
            StatusCode::kOutOfRange)
      << "before the store opened";
  for (int64_t r = 11; r <= 15; ++r) feed.Append({At(r, "vm" + std::to_string(r))});
  EXPECT_EQ(feed.revision(), 15);
  auto old = feed.Since({11, 10, std::chrono::milliseconds(0)});
  EXPECT_EQ(old.status().code(), StatusCode::kOutOfRange) << "12 was dropped";
  auto kept = feed.Since({12, 10, std::chrono::milliseconds(0)});
  ASSERT_TRUE(kept.ok()) << kept.status().ToString();
  ASSERT_EQ(kept->changes.size(), 3u);
  EXPECT_EQ(kept->changes.front().revision, 13);
  EXPECT_EQ(kept->revision, 15);
}

TEST(ChangeFeedTest, ABatchIsNeverHalfCompacted) {
  ChangeFeed feed(/*capacity=*/2);
  feed.Start(0);
  feed.Append({At(1, "a"), At(1, "b"), At(1, "c")});  // one batch, one revision
  feed.Append({At(2, "d")});  // now revision 1 must make room: all of it goes
  auto since_start = feed.Since({0, 10, std::chrono::milliseconds(0)});
  EXPECT_EQ(since_start.status().code(), StatusCode::kOutOfRange)
      << "part of revision 1 had to go, so all of it is gone";
  auto after = feed.Since({1, 10, std::chrono::milliseconds(0)});
  ASSERT_TRUE(after.ok());
  ASSERT_EQ(after->changes.size(), 1u);
  EXPECT_EQ(after->changes.front().object.name, "d");
}

TEST(ChangeFeedTest, AWaitEndsWithTheNextAppendNotItsTimeout) {
  ChangeFeed feed;
  feed.Start(0);
  std::thread writer([&] { feed.Append({At(1, "a")}); });
  auto got = feed.Since({0, 10, std::chrono::seconds(30)});
  writer.join();
  ASSERT_TRUE(got.ok());
  ASSERT_EQ(got->changes.size(), 1u);
  EXPECT_EQ(got->changes.front().object.name, "a");
}

// An apply bigger than the window (a whole fleet at once) is kept whole: it is the latest write,
// and its readers have not seen it yet.
TEST(ChangeFeedTest, AWriteBiggerThanTheWindowIsKeptWhole) {
  ChangeFeed feed(/*capacity=*/3);
  feed.Start(0);
  feed.Append({At(1, "old")});
  std::vector<Change> big;
  for (int i = 0; i < 5; ++i) big.push_back(At(2, "vm" + std::to_string(i)));
  feed.Append(big);
  auto got = feed.Since({1, 100, std::chrono::milliseconds(0)});
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->changes.size(), 5u);
  EXPECT_EQ(feed.Since({0, 100, std::chrono::milliseconds(0)}).status().code(),
            StatusCode::kOutOfRange)
      << "the older write made room";
  feed.Append({At(3, "next")});
  EXPECT_EQ(feed.Since({1, 100, std::chrono::milliseconds(0)}).status().code(),
            StatusCode::kOutOfRange)
      << "once it is not the latest, the big write goes whole";
}

// A reader continues after the last revision it got: `limit` never splits a write.
TEST(ChangeFeedTest, TheLimitNeverSplitsAWrite) {
  ChangeFeed feed;
  feed.Start(0);
  feed.Append({At(1, "a"), At(1, "b"), At(1, "c")});
  feed.Append({At(2, "d")});
  auto first = feed.Since({0, 2, std::chrono::milliseconds(0)});
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->changes.size(), 3u) << "all of revision 1";
  EXPECT_EQ(first->revision, 1) << "complete up to revision 1 only";
  auto rest = feed.Since({first->revision, 2, std::chrono::milliseconds(0)});
  ASSERT_TRUE(rest.ok());
  ASSERT_EQ(rest->changes.size(), 1u);
  EXPECT_EQ(rest->changes.front().object.name, "d");
}

Change Applied(int64_t revision, const std::string& name) {
  return Change{revision, Change::Type::kApplied, ObjectRef{specs::Kind::kVirtualMachine, name}};
}

// A reader of desired state gets only applies and deletes, is not woken by status writes, and
// still learns how far the feed went (so it never waits for a revision it will not be given).
TEST(ChangeFeedTest, AnObjectsOnlyReaderSkipsStatusWritesAndSleepsThroughThem) {
  ChangeFeed feed;
  feed.Start(0);
  feed.Append({Applied(1, "a")});
  feed.Append({At(2, "a")});
  feed.Append({At(3, "a")});
  auto got = feed.Since({0, 100, std::chrono::milliseconds(0), /*objects_only=*/true});
  ASSERT_TRUE(got.ok());
  ASSERT_EQ(got->changes.size(), 1u);
  EXPECT_EQ(got->changes.front().revision, 1);
  EXPECT_EQ(got->revision, 3) << "nothing else wanted up to 3";

  // A status write does not end its wait; the next apply does.
  std::thread writer([&] {
    feed.Append({At(4, "a")});
    feed.Append({Applied(5, "b")});
  });
  auto next = feed.Since({3, 100, std::chrono::seconds(30), /*objects_only=*/true});
  writer.join();
  ASSERT_TRUE(next.ok());
  ASSERT_EQ(next->changes.size(), 1u);
  EXPECT_EQ(next->changes.front().object.name, "b");
  EXPECT_EQ(next->revision, 5);
}

}  // namespace
}  // namespace vmk::reconciler
