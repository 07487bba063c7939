#include "syncline/core/dvv.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
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

// Random sibling sets built from arbitrary clocks, not from one consistent history: two sets
// may then disagree (a version one side supersedes may supersede something of the other).
// Sync must still be exactly "the union minus what another version has seen", and so
// commutative and idempotent.
// A dot's past and value are a function of the dot and `salt`, as in a real history where a
// dot names one write.
Siblings RandomSiblings(SeededRng& rng, uint64_t salt) {
  Siblings s;
  int n = static_cast<int>(rng.Uniform(0, 5));
  for (int k = 0; k < n; ++k) {
    Dot dot{ReplicaId(rng.Uniform(1, 3)), rng.Uniform(1, 6)};
    std::mt19937_64 per_dot(salt * 1000 + dot.replica.value() * 10 + dot.counter);
    VersionVector past;
    for (uint64_t r = 1; r <= 3; ++r) {
      if (per_dot() % 10 < 4) past.Set(ReplicaId(r), 1 + per_dot() % 6);
    }
    if (past.Covers(dot)) past.Set(dot.replica, dot.counter - 1);  // a write never saw itself
    s.Insert(Sibling{Dvv{dot, past}, dot.replica.ToString() + "/" + std::to_string(dot.counter)});
  }
  return s;
}

TEST(DvvTest, SyncIsTheUnionMinusWhatAnotherVersionHasSeen) {
  SeededRng rng;
  for (int trial = 0; trial < 5000; ++trial) {
    uint64_t salt = rng.Uniform(0, 1'000'000);
    Siblings a = RandomSiblings(rng, salt), b = RandomSiblings(rng, salt);
    // The naive reference: union by dot, then drop every version some other one has seen.
    std::map<Dot, Sibling> unite;
    for (const Sibling& x : a.items()) unite.emplace(x.clock.dot, x);
    for (const Sibling& x : b.items()) unite.emplace(x.clock.dot, x);
    std::vector<Sibling> expected;
    for (const auto& [dot, x] : unite) {
      bool seen = false;
      for (const auto& [other_dot, y] : unite) seen |= other_dot != dot && y.clock.past.Covers(dot);
      if (!seen) expected.push_back(x);
    }
    Siblings ab = Siblings::Sync(a, b);
    ASSERT_EQ(ab.items(), expected) << "trial " << trial;
    ASSERT_EQ(ab, Siblings::Sync(b, a)) << "trial " << trial;
    ASSERT_EQ(Siblings::Sync(a, a), a);
    ASSERT_EQ(Siblings::Sync(ab, ab), ab);
    ASSERT_EQ(Siblings::Sync(a, Siblings()), a);
  }
}

TEST(DvvTest, SyncPicksTheSameCopyOfADotWhicheverSideItIsOn) {
  // Two contents for one dot never come from a correct history, but Sync must not depend on
  // argument order even then.
  Siblings a, b;
  a.Insert(Sibling{Dvv{Dot{A, 1}, VersionVector()}, "from a"});
  b.Insert(Sibling{Dvv{Dot{A, 1}, VersionVector()}, "from b"});
  EXPECT_EQ(Siblings::Sync(a, b), Siblings::Sync(b, a));
  EXPECT_EQ(Siblings::Sync(a, b).size(), 1u);
}

TEST(DvvTest, UpdateDotsAreFreshAndContextCoversEverySibling) {
  SeededRng rng;
  for (int trial = 0; trial < 300; ++trial) {
    Siblings s;
    std::set<Dot> used;
    for (int step = 0; step < 30; ++step) {
      ReplicaId r(rng.Uniform(1, 3));
      VersionVector ctx = rng.Chance(0.6) ? s.Context() : VersionVector();
      Dot d = s.Update(ctx, r, "v" + std::to_string(step));
      ASSERT_EQ(d.replica, r);
      ASSERT_TRUE(used.insert(d).second) << "dot " << d << " reused at step " << step;
      // The new version is there, and everything its context covered is gone.
      bool found = false;
      for (const Sibling& x : s.items()) {
        found |= x.clock.dot == d;
        ASSERT_FALSE(x.clock.dot != d && ctx.Covers(x.clock.dot)) << x.clock.dot;
      }
      ASSERT_TRUE(found);
      VersionVector token = s.Context();
      for (const Sibling& x : s.items()) {
        ASSERT_TRUE(token.Covers(x.clock.dot));
        ASSERT_TRUE(token.Dominates(x.clock.past));
      }
      // Siblings stay sorted by dot, none seen by another.
      for (size_t i = 0; i < s.items().size(); ++i) {
        if (i > 0) {
          ASSERT_LT(s.items()[i - 1].clock.dot, s.items()[i].clock.dot);
        }
        for (size_t j = 0; j < s.items().size(); ++j) {
          ASSERT_FALSE(i != j && s.items()[i].clock.SeenBy(s.items()[j].clock));
        }
      }
    }
  }
}

TEST(DvvTest, UpdateFloorSkipsDotsOfDeletedVersions) {
  Siblings s;
  Dot first = s.Update(VersionVector(), A, "gone");
  s.Discard(s.Context());  // a delete that saw it
  ASSERT_TRUE(s.empty());
  // Without the floor the siblings no longer remember (A,1); with it the dot is not reused.
  Dot next = s.Update(VersionVector(), A, "new", first.counter);
  EXPECT_EQ(next, (Dot{A, 2}));
}

TEST(DvvTest, DecodeRefusesAPastThatCoversItsOwnDot) {
  std::string bytes = "\x01";
  for (int i = 0; i < 8; ++i) bytes.push_back(i == 0 ? '\x01' : '\0');  // replica A
  bytes += "\x02";                                                     // counter 2
  bytes += VersionVector{{A, 2}}.Encode();                             // past covers (A,2)
  bytes += "\x01x";
  auto r = Siblings::Decode(bytes);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kCorruption);
  EXPECT_NE(r.status().message().find("own dot"), std::string::npos) << r.status();
  // The same bytes with a past one below the dot decode.
  std::string ok_bytes = bytes;
  std::string past = VersionVector{{A, 2}}.Encode();
  ok_bytes.replace(10, past.size(), VersionVector{{A, 1}}.Encode());  // after count, id, counter
  auto ok = Siblings::Decode(ok_bytes);
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->items()[0].value, "x");
}

TEST(DvvTest, DecodeRefusesObsoleteSiblingsAndNamesThem) {
  // Build two versions where the second's past covers the first, encode them by hand.
  Siblings first, second;
  first.Insert(Sibling{Dvv{Dot{A, 1}, VersionVector()}, "old"});
  second.Insert(Sibling{Dvv{Dot{B, 1}, VersionVector{{A, 1}}}, "new"});
  std::string a = first.Encode(), b = second.Encode();
  std::string both = "\x02" + a.substr(1) + b.substr(1);
  auto r = Siblings::Decode(both);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("obsolete"), std::string::npos) << r.status();
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
