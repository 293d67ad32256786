#include "base/time.h"

#include <gtest/gtest.h>

namespace custos {
namespace {

TEST(TimeTest, Rfc3339RoundTrip) {
  Time t = FromUnixSeconds(1795361000);  // 2026-11-22T15:23:20Z
  EXPECT_EQ(FormatRfc3339(t), "2026-11-22T15:23:20Z");
  EXPECT_EQ(*ParseRfc3339("2026-11-22T15:23:20Z"), t);
  EXPECT_EQ(*ParseRfc3339("2026-11-22T16:23:20+01:00"), t);
  EXPECT_EQ(*ParseRfc3339("2026-11-22T15:23:20.123Z"), t);
}

TEST(TimeTest, Rfc3339Rejects) {
  EXPECT_FALSE(ParseRfc3339("2026-11-22").ok());
  EXPECT_FALSE(ParseRfc3339("2026-11-22T15:23:00").ok());
  EXPECT_FALSE(ParseRfc3339("2026-13-22T15:23:00Z").ok());
  EXPECT_FALSE(ParseRfc3339("2026-11-22T15:23:00Zjunk").ok());
}

TEST(DurationTest, ParseAndFormat) {
  EXPECT_EQ(ParseDuration("90")->count(), 90);
  EXPECT_EQ(ParseDuration("90s")->count(), 90);
  EXPECT_EQ(ParseDuration("15m")->count(), 900);
  EXPECT_EQ(ParseDuration("1h30m")->count(), 5400);
  EXPECT_EQ(ParseDuration("365d")->count(), 365 * 86400);
  EXPECT_FALSE(ParseDuration("").ok());
  EXPECT_FALSE(ParseDuration("5y").ok());
  EXPECT_FALSE(ParseDuration("h").ok());
  EXPECT_FALSE(ParseDuration("1h30").ok());
  EXPECT_EQ(FormatDuration(Duration(5400)), "1h30m");
  EXPECT_EQ(FormatDuration(Duration(365 * 86400)), "365d");
  EXPECT_EQ(FormatDuration(Duration(0)), "0s");
}

TEST(FakeClockTest, SetAndAdvance) {
  FakeClock clock(FromUnixSeconds(1000));
  EXPECT_EQ(ToUnixSeconds(clock.Now()), 1000);
  clock.Advance(std::chrono::seconds(60));
  EXPECT_EQ(ToUnixSeconds(clock.Now()), 1060);
  clock.Set(FromUnixSeconds(5));
  EXPECT_EQ(ToUnixSeconds(clock.Now()), 5);
}

}  // namespace
}  // namespace custos
