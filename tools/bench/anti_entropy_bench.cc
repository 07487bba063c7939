// Anti-entropy benchmark: two in-memory replicas of N keys (default 1,000,000) that differ in d
// keys (a third only on A, a third only on B, the rest in another state), reconciled by two
// Reconcilers exchanging messages in-process. Prints round trips, bytes each way, the time to
// find the differences and the time including the repair (each side merges what it fetched into
// its index; digests merge by taking the larger, standing in for a resolver), then checks that
// both indexes ended equal. Prints figures; asserts nothing.
//
// Usage: syncline_anti_entropy_bench [--branching=B] [--threshold=T] [--fingerprint=F]
//                                    [--max-message=BYTES] [keys] [d ...]
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "reconcile_exchange.h"
#include "syncline/replication/anti_entropy.h"

namespace {

using syncline::replication::AntiEntropyKey;
using syncline::replication::MemoryItemIndex;
using syncline::replication::Reconciler;
using syncline::replication::ReconcileStats;
using syncline::replication::StateDigest;
using Clock = std::chrono::steady_clock;

uint64_t SplitMix(uint64_t* state) {
  uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

StateDigest DigestOf(uint64_t a, uint64_t b) {
  uint64_t s = a * 0x100000001b3ULL ^ b;
  StateDigest d{};
  uint64_t x = SplitMix(&s);
  uint64_t y = SplitMix(&s);
  for (int i = 0; i < 8; ++i) {
    d[i] = static_cast<uint8_t>(x >> (8 * i));
    d[8 + i] = static_cast<uint8_t>(y >> (8 * i));
  }
  return d;
}

std::string KeyOf(uint64_t i) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "user:%010llu", static_cast<unsigned long long>(i));
  return *syncline::replication::MakeItemKey("bench", buf);
}

double Millis(Clock::duration d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

struct Figures {
  uint64_t messages = 0;
  uint64_t round_trips = 0;
  uint64_t bytes_a_to_b = 0;
  uint64_t bytes_b_to_a = 0;
  uint64_t found = 0;
  double find_ms = 0;
  double repair_ms = 0;
  bool converged = false;
  uint64_t deferred = 0;
};

bool Reconcile(MemoryItemIndex& a, MemoryItemIndex& b,
               const syncline::replication::ReconcileOptions& options, Figures* f) {
  AntiEntropyKey session{};
  for (size_t i = 0; i < session.size(); ++i) session[i] = static_cast<uint8_t>(0xa0 + i);
  auto ra = Reconciler::Create(&a, session, options);
  auto rb = Reconciler::Create(&b, session, options);
  if (!ra.ok() || !rb.ok()) {
    std::fprintf(stderr, "create: %s %s\n", ra.status().ToString().c_str(),
                 rb.status().ToString().c_str());
    return false;
  }
  Clock::time_point start = Clock::now();
  syncline::Status exchanged = syncline::bench::Exchange(**ra, **rb);
  if (!exchanged.ok()) {
    std::fprintf(stderr, "reconciling: %s\n", exchanged.ToString().c_str());
    return false;
  }
  Clock::time_point found = Clock::now();
  const ReconcileStats& sa = (*ra)->stats();
  f->messages = sa.messages_sent + sa.messages_received;
  f->round_trips = sa.round_trips;
  f->bytes_a_to_b = sa.bytes_sent;
  f->bytes_b_to_a = sa.bytes_received;
  f->deferred = sa.deferred + (*rb)->stats().deferred;
  std::vector<std::string> a_need = (*ra)->need();
  std::vector<std::string> b_need = (*rb)->need();
  std::vector<std::string> a_have = (*ra)->have();
  std::vector<std::string> either;
  std::set_union(a_need.begin(), a_need.end(), a_have.begin(), a_have.end(),
                 std::back_inserter(either));
  f->found = either.size();
  // Repair: each side fetches what it needs from the other and merges it.
  auto merge = [](MemoryItemIndex& into, const MemoryItemIndex& from,
                  const std::vector<std::string>& keys) {
    for (const std::string& k : keys) {
      std::optional<StateDigest> theirs = from.Find(k);
      if (!theirs) continue;
      std::optional<StateDigest> ours = into.Find(k);
      into.Upsert(k, ours ? std::max(*ours, *theirs) : *theirs);
    }
  };
  merge(a, b, a_need);
  merge(b, a, b_need);
  Clock::time_point repaired = Clock::now();
  f->find_ms = Millis(found - start);
  f->repair_ms = Millis(repaired - start);
  f->converged = *a.Size() == *b.Size() && *a.PrefixSum(*a.Size()) == *b.PrefixSum(*b.Size());
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t n = 1000000;
  std::vector<uint64_t> ds;
  syncline::replication::ReconcileOptions options;
  bool have_n = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&](std::string_view flag) {
      return std::strtoull(arg.c_str() + flag.size(), nullptr, 10);
    };
    if (arg.rfind("--branching=", 0) == 0) {
      options.branching = value("--branching=");
    } else if (arg.rfind("--threshold=", 0) == 0) {
      options.list_threshold = value("--threshold=");
    } else if (arg.rfind("--fingerprint=", 0) == 0) {
      options.fingerprint_bytes = value("--fingerprint=");
    } else if (arg.rfind("--max-message=", 0) == 0) {
      options.max_message_bytes = value("--max-message=");
    } else if (!have_n) {
      n = std::strtoull(arg.c_str(), nullptr, 10);
      have_n = true;
    } else {
      ds.push_back(std::strtoull(arg.c_str(), nullptr, 10));
    }
  }
  if (ds.empty()) ds = {1, 100, 10000};
  const AntiEntropyKey index_key = syncline::replication::DeriveIndexKey("bench cluster secret");
  std::printf("anti-entropy: %llu keys per replica, branching %zu, list threshold %zu, "
              "%zu-byte fingerprints, messages of at most %zu bytes\n",
              static_cast<unsigned long long>(n), options.branching, options.list_threshold,
              options.fingerprint_bytes, options.max_message_bytes);
  std::printf("%8s %8s %8s %11s %11s %11s %10s %9s %9s %14s %9s\n", "d", "found", "messages",
              "round trips", "bytes A->B", "bytes B->A", "total", "bytes/d", "find ms",
              "find+repair ms", "converged");
  for (uint64_t d : ds) {
    Clock::time_point build_start = Clock::now();
    MemoryItemIndex a(index_key, 1);
    MemoryItemIndex b(index_key, 2);
    // Pick d distinct keys to differ: the first third is missing on B, the second third is
    // missing on A, the rest has another state on B.
    std::vector<uint8_t> kind(n, 0);
    uint64_t rng = 42 + d;
    uint64_t differing = 0;
    while (differing < std::min(d, n)) {
      uint64_t k = SplitMix(&rng) % n;
      if (kind[k] != 0) continue;
      kind[k] = static_cast<uint8_t>(1 + differing % 3);
      ++differing;
    }
    for (uint64_t i = 0; i < n; ++i) {
      std::string key = KeyOf(i);
      StateDigest digest = DigestOf(i, 0);
      if (kind[i] != 2) a.Upsert(key, digest);
      if (kind[i] == 3) {
        b.Upsert(key, DigestOf(i, 1));
      } else if (kind[i] != 1) {
        b.Upsert(key, digest);
      }
    }
    double build_ms = Millis(Clock::now() - build_start);
    Figures f;
    if (!Reconcile(a, b, options, &f)) return 2;
    const uint64_t total = f.bytes_a_to_b + f.bytes_b_to_a;
    std::printf("%8llu %8llu %8llu %11llu %11llu %11llu %10llu %9.0f %9.2f %14.2f %9s\n",
                static_cast<unsigned long long>(differing),
                static_cast<unsigned long long>(f.found),
                static_cast<unsigned long long>(f.messages),
                static_cast<unsigned long long>(f.round_trips),
                static_cast<unsigned long long>(f.bytes_a_to_b),
                static_cast<unsigned long long>(f.bytes_b_to_a),
                static_cast<unsigned long long>(total),
                differing == 0 ? 0.0 : static_cast<double>(total) / static_cast<double>(differing),
                f.find_ms, f.repair_ms, f.converged ? "yes" : "NO");
    std::printf("         (building both indexes took %.0f ms; replies cut at the message limit: "
                "%llu)\n",
                build_ms, static_cast<unsigned long long>(f.deferred));
  }
  return 0;
}
