// Store write-path benchmark: N random 16-byte keys with 100-byte values, written through the
// Store (one write function per put, grouped by the writer) and through raw LMDB doing the
// same puts in the same batch sizes, in durable and no-sync mode; then random point reads.
// Prints figures; asserts nothing.
//
//   syncline_store_bench [--keys N] [--dir DIR] [--group N]
#include <lmdb.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "syncline/core/lmdb_store.h"
#include "syncline/core/store.h"

namespace {

using Clock = std::chrono::steady_clock;
using syncline::core::Table;

struct Args {
  size_t keys = 1'000'000;
  size_t group = 1024;
  int repeat = 3;
  std::string dir;
};

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "store_bench: %s\n", what.c_str());
  std::exit(2);
}

void CheckMdb(int rc, const char* what) {
  if (rc != 0) Die(std::string(what) + ": " + mdb_strerror(rc));
}

std::vector<std::string> MakeKeys(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<std::string> keys(n, std::string(16, '\0'));
  for (auto& k : keys) {
    uint64_t a = rng(), b = rng();
    std::memcpy(k.data(), &a, 8);
    std::memcpy(k.data() + 8, &b, 8);
  }
  return keys;
}

// Raw LMDB: the same puts, committed every `group` puts.
double RawLmdbWrites(const std::string& dir, const std::vector<std::string>& keys,
                     const std::string& value, size_t group, bool durable) {
  std::filesystem::create_directories(dir);
  MDB_env* env;
  CheckMdb(mdb_env_create(&env), "mdb_env_create");
  CheckMdb(mdb_env_set_mapsize(env, size_t{16} << 30), "mdb_env_set_mapsize");
  CheckMdb(mdb_env_set_maxdbs(env, 8), "mdb_env_set_maxdbs");
  CheckMdb(mdb_env_open(env, dir.c_str(), MDB_NOTLS | (durable ? 0 : MDB_NOSYNC), 0644),
           "mdb_env_open");
  MDB_dbi dbi;
  {
    MDB_txn* txn;
    CheckMdb(mdb_txn_begin(env, nullptr, 0, &txn), "begin");
    CheckMdb(mdb_dbi_open(txn, "data", MDB_CREATE, &dbi), "dbi_open");
    CheckMdb(mdb_txn_commit(txn), "commit");
  }
  auto t0 = Clock::now();
  for (size_t i = 0; i < keys.size(); i += group) {
    MDB_txn* txn;
    CheckMdb(mdb_txn_begin(env, nullptr, 0, &txn), "begin");
    for (size_t j = i; j < std::min(keys.size(), i + group); ++j) {
      MDB_val k{keys[j].size(), const_cast<char*>(keys[j].data())};
      MDB_val v{value.size(), const_cast<char*>(value.data())};
      CheckMdb(mdb_put(txn, dbi, &k, &v, 0), "put");
    }
    CheckMdb(mdb_txn_commit(txn), "commit");
  }
  auto t1 = Clock::now();
  mdb_env_close(env);
  return Seconds(t0, t1);
}

double RawLmdbReads(const std::string& dir, const std::vector<std::string>& keys,
                    const std::vector<size_t>& order) {
  MDB_env* env;
  CheckMdb(mdb_env_create(&env), "mdb_env_create");
  CheckMdb(mdb_env_set_mapsize(env, size_t{16} << 30), "mdb_env_set_mapsize");
  CheckMdb(mdb_env_set_maxdbs(env, 8), "mdb_env_set_maxdbs");
  CheckMdb(mdb_env_open(env, dir.c_str(), MDB_NOTLS | MDB_RDONLY, 0644), "mdb_env_open");
  MDB_dbi dbi;
  MDB_txn* txn;
  CheckMdb(mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn), "begin");
  CheckMdb(mdb_dbi_open(txn, "data", 0, &dbi), "dbi_open");
  CheckMdb(mdb_txn_commit(txn), "commit");  // an aborted txn would close the handle
  size_t bytes = 0;
  auto t0 = Clock::now();
  for (size_t idx : order) {
    CheckMdb(mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn), "begin");
    MDB_val k{keys[idx].size(), const_cast<char*>(keys[idx].data())};
    MDB_val v;
    CheckMdb(mdb_get(txn, dbi, &k, &v), "get");
    bytes += v.mv_size;
    mdb_txn_abort(txn);
  }
  auto t1 = Clock::now();
  mdb_env_close(env);
  if (bytes == 0) Die("raw reads found nothing");
  return Seconds(t0, t1);
}

struct StoreRun {
  double write_seconds = 0;
  double avg_group = 0;
};

StoreRun StoreWrites(const std::string& dir, const std::vector<std::string>& keys,
                     const std::string& value, size_t group, bool durable) {
  syncline::core::LmdbStoreOptions o;
  o.sync_mode = durable ? syncline::core::SyncMode::kDurable : syncline::core::SyncMode::kNoSync;
  o.max_group_writes = group;
  auto opened = syncline::core::OpenLmdbStore(dir, o);
  if (!opened.ok()) Die(opened.status().ToString());
  auto store = std::move(opened).value();
  std::atomic<size_t> failed{0};
  auto t0 = Clock::now();
  for (const std::string& key : keys) {
    store->Submit([&key, &value](syncline::core::WriteTxn& txn) { return txn.Put(Table::kData, key, value); },
                  [&failed](syncline::Status st) {
                    if (!st.ok()) ++failed;
                  });
  }
  store->Flush();
  auto t1 = Clock::now();
  if (failed.load() != 0) Die(std::to_string(failed.load()) + " store writes failed");
  auto stats = store->stats();
  StoreRun run;
  run.write_seconds = Seconds(t0, t1);
  run.avg_group = stats.groups_committed ? double(stats.writes_committed) / double(stats.groups_committed) : 0;
  if (!store->Close().ok()) Die("close failed");
  return run;
}

double StoreReads(const std::string& dir, const std::vector<std::string>& keys,
                  const std::vector<size_t>& order) {
  auto opened = syncline::core::OpenLmdbStore(dir);
  if (!opened.ok()) Die(opened.status().ToString());
  auto store = std::move(opened).value();
  size_t bytes = 0;
  auto t0 = Clock::now();
  for (size_t idx : order) {
    syncline::Status st = store->Read([&](syncline::core::ReadView& view) -> syncline::Status {
      SYNCLINE_ASSIGN_OR_RETURN(std::string v, view.Get(Table::kData, keys[idx]));
      bytes += v.size();
      return syncline::Status::Ok();
    });
    if (!st.ok()) Die(st.ToString());
  }
  auto t1 = Clock::now();
  if (bytes == 0) Die("store reads found nothing");
  if (!store->Close().ok()) Die("close failed");
  return Seconds(t0, t1);
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) Die("missing value after " + a);
      return argv[++i];
    };
    if (a == "--keys") {
      args.keys = std::stoul(next());
    } else if (a == "--group") {
      args.group = std::stoul(next());
    } else if (a == "--repeat") {
      args.repeat = std::stoi(next());
    } else if (a == "--dir") {
      args.dir = next();
    } else {
      Die("unknown flag '" + a + "' (flags: --keys N, --group N, --repeat N, --dir DIR)");
    }
  }
  if (args.keys == 0 || args.group == 0 || args.repeat <= 0) Die("--keys, --group and --repeat must be positive");
  std::string base = args.dir;
  if (base.empty()) {
    std::string pattern = (std::filesystem::temp_directory_path() / "syncline-bench-XXXXXX").string();
    if (!mkdtemp(pattern.data())) Die("mkdtemp failed");
    base = pattern;
  }
  auto keys = MakeKeys(args.keys, 42);
  std::string value(100, 'v');
  std::vector<size_t> order(keys.size());
  std::mt19937_64 rng(7);
  for (auto& o : order) o = rng() % keys.size();

  std::printf("store_bench: %zu random 16-byte keys, 100-byte values, groups of up to %zu, best of %d\n",
              args.keys, args.group, args.repeat);
  std::printf("%-9s %14s %14s %8s %10s\n", "mode", "store w/s", "raw lmdb w/s", "ratio", "avg group");
  for (bool durable : {true, false}) {
    std::string tag = durable ? "durable" : "nosync";
    std::string sdir = base + "/store-" + tag, rdir = base + "/raw-" + tag;
    // Alternate the two sides on fresh directories and keep the best run of each, so neither
    // gains from going second (warm page cache) or loses to a noisy moment.
    double best_store = 1e300, best_raw = 1e300, avg_group = 0;
    for (int r = 0; r < args.repeat; ++r) {
      std::filesystem::remove_all(sdir);
      std::filesystem::remove_all(rdir);
      if (r % 2 == 0) {
        StoreRun s = StoreWrites(sdir, keys, value, args.group, durable);
        best_store = std::min(best_store, s.write_seconds);
        avg_group = s.avg_group;
        best_raw = std::min(best_raw, RawLmdbWrites(rdir, keys, value, args.group, durable));
      } else {
        best_raw = std::min(best_raw, RawLmdbWrites(rdir, keys, value, args.group, durable));
        StoreRun s = StoreWrites(sdir, keys, value, args.group, durable);
        best_store = std::min(best_store, s.write_seconds);
        avg_group = s.avg_group;
      }
    }
    double sw = double(args.keys) / best_store, rw = double(args.keys) / best_raw;
    std::printf("%-9s %14.0f %14.0f %8.2f %10.1f\n", tag.c_str(), sw, rw, sw / rw, avg_group);
    std::fflush(stdout);
  }
  double sr = StoreReads(base + "/store-nosync", keys, order);
  double rr = RawLmdbReads(base + "/raw-nosync", keys, order);
  double srs = double(order.size()) / sr, rrs = double(order.size()) / rr;
  std::printf("%-9s %14.0f %14.0f %8.2f   (random point reads/s, one read txn each)\n", "reads", srs, rrs,
              srs / rrs);
  if (args.dir.empty()) std::filesystem::remove_all(base);
  return 0;
}
