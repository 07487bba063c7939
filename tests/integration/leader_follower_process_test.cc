// Leader-follower mode with real syncline-node processes (`syncline cluster up --mode
// leader-follower`): followers redirect writes, quorum writes survive SIGKILL of the leader and the
// promotion of a follower (`syncline promote`), the old leader comes back as a follower, reads on
// followers wait for a version and report their lag, and status shows mode, role, epoch, leader.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <set>
#include <thread>

#include "process_support.h"
#include "support/temp_dir.h"
#include "syncline/node/client.h"

namespace syncline::testing {
namespace {

using replication::WriteOp;

std::unique_ptr<Client> Connect(const std::string& address) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (true) {
    auto c = Client::Connect(address, 5000);
    if (c.ok()) return std::move(c).value();
    if (std::chrono::steady_clock::now() > deadline) {
      ADD_FAILURE() << c.status();
      return nullptr;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

// Polls `pred` until it holds (true) or 60 s passed (false); synchronises on state, not on time.
template <typename Pred>
bool Eventually(Pred pred) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

Result<RemoteStatus> StatusOf(const std::string& client) {
  auto c = Client::Connect(client, 2000);
  if (!c.ok()) return c.status();
  return (*c)->GetStatus();
}

class LeaderFollowerProcesses : public ::testing::Test {
 protected:
  void TearDown() override {
    if (up_) RunProgram({SYNCLINE_CLI, "--cluster", dir_.str() + "/c/cluster.toml", "cluster", "down"});
  }
  TempDir dir_;
  bool up_ = false;
};

TEST_F(LeaderFollowerProcesses, QuorumWritesSurviveKillingTheLeaderAndPromotingAFollower) {
  std::string cdir = dir_.str() + "/c";
  std::string cluster = cdir + "/cluster.toml";
  ProgramRun up = RunProgram({SYNCLINE_CLI, "--ack", "quorum", "cluster", "up", "--nodes", "3", "--dir", cdir, "--mode",
                              "leader-follower"});
  ASSERT_EQ(up.exit_code, 0) << up.output;
  up_ = true;
  auto nodes = ReadClusterFile(cdir);
  ASSERT_EQ(nodes.size(), 3u);

  // n1 leads epoch 1; the followers know where it listens once its record reached them.
  ASSERT_TRUE(Eventually([&] {
    auto st = StatusOf(nodes[1].client);
    return st.ok() && st->role == "follower" && st->leader == "n1" && st->leader_client == nodes[0].client;
  }));

  // A follower refuses a write with exit code 2 and names the leader.
  ProgramRun refused = RunProgram({SYNCLINE_CLI, "--cluster", cluster, "--node", "n2", "put", "kv", "a", "1"});
  EXPECT_EQ(refused.exit_code, 2) << refused.output;
  EXPECT_NE(refused.output.find("the leader is n1"), std::string::npos) << refused.output;
  auto follower = Connect(nodes[1].client);
  ASSERT_NE(follower, nullptr);
  auto redirected = follower->Write("kv", "a", WriteOp::Put("1"), WriteOptions{"quorum", 0});
  EXPECT_EQ(redirected.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(follower->last_redirect().leader, "n1");
  EXPECT_EQ(follower->last_redirect().client_address, nodes[0].client);

  // Quorum writes on the leader, through the CLI and the client.
  ProgramRun put = RunProgram({SYNCLINE_CLI, "--cluster", cluster, "--node", "n1", "--ack", "quorum", "put", "kv", "a", "1"});
  EXPECT_EQ(put.exit_code, 0) << put.output;
  auto leader = Connect(nodes[0].client);
  ASSERT_NE(leader, nullptr);
  std::set<std::string> acked;
  replication::WriteResult last_write;
  for (int i = 0; i < 200; ++i) {
    std::string e = "e" + std::to_string(i);
    auto r = leader->Write("tags", "acked", WriteOp::AddElement(e), WriteOptions{"quorum", 5000});
    ASSERT_TRUE(r.ok()) << r.status();
    acked.insert(e);
    last_write = *r;
  }
  // Read-your-writes on a follower: it answers once it holds the last write, with its lag.
  ReadInfo info;
  auto ryw = follower->Read("tags", "acked", ReadOptions{last_write.dot, 10000}, &info);
  ASSERT_TRUE(ryw.ok()) << ryw.status();
  EXPECT_EQ(ryw->values.size(), 200u);
  EXPECT_EQ(info.role, "follower");
  EXPECT_EQ(info.epoch, 1u);

  // Keep writing and kill the leader in the middle: every write acknowledged before survives.
  std::thread killer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    kill(nodes[0].pid, SIGKILL);
  });
  for (int i = 200; i < 100000; ++i) {
    std::string e = "e" + std::to_string(i);
    auto r = leader->Write("tags", "acked", WriteOp::AddElement(e), WriteOptions{"quorum", 5000});
    if (!r.ok()) break;  // connection lost: unknown from here on
    acked.insert(e);
  }
  killer.join();
  int st = 0;
  waitpid(nodes[0].pid, &st, 0);

  // Promote n2 with the CLI: exit 0, it leads epoch 2 and holds every acknowledged write.
  ProgramRun promote = RunProgram({SYNCLINE_CLI, "--cluster", cluster, "--node", "n2", "promote"});
  ASSERT_EQ(promote.exit_code, 0) << promote.output;
  EXPECT_NE(promote.output.find("epoch 2: n2 leads"), std::string::npos) << promote.output;
  auto n2 = Connect(nodes[1].client);
  auto after = n2->Read("tags", "acked");
  ASSERT_TRUE(after.ok()) << after.status();
  std::set<std::string> held(after->values.begin(), after->values.end());
  for (const auto& e : acked) ASSERT_TRUE(held.count(e)) << "acknowledged write " << e << " was lost";

  // n2 takes writes; n3 now redirects to n2.
  ASSERT_TRUE(n2->Write("kv", "after", WriteOp::Put("x"), WriteOptions{"one", 5000}).ok());
  auto n3 = Connect(nodes[2].client);
  EXPECT_EQ(n3->Write("kv", "b", WriteOp::Put("2")).status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(n3->last_redirect().leader, "n2");

  // The old leader restarts from its config, learns epoch 2 and follows n2; it refuses writes.
  int pid = StartDaemon({SYNCLINE_NODE, "--config", nodes[0].config}, cdir + "/n1/restart.log");
  ASSERT_GT(pid, 0);
  DaemonGuard restarted(pid);  // the cluster file still names the pid n1 had before
  ASSERT_TRUE(Eventually([&] {
    auto s = StatusOf(nodes[0].client);
    return s.ok() && s->epoch == 2 && s->role == "follower" && s->leader == "n2";
  }));
  auto n1 = Connect(nodes[0].client);
  EXPECT_EQ(n1->Write("kv", "c", WriteOp::Put("3")).status().code(), StatusCode::kFailedPrecondition);
  // Everyone converges on n2's history.
  ASSERT_TRUE(Eventually([&] {
    std::set<std::string> digests;
    for (const auto& n : nodes) {
      auto c = Client::Connect(n.client, 2000);
      auto d = c.ok() ? (*c)->Digest() : Result<std::string>(c.status());
      if (!d.ok()) return false;
      digests.insert(*d);
    }
    return digests.size() == 1;
  }));
  auto on_n1 = n1->Read("tags", "acked");
  ASSERT_TRUE(on_n1.ok());
  std::set<std::string> n1_held(on_n1->values.begin(), on_n1->values.end());
  for (const auto& e : acked) EXPECT_TRUE(n1_held.count(e)) << e;

  // Status through the CLI shows mode, role, epoch and leader of every node.
  ProgramRun status = RunProgram({SYNCLINE_CLI, "--cluster", cluster, "--json", "status"});
  EXPECT_EQ(status.exit_code, 0) << status.output;
  EXPECT_NE(status.output.find("\"node_id\":\"n2\",\"replica_id\""), std::string::npos) << status.output;
  EXPECT_NE(status.output.find("\"role\":\"leader\",\"epoch\":2,\"leader\":\"n2\""), std::string::npos) << status.output;
  EXPECT_NE(status.output.find("\"mode\":\"leader-follower\",\"role\":\"follower\",\"epoch\":2"), std::string::npos)
      << status.output;
}

TEST_F(LeaderFollowerProcesses, ModeSwitchesOnALiveClusterAndPromoteExitCodes) {
  std::string cdir = dir_.str() + "/c";
  std::string cluster = cdir + "/cluster.toml";
  ProgramRun up = RunProgram({SYNCLINE_CLI, "cluster", "up", "--nodes", "3", "--dir", cdir});
  ASSERT_EQ(up.exit_code, 0) << up.output;
  up_ = true;
  auto nodes = ReadClusterFile(cdir);
  ASSERT_EQ(nodes.size(), 3u);
  for (const auto& n : nodes) {
    auto c = Connect(n.client);
    ASSERT_TRUE(c->Write("counters", "hits", WriteOp::Add(1)).ok());
  }
  // Usage errors: no node named, unknown mode.
  EXPECT_EQ(RunProgram({SYNCLINE_CLI, "--cluster", cluster, "promote"}).exit_code, 1);
  EXPECT_EQ(RunProgram({SYNCLINE_CLI, "--cluster", cluster, "--node", "n3", "promote", "--mode", "raft"}).exit_code, 1);
  // Multi-leader -> leader-follower led by n3, live; then back.
  ProgramRun lf = RunProgram({SYNCLINE_CLI, "--cluster", cluster, "--node", "n3", "promote"});
  ASSERT_EQ(lf.exit_code, 0) << lf.output;
  ASSERT_TRUE(Eventually([&] {
    auto s = StatusOf(nodes[0].client);
    return s.ok() && s->mode == "leader-follower" && s->leader == "n3";
  }));
  auto n1 = Connect(nodes[0].client);
  EXPECT_EQ(n1->Write("counters", "hits", WriteOp::Add(1)).status().code(), StatusCode::kFailedPrecondition);
  auto n3 = Connect(nodes[2].client);
  ASSERT_TRUE(n3->Write("counters", "hits", WriteOp::Add(10), WriteOptions{"all", 10000}).ok());
  ProgramRun ml = RunProgram({SYNCLINE_CLI, "--cluster", cluster, "--node", "n1", "promote", "--mode", "multi-leader"});
  ASSERT_EQ(ml.exit_code, 0) << ml.output;
  ASSERT_TRUE(Eventually([&] {
    for (const auto& n : nodes) {
      auto s = StatusOf(n.client);
      if (!s.ok() || s->mode != "multi-leader" || s->epoch != 2) return false;
    }
    return true;
  }));
  ASSERT_TRUE(Eventually([&] { return n1->Write("counters", "hits", WriteOp::Add(100)).ok(); }));
  ASSERT_TRUE(Eventually([&] {
    for (const auto& n : nodes) {
      auto c = Client::Connect(n.client, 2000);
      auto r = c.ok() ? (*c)->Read("counters", "hits") : Result<replication::ReadResult>(c.status());
      if (!r.ok() || r->counter != 113) return false;
    }
    return true;
  }));
}

}  // namespace
}  // namespace syncline::testing
