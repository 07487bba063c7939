// The anti-entropy item index kept in the store (item_index_table.h): every write path keeps it
// equal to an index computed from the data (random writes of every type, deletes, collection,
// emptied blocks), replicas that reach equal states by different paths hold equal sums, two
// stored indexes reconcile to exactly their difference, a changed secret rebuilds it at open,
// and a damaged entry is reported with its key.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <random>
#include <set>

#include "item_index_table.h"
#include "replica_node.h"

namespace syncline::replication {
namespace {

using Node = testing::ReplicaNode;
using testing::Apply;

// One random write of any type to one of `keys` keys.
void RandomWrite(Replica& r, std::mt19937_64& rng, int keys) {
  std::string key = "k" + std::to_string(rng() % keys);
  Status s;
  switch (rng() % 9) {
    case 0: case 1: s = r.WriteAndWait("reg", key, WriteOp::Put(std::string(rng() % 40, 'v'))).status(); break;
    case 2: s = r.WriteAndWait("reg", key, WriteOp::Delete()).status(); break;
    case 3: s = r.WriteAndWait("mv", key, WriteOp::Put("m" + std::to_string(rng() % 5))).status(); break;
    case 4: s = r.WriteAndWait("cnt", key, WriteOp::Add(static_cast<int64_t>(rng() % 7) - 3)).status(); break;
    case 5: s = r.WriteAndWait("tags", key, WriteOp::AddElement("e" + std::to_string(rng() % 4))).status(); break;
    case 6: s = r.WriteAndWait("tags", key, WriteOp::RemoveElement("e" + std::to_string(rng() % 4))).status(); break;
    case 7:
      s = r.WriteAndWait("doc", key, WriteOp::SetField({conflict::Field::Register("f")}, std::to_string(rng() % 9)))
              .status();
      break;
    default: s = r.WriteAndWait("doc", key, WriteOp::IncrementField({conflict::Field::Counter("n")}, 1)).status();
  }
  // Removing an absent element may be refused; anything else must succeed.
  if (!s.ok()) {
    ASSERT_EQ(s.code(), StatusCode::kNotFound) << s;
  }
}

TEST(ItemIndex, FollowsEveryWritePathAndAgreesWithARebuild) {
  const uint64_t seed = 20261123;
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  Node a(1), b(2);
  for (int i = 0; i < 3000; ++i) {
    ASSERT_NO_FATAL_FAILURE(RandomWrite(*a.replica, rng, 400));
    if (i % 750 == 749) {
      ASSERT_TRUE(a.replica->CheckItemIndex().ok()) << a.replica->CheckItemIndex();
    }
  }
  // Log shipping into another replica (one batch into an empty index), then a second batch
  // that touches many of the blocks the first one made.
  Apply(*b.replica, a.Log());
  ASSERT_TRUE(b.replica->CheckItemIndex().ok()) << b.replica->CheckItemIndex();
  for (int i = 0; i < 1000; ++i) ASSERT_NO_FATAL_FAILURE(RandomWrite(*a.replica, rng, 400));
  Apply(*b.replica, a.Log());
  ASSERT_TRUE(b.replica->CheckItemIndex().ok()) << b.replica->CheckItemIndex();
  EXPECT_EQ(a.IndexSum(), b.IndexSum());
  EXPECT_EQ(a.replica->Digest().value(), b.replica->Digest().value());

  // Delete every register, then collect with a horizon covering everything: the keys of whole
  // blocks go, and emptied blocks hand their range on.
  for (int k = 0; k < 400; ++k) ASSERT_TRUE(a.replica->WriteAndWait("reg", "k" + std::to_string(k), WriteOp::Delete()).ok());
  auto report = a.replica->CollectGarbage(a.replica->Context().vv(), "", 0);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_GE(report->removed, 300u);
  ASSERT_TRUE(a.replica->CheckItemIndex().ok()) << a.replica->CheckItemIndex();
  RangeSum kept = a.IndexSum();

  // A rebuild from the data gives the same sums.
  a.Reopen("another secret");
  EXPECT_TRUE(a.replica->index_rebuilt_at_open());
  EXPECT_NE(a.IndexSum(), kept);  // other key, other hashes
  a.Reopen("test-secret");
  EXPECT_TRUE(a.replica->index_rebuilt_at_open());
  EXPECT_EQ(a.replica->index_items_at_open(), kept.count);
  EXPECT_EQ(a.IndexSum(), kept);
  a.Reopen("test-secret");
  EXPECT_FALSE(a.replica->index_rebuilt_at_open());
  EXPECT_EQ(a.IndexSum(), kept);

  // An index of the previous layout (v3: an entry for every key, blob-type ones included) is
  // rebuilt at open.
  std::string current = a.store->Get(core::Table::kIndex, "a").value();
  ASSERT_EQ(current.rfind("item-index-v4:", 0), 0u) << current;
  std::string v3 = current;
  v3.replace(0, std::string("item-index-v4:").size(), "item-index-v3:");
  ASSERT_TRUE(a.store->Put(core::Table::kIndex, "a", v3).ok());
  a.Reopen("test-secret");
  EXPECT_TRUE(a.replica->index_rebuilt_at_open());
  EXPECT_EQ(a.IndexSum(), kept);
  EXPECT_EQ(a.store->Get(core::Table::kIndex, "a").value(), current);
  ASSERT_TRUE(a.replica->CheckItemIndex().ok()) << a.replica->CheckItemIndex();

  // An older one still (v2: its format entry under "m", above the items) is rebuilt at open,
  // and the old entry goes with it.
  std::string v2 = current;
  v2.replace(0, std::string("item-index-v4:").size(), "item-index-v2:");
  ASSERT_TRUE(a.store->Delete(core::Table::kIndex, "a").ok());
  ASSERT_TRUE(a.store->Put(core::Table::kIndex, "m", v2).ok());
  a.Reopen("test-secret");
  EXPECT_TRUE(a.replica->index_rebuilt_at_open());
  EXPECT_EQ(a.IndexSum(), kept);
  EXPECT_TRUE(a.store->Get(core::Table::kIndex, "m").status().IsNotFound());
  EXPECT_EQ(a.store->Get(core::Table::kIndex, "a").value(), current);
  ASSERT_TRUE(a.replica->CheckItemIndex().ok()) << a.replica->CheckItemIndex();
}

TEST(ItemIndex, EqualStatesReachedInDifferentOrdersHaveEqualSums) {
  for (uint64_t seed = 1; seed <= 5; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937_64 rng(seed);
    Node a(10 + seed), b(20 + seed);
    // Concurrent writes on both sides to the same few keys, then each side applies the other's.
    for (int i = 0; i < 300; ++i) {
      ASSERT_NO_FATAL_FAILURE(RandomWrite(*a.replica, rng, 20));
      ASSERT_NO_FATAL_FAILURE(RandomWrite(*b.replica, rng, 20));
    }
    std::vector<core::Change> from_a = a.Log(), from_b = b.Log();
    Apply(*a.replica, from_b);
    Apply(*b.replica, from_a);
    ASSERT_EQ(a.replica->Digest().value(), b.replica->Digest().value());
    EXPECT_EQ(a.IndexSum(), b.IndexSum());
    EXPECT_TRUE(a.replica->CheckItemIndex().ok()) << a.replica->CheckItemIndex();
    EXPECT_TRUE(b.replica->CheckItemIndex().ok()) << b.replica->CheckItemIndex();
  }
}

TEST(ItemIndex, TwoStoredIndexesReconcileToExactlyTheirDifference) {
  Node a(1), b(2);
  for (int k = 0; k < 2000; ++k) {
    ASSERT_TRUE(a.replica->WriteAndWait("reg", "key" + std::to_string(k), WriteOp::Put("same")).ok());
  }
  Apply(*b.replica, a.Log());
  std::set<std::string> differ;
  for (int k = 0; k < 2000; k += 97) {
    ASSERT_TRUE(a.replica->WriteAndWait("reg", "key" + std::to_string(k), WriteOp::Put("a")).ok());
    differ.insert(MakeItemKey("reg", "key" + std::to_string(k)).value());
  }
  for (int k = 0; k < 15; ++k) {
    ASSERT_TRUE(b.replica->WriteAndWait("tags", "only-b" + std::to_string(k), WriteOp::AddElement("x")).ok());
    differ.insert(MakeItemKey("tags", "only-b" + std::to_string(k)).value());
  }
  AntiEntropyKey session = DeriveSessionKey(a.replica->index_key(), "nonce-a", "nonce-b");
  Status run = a.replica->WithItemIndex([&](const ItemIndex& ia) -> Status {
    return b.replica->WithItemIndex([&](const ItemIndex& ib) -> Status {
      SYNCLINE_ASSIGN_OR_RETURN(auto ra, Reconciler::Create(&ia, session));
      SYNCLINE_ASSIGN_OR_RETURN(auto rb, Reconciler::Create(&ib, session));
      SYNCLINE_ASSIGN_OR_RETURN(std::string msg, ra->Initiate());
      std::optional<std::string> next = std::move(msg);
      bool to_b = true;
      int rounds = 0;
      while (next.has_value() && ++rounds < 50) {
        SYNCLINE_ASSIGN_OR_RETURN(next, (to_b ? rb : ra)->HandleMessage(*next));
        to_b = !to_b;
      }
      std::vector<std::string> need_a = ra->need(), need_b = rb->need();
      std::set<std::string> found(need_a.begin(), need_a.end());
      found.insert(need_b.begin(), need_b.end());
      EXPECT_EQ(found, differ);
      EXPECT_TRUE(ra->done() && rb->done());
      return Status::Ok();
    });
  });
  ASSERT_TRUE(run.ok()) << run;
}

// The blocks of the stored index: the item count of each, in key order.
std::vector<uint64_t> BlockCounts(testing::ReplicaNode& n) {
  std::vector<uint64_t> counts;
  Status s = n.store->Read([&](core::ReadView& view) -> Status {
    internal::StoredItemIndex index(view, n.replica->index_key());
    SYNCLINE_RETURN_IF_ERROR(index.Load());
    SYNCLINE_ASSIGN_OR_RETURN(uint64_t size, index.Size());
    for (size_t b = 0; b < index.blocks(); ++b) {
      uint64_t end = b + 1 < index.blocks() ? index.block_start(b + 1) : size;
      counts.push_back(end - index.block_start(b));
    }
    return Status::Ok();
  });
  EXPECT_TRUE(s.ok()) << s;
  return counts;
}

TEST(ItemIndex, BlocksThinnedByCollectionJoinTheirNeighbours) {
  Node a(1);
  constexpr int kKeys = 4000;
  auto key = [](int i) {
    char buf[16];
    std::snprintf(buf, sizeof(buf), "k%05d", i);
    return std::string(buf);
  };
  for (int i = 0; i < kKeys; ++i) ASSERT_TRUE(a.replica->WriteAndWait("reg", key(i), WriteOp::Put("v")).ok());
  const size_t blocks_before = BlockCounts(a).size();
  ASSERT_GE(blocks_before, static_cast<size_t>(kKeys / internal::kMaxBlockItems));
  // Nine keys in ten are deleted and collected, evenly: every block thins out to about a tenth.
  for (int i = 0; i < kKeys; ++i) {
    if (i % 10 == 0) continue;
    ASSERT_TRUE(a.replica->WriteAndWait("reg", key(i), WriteOp::Delete()).ok());
  }
  auto report = a.replica->CollectGarbage(a.replica->Context().vv(), "", 0);
  ASSERT_TRUE(report.ok()) << report.status();
  ASSERT_EQ(report->removed, static_cast<uint64_t>(kKeys - kKeys / 10));
  ASSERT_TRUE(a.replica->CheckItemIndex().ok()) << a.replica->CheckItemIndex();
  std::vector<uint64_t> counts = BlockCounts(a);
  // The 400 items left sit in few blocks (the documented policy: below 32 items a block joins a
  // neighbour when together they hold at most 128), none thin unless its neighbours are full.
  constexpr uint64_t kThin = 32, kJoined = 128;
  EXPECT_LE(counts.size(), static_cast<size_t>(kKeys / 10 / kThin + 1)) << "from " << blocks_before;
  for (size_t b = 0; b + 1 < counts.size(); ++b) {
    EXPECT_TRUE(counts[b] >= kThin || counts[b] + counts[b + 1] > kJoined)
        << "block " << b << " holds " << counts[b] << ", the next " << counts[b + 1];
  }
  // Writes into joined blocks grow and cut them as before, and the sums stay those of the data.
  for (int i = 0; i < kKeys; i += 2) ASSERT_TRUE(a.replica->WriteAndWait("tags", key(i), WriteOp::AddElement("x")).ok());
  ASSERT_TRUE(a.replica->CheckItemIndex().ok()) << a.replica->CheckItemIndex();
  for (uint64_t c : BlockCounts(a)) EXPECT_LE(c, internal::kMaxBlockItems);
}

TEST(ItemIndex, OnlyKeysOfTheRecordLayoutKeepAnEntry) {
  Node a(1);
  for (const char* k : {"r1", "r2", "r3"}) ASSERT_TRUE(a.replica->WriteAndWait("reg", k, WriteOp::Put("v")).ok());
  ASSERT_TRUE(a.replica->WriteAndWait("cnt", "c", WriteOp::Add(1)).ok());
  for (const char* k : {"s1", "s2"}) ASSERT_TRUE(a.replica->WriteAndWait("tags", k, WriteOp::AddElement("x")).ok());
  std::vector<std::string> entries;
  ASSERT_TRUE(a.store->Read([&](core::ReadView& v) {
                       return v.Scan(core::Table::kIndex, "i", "j", [&](std::string_view k, std::string_view) {
                         entries.emplace_back(k.substr(1));
                         return true;
                       });
                     }).ok());
  EXPECT_EQ(entries, (std::vector<std::string>{MakeItemKey("tags", "s1").value(), MakeItemKey("tags", "s2").value()}));
  // Every key is summed all the same.
  EXPECT_EQ(a.IndexSum().count, 6u);
  ASSERT_TRUE(a.replica->CheckItemIndex().ok()) << a.replica->CheckItemIndex();
}

TEST(ItemIndex, ADamagedEntryIsReportedWithItsKey) {
  Node a(1);
  ASSERT_TRUE(a.replica->WriteAndWait("reg", "victim", WriteOp::Put("v")).ok());
  ASSERT_TRUE(a.replica->WriteAndWait("tags", "victim", WriteOp::AddElement("x")).ok());
  ASSERT_TRUE(a.replica->CheckItemIndex().ok());
  // A register keeps no entry (its one record is its digest): one found there is reported.
  std::string reg_entry = "i" + MakeItemKey("reg", "victim").value();
  ASSERT_TRUE(a.store->Put(core::Table::kIndex, reg_entry, std::string(40, 'x')).ok());
  Status check = a.replica->CheckItemIndex();
  EXPECT_EQ(check.code(), StatusCode::kCorruption) << check;
  EXPECT_NE(check.message().find("reg"), std::string::npos) << check;
  EXPECT_NE(check.message().find("victim"), std::string::npos) << check;
  ASSERT_TRUE(a.store->Delete(core::Table::kIndex, reg_entry).ok());
  ASSERT_TRUE(a.replica->CheckItemIndex().ok()) << a.replica->CheckItemIndex();
  // A damaged set entry is reported, and a write reads it: the write fails naming the key, and
  // the data is left as it was.
  ASSERT_TRUE(a.store->Put(core::Table::kIndex, "i" + MakeItemKey("tags", "victim").value(), "short").ok());
  check = a.replica->CheckItemIndex();
  EXPECT_EQ(check.code(), StatusCode::kCorruption) << check;
  EXPECT_NE(check.message().find("victim"), std::string::npos) << check;
  auto w = a.replica->WriteAndWait("tags", "victim", WriteOp::AddElement("y"));
  EXPECT_EQ(w.status().code(), StatusCode::kCorruption) << w.status();
  EXPECT_NE(w.status().message().find("victim"), std::string::npos) << w.status();
  EXPECT_EQ(a.replica->Read("tags", "victim")->values, std::vector<std::string>{"x"});
  // A register's write does not depend on any entry.
  ASSERT_TRUE(a.replica->WriteAndWait("reg", "victim", WriteOp::Put("w")).ok());
  check = a.replica->CheckItemIndex();
  EXPECT_EQ(check.code(), StatusCode::kCorruption) << check;  // the set's entry is still damaged
  EXPECT_NE(check.message().find("tags"), std::string::npos) << check;
  // Reopening with another secret rebuilds it from the data.
  a.Reopen("other");
  EXPECT_TRUE(a.replica->CheckItemIndex().ok()) << a.replica->CheckItemIndex();
}

}  // namespace
}  // namespace syncline::replication
