#include "syncline/core/hlc.h"

#include <gtest/gtest.h>

namespace syncline {
namespace {

TEST(HlcTest, FollowsTheWallClockAndCountsWithinAMillisecond) {
  ManualClock clock(1000);
  Hlc hlc(&clock);
  EXPECT_EQ(hlc.Now(), (HlcTimestamp{1000, 0}));
  EXPECT_EQ(hlc.Now(), (HlcTimestamp{1000, 1}));
  clock.AdvanceMillis(5);
  EXPECT_EQ(hlc.Now(), (HlcTimestamp{1005, 0}));
}

TEST(HlcTest, NeverGoesBackwardsWhenTheWallClockDoes) {
  ManualClock clock(10'000);
  Hlc hlc(&clock);
  HlcTimestamp last = hlc.Now();
  clock.SetWallMillis(5'000);  // an NTP step backwards
  for (int i = 0; i < 100; ++i) {
    HlcTimestamp t = hlc.Now();
    ASSERT_GT(t, last);
    EXPECT_EQ(t.millis, 10'000u);
    last = t;
  }
}

TEST(HlcTest, UpdateMovesPastARemoteTimestamp) {
  ManualClock clock(1000);
  Hlc hlc(&clock);
  auto t = hlc.Update(HlcTimestamp{1500, 7});
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(*t, (HlcTimestamp{1500, 8}));
  EXPECT_GT(hlc.Now(), (HlcTimestamp{1500, 8}));
  auto older = hlc.Update(HlcTimestamp{10, 0});  // an old remote time changes nothing backwards
  ASSERT_TRUE(older.ok());
  EXPECT_GT(*older, (HlcTimestamp{1500, 8}));
}

TEST(HlcTest, RefusesARemoteClockTooFarAhead) {
  ManualClock clock(1000);
  Hlc hlc(&clock, HlcOptions{.max_drift_millis = 100, .drift_policy = DriftPolicy::kRefuse});
  HlcTimestamp before = hlc.Now();
  auto t = hlc.Update(HlcTimestamp{1101, 0});
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(t.status().message().find("101 ms ahead"), std::string::npos) << t.status();
  EXPECT_EQ(hlc.Last(), before);
  EXPECT_EQ(hlc.refused_count(), 1u);
  EXPECT_TRUE(hlc.Update(HlcTimestamp{1100, 0}).ok());  // exactly at the bound is fine
}

TEST(HlcTest, ClampsARemoteClockTooFarAheadWhenAskedTo) {
  ManualClock clock(1000);
  Hlc hlc(&clock, HlcOptions{.max_drift_millis = 100, .drift_policy = DriftPolicy::kClamp});
  auto t = hlc.Update(HlcTimestamp{999'999, 3});
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->millis, 1100u);
  EXPECT_EQ(hlc.clamped_count(), 1u);
}

TEST(HlcTest, RestoreKeepsTimeMonotonicAcrossRestarts) {
  ManualClock clock(1000);
  Hlc hlc(&clock);
  hlc.Restore(HlcTimestamp{5000, 2});
  EXPECT_EQ(hlc.Now(), (HlcTimestamp{5000, 3}));
}

TEST(HlcTest, LogicalCounterSaturationMovesToTheNextMillisecond) {
  ManualClock clock(1000);
  Hlc hlc(&clock);
  hlc.Restore(HlcTimestamp{1000, static_cast<uint32_t>(HlcTimestamp::kMaxLogical)});
  EXPECT_EQ(hlc.Now(), (HlcTimestamp{1001, 0}));
}

TEST(HlcTest, PackedFormOrdersLikeTimestamps) {
  HlcTimestamp a{1'700'000'000'000, 5}, b{1'700'000'000'000, 6}, c{1'700'000'000'001, 0};
  EXPECT_LT(a.Pack(), b.Pack());
  EXPECT_LT(b.Pack(), c.Pack());
  EXPECT_EQ(HlcTimestamp::Unpack(b.Pack()), b);
}

}  // namespace
}  // namespace syncline
