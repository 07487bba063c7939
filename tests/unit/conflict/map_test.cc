#include "syncline/conflict/map.h"

#include <gtest/gtest.h>

#include "support/seed.h"

namespace syncline::conflict {
namespace {

const ReplicaId A(1), B(2);
WriteContext At(ReplicaId r, uint64_t ms) { return WriteContext{r, HlcTimestamp{ms, 0}, Dot{}}; }

const FieldPath kName = {Field::Map("profile"), Field::Register("name")};
const FieldPath kVisits = {Field::Map("profile"), Field::Counter("visits")};
const FieldPath kProfile = {Field::Map("profile")};
const FieldPath kTags = {Field::Set("tags")};

TEST(MapTest, NestedFieldsOfEveryType) {
  OrMap m;
  ASSERT_TRUE(m.SetRegister(kName, At(A, 10), "ada").ok());
  ASSERT_TRUE(m.Increment(kVisits, A, 3).ok());
  ASSERT_TRUE(m.Increment(kVisits, A, -1).ok());
  ASSERT_TRUE(m.AddElement(kTags, A, "x").ok());
  EXPECT_EQ(m.GetRegister(kName).value(), "ada");
  EXPECT_EQ(m.GetCounter(kVisits).value(), 2);
  EXPECT_EQ(m.GetSet(kTags).value(), (std::vector<std::string>{"x"}));
  EXPECT_EQ(m.Keys(), (std::vector<std::string>{"m:profile", "s:tags"}));
  EXPECT_EQ(m.Render(), "{m:profile={c:visits=2, r:name=ada}, s:tags={x}}");
  EXPECT_FALSE(m.SetRegister({Field::Register("a"), Field::Register("b")}, At(A, 1), "v").ok());
  EXPECT_FALSE(m.Increment(kName, A, 1).ok());
}

TEST(MapTest, AnUpdateConcurrentWithARemoveKeepsTheFieldAddWins) {
  OrMap a, b;
  b.ApplyDelta(a.SetRegister(kName, At(A, 10), "ada").value(), nullptr);
  OrMap remove = a.RemoveField(kProfile).value();
  OrMap update = b.Increment(kVisits, B, 1).value();
  a.ApplyDelta(update, nullptr);
  b.ApplyDelta(remove, nullptr);
  EXPECT_EQ(a, b);
  // The observed register went away; the concurrent counter update keeps the map alive.
  EXPECT_TRUE(a.GetRegister(kName).status().IsNotFound());
  EXPECT_EQ(a.GetCounter(kVisits).value(), 1);
}

TEST(MapTest, ARemoveOnlyAffectsWhatItObserved) {
  OrMap a, b;
  OrMap add = a.AddElement(kTags, A, "x").value();
  b.ApplyDelta(add, nullptr);
  b.ApplyDelta(b.RemoveField(kTags).value(), nullptr);
  EXPECT_TRUE(b.Keys().empty());
  b.ApplyDelta(add, nullptr);  // a late duplicate of the observed add stays removed
  EXPECT_TRUE(b.Keys().empty());
}

TEST(MapTest, ConcurrentRegisterWritesReadTheHighestTimestampAndAreReported) {
  OrMap a, b;
  OrMap da = a.SetRegister(kName, At(A, 10), "early").value();
  OrMap db = b.SetRegister(kName, At(B, 20), "late").value();
  MergeOutcome outcome;
  a.ApplyDelta(db, &outcome);
  b.ApplyDelta(da, nullptr);
  EXPECT_EQ(a, b);
  EXPECT_EQ(a.GetRegister(kName).value(), "late");
  EXPECT_TRUE(outcome.concurrent);
  // A later write that saw both replaces both, whatever its clock says.
  a.ApplyDelta(a.SetRegister(kName, At(A, 1), "final").value(), nullptr);
  EXPECT_EQ(a.GetRegister(kName).value(), "final");
}

TEST(MapTest, ApplyDeltaEqualsJoinOverRandomHistories) {
  syncline::testing::SeededRng rng;
  auto mutate = [&](OrMap& m, ReplicaId r) -> OrMap {
    std::string e = "e" + std::to_string(rng.Uniform(0, 3));
    switch (rng.Uniform(0, 5)) {
      case 0: return m.SetRegister(kName, At(r, rng.Uniform(1, 100)), "v" + e).value();
      case 1: return m.Increment(kVisits, r, 1).value();
      case 2: return m.AddElement(kTags, r, e).value();
      case 3: return m.RemoveElement(kTags, e).value();
      case 4: return m.RemoveField(kProfile).value();
      default: return m.RemoveField(kTags).value();
    }
  };
  for (int trial = 0; trial < 300; ++trial) {
    OrMap replicas[2];
    std::vector<OrMap> deltas;
    for (int step = 0; step < 25; ++step) {
      int r = static_cast<int>(rng.Uniform(0, 1));
      deltas.push_back(mutate(replicas[r], ReplicaId(static_cast<uint64_t>(r + 1))));
      if (rng.Chance(0.5)) {
        const OrMap& d = deltas[rng.Uniform(0, deltas.size() - 1)];
        OrMap via_join = replicas[1 - r], via_delta = replicas[1 - r];
        via_join.Join(d, nullptr);
        via_delta.ApplyDelta(d, nullptr);
        ASSERT_EQ(via_join, via_delta) << "trial " << trial << " step " << step;
        replicas[1 - r] = via_delta;
      }
    }
    auto back = OrMap::Decode(replicas[0].Encode());
    ASSERT_TRUE(back.ok()) << back.status();
    ASSERT_EQ(*back, replicas[0]);
  }
}

TEST(MapTest, DeltasStaySmallInALargeNestedSet) {
  OrMap m;
  const FieldPath big = {Field::Map("index"), Field::Set("members")};
  size_t first = m.AddElement(big, A, "first").value().Encode().size();
  for (int i = 0; i < 100'000; ++i) ASSERT_TRUE(m.AddElement(big, A, "member-" + std::to_string(i)).ok());
  size_t later = m.AddElement(big, A, "member-x").value().Encode().size();
  size_t removal = m.RemoveElement(big, "member-5").value().Encode().size();
  EXPECT_LE(later, first + 16);
  EXPECT_LE(removal, first);
  EXPECT_EQ(m.GetSet(big).value().size(), 100'001u);
}

TEST(MapTest, DecodeRejectsGarbage) {
  syncline::testing::SeededRng rng;
  for (int i = 0; i < 3000; ++i) {
    auto d = OrMap::Decode(rng.Bytes(64));
    if (d.ok()) {
      EXPECT_EQ(OrMap::Decode(d->Encode()).value(), *d);
    }
  }
}

}  // namespace
}  // namespace syncline::conflict
