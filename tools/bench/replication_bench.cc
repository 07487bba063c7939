// Multi-leader replication benchmark: three nodes on 127.0.0.1 in one process, each with its
// own LMDB store (durable, group commit), all writing 16-byte keys with 100-byte values to an
// lww collection. Prints:
//   - total writes/s replicated to all three (full load: every node keeps a window of writes
//     in flight; the clock stops when every node holds every write);
//   - replication lag, from the write's acknowledgement at its origin to the moment both other
//     nodes hold it, p50/p99/max, at full load and at half that rate;
//   - change bytes shipped per change delivered.
// Asserts nothing.
//
//   syncline_replication_bench [--seconds S] [--window N] [--dir DIR] [--nosync] [--rate W]
//
// --rate W adds a phase at W writes/s in total (spread over the nodes), for lag at a given load.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include "syncline/node/node.h"

namespace {

using Clock = std::chrono::steady_clock;
using syncline::Dot;
using syncline::Node;
using syncline::replication::WriteOp;

struct Args {
  double seconds = 8;
  size_t window = 2048;
  std::string dir;
  bool nosync = false;
  double rate = 0;  // total writes/s of an extra phase at a fixed load (0: none)
};

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "replication_bench: %s\n", what.c_str());
  std::exit(1);
}

struct Sample {
  Dot dot;
  int origin;
  Clock::time_point acked;
};

struct Phase {
  uint64_t writes = 0;
  double seconds_to_replicate = 0;
  std::vector<double> lag_ms;
  uint64_t bytes = 0;
  uint64_t changes_sent = 0;
};

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p * static_cast<double>(v.size() - 1));
  return v[i];
}

// Runs writers on every node for `seconds`. rate_per_node == 0: as fast as the window allows.
Phase Run(std::vector<std::unique_ptr<Node>>& nodes, double seconds, size_t window, double rate_per_node,
          uint64_t seed) {
  Phase phase;
  std::mutex mu;
  std::vector<Sample> samples;
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> writes{0};
  uint64_t bytes_before = 0, sent_before = 0;
  for (auto& n : nodes) {
    for (const auto& p : n->GetStatus().peers) {
      bytes_before += p.stats.payload_bytes_sent;
      sent_before += p.stats.changes_sent;
    }
  }

  // Lag watchers: one thread polls the other nodes' contexts for the sampled dots.
  std::vector<double> lags;
  std::thread watcher([&] {
    std::vector<Sample> pending;
    while (true) {
      {
        std::lock_guard<std::mutex> lock(mu);
        pending.insert(pending.end(), samples.begin(), samples.end());
        samples.clear();
      }
      std::vector<syncline::DotContext> ctx;
      for (auto& n : nodes) ctx.push_back(n->replica().Context());
      auto now = Clock::now();
      std::vector<Sample> still;
      for (const Sample& s : pending) {
        bool everywhere = true;
        for (size_t i = 0; i < ctx.size(); ++i) everywhere = everywhere && ctx[i].Contains(s.dot);
        if (everywhere) {
          lags.push_back(std::chrono::duration<double, std::milli>(now - s.acked).count());
        } else {
          still.push_back(s);
        }
      }
      pending.swap(still);
      if (stop && pending.empty()) {
        std::lock_guard<std::mutex> lock(mu);
        if (samples.empty()) break;
      }
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  });

  auto start = Clock::now();
  std::vector<std::thread> writers;
  for (size_t i = 0; i < nodes.size(); ++i) {
    writers.emplace_back([&, i] {
      std::mt19937_64 rng(seed + i);
      std::string value(100, 'v');
      std::mutex wmu;
      std::condition_variable cv;
      size_t in_flight = 0;
      uint64_t n = 0;
      auto interval = rate_per_node > 0 ? std::chrono::duration<double>(1.0 / rate_per_node) : std::chrono::duration<double>(0);
      auto next = Clock::now();
      while (Clock::now() - start < std::chrono::duration<double>(seconds)) {
        if (rate_per_node > 0) {
          next += std::chrono::duration_cast<Clock::duration>(interval);
          std::this_thread::sleep_until(next);
        }
        {
          std::unique_lock<std::mutex> lock(wmu);
          cv.wait(lock, [&] { return in_flight < window; });
          ++in_flight;
        }
        char key[17];
        std::snprintf(key, sizeof(key), "%016llx", static_cast<unsigned long long>(rng()));
        bool sample = (n++ % 64) == 0;
        nodes[i]->replica().Write("bench", std::string(key, 16), WriteOp::Put(value),
                                  [&, sample, i](syncline::Result<syncline::replication::WriteResult> r) {
                                    if (!r.ok()) Die(r.status().ToString());
                                    if (sample) {
                                      std::lock_guard<std::mutex> lock(mu);
                                      samples.push_back(Sample{r->dot, static_cast<int>(i), Clock::now()});
                                    }
                                    writes.fetch_add(1);
                                    std::lock_guard<std::mutex> lock(wmu);
                                    --in_flight;
                                    cv.notify_one();
                                  });
      }
      std::unique_lock<std::mutex> lock(wmu);
      cv.wait(lock, [&] { return in_flight == 0; });
    });
  }
  for (auto& t : writers) t.join();
  // Wait until every node holds every write.
  while (true) {
    auto c0 = nodes[0]->replica().Context();
    bool equal = true;
    for (auto& n : nodes) equal = equal && n->replica().Context() == c0;
    if (equal) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  auto end = Clock::now();
  stop = true;
  watcher.join();
  phase.writes = writes.load();
  phase.seconds_to_replicate = std::chrono::duration<double>(end - start).count();
  phase.lag_ms = std::move(lags);
  for (auto& n : nodes) {
    for (const auto& p : n->GetStatus().peers) {
      phase.bytes += p.stats.payload_bytes_sent;
      phase.changes_sent += p.stats.changes_sent;
    }
  }
  phase.bytes -= bytes_before;
  phase.changes_sent -= sent_before;
  return phase;
}

void Print(const char* name, const Phase& p, size_t nodes) {
  double delivered = static_cast<double>(p.writes) * static_cast<double>(nodes - 1);
  std::printf("%-10s %10.0f writes/s replicated to all  lag p50 %7.2f ms  p99 %7.2f ms  max %7.2f ms  "
              "(%zu samples)  %.1f change bytes shipped per delivery, %.2f sends per delivery\n",
              name, static_cast<double>(p.writes) / p.seconds_to_replicate, Percentile(p.lag_ms, 0.5),
              Percentile(p.lag_ms, 0.99), Percentile(p.lag_ms, 1.0), p.lag_ms.size(),
              static_cast<double>(p.bytes) / delivered, static_cast<double>(p.changes_sent) / delivered);
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) Die("missing value after " + a);
      return argv[++i];
    };
    if (a == "--seconds") args.seconds = std::atof(value().c_str());
    else if (a == "--window") args.window = static_cast<size_t>(std::atol(value().c_str()));
    else if (a == "--dir") args.dir = value();
    else if (a == "--nosync") args.nosync = true;
    else if (a == "--rate") args.rate = std::atof(value().c_str());
    else Die("unknown flag " + a + " (flags: --seconds S --window N --dir DIR --nosync --rate W)");
  }
  if (args.seconds <= 0 || args.window == 0) Die("--seconds and --window must be positive");
  std::filesystem::path dir = args.dir.empty() ? std::filesystem::temp_directory_path() / ("syncline-repl-bench-" + std::to_string(::getpid()))
                                               : std::filesystem::path(args.dir);
  std::filesystem::remove_all(dir);
  std::vector<std::unique_ptr<Node>> nodes;
  for (int i = 0; i < 3; ++i) {
    syncline::NodeOptions o;
    o.node_id = "n" + std::to_string(i + 1);
    o.data_dir = (dir / o.node_id).string();
    o.secret = "bench-secret";
    o.cluster_id = "bench";
    o.sync = args.nosync ? syncline::core::SyncMode::kNoSync : syncline::core::SyncMode::kDurable;
    o.map_size_bytes = uint64_t{4} << 30;
    auto n = Node::Open(o);
    if (!n.ok()) Die(n.status().ToString());
    if (auto s = (*n)->CreateCollection("bench", "lww"); !s.ok()) Die(s.ToString());
    if (auto s = (*n)->Start(); !s.ok()) Die(s.ToString());
    nodes.push_back(std::move(n).value());
  }
  for (int i = 0; i < 3; ++i) {
    for (int j = i + 1; j < 3; ++j) nodes[i]->AddPeer(nodes[j]->peer_address());
  }
  // Wait for the mesh.
  for (int tries = 0; tries < 500; ++tries) {
    bool ready = true;
    for (auto& n : nodes) {
      auto peers = n->GetStatus().peers;
      size_t subscribed = 0;
      for (const auto& p : peers) subscribed += p.subscribed ? 1 : 0;
      ready = ready && subscribed == 2;
    }
    if (ready) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::printf("3 nodes on 127.0.0.1, lww, 16-byte keys, 100-byte values, %s, group commit, window %zu per node\n",
              args.nosync ? "no-sync" : "durable", args.window);
  Phase full = Run(nodes, args.seconds, args.window, 0, 1);
  Print("full load", full, nodes.size());
  double rate = static_cast<double>(full.writes) / full.seconds_to_replicate / 2.0 / static_cast<double>(nodes.size());
  Phase half = Run(nodes, args.seconds, args.window, rate, 2);
  Print("half load", half, nodes.size());
  if (args.rate > 0) {
    Phase fixed = Run(nodes, args.seconds, args.window, args.rate / static_cast<double>(nodes.size()), 3);
    Print(("at " + std::to_string(static_cast<long long>(args.rate)) + "/s").c_str(), fixed, nodes.size());
  }
  nodes.clear();
  std::filesystem::remove_all(dir);
  return 0;
}
