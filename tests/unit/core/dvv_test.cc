#include "syncline/core/dvv.h"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "support/seed.h"

namespace syncline {
namespace {

using syncline::testing::SeededRng;

const ReplicaId A(1), B(2), C(3);

std::set<std::string> Values(const Siblings& s) {
  std::set<std::string> out;
  for (const Sibling& x : s.items()) out.insert(x.value);
  return out;
}

TEST(DvvTest, WriteThatSawTheSiblingsReplacesThem) {
  Siblings s;
  s.Update(VersionVector(), A, "v1");
  s.Update(VersionVector(), A, "v2");  // a blind write: concurrent with v1
  EXPECT_EQ(Values(s), (std::set<std::string>{"v1", "v2"}));
  VersionVector token = s.Context();
  s.Update(token, B, "resolved");
  EXPECT_EQ(Values(s), (std::set<std::string>{"resolved"}));
}

TEST(DvvTest, SyncKeepsOnlyWhatTheOtherSideHasNotSeen) {
  Siblings a, b;
  a.Update(VersionVector(), A, "x");
  b = Siblings::Sync(b, a);
  b.Update(b.Context(), B, "y");  // saw x
  a.Update(a.Context(), A, "z");  // saw x, concurrent with y
  Siblings ab = Siblings::Sync(a, b);
  EXPECT_EQ(Values(ab), (std::set<std::string>{"y", "z"}));
  EXPECT_EQ(ab, Siblings::Sync(b, a));
  EXPECT_EQ(ab, Siblings::Sync(ab, a));
}

TEST(DvvTest, DiscardDropsOnlyWhatTheContextCovers) {
  Siblings s;
  s.Update(VersionVector(), A, "seen");
  VersionVector token = s.Context();
  s.Update(VersionVector(), B, "concurrent");
  s.Discard(token);
  EXPECT_EQ(Values(s), (std::set<std::string>{"concurrent"}));
}

// A reference model: every write knows the exact set of writes in its causal past. After any
// interleaving of writes (with fresh or stale read contexts, at any replica) and syncs, each
// replica's siblings must be exactly the delivered writes that no other delivered write has in
// its past: never more siblings than truly concurrent writes, never a lost one.
TEST(DvvTest, SiblingsAreExactlyTheConcurrentWritesOverRandomHistories) {
  SeededRng rng;
  for (int trial = 0; trial < 400; ++trial) {
    const int replicas = static_cast<int>(rng.Uniform(2, 4));
    std::vector<Siblings> state(replicas);
    std::vector<std::set<int>> delivered(replicas);
    std::map<int, std::set<int>> past;  // write id -> ids in its causal past
    struct Read {
      VersionVector token;
      std::set<int> seen;  // the writes the token stands for (with their pasts)
    };
    std::vector<Read> reads;  // contexts clients read earlier, possibly stale
    int next_id = 0;
    auto maximal = [&](const std::set<int>& ids) {
      std::set<std::string> out;
      for (int w : ids) {
        bool dominated = false;
        for (int o : ids) dominated |= past[o].count(w) > 0;
        if (!dominated) out.insert(std::to_string(w));
      }
      return out;
    };
    for (int step = 0; step < 40; ++step) {
      int r = static_cast<int>(rng.Uniform(0, replicas - 1));
      uint64_t op = rng.Uniform(0, 9);
      if (op < 3) {  // a client reads at r
        Read rd{state[r].Context(), {}};
        for (const Sibling& s : state[r].items()) {
          int id = std::stoi(s.value);
          rd.seen.insert(id);
          rd.seen.insert(past[id].begin(), past[id].end());
        }
        reads.push_back(rd);
      } else if (op < 7) {  // a client writes at r with some earlier read, or blind
        Read rd;
        if (!reads.empty() && rng.Chance(0.8)) rd = reads[rng.Uniform(0, reads.size() - 1)];
        int id = next_id++;
        // A client may only write at r with a context r has delivered (the engine
        // syncs the read context into r first); model that by syncing the read's writes.
        for (int j = 0; j < replicas; ++j) {
          bool has_all = true;
          for (int w : rd.seen) has_all &= delivered[j].count(w) > 0;
          if (has_all && j != r) {
            state[r] = Siblings::Sync(state[r], state[j]);
            delivered[r].insert(delivered[j].begin(), delivered[j].end());
            break;
          }
        }
        bool r_has_all = true;
        for (int w : rd.seen) r_has_all &= delivered[r].count(w) > 0;
        if (!r_has_all) continue;
        past[id] = rd.seen;
        state[r].Update(rd.token, ReplicaId(static_cast<uint64_t>(r + 1)), std::to_string(id));
        delivered[r].insert(id);
      } else {  // anti-entropy between r and another replica
        int o = static_cast<int>(rng.Uniform(0, replicas - 1));
        state[r] = Siblings::Sync(state[r], state[o]);
        delivered[r].insert(delivered[o].begin(), delivered[o].end());
      }
      for (int j = 0; j < replicas; ++j) {
        ASSERT_EQ(Values(state[j]), maximal(delivered[j]))
            << "trial " << trial << " step " << step << " replica " << j;
      }
    }
    // Once everyone has everything, all replicas agree.
    Siblings all;
    for (const Siblings& s : state) all = Siblings::Sync(all, s);
    for (int j = 0; j < replicas; ++j) {
      ASSERT_EQ(Siblings::Sync(state[j], all), all);
    }
  }
}

TEST(DvvTest, SyncIsIdempotentCommutativeAssociative) {
  SeededRng rng;
  for (int trial = 0; trial < 500; ++trial) {
    // Three replicas evolve from a shared history so their sibling sets overlap.
    std::vector<Siblings> s(3);
    for (int step = 0; step < 12; ++step) {
      int r = static_cast<int>(rng.Uniform(0, 2));
      if (rng.Chance(0.6)) {
        VersionVector ctx = rng.Chance(0.7) ? s[r].Context() : VersionVector();
        s[r].Update(ctx, ReplicaId(static_cast<uint64_t>(r + 1)), "v" + std::to_string(step));
      } else {
        int o = static_cast<int>(rng.Uniform(0, 2));
        s[r] = Siblings::Sync(s[r], s[o]);
      }
    }
    const Siblings &a = s[0], &b = s[1], &c = s[2];
    ASSERT_EQ(Siblings::Sync(a, a), a);
    ASSERT_EQ(Siblings::Sync(a, b), Siblings::Sync(b, a));
    ASSERT_EQ(Siblings::Sync(Siblings::Sync(a, b), c), Siblings::Sync(a, Siblings::Sync(b, c)));
  }
}

TEST(DvvTest, EncodingRoundTripsAndRejectsGarbage) {
  Siblings s;
  s.Update(VersionVector(), A, "one");
  s.Update(VersionVector(), B, std::string("t\0wo", 4));
  s.Update(VersionVector{{C, 4}}, C, "three");
  auto back = Siblings::Decode(s.Encode());
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, s);
  std::string bytes = s.Encode();
  for (size_t cut = 0; cut < bytes.size(); ++cut) EXPECT_FALSE(Siblings::Decode(bytes.substr(0, cut)).ok());
  EXPECT_FALSE(Siblings::Decode(bytes + "!").ok());
  EXPECT_FALSE(Siblings::Decode(bytes, 2).ok());
  EXPECT_FALSE(Siblings::Decode(bytes, 1024, 3).ok());  // a value above the limit
  SeededRng rng;
  for (int i = 0; i < 5000; ++i) {
    std::string junk = rng.Bytes(80);
    auto d = Siblings::Decode(junk);
    if (d.ok()) {
      ASSERT_EQ(d->Encode(), junk);
    }
  }
}

TEST(DvvTest, MetadataStaysBoundedByReplicasNotWrites) {
  Siblings s;
  const ReplicaId rs[3] = {A, B, C};
  for (int i = 0; i < 100000; ++i) s.Update(s.Context(), rs[i % 3], "v");
  ASSERT_EQ(s.size(), 1u);
  EXPECT_LE(s.Encode().size(), 64u);  // one dot and a three-entry past, whatever the count
}

}  // namespace
}  // namespace syncline
