// Replica's anti-entropy support on the in-memory store: the stored item index agrees with
// the data (equal states, equal fingerprints), ReadStates and MergeStates repair a difference
// through the resolvers for every type, a delete is not undone, and bad input is refused with
// nothing merged. Garbage collection removes tombstones only below the horizon, and a collected
// key does not come back through a peer's old state, neither by a repair nor by a snapshot
// install (which drops the local keys its source collected).
#include <gtest/gtest.h>

#include "replica_node.h"
#include "syncline/core/feed.h"

namespace syncline::replication {
namespace {

struct Node : testing::ReplicaNode {
  using ReplicaNode::ReplicaNode;
  // The stored item index's sum over everything, after checking it against the data.
  RangeSum Fingerprint() {
    Status check = replica->CheckItemIndex();
    EXPECT_TRUE(check.ok()) << check;
    return IndexSum();
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
  // The change feed after `after`.
  std::vector<core::FeedEntry> Feed(uint64_t after = 0) {
    std::vector<core::FeedEntry> out;
    Status s = store->Read([&](core::ReadView& v) { return core::ReadFeed(v, after, 100, 1 << 20, &out); });
    EXPECT_TRUE(s.ok()) << s;
    return out;
  }
  std::string Rendered(const core::Change& c) {
    auto impl = replica->registry().Find(c.resolver);
    EXPECT_TRUE(impl.ok()) << impl.status();
    return impl.ok() ? (*impl)->Render(c.payload).value_or("<does not render>") : std::string();
  }
};

std::string Item(std::string_view coll, std::string_view key) { return MakeItemKey(coll, key).value(); }

using testing::Apply;

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

// A repair enters every key whose state it changed in the change feed, with the state after
// the merge, so the feed's consumers (projections, read models) see it; a merge that changes
// nothing enters nothing.
TEST(ReplicaRepair, ARepairEntersTheKeysItChangedInTheChangeFeed) {
  Node a(1), b(2);
  ASSERT_TRUE(b.replica->WriteAndWait("reg", "mine", WriteOp::Put("b")).ok());
  ASSERT_TRUE(a.replica->WriteAndWait("reg", "k", WriteOp::Put("v1")).ok());
  ASSERT_TRUE(a.replica->WriteAndWait("tags", "t", WriteOp::AddElement("x")).ok());
  ASSERT_TRUE(b.replica->WriteAndWait("tags", "t", WriteOp::AddElement("y")).ok());
  ASSERT_EQ(b.Feed().size(), 2u);  // b's own two writes

  a.RepairInto(b, {Item("reg", "k"), Item("tags", "t")});
  auto feed = b.Feed(2);
  ASSERT_EQ(feed.size(), 2u);
  for (const auto& e : feed) {
    EXPECT_EQ(e.change.kind, core::kFeedStateKind);
    EXPECT_FALSE(e.change.dot.valid());
  }
  EXPECT_EQ(feed[0].change.collection, "reg");
  EXPECT_EQ(feed[0].change.key, "k");
  EXPECT_EQ(b.Rendered(feed[0].change), "v1");
  EXPECT_EQ(feed[1].change.collection, "tags");
  EXPECT_EQ(feed[1].change.resolver, "set");
  // The set's state after the merge: both elements, not only the peer's.
  std::string tags = b.Rendered(feed[1].change);
  EXPECT_NE(tags.find('x'), std::string::npos) << tags;
  EXPECT_NE(tags.find('y'), std::string::npos) << tags;

  // The same states again, and an older state that loses to a newer local write: no entries.
  a.RepairInto(b, {Item("reg", "k"), Item("tags", "t")});
  EXPECT_EQ(b.Feed().size(), 4u);
  ASSERT_TRUE(b.replica->WriteAndWait("reg", "k", WriteOp::Put("v2")).ok());
  a.RepairInto(b, {Item("reg", "k")});
  EXPECT_EQ(b.Feed().size(), 5u);
  EXPECT_EQ(b.replica->Read("reg", "k")->values, (std::vector<std::string>{"v2"}));
}

// A snapshot installed into a node that held data enters the keys it changed in that node's
// feed; a new node's install is its initial state and enters nothing.
TEST(ReplicaRepair, ASnapshotIntoANodeWithDataEntersTheKeysItChangedInTheChangeFeed) {
  Node a(1), b(2), fresh(3);
  ASSERT_TRUE(a.replica->WriteAndWait("reg", "same", WriteOp::Put("s")).ok());
  Apply(*b.replica, a.Log());
  ASSERT_TRUE(a.replica->WriteAndWait("reg", "k", WriteOp::Put("from-a")).ok());
  ASSERT_TRUE(a.replica->WriteAndWait("cnt", "c", WriteOp::Add(5)).ok());
  ASSERT_TRUE(b.replica->WriteAndWait("reg", "mine", WriteOp::Put("b")).ok());
  size_t before = b.Feed().size();
  ASSERT_EQ(before, 2u);
  for (Node* to : {&b, &fresh}) {
    SnapshotChunkData chunk;
    ASSERT_TRUE(a.replica->ReadSnapshotChunk("", 1 << 20, &chunk).ok());
    ASSERT_TRUE(chunk.last);
    Status installed = Status::Internal("not called");
    to->replica->InstallSnapshotChunk("a", "", std::move(chunk), [&](Status s) { installed = s; });
    ASSERT_TRUE(installed.ok()) << installed;
  }
  auto feed = b.Feed(before);
  ASSERT_EQ(feed.size(), 2u) << "the keys a changed, not 'same' (unchanged) or 'mine' (not in the snapshot)";
  EXPECT_EQ(feed[0].change.key, "c");
  EXPECT_EQ(b.Rendered(feed[0].change), "5");
  EXPECT_EQ(feed[1].change.key, "k");
  EXPECT_EQ(b.Rendered(feed[1].change), "from-a");
  for (const auto& e : feed) EXPECT_EQ(e.change.kind, core::kFeedStateKind);
  EXPECT_TRUE(fresh.Feed().empty());
  EXPECT_EQ(fresh.replica->Read("reg", "k")->values, std::vector<std::string>{"from-a"});
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

// ---- garbage collection and stale states ----

// Every key of the collections the fixture creates, as the item index sees them.
uint64_t KeyCount(Node& n) { return n.Fingerprint().count; }

GcReport CollectAll(Replica& r, const VersionVector& horizon, uint64_t max_keys) {
  GcReport total;
  std::string next;
  do {
    auto report = r.CollectGarbage(horizon, next, max_keys);
    EXPECT_TRUE(report.ok()) << report.status();
    if (!report.ok()) break;
    total.scanned += report->scanned;
    total.removed += report->removed;
    total.dropped += report->dropped;
    next = report->next;
  } while (!next.empty());
  return total;
}

TEST(ReplicaGc, TombstonesGoOnlyBelowTheHorizonAndLiveValuesStay) {
  Node a(1);
  ASSERT_TRUE(a.replica->WriteAndWait("reg", "gone", WriteOp::Put("v")).ok());
  ASSERT_TRUE(a.replica->WriteAndWait("reg", "gone", WriteOp::Delete()).ok());
  ASSERT_TRUE(a.replica->WriteAndWait("reg", "kept", WriteOp::Put("v")).ok());
  ASSERT_TRUE(a.replica->WriteAndWait("mv", "m", WriteOp::Put("x")).ok());
  ASSERT_TRUE(a.replica->WriteAndWait("mv", "m", WriteOp::Delete(a.replica->Read("mv", "m")->token)).ok());
  ASSERT_TRUE(a.replica->WriteAndWait("tags", "t", WriteOp::AddElement("e")).ok());
  ASSERT_TRUE(a.replica->WriteAndWait("tags", "t", WriteOp::RemoveElement("e")).ok());
  ASSERT_TRUE(a.replica->WriteAndWait("cnt", "c", WriteOp::Add(2)).ok());
  ASSERT_EQ(KeyCount(a), 5u);
  VersionVector all = a.replica->Context().vv();
  ReplicaId me = a.replica->id();

  // A horizon below the deletes (a peer has not applied them) removes nothing.
  GcReport early = CollectAll(*a.replica, VersionVector{{me, 1}}, 0);
  EXPECT_EQ(early.scanned, 5u);
  EXPECT_EQ(early.removed, 0u);
  EXPECT_EQ(KeyCount(a), 5u);

  // Every replica applied everything: the three tombstones go, in transactions of two keys.
  GcReport done = CollectAll(*a.replica, all, 2);
  EXPECT_EQ(done.scanned, 5u);
  EXPECT_EQ(done.removed, 3u);
  EXPECT_EQ(KeyCount(a), 2u);
  EXPECT_EQ(a.replica->Read("reg", "kept")->values, std::vector<std::string>{"v"});
  EXPECT_EQ(a.replica->Read("cnt", "c")->counter, 2);
  EXPECT_FALSE(a.replica->Read("reg", "gone")->found);
  EXPECT_FALSE(a.replica->Read("tags", "t")->found);
  // The horizon is capped by what this node applied: a horizon beyond it removes nothing more.
  EXPECT_EQ(CollectAll(*a.replica, VersionVector{{me, 1000}, {ReplicaId(77), 5}}, 0).removed, 0u);
}

// b receives a's register k and set t, then goes away holding them; a deletes both and, once
// the horizon covers that, collects them; b also writes a key of its own that a never saw.
void CollectWhileBIsAway(Node& a, Node& b) {
  ASSERT_TRUE(a.replica->WriteAndWait("reg", "k", WriteOp::Put("old")).ok());
  ASSERT_TRUE(a.replica->WriteAndWait("tags", "t", WriteOp::AddElement("e")).ok());
  Apply(*b.replica, a.Log());
  ASSERT_TRUE(a.replica->WriteAndWait("reg", "k", WriteOp::Delete()).ok());
  ASSERT_TRUE(a.replica->WriteAndWait("tags", "t", WriteOp::RemoveElement("e")).ok());
  ASSERT_EQ(CollectAll(*a.replica, a.replica->Context().vv(), 0).removed, 2u);
  ASSERT_TRUE(b.replica->WriteAndWait("reg", "mine", WriteOp::Put("b")).ok());
}

TEST(ReplicaGc, ACollectedKeyDoesNotComeBackThroughAPeersOldState) {
  Node a(1), b(2);
  ASSERT_NO_FATAL_FAILURE(CollectWhileBIsAway(a, b));

  // A repair from b: the states of k and t are stale here, the new key is merged.
  SnapshotChunkData chunk;
  std::vector<std::string> missing;
  ASSERT_TRUE(b.replica->ReadStates({Item("reg", "k"), Item("tags", "t"), Item("reg", "mine")}, 1 << 20, &chunk,
                                    &missing)
                  .ok());
  ASSERT_EQ(chunk.entries.size(), 3u);
  auto merged = a.Merge(chunk);
  ASSERT_TRUE(merged.ok()) << merged.status();
  EXPECT_EQ(*merged, 1u);
  EXPECT_EQ(a.replica->stats().stale_states_skipped, 2u);
  EXPECT_FALSE(a.replica->Read("reg", "k")->found);
  EXPECT_FALSE(a.replica->Read("tags", "t")->found);
  EXPECT_EQ(a.replica->Read("reg", "mine")->values, std::vector<std::string>{"b"});

  // A node that never held k merges b's state as it is (nothing of it was seen there).
  Node fresh(3);
  auto into_fresh = fresh.Merge(chunk);
  ASSERT_TRUE(into_fresh.ok()) << into_fresh.status();
  EXPECT_EQ(*into_fresh, 3u);
  EXPECT_EQ(fresh.replica->Read("reg", "k")->values, std::vector<std::string>{"old"});
}

TEST(ReplicaGc, ASnapshotInstallDropsTheKeysItsSourceCollected) {
  Node a(1), b(2);
  ASSERT_TRUE(a.replica->WriteAndWait("reg", "k", WriteOp::Put("old")).ok());
  ASSERT_TRUE(a.replica->WriteAndWait("reg", "j", WriteOp::Put("stays")).ok());
  ASSERT_TRUE(a.replica->WriteAndWait("mv", "m", WriteOp::Put("x")).ok());
  Apply(*b.replica, a.Log());
  ASSERT_TRUE(a.replica->WriteAndWait("reg", "k", WriteOp::Delete()).ok());
  ASSERT_TRUE(a.replica->WriteAndWait("mv", "m", WriteOp::Delete(a.replica->Read("mv", "m")->token)).ok());
  ASSERT_EQ(CollectAll(*a.replica, a.replica->Context().vv(), 0).removed, 2u);
  ASSERT_TRUE(b.replica->WriteAndWait("reg", "mine", WriteOp::Put("b")).ok());
  size_t feed_before = b.Feed().size();

  // b re-bootstraps from a (one chunk holds everything).
  SnapshotChunkData chunk;
  ASSERT_TRUE(a.replica->ReadSnapshotChunk("", 1 << 20, &chunk).ok());
  ASSERT_TRUE(chunk.last);
  Status installed = Status::Internal("not called");
  b.replica->InstallSnapshotChunk("a", "", std::move(chunk), [&](Status s) { installed = s; });
  ASSERT_TRUE(installed.ok()) << installed;
  EXPECT_FALSE(b.replica->Read("reg", "k")->found);
  EXPECT_FALSE(b.replica->Read("mv", "m")->found);
  EXPECT_EQ(b.replica->Read("reg", "j")->values, std::vector<std::string>{"stays"});
  EXPECT_EQ(b.replica->Read("reg", "mine")->values, std::vector<std::string>{"b"}) << "a never saw it: kept";
  EXPECT_EQ(b.replica->stats().stale_keys_dropped, 2u);
  // b's feed says which keys went: dropped state entries (empty state), in data-table order.
  std::vector<std::string> dropped;
  for (const auto& e : b.Feed(feed_before)) {
    if (e.change.kind == core::kFeedStateKind && e.change.payload.empty()) dropped.push_back(e.change.collection + "/" + e.change.key);
  }
  EXPECT_EQ(dropped, (std::vector<std::string>{"mv/m", "reg/k"}));
}

TEST(ReplicaGc, AntiEntropyDropsTheKeysAPeerCollected) {
  Node a(1), b(2);
  ASSERT_NO_FATAL_FAILURE(CollectWhileBIsAway(a, b));

  // a answered a fetch of these keys "missing", with its vector: b drops what a had seen.
  std::vector<std::string> items = {Item("reg", "k"), Item("tags", "t"), Item("reg", "mine"), Item("reg", "absent")};
  Result<uint64_t> dropped = Status::Internal("not called");
  size_t feed_before = b.Feed().size();
  b.replica->DropStale(items, a.replica->Context().vv(), [&](Result<uint64_t> r) { dropped = std::move(r); });
  ASSERT_TRUE(dropped.ok()) << dropped.status();
  EXPECT_EQ(*dropped, 2u);
  auto entered = b.Feed(feed_before);
  ASSERT_EQ(entered.size(), 2u);
  for (const auto& e : entered) {
    EXPECT_EQ(e.change.kind, core::kFeedStateKind);
    EXPECT_TRUE(e.change.payload.empty());
  }
  EXPECT_EQ(entered[0].change.key, "k");
  EXPECT_EQ(entered[1].change.collection, "tags");
  EXPECT_FALSE(b.replica->Read("reg", "k")->found);
  EXPECT_FALSE(b.replica->Read("tags", "t")->found);
  EXPECT_EQ(b.replica->Read("reg", "mine")->values, std::vector<std::string>{"b"}) << "a never saw it: kept";
  EXPECT_EQ(a.Fingerprint().count + 1, b.Fingerprint().count);

  // An empty vector (a peer that holds nothing) drops nothing; a malformed item key is refused.
  b.replica->DropStale({Item("reg", "mine")}, VersionVector(), [&](Result<uint64_t> r) { dropped = std::move(r); });
  ASSERT_TRUE(dropped.ok());
  EXPECT_EQ(*dropped, 0u);
  b.replica->DropStale({"no-separator"}, a.replica->Context().vv(), [&](Result<uint64_t> r) { dropped = std::move(r); });
  EXPECT_FALSE(dropped.ok());
}

}  // namespace
}  // namespace syncline::replication
