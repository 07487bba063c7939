// Garbage collection between in-process nodes with LMDB stores, over real sockets on 127.0.0.1:
// tombstones are collected only once every peer applied the delete; a peer that stays away
// longer than the horizon waits is fenced, the others collect without it, and when it returns
// holding the deleted keys it re-bootstraps and the deleted keys stay deleted everywhere.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>

#include "support/temp_dir.h"
#include "test_cluster.h"

namespace syncline::testing {
namespace {

using replication::WriteOp;

constexpr int64_t kDeadlineMillis = 60'000;

NodeOptions Options(const std::string& id, const TempDir& dir, int64_t fence_after_millis) {
  NodeOptions o = TestNodeOptions(id, (dir / id).string());
  o.sync = core::SyncMode::kNoSync;
  o.shipping.resubscribe_millis = 500;
  o.snapshot.chunk_max_bytes = 4 << 10;
  o.snapshot.stall_millis = 2000;
  o.retention.interval_millis = 100;
  o.feed_retain_entries = 0;  // the log is truncated to the horizon, not held for a feed tail
  o.gc.interval_millis = 100;
  o.gc.fence_after_millis = fence_after_millis;
  o.anti_entropy.interval_millis = 0;
  return o;
}


std::string Key(const char* prefix, int i) { return prefix + std::to_string(i); }

bool Found(Node& n, const std::string& coll, const std::string& key) {
  auto r = n.Read(coll, key);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() && r->found;
}

TEST(GcIntegration, TombstonesAreCollectedOnlyOnceEveryPeerHasTheDelete) {
  TempDir dir;
  auto n1 = StartNode(Options("n1", dir, /*fence_after_millis=*/0));
  ASSERT_NE(n1, nullptr);
  ASSERT_TRUE(n1->CreateCollection("reg", "lww").ok());
  NodeOptions o2 = Options("n2", dir, 0);
  o2.peers = {n1->peer_address()};
  std::vector<std::string> digests;
  {
    auto n2 = StartNode(o2);
    ASSERT_NE(n2, nullptr);
    for (int i = 0; i < 10; ++i) ASSERT_TRUE(n1->Write("reg", Key("k", i), WriteOp::Put("v")).ok());
    ASSERT_TRUE(WaitForEqualDigests({n1.get(), n2.get()}, kDeadlineMillis, &digests));
    n2->Stop();
  }
  // n2 is away and has not applied the deletes: its acknowledgement holds the horizon below them,
  // and without fencing nothing is collected however many passes run.
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(n1->Write("reg", Key("k", i), WriteOp::Delete()).ok());
  uint64_t passes_before = n1->GetStatus().gc.passes;
  ASSERT_TRUE(WaitFor([&] { return n1->GetStatus().gc.passes >= passes_before + 5; }));
  replication::GcStatus g = n1->GetStatus().gc;
  EXPECT_EQ(g.removed_total, 0u);
  EXPECT_TRUE(g.have_horizon);
  EXPECT_LT(g.horizon.Get(n1->replica().id()), 15u);
  EXPECT_TRUE(g.fenced.empty());

  // n2 comes back, applies the deletes, and both sides collect the five tombstones.
  auto n2 = StartNode(o2);
  ASSERT_NE(n2, nullptr);
  ASSERT_TRUE(WaitFor([&] {
    return n1->GetStatus().gc.removed_total == 5 && n2->GetStatus().gc.removed_total == 5;
  })) << n1->GetStatus().gc.removed_total << " " << n2->GetStatus().gc.removed_total;
  ASSERT_TRUE(WaitForEqualDigests({n1.get(), n2.get()}, kDeadlineMillis, &digests)) << digests[0] << " " << digests[1];
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(Found(*n1, "reg", Key("k", i)), i >= 5);
    EXPECT_EQ(Found(*n2, "reg", Key("k", i)), i >= 5);
  }
}

TEST(GcIntegration, AFencedNodeReturnsAndDeletedKeysStayDeleted) {
  TempDir dir;
  constexpr int64_t kFenceAfter = 1500;
  auto n1 = StartNode(Options("n1", dir, kFenceAfter));
  ASSERT_NE(n1, nullptr);
  NodeOptions o2 = Options("n2", dir, kFenceAfter);
  o2.peers = {n1->peer_address()};
  auto n2 = StartNode(o2);
  ASSERT_NE(n2, nullptr);
  NodeOptions o3 = Options("n3", dir, kFenceAfter);
  o3.peers = {n1->peer_address(), n2->peer_address()};
  ASSERT_TRUE(n1->CreateCollection("reg", "lww").ok());
  ASSERT_TRUE(n1->CreateCollection("tags", "set").ok());
  ASSERT_TRUE(n1->CreateCollection("mv", "mv").ok());
  std::vector<std::string> digests;
  {
    auto n3 = StartNode(o3);
    ASSERT_NE(n3, nullptr);
    for (int i = 0; i < 20; ++i) ASSERT_TRUE(n1->Write("reg", Key("k", i), WriteOp::Put("v" + std::to_string(i))).ok());
    for (int i = 0; i < 5; ++i) {
      ASSERT_TRUE(n1->Write("tags", Key("t", i), WriteOp::AddElement("a")).ok());
      ASSERT_TRUE(n1->Write("tags", Key("t", i), WriteOp::AddElement("b")).ok());
      ASSERT_TRUE(n1->Write("mv", Key("m", i), WriteOp::Put("x")).ok());
    }
    ASSERT_TRUE(WaitForEqualDigests({n1.get(), n2.get(), n3.get()}, kDeadlineMillis, &digests));
    ASSERT_TRUE(n3->Write("reg", "from-n3", WriteOp::Put("kept")).ok());
    ASSERT_TRUE(WaitForEqualDigests({n1.get(), n2.get(), n3.get()}, kDeadlineMillis, &digests));
    n3->Stop();
  }
  // While n3 is away: half the registers, every set and every mv key are deleted.
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(n1->Write("reg", Key("k", i), WriteOp::Delete()).ok());
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(n1->Write("tags", Key("t", i), WriteOp::RemoveElement("a")).ok());
    ASSERT_TRUE(n2->Write("tags", Key("t", i), WriteOp::RemoveElement("b")).ok());
    auto read = n2->Read("mv", Key("m", i));
    ASSERT_TRUE(read.ok());
    ASSERT_TRUE(n2->Write("mv", Key("m", i), WriteOp::Delete(read->token)).ok());
  }
  ASSERT_TRUE(n2->Write("reg", "from-n2", WriteOp::Put("new")).ok());
  // n3's acknowledgement pins the horizon until n3 is fenced; then both collect all 20 keys and
  // truncate their logs past what n3 holds.
  ASSERT_TRUE(WaitFor([&] {
    for (Node* n : {n1.get(), n2.get()}) {
      NodeStatus st = n->GetStatus();
      if (st.gc.fenced.count("n3") == 0 || st.gc.removed_total < 20) return false;
    }
    return true;
  })) << n1->GetStatus().gc.removed_total << " " << n2->GetStatus().gc.removed_total << " "
         << n1->GetStatus().gc.fenced.size() << " " << n2->GetStatus().gc.fenced.size();
  EXPECT_EQ(n1->GetStatus().gc.fenced_total, 1u);
  EXPECT_EQ(n1->GetStatus().gc.removed_total, 20u);
  ASSERT_TRUE(WaitForEqualDigests({n1.get(), n2.get()}, kDeadlineMillis, &digests));

  // n3 returns holding the deleted keys live (its log and states predate the deletes).
  auto n3 = StartNode(o3);
  ASSERT_NE(n3, nullptr);
  ASSERT_TRUE(WaitForEqualDigests({n1.get(), n2.get(), n3.get()}, kDeadlineMillis, &digests))
      << digests[0] << " " << digests[1] << " " << digests[2];
  for (Node* n : {n1.get(), n2.get(), n3.get()}) {
    for (int i = 0; i < 20; ++i) EXPECT_EQ(Found(*n, "reg", Key("k", i)), i >= 10) << Key("k", i);
    for (int i = 0; i < 5; ++i) {
      EXPECT_FALSE(Found(*n, "tags", Key("t", i)));
      EXPECT_FALSE(Found(*n, "mv", Key("m", i)));
    }
    EXPECT_TRUE(Found(*n, "reg", "from-n3"));
    EXPECT_TRUE(Found(*n, "reg", "from-n2"));
  }
  NodeStatus st3 = n3->GetStatus();
  EXPECT_GE(st3.bootstrap.completed, 1u) << "a fenced node re-bootstraps";
  EXPECT_EQ(st3.replica.stale_keys_dropped, 20u);
  // A repair between the returning node and the others finds nothing left to bring back.
  auto runs = n3->RunAntiEntropy();
  ASSERT_TRUE(runs.ok()) << runs.status();
  for (const auto& run : *runs) {
    EXPECT_TRUE(run.status.ok()) << run.peer << ": " << run.status;
    EXPECT_EQ(run.keys_fetched, 0u) << run.peer;
  }
  // Back in touch: n3 is no longer fenced.
  EXPECT_TRUE(WaitFor([&] { return n1->GetStatus().gc.fenced.empty() && n2->GetStatus().gc.fenced.empty(); }));
}

// A write the fenced side made while cut off, concurrent with a delete the other side collected:
// last-writer-wins says the later delete wins. The side that had collected takes the write (it
// has no tombstone left to lose it to), the other keeps the tombstone and later collects it; an
// anti-entropy session then finds the key only on the first side, learns that the second had
// seen every change of it, and removes it there too, so both converge on "deleted".
TEST(GcIntegration, AntiEntropyRemovesAKeyThePeerCollected) {
  TempDir dir;
  constexpr int64_t kFenceAfter = 1000;
  auto n1 = StartNode(Options("n1", dir, kFenceAfter));
  ASSERT_NE(n1, nullptr);
  NodeOptions o2 = Options("n2", dir, kFenceAfter);
  o2.peers = {n1->peer_address()};
  auto n2 = StartNode(o2);
  ASSERT_NE(n2, nullptr);
  ASSERT_TRUE(n1->CreateCollection("reg", "lww").ok());
  ASSERT_TRUE(n1->Write("reg", "k", WriteOp::Put("v1")).ok());
  std::vector<std::string> digests;
  ASSERT_TRUE(WaitForEqualDigests({n1.get(), n2.get()}, kDeadlineMillis, &digests));

  // Cut off: n2 writes, then n1 deletes (stamped later, so the delete wins where both meet).
  n2->RemovePeer(n1->peer_address());
  ASSERT_TRUE(WaitFor([&] { return n1->GetStatus().peers.empty() && n2->GetStatus().peers.empty(); }));
  ASSERT_TRUE(n2->Write("reg", "k", WriteOp::Put("w")).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ASSERT_TRUE(n1->Write("reg", "k", WriteOp::Delete()).ok());
  // n1 fences n2 and collects its tombstone.
  ASSERT_TRUE(WaitFor([&] {
    replication::GcStatus g = n1->GetStatus().gc;
    return g.fenced.count("n2") != 0 && g.removed_total >= 1;
  }));

  // Healed: n1 takes n2's write (nothing left to beat it), n2 takes the delete, which wins there,
  // and collects it once n1 acknowledged everything.
  n2->AddPeer(n1->peer_address());
  ASSERT_TRUE(WaitFor([&] {
    auto r1 = n1->Read("reg", "k");
    return r1.ok() && r1->found && n2->GetStatus().gc.removed_total >= 1;
  }));
  EXPECT_FALSE(Found(*n2, "reg", "k"));
  EXPECT_EQ(n1->Read("reg", "k")->values, std::vector<std::string>{"w"});

  auto runs = n1->RunAntiEntropy();
  ASSERT_TRUE(runs.ok()) << runs.status();
  ASSERT_EQ(runs->size(), 1u);
  EXPECT_TRUE((*runs)[0].status.ok()) << (*runs)[0].status;
  ASSERT_TRUE(WaitFor([&] { return !Found(*n1, "reg", "k"); }));
  EXPECT_EQ(n1->GetStatus().replica.stale_keys_dropped, 1u);
  // A projection of n1's feed saw "w" arrive; the drop is in the feed too, or it would keep "w".
  uint64_t head = n1->GetStatus().feed.head;
  ASSERT_GT(head, 0u);
  auto last = n1->ReadFeed(head - 1, 1);
  ASSERT_TRUE(last.ok()) << last.status();
  ASSERT_EQ(last->changes.size(), 1u);
  const FeedChange& drop = last->changes[0];
  EXPECT_TRUE(drop.state);
  EXPECT_TRUE(drop.dropped);
  EXPECT_EQ(drop.collection, "reg");
  EXPECT_EQ(drop.key, "k");
  EXPECT_EQ(drop.rendered, "<dropped>");
  ASSERT_TRUE(WaitForEqualDigests({n1.get(), n2.get()}, kDeadlineMillis, &digests)) << digests[0] << " " << digests[1];
}

// The fence's absence clock runs on across a restart of the node that waits: the moment a peer
// was last connected is persisted with the acknowledgements and read back at the start, instead
// of timing every absent peer from the restart again.
TEST(GcIntegration, TheAbsenceClockRunsOnAcrossARestart) {
  TempDir dir;
  auto n1 = StartNode(Options("n1", dir, /*fence_after_millis=*/0));
  ASSERT_NE(n1, nullptr);
  NodeOptions o2 = Options("n2", dir, 0);
  o2.peers = {n1->peer_address()};
  auto n2 = StartNode(o2);
  ASSERT_NE(n2, nullptr);
  ASSERT_TRUE(WaitFor([&] { return n1->GetStatus().gc.last_heard.count("n2") != 0; }));
  n2.reset();
  ASSERT_TRUE(WaitFor([&] { return n1->GetStatus().peers.empty(); }));
  int64_t gone = std::chrono::duration_cast<std::chrono::milliseconds>(
                     std::chrono::system_clock::now().time_since_epoch()).count();
  // The restart comes well after `gone`; the persisted moment comes before it, give or take the
  // millisecond rounding of moving it between the monotonic and the wall clock.
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  n1.reset();

  n1 = StartNode(Options("n1", dir, 0));
  ASSERT_NE(n1, nullptr);
  auto heard = n1->GetStatus().gc.last_heard;
  ASSERT_EQ(heard.count("n2"), 1u) << "the restarted node forgot when it last heard from n2";
  EXPECT_GT(heard["n2"], 0);
  EXPECT_LT(heard["n2"], gone + 50) << "n2 is timed from the restart, not from when it left";
}

}  // namespace
}  // namespace syncline::testing
