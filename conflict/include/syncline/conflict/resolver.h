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
// Threading and determinism, for every Resolver including custom ones: Join and Read may be
// called from any thread, concurrently, on distinct or the same resolver object; they must
// not block, do I/O, read clocks or randomness, or keep state between calls. The same inputs
// must always give the same output on every machine.
#ifndef SYNCLINE_CONFLICT_RESOLVER_H_
#define SYNCLINE_CONFLICT_RESOLVER_H_

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "syncline/core/status.h"

namespace syncline::conflict {

// What one Join decided, for the conflict journal. Filled only when the join settled a real
// concurrency (neither side had seen the other's write).
struct MergeOutcome {
  bool concurrent = false;
  // Human-readable account: which version won, or that siblings were kept, and why.
  std::string description;
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
