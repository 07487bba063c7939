// lww: a last-writer-wins register.
//
// Writes are ordered by HLC timestamp, ties broken by replica id. A write is always stamped
// above the winner it replaces (Write takes max(now, winner + 1)), so a write that has seen
// another never loses to it, whatever the wall clocks say; only truly concurrent writes are
// decided by the timestamps, and those decisions are reported as conflicts. Deletes are
// timestamped tombstones that win and lose like writes. The key's causal history is a version
// vector of key dots (one entry per replica that wrote the key), so metadata stays bounded by
// the number of replicas, not the number of writes.
//
// Thread-safety: value type.
#ifndef SYNCLINE_CONFLICT_LWW_H_
#define SYNCLINE_CONFLICT_LWW_H_

#include <optional>
#include <string>
#include <string_view>

#include "syncline/conflict/resolver.h"
#include "syncline/core/dot.h"
#include "syncline/core/hlc.h"
#include "syncline/core/version_vector.h"

namespace syncline::conflict {

// Who makes a mutation, when, and under which log dot the change will be stored.
struct WriteContext {
  ReplicaId replica;
  HlcTimestamp now;
  Dot log_dot;  // may be left invalid where no log is kept (tests)
};

class LwwRegister {
 public:
  LwwRegister() = default;

  // A write (or, with `value` empty, a delete) at `ctx.replica`. Applies it and returns the
  // delta to replicate.
  LwwRegister Write(const WriteContext& ctx, std::optional<std::string> value);

  // Joins a state or delta; reports a settled concurrency in `outcome` (may be null).
  void Join(const LwwRegister& other, MergeOutcome* outcome);

  // Whether the tombstone can be dropped: it is a delete that every replica has seen
  // (`horizon` covers its log dot). Then the whole key can be removed.
  bool Collectable(const VersionVector& horizon) const;

  bool written() const { return dot_.valid(); }
  bool deleted() const { return deleted_; }
  // The value, or nullopt when never written or deleted.
  std::optional<std::string> value() const;
  HlcTimestamp timestamp() const { return ts_; }
  ReplicaId writer() const { return writer_; }
  const Dot& dot() const { return dot_; }
  const VersionVector& context() const { return context_; }

  std::string Encode() const;
  static Result<LwwRegister> Decode(std::string_view bytes);

  friend bool operator==(const LwwRegister&, const LwwRegister&) = default;

 private:
  bool Beats(const LwwRegister& other) const;

  HlcTimestamp ts_;
  ReplicaId writer_;
  bool deleted_ = false;
  std::string value_;
  Dot dot_;
  VersionVector context_;
  Dot log_dot_;
};

class LwwResolver final : public Resolver {
 public:
  std::string_view name() const override { return "lww"; }
  Status Join(std::string* state, std::string_view other, MergeOutcome* outcome) const override;
  Result<std::string> Render(std::string_view state) const override;
};

}  // namespace syncline::conflict

#endif  // SYNCLINE_CONFLICT_LWW_H_
