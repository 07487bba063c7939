// Read-your-writes across nodes through the client protocol: a read that names the version it
// must see (Read.min_origin/min_counter) is answered once the node holds that change, told by the
// replica (Replica::WhenHeld) rather than by polling; one that waits in vain is answered
// UNAVAILABLE naming the change, and its waiter is freed; a node that stops answers nothing
// further and leaves no waiter behind.
#include <gtest/gtest.h>

#include <future>
#include <string>

#include "support/temp_dir.h"
#include "syncline/node/client.h"
#include "test_cluster.h"

namespace syncline::testing {
namespace {

using replication::WriteOp;

class ReadYourWrites : public ::testing::Test {
 protected:
  std::unique_ptr<Node> Start(const std::string& id) {
    NodeOptions o = TestNodeOptions(id, (dir_ / id).string());
    o.serve_clients = true;
    auto n = StartNode(o);
    if (n != nullptr) {
      EXPECT_TRUE(n->CreateCollection("kv", "lww").ok());
    }
    return n;
  }
  std::unique_ptr<Client> ClientOf(Node& n) {
    auto c = Client::Connect("127.0.0.1:" + std::to_string(n.client_port()));
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? std::move(c).value() : nullptr;
  }
  // Node "a" with "kv"/"k" written once (`written`), a client of it, and a version it never held.
  void StartWithOneWrite() {
    a_ = Start("a");
    ASSERT_NE(a_, nullptr);
    auto w = a_->Write("kv", "k", WriteOp::Put("v"));
    ASSERT_TRUE(w.ok()) << w.status();
    written_ = w->dot;
    never_ = Dot{written_.replica, written_.counter + 1000};
    client_ = ClientOf(*a_);
    ASSERT_NE(client_, nullptr);
  }
  TempDir dir_;
  std::unique_ptr<Node> a_;
  std::unique_ptr<Client> client_;
  Dot written_, never_;
};

TEST_F(ReadYourWrites, AReadWaitsUntilTheNodeHoldsTheWriteItNames) {
  auto a = Start("a");
  auto b = Start("b");
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  // Not peered yet: b cannot have a's write.
  auto written = a->Write("kv", "k", WriteOp::Put("from-a"));
  ASSERT_TRUE(written.ok()) << written.status();
  auto client = ClientOf(*b);
  ASSERT_NE(client, nullptr);
  // Answered at once: a version b holds (none asked for).
  auto now = client->Read("kv", "k", ReadOptions{}, nullptr);
  ASSERT_TRUE(now.ok()) << now.status();
  EXPECT_FALSE(now->found);

  auto waiting = std::async(std::launch::async, [&] {
    return client->Read("kv", "k", ReadOptions{written->dot, 60'000}, nullptr);
  });
  ASSERT_TRUE(WaitFor([&] { return b->replica().stats().dot_waiters == 1; }));
  EXPECT_EQ(waiting.wait_for(std::chrono::milliseconds(0)), std::future_status::timeout);
  b->AddPeer(a->peer_address());
  auto read = waiting.get();
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_TRUE(read->found);
  EXPECT_EQ(read->values, std::vector<std::string>{"from-a"});
  EXPECT_EQ(b->replica().stats().dot_waiters, 0u);
  // Held now: answered at once.
  auto again = client->Read("kv", "k", ReadOptions{written->dot, 1}, nullptr);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->values, std::vector<std::string>{"from-a"});
}

TEST_F(ReadYourWrites, AReadThatWaitsInVainIsUnavailableAndFreesItsWaiter) {
  ASSERT_NO_FATAL_FAILURE(StartWithOneWrite());
  auto read = client_->Read("kv", "k", ReadOptions{never_, 50}, nullptr);
  EXPECT_EQ(read.status().code(), StatusCode::kUnavailable) << read.status();
  EXPECT_NE(read.status().message().find(":" + std::to_string(never_.counter) + " after 50 ms"), std::string::npos)
      << read.status();
  EXPECT_EQ(a_->replica().stats().dot_waiters, 0u);
  // The connection still serves.
  auto plain = client_->Read("kv", "k", ReadOptions{written_, 50}, nullptr);
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_EQ(plain->values, std::vector<std::string>{"v"});
}

TEST_F(ReadYourWrites, StoppingANodeLeavesNoWaiterBehind) {
  ASSERT_NO_FATAL_FAILURE(StartWithOneWrite());
  auto waiting = std::async(std::launch::async, [&] { return client_->Read("kv", "k", ReadOptions{never_, 60'000}, nullptr); });
  ASSERT_TRUE(WaitFor([&] { return a_->replica().stats().dot_waiters == 1; }));
  // The waiter is cancelled before the node's io_context goes (under ASan a replica thread posting
  // to it afterwards would be caught), and the connection closes: the read fails, never hangs.
  a_->Stop();
  auto read = waiting.get();
  EXPECT_FALSE(read.ok());
}

}  // namespace
}  // namespace syncline::testing
