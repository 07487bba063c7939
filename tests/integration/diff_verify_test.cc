// `syncline diff` and `syncline verify` against real syncline-node processes: two nodes of one
// cluster converge, then one is restarted without peers (and on another peer port, so neither
// reaches the other) and both are written to so that every class of difference occurs once or
// twice; the JSON output's counts and keys and the exit codes are checked.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "process_support.h"
#include "support/temp_dir.h"
#include "syncline/node/client.h"

namespace syncline::testing {
namespace {

using replication::WriteOp;

std::unique_ptr<Client> Connect(const std::string& address) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
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

bool WaitConverged(const std::vector<ClusterNode>& nodes, std::string* last) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    std::set<std::string> digests;
    bool ok = true;
    for (const auto& n : nodes) {
      auto c = Client::Connect(n.client, 2000);
      auto d = c.ok() ? (*c)->Digest() : Result<std::string>(c.status());
      ok = ok && d.ok();
      if (d.ok()) digests.insert(*d);
      *last = d.ok() ? *d : d.status().ToString();
    }
    if (ok && digests.size() == 1) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

class DiffVerify : public ::testing::Test {
 protected:
  void TearDown() override {
    if (alone_ > 0) kill(alone_, SIGTERM);
    if (up_) RunProgram({SYNCLINE_CLI, "--cluster", cf_, "cluster", "down"});
  }
  ProgramRun Cli(std::vector<std::string> args) {
    args.insert(args.begin(), {SYNCLINE_CLI, "--cluster", cf_});
    return RunProgram(args);
  }
  TempDir dir_;
  std::string cf_;
  bool up_ = false;
  int alone_ = 0;
};

TEST_F(DiffVerify, ClassifiesEveryKindOfDifferenceAndVerifyNamesTheDivergedNode) {
  std::string cdir = dir_.str() + "/c";
  cf_ = cdir + "/cluster.toml";
  ProgramRun up = RunProgram({SYNCLINE_CLI, "cluster", "up", "--nodes", "2", "--dir", cdir});
  ASSERT_EQ(up.exit_code, 0) << up.output;
  up_ = true;
  auto nodes = ReadClusterFile(cdir);
  ASSERT_EQ(nodes.size(), 2u);

  // Shared history, written on n1 and replicated to n2.
  {
    auto a = Connect(nodes[0].client);
    ASSERT_NE(a, nullptr);
    for (const char* k : {"base", "conc", "dom-a", "dom-b", "same", "tomb"}) {
      ASSERT_TRUE(a->Write("kv", k, WriteOp::Put("0")).ok()) << k;
    }
    ASSERT_TRUE(a->Write("counters", "hits", WriteOp::Add(1)).ok());
    // Blind writes on two replicas are siblings whatever the order they arrive in.
    ASSERT_TRUE(a->Write("docs", "sib", WriteOp::Put("p")).ok());
    auto b = Connect(nodes[1].client);
    ASSERT_NE(b, nullptr);
    ASSERT_TRUE(b->Write("docs", "sib", WriteOp::Put("q")).ok());
  }
  std::string last;
  ASSERT_TRUE(WaitConverged(nodes, &last)) << last;
  ProgramRun verified = Cli({"--json", "verify", "--wait", "10"});
  EXPECT_EQ(verified.exit_code, 0) << verified.output;
  EXPECT_NE(verified.output.find("\"converged\":true"), std::string::npos) << verified.output;
  ProgramRun same = Cli({"--json", "diff", "n1", "n2"});
  EXPECT_EQ(same.exit_code, 0) << same.output;
  EXPECT_NE(same.output.find("\"differing\":0"), std::string::npos) << same.output;
  EXPECT_NE(same.output.find("\"keys_a\":8,\"keys_b\":8"), std::string::npos) << same.output;

  // n2 stops and comes back alone: no peers, and a new peer port n1 does not know.
  ASSERT_EQ(kill(nodes[1].pid, SIGTERM), 0);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!ProcessGone(nodes[1].pid) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_TRUE(ProcessGone(nodes[1].pid));
  std::stringstream config;
  config << std::ifstream(nodes[1].config).rdbuf();
  std::string alone = std::regex_replace(config.str(), std::regex("\npeers = [^\n]*"), "\npeers = []");
  alone = std::regex_replace(alone, std::regex("\npeer_listen = [^\n]*"), "\npeer_listen = \"127.0.0.1:0\"");
  ASSERT_NE(alone, config.str());
  std::string alone_config = cdir + "/n2/alone.toml";
  std::ofstream(alone_config) << alone;
  alone_ = StartDaemon({SYNCLINE_NODE, "--config", alone_config}, cdir + "/n2/alone.log");
  ASSERT_GT(alone_, 0);

  {
    auto a = Connect(nodes[0].client);
    auto b = Connect(nodes[1].client);
    ASSERT_NE(a, nullptr);
    ASSERT_NE(b, nullptr);
    auto ok = [](const Result<replication::WriteResult>& r) { return r.ok(); };
    ASSERT_TRUE(ok(a->Write("kv", "only-a", WriteOp::Put("1"))));   // only-on-a
    ASSERT_TRUE(ok(b->Write("kv", "only-b", WriteOp::Put("1"))));   // only-on-b
    ASSERT_TRUE(ok(a->Write("kv", "dom-a", WriteOp::Put("1"))));    // a-dominates
    ASSERT_TRUE(ok(b->Write("kv", "dom-b", WriteOp::Put("1"))));    // b-dominates
    ASSERT_TRUE(ok(a->Write("kv", "conc", WriteOp::Put("a"))));     // concurrent
    ASSERT_TRUE(ok(b->Write("kv", "conc", WriteOp::Put("b"))));
    ASSERT_TRUE(ok(a->Write("kv", "tomb", WriteOp::Delete())));     // tombstone-vs-live
    ASSERT_TRUE(ok(a->Write("kv", "same", WriteOp::Put("x"))));     // same-value-different-metadata
    ASSERT_TRUE(ok(b->Write("kv", "same", WriteOp::Put("x"))));
    ASSERT_TRUE(ok(a->Write("counters", "hits", WriteOp::Add(2))));  // same value (3), other totals
    ASSERT_TRUE(ok(b->Write("counters", "hits", WriteOp::Add(2))));
    // n1 replaces both siblings it read; n2 still holds the two.
    auto read = a->Read("docs", "sib");
    ASSERT_TRUE(read.ok()) << read.status();
    ASSERT_EQ(read->values.size(), 2u);
    ASSERT_TRUE(ok(a->Write("docs", "sib", WriteOp::Put("r", read->token))));  // a-dominates
  }

  ProgramRun diff = Cli({"--json", "diff", "n1", "n2"});
  EXPECT_EQ(diff.exit_code, 2) << diff.output;
  const std::string& out = diff.output;
  EXPECT_NE(out.find("\"differing\":9,\"counts\":{\"only-on-a\":1,\"only-on-b\":1,\"tombstone-vs-live\":1,"
                     "\"same-value-different-metadata\":2,\"a-dominates\":2,\"b-dominates\":1,\"concurrent\":1}"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("\"keys_a\":9,\"keys_b\":9"), std::string::npos) << out;
  EXPECT_NE(out.find("\"error\":null"), std::string::npos) << out;
  EXPECT_EQ(out.find("\"key\":\"base\""), std::string::npos) << out;  // equal on both: not listed
  // Every difference in key order (collection, then key), with its class.
  std::vector<std::pair<std::string, std::string>> expected = {
      {"same-value-different-metadata", "\"collection\":\"counters\",\"key\":\"hits\""},
      {"a-dominates", "\"collection\":\"docs\",\"key\":\"sib\""},
      {"concurrent", "\"collection\":\"kv\",\"key\":\"conc\""},
      {"a-dominates", "\"collection\":\"kv\",\"key\":\"dom-a\""},
      {"b-dominates", "\"collection\":\"kv\",\"key\":\"dom-b\""},
      {"only-on-a", "\"collection\":\"kv\",\"key\":\"only-a\""},
      {"only-on-b", "\"collection\":\"kv\",\"key\":\"only-b\""},
      {"same-value-different-metadata", "\"collection\":\"kv\",\"key\":\"same\""},
      {"tombstone-vs-live", "\"collection\":\"kv\",\"key\":\"tomb\""},
  };
  size_t at = 0;
  for (const auto& [cls, where] : expected) {
    size_t found = out.find("{\"class\":\"" + cls + "\"," + where, at);
    EXPECT_NE(found, std::string::npos) << cls << " " << where << "\n" << out;
    if (found != std::string::npos) at = found + 1;
  }
  EXPECT_NE(out.find("\"key\":\"only-a\",\"a\":{"), std::string::npos) << out;
  EXPECT_NE(out.find("\"key\":\"only-b\",\"a\":null"), std::string::npos) << out;
  EXPECT_NE(out.find("\"tombstone\":true,\"siblings\":0"), std::string::npos) << out;
    EXPECT_NE(out.find("\"tombstone\":false,\"siblings\":2"), std::string::npos) << out;

  // One collection, nodes by host:port; and the text form.
  ProgramRun counters = RunProgram({SYNCLINE_CLI, "--json", "diff", nodes[0].client, nodes[1].client, "--collection", "counters"});
  EXPECT_EQ(counters.exit_code, 2) << counters.output;
  EXPECT_NE(counters.output.find("\"differing\":1,"), std::string::npos) << counters.output;
  EXPECT_NE(counters.output.find("\"keys_a\":1,\"keys_b\":1"), std::string::npos) << counters.output;
  ProgramRun text = Cli({"diff", "n1", "n2", "--collection", "kv"});
  EXPECT_EQ(text.exit_code, 2) << text.output;
  EXPECT_NE(text.output.find("n1 vs n2: 7 differing keys"), std::string::npos) << text.output;

  // verify: not converged; n2 differs from n1 (the groups tie; the earliest node's is the reference).
  ProgramRun v = Cli({"--json", "verify", "--wait", "0.3"});
  EXPECT_EQ(v.exit_code, 2) << v.output;
  EXPECT_NE(v.output.find("\"converged\":false"), std::string::npos) << v.output;
  EXPECT_NE(v.output.find("\"reference\":\"n1\",\"differing_nodes\":[\"n2\"]"), std::string::npos) << v.output;
  EXPECT_NE(v.output.find("\"differing\":9,"), std::string::npos) << v.output;
  ProgramRun vt = Cli({"verify", "--wait", "0", "--max-keys", "2"});
  EXPECT_EQ(vt.exit_code, 2) << vt.output;
  EXPECT_NE(vt.output.find("n2 differs from n1"), std::string::npos) << vt.output;
  EXPECT_NE(vt.output.find("... and 7 more differing keys"), std::string::npos) << vt.output;

  // A node that cannot be reached: verify fails and names it.
  ProgramRun unreachable = Cli({"--json", "verify", "--wait", "0", "n1", "127.0.0.1:1"});
  EXPECT_EQ(unreachable.exit_code, 2) << unreachable.output;
  EXPECT_NE(unreachable.output.find("\"differing_nodes\":[\"127.0.0.1:1\"]"), std::string::npos) << unreachable.output;
}

}  // namespace
}  // namespace syncline::testing
