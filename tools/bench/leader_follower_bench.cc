// Leader-follower benchmark: a leader and two followers on 127.0.0.1 in one process, each with its
// own LMDB store (durable, group commit), the leader writing 16-byte keys with 100-byte values to
// an lww collection. For each acknowledgement level (local, one, quorum, all) it prints:
//   - writes/s acknowledged at that level with a window of writes in flight (full load);
//   - write latency p50/p99 (submit to acknowledgement) at full load and one write at a time.
// Asserts nothing.
//
//   syncline_leader_follower_bench [--seconds S] [--window N] [--dir DIR] [--nosync]
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "syncline/node/node.h"

namespace {

using Clock = std::chrono::steady_clock;
using syncline::Node;
using syncline::replication::AckLevel;
using syncline::replication::WriteOp;

struct Args {
  double seconds = 3;
  size_t window = 256;
  std::string dir;
  bool nosync = false;
};

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "leader_follower_bench: %s\n", what.c_str());
  std::exit(1);
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[static_cast<size_t>(p * static_cast<double>(v.size() - 1))];
}

struct Result {
  uint64_t acked = 0;
  uint64_t unknown = 0;
  uint64_t failed = 0;
  double seconds = 0;
  std::vector<double> latency_ms;
};

// Keeps `window` writes in flight on the leader for `seconds`, each acknowledged at `level`.
Result Run(Node& leader, AckLevel level, size_t window, double seconds, uint64_t* next_key) {
  Result result;
  std::mutex mu;
  std::condition_variable cv;
  size_t in_flight = 0;
  std::string value(100, 'v');
  auto start = Clock::now();
  auto end = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  while (Clock::now() < end) {
    {
      std::unique_lock<std::mutex> lock(mu);
      cv.wait(lock, [&] { return in_flight < window; });
      ++in_flight;
    }
    char key[17];
    std::snprintf(key, sizeof(key), "%016llx", static_cast<unsigned long long>((*next_key)++));
    auto submitted = Clock::now();
    leader.WriteAsync("bench", std::string(key, 16), WriteOp::Put(value), level, 10000,
                      [&, submitted](syncline::Result<syncline::replication::WriteResult> r) {
                        double ms = std::chrono::duration<double, std::milli>(Clock::now() - submitted).count();
                        std::lock_guard<std::mutex> lock(mu);
                        if (r.ok()) {
                          ++result.acked;
                          result.latency_ms.push_back(ms);
                        } else if (r.status().code() == syncline::StatusCode::kDeadlineExceeded) {
                          ++result.unknown;
                        } else {
                          ++result.failed;
                        }
                        --in_flight;
                        cv.notify_all();
                      });
  }
  std::unique_lock<std::mutex> lock(mu);
  cv.wait(lock, [&] { return in_flight == 0; });
  result.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return result;
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) Die("missing value for " + a);
      return argv[++i];
    };
    if (a == "--seconds") args.seconds = std::atof(value().c_str());
    else if (a == "--window") args.window = static_cast<size_t>(std::atol(value().c_str()));
    else if (a == "--dir") args.dir = value();
    else if (a == "--nosync") args.nosync = true;
    else Die("unknown flag " + a + " (flags: --seconds S --window N --dir DIR --nosync)");
  }
  if (args.seconds <= 0 || args.window == 0) Die("--seconds and --window must be positive");
  std::filesystem::path dir = args.dir.empty()
                                  ? std::filesystem::temp_directory_path() / ("syncline-lf-bench-" + std::to_string(::getpid()))
                                  : std::filesystem::path(args.dir);
  std::filesystem::remove_all(dir);
  std::vector<std::unique_ptr<Node>> nodes;
  for (int i = 0; i < 3; ++i) {
    syncline::NodeOptions o;
    o.node_id = "n" + std::to_string(i + 1);
    o.data_dir = (dir / o.node_id).string();
    o.secret = "bench-secret";
    o.cluster_id = "bench";
    o.mode = "leader-follower";
    o.initial_leader = "n1";
    o.cluster_size = 3;
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
  // Wait until the followers run the leader's epoch and subscribed to it.
  for (int tries = 0;; ++tries) {
    if (tries > 1000) Die("the cluster did not form within 10 s");
    bool ready = true;
    for (auto& n : nodes) {
      size_t subscribed = 0;
      for (const auto& p : n->GetStatus().peers) subscribed += p.subscribed ? 1 : 0;
      ready = ready && subscribed == 2;
    }
    if (ready) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::printf("leader + 2 followers on 127.0.0.1, lww, 16-byte keys, 100-byte values, %s, group commit\n",
              args.nosync ? "no-sync" : "durable");
  std::printf("%-7s  %12s  %10s  %10s  %10s  %14s  %14s\n", "ack", "writes/s", "p50 ms", "p99 ms", "unknown",
              "1-at-a-time p50", "1-at-a-time p99");
  uint64_t next_key = 0;
  for (AckLevel level : {AckLevel::kLocal, AckLevel::kOne, AckLevel::kQuorum, AckLevel::kAll}) {
    Result full = Run(*nodes[0], level, args.window, args.seconds, &next_key);
    Result single = Run(*nodes[0], level, 1, args.seconds / 2, &next_key);
    std::printf("%-7s  %12.0f  %10.2f  %10.2f  %10llu  %14.2f  %14.2f\n",
                std::string(syncline::replication::AckLevelName(level)).c_str(),
                static_cast<double>(full.acked) / full.seconds, Percentile(full.latency_ms, 0.5),
                Percentile(full.latency_ms, 0.99), static_cast<unsigned long long>(full.unknown + single.unknown),
                Percentile(single.latency_ms, 0.5), Percentile(single.latency_ms, 0.99));
    if (full.failed + single.failed > 0) {
      std::printf("  (%llu writes failed)\n", static_cast<unsigned long long>(full.failed + single.failed));
    }
  }
  nodes.clear();
  std::filesystem::remove_all(dir);
  return 0;
}
