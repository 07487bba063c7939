// Snapshot bootstrap and log retention between in-process nodes with LMDB stores, over real
// sockets on 127.0.0.1: a new node bootstraps from a snapshot and catches up from the log; a node
// that stayed away while its peer truncated the log bootstraps instead of failing or looping; an
// install interrupted by a restart serves nothing and resumes where it stopped.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <thread>

#include "support/temp_dir.h"
#include "test_cluster.h"

namespace syncline::testing {
namespace {

using replication::WriteOp;

constexpr int64_t kDeadlineMillis = 60'000;

// Writes `n` lww keys of ~100 bytes (and a counter) through `node`, pipelined, and waits.
void Fill(Node& node, int first, int n) {
  std::atomic<int> left{n};
  std::atomic<int> failed{0};
  std::promise<void> all;
  for (int i = first; i < first + n; ++i) {
    char key[32];
    std::snprintf(key, sizeof(key), "key%08d", i);
    node.replica().Write("reg", key, WriteOp::Put(std::string(100, static_cast<char>('a' + i % 26))),
                         [&](Result<replication::WriteResult> r) {
                           if (!r.ok()) failed.fetch_add(1);
                           if (left.fetch_sub(1) == 1) all.set_value();
                         });
  }
  all.get_future().wait();
  ASSERT_EQ(failed.load(), 0);
}

NodeOptions Options(const std::string& id, const TempDir& dir) {
  NodeOptions o = TestNodeOptions(id, (dir / id).string());
  o.sync = core::SyncMode::kNoSync;
  o.shipping.bootstrap_min_changes = 1000;
  o.shipping.resubscribe_millis = 500;
  o.snapshot.chunk_max_bytes = 64 << 10;
  o.snapshot.stall_millis = 2000;
  o.retention.interval_millis = 100;
  o.feed_retain_entries = 0;  // the log is truncated to the horizon, not held for a feed tail
  return o;
}


TEST(SnapshotIntegration, NewNodeBootstrapsFromASnapshotAndCatchesUp) {
  TempDir dir;
  auto n1 = StartNode(Options("n1", dir));
  ASSERT_NE(n1, nullptr);
  ASSERT_TRUE(n1->CreateCollection("reg", "lww").ok());
  ASSERT_TRUE(n1->CreateCollection("tags", "set").ok());
  ASSERT_TRUE(n1->CreateCollection("cnt", "counter").ok());
  Fill(*n1, 0, 20'000);
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(n1->Write("tags", "t" + std::to_string(i % 7), WriteOp::AddElement("e" + std::to_string(i))).ok());
    ASSERT_TRUE(n1->Write("cnt", "c", WriteOp::Add(i)).ok());
  }
  NodeOptions o2 = Options("n2", dir);
  o2.peers = {n1->peer_address()};
  auto n2 = StartNode(o2);
  ASSERT_NE(n2, nullptr);
  // n1 keeps writing while n2 bootstraps: those changes come through the log afterwards.
  Fill(*n1, 20'000, 2'000);
  std::vector<std::string> digests;
  ASSERT_TRUE(WaitForEqualDigests({n1.get(), n2.get()}, kDeadlineMillis, &digests)) << digests[0] << " " << digests[1];
  NodeStatus st = n2->GetStatus();
  EXPECT_EQ(st.bootstrap.completed, 1u);
  EXPECT_FALSE(st.bootstrap.installing);
  EXPECT_GE(st.bootstrap.keys_installed, 20'000u);
  EXPECT_EQ(st.bootstrap.corrupt_chunks, 0u);
  EXPECT_EQ(n2->Read("cnt", "c")->counter, 49 * 50 / 2);
  EXPECT_FALSE(n2->replica().LogFloor().empty());
  // n2's own writes reach n1 as usual.
  ASSERT_TRUE(n2->Write("reg", "from-n2", WriteOp::Put("x")).ok());
  ASSERT_TRUE(WaitForEqualDigests({n1.get(), n2.get()}, kDeadlineMillis, &digests));
}

TEST(SnapshotIntegration, PeerBehindTheTruncationPointGetsASnapshot) {
  TempDir dir;
  NodeOptions o1 = Options("n1", dir);
  o1.retention.max_changes_per_origin = 500;
  auto n1 = StartNode(o1);
  ASSERT_NE(n1, nullptr);
  ASSERT_TRUE(n1->CreateCollection("reg", "lww").ok());
  NodeOptions o2 = Options("n2", dir);
  o2.peers = {n1->peer_address()};
  o2.shipping.bootstrap_min_changes = 1'000'000;  // n2 starts from the log, not a snapshot
  {
    auto n2 = StartNode(o2);
    ASSERT_NE(n2, nullptr);
    Fill(*n1, 0, 300);
    std::vector<std::string> digests;
    ASSERT_TRUE(WaitForEqualDigests({n1.get(), n2.get()}, kDeadlineMillis, &digests));
    // n1 knows what n2 acknowledged: the horizon.
    ASSERT_TRUE(WaitFor([&] {
      replication::RetentionStatus r = n1->GetStatus().retention;
      return r.have_horizon && r.horizon.Get(n1->replica().id()) == 300;
    }));
    EXPECT_EQ(n2->GetStatus().bootstrap.completed, 0u);
    n2->Stop();
  }
  // n2 is away; n1 writes far past the size bound and truncates (n2's persisted acknowledgement
  // pins the horizon, the size bound does not wait for it). The status is what the last periodic
  // retention run saw, and a run may fall in the middle of the writes: wait for one after them.
  Fill(*n1, 300, 3'000);
  ASSERT_TRUE(WaitFor([&] {
    replication::RetentionStatus r = n1->GetStatus().retention;
    return !r.log.origins.empty() && r.log.origins[0].high == 3'300u && r.log.origins[0].low > 2'000;
  }));
  replication::RetentionStatus r = n1->GetStatus().retention;
  EXPECT_TRUE(r.have_horizon);
  EXPECT_GT(r.truncated_total, 2'000u);
  EXPECT_EQ(r.log.origins[0].high, 3'300u);
  EXPECT_EQ(r.log.origins[0].floor + 1, r.log.origins[0].low);

  auto n2 = StartNode(o2);
  ASSERT_NE(n2, nullptr);
  std::vector<std::string> digests;
  ASSERT_TRUE(WaitForEqualDigests({n1.get(), n2.get()}, kDeadlineMillis, &digests)) << digests[0] << " " << digests[1];
  EXPECT_EQ(n2->GetStatus().bootstrap.completed, 1u);
  EXPECT_TRUE(WaitFor([&] {
    for (const auto& p : n1->GetStatus().peers) {
      if (p.stats.snapshot_needed > 0) return true;
    }
    return false;
  }));
}

TEST(SnapshotIntegration, InterruptedInstallServesNothingAndResumesAfterARestart) {
  TempDir dir;
  NodeOptions o1 = Options("n1", dir);
  // Small chunks at about 1 MB/s: the ~2.2 MB transfer takes seconds, so the restart below
  // reliably lands in the middle of it, however fast the disk.
  o1.snapshot.chunk_max_bytes = 4 << 10;
  o1.snapshot.max_bytes_per_second = 1 << 20;
  auto n1 = StartNode(o1);
  ASSERT_NE(n1, nullptr);
  ASSERT_TRUE(n1->CreateCollection("reg", "lww").ok());
  constexpr int kKeys = 20'000;
  Fill(*n1, 0, kKeys);
  NodeOptions o2 = Options("n2", dir);
  o2.peers = {n1->peer_address()};
  o2.sync = core::SyncMode::kDurable;  // one synced commit per chunk: the transfer takes a while
  o2.snapshot.chunk_max_bytes = 4 << 10;
  o2.snapshot.window_chunks = 1;
  {
    auto n2 = StartNode(o2);
    ASSERT_NE(n2, nullptr);
    ASSERT_TRUE(WaitFor([&] { return n2->GetStatus().bootstrap.chunks_installed >= 20; }));
    n2->Stop();
  }
  // Reopened but not started: the partly installed node serves nothing.
  auto reopened = Node::Open(o2);
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  auto n2 = std::move(reopened).value();
  uint64_t installed_before = n2->replica().snapshot_progress().keys;
  ASSERT_GT(installed_before, 0u);
  ASSERT_LT(installed_before, static_cast<uint64_t>(kKeys)) << "the transfer finished before the restart";
  EXPECT_EQ(n2->Read("reg", "key00000000").status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(n2->Write("reg", "x", WriteOp::Put("v")).status().code(), StatusCode::kUnavailable);
  EXPECT_TRUE(n2->GetStatus().bootstrap.installing);
  ASSERT_TRUE(n2->Start().ok());
  std::vector<std::string> digests;
  ASSERT_TRUE(WaitForEqualDigests({n1.get(), n2.get()}, 120'000, &digests)) << digests[0] << " " << digests[1];
  replication::BootstrapStatus st = n2->GetStatus().bootstrap;
  EXPECT_EQ(st.completed, 1u);
  // It resumed: every key was installed once, none twice.
  EXPECT_EQ(st.keys_installed, static_cast<uint64_t>(kKeys));
  EXPECT_TRUE(n2->Read("reg", "key00000000").ok());
}

}  // namespace
}  // namespace syncline::testing
