// counter: a PN-counter. Each replica keeps the totals of its own increments and decrements;
// the join is the per-replica maximum and the value is the sum of increments minus the sum of
// decrements. A delta carries one replica's new totals, so it is O(1) whatever the number of
// updates. Counters never conflict.
//
// Thread-safety: value type.
#ifndef SYNCLINE_CONFLICT_COUNTER_H_
#define SYNCLINE_CONFLICT_COUNTER_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "syncline/conflict/resolver.h"
#include "syncline/core/ids.h"

namespace syncline::conflict {

class PnCounter {
 public:
  // Adds `amount` (negative to decrement) at `replica`; returns the delta. InvalidArgument if
  // a replica's total would overflow 64 bits.
  Result<PnCounter> Add(ReplicaId replica, int64_t amount);

  void Join(const PnCounter& other);

  // Sum of increments minus sum of decrements, saturated to the int64 range.
  int64_t value() const;

  struct Entry {
    ReplicaId replica;
    uint64_t increments = 0;
    uint64_t decrements = 0;
    friend bool operator==(const Entry&, const Entry&) = default;
  };
  const std::vector<Entry>& entries() const { return entries_; }

  std::string Encode() const;
  static Result<PnCounter> Decode(std::string_view bytes);

  friend bool operator==(const PnCounter&, const PnCounter&) = default;

 private:
  Entry& EntryFor(ReplicaId replica);
  std::vector<Entry> entries_;  // ascending by replica
};

class CounterResolver final : public Resolver {
 public:
  std::string_view name() const override { return "counter"; }
  Status Join(std::string* state, std::string_view other, MergeOutcome* outcome) const override;
  Result<std::string> Render(std::string_view state) const override;
};

}  // namespace syncline::conflict

#endif  // SYNCLINE_CONFLICT_COUNTER_H_
