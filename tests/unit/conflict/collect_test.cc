// Collect(horizon) of every collectable type, against a never-collecting shadow replica.
//
// The property test runs random histories on three replicas that number their changes like
// the node does (one log counter per replica), deliver each origin's changes in order, skip
// duplicates by their node context, and repair by merging whole states. A replica collects
// with a causal-stability horizon computed the way the design requires: the minimum of every
// replica's applied vector, and of the causal past of every change it has not applied yet. Each
// replica has a shadow that receives the same deltas and states but never collects; after
// every step their reads must agree. Changes that the horizon used by a replica does not cover
// are also re-delivered straight to its state (as a repair could), which must change nothing.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "support/seed.h"
#include "syncline/conflict/lww.h"
#include "syncline/conflict/map.h"
#include "syncline/conflict/mv.h"
#include "syncline/conflict/or_set.h"
#include "syncline/conflict/record_layout.h"
#include "syncline/conflict/value_resolver.h"

namespace syncline::conflict {
namespace {

const ReplicaId A(1), B(2), C(3);

WriteContext Ctx(ReplicaId r, uint64_t log_counter, uint64_t millis = 1000) {
  return WriteContext{r, HlcTimestamp{millis, 0}, Dot{r, log_counter}};
}

// Set records in a std::map (as a store would keep them under the key).
class MapRecords final : public KeyRecords {
 public:
  Result<std::optional<std::string>> Get(std::string_view sub) override {
    auto it = records.find(std::string(sub));
    if (it == records.end()) return std::optional<std::string>();
    return std::optional<std::string>(it->second);
  }
  Status Put(std::string_view sub, std::string_view value) override {
    ++ops;
    records[std::string(sub)] = std::string(value);
    return Status::Ok();
  }
  Status Delete(std::string_view sub) override {
    ++ops;
    records.erase(std::string(sub));
    return Status::Ok();
  }
  Status Scan(std::string_view prefix,
              const std::function<bool(std::string_view, std::string_view)>& visit) override {
    for (auto it = records.lower_bound(std::string(prefix)); it != records.end(); ++it) {
      ++ops;
      if (it->first.compare(0, prefix.size(), prefix) != 0 || !visit(it->first, it->second)) break;
    }
    return Status::Ok();
  }
  std::map<std::string, std::string> records;
  uint64_t ops = 0;
};

// ---- models: how the simulator mutates, applies, merges, collects and reads each type ----

// Clocks in these histories grow with the step, so a write made after a removal is stamped
// above the tombstone it replaces, as the node's HLC guarantees once it observed the delete.
struct LwwModel {
  using State = LwwRegister;
  using Delta = LwwRegister;
  static LwwRegister Mutate(std::mt19937_64& rng, LwwRegister& s, const WriteContext& ctx, int step) {
    bool del = std::bernoulli_distribution(0.4)(rng);
    return s.Write(ctx, del ? std::nullopt : std::optional<std::string>("v" + std::to_string(step)));
  }
  static void Apply(LwwRegister& s, const LwwRegister& d) { s.Join(d, nullptr); }
  static void Merge(LwwRegister& s, const LwwRegister& other) { s.Join(other, nullptr); }
  static CollectResult Collect(LwwRegister& s, const VersionVector& h) { return s.Collect(h); }
  static std::string Read(const LwwRegister& s) { return s.value().value_or("<absent>"); }
  static std::string Encode(const LwwRegister& s) { return s.Encode(); }
};

struct MvModel {
  using State = MvRegister;
  using Delta = MvRegister;
  static MvRegister Mutate(std::mt19937_64& rng, MvRegister& s, const WriteContext& ctx, int step) {
    std::uniform_int_distribution<int> pick(0, 9);
    int p = pick(rng);
    if (p < 3) return s.Write(ctx, s.Token(), std::nullopt);
    VersionVector token = p < 5 ? VersionVector() : s.Token();  // sometimes a stale read
    return s.Write(ctx, token, "v" + std::to_string(step));
  }
  static void Apply(MvRegister& s, const MvRegister& d) { s.Join(d, nullptr); }
  static void Merge(MvRegister& s, const MvRegister& other) { s.Join(other, nullptr); }
  static CollectResult Collect(MvRegister& s, const VersionVector& h) { return s.Collect(h); }
  static std::string Read(const MvRegister& s) {
    std::string out;
    for (const std::string& v : s.Values()) out += v + "|";
    return out;
  }
  static std::string Encode(const MvRegister& s) { return s.Encode(); }
};

// A set kept twice: in memory and as records; both must always agree.
struct SetReplica {
  OrSet mem;
  MapRecords rec;
};

struct SetModel {
  using State = SetReplica;
  using Delta = OrSet;
  static OrSet Mutate(std::mt19937_64& rng, SetReplica& s, const WriteContext& ctx, int) {
    std::uniform_int_distribution<int> pick(0, 1);
    std::string e = "e" + std::to_string(pick(rng));
    OrSet d = std::bernoulli_distribution(0.6)(rng) ? s.mem.Remove(ctx, e) : s.mem.Add(ctx, e);
    EXPECT_TRUE(ApplySetDelta(s.rec, d, nullptr).ok());
    return d;
  }
  static void Apply(SetReplica& s, const OrSet& d) {
    s.mem.ApplyDelta(d, nullptr);
    EXPECT_TRUE(ApplySetDelta(s.rec, d, nullptr).ok());
  }
  static void Merge(SetReplica& s, const SetReplica& other) {
    s.mem.Join(other.mem, nullptr);
    EXPECT_TRUE(ApplySetDelta(s.rec, other.mem, nullptr).ok());
  }
  static CollectResult Collect(SetReplica& s, const VersionVector& h) {
    CollectResult mem = s.mem.Collect(h);
    auto rec = CollectSet(s.rec, h);
    EXPECT_TRUE(rec.ok()) << rec.status();
    EXPECT_EQ(rec.ok() && rec->remove_key, mem.remove_key);
    return mem;
  }
  static std::string Read(const SetReplica& s) {
    MapRecords copy = s.rec;
    auto loaded = LoadSet(copy);
    EXPECT_TRUE(loaded.ok()) << loaded.status();
    if (loaded.ok()) {
      EXPECT_EQ(*loaded, s.mem) << "the records and the in-memory set disagree";
    }
    std::string out;
    for (const std::string& e : s.mem.Elements()) out += e + "|";
    return out;
  }
  static std::string Encode(const SetReplica& s) { return s.mem.Encode(); }
};

struct MapModel {
  using State = OrMap;
  using Delta = OrMap;
  static OrMap Mutate(std::mt19937_64& rng, OrMap& s, const WriteContext& ctx, int step) {
    std::uniform_int_distribution<int> pick(0, 9);
    const FieldPath reg{Field::Register("a")}, ctr{Field::Counter("n")}, set{Field::Set("t")};
    std::string x = "x" + std::to_string(pick(rng) % 2);
    switch (pick(rng)) {
      case 0:
        return s.SetRegister(reg, ctx, "v" + std::to_string(step)).value();
      case 1:
        return s.Increment(ctr, ctx, pick(rng) < 5 ? 1 : -2).value();
      case 2:
        return s.AddElement(set, ctx, x).value();
      case 3:
        return s.RemoveElement(set, ctx, x).value();
      case 4:
      case 5:
        return s.RemoveField(reg, ctx).value();
      case 6:
      case 7:
        return s.RemoveField(ctr, ctx).value();
      default:
        return s.RemoveField(set, ctx).value();
    }
  }
  static void Apply(OrMap& s, const OrMap& d) { s.ApplyDelta(d, nullptr); }
  static void Merge(OrMap& s, const OrMap& other) { s.Join(other, nullptr); }
  static CollectResult Collect(OrMap& s, const VersionVector& h) { return s.Collect(h); }
  static std::string Read(const OrMap& s) { return s.Render(); }
  static std::string Encode(const OrMap& s) { return s.Encode(); }
};

// ---- the simulator ----

struct SimStats {
  uint64_t collects = 0;
  uint64_t removed = 0;
  uint64_t dropped = 0;
  uint64_t redelivered = 0;
};

// With `acks_only`, the horizon is the plain minimum of the applied vectors (only its first
// property), which suffices for the dot stores but not for lww.
template <typename Model>
void RunHistory(uint64_t seed, int steps, bool acks_only, SimStats* stats) {
  using State = typename Model::State;
  constexpr int kReplicas = 3;
  const ReplicaId ids[kReplicas] = {A, B, C};
  std::mt19937_64 rng(seed);
  auto pick = [&](int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng); };

  struct Change {
    typename Model::Delta delta;
    VersionVector past;  // what its replica had applied when it made it
  };
  State st[kReplicas], shadow[kReplicas];
  VersionVector applied[kReplicas];      // node contexts (contiguous per origin)
  VersionVector used[kReplicas];         // join of the horizons each replica collected with
  std::vector<Change> log[kReplicas];    // per origin, counter - 1

  auto horizon = [&](int q) {
    VersionVector h = applied[0];
    for (int p = 1; p < kReplicas; ++p) h = VersionVector::Min(h, applied[p]);
    if (acks_only) return h;
    for (int o = 0; o < kReplicas; ++o) {
      for (uint64_t k = applied[q].Get(ids[o]) + 1; k <= log[o].size(); ++k) h = VersionVector::Min(h, log[o][k - 1].past);
    }
    return h;
  };
  auto deliver = [&](int q, int o) {
    uint64_t next = applied[q].Get(ids[o]) + 1;
    if (next > log[o].size()) return;
    Model::Apply(st[q], log[o][next - 1].delta);
    Model::Apply(shadow[q], log[o][next - 1].delta);
    applied[q].Set(ids[o], next);
  };
  auto collect = [&](int q, const VersionVector& h) {
    std::string before_read = Model::Read(st[q]);
    size_t before_size = Model::Encode(st[q]).size();
    CollectResult r = Model::Collect(st[q], h);
    used[q].Merge(h);
    ++stats->collects;
    stats->removed += r.remove_key;
    stats->dropped += r.dropped;
    ASSERT_EQ(Model::Read(st[q]), before_read) << "collect changed the read value";
    ASSERT_LE(Model::Encode(st[q]).size(), before_size) << "collect grew the state";
    if (r.remove_key) {
      ASSERT_EQ(Model::Encode(st[q]), "") << "a removed key must be the bottom state";
    }
  };

  for (int step = 0; step < steps; ++step) {
    int q = pick(kReplicas);
    int action = pick(20);
    if (action < 6) {
      uint64_t counter = log[q].size() + 1;
      VersionVector past = applied[q];
      auto delta = Model::Mutate(rng, st[q], Ctx(ids[q], counter, 1000 + static_cast<uint64_t>(step)), step);
      Model::Apply(shadow[q], delta);
      log[q].push_back(Change{delta, past});
      applied[q].Set(ids[q], counter);
    } else if (action < 15) {
      deliver(q, pick(kReplicas));
    } else if (action < 16) {
      int p = pick(kReplicas);
      Model::Merge(st[q], st[p]);
      Model::Merge(shadow[q], shadow[p]);
    } else if (action < 17) {
      // Re-delivery of a change this replica applied but no horizon it used covers.
      int o = pick(kReplicas);
      uint64_t top = applied[q].Get(ids[o]), low = used[q].Get(ids[o]);
      if (top > low) {
        uint64_t k = low + 1 + std::uniform_int_distribution<uint64_t>(0, top - low - 1)(rng);
        Model::Apply(st[q], log[o][k - 1].delta);
        Model::Apply(shadow[q], log[o][k - 1].delta);
        ++stats->redelivered;
      }
    } else {
      collect(q, horizon(q));
      if (::testing::Test::HasFatalFailure()) return;
    }
    for (int r = 0; r < kReplicas; ++r) {
      ASSERT_EQ(Model::Read(st[r]), Model::Read(shadow[r])) << "replica " << r << " step " << step;
    }
  }
  // Heal: deliver everything, then every replica must read the same as every shadow.
  for (int q = 0; q < kReplicas; ++q) {
    for (int o = 0; o < kReplicas; ++o) {
      while (applied[q].Get(ids[o]) < log[o].size()) deliver(q, o);
    }
  }
  for (int q = 0; q < kReplicas; ++q) {
    ASSERT_EQ(Model::Read(st[q]), Model::Read(shadow[0])) << "replica " << q << " after healing";
    ASSERT_EQ(Model::Read(shadow[q]), Model::Read(shadow[0]));
  }
  // One repair round (everyone merges the join of all) and a collect with the final horizon:
  // collected replicas end up byte for byte equal.
  State all = st[0];
  for (int q = 1; q < kReplicas; ++q) Model::Merge(all, st[q]);
  for (int q = 0; q < kReplicas; ++q) {
    Model::Merge(st[q], all);
    collect(q, horizon(q));
    if (::testing::Test::HasFatalFailure()) return;
  }
  for (int q = 1; q < kReplicas; ++q) {
    ASSERT_EQ(Model::Encode(st[q]), Model::Encode(st[0])) << "replica " << q << " after the final collect";
  }
}

std::string Describe(const SimStats& s) {
  return std::to_string(s.collects) + " collects, " + std::to_string(s.removed) + " keys removed, " +
         std::to_string(s.dropped) + " pasts dropped, " + std::to_string(s.redelivered) + " re-deliveries";
}

template <typename Model>
SimStats RunMany(int cases, int steps, bool acks_only = false) {
  syncline::testing::SeededRng rng;
  SimStats stats;
  for (int i = 0; i < cases; ++i) {
    uint64_t seed = rng.engine()();
    RunHistory<Model>(seed, steps, acks_only, &stats);
    if (::testing::Test::HasFatalFailure()) {
      ADD_FAILURE() << "failing history seed " << seed << " (case " << i << ")";
      return stats;
    }
  }
  return stats;
}

TEST(CollectPropertyTest, LwwReadsStayUnchangedAndReplicasConverge) {
  SimStats s = RunMany<LwwModel>(400, 60);
  EXPECT_GT(s.removed, 50u) << Describe(s);
  EXPECT_GT(s.redelivered, 100u) << Describe(s);
}

TEST(CollectPropertyTest, MvReadsStayUnchangedAndReplicasConverge) {
  SimStats s = RunMany<MvModel>(400, 60);
  // The histories must exercise what they check.
  EXPECT_GT(s.removed, 50u) << Describe(s);
  EXPECT_GT(s.dropped, 50u) << Describe(s);
  EXPECT_GT(s.redelivered, 100u) << Describe(s);
}

TEST(CollectPropertyTest, SetReadsStayUnchangedAndRecordsAgree) {
  SimStats s = RunMany<SetModel>(300, 60);
  EXPECT_GT(s.removed, 50u) << Describe(s);
  EXPECT_GT(s.redelivered, 100u) << Describe(s);
}

TEST(CollectPropertyTest, MapReadsStayUnchangedAndReplicasConverge) {
  SimStats s = RunMany<MapModel>(400, 60);
  EXPECT_GT(s.removed, 50u) << Describe(s);
  EXPECT_GT(s.redelivered, 100u) << Describe(s);
}

TEST(CollectPropertyTest, DotStoresNeedOnlyEveryReplicaToHaveAppliedWhatTheHorizonCovers) {
  SimStats mv = RunMany<MvModel>(200, 60, /*acks_only=*/true);
  EXPECT_GT(mv.removed, 25u) << Describe(mv);
  SimStats set = RunMany<SetModel>(150, 60, /*acks_only=*/true);
  EXPECT_GT(set.removed, 25u) << Describe(set);
  SimStats map = RunMany<MapModel>(200, 60, /*acks_only=*/true);
  EXPECT_GT(map.removed, 25u) << Describe(map);
}

// ---- lww ----

TEST(LwwCollectTest, ATombstoneGoesOnlyOnceTheHorizonCoversIt) {
  LwwRegister a, b;
  LwwRegister w = a.Write(Ctx(A, 1, 100), "v");
  b.Join(w, nullptr);
  LwwRegister del = a.Write(Ctx(A, 2, 200), std::nullopt);
  b.Join(del, nullptr);
  LwwRegister kept = b;
  EXPECT_FALSE(b.Collect(VersionVector{{A, 1}}).remove_key);
  EXPECT_EQ(b, kept);
  EXPECT_TRUE(b.Collect(VersionVector{{A, 2}}).remove_key);
  EXPECT_EQ(b.Encode(), "");
  // A live value is never collected.
  LwwRegister live;
  live.Join(w, nullptr);
  EXPECT_FALSE(live.Collect(VersionVector{{A, 9}}).remove_key);
  EXPECT_EQ(live.value(), "v");
}

TEST(LwwCollectTest, AWriteAfterTheRemovalWinsWhereTheTombstoneIsStillKept) {
  LwwRegister a, b;
  b.Join(a.Write(Ctx(A, 1, 100), "old"), nullptr);
  b.Join(a.Write(Ctx(A, 2, 200), std::nullopt), nullptr);
  ASSERT_TRUE(a.Collect(VersionVector{{A, 2}, {B, 0}}).remove_key);
  // A writes again (its clock has passed the tombstone); B still keeps the tombstone.
  LwwRegister again = a.Write(Ctx(A, 3, 300), "new");
  b.Join(again, nullptr);
  EXPECT_EQ(a.value(), "new");
  EXPECT_EQ(b.value(), "new");
}

TEST(LwwCollectTest, TheResolverClearsACollectedState) {
  LwwRegister a;
  a.Write(Ctx(A, 1, 100), "v");
  a.Write(Ctx(A, 2, 200), std::nullopt);
  std::string state = a.Encode();
  LwwResolver resolver;
  auto kept = resolver.Collect(&state, VersionVector{{A, 1}});
  ASSERT_TRUE(kept.ok());
  EXPECT_FALSE(kept->remove_key);
  EXPECT_EQ(state, a.Encode());
  auto removed = resolver.Collect(&state, VersionVector{{A, 2}});
  ASSERT_TRUE(removed.ok());
  EXPECT_TRUE(removed->remove_key);
  EXPECT_EQ(state, "");
  std::string garbage = "\x01\x02";
  EXPECT_FALSE(resolver.Collect(&garbage, VersionVector{{A, 2}}).ok());
}

// ---- mv ----

TEST(MvCollectTest, ADeletedKeyGoesOnlyWhenTheDeleteAndEveryWriteAreStable) {
  MvRegister a, b;
  MvRegister wa = a.Write(Ctx(A, 1), a.Token(), "x");
  MvRegister wb = b.Write(Ctx(B, 1), b.Token(), "y");
  a.Join(wb, nullptr);
  b.Join(wa, nullptr);
  MvRegister del = b.Write(Ctx(B, 2), b.Token(), std::nullopt);
  a.Join(del, nullptr);
  ASSERT_TRUE(a.Values().empty());
  MvRegister before = a;
  EXPECT_FALSE(a.Collect(VersionVector{{A, 1}, {B, 1}}).remove_key) << "the delete is not stable";
  EXPECT_FALSE(a.Collect(VersionVector{{B, 2}}).remove_key) << "A's write is not stable";
  EXPECT_EQ(a.log_clock(), before.log_clock());
  EXPECT_EQ(a.Encode(), before.Encode());
  EXPECT_TRUE(a.Collect(VersionVector{{A, 1}, {B, 2}}).remove_key);
  EXPECT_EQ(a.Encode(), "");
}

TEST(MvCollectTest, AWriteAfterTheRemovalIsAcceptedWhereTheOldContextIsStillKept) {
  MvRegister a, b;
  MvRegister w1 = a.Write(Ctx(A, 1), a.Token(), "one");
  MvRegister w2 = a.Write(Ctx(A, 2), a.Token(), "two");
  MvRegister del = a.Write(Ctx(A, 3), a.Token(), std::nullopt);
  for (const MvRegister* d : {&w1, &w2, &del}) b.Join(*d, nullptr);
  ASSERT_TRUE(a.Collect(VersionVector{{A, 3}}).remove_key);
  // Without log counters as dots, A's next dot would be (A, 1), which B's context covers: B would
  // silently ignore the write, and a later repair from B would delete it at A too.
  MvRegister again = a.Write(Ctx(A, 7), a.Token(), "again");
  b.Join(again, nullptr);
  EXPECT_EQ(b.Values(), std::vector<std::string>{"again"});
  a.Join(b, nullptr);
  EXPECT_EQ(a.Values(), std::vector<std::string>{"again"});
  // Old deliveries (B still holds their dots in its context) change nothing at either side.
  for (const MvRegister* d : {&w1, &w2}) {
    b.Join(*d, nullptr);
    a.Join(*d, nullptr);
  }
  EXPECT_EQ(a.Values(), std::vector<std::string>{"again"});
  EXPECT_EQ(b.Values(), std::vector<std::string>{"again"});
}

TEST(MvCollectTest, StableSiblingsLoseTheirHistoryAndJoinsStayCommutative) {
  MvRegister a, b;
  MvRegister w = a.Write(Ctx(A, 1), a.Token(), "base");
  b.Join(w, nullptr);
  MvRegister x = a.Write(Ctx(A, 2), a.Token(), "x");  // past {A:1}
  MvRegister y = b.Write(Ctx(B, 1), b.Token(), "y");  // past {A:1}
  a.Join(y, nullptr);
  b.Join(x, nullptr);
  ASSERT_EQ(a, b);
  MvRegister collected = a;
  CollectResult r = collected.Collect(VersionVector{{A, 2}});  // only A's changes are stable
  EXPECT_EQ(r.dropped, 1u);
  EXPECT_LT(collected.Encode().size(), a.Encode().size());
  EXPECT_EQ(collected.Values(), a.Values());
  EXPECT_EQ(collected.Token(), a.Token());
  MvRegister ab = collected, ba = b;
  ab.Join(b, nullptr);
  ba.Join(collected, nullptr);
  EXPECT_EQ(ab.Encode(), ba.Encode());
  EXPECT_EQ(ab.Encode(), collected.Encode());
  // A horizon covering nothing drops nothing.
  MvRegister untouched = a;
  EXPECT_EQ(untouched.Collect(VersionVector{}).dropped, 0u);
  EXPECT_EQ(untouched, a);
}

TEST(MvCollectTest, AnUnloggedKeyIsNeverCollected) {
  MvRegister a;
  a.Write(WriteContext{A, HlcTimestamp{1, 0}, Dot{}}, a.Token(), "x");
  a.Write(Ctx(A, 2), a.Token(), std::nullopt);
  EXPECT_TRUE(a.unlogged());
  EXPECT_FALSE(a.Collect(VersionVector{{A, 100}}).remove_key);
  EXPECT_NE(a.Encode(), "");
}

// ---- set ----

TEST(SetCollectTest, AnEmptySetGoesOnlyWhenEveryAddAndRemoveIsStable) {
  OrSet a, b;
  OrSet add = a.Add(Ctx(A, 1), "x");
  b.ApplyDelta(add, nullptr);
  OrSet rm = b.Remove(Ctx(B, 1), "x");
  a.ApplyDelta(rm, nullptr);
  ASSERT_EQ(a.size(), 0u);
  OrSet before = a;
  EXPECT_FALSE(a.Collect(VersionVector{{A, 1}}).remove_key) << "the remove is not stable";
  EXPECT_FALSE(a.Collect(VersionVector{{B, 1}}).remove_key) << "the add is not stable";
  EXPECT_EQ(a, before);
  EXPECT_TRUE(a.Collect(VersionVector{{A, 1}, {B, 1}}).remove_key);
  EXPECT_EQ(a.Encode(), "");
  // A set that still holds an element keeps everything.
  OrSet live;
  live.Add(Ctx(A, 5), "y");
  OrSet live_before = live;
  EXPECT_FALSE(live.Collect(VersionVector{{A, 9}}).remove_key);
  EXPECT_EQ(live, live_before);
}

TEST(SetCollectTest, ARemovedElementDoesNotComeBackAndALaterAddIsAcceptedEverywhere) {
  OrSet a, b;
  OrSet add1 = a.Add(Ctx(A, 1), "x");
  OrSet add2 = a.Add(Ctx(A, 2), "x");
  OrSet rm = a.Remove(Ctx(A, 3), "x");
  for (const OrSet* d : {&add1, &add2, &rm}) b.ApplyDelta(*d, nullptr);
  ASSERT_TRUE(a.Collect(VersionVector{{A, 3}}).remove_key);
  // A late repair with B's (uncollected) state brings nothing back.
  a.Join(b, nullptr);
  EXPECT_FALSE(a.Contains("x"));
  ASSERT_TRUE(a.Collect(VersionVector{{A, 3}}).remove_key);
  // A adds again at log counter 8: its dot is (A, 8), above the (A, 1), (A, 2) that B's context
  // still holds, so B accepts it, and the old adds stay superseded on both sides.
  OrSet again = a.Add(Ctx(A, 8), "x");
  EXPECT_EQ(again.DotsOf("x"), (std::vector<Dot>{Dot{A, 8}}));
  b.ApplyDelta(again, nullptr);
  EXPECT_TRUE(b.Contains("x"));
  EXPECT_EQ(b.DotsOf("x"), (std::vector<Dot>{Dot{A, 8}}));
  EXPECT_EQ(b.context().cloud_size(), 0u) << "the claimed range keeps the context a plain vector";
  OrSet more = a.Add(Ctx(A, 9), "y");
  EXPECT_EQ(more.DotsOf("y"), (std::vector<Dot>{Dot{A, 9}}));
  b.ApplyDelta(more, nullptr);
  EXPECT_EQ(b.Elements(), (std::vector<std::string>{"x", "y"}));
}

TEST(SetCollectTest, AnUnloggedSetIsNeverCollected) {
  OrSet a;
  a.Add(A, "x");
  a.Remove(Ctx(A, 2), "x");
  EXPECT_TRUE(a.unlogged());
  EXPECT_FALSE(a.Collect(VersionVector{{A, 100}}).remove_key);
}

TEST(SetCollectTest, RecordsAreDeletedOnlyWhenTheSetIsEmptyAndStable) {
  MapRecords stored;
  OrSet writer;
  ASSERT_TRUE(ApplySetDelta(stored, writer.Add(Ctx(A, 1), "x"), nullptr).ok());
  ASSERT_TRUE(ApplySetDelta(stored, writer.Add(Ctx(A, 2), "y"), nullptr).ok());
  auto live = CollectSet(stored, VersionVector{{A, 2}});
  ASSERT_TRUE(live.ok());
  EXPECT_FALSE(live->remove_key);
  ASSERT_TRUE(ApplySetDelta(stored, writer.Remove(Ctx(A, 3), "x"), nullptr).ok());
  ASSERT_TRUE(ApplySetDelta(stored, writer.Remove(Ctx(A, 4), "y"), nullptr).ok());
  auto early = CollectSet(stored, VersionVector{{A, 3}});
  ASSERT_TRUE(early.ok());
  EXPECT_FALSE(early->remove_key);
  EXPECT_FALSE(stored.records.empty());
  auto done = CollectSet(stored, VersionVector{{A, 4}});
  ASSERT_TRUE(done.ok());
  EXPECT_TRUE(done->remove_key);
  EXPECT_TRUE(stored.records.empty());
}

TEST(SetCollectTest, AFirstAddAfterRemovalTouchesAFewRecordsInALargeSet) {
  // B's first add claims B's dots below its log counter; applying it must not visit them one
  // by one (there are a million), only the live ones, of which there are none.
  MapRecords stored;
  OrSet writer;
  for (int i = 0; i < 1000; ++i) {
    ASSERT_TRUE(ApplySetDelta(stored, writer.Add(Ctx(A, static_cast<uint64_t>(i) + 1), "m" + std::to_string(i)), nullptr).ok());
  }
  stored.ops = 0;
  OrSet first = writer.Add(Ctx(B, 1'000'000), "late");
  EXPECT_EQ(first.DotsOf("late"), (std::vector<Dot>{Dot{B, 1'000'000}}));
  ASSERT_TRUE(ApplySetDelta(stored, first, nullptr).ok());
  EXPECT_LE(stored.ops, 10u);
  auto loaded = LoadSet(stored);
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(*loaded, writer);
}

// ---- map ----

TEST(MapCollectTest, AnEmptyMapGoesOnlyWhenEveryChangeIsStable) {
  OrMap a, b;
  OrMap set = a.SetRegister({Field::Register("r")}, Ctx(A, 1), "v").value();
  OrMap inc = a.Increment({Field::Counter("n")}, Ctx(A, 2), 3).value();
  for (const OrMap* d : {&set, &inc}) b.ApplyDelta(*d, nullptr);
  OrMap rm1 = b.RemoveField({Field::Register("r")}, Ctx(B, 1)).value();
  OrMap rm2 = b.RemoveField({Field::Counter("n")}, Ctx(B, 2)).value();
  for (const OrMap* d : {&rm1, &rm2}) a.ApplyDelta(*d, nullptr);
  ASSERT_TRUE(a.Keys().empty());
  OrMap before = a;
  EXPECT_FALSE(a.Collect(VersionVector{{A, 2}, {B, 1}}).remove_key) << "a removal is not stable";
  EXPECT_EQ(a, before);
  EXPECT_TRUE(a.Collect(VersionVector{{A, 2}, {B, 2}}).remove_key);
  EXPECT_EQ(a.Encode(), "");
  // Late repairs bring nothing back, and a new write is accepted where the old context is kept.
  a.Join(b, nullptr);
  EXPECT_TRUE(a.Keys().empty());
  ASSERT_TRUE(a.Collect(VersionVector{{A, 2}, {B, 2}}).remove_key);
  OrMap again = a.Increment({Field::Counter("n")}, Ctx(A, 9), 1).value();
  b.ApplyDelta(again, nullptr);
  EXPECT_EQ(b.GetCounter({Field::Counter("n")}).value(), 1);
  EXPECT_EQ(b.context().cloud_size(), 0u);
  // A map with a field keeps everything.
  OrMap live_before = b;
  EXPECT_FALSE(b.Collect(VersionVector{{A, 9}, {B, 9}}).remove_key);
  EXPECT_EQ(b, live_before);
}

TEST(MapCollectTest, AnUnloggedMapIsNeverCollected) {
  OrMap a;
  ASSERT_TRUE(a.Increment({Field::Counter("n")}, A, 1).ok());
  ASSERT_TRUE(a.RemoveField({Field::Counter("n")}, Ctx(A, 2)).ok());
  EXPECT_TRUE(a.unlogged());
  EXPECT_FALSE(a.Collect(VersionVector{{A, 100}}).remove_key);
}

TEST(CollectResolverTest, ResolversCollectTheirEncodedStates) {
  OrSet s;
  s.Add(Ctx(A, 1), "x");
  s.Remove(Ctx(A, 2), "x");
  std::string state = s.Encode();
  SetResolver sets;
  auto r = sets.Collect(&state, VersionVector{{A, 2}});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->remove_key);
  EXPECT_EQ(state, "");
  MvRegister m;
  m.Write(Ctx(A, 1), m.Token(), "x");
  m.Write(Ctx(A, 2), m.Token(), std::nullopt);
  state = m.Encode();
  MvResolver mvs;
  r = mvs.Collect(&state, VersionVector{{A, 2}});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->remove_key);
  EXPECT_EQ(state, "");
  OrMap map;
  ASSERT_TRUE(map.AddElement({Field::Set("t")}, Ctx(A, 1), "x").ok());
  state = map.Encode();
  MapResolver maps;
  r = maps.Collect(&state, VersionVector{{A, 1}});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(r->remove_key);
  EXPECT_EQ(state, map.Encode());
}

class MaxValue final : public ValueResolver {
 public:
  std::string_view name() const override { return "max"; }
  std::string Resolve(std::string_view a, std::string_view b) const override { return std::string(std::max(a, b)); }
};

TEST(CollectResolverTest, ACustomResolverCollectsLikeMv) {
  auto resolver = MakeCustomResolver(std::make_shared<MaxValue>());
  MvRegister m;
  m.Write(Ctx(A, 1), m.Token(), "x");
  std::string state = m.Encode();
  auto live = resolver->Collect(&state, VersionVector{{A, 1}});
  ASSERT_TRUE(live.ok()) << live.status();
  EXPECT_FALSE(live->remove_key);
  EXPECT_EQ(resolver->Render(state).value(), "x");
  m.Write(Ctx(A, 2), m.Token(), std::nullopt);
  state = m.Encode();
  auto early = resolver->Collect(&state, VersionVector{{A, 1}});
  ASSERT_TRUE(early.ok());
  EXPECT_FALSE(early->remove_key);
  EXPECT_EQ(state, m.Encode());
  auto done = resolver->Collect(&state, VersionVector{{A, 2}});
  ASSERT_TRUE(done.ok());
  EXPECT_TRUE(done->remove_key);
  EXPECT_EQ(state, "");
}

// ---- SeenBy: whether a replica with a given context applied every change a state reflects ----

TEST(SeenByTest, LwwAsksForTheWinningChange) {
  LwwRegister a, b;
  a.Write(Ctx(A, 1, 100), "a");
  EXPECT_FALSE(LwwRegister().SeenBy(VersionVector{{A, 9}})) << "the bottom state reflects no change";
  EXPECT_FALSE(a.SeenBy(VersionVector{{B, 5}}));
  EXPECT_TRUE(a.SeenBy(VersionVector{{A, 1}}));
  // A concurrent write by B stamped later wins: now B's change is the one to have seen.
  b.Write(Ctx(B, 1, 200), "b");
  a.Join(b, nullptr);
  ASSERT_EQ(a.value(), "b");
  EXPECT_FALSE(a.SeenBy(VersionVector{{A, 1}}));
  EXPECT_TRUE(a.SeenBy(VersionVector{{A, 1}, {B, 1}}));
  LwwResolver resolver;
  EXPECT_TRUE(*resolver.SeenBy(a.Encode(), VersionVector{{B, 1}}));
  EXPECT_FALSE(resolver.SeenBy("\x01\x02", VersionVector{{B, 1}}).ok());
}

TEST(SeenByTest, MvAsksForEveryWriterAndTheDeletes) {
  MvRegister a, b;
  a.Write(Ctx(A, 1), a.Token(), "x");
  a.Join(b.Write(Ctx(B, 3), b.Token(), "y"), nullptr);
  ASSERT_EQ(a.Values().size(), 2u);
  EXPECT_FALSE(a.SeenBy(VersionVector{{A, 1}})) << "B's sibling is not covered";
  EXPECT_FALSE(a.SeenBy(VersionVector{{A, 1}, {B, 2}}));
  EXPECT_TRUE(a.SeenBy(VersionVector{{A, 1}, {B, 3}}));
  // A delete leaves only its log counter: it must be covered too.
  a.Write(Ctx(A, 4), a.Token(), std::nullopt);
  EXPECT_FALSE(a.SeenBy(VersionVector{{A, 1}, {B, 3}}));
  EXPECT_TRUE(a.SeenBy(VersionVector{{A, 4}, {B, 3}}));
  // A change made without a log dot can never be known to be seen.
  MvRegister unlogged;
  unlogged.Write(WriteContext{A, HlcTimestamp{1, 0}, Dot()}, unlogged.Token(), "z");
  EXPECT_FALSE(unlogged.SeenBy(VersionVector{{A, 100}}));
  MvResolver resolver;
  EXPECT_TRUE(*resolver.SeenBy(a.Encode(), VersionVector{{A, 4}, {B, 3}}));
  EXPECT_FALSE(*resolver.SeenBy("", VersionVector{{A, 4}, {B, 3}}));
}

TEST(SeenByTest, SetsAndMapsAskForEveryChange) {
  OrSet s;
  s.Add(Ctx(A, 2), "x");
  s.Add(Ctx(B, 5), "y");
  EXPECT_FALSE(s.SeenBy(VersionVector{{A, 2}, {B, 4}}));
  EXPECT_TRUE(s.SeenBy(VersionVector{{A, 2}, {B, 5}}));
  s.Remove(Ctx(A, 7), "x");
  EXPECT_FALSE(s.SeenBy(VersionVector{{A, 2}, {B, 5}})) << "the remove is a change too";
  EXPECT_TRUE(*SetResolver().SeenBy(s.Encode(), VersionVector{{A, 7}, {B, 5}}));

  OrMap m;
  ASSERT_TRUE(m.SetRegister({Field::Register("r")}, Ctx(A, 3), "v").ok());
  EXPECT_FALSE(m.SeenBy(VersionVector{{A, 2}}));
  EXPECT_TRUE(m.SeenBy(VersionVector{{A, 3}}));
  EXPECT_TRUE(*MapResolver().SeenBy(m.Encode(), VersionVector{{A, 3}}));
  OrMap unlogged;
  ASSERT_TRUE(unlogged.Increment({Field::Counter("n")}, A, 1).ok());
  EXPECT_FALSE(unlogged.SeenBy(VersionVector{{A, 100}}));
}

}  // namespace
}  // namespace syncline::conflict
