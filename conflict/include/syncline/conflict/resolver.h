// Resolver: how the replicas of one collection merge concurrent writes.
//
// Every mutation of a collection produces a delta; replicas merge deltas, and whole states,
// with Join(). Join must be a join-semilattice operation on encoded states: idempotent
// (x ⊔ x = x), commutative and associative, so duplicated, reordered or replayed deliveries
// change nothing. Equal states must encode to equal bytes, which is how replicas (and the law
// checker, law_checker.h) tell that they converged. The empty string is the bottom state (a
// key never written).
//
// Built-in resolvers (ResolverRegistry::WithBuiltins): "lww", "mv", "counter", "set", "map".
// A service adds its own with ResolverRegistry::Register: either a full Resolver, or a
// ValueResolver (value_resolver.h), which only decides between concurrent values.
//
// Collect drops what the stability horizon makes unnecessary (docs/conflict-model.md,
// "Tombstones and collection"); it is optional, and the default keeps everything.
//
// Threading and determinism, for every Resolver including custom ones: Join and Read may be
// called from any thread, concurrently, on distinct or the same resolver object; they must
// not block, do I/O, read clocks or randomness, or keep state between calls. The same inputs
// must always give the same output on every machine.
#ifndef SYNCLINE_CONFLICT_RESOLVER_H_
#define SYNCLINE_CONFLICT_RESOLVER_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "syncline/core/status.h"
#include "syncline/core/version_vector.h"

namespace syncline::conflict {

// What one Join decided, for the conflict journal. Filled only when the join settled a real
// concurrency (neither side had seen the other's write).
struct MergeOutcome {
  bool concurrent = false;
  // Human-readable account: which version won, or that siblings were kept, and why.
  std::string description;
};

// What one Collect pass did to one key's state.
struct CollectResult {
  // Every change of the key is stable and the key holds no value: the state became the bottom
  // state, and the caller deletes the key's record(s) entirely.
  bool remove_key = false;
  // Pieces of causal metadata dropped from a state that is kept (e.g. sibling histories).
  uint64_t dropped = 0;
};

class Resolver {
 public:
  virtual ~Resolver() = default;

  // The name collections refer to ("lww", "mv", ..., or a custom name).
  virtual std::string_view name() const = 0;

  // Joins `other` (a state or a delta of this resolver's type) into `*state`. Corruption if
  // either does not decode; `*state` is unchanged then. `outcome` may be null.
  virtual Status Join(std::string* state, std::string_view other, MergeOutcome* outcome) const = 0;

  // The value a read of `state` returns, in a canonical text form for diagnostics and dumps.
  virtual Result<std::string> Render(std::string_view state) const = 0;

  // Drops from `*state` the causal metadata that `horizon` makes unnecessary. `horizon` must be
  // a causal-stability horizon in log dots: every replica has applied every change it covers,
  // and every change this replica applies later either is a duplicate of such a change (skipped
  // by the node context) or was made by a replica that had applied all of them. The read value
  // never changes. Corruption if `*state` does not decode (then it is unchanged). The default
  // keeps everything.
  virtual Result<CollectResult> Collect(std::string* state, const VersionVector& horizon) const {
    (void)state;
    (void)horizon;
    return CollectResult{};
  }

  // Whether a replica whose node context covers `seen` (a version vector of log dots) has
  // applied every change `state` reflects. Such a replica that holds no record of the key removed
  // it by collection (its changes were stable and left nothing live), so the state is stale
  // there: merging it back would resurrect deleted data. Used to keep a peer's old state (a
  // returning node's, through a snapshot or anti-entropy) from undoing a collection. Corruption
  // if `state` does not decode. The default, for types that are never collected, says false.
  virtual Result<bool> SeenBy(std::string_view state, const VersionVector& seen) const {
    (void)state;
    (void)seen;
    return false;
  }
};

// Resolvers by name. Thread-compatible: register everything before sharing it.
class ResolverRegistry {
 public:
  // A registry holding the built-in resolvers.
  static ResolverRegistry WithBuiltins();

  // Adds `resolver` under its name. AlreadyExists if the name is taken, InvalidArgument if it
  // is empty or not of [a-z0-9_.-].
  Status Register(std::shared_ptr<const Resolver> resolver);

  // NotFound naming the known resolvers if there is none called `name`.
  Result<std::shared_ptr<const Resolver>> Find(std::string_view name) const;

  std::vector<std::string> Names() const;

 private:
  std::map<std::string, std::shared_ptr<const Resolver>, std::less<>> by_name_;
};

}  // namespace syncline::conflict

#endif  // SYNCLINE_CONFLICT_RESOLVER_H_
