// Inspection: what a node's store holds, read without writing anything, for diagnostics
// (`syncline inspect DATA_DIR`, docs/diagnostics.md).
//
// Inspect() reads the store through the same code the node uses: Replica::Open for the
// collections and the node context, Replica::LogReport for the log bounds and floor (as the
// retention code sees them), the state walk of Digest and Dump for the keys, the record layout
// decoders of each type, and ConflictJournal::List for the journal. It never writes, so it may be
// given a store opened read-only (core::LmdbStoreOptions::read_only), also next to a running
// node; each part is then read on its own consistent snapshot.
//
// Definitions (per key, from its merged state):
//   live       a read returns a value (counters always do)
//   tombstone  a read returns nothing but the key's state is still stored (lww delete, mv
//              without sibling, empty set or map); the node keeps it until it is collected
//   collectable  a tombstone the stored stability horizon (the minimum of the peers'
//              acknowledged vectors, table `peers`) would let Resolver::Collect remove now
//   values     what reads return: lww 1, mv and value resolvers their siblings, set elements,
//              map top-level fields, counter 1
//   metadata bytes  the encoded state's size minus the bytes of those values (for a counter:
//              the whole state)
// The sibling histogram counts live keys of register types (lww, mv, custom) by their number of
// values.
//
// Thread-safety: a function over the store given; the store may be used by others meanwhile.
#ifndef SYNCLINE_REPLICATION_INSPECT_H_
#define SYNCLINE_REPLICATION_INSPECT_H_

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "syncline/conflict/resolver.h"
#include "syncline/core/dot_context.h"
#include "syncline/core/store.h"
#include "syncline/replication/retention.h"

namespace syncline::replication {

struct CollectionInspection {
  std::string resolver;
  std::string type;  // "lww", "mv", "counter", "set", "map" or "custom"
  bool resolver_known = true;  // false: a custom resolver this registry lacks (states opaque)
  uint64_t keys = 0;
  uint64_t live = 0;
  uint64_t tombstones = 0;
  uint64_t collectable = 0;
  uint64_t values = 0;
  uint64_t journal_entries = 0;
};

// Sibling buckets: 1, 2, 3-4, 5-8, 9 and more.
inline constexpr size_t kSiblingBuckets = 5;
const char* SiblingBucketName(size_t bucket);

struct InspectReport {
  ReplicaId replica_id;
  std::string store_format;  // meta "store.format"
  std::string cluster_id;    // meta "cluster_id" (empty when the node never stored one)
  std::map<std::string, CollectionInspection> collections;
  RetentionReport log;       // per origin low/high/floor, as Replica::LogReport reads them
  DotContext context;        // the node's version vector and dot cloud
  std::map<std::string, VersionVector> peer_acks;  // peers "ack/<node id>"
  std::optional<VersionVector> horizon;             // StabilityHorizon(peer_acks)
  uint64_t journal_entries = 0;
  bool snapshot_installing = false;
  std::array<uint64_t, kSiblingBuckets> siblings{};
  // Keys by metadata bytes: bucket b counts keys with 2^(b-1) <= bytes < 2^b (bucket 0: 0 bytes).
  std::map<int, uint64_t> metadata_bytes;
  // The anti-entropy item index (table `index`) against the data table, when the cluster secret
  // was given (its hashes are keyed with a key derived from it).
  enum class IndexCheck {
    kNotChecked,    // no secret given
    kAbsent,        // no index: the node builds it when it opens the store
    kOtherSecret,   // built with another secret's key: the node rebuilds it when it opens the store
    kMatches,       // every entry and block sum is what the data gives
    kMismatch,      // index_detail names the first difference
  };
  IndexCheck index_check = IndexCheck::kNotChecked;
  std::string index_detail;
};

const char* IndexCheckName(InspectReport::IndexCheck check);

struct InspectOptions {
  // Resolvers by name (default: the built-ins). A collection whose resolver is not in it is still
  // counted (keys only; its states stay opaque unless they use the mv layout).
  std::shared_ptr<const conflict::ResolverRegistry> registry;
  // The cluster secret (as the node's secret file holds it): when set, the item index is checked
  // against the data table (InspectReport::index_check).
  std::optional<std::string> cluster_secret;
};

// Reads the report from `store` (not owned). Errors: those of the store (Corruption naming the
// record that fails its checksum), or Corruption for a state or journal entry that does not
// decode.
Result<InspectReport> Inspect(core::Store* store, const InspectOptions& options = {});

}  // namespace syncline::replication

#endif  // SYNCLINE_REPLICATION_INSPECT_H_
