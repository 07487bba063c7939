// Key versions: per key, what two replicas need to compare their versions of the key without
// shipping the values (`syncline diff`, `syncline verify`; docs/diagnostics.md).
//
// For each key a replica holds, a KeyVersion carries a digest of the key's encoded state (equal
// on replicas holding equal states), the key's causal context (the dots of the writes the state
// has seen), whether the state is a tombstone, how many concurrent versions it keeps, and a hash
// of its resolved value (the resolver's rendering), so that two states with the same value and
// different metadata can be told apart from two that differ in value.
//
// The causal context, by collection type:
//   lww      the register's key version vector (every key dot it has seen, its own included)
//   mv       the register's context of key dots; value resolvers (custom, mv layout) alike
//   counter  per replica, its increments plus decrements (each grows with every update of that
//            replica, so one total covers another exactly when it saw at least those updates)
//   set/map  the state's dot context (vector and cloud)
//   custom   (full resolvers) none: an empty context, and the comparison rests on the value
// A tombstone is a state that holds causal history and no value: a deleted lww register, an mv
// register without siblings, a set or map without elements. Counters are never tombstones.
//
// Thread-safety: ReadKeyVersions may be called from any thread (it reads one consistent view
// of the replica's store); the other functions are pure.
#ifndef SYNCLINE_REPLICATION_KEY_VERSIONS_H_
#define SYNCLINE_REPLICATION_KEY_VERSIONS_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "syncline/core/dot_context.h"
#include "syncline/core/status.h"

namespace syncline::conflict {
class Resolver;
}  // namespace syncline::conflict

namespace syncline::replication {

class Replica;
enum class CollectionType : uint32_t;

struct KeyVersion {
  std::string collection;
  std::string key;
  std::string digest;      // 16 bytes: XXH3-128 of the encoded state
  DotContext context;      // the key's causal context (see above)
  bool tombstone = false;  // causal history without a value
  uint32_t siblings = 0;   // concurrent versions kept: mv siblings; 1 for a live value, 0 for a tombstone
  std::string value_hash;  // 16 bytes: XXH3-128 of the resolver's rendering of the state
};

// Size of the digests above.
inline constexpr size_t kKeyDigestBytes = 16;

// Describes one key's encoded state `state` of a collection of type `type` resolved by
// `resolver`. Corruption if the state does not decode.
Result<KeyVersion> DescribeKeyState(CollectionType type, const conflict::Resolver& resolver,
                                    std::string_view collection, std::string_view key, std::string_view state);

// Which keys ReadKeyVersions returns: those of `collection` (every collection if empty) after
// (`after_collection`, `after_key`) (from the start if `after_collection` is empty), in the
// store's order (by collection, then by key bytes), at most `limit` of them and, past the
// first, no more than about `max_bytes` of key, context and digests.
struct KeyVersionQuery {
  std::string collection;
  std::string after_collection;
  std::string after_key;
  size_t limit = 1000;
  size_t max_bytes = size_t{1} << 20;
};

// One page of key versions from one consistent view; `*more` tells whether keys remain after
// the last one returned. Unavailable while a snapshot is being installed; Corruption naming the
// key for a state that does not decode; the store's error otherwise.
Status ReadKeyVersions(Replica& replica, const KeyVersionQuery& query, std::vector<KeyVersion>* out, bool* more);

// True if context `a` holds every dot of `b`.
bool ContextCovers(const DotContext& a, const DotContext& b);

}  // namespace syncline::replication

#endif  // SYNCLINE_REPLICATION_KEY_VERSIONS_H_
