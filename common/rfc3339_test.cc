#include "common/rfc3339.h"

#include <gtest/gtest.h>

namespace vmk {
namespace {

TEST(Rfc3339Test, RoundTripsAndAcceptsFractionsAndOffsets) {
  WallTime t;
  ASSERT_TRUE(ParseRfc3339("2026-11-27T14:20:54.123Z", &t));
  EXPECT_EQ(FormatRfc3339(t), "2026-11-27T14:20:54.123Z");
  ASSERT_TRUE(ParseRfc3339("2026-11-27T15:20:54.123456789+01:00", &t));
  EXPECT_EQ(FormatRfc3339(t), "2026-11-27T14:20:54.123Z");
  ASSERT_TRUE(ParseRfc3339("2026-11-27T14:20:54Z", &t));
}

TEST(Rfc3339Test, RefusesMalformedInput) {
  WallTime t;
  for (const char* bad : {"", "soon", "2026-11-27", "2026-11-27T14:20:54", "2026-13-01T00:00:00Z",
                          "2026-11-27T25:00:00Z", "2026-11-27T14:20:54+5:00",
                          "2026-11-27T14:20:54+05", "2026-11-27T14:20:54.Z",
                          "2026-11-27T14:20:54Zjunk"}) {
    EXPECT_FALSE(ParseRfc3339(bad, &t)) << bad;
  }
}

TEST(Rfc3339Test, TheShapeIsExactAndEveryFieldInRange) {
  WallTime t;
  for (const char* bad : {"2026-02-29T00:00:00Z", "2026-04-31T00:00:00Z", "2026-00-10T00:00:00Z",
                          "2026-11-27T14:60:00Z", "2026-11-27T14:20:61Z", "2026-11-27 14:20:54Z",
                          "2026-11-27T14:20:54+24:00", "2026-11-27T14:20:54+05:60",
                          "+2026-11-27T14:20:54Z", "2026-1-27T14:20:54Z", " 2026-11-27T14:20:54Z",
                          "2026-11-27T14:20:54.5"}) {
    EXPECT_FALSE(ParseRfc3339(bad, &t)) << bad;
  }
  for (const char* good : {"2024-02-29T00:00:00Z", "2000-02-29T23:59:60Z", "2026-11-27t14:20:54z",
                           "2026-11-27T14:20:54.1234567891234-00:30"}) {
    EXPECT_TRUE(ParseRfc3339(good, &t)) << good;
  }
}

TEST(Rfc3339Test, FarDatesConvertExactly) {
  WallTime t;
  ASSERT_TRUE(ParseRfc3339("1970-01-01T00:00:00Z", &t));
  EXPECT_EQ(t.time_since_epoch().count(), 0);
  ASSERT_TRUE(ParseRfc3339("2263-01-01T00:00:00Z", &t));
  EXPECT_EQ(t, WallTime::max()) << "beyond what WallTime holds";
  // Go's zero time.Time, which Alertmanager sends as endsAt while an alert fires.
  ASSERT_TRUE(ParseRfc3339("0001-01-01T00:00:00Z", &t));
  EXPECT_EQ(t, WallTime::min());
  ASSERT_TRUE(ParseRfc3339("1700-03-01T00:00:00Z", &t));
  EXPECT_EQ(std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count(),
            -8515238400LL);
  ASSERT_TRUE(ParseRfc3339("2026-11-27T14:20:54.250+01:00", &t));
  EXPECT_EQ(FormatRfc3339(t), "2026-11-27T13:20:54.250Z");
}

TEST(SortableMillisTest, FifteenDigitsThatSortAsTheTimesDo) {
  WallTime early, late;
  ASSERT_TRUE(ParseRfc3339("2026-11-27T13:20:54.250Z", &early));
  ASSERT_TRUE(ParseRfc3339("2026-11-27T13:20:54.251Z", &late));
  EXPECT_EQ(SortableMillis(early), "001795785654250");
  EXPECT_LT(SortableMillis(early), SortableMillis(late));
  EXPECT_EQ(SortableMillis(WallTime{}), "000000000000000");
}

}  // namespace
}  // namespace vmk
