// ValueResolver: the narrow extension point for a service's own conflict rule.
//
// A custom collection stores versions like an `mv` register (dotted version vectors): a write
// that has seen the current versions replaces them without asking anyone. Only when versions
// are truly concurrent is the service's Resolve() called, to fold them into the one value a
// read returns. Resolve sees the versions in a fixed order (ascending dot), so every replica
// folds the same versions into the same value.
//
// Requirements on an implementation (the law checker, law_checker.h, tests them):
//  - Threading: Resolve may be called from any thread, concurrently; it must not block, do I/O,
//    read clocks or randomness, or keep state between calls.
//  - Determinism: the same inputs give the same output on every machine and every version of
//    the service that shares a cluster.
//  - It should be commutative and associative on values (e.g. max, union, sum of
//    independent parts), so that the result does not depend on which versions met first.
// Optional hooks have default bodies.
#ifndef SYNCLINE_CONFLICT_VALUE_RESOLVER_H_
#define SYNCLINE_CONFLICT_VALUE_RESOLVER_H_

#include <memory>
#include <string>
#include <string_view>

#include "syncline/conflict/resolver.h"

namespace syncline::conflict {

class ValueResolver {
 public:
  virtual ~ValueResolver() = default;
  // The collection-facing name (1..64 of [a-z0-9_.-]; not a built-in's name).
  virtual std::string_view name() const = 0;
  // Folds two concurrent values into one.
  virtual std::string Resolve(std::string_view a, std::string_view b) const = 0;
  // Renders a value for dumps and diagnostics.
  virtual std::string Render(std::string_view value) const { return std::string(value); }
};

// Wraps a ValueResolver as a Resolver to register (state layout: an `mv` register).
std::shared_ptr<const Resolver> MakeCustomResolver(std::shared_ptr<const ValueResolver> values);

// The value a read of a custom collection's state returns: its versions folded with Resolve
// in ascending dot order, or NotFound when there is none.
Result<std::string> ResolvedValue(const ValueResolver& values, std::string_view state);

}  // namespace syncline::conflict

#endif  // SYNCLINE_CONFLICT_VALUE_RESOLVER_H_
