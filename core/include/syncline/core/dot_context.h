// DotContext: the set of dots a replica has seen, as a version vector (every dot up to a
// counter, per replica) plus a dot cloud (dots seen out of order, above the vector).
//
// Adding the dot right after a replica's vector entry advances the vector; any other unseen
// dot goes to the cloud, kept per replica in a compressed (Roaring) bitmap. Compact() folds
// cloud dots that have become contiguous with the vector into it and drops cloud dots the
// vector already covers; Add() and Merge() compact as they go, so after any sequence of calls
// the cloud holds only dots that are truly out of order. Contains() is unaffected by
// compaction.
//
// Encoding: the version vector (see version_vector.h), then a varint count of cloud replicas,
// then per replica in ascending order: the replica id (8 bytes little-endian), a varint dot
// count, and the dots in ascending order as varint gaps from the previous dot (the first gap
// counted from the vector's entry). Decode bounds replicas (vector entries and cloud replicas,
// each at most `max_replicas`) and cloud dots (at most `max_cloud_dots` in all) before
// allocating, and returns Corruption for truncated input, trailing bytes, dots covered by the
// vector or right above it (not canonical), repeated or unsorted replicas or dots; a failed
// allocation inside the bitmap library comes back as ResourceExhausted, never as an exception.
//
// Errors: Add, Merge and Compact cannot fail on valid input; like any container they may throw
// std::bad_alloc (or CRoaring's std::runtime_error on allocation failure) when memory runs out.
//
// Thread-safety: value type (copyable; copies are independent). Concurrent const calls on
// one object are safe; a mutating call needs exclusive access.
#ifndef SYNCLINE_CORE_DOT_CONTEXT_H_
#define SYNCLINE_CORE_DOT_CONTEXT_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "syncline/core/dot.h"
#include "syncline/core/status.h"
#include "syncline/core/version_vector.h"

namespace syncline {

class DotContext {
 public:
  static constexpr size_t kDefaultMaxCloudDots = size_t{1} << 20;
  static constexpr size_t kDefaultMaxReplicas = VersionVector::kDefaultMaxEntries;

  DotContext();
  explicit DotContext(VersionVector vv);
  DotContext(const DotContext& other);
  DotContext& operator=(const DotContext& other);
  DotContext(DotContext&&) noexcept;
  DotContext& operator=(DotContext&&) noexcept;
  ~DotContext();

  bool Contains(const Dot& dot) const;
  // Records `dot` as seen (invalid dots are ignored).
  void Add(const Dot& dot);
  // Unions `other` into this context.
  void Merge(const DotContext& other);
  // Folds contiguous cloud dots into the vector (Add and Merge already do this).
  void Compact();

  // The next dot `replica` would use: one above everything of it this context has seen.
  Dot NextDot(ReplicaId replica) const;

  const VersionVector& vv() const { return vv_; }
  // Number of dots in the cloud.
  uint64_t cloud_size() const;
  // Number of dots in the context (vector ranges and cloud).
  uint64_t DotCount() const;
  // Calls `fn` for every dot in the context, vector ranges first, in ascending order per
  // replica. Costs DotCount(): meant for small contexts such as those of deltas.
  void ForEachDot(const std::function<void(const Dot&)>& fn) const;
  // The cloud's dots in ascending order (for tests and diagnostics).
  std::vector<Dot> CloudDots() const;

  std::string Encode() const;
  void EncodeTo(std::string* out) const;
  static Result<DotContext> Decode(std::string_view bytes, size_t max_cloud_dots = kDefaultMaxCloudDots,
                                   size_t max_replicas = kDefaultMaxReplicas);
  // Decodes from the front of `*in` and advances it (for embedding in larger encodings).
  static Result<DotContext> DecodeFrom(std::string_view* in, size_t max_cloud_dots = kDefaultMaxCloudDots,
                                       size_t max_replicas = kDefaultMaxReplicas);

  std::string ToString() const;
  friend bool operator==(const DotContext& a, const DotContext& b);

 private:
  struct Cloud;  // per-replica Roaring bitmaps, kept out of this header
  void CompactReplica(ReplicaId replica);
  static Result<DotContext> DecodeCloud(std::string_view* in, size_t max_cloud_dots, size_t max_replicas);

  VersionVector vv_;
  std::unique_ptr<Cloud> cloud_;
};

}  // namespace syncline

#endif  // SYNCLINE_CORE_DOT_CONTEXT_H_
