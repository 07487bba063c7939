// Change-feed benchmark: what the feed costs and how fast a projection drains it.
//
//   syncline_feed_bench [--writes N] [--batch N] [--durable]
//
// 1. Local writes through Replica::WriteBatch (each also appends a feed entry) on a node of its
//    own, as writes per second.
// 2. Reading the whole feed in batches of 1,000 (Node::ReadFeed, rendering each delta).
// 3. Projecting the feed into a second node through the outbox (Node::WriteWithCursor: one
//    counter write per change plus the source position, `batch` changes per transaction).
// 4. Pruning: a registered cursor moved to the head drops every entry above the retained tail.
// Figures go to stdout; nothing is asserted (see docs/benchmarks.md).
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "syncline/node/node.h"

namespace {

using syncline::FeedCommit;
using syncline::Node;
using syncline::NodeOptions;
using syncline::replication::KeyedWrite;
using syncline::replication::WriteOp;

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

std::unique_ptr<Node> OpenNode(const std::string& id, const std::string& dir, bool durable) {
  NodeOptions o;
  o.node_id = id;
  o.data_dir = dir;
  o.sync = durable ? syncline::core::SyncMode::kDurable : syncline::core::SyncMode::kNoSync;
  o.feed_retain_entries = 1000;
  auto n = Node::Open(o);
  if (!n.ok()) {
    std::fprintf(stderr, "feed_bench: %s\n", n.status().ToString().c_str());
    std::exit(2);
  }
  return std::move(n).value();
}

void Check(const syncline::Status& s, const char* what) {
  if (!s.ok()) {
    std::fprintf(stderr, "feed_bench: %s: %s\n", what, s.ToString().c_str());
    std::exit(2);
  }
}

}  // namespace

int main(int argc, char** argv) {
  int writes = 100000;
  int batch = 100;
  bool durable = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--writes" && i + 1 < argc) {
      writes = std::atoi(argv[++i]);
    } else if (a == "--batch" && i + 1 < argc) {
      batch = std::atoi(argv[++i]);
    } else if (a == "--durable") {
      durable = true;
    } else {
      std::fprintf(stderr, "usage: syncline_feed_bench [--writes N] [--batch N] [--durable]\n");
      return 1;
    }
  }
  if (writes <= 0 || batch <= 0 || batch > 1000) {
    std::fprintf(stderr, "feed_bench: --writes must be positive and --batch 1..1000\n");
    return 1;
  }
  auto root = std::filesystem::temp_directory_path() / ("syncline-feed-bench-" + std::to_string(::getpid()));
  std::filesystem::create_directories(root);
  {
    auto src = OpenNode("src", (root / "src").string(), durable);
    auto dst = OpenNode("dst", (root / "dst").string(), durable);
    Check(src->CreateCollection("orders", "lww"), "create orders");
    Check(dst->CreateCollection("stats", "counter"), "create stats");
    Check(src->CommitFeedCursor("projector", 0), "register the projector");

    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < writes; i += batch) {
      std::vector<KeyedWrite> w;
      for (int j = i; j < std::min(writes, i + batch); ++j) {
        w.push_back({"orders", "order-" + std::to_string(j), WriteOp::Put("customer=c" + std::to_string(j % 7) + ";amount=" + std::to_string(j % 1000))});
      }
      Check(src->replica().WriteBatchAndWait(std::move(w), nullptr).status(), "write");
    }
    double write_s = Seconds(t0);

    t0 = std::chrono::steady_clock::now();
    uint64_t after = 0, read = 0;
    while (true) {
      auto b = src->ReadFeed(after, 1000);
      Check(b.status(), "read the feed");
      if (b->changes.empty()) break;
      read += b->changes.size();
      after = b->next();
    }
    double read_s = Seconds(t0);

    t0 = std::chrono::steady_clock::now();
    after = 0;
    while (true) {
      auto b = src->ReadFeed(after, static_cast<size_t>(batch));
      Check(b.status(), "read the feed");
      if (b->changes.empty()) break;
      std::vector<KeyedWrite> w;
      for (const auto& c : b->changes) w.push_back({"stats", "orders", WriteOp::Add(static_cast<int64_t>(c.rendered.size() > 0))});
      Check(dst->WriteWithCursor(std::move(w), FeedCommit{FeedCommit::Kind::kSource, "src", b->after, b->next()}).status(),
            "project");
      after = b->next();
    }
    double project_s = Seconds(t0);

    t0 = std::chrono::steady_clock::now();
    Check(src->CommitFeedCursor("projector", after), "advance the projector");
    double prune_s = Seconds(t0);
    auto st = src->GetStatus();

    std::printf("feed benchmark: %d lww writes, batches of %d, %s\n", writes, batch, durable ? "durable" : "nosync");
    std::printf("  writes (each with its feed entry)  %10.0f writes/s\n", writes / write_s);
    std::printf("  feed read (1,000 per read)         %10.0f changes/s (%llu changes)\n", read / read_s,
                static_cast<unsigned long long>(read));
    std::printf("  outbox projection                  %10.0f changes/s (counter %lld)\n", read / project_s,
                static_cast<long long>(dst->Read("stats", "orders")->counter));
    std::printf("  prune %llu entries on cursor move  %10.1f ms (kept %llu)\n",
                static_cast<unsigned long long>(st.feed.pruned_through), prune_s * 1000,
                static_cast<unsigned long long>(st.feed.head - st.feed.pruned_through));
  }
  std::filesystem::remove_all(root);
  return 0;
}
