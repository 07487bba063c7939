// The law checker: a property test for any Resolver, built-in or custom, shipped with the
// library so services can run it on their own resolvers in their own test suites.
//
// Each case (its own seed, derived from options.seed) runs a random history on a few
// replicas: local mutations made by `mutate`, deliveries of earlier deltas to random replicas,
// duplicated and out of order. After every step it checks, on states and deltas drawn from
// the history, that Join is idempotent, commutative and associative (by comparing encoded
// bytes, so encodings must be canonical); at the end it delivers every delta to every replica
// in a random order, with duplicates, and checks that all replicas are equal (convergence).
// The first failure stops the run and names the law, the case seed and how to replay it.
//
// Thread-safety: CheckLaws is a pure function of its arguments; it calls the resolver and the
// mutator from the calling thread only.
#ifndef SYNCLINE_CONFLICT_LAW_CHECKER_H_
#define SYNCLINE_CONFLICT_LAW_CHECKER_H_

#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <string_view>

#include "syncline/conflict/resolver.h"
#include "syncline/conflict/value_resolver.h"
#include "syncline/core/ids.h"

namespace syncline::testing {

// Makes one local mutation at `replica` whose current encoded state is `state`, and returns
// the delta (the checker applies it with Join). `step` grows through a case, for clocks.
using Mutator = std::function<Result<std::string>(std::mt19937_64& rng, ReplicaId replica,
                                                  uint64_t step, const std::string& state)>;

struct LawCheckOptions {
  uint64_t seed = 1;                   // base seed; case i uses a seed derived from it
  int cases = 1000;                    // random histories to run
  int replicas = 3;                    // replicas per history (2..16)
  int steps = 24;                      // mutations and deliveries per history
  double deliver_probability = 0.45;   // a step delivers an earlier delta instead of mutating
  double duplicate_probability = 0.2;  // a delivery is repeated at once
};

struct LawCheckReport {
  bool ok = true;
  uint64_t cases_run = 0;
  uint64_t joins = 0;
  uint64_t failing_case_seed = 0;
  // Which law failed, on what (hex of the encodings), and how to replay the case.
  std::string failure;
};

LawCheckReport CheckLaws(const conflict::Resolver& resolver, const Mutator& mutate,
                         const LawCheckOptions& options);

// The mutator for a built-in resolver ("lww", "mv", "counter", "set", "map"); it writes,
// deletes, increments, adds and removes with skewed clocks and stale read contexts. Null for
// an unknown name.
Mutator BuiltinMutator(std::string_view resolver_name);

// A mutator for a custom ValueResolver collection: writes values from `make_value` with fresh
// or stale read contexts.
Mutator ValueMutator(std::function<std::string(std::mt19937_64&)> make_value);

}  // namespace syncline::testing

#endif  // SYNCLINE_CONFLICT_LAW_CHECKER_H_
