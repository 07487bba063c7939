// Multi-leader replication benchmark: three nodes on 127.0.0.1 in one process, each with its
// own LMDB store (durable, group commit), all writing 16-byte keys with 100-byte values to an
// lww collection. Prints:
//   - total writes/s replicated to all three (full load: every node keeps a window of writes
//     in flight; the clock stops when every node holds every write);
//   - replication lag, from the write's acknowledgement at its origin to the moment it is applied
//     (readable) on both other nodes, and to the moment both hold it durably, p50/p99/max each
//     (one write in 64 sampled; the other nodes report the moment through Replica::WhenHeld),
//     at full load and at half that rate (after the nodes finished the background work the full
//     phase left them: log retention truncating what it wrote);
//   - change bytes shipped per change delivered;
//   - bytes written to the disk device per change stored, from the kernel's device counters;
//   - whether this run met the targets of the replication issue (at least 100,000 writes/s at
//     full load, p99 lag to applied under 10 ms at half load).
// Asserts nothing.
//
//   syncline_replication_bench [--seconds S] [--window N] [--dir DIR] [--nosync] [--rate W [--rate-only]]
//                              [--sequential] [--writes-per-commit N]
//                              [--retention-interval-ms MS] [--log-segment-changes N] [--lag-by-polling]
//
// --rate W adds a phase at W writes/s in total (spread over the nodes), for lag at a given load;
// with --rate-only it is the only phase (e.g. to profile one load).
// --sequential writes keys in increasing order per node instead of random ones.
// --writes-per-commit N caps the local writes a node applies in one write function (1: every
// local write in a transaction of its own).
// --retention-interval-ms and --log-segment-changes set the nodes' RetentionOptions (A/B runs of
// log retention; 0 segment changes: truncation change by change).
// --lag-by-polling times the lag as earlier rounds did: a thread polls the other nodes' contexts
// every 0.5 ms (adding up to that interval to each sample, and the polling's own CPU and locking).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <lmdb.h>

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
  bool rate_only = false;  // run the --rate phase alone (no full and half load, no raw bound)
  bool sequential = false;  // keys in increasing order per node instead of random
  size_t writes_per_commit = 4096;  // local writes one write function applies (NodeOptions)
  // Log retention (RetentionOptions); negative: the default.
  int64_t retention_interval_ms = -1;
  int64_t log_segment_changes = -1;
  // Time the lag by polling the other nodes' contexts every 0.5 ms (the method of earlier rounds)
  // instead of being told by them (Replica::WhenHeld).
  bool lag_by_polling = false;
};

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "replication_bench: %s\n", what.c_str());
  std::exit(1);
}

struct Sample {
  Dot dot;
  int origin;
  Clock::time_point acked;
  bool readable = false;  // readable on every other node already
};

// Times sampled writes from their acknowledgement at the origin until every other node has them
// readable (Replica::WhenHeld, kApplied) and held durably (kDurable). The nodes call back as they
// get there (on their writer and sync threads), so the last call's time is the lag: no polling
// interval is added to it and no thread polls the nodes' contexts meanwhile.
class LagTracker {
 public:
  using Stage = syncline::replication::Replica::DotStage;

  void Track(std::vector<std::unique_ptr<Node>>& nodes, int origin, Dot dot, Clock::time_point acked) {
    auto probe = std::make_shared<Probe>();
    probe->acked = acked;
    probe->left[0] = probe->left[1] = static_cast<int>(nodes.size()) - 1;
    {
      std::lock_guard<std::mutex> lock(mu_);
      outstanding_ += 2;
    }
    for (size_t j = 0; j < nodes.size(); ++j) {
      if (static_cast<int>(j) == origin) continue;
      for (Stage stage : {Stage::kApplied, Stage::kDurable}) {
        nodes[j]->replica().WhenHeld(dot, stage, [this, probe, stage](syncline::Status s) {
          if (!s.ok()) Die("waiting for a sampled write: " + s.ToString());
          Reached(*probe, stage);
        });
      }
    }
  }

  // Waits until every tracked write reached every node in both stages.
  void WaitAll(std::chrono::seconds limit) {
    std::unique_lock<std::mutex> lock(mu_);
    if (!cv_.wait_for(lock, limit, [&] { return outstanding_ == 0; })) {
      Die(std::to_string(outstanding_) + " sampled writes did not reach every node within " +
          std::to_string(limit.count()) + " s");
    }
  }

  std::vector<double> readable_ms;
  std::vector<double> durable_ms;

 private:
  struct Probe {
    Clock::time_point acked;
    int left[2] = {0, 0};  // other nodes still to report, by stage
  };

  void Reached(Probe& probe, Stage stage) {
    auto now = Clock::now();
    std::lock_guard<std::mutex> lock(mu_);
    int i = stage == Stage::kApplied ? 0 : 1;
    if (--probe.left[i] > 0) return;
    double ms = std::chrono::duration<double, std::milli>(now - probe.acked).count();
    (i == 0 ? readable_ms : durable_ms).push_back(ms);
    --outstanding_;
    cv_.notify_all();
  }

  std::mutex mu_;
  std::condition_variable cv_;
  size_t outstanding_ = 0;
};

// Counters summed over all nodes (shipping to every peer, and the store).
struct Counters {
  uint64_t bytes = 0;         // change bytes shipped
  uint64_t changes_sent = 0;
  uint64_t batches_sent = 0;
  uint64_t groups = 0;        // transactions committed
  uint64_t disk_bytes = 0;    // bytes written to the disk device (DiskBytesWritten)
  double cpu_seconds = 0;     // user + system time of the whole process (nodes and clients)
  uint64_t duplicates = 0;    // changes received that the receiver held already
  uint64_t rewinds = 0;       // publishers that went back to the acknowledged position

  Counters operator-(const Counters& o) const {
    return Counters{bytes - o.bytes,           changes_sent - o.changes_sent, batches_sent - o.batches_sent,
                    groups - o.groups,         disk_bytes - o.disk_bytes,     cpu_seconds - o.cpu_seconds,
                    duplicates - o.duplicates, rewinds - o.rewinds};
  }
};

double ProcessCpuSeconds() {
  struct rusage ru {};
  if (::getrusage(RUSAGE_SELF, &ru) != 0) return 0;
  auto secs = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; };
  return secs(ru.ru_utime) + secs(ru.ru_stime);
}

// Bytes written to the block device holding `dir` so far, from the kernel's per-device counters
// (sectors written, /sys/dev/block/MAJOR:MINOR/stat); 0 where they are not readable. The device
// is shared with whatever else runs on the machine, so run the bench on an otherwise idle one.
std::string g_stat_path;
void SetDiskDevice(const std::filesystem::path& dir) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) return;
  g_stat_path = "/sys/dev/block/" + std::to_string(major(st.st_dev)) + ":" + std::to_string(minor(st.st_dev)) + "/stat";
}
uint64_t DiskBytesWritten() {
  if (g_stat_path.empty()) return 0;
  std::ifstream in(g_stat_path);
  uint64_t field[7] = {};
  for (uint64_t& f : field) {
    if (!(in >> f)) return 0;
  }
  return field[6] * 512;  // the seventh field: sectors written
}

Counters Totals(std::vector<std::unique_ptr<Node>>& nodes) {
  Counters c;
  c.disk_bytes = DiskBytesWritten();
  c.cpu_seconds = ProcessCpuSeconds();
  for (auto& n : nodes) {
    c.groups += n->store().stats().groups_committed;
    c.duplicates += n->replica().stats().duplicates;
    for (const auto& p : n->GetStatus().peers) {
      c.bytes += p.stats.payload_bytes_sent;
      c.changes_sent += p.stats.changes_sent;
      c.batches_sent += p.stats.batches_sent;
      c.rewinds += p.stats.rewinds;
    }
  }
  return c;
}

struct Phase : Counters {
  uint64_t writes = 0;
  double seconds_to_replicate = 0;
  std::vector<double> lag_ms;       // until every other node holds it durably (its context)
  std::vector<double> readable_ms;  // until it can be read on every other node
};

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p * static_cast<double>(v.size() - 1));
  return v[i];
}

// Runs writers on every node for `seconds`. rate_per_node == 0: as fast as the window allows.
Phase Run(std::vector<std::unique_ptr<Node>>& nodes, double seconds, size_t window, double rate_per_node,
          uint64_t seed, bool sequential, bool lag_by_polling) {
  Phase phase;
  std::mutex mu;
  std::vector<Sample> samples;
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> writes{0};
  const Counters before = Totals(nodes);

  // Lag: the tracker is told by the other nodes; with --lag-by-polling, a watcher thread polls
  // them instead for the sampled writes: their applied contexts until the write is readable on
  // every other node, and their contexts until every one holds it durably.
  LagTracker tracker;
  std::vector<double> lags, readable_lags;
  std::thread watcher([&] {
    if (!lag_by_polling) return;
    std::vector<Sample> pending;
    while (true) {
      {
        std::lock_guard<std::mutex> lock(mu);
        pending.insert(pending.end(), samples.begin(), samples.end());
        samples.clear();
      }
      std::vector<syncline::DotContext> ctx, applied;
      for (auto& n : nodes) {
        applied.push_back(n->replica().AppliedContext());
        ctx.push_back(n->replica().Context());
      }
      auto now = Clock::now();
      std::vector<Sample> still;
      for (Sample& s : pending) {
        if (!s.readable) {
          bool readable = true;
          for (size_t i = 0; i < applied.size(); ++i) readable = readable && applied[i].Contains(s.dot);
          if (readable) {
            s.readable = true;
            readable_lags.push_back(std::chrono::duration<double, std::milli>(now - s.acked).count());
          }
        }
        bool everywhere = true;
        for (size_t i = 0; i < ctx.size(); ++i) everywhere = everywhere && ctx[i].Contains(s.dot);
        if (everywhere) {
          lags.push_back(std::chrono::duration<double, std::milli>(now - s.acked).count());
          if (!s.readable) readable_lags.push_back(lags.back());
        } else {
          still.push_back(s);
        }
      }
      pending.swap(still);
      if (stop && pending.empty()) {
        std::lock_guard<std::mutex> lock(mu);
        if (samples.empty()) break;
      }
      std::this_thread::sleep_for(std::chrono::microseconds(500));
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
      // At a fixed rate, the writes due are issued together at most once a millisecond: a
      // wake-up per write (tens of thousands a second) would cost the nodes CPU of their own.
      uint64_t issued = 0;
      while (Clock::now() - start < std::chrono::duration<double>(seconds)) {
        if (rate_per_node > 0) {
          auto now = Clock::now();
          auto due = static_cast<uint64_t>(std::chrono::duration<double>(now - start).count() * rate_per_node);
          if (issued >= due) {
            auto next_due = start + std::chrono::duration_cast<Clock::duration>(
                                        std::chrono::duration<double>(static_cast<double>(issued + 1) / rate_per_node));
            std::this_thread::sleep_until(std::max(next_due, now + std::chrono::milliseconds(1)));
            continue;
          }
          ++issued;
        }
        {
          std::unique_lock<std::mutex> lock(wmu);
          cv.wait(lock, [&] { return in_flight < window; });
          ++in_flight;
        }
        char key[17];
        // Sequential: each node and phase counts up in its own range, so a commit's new keys
        // share pages; random: every key lands on its own page.
        uint64_t k = sequential ? (uint64_t{i} << 56) + (seed << 48) + n : rng();
        std::snprintf(key, sizeof(key), "%016llx", static_cast<unsigned long long>(k));
        bool sample = (n++ % 64) == 0;
        nodes[i]->replica().Write("bench", std::string(key, 16), WriteOp::Put(value),
                                  [&, sample, i](syncline::Result<syncline::replication::WriteResult> r) {
                                    if (!r.ok()) Die(r.status().ToString());
                                    if (sample) {
                                      auto acked = Clock::now();
                                      if (lag_by_polling) {
                                        std::lock_guard<std::mutex> lock(mu);
                                        samples.push_back(Sample{r->dot, static_cast<int>(i), acked});
                                      } else {
                                        tracker.Track(nodes, static_cast<int>(i), r->dot, acked);
                                      }
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
  if (!lag_by_polling) {
    tracker.WaitAll(std::chrono::seconds(60));
    lags = std::move(tracker.durable_ms);
    readable_lags = std::move(tracker.readable_ms);
  }
  phase.writes = writes.load();
  phase.seconds_to_replicate = std::chrono::duration<double>(end - start).count();
  phase.lag_ms = std::move(lags);
  phase.readable_ms = std::move(readable_lags);
  static_cast<Counters&>(phase) = Totals(nodes) - before;
  return phase;
}

// Waits until every node ran log retention once more (truncating what the phase before wrote)
// and then committed nothing for `quiet`: the background work that phase left is done. At most
// `limit`; returns the time waited.
double Settle(std::vector<std::unique_ptr<Node>>& nodes, std::chrono::milliseconds quiet, std::chrono::seconds limit) {
  auto start = Clock::now();
  std::vector<uint64_t> runs;
  for (auto& node : nodes) runs.push_back(node->GetStatus().retention.runs);
  for (size_t i = 0; i < nodes.size() && Clock::now() - start < limit;) {
    if (nodes[i]->GetStatus().retention.runs > runs[i]) {
      ++i;
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  auto commits = [&] {
    uint64_t n = 0;
    for (auto& node : nodes) n += node->store().stats().groups_committed;
    return n;
  };
  auto last_change = Clock::now();
  uint64_t seen = commits();
  while (Clock::now() - last_change < quiet && Clock::now() - start < limit) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (uint64_t now = commits(); now != seen) {
      seen = now;
      last_change = Clock::now();
    }
  }
  return std::chrono::duration<double>(Clock::now() - start).count();
}

void Print(const char* name, const Phase& p, size_t nodes) {
  double delivered = static_cast<double>(p.writes) * static_cast<double>(nodes - 1);
  std::printf("%-10s %10.0f writes/s replicated to all  lag to applied (readable) on all: p50 %7.2f ms  p99 %7.2f ms  "
              "max %7.2f ms  (%zu samples)\n",
              name, static_cast<double>(p.writes) / p.seconds_to_replicate, Percentile(p.readable_ms, 0.5),
              Percentile(p.readable_ms, 0.99), Percentile(p.readable_ms, 1.0), p.readable_ms.size());
  std::printf("%-10s %10s lag to durable (held) on all:    p50 %7.2f ms  p99 %7.2f ms  max %7.2f ms  "
              "%.1f change bytes shipped per delivery, %.2f sends per delivery\n", "", "",
              Percentile(p.lag_ms, 0.5), Percentile(p.lag_ms, 0.99), Percentile(p.lag_ms, 1.0),
              static_cast<double>(p.bytes) / delivered, static_cast<double>(p.changes_sent) / delivered);
  std::printf("%-10s %10.0f commits/s per node, %.1f changes applied per commit (own writes and received), "
              "%.1f changes per batch sent, %.3f duplicates received per delivery, %llu rewinds\n", "",
              static_cast<double>(p.groups) / p.seconds_to_replicate / static_cast<double>(nodes),
              static_cast<double>(p.writes) * static_cast<double>(nodes) / static_cast<double>(std::max<uint64_t>(p.groups, 1)),
              static_cast<double>(p.changes_sent) / static_cast<double>(std::max<uint64_t>(p.batches_sent, 1)),
              static_cast<double>(p.duplicates) / delivered, static_cast<unsigned long long>(p.rewinds));
  std::printf("%-10s %10.0f bytes written to the disk device per change stored (every node stores every write), "
              "%.0f MB/s\n", "",
              static_cast<double>(p.disk_bytes) / (static_cast<double>(p.writes) * static_cast<double>(nodes)),
              static_cast<double>(p.disk_bytes) / p.seconds_to_replicate / 1e6);
  unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  std::printf("%-10s %10.2f CPU microseconds per change stored (user + system, the whole process: nodes and "
              "the bench's clients), %.0f %% of %u cores\n", "",
              p.cpu_seconds * 1e6 / (static_cast<double>(p.writes) * static_cast<double>(nodes)),
              100.0 * p.cpu_seconds / p.seconds_to_replicate / cores, cores);
}

// The bound the storage engine itself sets on this machine for commits of the nodes' size: three
// bare LMDB environments, one per node, each putting every write (16-byte random key, 100-byte
// value, one table, no log, index or feed) in transactions of `group` puts, all three at once as
// the nodes do. Nodes committing groups of that size can not replicate more writes/s than this
// (every node stores every write); larger commits dirty fewer pages per put and raise it.
double RawLmdbBound(const std::filesystem::path& dir, uint64_t writes, size_t group, bool nosync, bool sequential,
                    uint64_t* disk_bytes) {
  auto check = [](int rc, const char* what) {
    if (rc != 0) Die(std::string("raw LMDB bound: ") + what + ": " + mdb_strerror(rc));
  };
  std::vector<std::string> keys(writes);
  std::mt19937_64 rng(7);
  for (auto& k : keys) {
    char key[17];
    uint64_t n = sequential ? static_cast<uint64_t>(&k - keys.data()) : rng();
    std::snprintf(key, sizeof(key), "%016llx", static_cast<unsigned long long>(n));
    k.assign(key, 16);
  }
  std::string value(100, 'v');
  std::vector<std::thread> threads;
  uint64_t disk_before = DiskBytesWritten();
  auto start = Clock::now();
  for (int n = 0; n < 3; ++n) {
    threads.emplace_back([&, n] {
      std::filesystem::path env_dir = dir / ("raw-" + std::to_string(n));
      std::filesystem::create_directories(env_dir);
      MDB_env* env = nullptr;
      check(mdb_env_create(&env), "mdb_env_create");
      check(mdb_env_set_mapsize(env, size_t{4} << 30), "mdb_env_set_mapsize");
      check(mdb_env_open(env, env_dir.c_str(), MDB_NOTLS | (nosync ? MDB_NOSYNC : 0), 0644), "mdb_env_open");
      MDB_dbi dbi = 0;
      for (uint64_t i = 0; i < writes;) {
        MDB_txn* txn = nullptr;
        check(mdb_txn_begin(env, nullptr, 0, &txn), "mdb_txn_begin");
        if (i == 0) check(mdb_dbi_open(txn, nullptr, 0, &dbi), "mdb_dbi_open");
        for (uint64_t end = std::min<uint64_t>(writes, i + group); i < end; ++i) {
          MDB_val k{keys[i].size(), keys[i].data()};
          MDB_val v{value.size(), value.data()};
          check(mdb_put(txn, dbi, &k, &v, 0), "mdb_put");
        }
        check(mdb_txn_commit(txn), "mdb_txn_commit");
      }
      mdb_env_close(env);
    });
  }
  for (auto& t : threads) t.join();
  double rate = static_cast<double>(writes) / std::chrono::duration<double>(Clock::now() - start).count();
  *disk_bytes = DiskBytesWritten() - disk_before;
  return rate;
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
    else if (a == "--rate-only") args.rate_only = true;
    else if (a == "--sequential") args.sequential = true;
    else if (a == "--writes-per-commit") args.writes_per_commit = static_cast<size_t>(std::atol(value().c_str()));
    else if (a == "--retention-interval-ms") args.retention_interval_ms = std::atoll(value().c_str());
    else if (a == "--log-segment-changes") args.log_segment_changes = std::atoll(value().c_str());
    else if (a == "--lag-by-polling") args.lag_by_polling = true;
    else Die("unknown flag " + a + " (flags: --seconds S --window N --dir DIR --nosync --rate W --rate-only --sequential --writes-per-commit N --retention-interval-ms MS --log-segment-changes N --lag-by-polling)");
  }
  if (args.seconds <= 0 || args.window == 0 || args.writes_per_commit == 0) {
    Die("--seconds, --window and --writes-per-commit must be positive");
  }
  if (args.rate_only && args.rate <= 0) Die("--rate-only needs --rate W");
  std::filesystem::path dir = args.dir.empty() ? std::filesystem::temp_directory_path() / ("syncline-repl-bench-" + std::to_string(::getpid()))
                                               : std::filesystem::path(args.dir);
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  SetDiskDevice(dir);
  std::vector<std::unique_ptr<Node>> nodes;
  for (int i = 0; i < 3; ++i) {
    syncline::NodeOptions o;
    o.node_id = "n" + std::to_string(i + 1);
    o.data_dir = (dir / o.node_id).string();
    o.secret = "bench-secret";
    o.cluster_id = "bench";
    o.sync = args.nosync ? syncline::core::SyncMode::kNoSync : syncline::core::SyncMode::kDurable;
    o.map_size_bytes = uint64_t{4} << 30;
    o.max_writes_per_commit = args.writes_per_commit;
    if (args.retention_interval_ms >= 0) o.retention.interval_millis = args.retention_interval_ms;
    if (args.log_segment_changes >= 0) o.retention.log_segment_changes = static_cast<uint64_t>(args.log_segment_changes);
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
  std::printf("3 nodes on 127.0.0.1, lww, %s 16-byte keys, 100-byte values, %s, group commit, window %zu per node\n",
              args.sequential ? "sequential" : "random", args.nosync ? "no-sync" : "durable", args.window);
  auto fixed_rate_phase = [&] {
    Phase fixed = Run(nodes, args.seconds, args.window, args.rate / static_cast<double>(nodes.size()), 3, args.sequential, args.lag_by_polling);
    Print(("at " + std::to_string(static_cast<long long>(args.rate)) + "/s").c_str(), fixed, nodes.size());
  };
  if (args.rate_only) {
    fixed_rate_phase();
    nodes.clear();
    std::filesystem::remove_all(dir);
    return 0;
  }
  Phase full = Run(nodes, args.seconds, args.window, 0, 1, args.sequential, args.lag_by_polling);
  Print("full load", full, nodes.size());
  double rate = static_cast<double>(full.writes) / full.seconds_to_replicate / 2.0 / static_cast<double>(nodes.size());
  // The half-load phase measures that load, not the recovery from the full one: first the nodes
  // finish what the full phase left them (log retention truncating the changes it wrote).
  double settled = Settle(nodes, std::chrono::milliseconds(300), std::chrono::seconds(30));
  std::printf("%-10s %10.1f s until every node ran log retention again and then committed nothing for 0.3 s\n",
              "settled", settled);
  Phase half = Run(nodes, args.seconds, args.window, rate, 2, args.sequential, args.lag_by_polling);
  Print("half load", half, nodes.size());
  {
    // The targets, as measured by this run (one run is one sample of a shared host; see
    // tools/bench/replication_runs.sh for several).
    double full_rate = static_cast<double>(full.writes) / full.seconds_to_replicate;
    double half_p99 = Percentile(half.readable_ms, 0.99);
    std::printf("target     %s at least 100,000 writes/s replicated (%.0f); %s p99 lag to applied under 10 ms "
                "at half load (%.2f ms)\n",
                full_rate >= 100000 ? "MET" : "MISSED", full_rate, half_p99 < 10.0 ? "MET" : "MISSED", half_p99);
  }
  if (args.rate > 0) {
    Settle(nodes, std::chrono::milliseconds(300), std::chrono::seconds(30));
    fixed_rate_phase();
  }
  nodes.clear();
  // As many writes as the full-load phase, in groups of its average commit (but into empty
  // environments, which only favours the bound).
  size_t group = static_cast<size_t>(static_cast<double>(full.writes) * 3.0 /
                                     static_cast<double>(std::max<uint64_t>(full.groups, 1)));
  group = std::max<size_t>(group, 1);
  uint64_t raw_writes = std::max<uint64_t>(full.writes, 100'000);
  uint64_t raw_disk = 0;
  double bound = RawLmdbBound(dir, raw_writes, group, args.nosync, args.sequential, &raw_disk);
  std::printf("raw LMDB  %10.0f writes/s stored on all three bare environments at once (%llu %s 16-byte keys, "
              "100-byte values, one table, %zu puts per commit, %s): nodes committing groups of this size "
              "could replicate no more than this here\n",
              bound, static_cast<unsigned long long>(raw_writes), args.sequential ? "sequential" : "random", group, args.nosync ? "no-sync" : "durable");
  std::printf("%-10s %10.0f bytes written to the disk device per put\n", "",
              static_cast<double>(raw_disk) / (3.0 * static_cast<double>(raw_writes)));
  std::filesystem::remove_all(dir);
  return 0;
}
