// Conflict-resolution benchmark: per type, delta creation and merge throughput; set and map
// updates at 10, 10,000 and 100,000 elements or fields (time per update and delta bytes);
// metadata bytes per key after 1,000,000 updates from three replicas. Prints figures; asserts
// nothing.
//
//   syncline_conflict_bench [--updates N]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "syncline/conflict/counter.h"
#include "syncline/conflict/lww.h"
#include "syncline/conflict/map.h"
#include "syncline/conflict/mv.h"
#include "syncline/conflict/or_set.h"

namespace {

using namespace syncline;
using namespace syncline::conflict;
using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }

const ReplicaId kIds[3] = {ReplicaId(1), ReplicaId(2), ReplicaId(3)};

WriteContext At(int w, uint64_t i) {
  return WriteContext{kIds[w], HlcTimestamp{1'700'000'000'000 + i / 16, 0}, Dot{kIds[w], i + 1}};
}

// Three replicas; replica i % 3 makes update i and the two others merge its delta.
template <typename State, typename Make, typename Merge>
void Run(const char* name, uint64_t updates, Make make, Merge merge, size_t payload_bytes) {
  State r[3];
  std::vector<State> deltas;
  deltas.reserve(4096);
  double make_s = 0, merge_s = 0;
  size_t delta_bytes = 0;
  for (uint64_t i = 0; i < updates; ++i) {
    int w = static_cast<int>(i % 3);
    auto t0 = Clock::now();
    State d = make(r[w], w, i);
    auto t1 = Clock::now();
    merge(r[(w + 1) % 3], d);
    merge(r[(w + 2) % 3], d);
    auto t2 = Clock::now();
    make_s += Seconds(t0, t1);
    merge_s += Seconds(t1, t2);
    if (i < 1000) delta_bytes += d.Encode().size();
  }
  size_t state = r[0].Encode().size();
  std::printf("%-8s %12.0f %12.0f %12.1f %14zu\n", name, double(updates) / make_s,
              double(2 * updates) / merge_s, double(delta_bytes) / std::min<double>(1000, double(updates)),
              state > payload_bytes ? state - payload_bytes : 0);
}

void SetScaling() {
  std::printf("\nset updates by size (add then remove of one element; time per update, delta bytes)\n");
  std::printf("%-10s %14s %14s %14s\n", "elements", "us/update", "add delta B", "remove delta B");
  for (size_t n : {size_t{10}, size_t{10'000}, size_t{100'000}}) {
    OrSet origin, replica;
    uint64_t log = 0;
    for (size_t i = 0; i < n; ++i) replica.ApplyDelta(origin.Add(At(static_cast<int>(i % 3), log++), "element-" + std::to_string(i)), nullptr);
    const int rounds = 2000;
    size_t add_bytes = 0, remove_bytes = 0;
    auto t0 = Clock::now();
    for (int k = 0; k < rounds; ++k) {
      std::string e = "extra-" + std::to_string(k);
      OrSet add = origin.Add(At(0, log++), e);
      replica.ApplyDelta(add, nullptr);
      OrSet rm = origin.Remove(At(0, log++), e);
      replica.ApplyDelta(rm, nullptr);
      add_bytes += add.Encode().size();
      remove_bytes += rm.Encode().size();
    }
    auto t1 = Clock::now();
    std::printf("%-10zu %14.2f %14.1f %14.1f\n", n, Seconds(t0, t1) * 1e6 / (2.0 * rounds),
                double(add_bytes) / rounds, double(remove_bytes) / rounds);
  }
}

// Map updates by size: a map of n fields (half registers, half counters); each round sets one
// register field and increments one counter field at the origin and applies both deltas to a
// replica.
void MapScaling() {
  std::printf("\nmap updates by size (set a register field, increment a counter field; time per update, delta bytes)\n");
  std::printf("%-10s %14s %14s %14s\n", "fields", "us/update", "set delta B", "incr delta B");
  for (size_t n : {size_t{10}, size_t{10'000}, size_t{100'000}}) {
    OrMap origin, replica;
    uint64_t log = 0;
    auto ctx = [&] {
      ++log;
      return WriteContext{kIds[0], HlcTimestamp{1'700'000'000'000 + log / 16, 0}, Dot{kIds[0], log}};
    };
    auto field = [](size_t i) {
      return i % 2 == 0 ? Field::Register("f" + std::to_string(i)) : Field::Counter("f" + std::to_string(i));
    };
    for (size_t i = 0; i < n; ++i) {
      OrMap d = i % 2 == 0 ? origin.SetRegister({field(i)}, ctx(), "initial-value-16").value()
                           : origin.Increment({field(i)}, ctx(), 1).value();
      replica.ApplyDelta(d, nullptr);
    }
    const int rounds = 2000;
    size_t set_bytes = 0, incr_bytes = 0;
    auto t0 = Clock::now();
    for (int k = 0; k < rounds; ++k) {
      size_t i = (static_cast<size_t>(k) * 7919) % n;
      size_t reg = i - i % 2, ctr = std::min(reg + 1, n - 1);
      OrMap set = origin.SetRegister({field(reg)}, ctx(), "updated-value-16").value();
      replica.ApplyDelta(set, nullptr);
      OrMap incr = origin.Increment({field(ctr)}, ctx(), 1).value();
      replica.ApplyDelta(incr, nullptr);
      set_bytes += set.Encode().size();
      incr_bytes += incr.Encode().size();
    }
    auto t1 = Clock::now();
    std::printf("%-10zu %14.2f %14.1f %14.1f\n", n, Seconds(t0, t1) * 1e6 / (2.0 * rounds),
                double(set_bytes) / rounds, double(incr_bytes) / rounds);
  }
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t updates = 1'000'000;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--updates" && i + 1 < argc) {
      updates = std::strtoull(argv[++i], nullptr, 10);
    } else {
      std::fprintf(stderr, "usage: syncline_conflict_bench [--updates N]\n");
      return 1;
    }
  }
  std::printf("conflict_bench: %llu updates by three replicas, each delta merged by the two others\n",
              static_cast<unsigned long long>(updates));
  std::printf("%-8s %12s %12s %12s %14s\n", "type", "deltas/s", "merges/s", "delta B", "metadata B/key");
  const std::string value(16, 'v');
  Run<LwwRegister>("lww", updates,
                   [&](LwwRegister& r, int w, uint64_t i) { return r.Write(At(w, i), value); },
                   [](LwwRegister& r, const LwwRegister& d) { r.Join(d, nullptr); }, value.size());
  Run<MvRegister>("mv", updates,
                  [&](MvRegister& r, int w, uint64_t i) { return r.Write(At(w, i), r.Token(), value); },
                  [](MvRegister& r, const MvRegister& d) { r.Join(d, nullptr); }, value.size());
  Run<PnCounter>("counter", updates,
                 [](PnCounter& r, int w, uint64_t) { return r.Add(kIds[w], 1).value(); },
                 [](PnCounter& r, const PnCounter& d) { r.Join(d); }, 0);
  Run<OrSet>("set", updates,
             [](OrSet& r, int w, uint64_t i) {
               // Re-adding one of 16 elements: the key's metadata must not grow with updates.
               return r.Add(At(w, i), "e" + std::to_string(i % 16));
             },
             [](OrSet& r, const OrSet& d) { r.ApplyDelta(d, nullptr); }, 16 * 3);
  // Setting one of 16 register fields ("r:f00".."r:f15", 16-byte values); the payload is the
  // field keys and their values.
  Run<OrMap>("map", updates,
             [&](OrMap& r, int w, uint64_t i) {
               char key[8];
               std::snprintf(key, sizeof key, "f%02d", static_cast<int>(i % 16));
               return r.SetRegister({Field::Register(key)}, At(w, i), value).value();
             },
             [](OrMap& r, const OrMap& d) { r.ApplyDelta(d, nullptr); }, 16 * (5 + 16));
  SetScaling();
  MapScaling();
  return 0;
}
