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
// Collection: the state keeps a log clock (per replica, the log counter of its latest change of
// this key), filled by the updates that take a WriteContext with a log dot; the updates
// without one mark the key unlogged, and an unlogged key is never collected. Collect removes an
// empty set whose every change is stable. Nothing else of a set can go: the context is one
// entry per writer (plus a transient cloud) and gives new adds fresh dots, and an element's
// dots are what a later remove observes, so dropping some at one replica would make that
// replica's removes miss them at replicas that kept them.
//
// Thread-safety: value type.
#ifndef SYNCLINE_CONFLICT_OR_SET_H_
#define SYNCLINE_CONFLICT_OR_SET_H_

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "syncline/conflict/lww.h"
#include "syncline/conflict/resolver.h"
#include "syncline/core/dot_context.h"

namespace syncline::conflict {

class OrSet {
 public:
  // Adds `element` as the change `ctx.log_dot` of `ctx.replica` (ctx.now is not used); applies
  // and returns the delta. The first dot of a replica in this key is its log counter, not 1:
  // a replica's key dots never exceed the log counters of their changes, so that dot is above
  // every dot the replica made for this key before, even one collected here and still
  // remembered elsewhere (the delta's context claims the range below it, which no live dot
  // holds).
  OrSet Add(const WriteContext& ctx, std::string element);
  // Removes the adds of `element` this state has observed, as the change `ctx.log_dot`; applies
  // and returns the delta.
  OrSet Remove(const WriteContext& ctx, const std::string& element);
  // The same without a log dot: the key becomes unlogged and is never collected.
  OrSet Add(ReplicaId replica, std::string element);
  OrSet Remove(const std::string& element);

  // Removes an empty set whose every change is stable under `horizon` (a causal-stability
  // horizon, see Resolver::Collect): the state becomes the bottom state and the result says
  // remove_key. Safe because every replica has applied every add and remove of the key, so any
  // re-delivery is a duplicate the node skips and every state another replica holds has no live
  // element either; any other change applied later, even one concurrent with the removes,
  // carries only dots no replica had when it applied them (new dots of a replica are above its
  // earlier ones, and its first dot in a key is its log counter), so replicas that still keep
  // the old context treat it as this one does. Only the horizon's first property is needed
  // (every replica applied what it covers). A set with elements, an unlogged set, or one with an
  // unstable change is unchanged. After a key was removed, writes to it must carry log dots (the
  // node's always do).
  CollectResult Collect(const VersionVector& horizon);

  // Whether a replica whose context covers `seen` applied every change of this key
  // (Resolver::SeenBy): none was unlogged and `seen` covers the log clock of every replica
  // with a dot here. Never for the bottom state.
  bool SeenBy(const VersionVector& seen) const;

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
  // Per replica, the log counter of its latest logged change of this key.
  const VersionVector& log_clock() const { return log_clock_; }
  // Some change was made without a log dot.
  bool unlogged() const { return unlogged_; }

  std::string Encode() const;
  static Result<OrSet> Decode(std::string_view bytes);

  friend bool operator==(const OrSet& a, const OrSet& b);

  // Builds a set from its parts (used by the record layout); Corruption if inconsistent.
  static Result<OrSet> FromParts(std::map<std::string, std::vector<Dot>, std::less<>> elements,
                                 DotContext context, VersionVector log_clock = {}, bool unlogged = false);
  // The elements with their dots, for the record layout.
  const std::map<std::string, std::vector<Dot>, std::less<>>& elements_with_dots() const { return elements_; }

 private:
  // Joins one element's dots from `other` (with its context) into ours.
  void JoinElement(const std::string& element, const std::vector<Dot>* theirs,
                   const DotContext& their_context, MergeOutcome* outcome);
  OrSet MakeAdd(ReplicaId replica, const Dot& log_dot, std::string element);
  OrSet MakeRemove(ReplicaId replica, const Dot& log_dot, const std::string& element);

  // element -> live dots (ascending, never empty).
  std::map<std::string, std::vector<Dot>, std::less<>> elements_;
  // live dot -> its element (derived from elements_).
  std::map<Dot, std::string> dot_index_;
  DotContext context_;
  VersionVector log_clock_;
  bool unlogged_ = false;
};

class SetResolver final : public Resolver {
 public:
  std::string_view name() const override { return "set"; }
  Status Join(std::string* state, std::string_view other, MergeOutcome* outcome) const override;
  Result<std::string> Render(std::string_view state) const override;
  Result<CollectResult> Collect(std::string* state, const VersionVector& horizon) const override;
  Result<bool> SeenBy(std::string_view state, const VersionVector& seen) const override;
};

}  // namespace syncline::conflict

#endif  // SYNCLINE_CONFLICT_OR_SET_H_
