#include "syncline/conflict/mv.h"

#include "codec.h"

namespace syncline::conflict {

std::vector<std::string> MvRegister::Values() const {
  std::vector<std::string> out;
  for (const Sibling& s : siblings_.items()) out.push_back(s.value);
  return out;
}

MvRegister MvRegister::Write(const WriteContext& ctx, const VersionVector& token,
                             std::optional<std::string> value) {
  MvRegister delta;
  delta.context_ = token;
  if (value) {
    // The dot must be new to this key even if versions of this replica were deleted.
    Siblings fresh;
    Dot dot = fresh.Update(token, ctx.replica, std::move(*value), context_.Get(ctx.replica));
    delta.siblings_ = std::move(fresh);
    delta.context_.Advance(dot.replica, dot.counter);
  }
  Join(delta, nullptr);
  return delta;
}

void MvRegister::Join(const MvRegister& other, MergeOutcome* outcome) {
  size_t before = siblings_.size();
  // Dot-store join: keep a version if both sides have it or the other side never saw it.
  Siblings joined;
  for (const Sibling& s : siblings_.items()) {
    bool theirs_too = false;
    for (const Sibling& o : other.siblings_.items()) theirs_too |= o.clock.dot == s.clock.dot;
    if (theirs_too || !other.context_.Covers(s.clock.dot)) joined.Insert(s);
  }
  for (const Sibling& o : other.siblings_.items()) {
    if (!context_.Covers(o.clock.dot)) joined.Insert(o);
  }
  siblings_ = std::move(joined);
  context_.Merge(other.context_);
  if (outcome && siblings_.size() > 1 && siblings_.size() > before && !other.siblings_.empty()) {
    outcome->concurrent = true;
    outcome->description = "mv: kept " + std::to_string(siblings_.size()) +
                           " concurrent versions as siblings";
  }
}

std::string MvRegister::Encode() const {
  if (siblings_.empty() && context_.empty()) return std::string();
  v1::MvState pb;
  for (const Sibling& s : siblings_.items()) {
    v1::MvSibling* out = pb.add_siblings();
    ToProto(s.clock.dot, out->mutable_dot());
    out->set_past(s.clock.past.Encode());
    out->set_value(s.value);
  }
  pb.set_context(context_.Encode());
  return pb.SerializeAsString();
}

Result<MvRegister> MvRegister::Decode(std::string_view bytes) {
  MvRegister r;
  if (bytes.empty()) return r;
  v1::MvState pb;
  SYNCLINE_RETURN_IF_ERROR(ParseBounded(bytes, "mv state", &pb));
  if (static_cast<size_t>(pb.siblings_size()) > kMaxSiblings) {
    return Status::Corruption("mv state has " + std::to_string(pb.siblings_size()) +
                              " siblings, above the limit of " + std::to_string(kMaxSiblings));
  }
  auto ctx = VersionVector::Decode(pb.context());
  if (!ctx.ok()) return ctx.status().WithContext("mv state context");
  r.context_ = std::move(ctx).value();
  Dot prev;
  for (const v1::MvSibling& s : pb.siblings()) {
    auto past = VersionVector::Decode(s.past());
    if (!past.ok()) return past.status().WithContext("mv sibling past");
    Sibling sib{Dvv{FromProto(s.dot()), std::move(past).value()}, s.value()};
    if (!sib.clock.dot.valid() || !(prev < sib.clock.dot) || !r.context_.Covers(sib.clock.dot)) {
      return Status::Corruption("mv state: sibling dots invalid, unsorted or outside the context");
    }
    prev = sib.clock.dot;
    size_t n = r.siblings_.size();
    r.siblings_.Insert(std::move(sib));
    if (r.siblings_.size() != n + 1) return Status::Corruption("mv state: a sibling is obsolete");
  }
  return r;
}

Status MvResolver::Join(std::string* state, std::string_view other, MergeOutcome* outcome) const {
  SYNCLINE_ASSIGN_OR_RETURN(MvRegister mine, MvRegister::Decode(*state));
  SYNCLINE_ASSIGN_OR_RETURN(MvRegister theirs, MvRegister::Decode(other));
  mine.Join(theirs, outcome);
  *state = mine.Encode();
  return Status::Ok();
}

Result<std::string> MvResolver::Render(std::string_view state) const {
  SYNCLINE_ASSIGN_OR_RETURN(MvRegister r, MvRegister::Decode(state));
  std::string out = "[";
  auto values = r.Values();
  for (size_t i = 0; i < values.size(); ++i) out += (i ? ", " : "") + values[i];
  return out + "]";
}

}  // namespace syncline::conflict
