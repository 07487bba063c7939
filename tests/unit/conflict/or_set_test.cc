#include "syncline/conflict/or_set.h"

#include <gtest/gtest.h>

#include "support/seed.h"

namespace syncline::conflict {
namespace {

const ReplicaId A(1), B(2);
using Elements = std::vector<std::string>;

TEST(OrSetTest, AddWinsOverAConcurrentRemove) {
  OrSet a, b;
  b.ApplyDelta(a.Add(A, "x"), nullptr);
  OrSet remove = a.Remove("x");   // A removes the add it saw
  OrSet readd = b.Add(B, "x");    // B adds x again, concurrently
  a.ApplyDelta(readd, nullptr);
  b.ApplyDelta(remove, nullptr);
  EXPECT_EQ(a.Elements(), (Elements{"x"}));
  EXPECT_EQ(a, b);
}

TEST(OrSetTest, ARemoveDeletesOnlyTheAddsItObserved) {
  OrSet a, b;
  OrSet add_y = a.Add(A, "y");
  b.ApplyDelta(add_y, nullptr);
  OrSet rm = b.Remove("y");
  a.ApplyDelta(rm, nullptr);
  EXPECT_FALSE(a.Contains("y"));
  // A late duplicate of the observed add stays removed.
  a.ApplyDelta(add_y, nullptr);
  EXPECT_FALSE(a.Contains("y"));
}

TEST(OrSetTest, ApplyDeltaEqualsJoinOverRandomHistories) {
  syncline::testing::SeededRng rng;
  for (int trial = 0; trial < 300; ++trial) {
    OrSet replicas[2];
    std::vector<OrSet> deltas;
    for (int step = 0; step < 30; ++step) {
      int r = static_cast<int>(rng.Uniform(0, 1));
      std::string e = "e" + std::to_string(rng.Uniform(0, 5));
      deltas.push_back(rng.Chance(0.3) ? replicas[r].Remove(e)
                                       : replicas[r].Add(ReplicaId(static_cast<uint64_t>(r + 1)), e));
      if (rng.Chance(0.5)) {
        const OrSet& d = deltas[rng.Uniform(0, deltas.size() - 1)];
        OrSet via_join = replicas[1 - r], via_delta = replicas[1 - r];
        via_join.Join(d, nullptr);
        via_delta.ApplyDelta(d, nullptr);
        ASSERT_EQ(via_join, via_delta) << "trial " << trial << " step " << step;
        replicas[1 - r] = via_delta;
      }
    }
  }
}

TEST(OrSetTest, DeltasStayO1InALargeSet) {
  OrSet big;
  size_t small_delta = big.Add(A, "first").Encode().size();
  for (int i = 0; i < 100'000; ++i) big.Add(A, "element-" + std::to_string(i));
  size_t add_delta = big.Add(A, "element-x").Encode().size();
  size_t remove_delta = big.Remove("element-5").Encode().size();
  EXPECT_LE(add_delta, small_delta + 16) << "an add's delta grew with the set";
  EXPECT_LE(remove_delta, small_delta + 16);
  EXPECT_EQ(big.size(), 100'001u);
  // The context of one writer's adds stays one version-vector entry.
  EXPECT_EQ(big.context().vv().size(), 1u);
  EXPECT_EQ(big.context().cloud_size(), 0u);
}

TEST(OrSetTest, EncodingRoundTripsIncludingRemoveMarkers) {
  OrSet s;
  s.Add(A, "a");
  s.Add(B, "b");
  OrSet rm = s.Remove("a");
  for (const OrSet& x : {s, rm}) {
    auto back = OrSet::Decode(x.Encode());
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(*back, x);
  }
  syncline::testing::SeededRng rng;
  for (int i = 0; i < 3000; ++i) {
    auto d = OrSet::Decode(rng.Bytes(48));
    if (d.ok()) {
      EXPECT_EQ(OrSet::Decode(d->Encode()).value(), *d);
    }
  }
}

}  // namespace
}  // namespace syncline::conflict
