// replication::Inspect over in-memory stores: per-collection counts, tombstones and which of
// them the stored stability horizon makes collectable, the sibling histogram, journal counts,
// custom resolvers the inspecting registry lacks, that inspecting writes nothing, and the check
// of the anti-entropy item index given the cluster secret.
#include "syncline/replication/inspect.h"

#include <gtest/gtest.h>

#include "item_index_table.h"
#include "state_access.h"
#include "syncline/replication/anti_entropy.h"
#include "syncline/core/memory_store.h"
#include "syncline/replication/replica.h"

namespace syncline::replication {
namespace {

struct TestNode {
  ManualClock clock{1'800'000'000'000};
  std::string secret;
  std::unique_ptr<core::Store> store;
  std::unique_ptr<Replica> replica;

  explicit TestNode(uint64_t seed, std::string index_secret = "") : secret(std::move(index_secret)) {
    core::MemoryStoreOptions so;
    so.seed = seed;
    store = core::OpenMemoryStore(so);
    Reopen(false);
    for (auto [name, resolver] : {std::pair{"reg", "lww"}, {"mv", "mv"}, {"cnt", "counter"}, {"tags", "set"}}) {
      EXPECT_TRUE(replica->CreateCollection(name, resolver).ok());
    }
  }
  // Opens the replica (again) on the store; `rebuild_index` as ReplicaOptions::rebuild_item_index.
  void Reopen(bool rebuild_index) {
    replica.reset();
    ReplicaOptions ro;
    ro.clock = &clock;
    ro.index_secret = secret;
    ro.rebuild_item_index = rebuild_index;
    auto r = Replica::Open(store.get(), ro);
    EXPECT_TRUE(r.ok()) << r.status();
    replica = std::move(r).value();
  }
  void Write(const std::string& coll, const std::string& key, WriteOp op) {
    auto r = replica->WriteAndWait(coll, key, std::move(op));
    ASSERT_TRUE(r.ok()) << r.status();
  }
  // Takes in every change `from` made itself.
  void ApplyFrom(TestNode& from) {
    std::vector<core::Change> changes;
    ASSERT_TRUE(from.replica->ReadLog(from.replica->id(), 1, 1000, 1 << 20, &changes).ok());
    Status st = Status::Internal("not called");
    replica->ApplyChanges(std::move(changes), [&](Result<ApplyStats> s) { st = s.status(); });
    ASSERT_TRUE(st.ok()) << st;
  }
  InspectReport Inspect() {
    auto r = replication::Inspect(store.get());
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? std::move(r).value() : InspectReport();
  }
};

TEST(InspectTest, TombstonesAreCollectableOnlyOnceTheStoredHorizonCoversThem) {
  TestNode a(1);
  a.Write("reg", "gone", WriteOp::Put("v"));
  a.Write("reg", "gone", WriteOp::Delete());
  a.Write("reg", "kept", WriteOp::Put("v"));
  a.Write("mv", "m", WriteOp::Put("v"));
  auto m = a.replica->Read("mv", "m");
  ASSERT_TRUE(m.ok());
  a.Write("mv", "m", WriteOp::Delete(m->token));
  a.Write("tags", "t", WriteOp::AddElement("x"));
  a.Write("tags", "t", WriteOp::RemoveElement("x"));
  a.Write("cnt", "c", WriteOp::Add(3));

  InspectReport r = a.Inspect();
  EXPECT_FALSE(r.horizon.has_value());
  EXPECT_EQ(r.collections["reg"].keys, 2u);
  EXPECT_EQ(r.collections["reg"].live, 1u);
  EXPECT_EQ(r.collections["reg"].tombstones, 1u);
  EXPECT_EQ(r.collections["mv"].tombstones, 1u);
  EXPECT_EQ(r.collections["tags"].tombstones, 1u);
  EXPECT_EQ(r.collections["cnt"].live, 1u);
  EXPECT_EQ(r.collections["cnt"].tombstones, 0u);
  for (const auto& [name, c] : r.collections) EXPECT_EQ(c.collectable, 0u) << name;
  ASSERT_EQ(r.log.origins.size(), 1u);
  EXPECT_EQ(r.log.origins[0].low, 1u);
  EXPECT_EQ(r.log.origins[0].high, 8u);

  // A peer that acknowledged only the first change: the lww delete (change 2) is not stable.
  DotContext early(VersionVector{{a.replica->id(), 1}});
  ASSERT_TRUE(a.store->Put(core::Table::kPeers, "ack/b", early.Encode()).ok());
  r = a.Inspect();
  ASSERT_TRUE(r.horizon.has_value());
  EXPECT_EQ(r.collections["reg"].collectable, 0u);

  // Once every peer acknowledged everything, each tombstone could go.
  ASSERT_TRUE(a.store->Put(core::Table::kPeers, "ack/b", a.replica->Context().Encode()).ok());
  r = a.Inspect();
  ASSERT_TRUE(r.horizon.has_value());
  EXPECT_EQ(*r.horizon, a.replica->Context().vv());
  EXPECT_EQ(r.peer_acks.size(), 1u);
  EXPECT_EQ(r.collections["reg"].collectable, 1u);
  EXPECT_EQ(r.collections["mv"].collectable, 1u);
  // Set elements are written with their log dots, so an emptied set is collectable too.
  EXPECT_EQ(r.collections["tags"].collectable, 1u);
}

TEST(InspectTest, SiblingsJournalAndMetadataHistograms) {
  TestNode a(1), b(2), c(3);
  a.Write("mv", "k", WriteOp::Put("va"));
  b.Write("mv", "k", WriteOp::Put("vb"));
  c.Write("mv", "k", WriteOp::Put("vc"));
  a.Write("reg", "one", WriteOp::Put("v"));
  a.ApplyFrom(b);
  a.ApplyFrom(c);

  InspectReport r = a.Inspect();
  EXPECT_EQ(r.collections["mv"].values, 3u);
  EXPECT_EQ(r.siblings[0], 1u);  // reg/one
  EXPECT_EQ(r.siblings[2], 1u);  // mv/k: 3 siblings, bucket 3-4
  EXPECT_EQ(r.siblings[1] + r.siblings[3] + r.siblings[4], 0u);
  EXPECT_EQ(r.journal_entries, 2u);  // each merge kept a concurrent version
  EXPECT_EQ(r.collections["mv"].journal_entries, 2u);
  EXPECT_EQ(r.context.vv().size(), 3u);
  EXPECT_EQ(r.log.origins.size(), 3u);
  uint64_t keys = 0;
  for (const auto& [bucket, n] : r.metadata_bytes) {
    EXPECT_GT(bucket, 0) << "every state carries some metadata";
    keys += n;
  }
  EXPECT_EQ(keys, 2u);
}

TEST(InspectTest, CustomResolverUnknownHereIsCountedAsOpaque) {
  TestNode a(1);
  ASSERT_TRUE(a.store->Put(core::Table::kMeta, "collection/fancy", "fancy").ok());
  ASSERT_TRUE(a.store->Put(core::Table::kData, internal::DataKeyPrefix("fancy", "k") + "s", "not an mv state").ok());
  auto r = Inspect(a.store.get());
  ASSERT_TRUE(r.ok()) << r.status();
  const CollectionInspection& c = r->collections["fancy"];
  EXPECT_FALSE(c.resolver_known);
  EXPECT_EQ(c.type, "custom");
  EXPECT_EQ(c.keys, 1u);
  EXPECT_EQ(c.live, 1u);
}

TEST(InspectTest, WritesNothing) {
  TestNode a(1);
  a.Write("reg", "k", WriteOp::Put("v"));
  uint64_t before = a.store->stats().writes_committed + a.store->stats().writes_failed;
  a.Inspect();
  EXPECT_EQ(a.store->stats().writes_committed + a.store->stats().writes_failed, before);
}

TEST(InspectTest, ChecksTheItemIndexWithTheClusterSecretAndARebuildMendsIt) {
  const std::string secret = "the cluster secret";
  TestNode a(1, secret);
  a.Write("reg", "r", WriteOp::Put("v"));
  a.Write("tags", "t", WriteOp::AddElement("x"));
  a.Write("tags", "u", WriteOp::AddElement("y"));
  auto inspect = [&a](std::optional<std::string> with) {
    InspectOptions o;
    o.cluster_secret = std::move(with);
    auto r = Inspect(a.store.get(), o);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? std::move(r).value() : InspectReport();
  };
  EXPECT_EQ(inspect(std::nullopt).index_check, InspectReport::IndexCheck::kNotChecked);
  EXPECT_EQ(inspect(secret).index_check, InspectReport::IndexCheck::kMatches);
  EXPECT_EQ(inspect("another secret").index_check, InspectReport::IndexCheck::kOtherSecret);

  // A damaged entry: reported with its key, and the rest of the report is still there.
  const std::string entry = "i" + MakeItemKey("tags", "t").value();
  ASSERT_TRUE(a.store->Put(core::Table::kIndex, entry, std::string(40, 'x')).ok());
  InspectReport damaged = inspect(secret);
  EXPECT_EQ(damaged.index_check, InspectReport::IndexCheck::kMismatch);
  EXPECT_NE(damaged.index_detail.find("tags"), std::string::npos) << damaged.index_detail;
  EXPECT_EQ(damaged.collections["tags"].keys, 2u);
  // Opening normally keeps it (its key check value is right); a rebuild mends it.
  a.Reopen(false);
  EXPECT_EQ(inspect(secret).index_check, InspectReport::IndexCheck::kMismatch);
  a.Reopen(true);
  EXPECT_EQ(inspect(secret).index_check, InspectReport::IndexCheck::kMatches);
  EXPECT_TRUE(a.replica->CheckItemIndex().ok()) << a.replica->CheckItemIndex();

  // A block sum off by one item's digest is found too.
  std::string block_key;
  std::string block;
  ASSERT_TRUE(a.store->Read([&](core::ReadView& v) {
                       return v.Scan(core::Table::kIndex, "b", "d", [&](std::string_view k, std::string_view val) {
                         block_key = std::string(k);
                         block = std::string(val);
                         return false;
                       });
                     }).ok());
  ASSERT_GE(block.size(), 24u) << "a block: sum.lo, sum.hi, count, lo";
  block[0] = static_cast<char>(block[0] ^ 1);
  ASSERT_TRUE(a.store->Put(core::Table::kIndex, block_key, block).ok());
  EXPECT_EQ(inspect(secret).index_check, InspectReport::IndexCheck::kMismatch);

  // No index at all (a store of a version before the index, or a read-only user's).
  a.replica.reset();
  ASSERT_TRUE(a.store->Delete(core::Table::kIndex, std::string(internal::kItemIndexMetaKey)).ok());
  EXPECT_EQ(inspect(secret).index_check, InspectReport::IndexCheck::kAbsent);
}

}  // namespace
}  // namespace syncline::replication
