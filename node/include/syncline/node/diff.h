// Diff: compares two live nodes key by key over their client endpoints (`syncline diff` and
// `syncline verify`; docs/diagnostics.md describes the classes and the rules precisely).
//
// Each node answers pages of key versions (Client::KeyVersions: per key a state digest, the
// causal context, tombstone, sibling count and a hash of the value) in the same order, so the
// two sorted key lists are merged page by page: memory is bounded by two pages, never by the
// data. A key whose state digests are equal on both nodes is not a difference; every other key
// gets exactly one class (ClassifyKey).
//
// Thread-safety: DiffNodes uses both clients, which must not be used by another thread meanwhile;
// the other functions are pure.
#ifndef SYNCLINE_NODE_DIFF_H_
#define SYNCLINE_NODE_DIFF_H_

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "syncline/core/status.h"
#include "syncline/node/client.h"
#include "syncline/replication/key_versions.h"

namespace syncline {

enum class DiffClass {
  kOnlyOnA = 0,                // the key exists (live or tombstone) on A only
  kOnlyOnB,                    // on B only
  kTombstoneVsLive,            // one side holds a tombstone, the other a value
  kSameValueDifferentMetadata, // same resolved value, different states (causal metadata)
  kADominates,                 // A's context covers B's and not the reverse: B is behind
  kBDominates,                 // the reverse
  kConcurrent,                 // neither covers the other (or equal contexts, different values)
};
inline constexpr size_t kDiffClassCount = 7;

// "only-on-a", "only-on-b", "tombstone-vs-live", "same-value-different-metadata", "a-dominates",
// "b-dominates", "concurrent".
std::string_view DiffClassName(DiffClass c);

// The class of one key, given its version on A and on B (null: absent there); nullopt when the
// key is no difference (both absent, or equal state digests). Rules, first match wins:
//   1. absent on one side: only-on-A / only-on-B;
//   2. exactly one side is a tombstone: tombstone-vs-live;
//   3. equal value hashes: same-value-different-metadata;
//   4. A's context covers B's but not the reverse: A-dominates; the reverse: B-dominates;
//   5. otherwise: concurrent.
std::optional<DiffClass> ClassifyKey(const replication::KeyVersion* a, const replication::KeyVersion* b);

struct KeyDifference {
  DiffClass kind = DiffClass::kConcurrent;
  std::string collection;
  std::string key;
  std::optional<replication::KeyVersion> a;  // absent for only-on-B
  std::optional<replication::KeyVersion> b;  // absent for only-on-A
};

struct DiffOptions {
  std::string collection;     // only this collection; empty: every collection
  uint32_t page_keys = 1000;  // keys asked for per request (the node caps it at 10,000)
};

struct DiffSummary {
  std::array<uint64_t, kDiffClassCount> counts{};  // by DiffClass
  uint64_t differing = 0;  // keys that differ (the sum of counts)
  uint64_t keys_a = 0;     // keys A holds
  uint64_t keys_b = 0;
  uint64_t requests = 0;   // pages asked for, both nodes
  uint64_t bytes_a = 0;    // bytes on A's connection (requests and responses)
  uint64_t bytes_b = 0;
};

// Compares every key of A and B (of options.collection, or all), calling `visit` for each
// difference in key order, and fills `*summary`. Returns the first error of either node, named
// by its address; `*summary` then holds what was compared so far.
Status DiffNodes(Client& a, Client& b, const DiffOptions& options,
                 const std::function<void(const KeyDifference&)>& visit, DiffSummary* summary);

}  // namespace syncline

#endif  // SYNCLINE_NODE_DIFF_H_
