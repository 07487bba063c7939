// set: an add-wins observed-remove set (delta-state ORSet of Almeida, Shoker and Baquero).
//
// Each element keeps the key dots of the adds that are live; the state keeps a DotContext of
// every key dot it has seen. An add makes a new dot and supersedes the element's current dots;
// a remove supersedes the dots it observed and nothing else, so an add concurrent with a
// remove survives (add-wins). Removes leave no tombstone: the context remembers the dots.
//
// Size: an add or remove produces a delta of O(1) size (the added element and the dots it
// supersedes; a remove carries only the dots it observed), and ApplyDelta costs
// O(delta · log n): it visits the delta's elements and, through an index from dot to element,
// the elements whose dots the delta's context supersedes. That is what lets the store keep
// elements, and the dot index, as separate records under the key. Join, the whole-state join,
// visits both states.
//
// Thread-safety: value type.
#ifndef SYNCLINE_CONFLICT_OR_SET_H_
#define SYNCLINE_CONFLICT_OR_SET_H_

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "syncline/conflict/resolver.h"
#include "syncline/core/dot_context.h"

namespace syncline::conflict {

class OrSet {
 public:
  // Adds `element` at `replica`; applies and returns the delta.
  OrSet Add(ReplicaId replica, std::string element);
  // Removes the adds of `element` this state has observed; applies and returns the delta.
  OrSet Remove(const std::string& element);

  // Whole-state join (states or deltas).
  void Join(const OrSet& other, MergeOutcome* outcome);
  // The same result as Join for a delta made by Add or Remove, in O(delta). (A delta whose
  // context holds more than kMaxDeltaDots dots is joined with Join instead.)
  static constexpr uint64_t kMaxDeltaDots = 1 << 16;
  void ApplyDelta(const OrSet& delta, MergeOutcome* outcome);

  bool Contains(const std::string& element) const;
  std::vector<std::string> Elements() const;
  size_t size() const;

  // The dots of one element (empty when absent) and the state's context.
  std::vector<Dot> DotsOf(const std::string& element) const;
  const DotContext& context() const { return context_; }

  std::string Encode() const;
  static Result<OrSet> Decode(std::string_view bytes);

  friend bool operator==(const OrSet& a, const OrSet& b);

  // Builds a set from its parts (used by the record layout); Corruption if inconsistent.
  static Result<OrSet> FromParts(std::map<std::string, std::vector<Dot>, std::less<>> elements,
                                 DotContext context);
  // The elements with their dots, for the record layout.
  const std::map<std::string, std::vector<Dot>, std::less<>>& elements_with_dots() const { return elements_; }

 private:
  // Joins one element's dots from `other` (with its context) into ours.
  void JoinElement(const std::string& element, const std::vector<Dot>* theirs,
                   const DotContext& their_context, MergeOutcome* outcome);

  // element -> live dots (ascending, never empty).
  std::map<std::string, std::vector<Dot>, std::less<>> elements_;
  // live dot -> its element (derived from elements_).
  std::map<Dot, std::string> dot_index_;
  DotContext context_;
};

class SetResolver final : public Resolver {
 public:
  std::string_view name() const override { return "set"; }
  Status Join(std::string* state, std::string_view other, MergeOutcome* outcome) const override;
  Result<std::string> Render(std::string_view state) const override;
};

}  // namespace syncline::conflict

#endif  // SYNCLINE_CONFLICT_OR_SET_H_
