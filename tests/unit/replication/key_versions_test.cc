// Key versions (key_versions.h): what each collection type reports as context, tombstone and
// siblings; equal digests on replicas holding equal states; paging; context coverage with clouds.
#include "syncline/replication/key_versions.h"

#include <gtest/gtest.h>

#include "syncline/core/memory_store.h"
#include "syncline/replication/replica.h"

namespace syncline::replication {
namespace {

struct Node {
  ManualClock clock{1'800'000'000'000};
  std::unique_ptr<core::Store> store;
  std::unique_ptr<Replica> replica;
  explicit Node(uint64_t seed) {
    core::MemoryStoreOptions so;
    so.storage = core::NewMemoryStorage();
    so.seed = seed;
    store = core::OpenMemoryStore(so);
    ReplicaOptions ro;
    ro.clock = &clock;
    auto r = Replica::Open(store.get(), ro);
    EXPECT_TRUE(r.ok()) << r.status();
    replica = std::move(r).value();
    for (auto [name, resolver] : {std::pair{"reg", "lww"}, {"mv", "mv"}, {"cnt", "counter"}, {"tags", "set"}, {"doc", "map"}}) {
      EXPECT_TRUE(replica->CreateCollection(name, resolver).ok());
    }
  }
  // Every change of `from` applied here.
  void Pull(Node& from) {
    std::vector<core::Change> changes;
    DotContext held = from.replica->Context();
    for (const auto& e : held.vv().entries()) {
      EXPECT_TRUE(from.replica->ReadLog(e.first, 1, 1'000'000, 1 << 30, &changes).ok());
    }
    Status done = Status::Internal("not called");
    replica->ApplyChanges(std::move(changes), [&](Result<ApplyStats> s) { done = s.status(); });
    EXPECT_TRUE(done.ok()) << done;
  }
  std::map<std::string, KeyVersion> All() {
    std::vector<KeyVersion> out;
    bool more = true;
    EXPECT_TRUE(ReadKeyVersions(*replica, KeyVersionQuery{}, &out, &more).ok());
    EXPECT_FALSE(more);
    std::map<std::string, KeyVersion> by_name;
    for (auto& v : out) by_name.emplace(v.collection + "/" + v.key, std::move(v));
    return by_name;
  }
};

TEST(KeyVersions, EachTypeReportsContextTombstoneAndSiblings) {
  Node a(1), b(2);
  ASSERT_TRUE(a.replica->WriteAndWait("reg", "live", WriteOp::Put("v")).ok());
  ASSERT_TRUE(a.replica->WriteAndWait("reg", "gone", WriteOp::Put("v")).ok());
  ASSERT_TRUE(a.replica->WriteAndWait("reg", "gone", WriteOp::Delete()).ok());
  ASSERT_TRUE(a.replica->WriteAndWait("mv", "k", WriteOp::Put("x")).ok());
  ASSERT_TRUE(b.replica->WriteAndWait("mv", "k", WriteOp::Put("y")).ok());
  ASSERT_TRUE(a.replica->WriteAndWait("cnt", "c", WriteOp::Add(5)).ok());
  ASSERT_TRUE(a.replica->WriteAndWait("cnt", "c", WriteOp::Add(-2)).ok());
  ASSERT_TRUE(a.replica->WriteAndWait("tags", "t", WriteOp::AddElement("e")).ok());
  ASSERT_TRUE(a.replica->WriteAndWait("tags", "t", WriteOp::RemoveElement("e")).ok());
  ASSERT_TRUE(a.replica->WriteAndWait("doc", "d", WriteOp::SetField({conflict::Field::Register("f")}, "1")).ok());
  a.Pull(b);
  b.Pull(a);

  auto va = a.All();
  auto vb = b.All();
  ASSERT_EQ(va.size(), 6u);
  ASSERT_EQ(vb.size(), 6u);
  for (const auto& [name, v] : va) {
    // Converged replicas: same digests, same contexts, same value hashes.
    EXPECT_EQ(v.digest, vb.at(name).digest) << name;
    EXPECT_EQ(v.value_hash, vb.at(name).value_hash) << name;
    EXPECT_TRUE(v.context == vb.at(name).context) << name;
    EXPECT_EQ(v.digest.size(), kKeyDigestBytes);
  }
  ReplicaId ra = a.replica->id();
  EXPECT_FALSE(va.at("reg/live").tombstone);
  EXPECT_EQ(va.at("reg/live").siblings, 1u);
  EXPECT_EQ(va.at("reg/live").context.vv().Get(ra), 1u);
  EXPECT_TRUE(va.at("reg/gone").tombstone);
  EXPECT_EQ(va.at("reg/gone").siblings, 0u);
  EXPECT_EQ(va.at("reg/gone").context.vv().Get(ra), 2u);
  EXPECT_FALSE(va.at("mv/k").tombstone);
  EXPECT_EQ(va.at("mv/k").siblings, 2u);  // concurrent blind writes of two replicas
  EXPECT_EQ(va.at("mv/k").context.vv().size(), 2u);
  EXPECT_EQ(va.at("cnt/c").context.vv().Get(ra), 7u);  // 5 up plus 2 down
  EXPECT_FALSE(va.at("cnt/c").tombstone);
  EXPECT_TRUE(va.at("tags/t").tombstone);
  EXPECT_FALSE(va.at("doc/d").tombstone);
  EXPECT_NE(va.at("reg/live").value_hash, va.at("reg/gone").value_hash);

  // A later write on one side: its context covers the other's, not the reverse.
  ASSERT_TRUE(a.replica->WriteAndWait("reg", "live", WriteOp::Put("w")).ok());
  auto later = a.All();
  EXPECT_NE(later.at("reg/live").digest, vb.at("reg/live").digest);
  EXPECT_TRUE(ContextCovers(later.at("reg/live").context, vb.at("reg/live").context));
  EXPECT_FALSE(ContextCovers(vb.at("reg/live").context, later.at("reg/live").context));
}

TEST(KeyVersions, PagesResumeAfterTheLastKeyAndStayInOneCollection) {
  Node a(1);
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(a.replica->WriteAndWait("reg", "k" + std::to_string(i), WriteOp::Put("v")).ok());
    ASSERT_TRUE(a.replica->WriteAndWait("mv", "k" + std::to_string(i), WriteOp::Put("v")).ok());
  }
  // A key with a zero byte sorts after its prefix, as the store orders it.
  ASSERT_TRUE(a.replica->WriteAndWait("reg", std::string("k0\0z", 4), WriteOp::Put("v")).ok());
  std::vector<std::string> seen;
  KeyVersionQuery q;
  q.collection = "reg";
  q.limit = 2;
  bool more = true;
  int pages = 0;
  while (more) {
    std::vector<KeyVersion> page;
    ASSERT_TRUE(ReadKeyVersions(*a.replica, q, &page, &more).ok());
    ASSERT_FALSE(page.empty());
    ASSERT_LE(page.size(), 2u);
    for (const auto& v : page) {
      EXPECT_EQ(v.collection, "reg");
      seen.push_back(v.key);
    }
    q.after_collection = page.back().collection;
    q.after_key = page.back().key;
    ASSERT_LT(++pages, 10);
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"k0", std::string("k0\0z", 4), "k1", "k2", "k3", "k4"}));

  // The byte bound ends a page early, never before its first key.
  KeyVersionQuery small;
  small.max_bytes = 1;
  std::vector<KeyVersion> page;
  ASSERT_TRUE(ReadKeyVersions(*a.replica, small, &page, &more).ok());
  EXPECT_EQ(page.size(), 1u);
  EXPECT_TRUE(more);
}

TEST(KeyVersions, ContextCoversCountsCloudDots) {
  ReplicaId r(7), s(9);
  DotContext a(VersionVector{{r, 3}});
  DotContext b(VersionVector{{r, 3}});
  b.Add(Dot{r, 5});  // out of order: in the cloud
  EXPECT_TRUE(ContextCovers(b, a));
  EXPECT_FALSE(ContextCovers(a, b));
  a.Add(Dot{r, 5});
  EXPECT_TRUE(ContextCovers(a, b));
  a.Add(Dot{s, 2});  // a cloud dot of another replica
  EXPECT_TRUE(ContextCovers(a, b));
  EXPECT_FALSE(ContextCovers(b, a));
  DotContext c(VersionVector{{r, 5}});  // covers the gap a and b lack
  EXPECT_TRUE(ContextCovers(c, b));
  EXPECT_FALSE(ContextCovers(b, c));
  EXPECT_TRUE(ContextCovers(a, DotContext()));
}

}  // namespace
}  // namespace syncline::replication
