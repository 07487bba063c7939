// order-stats-service: the read side of the database-per-service example. It owns a Syncline node
// of its own and projects the orders service's change feed into a read model there:
//   stats/orders, stats/cancelled             how many orders exist, how many are cancelled
//   stats/revenue, stats/revenue.<customer>   cents of the orders not cancelled
//   order_view/<order>                        the last state of each order it projected
// Each batch of feed entries is applied with Node::WriteWithCursor: the read-model writes and the
// position in the orders feed ("orders") commit in one transaction of this service's own store
// (the transactional outbox), so a crash at any point neither loses nor double-counts an order.
// After the commit the position is acknowledged to the orders node as consumer "order-stats", so
// the orders node keeps what this service has not read yet and shows its lag in its status.
//
//   order-stats-service --data-dir DIR --orders HOST:PORT [--once] [--batch N]
//                       [--crash-after-batches K] [--poll-ms MS]
//
// --once stops when caught up and prints the read model ("name value" lines, sorted). The crash
// flag ends the process abruptly after K committed batches, before acknowledging the last one,
// as a crash would. Exit codes: 0 done, 1 usage, 2 failed, 3 orders service unreachable.
#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <thread>

#include "order.h"
#include "syncline/node/client.h"
#include "syncline/node/node.h"

namespace {

using syncline::FeedBatch;
using syncline::FeedChange;
using syncline::Status;
using syncline::replication::KeyedWrite;
using syncline::replication::WriteOp;

constexpr char kSource[] = "orders";          // our position in the orders feed, kept here
constexpr char kConsumer[] = "order-stats";   // our cursor registered on the orders node

int Fail(const std::string& what, const Status& s) {
  std::fprintf(stderr, "order-stats-service: %s: %s\n", what.c_str(), s.ToString().c_str());
  return s.code() == syncline::StatusCode::kUnavailable || s.code() == syncline::StatusCode::kDeadlineExceeded ? 3 : 2;
}

// What one order adds to the counters of the read model.
std::map<std::string, int64_t> Contribution(const std::optional<orders::Order>& o) {
  std::map<std::string, int64_t> c;
  if (!o) return c;
  c["orders"] = 1;
  c["cancelled"] = o->cancelled ? 1 : 0;
  c["revenue"] = o->cancelled ? 0 : o->amount_cents;
  c["revenue." + o->customer] = o->cancelled ? 0 : o->amount_cents;
  return c;
}

// The read-model writes for `batch`: counter deltas (new contribution minus old, per order) and
// the new view of every order it touched. Orders seen earlier in the same batch use that view.
Status Project(syncline::Node& node, const FeedBatch& batch, std::vector<KeyedWrite>* writes) {
  std::map<std::string, std::optional<orders::Order>> views;  // this batch's latest, by order
  std::map<std::string, int64_t> deltas;
  for (const FeedChange& c : batch.changes) {
    if (c.collection != "orders") continue;
    auto it = views.find(c.key);
    if (it == views.end()) {
      auto stored = node.Read("order_view", c.key);
      if (!stored.ok()) return stored.status();
      std::optional<orders::Order> old;
      if (stored->found) old = orders::Decode(stored->values.front());
      it = views.emplace(c.key, old).first;
    }
    std::optional<orders::Order> now = orders::Decode(c.rendered);  // "<absent>" for a delete
    for (const auto& [k, v] : Contribution(it->second)) deltas[k] -= v;
    for (const auto& [k, v] : Contribution(now)) deltas[k] += v;
    it->second = now;
  }
  for (const auto& [k, v] : deltas) {
    if (v != 0) writes->push_back({"stats", k, WriteOp::Add(v)});
  }
  for (const auto& [k, v] : views) {
    writes->push_back({"order_view", k, v ? WriteOp::Put(orders::Encode(*v)) : WriteOp::Delete()});
  }
  return Status::Ok();
}

void PrintReadModel(syncline::Node& node) {
  node.replica().Dump([](std::string_view coll, std::string_view key, std::string_view rendered) {
    if (coll == "stats") std::printf("%.*s %.*s\n", static_cast<int>(key.size()), key.data(),
                                     static_cast<int>(rendered.size()), rendered.data());
  }).IgnoreError();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"order-stats-service: projects the orders feed into a read model of its own"};
  std::string data_dir, orders_addr;
  bool once = false;
  uint32_t batch_entries = 100;
  int64_t crash_after = 0, poll_millis = 200;
  app.add_option("--data-dir", data_dir, "this service's own Syncline data directory")->required();
  app.add_option("--orders", orders_addr, "HOST:PORT of the orders service's client endpoint")->required();
  app.add_flag("--once", once, "stop when caught up and print the read model");
  app.add_option("--batch", batch_entries, "feed entries per transaction")->check(CLI::Range(1, 200))->capture_default_str();
  app.add_option("--crash-after-batches", crash_after, "end abruptly after this many committed batches");
  app.add_option("--poll-ms", poll_millis, "wait between polls when caught up")->check(CLI::PositiveNumber);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 1;
  }

  syncline::NodeOptions o;
  o.node_id = "order-stats";
  o.data_dir = data_dir;
  o.cluster_id = "order-stats-service";
  auto opened = syncline::Node::Open(o);
  if (!opened.ok()) return Fail("open " + data_dir, opened.status());
  syncline::Node& node = **opened;
  for (const auto& [name, resolver] : {std::pair{"stats", "counter"}, std::pair{"order_view", "lww"}}) {
    Status s = node.CreateCollection(name, resolver);
    if (!s.ok()) return Fail("create collection " + std::string(name), s);
  }
  auto orders_client = syncline::Client::Connect(orders_addr);
  if (!orders_client.ok()) return Fail("connect to the orders service", orders_client.status());
  syncline::Client& orders_node = **orders_client;

  // Where we stand is what our own store says, never what the orders node remembers: our
  // acknowledgement to it may have been lost in a crash.
  auto stored = node.FeedSourcePosition(kSource);
  if (!stored.ok() && !stored.status().IsNotFound()) return Fail("read our position", stored.status());
  uint64_t position = stored.ok() ? *stored : 0;
  Status registered = orders_node.CommitFeedCursor(kConsumer, position);
  if (registered.code() == syncline::StatusCode::kFailedPrecondition) {
    // The orders node remembers a later position than ours (our store was replaced): start over
    // from ours, which it still keeps unless retention dropped it (then the read below fails).
    registered = orders_node.RemoveFeedConsumer(kConsumer);
    if (registered.ok()) registered = orders_node.CommitFeedCursor(kConsumer, position);
  }
  if (!registered.ok()) return Fail("register consumer '" + std::string(kConsumer) + "'", registered);

  int64_t batches = 0;
  while (true) {
    syncline::FeedQuery q;
    q.after = position;
    q.max_entries = batch_entries;
    auto batch = orders_node.ReadFeed(q);
    if (!batch.ok()) return Fail("read the orders feed after " + std::to_string(position), batch.status());
    if (batch->changes.empty()) {
      if (once) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(poll_millis));
      continue;
    }
    std::vector<KeyedWrite> writes;
    Status s = Project(node, *batch, &writes);
    if (!s.ok()) return Fail("project the batch after " + std::to_string(position), s);
    syncline::FeedCommit commit{syncline::FeedCommit::Kind::kSource, kSource, batch->after, batch->next()};
    auto written = node.WriteWithCursor(std::move(writes), commit);
    if (!written.ok()) return Fail("apply the batch after " + std::to_string(position), written.status());
    position = batch->next();
    if (crash_after > 0 && ++batches == crash_after) std::_Exit(9);  // committed, not acknowledged
    s = orders_node.CommitFeedCursor(kConsumer, position);
    if (!s.ok()) return Fail("acknowledge position " + std::to_string(position), s);
  }
  PrintReadModel(node);
  return 0;
}
