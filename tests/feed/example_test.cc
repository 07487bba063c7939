// Runs the database-per-service example (examples/): the orders service with its own node, and
// the order-stats service projecting its change feed into a read model in a store of its own,
// including a crash of the projector between its commit and its acknowledgement. The read model
// must equal what the orders' final states say, with nothing missed and nothing counted twice.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <chrono>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "order.h"
#include "process_support.h"
#include "support/temp_dir.h"
#include "syncline/node/client.h"

extern char** environ;

namespace syncline::testing {
namespace {

using replication::WriteOp;

// The read model computed the naive way: from the final state of every order.
std::map<std::string, int64_t> Expected(Client& orders_node) {
  std::vector<DumpEntry> entries;
  EXPECT_TRUE(orders_node.Dump("orders", &entries).ok());
  std::map<std::string, int64_t> m;
  for (const auto& e : entries) {
    auto o = orders::Decode(e.rendered);
    if (!o) continue;
    m["orders"] += 1;
    m["cancelled"] += o->cancelled ? 1 : 0;
    m["revenue"] += o->cancelled ? 0 : o->amount_cents;
    m["revenue." + o->customer] += o->cancelled ? 0 : o->amount_cents;
  }
  return m;
}

// "name value" lines of the order-stats output; zero counters are left out on both sides.
std::map<std::string, int64_t> Parse(const std::string& out) {
  std::map<std::string, int64_t> m;
  std::istringstream in(out);
  std::string name;
  int64_t value = 0;
  while (in >> name >> value) m[name] = value;
  return m;
}

std::map<std::string, int64_t> NonZero(std::map<std::string, int64_t> m) {
  std::erase_if(m, [](const auto& kv) { return kv.second == 0; });
  return m;
}

uint64_t ConsumerLag(Client& c, uint64_t* cursor) {
  auto st = c.GetStatus();
  EXPECT_TRUE(st.ok()) << st.status();
  if (!st.ok()) return 0;
  for (const auto& f : st->feed_consumers) {
    if (f.name == "order-stats") {
      *cursor = f.cursor;
      return f.lag;
    }
  }
  ADD_FAILURE() << "consumer order-stats is not registered on the orders node";
  return 0;
}

TEST(DatabasePerServiceExample, ProjectsTheOrdersFeedExactlyOnceAcrossACrash) {
  TempDir dir;
  std::string port_file = dir.str() + "/orders.port";
  std::vector<std::string> argv = {ORDERS_SERVICE, "--data-dir", dir.str() + "/orders", "--port-file", port_file,
                                   "--place", "40"};
  std::string log = dir.str() + "/orders.log";
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  pid_t orders_pid = 0;
  ASSERT_EQ(posix_spawn(&orders_pid, args[0], &actions, nullptr, args.data(), environ), 0);
  posix_spawn_file_actions_destroy(&actions);
  struct Reaper {
    pid_t pid;
    ~Reaper() {
      kill(pid, SIGTERM);
      int st = 0;
      waitpid(pid, &st, 0);
    }
  } reaper{orders_pid};

  std::string port;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (port.empty() && std::chrono::steady_clock::now() < deadline) {
    std::ifstream in(port_file);
    std::getline(in, port);
    if (port.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_FALSE(port.empty()) << "the orders service did not start; see " << log;
  std::string orders_addr = "127.0.0.1:" + port;
  auto client = Client::Connect(orders_addr);
  ASSERT_TRUE(client.ok()) << client.status();
  Client& orders_node = **client;

  std::string stats_dir = dir.str() + "/order-stats";
  auto stats = [&](std::vector<std::string> extra) {
    std::vector<std::string> a = {ORDER_STATS_SERVICE, "--data-dir", stats_dir, "--orders", orders_addr};
    a.insert(a.end(), extra.begin(), extra.end());
    return RunProgram(a);
  };

  // First pass: everything placed so far, in batches of 7.
  ProgramRun first = stats({"--once", "--batch", "7"});
  ASSERT_EQ(first.exit_code, 0) << first.output;
  auto expected = NonZero(Expected(orders_node));
  EXPECT_EQ(expected["orders"], 40);
  EXPECT_EQ(NonZero(Parse(first.output)), expected) << first.output;
  uint64_t cursor = 0;
  EXPECT_EQ(ConsumerLag(orders_node, &cursor), 0u);

  // More business on the orders side: new orders, a cancellation, a re-pricing, a deletion.
  for (int i = 100; i < 110; ++i) {
    orders::Order o{"c" + std::to_string(i % 4), 1000 + i, false};
    ASSERT_TRUE(orders_node.Write("orders", "order-" + std::to_string(i), WriteOp::Put(orders::Encode(o))).ok());
  }
  ASSERT_TRUE(orders_node.Write("orders", "order-1", WriteOp::Put(orders::Encode({"c1", 137, true}))).ok());
  ASSERT_TRUE(orders_node.Write("orders", "order-2", WriteOp::Put(orders::Encode({"c2", 999, false}))).ok());
  ASSERT_TRUE(orders_node.Write("orders", "order-4", WriteOp::Delete()).ok());

  // The projector crashes right after committing its first batch, before acknowledging it: the
  // orders node still has it behind, but its own store knows better.
  uint64_t cursor_before = cursor;
  ProgramRun crashed = stats({"--batch", "3", "--crash-after-batches", "1"});
  EXPECT_EQ(crashed.exit_code, 9) << crashed.output;
  EXPECT_EQ(ConsumerLag(orders_node, &cursor), 13u);
  EXPECT_EQ(cursor, cursor_before);

  // Restarted, it resumes from its own position: no order missed, none counted twice.
  ProgramRun resumed = stats({"--once", "--batch", "3"});
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  expected = NonZero(Expected(orders_node));
  EXPECT_EQ(expected["orders"], 49);
  EXPECT_EQ(NonZero(Parse(resumed.output)), expected) << resumed.output;
  EXPECT_EQ(ConsumerLag(orders_node, &cursor), 0u);

  // Bad flags are a usage error; an unreachable orders service is exit code 3.
  EXPECT_EQ(stats({"--batch", "0"}).exit_code, 1);
  ProgramRun unreachable = RunProgram({ORDER_STATS_SERVICE, "--data-dir", dir.str() + "/other", "--orders", "127.0.0.1:1"});
  EXPECT_EQ(unreachable.exit_code, 3) << unreachable.output;
}

}  // namespace
}  // namespace syncline::testing
