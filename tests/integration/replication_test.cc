// Three nodes on 127.0.0.1 with LMDB stores, replicating multi-leader over real sockets.
#include <gtest/gtest.h>

#include <thread>

#include "seed.h"
#include "temp_dir.h"
#include "test_cluster.h"

namespace syncline::testing {
namespace {

using replication::WriteOp;

constexpr int64_t kConvergeDeadlineMillis = 60'000;

void CreateCollections(replication::Replica& r) {
  ASSERT_TRUE(r.CreateCollection("reg", "lww").ok());
  ASSERT_TRUE(r.CreateCollection("mv", "mv").ok());
  ASSERT_TRUE(r.CreateCollection("cnt", "counter").ok());
  ASSERT_TRUE(r.CreateCollection("tags", "set").ok());
  ASSERT_TRUE(r.CreateCollection("doc", "map").ok());
}

// Writes `n` random operations of every type through `node`, from one thread.
void Write(TestNode& node, SeededRng& rng, int n, int64_t* counter_total) {
  auto& r = node.replica();
  for (int i = 0; i < n; ++i) {
    std::string key = "k" + std::to_string(rng.Uniform(0, 19));
    std::string value = node.id() + "-" + std::to_string(i);
    Result<replication::WriteResult> res = Status::Internal("none");
    switch (rng.Uniform(0, 5)) {
      case 0: res = r.WriteAndWait("reg", key, WriteOp::Put(value)); break;
      case 1: res = r.WriteAndWait("mv", key, WriteOp::Put(value, r.Read("mv", key)->token)); break;
      case 2: {
        int64_t amount = static_cast<int64_t>(rng.Uniform(1, 9));
        res = r.WriteAndWait("cnt", "total", WriteOp::Add(amount));
        if (res.ok()) *counter_total += amount;
        break;
      }
      case 3: res = r.WriteAndWait("tags", key, WriteOp::AddElement(value)); break;
      case 4: res = r.WriteAndWait("tags", key, WriteOp::RemoveElement(node.id() + "-" + std::to_string(rng.Uniform(0, i)))); break;
      default:
        res = r.WriteAndWait("doc", key, WriteOp::IncrementField({conflict::Field::Counter("n")}, 1));
        break;
    }
    ASSERT_TRUE(res.ok()) << res.status();
  }
}

class ReplicationIntegration : public ::testing::Test {
 protected:
  void StartAll() {
    for (int i = 0; i < 3; ++i) {
      TestNodeOptions o;
      o.node_id = "n" + std::to_string(i + 1);
      o.dir = (dir_ / o.node_id).string();
      nodes_.push_back(std::make_unique<TestNode>(o));
      ASSERT_TRUE(nodes_.back()->Open().ok());
      CreateCollections(nodes_.back()->replica());
    }
    for (int i = 0; i < 3; ++i) Run(i);
  }
  void Run(int i) {
    std::vector<std::string> peers;
    for (int j = 0; j < 3; ++j) {
      if (j != i) peers.push_back(nodes_[j]->address());
    }
    nodes_[i]->Run(peers);
  }
  std::vector<TestNode*> Running() {
    std::vector<TestNode*> out;
    for (auto& n : nodes_) {
      if (n->running()) out.push_back(n.get());
    }
    return out;
  }
  int64_t Counter(TestNode& n) { return n.replica().Read("cnt", "total")->counter; }

  TempDir dir_;
  std::vector<std::unique_ptr<TestNode>> nodes_;
};

TEST_F(ReplicationIntegration, ConcurrentWritersOnThreeNodesConverge) {
  StartAll();
  SeededRng rng;
  int64_t totals[3] = {0, 0, 0};
  std::vector<std::thread> writers;
  for (int i = 0; i < 3; ++i) {
    writers.emplace_back([&, i] {
      SeededRng local(rng.seed() + static_cast<uint64_t>(i));
      Write(*nodes_[i], local, 300, &totals[i]);
    });
  }
  for (auto& t : writers) t.join();
  std::vector<std::string> digests;
  ASSERT_TRUE(WaitForEqualDigests(Running(), kConvergeDeadlineMillis, &digests))
      << digests[0] << " " << digests[1] << " " << digests[2];
  for (auto& n : nodes_) EXPECT_EQ(Counter(*n), totals[0] + totals[1] + totals[2]) << n->id();
  // Every node holds every change: equal node contexts.
  EXPECT_EQ(nodes_[0]->replica().Context(), nodes_[1]->replica().Context());
  EXPECT_EQ(nodes_[0]->replica().Context(), nodes_[2]->replica().Context());
}

TEST_F(ReplicationIntegration, StoppedNodeCatchesUpAfterRestart) {
  StartAll();
  SeededRng rng;
  int64_t total = 0;
  Write(*nodes_[0], rng, 100, &total);
  std::vector<std::string> digests;
  ASSERT_TRUE(WaitForEqualDigests(Running(), kConvergeDeadlineMillis, &digests));

  // Stop node 3 and write around it on the others.
  uint16_t port = nodes_[2]->port();
  nodes_[2]->Stop();
  Write(*nodes_[0], rng, 100, &total);
  Write(*nodes_[1], rng, 100, &total);
  ASSERT_TRUE(WaitForEqualDigests(Running(), kConvergeDeadlineMillis, &digests));

  // Restart it on the same directory and port: it resumes from its context and catches up.
  TestNodeOptions o;
  o.node_id = "n3";
  o.dir = (dir_ / "n3").string();
  o.port = port;
  nodes_[2] = std::make_unique<TestNode>(o);
  ASSERT_TRUE(nodes_[2]->Open().ok());
  Run(2);
  Write(*nodes_[2], rng, 50, &total);
  ASSERT_TRUE(WaitForEqualDigests(Running(), kConvergeDeadlineMillis, &digests))
      << digests[0] << " " << digests[1] << " " << digests[2];
  for (auto& n : nodes_) EXPECT_EQ(Counter(*n), total) << n->id();
}

TEST_F(ReplicationIntegration, ChainTopologyRelays) {
  // n1 - n2 - n3: n1 and n3 never talk, yet converge through n2.
  for (int i = 0; i < 3; ++i) {
    TestNodeOptions o;
    o.node_id = "n" + std::to_string(i + 1);
    o.dir = (dir_ / o.node_id).string();
    nodes_.push_back(std::make_unique<TestNode>(o));
    ASSERT_TRUE(nodes_.back()->Open().ok());
    CreateCollections(nodes_.back()->replica());
  }
  nodes_[0]->Run({nodes_[1]->address()});
  nodes_[1]->Run({});
  nodes_[2]->Run({nodes_[1]->address()});
  SeededRng rng;
  int64_t total = 0;
  Write(*nodes_[0], rng, 100, &total);
  Write(*nodes_[2], rng, 100, &total);
  std::vector<std::string> digests;
  ASSERT_TRUE(WaitForEqualDigests(Running(), kConvergeDeadlineMillis, &digests));
  for (auto& n : nodes_) EXPECT_EQ(Counter(*n), total) << n->id();
}

TEST_F(ReplicationIntegration, WrongSecretIsRefusedAndNothingReplicates) {
  TestNodeOptions a{"n1", (dir_ / "n1").string()};
  TestNodeOptions b{"n2", (dir_ / "n2").string()};
  b.secret = "another-secret";
  TestNode na(a), nb(b);
  ASSERT_TRUE(na.Open().ok());
  ASSERT_TRUE(nb.Open().ok());
  CreateCollections(na.replica());
  ASSERT_TRUE(na.replica().WriteAndWait("reg", "k", WriteOp::Put("secret data")).ok());
  na.Run({nb.address()});
  nb.Run({na.address()});
  // Give the dialers several attempts; nothing may cross.
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  EXPECT_TRUE(na.replicator().Peers().empty());
  EXPECT_TRUE(nb.replicator().Peers().empty());
  EXPECT_FALSE(nb.replica().ResolverOf("reg").ok());
}

}  // namespace
}  // namespace syncline::testing
