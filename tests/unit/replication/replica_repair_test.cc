// Replica's anti-entropy support on the in-memory store: the per-session item index agrees with
// the data (equal states, equal fingerprints), ReadStates and MergeStates repair a difference
// through the resolvers for every type, a delete is not undone, and bad input is refused with
// nothing merged.
#include <gtest/gtest.h>

#include "syncline/core/memory_store.h"
#include "syncline/replication/replica.h"

namespace syncline::replication {
namespace {

const AntiEntropyKey kIndexKey = DeriveIndexKey("test-secret");

struct Node {
  ManualClock clock{1'800'000'000'000};
  std::unique_ptr<core::Store> store;
  std::unique_ptr<Replica> replica;

  explicit Node(uint64_t seed) {
    core::MemoryStoreOptions so;
    so.seed = seed;
    store = core::OpenMemoryStore(so);
    ReplicaOptions ro;
    ro.clock = &clock;
    auto r = Replica::Open(store.get(), ro);
    EXPECT_TRUE(r.ok()) << r.status();
    replica = std::move(r).value();
    for (auto [name, resolver] : {std::pair{"reg", "lww"}, {"mv", "mv"}, {"cnt", "counter"}, {"tags", "set"},
                                  {"doc", "map"}}) {
      EXPECT_TRUE(replica->CreateCollection(name, resolver).ok());
    }
  }
  std::vector<core::Change> Log() {
    std::vector<core::Change> out;
    DotContext ctx = replica->Context();
    for (const auto& e : ctx.vv().entries()) {
      EXPECT_TRUE(replica->ReadLog(e.first, 1, 1'000'000, 1 << 30, &out).ok());
    }
    return out;
  }
  RangeSum Fingerprint() {
    MemoryItemIndex index(kIndexKey);
    Status s = replica->BuildItemIndex(1000, &index);
    EXPECT_TRUE(s.ok()) << s;
    return index.RangeFingerprint("", std::nullopt).value();
  }
  Result<uint64_t> Merge(SnapshotChunkData chunk) {
    Result<uint64_t> out = Status::Internal("not called");
    replica->MergeStates("peer", std::move(chunk), [&](Result<uint64_t> r) { out = std::move(r); });
    return out;
  }
  // Reads `items` here and merges them into `to`.
  void RepairInto(Node& to, const std::vector<std::string>& items) {
    SnapshotChunkData chunk;
    std::vector<std::string> missing;
    ASSERT_TRUE(replica->ReadStates(items, 1 << 20, &chunk, &missing).ok());
    ASSERT_TRUE(missing.empty());
    auto merged = to.Merge(std::move(chunk));
    ASSERT_TRUE(merged.ok()) << merged.status();
    EXPECT_EQ(*merged, items.size());
  }
};

std::string Item(std::string_view coll, std::string_view key) { return MakeItemKey(coll, key).value(); }

void Apply(Replica& r, std::vector<core::Change> changes) {
  Status out = Status::Internal("not called");
  r.ApplyChanges(std::move(changes), [&](Result<ApplyStats> s) { out = s.status(); });
  ASSERT_TRUE(out.ok()) << out;
}

TEST(ReplicaRepair, IndexFollowsTheDataAndStatesRepairEveryType) {
  Node a(1), b(2);
  ASSERT_TRUE(a.replica->WriteAndWait("reg", "k", WriteOp::Put("v")).ok());
  ASSERT_TRUE(a.replica->WriteAndWait("cnt", "c", WriteOp::Add(3)).ok());
  Apply(*b.replica, a.Log());
  EXPECT_EQ(a.Fingerprint(), b.Fingerprint());
  EXPECT_EQ(a.Fingerprint().count, 2u);

  // Concurrent changes of every type, on both sides, that neither log ships to the other.
  ASSERT_TRUE(a.replica->WriteAndWait("mv", std::string("m\0x", 3), WriteOp::Put("a")).ok());
  ASSERT_TRUE(b.replica->WriteAndWait("mv", std::string("m\0x", 3), WriteOp::Put("b")).ok());
  ASSERT_TRUE(a.replica->WriteAndWait("cnt", "c", WriteOp::Add(10)).ok());
  ASSERT_TRUE(b.replica->WriteAndWait("cnt", "c", WriteOp::Add(-1)).ok());
  ASSERT_TRUE(a.replica->WriteAndWait("tags", "t", WriteOp::AddElement("x")).ok());
  ASSERT_TRUE(b.replica->WriteAndWait("tags", "t", WriteOp::AddElement("y")).ok());
  ASSERT_TRUE(a.replica->WriteAndWait("doc", "d", WriteOp::SetField({conflict::Field::Register("f")}, "1")).ok());
  ASSERT_TRUE(b.replica->WriteAndWait("doc", "d", WriteOp::IncrementField({conflict::Field::Counter("n")}, 2)).ok());
  EXPECT_NE(a.Fingerprint(), b.Fingerprint());

  std::vector<std::string> items = {Item("cnt", "c"), Item("doc", "d"), Item("mv", std::string("m\0x", 3)),
                                    Item("tags", "t")};
  a.RepairInto(b, items);
  b.RepairInto(a, items);
  EXPECT_EQ(a.replica->Digest().value(), b.replica->Digest().value());
  EXPECT_EQ(a.Fingerprint(), b.Fingerprint());
  EXPECT_EQ(a.replica->Read("cnt", "c")->counter, 12);
  EXPECT_EQ(a.replica->Read("mv", std::string("m\0x", 3))->values.size(), 2u);
  EXPECT_EQ(b.replica->Read("tags", "t")->values, (std::vector<std::string>{"x", "y"}));
  // Merging again changes nothing (joins are idempotent).
  std::string before = a.replica->Digest().value();
  b.RepairInto(a, items);
  EXPECT_EQ(a.replica->Digest().value(), before);
  // The node context is untouched: the repaired changes are not claimed as delivered by the log.
  EXPECT_EQ(a.replica->Context().vv().Get(b.replica->id()), 0u);
}

TEST(ReplicaRepair, ADeleteIsNotUndoneWhicheverWayTheStatesGo) {
  Node a(1), b(2);
  ASSERT_TRUE(a.replica->WriteAndWait("reg", "k", WriteOp::Put("v")).ok());
  Apply(*b.replica, a.Log());
  ASSERT_TRUE(a.replica->WriteAndWait("reg", "k", WriteOp::Delete()).ok());
  b.RepairInto(a, {Item("reg", "k")});  // b's older live value into a
  EXPECT_FALSE(a.replica->Read("reg", "k")->found);
  a.RepairInto(b, {Item("reg", "k")});  // a's tombstone into b
  EXPECT_FALSE(b.replica->Read("reg", "k")->found);
  EXPECT_EQ(a.replica->Digest().value(), b.replica->Digest().value());
}

TEST(ReplicaRepair, BadInputIsRefusedAndNothingIsMerged) {
  Node a(1);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(a.replica->WriteAndWait("reg", "k" + std::to_string(i), WriteOp::Put("v")).ok());
  MemoryItemIndex index(kIndexKey);
  Status bound = a.replica->BuildItemIndex(2, &index);
  EXPECT_EQ(bound.code(), StatusCode::kResourceExhausted) << bound;
  EXPECT_NE(bound.message().find("max_index_keys"), std::string::npos) << bound;

  SnapshotChunkData chunk;
  std::vector<std::string> missing;
  ASSERT_TRUE(a.replica->ReadStates({Item("reg", "k0"), Item("reg", "nope"), Item("other", "k")}, 1 << 20, &chunk,
                                    &missing)
                  .ok());
  EXPECT_EQ(chunk.entries.size(), 1u);
  EXPECT_EQ(missing, (std::vector<std::string>{Item("reg", "nope"), Item("other", "k")}));
  EXPECT_EQ(a.replica->ReadStates({"no NUL here"}, 1 << 20, &chunk, &missing).code(), StatusCode::kCorruption);

  std::string digest = a.replica->Digest().value();
  SnapshotChunkData other_resolver;
  other_resolver.collections["reg"] = "mv";
  other_resolver.entries.push_back(SnapshotEntry{"reg", "k0", "x"});
  EXPECT_EQ(a.Merge(other_resolver).status().code(), StatusCode::kFailedPrecondition);
  SnapshotChunkData garbage;
  garbage.collections["reg"] = "lww";
  garbage.entries.push_back(SnapshotEntry{"reg", "new", std::string("\xff\xff\xff", 3)});
  auto bad = a.Merge(garbage);
  EXPECT_EQ(bad.status().code(), StatusCode::kCorruption) << bad.status();
  SnapshotChunkData undescribed;
  undescribed.entries.push_back(SnapshotEntry{"reg", "new", "x"});
  EXPECT_EQ(a.Merge(undescribed).status().code(), StatusCode::kCorruption);
  EXPECT_EQ(a.replica->Digest().value(), digest);
  EXPECT_FALSE(a.replica->Read("reg", "new")->found);
}

}  // namespace
}  // namespace syncline::replication
