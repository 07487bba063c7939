#include "syncline/conflict/mv.h"

#include <gtest/gtest.h>

namespace syncline::conflict {
namespace {

const ReplicaId A(1), B(2), C(3);
WriteContext At(ReplicaId r) { return WriteContext{r, HlcTimestamp{1000, 0}, Dot{}}; }

using Values = std::vector<std::string>;

TEST(MvTest, ConcurrentWritesBecomeSiblingsAndATokenResolvesThem) {
  MvRegister a, b;
  MvRegister da = a.Write(At(A), a.Token(), "alice");
  MvRegister db = b.Write(At(B), b.Token(), "bob");
  MergeOutcome outcome;
  a.Join(db, &outcome);
  b.Join(da, nullptr);
  EXPECT_EQ(a.Values(), (Values{"alice", "bob"}));
  EXPECT_EQ(a, b);
  EXPECT_TRUE(outcome.concurrent);
  MvRegister fix = a.Write(At(A), a.Token(), "alice+bob");
  b.Join(fix, nullptr);
  EXPECT_EQ(b.Values(), (Values{"alice+bob"}));
}

TEST(MvTest, AWriteWithAStaleTokenKeepsWhatItDidNotSee) {
  MvRegister a;
  VersionVector stale = a.Token();
  a.Write(At(A), a.Token(), "one");
  a.Write(At(B), stale, "two");  // did not see "one"
  EXPECT_EQ(a.Values(), (Values{"one", "two"}));
}

TEST(MvTest, DeletedVersionsNeverComeBackWithALateDelivery) {
  MvRegister a, b;
  MvRegister w = a.Write(At(A), a.Token(), "v");
  MvRegister del = a.Write(At(A), a.Token(), std::nullopt);
  EXPECT_TRUE(a.Values().empty());
  b.Join(del, nullptr);
  b.Join(w, nullptr);  // the write arrives after the delete that saw it
  EXPECT_TRUE(b.Values().empty());
  // A new write by the same replica after the delete gets a new dot.
  MvRegister again = a.Write(At(A), a.Token(), "again");
  b.Join(again, nullptr);
  EXPECT_EQ(b.Values(), (Values{"again"}));
}

TEST(MvTest, MetadataStaysBoundedAfterAMillionWritesByThreeReplicas) {
  MvRegister r[3];
  const ReplicaId ids[3] = {A, B, C};
  for (int i = 0; i < 1'000'000; ++i) {
    int w = i % 3;
    MvRegister d = r[w].Write(At(ids[w]), r[w].Token(), "value");
    r[(w + 1) % 3].Join(d, nullptr);
    r[(w + 2) % 3].Join(d, nullptr);
  }
  EXPECT_EQ(r[0], r[2]);
  ASSERT_EQ(r[0].Values().size(), 1u);
  size_t metadata = r[0].Encode().size() - std::string("value").size();
  EXPECT_LT(metadata, 100u) << "bytes of metadata: " << metadata;
}

TEST(MvTest, DecodeRejectsObsoleteOrForeignSiblings) {
  MvRegister a;
  a.Write(At(A), a.Token(), "x");
  std::string ok = a.Encode();
  ASSERT_TRUE(MvRegister::Decode(ok).ok());
  for (size_t cut = 1; cut < ok.size(); ++cut) {
    auto r = MvRegister::Decode(ok.substr(0, cut));
    if (r.ok()) {
      EXPECT_NE(r->Encode(), ok);
    }
  }
}

}  // namespace
}  // namespace syncline::conflict
