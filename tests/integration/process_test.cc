// Real processes: syncline-node daemons started by `syncline cluster up`, used through the client
// protocol and the CLI, killed with SIGKILL and restarted; and bad input to both binaries.
#include <gtest/gtest.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <asio.hpp>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
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

bool WaitConverged(const std::vector<ClusterNode>& nodes, std::string* last) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
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
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

class Processes : public ::testing::Test {
 protected:
  void TearDown() override {
    if (up_) RunProgram({SYNCLINE_CLI, "--cluster", dir_.str() + "/c/cluster.toml", "cluster", "down"});
  }
  TempDir dir_;
  bool up_ = false;
};

TEST_F(Processes, LocalClusterReplicatesSurvivesKillAndStops) {
  std::string cdir = dir_.str() + "/c";
  ProgramRun up = RunProgram({SYNCLINE_CLI, "cluster", "up", "--nodes", "3", "--dir", cdir});
  ASSERT_EQ(up.exit_code, 0) << up.output;
  up_ = true;
  auto nodes = ReadClusterFile(cdir);
  ASSERT_EQ(nodes.size(), 3u);

  // Writes through different nodes, all types (the cluster creates kv, docs, counters, tags,
  // profiles on every node).
  int64_t total = 0;
  for (int i = 0; i < 60; ++i) {
    auto c = Connect(nodes[i % 3].client);
    ASSERT_NE(c, nullptr);
    std::string k = "k" + std::to_string(i % 7);
    ASSERT_TRUE(c->Write("kv", k, WriteOp::Put("v" + std::to_string(i))).ok());
    ASSERT_TRUE(c->Write("counters", "hits", WriteOp::Add(i)).ok());
    total += i;
    ASSERT_TRUE(c->Write("tags", k, WriteOp::AddElement("t" + std::to_string(i))).ok());
    ASSERT_TRUE(c->Write("profiles", k, WriteOp::SetField({conflict::Field::Register("name")}, "n" + std::to_string(i))).ok());
    auto read = c->Read("docs", k);
    ASSERT_TRUE(read.ok()) << read.status();
    ASSERT_TRUE(c->Write("docs", k, WriteOp::Put("d" + std::to_string(i), read->token)).ok());
  }
  std::string last;
  ASSERT_TRUE(WaitConverged(nodes, &last)) << last;
  ProgramRun digest = RunProgram({SYNCLINE_CLI, "--cluster", cdir + "/cluster.toml", "digest"});
  EXPECT_EQ(digest.exit_code, 0) << digest.output;
  EXPECT_NE(digest.output.find("all equal"), std::string::npos) << digest.output;
  ProgramRun status = RunProgram({SYNCLINE_CLI, "--cluster", cdir + "/cluster.toml", "--json", "status"});
  EXPECT_EQ(status.exit_code, 0) << status.output;
  EXPECT_NE(status.output.find("\"node_id\":\"n3\""), std::string::npos) << status.output;

  // SIGKILL n3, write around it, restart it from its config: it catches up and nothing is lost.
  ASSERT_EQ(kill(nodes[2].pid, SIGKILL), 0);
  int st = 0;
  waitpid(nodes[2].pid, &st, 0);
  for (int i = 0; i < 30; ++i) {
    auto c = Connect(nodes[i % 2].client);
    ASSERT_TRUE(c->Write("counters", "hits", WriteOp::Add(1000)).ok());
    total += 1000;
  }
  pid_t pid = StartDaemon({SYNCLINE_NODE, "--config", nodes[2].config}, cdir + "/n3/restart.log");
  ASSERT_GT(pid, 0);
  ASSERT_TRUE(WaitConverged(nodes, &last)) << last;
  for (const auto& n : nodes) {
    auto c = Connect(n.client);
    auto r = c->Read("counters", "hits");
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->counter, total) << n.id;
  }
  // The CLI reads what the library wrote.
  ProgramRun get = RunProgram({SYNCLINE_CLI, "--cluster", cdir + "/cluster.toml", "--node", "n3", "get", "counters", "hits"});
  EXPECT_EQ(get.exit_code, 0) << get.output;
  EXPECT_NE(get.output.find(std::to_string(total)), std::string::npos) << get.output;

  // SIGTERM stops it cleanly (exit 0).
  ASSERT_EQ(kill(pid, SIGTERM), 0);
  waitpid(pid, &st, 0);
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << st;
  ProgramRun down = RunProgram({SYNCLINE_CLI, "--cluster", cdir + "/cluster.toml", "cluster", "down"});
  EXPECT_EQ(down.exit_code, 0) << down.output;
  up_ = false;
  for (const auto& n : nodes) EXPECT_TRUE(ProcessGone(n.pid)) << n.id << " still running";
}

TEST_F(Processes, NodeRefusesBadFlagsSecondInstanceAndForeignDirectory) {
  std::string secret = dir_.str() + "/secret";
  std::ofstream(secret) << "0123456789abcdef0123456789abcdef\n";
  std::string data = dir_.str() + "/data";
  ProgramRun unknown = RunProgram({SYNCLINE_NODE, "--no-such-flag"});
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_NE(unknown.output.find("no-such-flag"), std::string::npos) << unknown.output;
  ProgramRun missing = RunProgram({SYNCLINE_NODE, "--data-dir", data, "--secret-file", secret});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.output.find("--node-id is required"), std::string::npos) << missing.output;
  ProgramRun bad_addr = RunProgram({SYNCLINE_NODE, "--node-id", "a", "--data-dir", data, "--secret-file", secret, "--peer-listen", "nowhere"});
  EXPECT_EQ(bad_addr.exit_code, 1);
  EXPECT_NE(bad_addr.output.find("--peer-listen 'nowhere'"), std::string::npos) << bad_addr.output;
  ProgramRun bad_mode = RunProgram({SYNCLINE_NODE, "--node-id", "a", "--data-dir", data, "--secret-file", secret, "--mode", "chaos"});
  EXPECT_EQ(bad_mode.exit_code, 1);

  // A running node, then a second instance on the same directory.
  std::vector<std::string> args = {SYNCLINE_NODE, "--node-id", "a", "--data-dir", data, "--secret-file", secret,
                                   "--peer-listen", "127.0.0.1:0", "--client-listen", "127.0.0.1:0", "--admin-listen", "",
                                   "--cluster-id", "one"};
  pid_t first = StartDaemon(args, dir_.str() + "/first.log");
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  ProgramRun second = RunProgram(args);
  EXPECT_EQ(second.exit_code, 2) << second.output;
  EXPECT_NE(second.output.find("in use by another store"), std::string::npos) << second.output;
  kill(first, SIGTERM);
  int st = 0;
  waitpid(first, &st, 0);
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);

  // The directory belongs to cluster "one" now.
  args.back() = "two";
  ProgramRun foreign = RunProgram(args);
  EXPECT_EQ(foreign.exit_code, 2) << foreign.output;
  EXPECT_NE(foreign.output.find("belongs to cluster 'one'"), std::string::npos) << foreign.output;
}

// A socket listening on a free port of 127.0.0.1; with `reuse_port`, the way an HTTP server
// that sets SO_REUSEPORT would hold it. Returns the fd and stores the port.
int HoldPort(bool reuse_port, uint16_t* port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  int yes = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  if (reuse_port) ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &yes, sizeof(yes));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 || ::listen(fd, 8) != 0) {
    ::close(fd);
    return -1;
  }
  socklen_t len = sizeof(a);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  *port = ntohs(a.sin_port);
  return fd;
}

// Runs a node that is expected to exit by itself; one still running after 30 s is stopped and
// reported as exit code -1.
ProgramRun RunNodeExpectingExit(const std::vector<std::string>& args, const std::string& log) {
  std::remove(log.c_str());
  int pid = StartDaemon(args, log);
  ProgramRun run;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (pid > 0) {
    int st = 0;
    if (::waitpid(pid, &st, WNOHANG) == pid) {
      run.exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      break;
    }
    if (std::chrono::steady_clock::now() > deadline) {
      StopDaemon(pid);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::ifstream in(log);
  std::stringstream text;
  text << in.rdbuf();
  run.output = text.str();
  return run;
}

TEST_F(Processes, ANodeWhosePortIsTakenExitsWithItsOwnCodeAndClusterUpReportsANodeThatExits) {
  std::string secret = dir_.str() + "/secret";
  std::ofstream(secret) << "0123456789abcdef0123456789abcdef\n";
  const std::vector<std::string> base = {SYNCLINE_NODE, "--node-id", "a", "--data-dir", dir_.str() + "/data",
                                         "--secret-file", secret, "--cluster-id", "one"};
  struct Case {
    std::string flag;
    bool reuse_port;
    std::string message;
  };
  // The admin case holds its port with SO_REUSEPORT, as a second node's HTTP server would: the
  // node must still refuse to share it.
  for (const Case& c : {Case{"--peer-listen", false, "cannot listen for peers on 127.0.0.1:"},
                        Case{"--client-listen", false, "cannot listen for clients on 127.0.0.1:"},
                        Case{"--admin-listen", true, "cannot listen for admin HTTP on 127.0.0.1:"}}) {
    SCOPED_TRACE(c.flag);
    uint16_t port = 0;
    int held = HoldPort(c.reuse_port, &port);
    ASSERT_GE(held, 0);
    std::vector<std::string> args = base;
    for (std::string flag : {"--peer-listen", "--client-listen", "--admin-listen"}) {
      args.push_back(flag);
      args.push_back(flag == c.flag ? "127.0.0.1:" + std::to_string(port) : (flag == "--admin-listen" ? "" : "127.0.0.1:0"));
    }
    ProgramRun run = RunNodeExpectingExit(args, dir_.str() + "/node.log");
    ::close(held);
    EXPECT_EQ(run.exit_code, 3) << run.output;
    EXPECT_NE(run.output.find(c.message + std::to_string(port)), std::string::npos) << run.output;
    EXPECT_NE(run.output.find("in use"), std::string::npos) << run.output;
  }

  // A node that cannot start is reported at once, with the end of its log, and its siblings are
  // stopped (the directory can be brought up again at once).
  const std::string cdir = dir_.str() + "/c";
  ProgramRun bad = RunProgram({SYNCLINE_CLI, "cluster", "up", "--nodes", "2", "--dir", cdir, "--collection", "kv=bogus"});
  EXPECT_EQ(bad.exit_code, 2) << bad.output;
  EXPECT_NE(bad.output.find("exited during start (exit code 1)"), std::string::npos) << bad.output;
  EXPECT_NE(bad.output.find("no resolver named 'bogus'"), std::string::npos) << bad.output;
  EXPECT_NE(bad.output.find("the nodes were stopped"), std::string::npos) << bad.output;
  ProgramRun good = RunProgram({SYNCLINE_CLI, "cluster", "up", "--nodes", "2", "--dir", cdir});
  up_ = good.exit_code == 0;
  EXPECT_EQ(good.exit_code, 0) << good.output;
}

TEST_F(Processes, ClusterUpOnAStoppedClusterBringsItBackWithItsData) {
  const std::string cdir = dir_.str() + "/c", cf = cdir + "/cluster.toml";
  ProgramRun up = RunProgram({SYNCLINE_CLI, "cluster", "up", "--nodes", "2", "--dir", cdir});
  ASSERT_EQ(up.exit_code, 0) << up.output;
  up_ = true;
  const std::vector<ClusterNode> before = ReadClusterFile(cdir);
  ASSERT_EQ(RunProgram({SYNCLINE_CLI, "--cluster", cf, "--node", "n1", "put", "kv", "k", "kept"}).exit_code, 0);
  ASSERT_EQ(RunProgram({SYNCLINE_CLI, "--cluster", cf, "cluster", "down"}).exit_code, 0);
  up_ = false;
  ProgramRun again = RunProgram({SYNCLINE_CLI, "cluster", "up", "--nodes", "2", "--dir", cdir});
  ASSERT_EQ(again.exit_code, 0) << again.output;
  up_ = true;
  const std::vector<ClusterNode> after = ReadClusterFile(cdir);
  ASSERT_EQ(after.size(), 2u);
  EXPECT_NE(after[0].pid, before[0].pid);
  ProgramRun get = RunProgram({SYNCLINE_CLI, "--cluster", cf, "--node", "n2", "get", "kv", "k"});
  EXPECT_EQ(get.exit_code, 0) << get.output;
  EXPECT_NE(get.output.find("kept"), std::string::npos) << get.output;
}

TEST_F(Processes, CliExitCodesAndGarbageOnTheClientPort) {
  std::string cdir = dir_.str() + "/c";
  ProgramRun up = RunProgram({SYNCLINE_CLI, "cluster", "up", "--nodes", "1", "--dir", cdir});
  ASSERT_EQ(up.exit_code, 0) << up.output;
  up_ = true;
  auto nodes = ReadClusterFile(cdir);
  std::string cf = cdir + "/cluster.toml";
  ProgramRun put = RunProgram({SYNCLINE_CLI, "--cluster", cf, "put", "kv", "k", "v"});
  ASSERT_EQ(put.exit_code, 0) << put.output;
  // Read-your-writes: get --after the change the put printed answers; a change the node never
  // held fails after the wait, naming it; a malformed change is a usage error.
  size_t at = put.output.find("(change ");
  ASSERT_NE(at, std::string::npos) << put.output;
  std::string change = put.output.substr(at + 8, put.output.find(')', at) - at - 8);
  ProgramRun after = RunProgram({SYNCLINE_CLI, "--cluster", cf, "get", "kv", "k", "--after", change});
  EXPECT_EQ(after.exit_code, 0) << after.output;
  EXPECT_NE(after.output.find('v'), std::string::npos) << after.output;
  std::string never = change.substr(0, change.find(':')) + ":999999";
  ProgramRun timed_out = RunProgram({SYNCLINE_CLI, "--cluster", cf, "get", "kv", "k", "--after", never, "--wait-ms", "50"});
  EXPECT_EQ(timed_out.exit_code, 2) << timed_out.output;
  EXPECT_NE(timed_out.output.find("does not hold change " + never), std::string::npos) << timed_out.output;
  ProgramRun malformed = RunProgram({SYNCLINE_CLI, "--cluster", cf, "get", "kv", "k", "--after", "12"});
  EXPECT_EQ(malformed.exit_code, 1) << malformed.output;
  EXPECT_NE(malformed.output.find("expected ORIGIN:COUNTER"), std::string::npos) << malformed.output;
  ProgramRun usage = RunProgram({SYNCLINE_CLI, "--cluster", cf, "put", "kv"});
  EXPECT_EQ(usage.exit_code, 1) << usage.output;
  ProgramRun missing = RunProgram({SYNCLINE_CLI, "--cluster", cf, "put", "nope", "k", "v"});
  EXPECT_EQ(missing.exit_code, 2) << missing.output;
  EXPECT_NE(missing.output.find("no collection 'nope'"), std::string::npos) << missing.output;
  ProgramRun wrong_type = RunProgram({SYNCLINE_CLI, "--cluster", cf, "counter", "add", "kv", "k", "3"});
  EXPECT_EQ(wrong_type.exit_code, 2) << wrong_type.output;
  ProgramRun unreachable = RunProgram({SYNCLINE_CLI, "--node", "127.0.0.1:1", "get", "kv", "k"});
  EXPECT_EQ(unreachable.exit_code, 2) << unreachable.output;
  {
    // A value above the node's limit (1 MiB) is refused with a clear error, nothing applied.
    auto c = Connect(nodes[0].client);
    auto r = c->Write("kv", "k", WriteOp::Put(std::string(2 << 20, 'x')));
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << r.status();
    EXPECT_NE(r.status().message().find("above the limit"), std::string::npos) << r.status();
  }

  // Garbage on the client port closes that connection; the node keeps serving.
  {
    asio::io_context io;
    asio::ip::tcp::socket raw(io);
    size_t colon = nodes[0].client.rfind(':');
    raw.connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"),
                                        static_cast<uint16_t>(std::stoi(nodes[0].client.substr(colon + 1)))));
    std::string garbage = "GET / HTTP/1.1\r\n\r\n" + std::string(100, '\xff');
    asio::write(raw, asio::buffer(garbage));
    char buf[64];
    std::error_code ec;
    raw.read_some(asio::buffer(buf), ec);  // returns when the node closes the connection
    EXPECT_TRUE(ec);
  }
  ProgramRun get = RunProgram({SYNCLINE_CLI, "--cluster", cf, "--json", "get", "kv", "k"});
  EXPECT_EQ(get.exit_code, 0) << get.output;
  EXPECT_NE(get.output.find("\"values\":[\"v\"]"), std::string::npos) << get.output;
}

}  // namespace
}  // namespace syncline::testing
