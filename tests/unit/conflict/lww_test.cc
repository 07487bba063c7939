#include "syncline/conflict/lww.h"

#include <gtest/gtest.h>

#include "support/seed.h"

namespace syncline::conflict {
namespace {

const ReplicaId A(1), B(2), C(3);

WriteContext At(ReplicaId r, uint64_t millis, uint64_t log_counter = 1) {
  return WriteContext{r, HlcTimestamp{millis, 0}, Dot{r, log_counter}};
}

TEST(LwwTest, ALaterWriteThatSawTheEarlierOneWinsWhateverTheClocks) {
  LwwRegister a, b;
  LwwRegister d1 = a.Write(At(A, 5000), "first");
  b.Join(d1, nullptr);
  // B's wall clock is far behind A's, but B has seen "first": its write must win.
  LwwRegister d2 = b.Write(At(B, 10), "second");
  MergeOutcome outcome;
  a.Join(d2, &outcome);
  EXPECT_EQ(a.value(), "second");
  EXPECT_FALSE(outcome.concurrent);
  EXPECT_GT(d2.timestamp(), d1.timestamp());
}

TEST(LwwTest, ConcurrentWritesAreDecidedByTimestampThenReplicaAndReported) {
  LwwRegister a, b;
  LwwRegister da = a.Write(At(A, 100), "from-a");
  LwwRegister db = b.Write(At(B, 200), "from-b");
  MergeOutcome outcome;
  a.Join(db, &outcome);
  b.Join(da, nullptr);
  EXPECT_EQ(a.value(), "from-b");
  EXPECT_EQ(a, b);
  EXPECT_TRUE(outcome.concurrent);
  EXPECT_NE(outcome.description.find("won over concurrent"), std::string::npos) << outcome.description;
  // Equal timestamps: the higher replica id wins, on both sides.
  LwwRegister x, y;
  LwwRegister dx = x.Write(At(A, 300), "x");
  LwwRegister dy = y.Write(At(C, 300), "y");
  x.Join(dy, nullptr);
  y.Join(dx, nullptr);
  EXPECT_EQ(x.value(), "y");
  EXPECT_EQ(x, y);
}

TEST(LwwTest, DeletesAreTombstonesCollectedOnlyBelowTheHorizon) {
  LwwRegister a, b;
  b.Join(a.Write(At(A, 100, 1), "v"), nullptr);
  LwwRegister del = a.Write(At(A, 200, 2), std::nullopt);
  EXPECT_TRUE(a.deleted());
  EXPECT_EQ(a.value(), std::nullopt);
  // A late copy of the old write cannot bring the value back.
  LwwRegister old;
  old.Join(b, nullptr);
  a.Join(old, nullptr);
  EXPECT_EQ(a.value(), std::nullopt);
  EXPECT_FALSE(a.Collectable(VersionVector{{A, 1}}));
  EXPECT_TRUE(a.Collectable(VersionVector{{A, 2}}));
  EXPECT_FALSE(b.Collectable(VersionVector{{A, 9}}));  // a live value is never collected
}

TEST(LwwTest, MetadataStaysBoundedAfterAMillionWritesByThreeReplicas) {
  LwwRegister r[3];
  const ReplicaId ids[3] = {A, B, C};
  for (int i = 0; i < 1'000'000; ++i) {
    int w = i % 3;
    LwwRegister d = r[w].Write(At(ids[w], 1000 + static_cast<uint64_t>(i) / 7, static_cast<uint64_t>(i) + 1), "value");
    r[(w + 1) % 3].Join(d, nullptr);
    r[(w + 2) % 3].Join(d, nullptr);
  }
  EXPECT_EQ(r[0], r[1]);
  EXPECT_EQ(r[1], r[2]);
  size_t metadata = r[0].Encode().size() - std::string("value").size();
  EXPECT_LT(metadata, 100u) << "bytes of metadata: " << metadata;
}

TEST(LwwTest, EncodingRoundTripsAndRejectsGarbage) {
  LwwRegister a;
  a.Write(At(A, 100), "hello");
  auto back = LwwRegister::Decode(a.Encode());
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, a);
  EXPECT_TRUE(LwwRegister::Decode("").ok());
  syncline::testing::SeededRng rng;
  int rejected = 0;
  for (int i = 0; i < 3000; ++i) rejected += !LwwRegister::Decode(rng.Bytes(48)).ok();
  EXPECT_GT(rejected, 2900);
}

}  // namespace
}  // namespace syncline::conflict
