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

  // Drops the tombstone, and with it the whole key (the register becomes the bottom state and
  // the result says remove_key), when Collectable(horizon); otherwise changes nothing. A live
  // value is never collected, nor a tombstone written without a log dot.
  //
  // Why this is safe, for a causal-stability horizon (see Resolver::Collect; lww is the type
  // that needs its second property, because a late write concurrent with the delete would win
  // here over nothing while losing to the tombstone where it is kept): every replica has
  // applied the delete, so a re-delivery of it or of any change before it is a duplicate that
  // the node skips by its node context; any other change this replica applies later was made by
  // a replica that had applied the delete, so it is a write stamped above the tombstone (it
  // beats the tombstone wherever the tombstone is still kept, as it wins here over nothing) or a
  // delete. Writes made here afterwards have no winner to be stamped above, so they rely on the
  // node's HLC being above timestamp(): it is after the HLC observed the delete's change,
  // unless that timestamp came from a clock the HLC refused as too far ahead; a caller that
  // refuses such clocks keeps those tombstones until its clock passes them. What differs between a replica that collected and one that did not
  // yet is only the remembered key context; reads agree, and the next join or collection
  // evens the states out.
  CollectResult Collect(const VersionVector& horizon);

  // Whether a replica whose context covers `seen` applied the winning change (Resolver::SeenBy):
  // it then holds that change or one that beat it, or collected the key.
  bool SeenBy(const VersionVector& seen) const { return written() && log_dot_.valid() && seen.Covers(log_dot_); }

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
  Result<CollectResult> Collect(std::string* state, const VersionVector& horizon) const override;
  Result<bool> SeenBy(std::string_view state, const VersionVector& seen) const override;
};

}  // namespace syncline::conflict

#endif  // SYNCLINE_CONFLICT_LWW_H_
