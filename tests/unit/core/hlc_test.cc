#include "syncline/core/hlc.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "support/seed.h"

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

TEST(HlcTest, RefusalLeavesEverythingButTheRefusedCountAlone) {
  ManualClock clock(1000);
  Hlc hlc(&clock, HlcOptions{.max_drift_millis = 10, .drift_policy = DriftPolicy::kRefuse});
  HlcTimestamp before = hlc.Now();
  for (int i = 0; i < 3; ++i) EXPECT_FALSE(hlc.Update(HlcTimestamp{5000, 0}).ok());
  EXPECT_EQ(hlc.refused_count(), 3u);
  EXPECT_EQ(hlc.clamped_count(), 0u);
  EXPECT_EQ(hlc.Last(), before);
  EXPECT_EQ(hlc.Now(), (HlcTimestamp{1000, 1}));  // the refused time left no trace
}

TEST(HlcTest, ClampedUpdatesStayWithinTheBoundAndMonotonic) {
  ManualClock clock(1000);
  Hlc hlc(&clock, HlcOptions{.max_drift_millis = 100, .drift_policy = DriftPolicy::kClamp});
  auto first = hlc.Update(HlcTimestamp{50'000, 9});
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(*first, (HlcTimestamp{1100, 1}));  // clamped to {now + drift, 0}, then one event past it
  auto second = hlc.Update(HlcTimestamp{60'000, 0});
  ASSERT_TRUE(second.ok());
  EXPECT_GT(*second, *first);
  EXPECT_EQ(second->millis, 1100u);
  EXPECT_EQ(hlc.clamped_count(), 2u);
  EXPECT_EQ(hlc.refused_count(), 0u);
  // A remote time within the bound is not clamped.
  ASSERT_TRUE(hlc.Update(HlcTimestamp{1050, 0}).ok());
  EXPECT_EQ(hlc.clamped_count(), 2u);
}

TEST(HlcTest, UpdateWithTheSameMillisecondTakesTheHigherLogical) {
  ManualClock clock(2000);
  Hlc hlc(&clock);
  EXPECT_EQ(hlc.Now(), (HlcTimestamp{2000, 0}));
  auto t = hlc.Update(HlcTimestamp{2000, 40});
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(*t, (HlcTimestamp{2000, 41}));
  auto u = hlc.Update(HlcTimestamp{2000, 3});  // behind us: just the next event
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(*u, (HlcTimestamp{2000, 42}));
}

TEST(HlcTest, RestoreNeverMovesTheClockBack) {
  ManualClock clock(1000);
  Hlc hlc(&clock);
  hlc.Restore(HlcTimestamp{9000, 0});
  hlc.Restore(HlcTimestamp{3000, 5});  // an older persisted value changes nothing
  EXPECT_EQ(hlc.Last(), (HlcTimestamp{9000, 0}));
  clock.SetWallMillis(12'000);
  EXPECT_EQ(hlc.Now(), (HlcTimestamp{12'000, 0}));  // and the wall clock takes over again
}

// Past the 48 bits of milliseconds the packed form holds, the clock must still never go back.
TEST(HlcTest, StaysMonotonicAtTheEndOfTheRepresentableRange) {
  const uint64_t max_ms = HlcTimestamp::kMaxMillis;
  ManualClock clock(static_cast<WallMillis>(max_ms));
  Hlc hlc(&clock);
  HlcTimestamp a = hlc.Now();
  HlcTimestamp b = hlc.Now();
  EXPECT_EQ(b, (HlcTimestamp{max_ms, 1}));
  clock.SetWallMillis(static_cast<WallMillis>(max_ms + 5));  // beyond what 48 bits hold
  HlcTimestamp c = hlc.Now();
  EXPECT_GT(b, a);
  EXPECT_GT(c, b);
  EXPECT_EQ(c.millis, max_ms);
  hlc.Restore(HlcTimestamp{max_ms, static_cast<uint32_t>(HlcTimestamp::kMaxLogical)});
  HlcTimestamp end = hlc.Now();  // nothing above the last timestamp: stay on it
  EXPECT_EQ(end, (HlcTimestamp{max_ms, static_cast<uint32_t>(HlcTimestamp::kMaxLogical)}));
  EXPECT_EQ(HlcTimestamp::Unpack(end.Pack()), end);
}

TEST(HlcTest, PackRoundTripsAndOrdersOverRandomTimestamps) {
  syncline::testing::SeededRng rng;
  for (int i = 0; i < 10000; ++i) {
    HlcTimestamp a{rng.Uniform(0, HlcTimestamp::kMaxMillis),
                   static_cast<uint32_t>(rng.Uniform(0, HlcTimestamp::kMaxLogical))};
    HlcTimestamp b{rng.Chance(0.5) ? a.millis : rng.Uniform(0, HlcTimestamp::kMaxMillis),
                   static_cast<uint32_t>(rng.Uniform(0, HlcTimestamp::kMaxLogical))};
    ASSERT_EQ(HlcTimestamp::Unpack(a.Pack()), a);
    ASSERT_EQ(a < b, a.Pack() < b.Pack()) << a << " " << b;
    ASSERT_EQ(a == b, a.Pack() == b.Pack()) << a << " " << b;
  }
}

// Random wall-clock steps (forwards and backwards) and remote timestamps: every timestamp the
// clock hands out is above every one it handed out or accepted before, stays within the
// drift bound of the highest wall time seen, and refusals change nothing.
TEST(HlcTest, RandomHistoriesAreStrictlyMonotonic) {
  syncline::testing::SeededRng rng;
  for (int trial = 0; trial < 200; ++trial) {
    const int64_t drift = static_cast<int64_t>(rng.Uniform(0, 50));
    const DriftPolicy policy = rng.Chance(0.5) ? DriftPolicy::kRefuse : DriftPolicy::kClamp;
    ManualClock clock(100'000);
    Hlc hlc(&clock, HlcOptions{.max_drift_millis = drift, .drift_policy = policy});
    HlcTimestamp last;
    uint64_t max_wall = 100'000, refused = 0, clamped = 0;
    for (int step = 0; step < 200; ++step) {
      uint64_t op = rng.Uniform(0, 9);
      if (op < 2) {
        clock.SetWallMillis(clock.WallNowMillis() + static_cast<int64_t>(rng.Uniform(0, 60)) - 30);
        max_wall = std::max(max_wall, static_cast<uint64_t>(clock.WallNowMillis()));
        continue;
      }
      if (op < 6) {
        HlcTimestamp t = hlc.Now();
        ASSERT_GT(t, last) << "trial " << trial << " step " << step;
        last = t;
      } else {
        uint64_t wall = static_cast<uint64_t>(clock.WallNowMillis());
        HlcTimestamp remote{wall + rng.Uniform(0, 100) - 50, static_cast<uint32_t>(rng.Uniform(0, 5))};
        bool beyond = remote.millis > wall + static_cast<uint64_t>(drift);
        auto t = hlc.Update(remote);
        if (beyond && policy == DriftPolicy::kRefuse) {
          ASSERT_FALSE(t.ok());
          ASSERT_EQ(hlc.Last(), last);
          ++refused;
          continue;
        }
        ASSERT_TRUE(t.ok()) << t.status();
        if (beyond) {
          ++clamped;
        } else {
          ASSERT_GT(*t, remote);
        }
        ASSERT_GT(*t, last);
        last = *t;
      }
      ASSERT_LE(last.millis, max_wall + static_cast<uint64_t>(drift)) << "trial " << trial;
    }
    ASSERT_EQ(hlc.refused_count(), refused);
    ASSERT_EQ(hlc.clamped_count(), clamped);
  }
}

}  // namespace
}  // namespace syncline
