// VersionVector: for each replica, the highest counter of its writes that has been seen
// (with all lower counters seen too).
//
// Entries are kept sorted by replica id; a replica with counter 0 has no entry, so equal
// vectors have equal entries and equal encodings. Compare() gives the causal order of two
// vectors; Merge() is the pointwise maximum (the join), so it is idempotent, commutative and
// associative. Covers(dot) says whether a write is in the causal past the vector describes.
//
// Encoding (compact, canonical): varint entry count, then per entry in ascending replica
// order the replica id as 8 bytes little-endian and the counter as a varint. Decode refuses
// more than `max_entries` entries before allocating, truncated input, trailing bytes, zero
// ids or counters, and unsorted or repeated replicas.
//
// Thread-safety: value type.
#ifndef SYNCLINE_CORE_VERSION_VECTOR_H_
#define SYNCLINE_CORE_VERSION_VECTOR_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "syncline/core/dot.h"
#include "syncline/core/ids.h"
#include "syncline/core/status.h"

namespace syncline {

enum class Ordering {
  kEqual,      // the same history
  kBefore,     // the left side is strictly in the past of the right
  kAfter,      // the left side strictly descends from the right
  kConcurrent  // neither covers the other
};

const char* OrderingName(Ordering o);

class VersionVector {
 public:
  using Entry = std::pair<ReplicaId, uint64_t>;
  static constexpr size_t kDefaultMaxEntries = 4096;

  VersionVector() = default;
  VersionVector(std::initializer_list<Entry> entries);

  uint64_t Get(ReplicaId replica) const;
  // Sets the counter of `replica` (0 removes the entry).
  void Set(ReplicaId replica, uint64_t counter);
  // Raises the counter of `replica` to at least `counter`.
  void Advance(ReplicaId replica, uint64_t counter);
  // Counts a new write by `replica` and returns its dot.
  Dot Increment(ReplicaId replica);

  // True if the write named `dot` is in the history this vector describes.
  bool Covers(const Dot& dot) const { return dot.counter != 0 && dot.counter <= Get(dot.replica); }
  // True if every entry of `other` is covered (this >= other pointwise).
  bool Dominates(const VersionVector& other) const;

  static Ordering Compare(const VersionVector& a, const VersionVector& b);
  // Pointwise maximum.
  void Merge(const VersionVector& other);
  // Pointwise minimum over the replicas of both (missing entries count as 0).
  static VersionVector Min(const VersionVector& a, const VersionVector& b);

  bool empty() const { return entries_.empty(); }
  size_t size() const { return entries_.size(); }
  const std::vector<Entry>& entries() const { return entries_; }

  std::string Encode() const;
  void EncodeTo(std::string* out) const;
  static Result<VersionVector> Decode(std::string_view bytes, size_t max_entries = kDefaultMaxEntries);
  // Decodes from the front of `*in` and advances it (for embedding in larger encodings).
  static Result<VersionVector> DecodeFrom(std::string_view* in, size_t max_entries = kDefaultMaxEntries);

  // "{replica:counter, ...}" with short replica ids, for logs and tests.
  std::string ToString() const;

  friend bool operator==(const VersionVector&, const VersionVector&) = default;

 private:
  std::vector<Entry> entries_;  // sorted by replica, counters > 0
};

std::ostream& operator<<(std::ostream& os, const VersionVector& vv);

}  // namespace syncline

#endif  // SYNCLINE_CORE_VERSION_VECTOR_H_
