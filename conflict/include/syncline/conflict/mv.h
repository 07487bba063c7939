// mv: a multi-value register (siblings) with dotted version vectors.
//
// A read returns every sibling and a context token (a version vector). A write made with a
// token replaces every sibling the token covers and becomes a sibling of the rest; a delete
// with a token removes what the token covers. Concurrent writes are kept as siblings, never
// more of them than there are truly concurrent writes (see core/dvv.h). The state also keeps
// the key dots it has seen, so a deleted or replaced version can never come back with a late
// delivery.
//
// Collection (see Collect): the state also keeps a log clock, per replica the log counter of
// its latest change of this key (write or delete), so that a stability horizon, which speaks
// in log dots, can tell which key dots every replica has applied. A write made with a log dot
// takes that log counter as its key dot counter (or more, if the key has seen more), so key
// dots stay unique even after a deleted key was removed everywhere and written again. A change
// made without a log dot (tests, tools) marks the key as unlogged, and an unlogged key is never
// collected.
//
// Thread-safety: value type.
#ifndef SYNCLINE_CONFLICT_MV_H_
#define SYNCLINE_CONFLICT_MV_H_

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "syncline/conflict/lww.h"
#include "syncline/conflict/resolver.h"
#include "syncline/core/dvv.h"

namespace syncline::conflict {

class MvRegister {
 public:
  // The siblings' values in dot order and the token to write back with.
  std::vector<std::string> Values() const;
  VersionVector Token() const { return context_; }

  // A write of `value` (or a delete with nullopt) by a client that read `token`. Applies it
  // and returns the delta.
  MvRegister Write(const WriteContext& ctx, const VersionVector& token, std::optional<std::string> value);

  void Join(const MvRegister& other, MergeOutcome* outcome);

  // Drops what `horizon` (a causal-stability horizon, see Resolver::Collect) makes unnecessary:
  //  - a deleted key (no siblings) whose every change is stable becomes the bottom state, and
  //    the result says remove_key: every replica has applied the delete and every write before
  //    it, so a re-delivery of any of them is a duplicate the node skips by its node context,
  //    and any state another replica still holds has no sibling either; any other write
  //    applied later, even one concurrent with the delete, has a dot no context here covered
  //    (a write's key dot is its log counter, above every earlier one), so replicas that still
  //    keep the old context add it as this one does. Only the horizon's first property is
  //    needed (every replica applied what it covers);
  //  - a sibling whose writer's changes of this key are all stable loses its history (its
  //    past): a past only serves to tell whether the sibling obsoletes another version, and
  //    every version it could obsolete is one this state has seen, which joins already drop by
  //    the context; later versions have dots no past recorded before them can cover. Joins keep
  //    the shorter history of a sibling both sides hold, so collected and uncollected replicas
  //    converge. The result counts the pasts dropped.
  // The values, their order and Token() never change. An unlogged key is left as it is.
  CollectResult Collect(const VersionVector& horizon);

  // Whether a replica whose context covers `seen` applied every change of this key
  // (Resolver::SeenBy): none was unlogged and `seen` covers the log clock of every replica
  // with a dot here. Never for the bottom state.
  bool SeenBy(const VersionVector& seen) const;

  const Siblings& siblings() const { return siblings_; }
  const VersionVector& context() const { return context_; }
  const VersionVector& log_clock() const { return log_clock_; }
  bool unlogged() const { return unlogged_; }

  std::string Encode() const;
  static Result<MvRegister> Decode(std::string_view bytes);

  friend bool operator==(const MvRegister&, const MvRegister&) = default;

 private:
  Siblings siblings_;
  VersionVector context_;  // every key dot this state has seen
  VersionVector log_clock_;  // per replica, the log counter of its latest change of this key
  bool unlogged_ = false;    // some change was made without a log dot
};

class MvResolver final : public Resolver {
 public:
  std::string_view name() const override { return "mv"; }
  Status Join(std::string* state, std::string_view other, MergeOutcome* outcome) const override;
  Result<std::string> Render(std::string_view state) const override;
  Result<CollectResult> Collect(std::string* state, const VersionVector& horizon) const override;
  Result<bool> SeenBy(std::string_view state, const VersionVector& seen) const override;
};

}  // namespace syncline::conflict

#endif  // SYNCLINE_CONFLICT_MV_H_
