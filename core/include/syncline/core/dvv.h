// Dotted version vectors (Preguiça, Baquero, Almeida, Fonte, Gonçalves: "Dotted Version
// Vectors: Logical Clocks for Optimistic Replication", 2010) for per-key causality.
//
// Each version of a key carries a Dvv: the dot of the write that made it and the version
// vector of what that write had seen (its causal past, the context the client read). One
// version is obsolete when another's past covers its dot. Siblings is the set of versions of
// one key that are not obsolete, with the paper's two operations:
//   Sync(a, b)    joins two replicas' sibling sets, keeping exactly the versions that no
//                 version of the other side has seen (idempotent, commutative, associative);
//   Update(...)   makes a new version at a replica from a client's write and the context token
//                 the client read: it replaces every version that context covers and stays a
//                 sibling of the rest.
// Because a write's dot is unique and its past is exactly what its client read, siblings
// never outnumber the writes that are truly concurrent, however many replicas and clients
// write (no sibling explosion, unlike per-replica version vectors).
//
// Encoding of Siblings: varint sibling count, then per sibling in ascending dot order: replica
// id (8 bytes little-endian), varint counter, the past (version_vector.h), varint value length
// and the value bytes. Decode bounds the count, each value (`max_value_bytes`) and the past
// before allocating, and returns Corruption for truncated input, duplicate or unsorted dots,
// a past that covers its own dot, obsolete siblings and trailing bytes.
//
// Sync, Update, Insert and Discard cannot fail; Sync's result depends only on the union of its
// arguments (a dot present on both sides with different contents, which well-formed histories
// never produce, resolves to the same copy either way).
//
// Thread-safety: value types; concurrent const calls on one object are safe.
#ifndef SYNCLINE_CORE_DVV_H_
#define SYNCLINE_CORE_DVV_H_

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "syncline/core/dot.h"
#include "syncline/core/status.h"
#include "syncline/core/version_vector.h"

namespace syncline {

struct Dvv {
  Dot dot;
  VersionVector past;  // what the write had seen; does not include `dot` itself

  // True if this version has been seen by `other` (other's past covers our dot).
  bool SeenBy(const Dvv& other) const { return other.past.Covers(dot); }
  // The dot and the past as one vector.
  VersionVector Join() const;

  friend bool operator==(const Dvv&, const Dvv&) = default;
};

struct Sibling {
  Dvv clock;
  std::string value;
  friend bool operator==(const Sibling&, const Sibling&) = default;
};

class Siblings {
 public:
  static constexpr size_t kDefaultMaxSiblings = 1024;

  Siblings() = default;

  // The paper's sync: the union of `a` and `b` (one copy per dot) without the versions whose
  // dot another version's past covers. Costs O((|a|+|b|)^2) coverage checks.
  static Siblings Sync(const Siblings& a, const Siblings& b);

  // The paper's update: a write of `value` at `replica` by a client that read `context`.
  // Returns the new version's dot. Its counter is above `floor` too, so a caller that
  // remembers more of the key's history than the siblings show (e.g. a deleted version)
  // never reuses a dot.
  Dot Update(const VersionVector& context, ReplicaId replica, std::string value, uint64_t floor = 0);

  // Adds a version made elsewhere (unless obsolete), removing the versions it obsoletes.
  void Insert(Sibling s);
  // Keeps only the versions `keep` returns true for.
  template <typename Pred>
  void Filter(Pred keep) {
    std::erase_if(items_, [&](const Sibling& s) { return !keep(s); });
  }

  // Drops the versions `context` covers (a delete that saw them), keeping concurrent ones.
  void Discard(const VersionVector& context);

  // The context token for a read: the join of every sibling's dot and past.
  VersionVector Context() const;

  const std::vector<Sibling>& items() const { return items_; }
  size_t size() const { return items_.size(); }
  bool empty() const { return items_.empty(); }

  std::string Encode() const;
  static Result<Siblings> Decode(std::string_view bytes, size_t max_siblings = kDefaultMaxSiblings,
                                 size_t max_value_bytes = size_t{64} << 20);

  friend bool operator==(const Siblings&, const Siblings&) = default;

 private:
  std::vector<Sibling> items_;  // ascending by dot, none seen by another
};

}  // namespace syncline

#endif  // SYNCLINE_CORE_DVV_H_
