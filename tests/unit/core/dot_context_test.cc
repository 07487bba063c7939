#include "syncline/core/dot_context.h"

#include <gtest/gtest.h>

#include <set>

#include "support/seed.h"

namespace syncline {
namespace {

using syncline::testing::SeededRng;

const ReplicaId A(1), B(2);

TEST(DotContextTest, ContiguousDotsAdvanceTheVectorAndGapsGoToTheCloud) {
  DotContext ctx;
  ctx.Add(Dot{A, 1});
  ctx.Add(Dot{A, 2});
  EXPECT_EQ(ctx.vv().Get(A), 2u);
  EXPECT_EQ(ctx.cloud_size(), 0u);
  ctx.Add(Dot{A, 5});
  ctx.Add(Dot{A, 4});
  EXPECT_EQ(ctx.vv().Get(A), 2u);
  EXPECT_EQ(ctx.cloud_size(), 2u);
  EXPECT_TRUE(ctx.Contains(Dot{A, 4}));
  EXPECT_FALSE(ctx.Contains(Dot{A, 3}));
  EXPECT_EQ(ctx.NextDot(A), (Dot{A, 6}));
  ctx.Add(Dot{A, 3});  // fills the gap: everything folds into the vector
  EXPECT_EQ(ctx.vv().Get(A), 5u);
  EXPECT_EQ(ctx.cloud_size(), 0u);
  ctx.Add(Dot{A, 2});  // already seen: no change
  EXPECT_EQ(ctx.vv().Get(A), 5u);
}

TEST(DotContextTest, MergeUnionsAndCompacts) {
  DotContext x, y;
  x.Add(Dot{A, 1});
  x.Add(Dot{A, 3});
  y.Add(Dot{A, 2});
  y.Add(Dot{B, 7});
  x.Merge(y);
  EXPECT_EQ(x.vv().Get(A), 3u);
  EXPECT_EQ(x.cloud_size(), 1u);
  EXPECT_TRUE(x.Contains(Dot{B, 7}));
  EXPECT_FALSE(x.Contains(Dot{B, 6}));
}

// Against a naive model (a set of dots): Contains always agrees, the cloud only holds dots the
// vector cannot, and encode/decode round-trips.
TEST(DotContextTest, MatchesANaiveSetOfDots) {
  SeededRng rng;
  for (int trial = 0; trial < 300; ++trial) {
    DotContext ctx;
    std::set<Dot> model;
    for (int step = 0; step < 60; ++step) {
      Dot d{ReplicaId(rng.Uniform(1, 3)), rng.Uniform(1, 40)};
      if (rng.Chance(0.2)) {
        DotContext other;
        std::set<Dot> other_model;
        for (int k = 0; k < 5; ++k) {
          Dot o{ReplicaId(rng.Uniform(1, 3)), rng.Uniform(1, 40)};
          other.Add(o);
          other_model.insert(o);
        }
        ctx.Merge(other);
        model.insert(other_model.begin(), other_model.end());
      } else {
        ctx.Add(d);
        model.insert(d);
      }
      for (uint64_t r = 1; r <= 3; ++r) {
        for (uint64_t c = 1; c <= 41; ++c) {
          Dot q{ReplicaId(r), c};
          ASSERT_EQ(ctx.Contains(q), model.count(q) == 1) << q << " after step " << step;
        }
        // Canonical: the cloud never holds the dot right above the vector, nor any it covers.
        for (const Dot& cd : ctx.CloudDots()) {
          ASSERT_GT(cd.counter, ctx.vv().Get(cd.replica) + 1);
        }
      }
    }
    auto back = DotContext::Decode(ctx.Encode());
    ASSERT_TRUE(back.ok()) << back.status();
    ASSERT_TRUE(*back == ctx) << ctx.ToString() << " vs " << back->ToString();
  }
}

TEST(DotContextTest, MergeIsAJoin) {
  SeededRng rng;
  auto random_ctx = [&] {
    DotContext c;
    for (int k = 0; k < 8; ++k) c.Add(Dot{ReplicaId(rng.Uniform(1, 3)), rng.Uniform(1, 12)});
    return c;
  };
  for (int i = 0; i < 2000; ++i) {
    DotContext a = random_ctx(), b = random_ctx(), c = random_ctx();
    DotContext ab = a, ba = b, aa = a;
    ab.Merge(b);
    ba.Merge(a);
    aa.Merge(a);
    ASSERT_TRUE(ab == ba);
    ASSERT_TRUE(aa == a);
    DotContext ab_c = ab, bc = b;
    ab_c.Merge(c);
    bc.Merge(c);
    DotContext a_bc = a;
    a_bc.Merge(bc);
    ASSERT_TRUE(ab_c == a_bc);
  }
}

TEST(DotContextTest, DecodeRejectsBadInput) {
  DotContext ctx;
  ctx.Add(Dot{A, 1});
  ctx.Add(Dot{A, 4});
  ctx.Add(Dot{B, 9});
  std::string good = ctx.Encode();
  for (size_t cut = 0; cut < good.size(); ++cut) {
    EXPECT_FALSE(DotContext::Decode(good.substr(0, cut)).ok()) << cut;
  }
  EXPECT_FALSE(DotContext::Decode(good + "z").ok());
  EXPECT_FALSE(DotContext::Decode(good, 1).ok());  // more cloud dots than allowed
  SeededRng rng;
  for (int i = 0; i < 5000; ++i) {
    std::string junk = rng.Bytes(60);
    auto d = DotContext::Decode(junk);
    if (d.ok()) {
      ASSERT_EQ(d->Encode(), junk);
    }
  }
}

}  // namespace
}  // namespace syncline
