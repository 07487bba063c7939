// `syncline watch` against real syncline-node processes started by `syncline cluster up`:
// commit order across nodes, JSON lines, a named cursor that survives between runs and shows up in
// `syncline status`, following new changes, and the exit codes.
#include <gtest/gtest.h>
#include <httplib.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include "process_support.h"
#include "support/temp_dir.h"
#include "syncline/node/client.h"

extern char** environ;

namespace syncline::testing {
namespace {

using replication::WriteOp;

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) out.push_back(line);
  }
  return out;
}

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

class WatchProcess : public ::testing::Test {
 protected:
  void SetUp() override {
    cdir_ = dir_.str() + "/c";
    cf_ = cdir_ + "/cluster.toml";
    ProgramRun up = RunProgram({SYNCLINE_CLI, "cluster", "up", "--nodes", "2", "--dir", cdir_});
    ASSERT_EQ(up.exit_code, 0) << up.output;
    up_ = true;
    nodes_ = ReadClusterFile(cdir_);
    ASSERT_EQ(nodes_.size(), 2u);
  }
  void TearDown() override {
    if (up_) RunProgram({SYNCLINE_CLI, "--cluster", cf_, "cluster", "down"});
  }
  ProgramRun Cli(std::vector<std::string> args) {
    std::vector<std::string> argv = {SYNCLINE_CLI, "--cluster", cf_};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunProgram(argv);
  }
  // Waits until node `i` holds `key` in kv.
  bool WaitForKey(size_t i, const std::string& key) {
    auto c = Connect(nodes_[i].client);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (c != nullptr && std::chrono::steady_clock::now() < deadline) {
      auto r = c->Read("kv", key);
      if (r.ok() && r->found) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }

  TempDir dir_;
  std::string cdir_, cf_;
  std::vector<ClusterNode> nodes_;
  bool up_ = false;
};

TEST_F(WatchProcess, PrintsChangesInCommitOrderAndKeepsACursor) {
  const std::string n1 = nodes_[0].id, n2 = nodes_[1].id;
  ASSERT_EQ(Cli({"--node", n1, "put", "kv", "a", "one"}).exit_code, 0);
  ASSERT_TRUE(WaitForKey(1, "a"));
  ASSERT_EQ(Cli({"--node", n2, "put", "kv", "b", "two"}).exit_code, 0);
  ASSERT_EQ(Cli({"--node", n1, "put", "kv", "c", "three"}).exit_code, 0);
  ASSERT_TRUE(WaitForKey(1, "c"));

  // n2's feed: a (replicated), b (local), c (replicated), in that order, as JSON lines.
  ProgramRun all = Cli({"--node", n2, "--json", "watch"});
  ASSERT_EQ(all.exit_code, 0) << all.output;
  auto lines = Lines(all.output);
  ASSERT_EQ(lines.size(), 3u) << all.output;
  EXPECT_NE(lines[0].find("\"seq\":1,\"collection\":\"kv\",\"key\":\"a\""), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find("\"local\":false,\"value\":\"one\""), std::string::npos) << lines[0];
  EXPECT_NE(lines[1].find("\"key\":\"b\""), std::string::npos) << lines[1];
  EXPECT_NE(lines[1].find("\"local\":true"), std::string::npos) << lines[1];
  EXPECT_NE(lines[2].find("\"seq\":3"), std::string::npos) << lines[2];
  EXPECT_NE(lines[2].find("\"value\":\"three\""), std::string::npos) << lines[2];

  // --from skips what came before; text output is one change per line.
  ProgramRun from = Cli({"--node", n2, "watch", "--from", "2"});
  ASSERT_EQ(from.exit_code, 0) << from.output;
  ASSERT_EQ(Lines(from.output).size(), 1u) << from.output;
  EXPECT_EQ(Lines(from.output)[0].rfind("3\t", 0), 0u) << from.output;

  // A named cursor: the first run reads two and stops; the next run continues after them.
  ProgramRun first = Cli({"--node", n2, "watch", "--cursor", "audit", "--limit", "2"});
  ASSERT_EQ(first.exit_code, 0) << first.output;
  EXPECT_EQ(Lines(first.output).size(), 2u) << first.output;
  ProgramRun status = Cli({"--node", n2, "--json", "status"});
  ASSERT_EQ(status.exit_code, 0) << status.output;
  EXPECT_NE(status.output.find("\"consumers\":[{\"name\":\"audit\",\"cursor\":2,\"lag\":1}]"), std::string::npos)
      << status.output;
  // The admin endpoint shows it too, for monitoring.
  {
    const std::string& admin = nodes_[1].admin;
    ASSERT_FALSE(admin.empty());
    size_t colon = admin.rfind(':');
    httplib::Client http(admin.substr(0, colon), std::stoi(admin.substr(colon + 1)));
    auto metrics = http.Get("/metrics");
    ASSERT_TRUE(metrics) << "no answer from the admin endpoint " << admin;
    EXPECT_NE(metrics->body.find("syncline_feed_consumer_lag{consumer=\"audit\"} 1\n"), std::string::npos)
        << metrics->body;
    EXPECT_NE(metrics->body.find("syncline_feed_head 3\n"), std::string::npos) << metrics->body;
    auto st = http.Get("/status");
    ASSERT_TRUE(st);
    EXPECT_NE(st->body.find("\"consumers\":[{\"name\":\"audit\",\"cursor\":2,\"lag\":1}]"), std::string::npos)
        << st->body;
  }
  ProgramRun second = Cli({"--node", n2, "watch", "--cursor", "audit"});
  ASSERT_EQ(second.exit_code, 0) << second.output;
  ASSERT_EQ(Lines(second.output).size(), 1u) << second.output;
  EXPECT_NE(second.output.find("three"), std::string::npos) << second.output;

  // Usage errors and failures have their exit codes.
  EXPECT_EQ(Cli({"--node", n2, "watch", "--from", "1", "--cursor", "x"}).exit_code, 1);
  ProgramRun beyond = Cli({"--node", n2, "watch", "--from", "99"});
  EXPECT_EQ(beyond.exit_code, 2) << beyond.output;
  EXPECT_NE(beyond.output.find("beyond this node's head"), std::string::npos) << beyond.output;
  EXPECT_EQ(Cli({"--node", "127.0.0.1:1", "watch"}).exit_code, 2);
}

TEST_F(WatchProcess, FollowPrintsNewChangesAndReportsALostConnection) {
  // A follower in the background that stops after three changes.
  std::string out_file = dir_.str() + "/follow.out";
  std::vector<std::string> argv = {SYNCLINE_CLI, "--cluster", cf_, "--node", nodes_[0].id, "watch", "--follow",
                                   "--limit", "3", "--poll-ms", "20"};
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, out_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  pid_t pid = 0;
  ASSERT_EQ(posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ), 0);
  posix_spawn_file_actions_destroy(&actions);
  for (const char* k : {"x", "y", "z"}) ASSERT_EQ(Cli({"--node", nodes_[0].id, "put", "kv", k, k}).exit_code, 0);
  int st = 0;
  ASSERT_EQ(waitpid(pid, &st, 0), pid);
  ASSERT_TRUE(WIFEXITED(st));
  EXPECT_EQ(WEXITSTATUS(st), 0);
  std::ifstream in(out_file);
  std::stringstream ss;
  ss << in.rdbuf();
  auto lines = Lines(ss.str());
  ASSERT_EQ(lines.size(), 3u) << ss.str();
  EXPECT_NE(lines[0].find("\tkv\tx\tx"), std::string::npos) << lines[0];
  EXPECT_NE(lines[2].find("\tkv\tz\tz"), std::string::npos) << lines[2];

  // A follower whose node goes away exits with 3 (connection lost). It has printed the one change
  // of that node, so it is connected and polling when the node is killed.
  ASSERT_EQ(Cli({"--node", nodes_[1].id, "put", "kv", "w", "w"}).exit_code, 0);
  std::string out2 = dir_.str() + "/follow2.out";
  std::vector<std::string> argv2 = {SYNCLINE_CLI, "--cluster", cf_, "--node", nodes_[1].id, "--timeout-ms", "2000",
                                    "watch", "--follow", "--poll-ms", "20"};
  posix_spawn_file_actions_t actions2;
  posix_spawn_file_actions_init(&actions2);
  posix_spawn_file_actions_addopen(&actions2, STDOUT_FILENO, out2.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  std::vector<char*> args2;
  for (auto& a : argv2) args2.push_back(a.data());
  args2.push_back(nullptr);
  pid_t pid2 = 0;
  ASSERT_EQ(posix_spawn(&pid2, args2[0], &actions2, nullptr, args2.data(), environ), 0);
  posix_spawn_file_actions_destroy(&actions2);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  bool printed = false;
  while (!printed && std::chrono::steady_clock::now() < deadline) {
    std::ifstream f(out2);
    std::stringstream text;
    text << f.rdbuf();
    printed = text.str().find("\tkv\tw\tw") != std::string::npos;
    if (!printed) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_TRUE(printed);
  kill(nodes_[1].pid, SIGKILL);
  ASSERT_EQ(waitpid(pid2, &st, 0), pid2);
  ASSERT_TRUE(WIFEXITED(st));
  EXPECT_EQ(WEXITSTATUS(st), 3);
}

}  // namespace
}  // namespace syncline::testing
