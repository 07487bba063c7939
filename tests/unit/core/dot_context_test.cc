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

// Compact() is a fold of the cloud into the vector: it must never change what the context
// contains, whatever order dots arrive in, and doing it twice changes nothing.
TEST(DotContextTest, CompactionKeepsContainsUnchanged) {
  SeededRng rng;
  for (int trial = 0; trial < 500; ++trial) {
    DotContext ctx;
    int steps = static_cast<int>(rng.Uniform(1, 30));
    for (int k = 0; k < steps; ++k) ctx.Add(Dot{ReplicaId(rng.Uniform(1, 3)), rng.Uniform(1, 25)});
    std::vector<bool> before;
    for (uint64_t r = 1; r <= 3; ++r) {
      for (uint64_t c = 0; c <= 26; ++c) before.push_back(ctx.Contains(Dot{ReplicaId(r), c}));
    }
    uint64_t count = ctx.DotCount();
    DotContext copy = ctx;
    ctx.Compact();
    ASSERT_TRUE(ctx == copy) << ctx.ToString() << " vs " << copy.ToString();  // already compact
    ctx.Compact();
    ASSERT_EQ(ctx.DotCount(), count);
    size_t i = 0;
    for (uint64_t r = 1; r <= 3; ++r) {
      for (uint64_t c = 0; c <= 26; ++c, ++i) {
        ASSERT_EQ(ctx.Contains(Dot{ReplicaId(r), c}), before[i]) << Dot{ReplicaId(r), c} << " " << ctx.ToString();
      }
    }
    // ForEachDot enumerates exactly the contained dots.
    uint64_t seen = 0;
    ctx.ForEachDot([&](const Dot& d) {
      ++seen;
      EXPECT_TRUE(ctx.Contains(d)) << d;
    });
    ASSERT_EQ(seen, count);
  }
}

TEST(DotContextTest, InvalidDotsAreNeverContainedOrAdded) {
  DotContext ctx;
  ctx.Add(Dot{A, 0});
  ctx.Add(Dot{ReplicaId(), 3});
  EXPECT_EQ(ctx.DotCount(), 0u);
  EXPECT_FALSE(ctx.Contains(Dot{A, 0}));
  ctx.Add(Dot{A, 1});
  EXPECT_FALSE(ctx.Contains(Dot{A, 0}));
  EXPECT_TRUE(ctx.Contains(Dot{A, 1}));
}

TEST(DotContextTest, DecodeRefusesNonCanonicalClouds) {
  auto fixed = [](uint64_t v) {
    std::string out;
    for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
    return out;
  };
  // Vector {A:2}; then one cloud replica A with one dot given as a gap from 2.
  std::string vv = VersionVector{{A, 2}}.Encode();
  auto with_gap = [&](char gap) { return vv + "\x01" + fixed(1) + "\x01" + std::string(1, gap); };
  ASSERT_TRUE(DotContext::Decode(with_gap(2)).ok());  // dot 4: a real gap
  EXPECT_FALSE(DotContext::Decode(with_gap(1)).ok());  // dot 3 belongs in the vector
  EXPECT_FALSE(DotContext::Decode(with_gap(0)).ok());  // dot 2 is covered
  // Two dots in the wrong order / repeated (second gap 0).
  EXPECT_FALSE(DotContext::Decode(vv + "\x01" + fixed(1) + "\x02" + "\x02" + std::string(1, '\0')).ok());
  // Cloud replicas must ascend and be non-zero.
  std::string two = vv + "\x02" + fixed(2) + "\x01\x05" + fixed(1) + "\x01\x05";
  EXPECT_FALSE(DotContext::Decode(two).ok());
  EXPECT_FALSE(DotContext::Decode(vv + "\x01" + fixed(0) + "\x01\x05").ok());
  // A cloud entry with no dots is not canonical either.
  EXPECT_FALSE(DotContext::Decode(vv + "\x01" + fixed(1) + std::string(1, '\0')).ok());
}

TEST(DotContextTest, DecodeBoundsReplicas) {
  DotContext ctx;
  for (uint64_t r = 1; r <= 5; ++r) ctx.Add(Dot{ReplicaId(r), 1});
  std::string vv_heavy = ctx.Encode();
  EXPECT_TRUE(DotContext::Decode(vv_heavy, DotContext::kDefaultMaxCloudDots, 5).ok());
  EXPECT_FALSE(DotContext::Decode(vv_heavy, DotContext::kDefaultMaxCloudDots, 4).ok());
  DotContext cloudy;
  for (uint64_t r = 1; r <= 5; ++r) cloudy.Add(Dot{ReplicaId(r), 3});
  ASSERT_EQ(cloudy.vv().size(), 0u);
  std::string cloud_heavy = cloudy.Encode();
  EXPECT_TRUE(DotContext::Decode(cloud_heavy, DotContext::kDefaultMaxCloudDots, 5).ok());
  auto r = DotContext::Decode(cloud_heavy, DotContext::kDefaultMaxCloudDots, 4);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kCorruption);
  EXPECT_NE(r.status().message().find("limit of 4"), std::string::npos) << r.status();
  // A cloud dot count far beyond the input is refused before anything is built.
  std::string huge = VersionVector().Encode() + "\x01" + std::string("\x01\0\0\0\0\0\0\0", 8) +
                     std::string("\xff\xff\xff\xff\x0f", 5) + "\x05";
  EXPECT_FALSE(DotContext::Decode(huge).ok());
}

TEST(DotContextTest, MutatedEncodingsDecodeCanonicallyOrFail) {
  SeededRng rng;
  for (int i = 0; i < 3000; ++i) {
    DotContext ctx;
    for (int k = 0; k < 10; ++k) ctx.Add(Dot{ReplicaId(rng.Uniform(1, 3)), rng.Uniform(1, 300)});
    std::string bytes = ctx.Encode();
    auto back = DotContext::Decode(bytes);
    ASSERT_TRUE(back.ok()) << back.status();
    ASSERT_TRUE(*back == ctx);
    int flips = static_cast<int>(rng.Uniform(1, 3));
    for (int f = 0; f < flips; ++f) bytes[rng.Uniform(0, bytes.size() - 1)] = static_cast<char>(rng.Uniform(0, 255));
    auto d = DotContext::Decode(bytes);
    if (d.ok()) {
      ASSERT_EQ(d->Encode(), bytes);
    } else {
      ASSERT_EQ(d.status().code(), StatusCode::kCorruption) << d.status();
    }
  }
}

}  // namespace
}  // namespace syncline
