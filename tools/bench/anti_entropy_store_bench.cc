// Anti-entropy through the replicas' stores: two LMDB replicas of N lww keys (default 1,000,000)
// made identical by a snapshot install, then made to differ in d keys (a third written only on A,
// a third only on B, the rest overwritten on A). Every write keeps the item index in the store.
// Then what a live session does, minus the network: two Reconcilers exchange messages
// in-process, each call reading its side's stored index through one read transaction
// (Replica::CallWithItemIndex), and each side reads the states it lacks from the other
// (Replica::ReadStates) and merges them through the resolvers (Replica::MergeStates). Prints the
// load rate (writes with the index kept), the cost of opening the index for one call, find and
// repair times, round trips and bytes each way, and whether both stores ended with equal
// digests. Prints figures; asserts nothing.
//
// Usage: syncline_anti_entropy_store_bench [--keys N] [--dir DIR] [d ...]
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "syncline/core/lmdb_store.h"
#include "syncline/replication/replica.h"

namespace {

using namespace syncline;  // NOLINT: a benchmark program
using replication::Replica;
using replication::WriteOp;
using Steady = std::chrono::steady_clock;

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "syncline_anti_entropy_store_bench: %s\n", what.c_str());
  std::exit(2);
}

void Check(const Status& s, const std::string& what) {
  if (!s.ok()) Die(what + ": " + s.ToString());
}

double Millis(Steady::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

std::string Key(uint64_t i) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "user:%010llu", static_cast<unsigned long long>(i));
  return buf;
}

struct Side {
  std::unique_ptr<core::Store> store;
  std::unique_ptr<Replica> replica;
};

Side Open(const std::filesystem::path& dir) {
  std::filesystem::create_directories(dir);
  core::LmdbStoreOptions so;
  so.sync_mode = core::SyncMode::kNoSync;
  auto store = core::OpenLmdbStore(dir.string(), so);
  Check(store.status(), "opening " + dir.string());
  replication::ReplicaOptions ro;
  ro.index_secret = "bench cluster secret";
  auto replica = Replica::Open(store->get(), ro);
  Check(replica.status(), "opening the replica in " + dir.string());
  return Side{std::move(store).value(), std::move(replica).value()};
}

// Writes `keys` through `r`, at most 4,096 in flight, and waits for all of them.
void Write(Replica& r, const std::vector<std::pair<std::string, std::string>>& keys) {
  std::mutex mu;
  std::condition_variable cv;
  size_t in_flight = 0;
  std::string error;
  for (const auto& [key, value] : keys) {
    {
      std::unique_lock<std::mutex> lock(mu);
      cv.wait(lock, [&] { return in_flight < 4096; });
      ++in_flight;
    }
    r.Write("bench", key, WriteOp::Put(value), [&](Result<replication::WriteResult> res) {
      std::lock_guard<std::mutex> lock(mu);
      if (!res.ok() && error.empty()) error = res.status().ToString();
      --in_flight;
      cv.notify_all();
    });
  }
  std::unique_lock<std::mutex> lock(mu);
  cv.wait(lock, [&] { return in_flight == 0; });
  if (!error.empty()) Die("a write failed: " + error);
}

// Makes `to` a copy of `from` through a snapshot, chunk by chunk.
void Copy(Replica& from, Replica& to) {
  std::string begin;
  while (true) {
    replication::SnapshotChunkData chunk;
    Check(from.ReadSnapshotChunk(begin, 4 << 20, &chunk), "reading a snapshot chunk");
    bool last = chunk.last;
    std::string next = chunk.next_begin;
    std::promise<Status> done;
    to.InstallSnapshotChunk("a", begin, std::move(chunk), [&](Status s) { done.set_value(s); });
    Check(done.get_future().get(), "installing a snapshot chunk");
    if (last) return;
    begin = next;
  }
}

// Reads `items` at `from` and merges them into `into`; returns the bytes of keys and states.
uint64_t Repair(Replica& from, Replica& into, const std::vector<std::string>& items) {
  uint64_t bytes = 0;
  for (size_t i = 0; i < items.size(); i += 1000) {
    std::vector<std::string> part(items.begin() + i, items.begin() + std::min(items.size(), i + 1000));
    replication::SnapshotChunkData data;
    std::vector<std::string> missing;
    Check(from.ReadStates(part, size_t{64} << 20, &data, &missing), "reading states");
    bytes += data.bytes;
    std::promise<Result<uint64_t>> merged;
    into.MergeStates("peer", std::move(data), [&](Result<uint64_t> r) { merged.set_value(std::move(r)); });
    Check(merged.get_future().get().status(), "merging states");
  }
  return bytes;
}

// The exchange of two Reconcilers as live sessions run it: each call reads its side's stored
// index through a read transaction of its own.
Status Exchange(Replica& a, replication::Reconciler& ra, replication::BoundItemIndex& ia, Replica& b,
                replication::Reconciler& rb, replication::BoundItemIndex& ib) {
  std::optional<std::string> msg;
  SYNCLINE_RETURN_IF_ERROR(a.CallWithItemIndex(ia, [&]() -> Status {
    SYNCLINE_ASSIGN_OR_RETURN(msg, ra.Initiate());
    return Status::Ok();
  }));
  bool to_b = true;
  while (msg) {
    Replica& r = to_b ? b : a;
    SYNCLINE_RETURN_IF_ERROR(r.CallWithItemIndex(to_b ? ib : ia, [&]() -> Status {
      SYNCLINE_ASSIGN_OR_RETURN(msg, (to_b ? rb : ra).HandleMessage(*msg));
      return Status::Ok();
    }));
    to_b = !to_b;
  }
  return Status::Ok();
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t n = 1'000'000;
  std::filesystem::path dir;
  std::vector<uint64_t> ds;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--keys" && i + 1 < argc) {
      n = std::strtoull(argv[++i], nullptr, 10);
    } else if (a == "--dir" && i + 1 < argc) {
      dir = argv[++i];
    } else if (!a.empty() && a[0] != '-') {
      ds.push_back(std::strtoull(a.c_str(), nullptr, 10));
    } else {
      Die("unknown argument '" + a + "' (usage: syncline_anti_entropy_store_bench [--keys N] [--dir DIR] [d ...])");
    }
  }
  if (ds.empty()) ds = {1, 100, 10000};
  if (n == 0) Die("--keys must be > 0");
  if (dir.empty()) dir = std::filesystem::temp_directory_path() / ("syncline-ae-store-bench-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::printf("anti-entropy through LMDB replicas: %llu lww keys of 100-byte values per replica\n",
              static_cast<unsigned long long>(n));
  std::printf("%7s %6s %11s %10s %10s %9s %9s %10s %10s %9s\n", "d", "found", "round trips", "bytes A->B",
              "bytes B->A", "open ms", "find ms", "repair ms", "repaired B", "converged");
  for (uint64_t d : ds) {
    std::filesystem::path run = dir / std::to_string(d);
    Side a = Open(run / "a");
    Side b = Open(run / "b");
    Check(a.replica->CreateCollection("bench", "lww"), "creating the collection");
    std::vector<std::pair<std::string, std::string>> load;
    load.reserve(n);
    for (uint64_t i = 0; i < n; ++i) load.emplace_back(Key(i), std::string(100, static_cast<char>('a' + i % 26)));
    Steady::time_point l0 = Steady::now();
    Write(*a.replica, load);
    double load_s = Millis(Steady::now() - l0) / 1000;
    if (d == ds.front()) {
      std::fprintf(stderr, "load: %llu writes in %.2f s (%.0f writes/s, item index kept)\n",
                   static_cast<unsigned long long>(n), load_s, static_cast<double>(n) / load_s);
    }
    Copy(*a.replica, *b.replica);
    std::vector<std::pair<std::string, std::string>> only_a, only_b, changed;
    for (uint64_t i = 0; i < d; ++i) {
      std::string v(100, 'x');
      if (i % 3 == 0) only_a.emplace_back("only-a:" + std::to_string(i), v);
      if (i % 3 == 1) only_b.emplace_back("only-b:" + std::to_string(i), v);
      if (i % 3 == 2) changed.emplace_back(Key((i * 7919) % n), v);
    }
    Write(*a.replica, only_a);
    Write(*b.replica, only_b);
    Write(*a.replica, changed);

    const replication::AntiEntropyKey session_key =
        replication::DeriveSessionKey(a.replica->index_key(), "nonce-a", "nonce-b");
    // What one call pays to open the stored index (its block list), on each side.
    Steady::time_point t0 = Steady::now();
    Check(a.replica->WithItemIndex([](const replication::ItemIndex&) { return Status::Ok(); }), "opening A's index");
    Check(b.replica->WithItemIndex([](const replication::ItemIndex&) { return Status::Ok(); }), "opening B's index");
    Steady::time_point t1 = Steady::now();
    replication::BoundItemIndex ia, ib;
    auto ra = replication::Reconciler::Create(&ia, session_key, {});
    auto rb = replication::Reconciler::Create(&ib, session_key, {});
    Check(ra.status(), "reconciler A");
    Check(rb.status(), "reconciler B");
    Check(Exchange(*a.replica, **ra, ia, *b.replica, **rb, ib), "reconciling");
    Steady::time_point t2 = Steady::now();
    std::vector<std::string> a_need = (*ra)->need();
    std::vector<std::string> b_need = (*rb)->need();
    uint64_t to_a = Repair(*b.replica, *a.replica, a_need);
    uint64_t to_b = Repair(*a.replica, *b.replica, b_need);
    Steady::time_point t3 = Steady::now();
    auto da = a.replica->Digest();
    auto db = b.replica->Digest();
    Check(da.status(), "digest A");
    Check(db.status(), "digest B");
    const replication::ReconcileStats& st = (*ra)->stats();
    std::printf("%7llu %6zu %11llu %10llu %10llu %9.0f %9.1f %10.1f %10zu %9s\n", static_cast<unsigned long long>(d),
                a_need.size() + b_need.size() - changed.size(), static_cast<unsigned long long>(st.round_trips),
                static_cast<unsigned long long>(st.bytes_sent + to_b), static_cast<unsigned long long>(st.bytes_received + to_a),
                Millis(t1 - t0), Millis(t2 - t1), Millis(t3 - t2), b_need.size(), *da == *db ? "yes" : "NO");
    a = Side();
    b = Side();
    std::filesystem::remove_all(run);
  }
  std::printf("(bytes each way: reconciliation messages plus the keys and states repaired; open ms: opening both "
              "sides' stored indexes once, which every reconciler call pays; find ms includes it per call)\n");
  std::filesystem::remove_all(dir);
  return 0;
}
