// The change feed through the embedded API (syncline::Node): commit order across local and
// replicated changes, cursors across reopen, the transactional outbox (rollback, no double apply,
// no miss across a crash and reopen), retention pinned by a registered cursor, lag in the status.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "support/seed.h"
#include "support/temp_dir.h"
#include "syncline/node/client.h"
#include "test_cluster.h"

namespace syncline::testing {
namespace {

using replication::KeyedWrite;
using replication::WriteOp;

constexpr int64_t kDeadlineMillis = 60'000;

// Polls until `node` holds `key` in "orders" (replication is asynchronous).
bool WaitForKey(Node& node, const std::string& key) {
  auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(kDeadlineMillis);
  while (std::chrono::steady_clock::now() < end) {
    auto r = node.Read("orders", key);
    if (r.ok() && r->found) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

std::vector<FeedChange> ReadAll(Node& node, uint64_t after = 0) {
  std::vector<FeedChange> out;
  while (true) {
    auto b = node.ReadFeed(after, 3);
    EXPECT_TRUE(b.ok()) << b.status();
    if (!b.ok() || b->changes.empty()) return out;
    for (auto& c : b->changes) out.push_back(c);
    after = b->next();
  }
}

class FeedNodeTest : public ::testing::Test {
 protected:
  std::unique_ptr<Node> Open(const std::string& id, uint64_t retain = core::kDefaultFeedRetainEntries) {
    NodeOptions o = TestNodeOptions(id, (dir_ / id).string());
    o.feed_retain_entries = retain;
    auto n = Node::Open(o);
    EXPECT_TRUE(n.ok()) << n.status();
    if (!n.ok()) return nullptr;
    EXPECT_TRUE((*n)->CreateCollection("orders", "lww").ok());
    EXPECT_TRUE((*n)->CreateCollection("stats", "counter").ok());
    return std::move(n).value();
  }
  TempDir dir_;
};

TEST_F(FeedNodeTest, CommitOrderAcrossLocalAndReplicatedChanges) {
  auto a = StartNode(TestNodeOptions("a", (dir_ / "a").string()));
  ASSERT_NE(a, nullptr);
  NodeOptions bo = TestNodeOptions("b", (dir_ / "b").string());
  bo.peers = {a->peer_address()};
  auto b = StartNode(bo);
  ASSERT_NE(b, nullptr);
  for (Node* n : {a.get(), b.get()}) ASSERT_TRUE(n->CreateCollection("orders", "lww").ok());

  ASSERT_TRUE(a->Write("orders", "o1", WriteOp::Put("first")).ok());
  ASSERT_TRUE(WaitForKey(*b, "o1"));
  ASSERT_TRUE(b->Write("orders", "o2", WriteOp::Put("second")).ok());
  ASSERT_TRUE(a->Write("orders", "o3", WriteOp::Put("third")).ok());
  ASSERT_TRUE(WaitForKey(*b, "o3"));

  // b's log is keyed by origin (a's two changes, then b's); its feed is b's commit order.
  auto feed = ReadAll(*b);
  ASSERT_EQ(feed.size(), 3u);
  std::vector<std::string> keys, values;
  for (size_t i = 0; i < feed.size(); ++i) {
    EXPECT_EQ(feed[i].seq, i + 1);
    keys.push_back(feed[i].key);
    values.push_back(feed[i].rendered);
  }
  EXPECT_EQ(keys, (std::vector<std::string>{"o1", "o2", "o3"}));
  EXPECT_EQ(values, (std::vector<std::string>{"first", "second", "third"}));
  EXPECT_FALSE(feed[0].local);
  EXPECT_TRUE(feed[1].local);
  EXPECT_FALSE(feed[2].local);
  EXPECT_EQ(feed[0].dot.replica, a->replica().id());
  EXPECT_EQ(feed[1].dot.replica, b->replica().id());
  EXPECT_EQ(feed[0].collection, "orders");
  EXPECT_EQ(feed[0].resolver, "lww");
}

TEST_F(FeedNodeTest, CursorPersistsAcrossReopen) {
  {
    auto n = Open("n");
    ASSERT_NE(n, nullptr);
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(n->Write("orders", "o" + std::to_string(i), WriteOp::Put("v")).ok());
    ASSERT_TRUE(n->CommitFeedCursor("projector", 0).ok());
    auto b = n->ReadFeedFor("projector", 2);
    ASSERT_TRUE(b.ok()) << b.status();
    ASSERT_EQ(b->changes.size(), 2u);
    ASSERT_TRUE(n->CommitFeedCursor("projector", b->next()).ok());
  }
  auto n = Open("n");
  ASSERT_NE(n, nullptr);
  auto b = n->ReadFeedFor("projector", 100);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->after, 2u);
  ASSERT_EQ(b->changes.size(), 3u);
  EXPECT_EQ(b->changes.front().key, "o2");
  EXPECT_EQ(n->ReadFeedFor("nobody", 1).status().code(), StatusCode::kNotFound);
}

// Projects the "orders" feed of `src` into counter stats/orders and stats/bytes of `dst` through
// the outbox, `max` changes per batch; returns the number of batches applied.
int Project(Node& src, Node& dst, size_t max) {
  int batches = 0;
  while (true) {
    auto pos = dst.FeedSourcePosition("orders-src");
    uint64_t after = pos.ok() ? *pos : 0;
    auto batch = src.ReadFeed(after, max);
    EXPECT_TRUE(batch.ok()) << batch.status();
    if (!batch.ok() || batch->changes.empty()) return batches;
    std::vector<KeyedWrite> writes;
    for (const auto& c : batch->changes) {
      writes.push_back({"stats", "orders", WriteOp::Add(1)});
      writes.push_back({"stats", "bytes", WriteOp::Add(static_cast<int64_t>(c.rendered.size()))});
    }
    FeedCommit commit{FeedCommit::Kind::kSource, "orders-src", batch->after, batch->next()};
    auto r = dst.WriteWithCursor(std::move(writes), commit);
    EXPECT_TRUE(r.ok()) << r.status();
    if (!r.ok()) return batches;
    ++batches;
  }
}

int64_t Counter(Node& n, const std::string& key) {
  auto r = n.Read("stats", key);
  return r.ok() ? r->counter : -1;
}

TEST_F(FeedNodeTest, OutboxCommitsWritesAndPositionTogether) {
  SeededRng rng;
  auto src = Open("orders");
  auto dst = Open("stats");
  ASSERT_NE(src, nullptr);
  ASSERT_NE(dst, nullptr);
  int64_t bytes = 0;
  int total = 0;
  auto place = [&](int n) {
    for (int i = 0; i < n; ++i, ++total) {
      std::string v(rng.Uniform(1, 20), 'x');
      bytes += static_cast<int64_t>(v.size());
      ASSERT_TRUE(src->Write("orders", "o" + std::to_string(total), WriteOp::Put(v)).ok());
    }
  };
  place(7);
  EXPECT_EQ(Project(*src, *dst, 3), 3);
  EXPECT_EQ(Counter(*dst, "orders"), 7);
  EXPECT_EQ(Counter(*dst, "bytes"), bytes);

  // The same batch applied again (a retry after an unacknowledged commit) fails as a whole.
  auto again = src->ReadFeed(4, 3);
  ASSERT_TRUE(again.ok());
  auto dup = dst->WriteWithCursor({{"stats", "orders", WriteOp::Add(1)}},
                                  FeedCommit{FeedCommit::Kind::kSource, "orders-src", 4, 7});
  EXPECT_EQ(dup.status().code(), StatusCode::kFailedPrecondition) << dup.status();
  EXPECT_EQ(Counter(*dst, "orders"), 7);

  // A write that fails rolls the position back with it: nothing of the batch is applied.
  place(2);
  auto bad = dst->WriteWithCursor({{"stats", "orders", WriteOp::Add(2)}, {"nowhere", "k", WriteOp::Add(1)}},
                                  FeedCommit{FeedCommit::Kind::kSource, "orders-src", 7, 9});
  EXPECT_FALSE(bad.ok());
  EXPECT_EQ(*dst->FeedSourcePosition("orders-src"), 7u);
  EXPECT_EQ(Counter(*dst, "orders"), 7);

  // A crash after a commit (close and reopen the consumer's node): it resumes where it stood.
  dst.reset();
  dst = Open("stats");
  ASSERT_NE(dst, nullptr);
  EXPECT_EQ(*dst->FeedSourcePosition("orders-src"), 7u);
  place(5);
  Project(*src, *dst, 4);
  EXPECT_EQ(Counter(*dst, "orders"), total);
  EXPECT_EQ(Counter(*dst, "bytes"), bytes);
}

TEST_F(FeedNodeTest, OutboxOnTheNodesOwnFeed) {
  auto n = Open("n");
  ASSERT_NE(n, nullptr);
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(n->Write("orders", "o" + std::to_string(i), WriteOp::Put("v")).ok());
  ASSERT_TRUE(n->CommitFeedCursor("counter", 0).ok());
  auto b = n->ReadFeedFor("counter", 100);
  ASSERT_TRUE(b.ok());
  std::vector<KeyedWrite> writes;
  for (const auto& c : b->changes) {
    if (c.collection == "orders") writes.push_back({"stats", "orders", WriteOp::Add(1)});
  }
  FeedCommit commit{FeedCommit::Kind::kConsumer, "counter", b->after, b->next()};
  ASSERT_TRUE(n->WriteWithCursor(writes, commit).ok());
  EXPECT_EQ(Counter(*n, "orders"), 4);
  EXPECT_EQ(n->WriteWithCursor(writes, commit).status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(Counter(*n, "orders"), 4);
  // The projection's own writes are in the feed after the cursor, and nothing before it.
  auto next = n->ReadFeedFor("counter", 100);
  ASSERT_TRUE(next.ok());
  ASSERT_EQ(next->changes.size(), 4u);
  EXPECT_EQ(next->changes.front().collection, "stats");
}

TEST_F(FeedNodeTest, WaitFeedWakesOnANewChangeAndListenersRun) {
  auto n = Open("n");
  ASSERT_NE(n, nullptr);
  std::atomic<int> calls{0};
  uint64_t id = n->AddFeedListener([&calls] { ++calls; });
  auto none = n->WaitFeed(0, 10, 0);
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_TRUE(none->changes.empty());
  // A consumer blocked on the feed is woken by the commit, long before its deadline.
  Result<FeedBatch> got = Status::Internal("not run");
  std::thread consumer([&] { got = n->WaitFeed(0, 10, kDeadlineMillis); });
  ASSERT_TRUE(n->Write("orders", "o1", WriteOp::Put("v")).ok());
  consumer.join();
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->changes.size(), 1u);
  EXPECT_EQ(got->changes[0].key, "o1");
  EXPECT_EQ(calls.load(), 1);
  n->RemoveFeedListener(id);
  ASSERT_TRUE(n->Write("orders", "o2", WriteOp::Put("v")).ok());
  EXPECT_EQ(calls.load(), 1);
  auto next = n->WaitFeed(1, 10, kDeadlineMillis);
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(next->changes.size(), 1u);
}

TEST_F(FeedNodeTest, OutboxWritesFollowTheEpochRules) {
  NodeOptions o = TestNodeOptions("follower", (dir_ / "follower").string());
  o.mode = "leader-follower";
  o.initial_leader = "leader";
  auto n = Node::Open(o);
  ASSERT_TRUE(n.ok()) << n.status();
  ASSERT_TRUE((*n)->CreateCollection("stats", "counter").ok());
  auto r = (*n)->WriteWithCursor({{"stats", "orders", WriteOp::Add(1)}},
                                 FeedCommit{FeedCommit::Kind::kSource, "src", 0, 1});
  EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition) << r.status();
  EXPECT_NE(r.status().message().find("leader"), std::string::npos) << r.status();
  EXPECT_EQ((*n)->FeedSourcePosition("src").status().code(), StatusCode::kNotFound);
}

TEST_F(FeedNodeTest, RetentionKeepsWhatARegisteredCursorNeedsAndStatusShowsLag) {
  auto n = Open("n", /*retain=*/10);
  ASSERT_NE(n, nullptr);
  ASSERT_TRUE(n->CommitFeedCursor("slow", 0).ok());
  ASSERT_TRUE(n->CommitFeedCursor("fast", 0).ok());
  const int kWrites = 1100;  // past one pruning round of the append path
  std::vector<KeyedWrite> batch;
  for (int i = 0; i < kWrites; ++i) {
    batch.push_back({"orders", "o" + std::to_string(i), WriteOp::Put("v")});
    if (batch.size() == 100 || i + 1 == kWrites) {
      ASSERT_TRUE(n->replica().WriteBatchAndWait(std::move(batch), nullptr).ok());
      batch.clear();
    }
  }
  ASSERT_TRUE(n->CommitFeedCursor("fast", kWrites).ok());
  NodeStatus st = n->GetStatus();
  EXPECT_EQ(st.feed.head, static_cast<uint64_t>(kWrites));
  EXPECT_EQ(st.feed.pruned_through, 0u);  // "slow" still needs everything
  ASSERT_EQ(st.feed_consumers.size(), 2u);
  EXPECT_EQ(st.feed_consumers[0].name, "fast");
  EXPECT_EQ(st.feed_consumers[0].lag, 0u);
  EXPECT_EQ(st.feed_consumers[1].name, "slow");
  EXPECT_EQ(st.feed_consumers[1].lag, static_cast<uint64_t>(kWrites));
  auto all = n->ReadFeedFor("slow", kMaxFeedReadEntries);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->changes.size(), static_cast<size_t>(kWrites));

  // Once "slow" is gone, only the retained tail of 10 stays, and older positions are refused.
  ASSERT_TRUE(n->RemoveFeedConsumer("slow").ok());
  st = n->GetStatus();
  EXPECT_EQ(st.feed.pruned_through, static_cast<uint64_t>(kWrites - 10));
  EXPECT_EQ(n->ReadFeed(0, 10).status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(n->ReadFeed(kWrites - 10, 100)->changes.size(), 10u);
}

TEST_F(FeedNodeTest, ClientProtocolReadsFeedAndShowsConsumerLag) {
  NodeOptions o = TestNodeOptions("c", (dir_ / "c").string());
  o.serve_clients = true;
  auto n = StartNode(o);
  ASSERT_NE(n, nullptr);
  ASSERT_TRUE(n->CreateCollection("orders", "lww").ok());
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(n->Write("orders", "o" + std::to_string(i), WriteOp::Put("v" + std::to_string(i))).ok());
  auto client = Client::Connect("127.0.0.1:" + std::to_string(n->client_port()));
  ASSERT_TRUE(client.ok()) << client.status();
  FeedQuery q;
  q.from_oldest = true;
  q.max_entries = 2;
  auto b = (*client)->ReadFeed(q);
  ASSERT_TRUE(b.ok()) << b.status();
  ASSERT_EQ(b->changes.size(), 2u);
  EXPECT_EQ(b->changes[1].rendered, "v1");
  EXPECT_EQ(b->head, 5u);
  ASSERT_TRUE((*client)->CommitFeedCursor("remote", 2).ok());
  EXPECT_EQ((*client)->CommitFeedCursor("remote", 1).code(), StatusCode::kFailedPrecondition);
  auto st = (*client)->GetStatus();
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->feed_head, 5u);
  ASSERT_EQ(st->feed_consumers.size(), 1u);
  EXPECT_EQ(st->feed_consumers[0].name, "remote");
  EXPECT_EQ(st->feed_consumers[0].lag, 3u);
  FeedQuery byname;
  byname.cursor = "remote";
  auto rest = (*client)->ReadFeed(byname);
  ASSERT_TRUE(rest.ok());
  ASSERT_EQ(rest->changes.size(), 3u);
  EXPECT_EQ(rest->changes[0].key, "o2");
  ASSERT_TRUE((*client)->RemoveFeedConsumer("remote").ok());
  byname.cursor = "remote";
  EXPECT_EQ((*client)->ReadFeed(byname).status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace syncline::testing
