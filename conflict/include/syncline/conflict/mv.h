// mv: a multi-value register (siblings) with dotted version vectors.
//
// A read returns every sibling and a context token (a version vector). A write made with a
// token replaces every sibling the token covers and becomes a sibling of the rest; a delete
// with a token removes what the token covers. Concurrent writes are kept as siblings, never
// more of them than there are truly concurrent writes (see core/dvv.h). The state also keeps
// the key dots it has seen, so a deleted or replaced version can never come back with a late
// delivery.
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

  const Siblings& siblings() const { return siblings_; }
  const VersionVector& context() const { return context_; }

  std::string Encode() const;
  static Result<MvRegister> Decode(std::string_view bytes);

  friend bool operator==(const MvRegister&, const MvRegister&) = default;

 private:
  Siblings siblings_;
  VersionVector context_;  // every key dot this state has seen
};

class MvResolver final : public Resolver {
 public:
  std::string_view name() const override { return "mv"; }
  Status Join(std::string* state, std::string_view other, MergeOutcome* outcome) const override;
  Result<std::string> Render(std::string_view state) const override;
};

}  // namespace syncline::conflict

#endif  // SYNCLINE_CONFLICT_MV_H_
