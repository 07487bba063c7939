// Three nodes on 127.0.0.1 with LMDB stores, replicating multi-leader over real sockets.
#include <gtest/gtest.h>

#include <thread>

#include "support/seed.h"
#include "support/temp_dir.h"
#include "test_cluster.h"

namespace syncline::testing {
namespace {

using replication::WriteOp;

constexpr int64_t kConvergeDeadlineMillis = 60'000;

void CreateCollections(Node& n) {
  ASSERT_TRUE(n.CreateCollection("reg", "lww").ok());
  ASSERT_TRUE(n.CreateCollection("mv", "mv").ok());
  ASSERT_TRUE(n.CreateCollection("cnt", "counter").ok());
  ASSERT_TRUE(n.CreateCollection("tags", "set").ok());
  ASSERT_TRUE(n.CreateCollection("doc", "map").ok());
}

// Writes `n` random operations of every type through `node`, from one thread; adds the counter
// increments it made to *counter_total.
void WriteMix(Node& node, uint64_t seed, int n, int64_t* counter_total) {
  SeededRng rng(seed);
  for (int i = 0; i < n; ++i) {
    std::string key = "k" + std::to_string(rng.Uniform(0, 19));
    std::string value = node.id() + "-" + std::to_string(i);
    Result<replication::WriteResult> res = Status::Internal("none");
    switch (rng.Uniform(0, 5)) {
      case 0: res = node.Write("reg", key, WriteOp::Put(value)); break;
      case 1: res = node.Write("mv", key, WriteOp::Put(value, node.Read("mv", key)->token)); break;
      case 2: {
        int64_t amount = static_cast<int64_t>(rng.Uniform(1, 9));
        res = node.Write("cnt", "total", WriteOp::Add(amount));
        if (res.ok()) *counter_total += amount;
        break;
      }
      case 3: res = node.Write("tags", key, WriteOp::AddElement(value)); break;
      case 4: res = node.Write("tags", key, WriteOp::RemoveElement(node.id() + "-" + std::to_string(rng.Uniform(0, i)))); break;
      default: res = node.Write("doc", key, WriteOp::IncrementField({conflict::Field::Counter("n")}, 1)); break;
    }
    ASSERT_TRUE(res.ok()) << res.status();
  }
}

class ReplicationIntegration : public ::testing::Test {
 protected:
  // Starts n1..n3; `links` says whom each dials (by index).
  void StartNodes(const std::vector<std::vector<int>>& links) {
    for (size_t i = 0; i < links.size(); ++i) {
      std::string id = "n" + std::to_string(i + 1);
      nodes_.push_back(StartNode(TestNodeOptions(id, (dir_ / id).string())));
      ASSERT_NE(nodes_.back(), nullptr);
      CreateCollections(*nodes_.back());
    }
    for (size_t i = 0; i < links.size(); ++i) {
      for (int j : links[i]) nodes_[i]->AddPeer(nodes_[j]->peer_address());
    }
  }
  std::vector<Node*> Live() {
    std::vector<Node*> out;
    for (auto& n : nodes_) {
      if (n) out.push_back(n.get());
    }
    return out;
  }
  int64_t Counter(Node& n) { return n.Read("cnt", "total")->counter; }
  std::string Show(const std::vector<std::string>& digests) {
    std::string out;
    for (const auto& d : digests) out += d + " ";
    return out;
  }

  TempDir dir_;
  std::vector<std::unique_ptr<Node>> nodes_;
};

TEST_F(ReplicationIntegration, ConcurrentWritersOnThreeNodesConverge) {
  StartNodes({{1, 2}, {2}, {}});
  int64_t totals[3] = {0, 0, 0};
  std::vector<std::thread> writers;
  uint64_t seed = BaseSeed();
  for (int i = 0; i < 3; ++i) {
    writers.emplace_back([&, i] { WriteMix(*nodes_[i], seed + static_cast<uint64_t>(i), 300, &totals[i]); });
  }
  for (auto& t : writers) t.join();
  std::vector<std::string> digests;
  ASSERT_TRUE(WaitForEqualDigests(Live(), kConvergeDeadlineMillis, &digests)) << Show(digests);
  for (auto& n : nodes_) EXPECT_EQ(Counter(*n), totals[0] + totals[1] + totals[2]) << n->id();
  // Every node holds every change (the in-memory context follows the commit by a moment).
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline &&
         !(nodes_[0]->replica().Context() == nodes_[1]->replica().Context() &&
           nodes_[0]->replica().Context() == nodes_[2]->replica().Context())) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(nodes_[0]->replica().Context().ToString(), nodes_[1]->replica().Context().ToString());
  EXPECT_EQ(nodes_[0]->replica().Context().ToString(), nodes_[2]->replica().Context().ToString());
}

TEST_F(ReplicationIntegration, StoppedNodeCatchesUpAfterRestart) {
  StartNodes({{1, 2}, {2}, {}});
  int64_t total = 0;
  WriteMix(*nodes_[0], BaseSeed(), 100, &total);
  std::vector<std::string> digests;
  ASSERT_TRUE(WaitForEqualDigests(Live(), kConvergeDeadlineMillis, &digests)) << Show(digests);

  // Stop n3 and write around it.
  uint16_t port = nodes_[2]->peer_port();
  nodes_[2].reset();
  WriteMix(*nodes_[0], BaseSeed() + 1, 100, &total);
  WriteMix(*nodes_[1], BaseSeed() + 2, 100, &total);
  ASSERT_TRUE(WaitForEqualDigests(Live(), kConvergeDeadlineMillis, &digests)) << Show(digests);

  // Restart it on the same directory and port: the others redial it; it resumes from its
  // stored context and catches up, and its own new writes flow out.
  nodes_[2] = StartNode(TestNodeOptions("n3", (dir_ / "n3").string(), port));
  ASSERT_NE(nodes_[2], nullptr);
  WriteMix(*nodes_[2], BaseSeed() + 3, 50, &total);
  ASSERT_TRUE(WaitForEqualDigests(Live(), kConvergeDeadlineMillis, &digests)) << Show(digests);
  for (auto& n : nodes_) EXPECT_EQ(Counter(*n), total) << n->id();
}

TEST_F(ReplicationIntegration, ChainTopologyRelays) {
  // n1 - n2 - n3: n1 and n3 never talk, yet converge through n2.
  StartNodes({{1}, {}, {1}});
  int64_t total = 0;
  WriteMix(*nodes_[0], BaseSeed(), 100, &total);
  WriteMix(*nodes_[2], BaseSeed() + 1, 100, &total);
  std::vector<std::string> digests;
  ASSERT_TRUE(WaitForEqualDigests(Live(), kConvergeDeadlineMillis, &digests)) << Show(digests);
  for (auto& n : nodes_) EXPECT_EQ(Counter(*n), total) << n->id();
}

TEST_F(ReplicationIntegration, WrongSecretIsRefusedAndNothingReplicates) {
  auto a = StartNode(TestNodeOptions("n1", (dir_ / "n1").string()));
  NodeOptions bo = TestNodeOptions("n2", (dir_ / "n2").string());
  bo.secret = "another-secret";
  auto b = StartNode(bo);
  ASSERT_TRUE(a && b);
  CreateCollections(*a);
  ASSERT_TRUE(a->Write("reg", "k", WriteOp::Put("secret data")).ok());
  a->AddPeer(b->peer_address());
  b->AddPeer(a->peer_address());
  // A correct pair would connect within milliseconds; give the dialers many attempts.
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  EXPECT_TRUE(a->GetStatus().peers.empty());
  EXPECT_TRUE(b->GetStatus().peers.empty());
  EXPECT_FALSE(b->replica().ResolverOf("reg").ok());
}

// A node whose peer port is taken: Start fails with AlreadyExists naming the address, leaves
// nothing running (the node is destroyed cleanly, also under ASan), and starts once it is free.
TEST_F(ReplicationIntegration, AStartOnATakenPortFailsCleanlyAndCanBeTriedAgain) {
  auto a = StartNode(TestNodeOptions("n1", (dir_ / "n1").string()));
  ASSERT_TRUE(a);
  const uint16_t taken = a->peer_port();
  auto b = Node::Open(TestNodeOptions("n2", (dir_ / "n2").string(), taken));
  ASSERT_TRUE(b.ok()) << b.status();
  Status first = (*b)->Start();
  EXPECT_EQ(first.code(), StatusCode::kAlreadyExists) << first;
  EXPECT_NE(first.message().find("cannot listen for peers on 127.0.0.1:" + std::to_string(taken)), std::string::npos)
      << first;
  a->Stop();
  a.reset();
  Status second = (*b)->Start();
  ASSERT_TRUE(second.ok()) << second;
  EXPECT_EQ((*b)->peer_port(), taken);
  CreateCollections(**b);
  EXPECT_TRUE((*b)->Write("reg", "k", WriteOp::Put("v")).ok());
  // And an untouched node that failed to start is destroyed without starting again.
  auto c = Node::Open(TestNodeOptions("n3", (dir_ / "n3").string(), taken));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ((*c)->Start().code(), StatusCode::kAlreadyExists);
}

TEST_F(ReplicationIntegration, PeersChangeAtRunTimeAndARestartResendsNothingHeld) {
  auto a = StartNode(TestNodeOptions("n1", (dir_ / "n1").string()));
  auto b = StartNode(TestNodeOptions("n2", (dir_ / "n2").string()));
  ASSERT_TRUE(a && b);
  CreateCollections(*a);
  int64_t total = 0;
  WriteMix(*a, BaseSeed(), 100, &total);
  a->AddPeer(b->peer_address());  // added at run time
  std::vector<std::string> digests;
  ASSERT_TRUE(WaitForEqualDigests({a.get(), b.get()}, kConvergeDeadlineMillis, &digests)) << Show(digests);

  // Removing the peer closes the connection; writes made meanwhile stay on n1.
  a->RemovePeer(b->peer_address());
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline && !(a->GetStatus().peers.empty() && b->GetStatus().peers.empty())) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_TRUE(a->GetStatus().peers.empty());
  ASSERT_TRUE(b->GetStatus().peers.empty());
  WriteMix(*a, BaseSeed() + 1, 50, &total);
  EXPECT_NE(Counter(*b), total);
  EXPECT_NE(*a->Digest(), *b->Digest());

  // Added again: it catches up.
  a->AddPeer(b->peer_address());
  ASSERT_TRUE(WaitForEqualDigests({a.get(), b.get()}, kConvergeDeadlineMillis, &digests)) << Show(digests);
  EXPECT_EQ(Counter(*b), total);

  // Restart n2 on its directory and port after 10 more writes: n1's new session ships only
  // those 10, because n2 subscribes with the context it stored.
  uint16_t port = b->peer_port();
  b.reset();
  WriteMix(*a, BaseSeed() + 2, 10, &total);
  b = StartNode(TestNodeOptions("n2", (dir_ / "n2").string(), port));
  ASSERT_NE(b, nullptr);
  ASSERT_TRUE(WaitForEqualDigests({a.get(), b.get()}, kConvergeDeadlineMillis, &digests)) << Show(digests);
  EXPECT_EQ(Counter(*b), total);
  // The status snapshot follows the session by a tick.
  std::vector<replication::PeerStatus> peers;
  deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  do {
    peers = a->GetStatus().peers;
    if (peers.size() == 1 && peers[0].stats.changes_sent >= 10) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  } while (std::chrono::steady_clock::now() < deadline);
  ASSERT_EQ(peers.size(), 1u);
  EXPECT_EQ(peers[0].stats.changes_sent, 10u) << "n1 resent changes n2 already held";
}

}  // namespace
}  // namespace syncline::testing
