// Snapshot bootstrap benchmark: one node on 127.0.0.1 holds N keys (default 1,000,000) of
// ~100-byte values in an lww collection in its LMDB store; empty nodes dial it one after the
// other (--runs) and bootstrap from a snapshot over loopback, then catch up from the log. Prints:
//   - the source reading the whole snapshot alone, and a stopped node installing it alone;
//   - the snapshot's size (bytes of packed records) and chunks;
//   - per run: seconds from the new node's start until the snapshot is installed, and MB/s;
//     seconds until it holds everything (installed + log catch-up); whether digests agree;
//   - the median, best and worst of the runs.
// For comparison (from the issue): a Redis 7 replica's full resync of 1,000,000 keys takes about
// 3.1 s. Asserts nothing.
//
//   syncline_snapshot_bench [--keys N] [--value-bytes B] [--chunk-bytes C] [--window W] [--runs R] [--dir DIR] [--nosync]
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include "syncline/node/node.h"

namespace {

using Clock = std::chrono::steady_clock;
using syncline::Node;
using syncline::NodeOptions;
using syncline::Status;
using syncline::replication::WriteOp;

struct Args {
  uint64_t keys = 1'000'000;
  size_t value_bytes = 100;
  size_t chunk_bytes = size_t{1} << 20;  // the node defaults (SnapshotOptions)
  size_t window = 8;
  int runs = 3;
  std::string dir;
  bool nosync = false;
};

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "snapshot_bench: %s\n", what.c_str());
  std::exit(1);
}

Args Parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string s = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) Die("missing value after " + s);
      return argv[++i];
    };
    if (s == "--keys") {
      a.keys = std::strtoull(next().c_str(), nullptr, 10);
    } else if (s == "--value-bytes") {
      a.value_bytes = std::strtoull(next().c_str(), nullptr, 10);
    } else if (s == "--chunk-bytes") {
      a.chunk_bytes = std::strtoull(next().c_str(), nullptr, 10);
    } else if (s == "--runs") {
      a.runs = std::atoi(next().c_str());
    } else if (s == "--window") {
      a.window = std::strtoull(next().c_str(), nullptr, 10);
    } else if (s == "--dir") {
      a.dir = next();
    } else if (s == "--nosync") {
      a.nosync = true;
    } else {
      Die("unknown argument " + s +
          " (usage: syncline_snapshot_bench [--keys N] [--value-bytes B] [--chunk-bytes C] [--window W] [--runs R] [--dir DIR] [--nosync])");
    }
  }
  if (a.keys == 0 || a.value_bytes == 0 || a.chunk_bytes == 0 || a.window == 0 || a.runs <= 0) {
    Die("--keys, --value-bytes, --chunk-bytes, --window and --runs must be > 0");
  }
  return a;
}

NodeOptions Options(const std::string& id, const std::string& dir, const Args& args) {
  NodeOptions o;
  o.node_id = id;
  o.data_dir = dir + "/" + id;
  o.cluster_id = "bench";
  o.secret = "bench-secret";
  o.peer_host = "127.0.0.1";
  o.reconnect_max_millis = 200;
  o.sync = args.nosync ? syncline::core::SyncMode::kNoSync : syncline::core::SyncMode::kDurable;
  o.map_size_bytes = uint64_t{4} << 30;
  o.max_frame_bytes = std::max<size_t>(size_t{16} << 20, args.chunk_bytes * 2);
  o.snapshot.chunk_max_bytes = args.chunk_bytes;
  o.snapshot.window_chunks = args.window;
  o.retention.max_changes_per_origin = 2 * args.keys;  // keep the log: the bootstrap is measured alone
  return o;
}

double Seconds(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }

}  // namespace

int main(int argc, char** argv) {
  Args args = Parse(argc, argv);
  bool own_dir = args.dir.empty();
  if (own_dir) {
    char tmpl[] = "/tmp/syncline-snapshot-bench-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) Die("cannot create a temporary directory");
    args.dir = tmpl;
  }

  auto opened = Node::Open(Options("source", args.dir, args));
  if (!opened.ok()) Die("opening the source node: " + opened.status().ToString());
  std::unique_ptr<Node> source = std::move(opened).value();
  if (Status s = source->Start(); !s.ok()) Die("starting the source node: " + s.ToString());
  if (Status s = source->CreateCollection("reg", "lww"); !s.ok()) Die(s.ToString());

  // Load: pipelined writes, committed in groups.
  auto load_start = Clock::now();
  constexpr uint64_t kInFlight = 4096;
  std::atomic<uint64_t> done{0};
  std::atomic<uint64_t> failed{0};
  std::string value(args.value_bytes, 'v');
  for (uint64_t i = 0; i < args.keys; ++i) {
    while (i - done.load() >= kInFlight) std::this_thread::sleep_for(std::chrono::microseconds(50));
    char key[32];
    std::snprintf(key, sizeof(key), "key%012llu", static_cast<unsigned long long>(i));
    value[0] = static_cast<char>('a' + i % 26);
    source->replica().Write("reg", key, WriteOp::Put(value), [&](syncline::Result<syncline::replication::WriteResult> r) {
      if (!r.ok()) failed.fetch_add(1);
      done.fetch_add(1);
    });
  }
  while (done.load() < args.keys) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  if (failed.load() > 0) Die(std::to_string(failed.load()) + " writes failed while loading");
  double load_seconds = Seconds(load_start, Clock::now());
  std::printf("loaded %llu keys of %zu-byte values into the source in %.1f s (%s)\n",
              static_cast<unsigned long long>(args.keys), args.value_bytes, load_seconds,
              args.nosync ? "no-sync" : "durable");

  // Stage figure: how long the source alone takes to read the whole snapshot (no network).
  {
    auto t = Clock::now();
    std::string begin;
    uint64_t chunks = 0, bytes = 0;
    while (true) {
      syncline::replication::SnapshotChunkData chunk;
      if (Status s = source->replica().ReadSnapshotRecords(begin, args.chunk_bytes, &chunk); !s.ok()) Die(s.ToString());
      ++chunks;
      bytes += chunk.bytes;
      if (chunk.last) break;
      begin = chunk.next_begin;
    }
    double secs = Seconds(t, Clock::now());
    std::printf("reading the snapshot at the source alone: %.2f s (%.0f MB/s, %llu chunks)\n", secs,
                static_cast<double>(bytes) / 1e6 / secs, static_cast<unsigned long long>(chunks));
  }
  // Stage figure: installing it into a node that is not started (no network, no decoding): a new
  // node, so the packed records are appended as they are.
  {
    auto direct_opened = Node::Open(Options("direct", args.dir, args));
    if (!direct_opened.ok()) Die(direct_opened.status().ToString());
    std::unique_ptr<Node> direct = std::move(direct_opened).value();
    std::string begin;
    double install_secs = 0;
    while (true) {
      syncline::replication::SnapshotChunkData chunk;
      if (Status s = source->replica().ReadSnapshotRecords(begin, args.chunk_bytes, &chunk); !s.ok()) Die(s.ToString());
      bool last = chunk.last;
      std::string next = chunk.next_begin;
      auto t = Clock::now();
      std::promise<Status> p;
      direct->replica().InstallSnapshotChunk("source", begin, std::move(chunk), [&](Status s) { p.set_value(s); });
      if (Status s = p.get_future().get(); !s.ok()) Die(s.ToString());
      install_secs += Seconds(t, Clock::now());
      if (last) break;
      begin = next;
    }
    std::printf("installing it into a node alone: %.2f s\n", install_secs);
    direct->Stop();
  }

  // Bootstrap new nodes from it, --runs times (each into an empty directory of its own).
  std::vector<double> installs;
  for (int run = 1; run <= args.runs; ++run) {
    NodeOptions o = Options("fresh" + std::to_string(run), args.dir, args);
    o.peers = {source->peer_address()};
    auto fresh_opened = Node::Open(o);
    if (!fresh_opened.ok()) Die("opening the new node: " + fresh_opened.status().ToString());
    std::unique_ptr<Node> fresh = std::move(fresh_opened).value();
    syncline::VersionVector target = source->replica().Context().vv();
    auto start = Clock::now();
    if (Status s = fresh->Start(); !s.ok()) Die("starting the new node: " + s.ToString());
    Clock::time_point installed{}, caught_up{};
    auto deadline = start + std::chrono::minutes(10);
    while (true) {
      auto now = Clock::now();
      if (now > deadline) Die("the new node did not catch up within 10 minutes");
      syncline::NodeStatus st = fresh->GetStatus();
      if (installed == Clock::time_point{} && st.bootstrap.completed > 0) installed = now;
      if (installed != Clock::time_point{} && st.context.vv().Dominates(target)) {
        caught_up = now;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    syncline::NodeStatus st = fresh->GetStatus();
    double install_seconds = Seconds(start, installed);
    double total_seconds = Seconds(start, caught_up);
    double mb = static_cast<double>(st.bootstrap.bytes_installed) / 1e6;
    installs.push_back(install_seconds);
    if (run == 1) {
      std::printf("snapshot: %.1f MB of keys and records in %llu chunks of up to %zu bytes, window %zu (%llu transfers)\n",
                  mb, static_cast<unsigned long long>(st.bootstrap.chunks_installed), args.chunk_bytes, args.window,
                  static_cast<unsigned long long>(st.bootstrap.transfers));
    }
    auto d1 = source->Digest();
    auto d2 = fresh->Digest();
    std::printf("bootstrap %d of %llu keys: installed in %.2f s (%.0f MB/s); caught up in %.2f s; digests %s\n", run,
                static_cast<unsigned long long>(st.bootstrap.keys_installed), install_seconds, mb / install_seconds,
                total_seconds, d1.ok() && d2.ok() && *d1 == *d2 ? "equal" : "DIFFER");
    // Its files stay until the end: a new node writes to space the file system has not just
    // freed (removing them between runs made later runs faster than any first bootstrap).
    fresh->Stop();
  }
  std::sort(installs.begin(), installs.end());
  std::printf("bootstrap, start to installed, over %d runs: median %.2f s, best %.2f s, worst %.2f s\n", args.runs,
              installs[installs.size() / 2], installs.front(), installs.back());
  std::printf("for comparison: a Redis 7 replica's full resync of 1,000,000 keys takes about 3.1 s; target < 1.5 s\n");

  source->Stop();
  if (own_dir) {
    std::error_code ec;
    std::filesystem::remove_all(args.dir, ec);
  }
  return 0;
}
