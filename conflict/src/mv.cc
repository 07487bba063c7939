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
  bool logged = ctx.log_dot.valid() && ctx.log_dot.replica == ctx.replica;
  if (logged) {
    delta.log_clock_.Advance(ctx.replica, ctx.log_dot.counter);
  } else {
    delta.unlogged_ = true;
  }
  if (value) {
    // The dot must be new to this key even if versions of this replica were deleted, or the
    // key was collected: at least the change's log counter, which exceeds every earlier one.
    uint64_t floor = context_.Get(ctx.replica);
    if (logged) floor = std::max(floor, ctx.log_dot.counter - 1);
    Siblings fresh;
    Dot dot = fresh.Update(token, ctx.replica, std::move(*value), floor);
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
    const Sibling* theirs = nullptr;
    for (const Sibling& o : other.siblings_.items()) {
      if (o.clock.dot == s.clock.dot) theirs = &o;
    }
    if (theirs) {
      // Both hold it; one side may have collected its past. Keep the shorter history, so the
      // join does not depend on which side collected first.
      Sibling kept = s;
      kept.clock.past = VersionVector::Min(s.clock.past, theirs->clock.past);
      joined.Insert(std::move(kept));
    } else if (!other.context_.Covers(s.clock.dot)) {
      joined.Insert(s);
    }
  }
  for (const Sibling& o : other.siblings_.items()) {
    if (!context_.Covers(o.clock.dot)) joined.Insert(o);
  }
  siblings_ = std::move(joined);
  context_.Merge(other.context_);
  log_clock_.Merge(other.log_clock_);
  unlogged_ = unlogged_ || other.unlogged_;
  if (outcome && siblings_.size() > 1 && siblings_.size() > before && !other.siblings_.empty()) {
    outcome->concurrent = true;
    outcome->description = "mv: kept " + std::to_string(siblings_.size()) +
                           " concurrent versions as siblings";
  }
}

CollectResult MvRegister::Collect(const VersionVector& horizon) {
  CollectResult result;
  if (unlogged_) return result;
  // A replica's key dots are all stable when its latest logged change of the key is.
  auto stable = [&](ReplicaId replica) {
    uint64_t last = log_clock_.Get(replica);
    return last != 0 && horizon.Get(replica) >= last;
  };
  if (siblings_.empty()) {
    if (context_.empty() && log_clock_.empty()) return result;  // bottom
    for (const auto& [replica, counter] : context_.entries()) {
      if (!stable(replica)) return result;
    }
    if (!horizon.Dominates(log_clock_)) return result;  // a delete is not stable yet
    *this = MvRegister();
    result.remove_key = true;
    return result;
  }
  Siblings kept;
  for (Sibling s : siblings_.items()) {
    if (!s.clock.past.empty() && stable(s.clock.dot.replica)) {
      s.clock.past = VersionVector();
      ++result.dropped;
    }
    kept.Insert(std::move(s));
  }
  siblings_ = std::move(kept);
  return result;
}

std::string MvRegister::Encode() const {
  if (siblings_.empty() && context_.empty() && log_clock_.empty() && !unlogged_) return std::string();
  v1::MvState pb;
  for (const Sibling& s : siblings_.items()) {
    v1::MvSibling* out = pb.add_siblings();
    ToProto(s.clock.dot, out->mutable_dot());
    out->set_past(s.clock.past.Encode());
    out->set_value(s.value);
  }
  pb.set_context(context_.Encode());
  if (!log_clock_.empty()) pb.set_log_clock(log_clock_.Encode());
  pb.set_unlogged(unlogged_);
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
  if (!pb.log_clock().empty()) {
    auto log_clock = VersionVector::Decode(pb.log_clock());
    if (!log_clock.ok()) return log_clock.status().WithContext("mv state log clock");
    if (log_clock->empty()) return Status::Corruption("mv state: an empty log clock is encoded (not canonical)");
    r.log_clock_ = std::move(log_clock).value();
  }
  r.unlogged_ = pb.unlogged();
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

bool MvRegister::SeenBy(const VersionVector& seen) const {
  if (unlogged_ || log_clock_.empty() || !seen.Dominates(log_clock_)) return false;
  for (const auto& [replica, counter] : context_.entries()) {
    (void)counter;
    if (log_clock_.Get(replica) == 0) return false;  // a dot with no logged change behind it
  }
  return true;
}

Result<bool> MvResolver::SeenBy(std::string_view state, const VersionVector& seen) const {
  SYNCLINE_ASSIGN_OR_RETURN(MvRegister r, MvRegister::Decode(state));
  return r.SeenBy(seen);
}

Result<CollectResult> MvResolver::Collect(std::string* state, const VersionVector& horizon) const {
  SYNCLINE_ASSIGN_OR_RETURN(MvRegister r, MvRegister::Decode(*state));
  CollectResult result = r.Collect(horizon);
  *state = r.Encode();
  return result;
}

Result<std::string> MvResolver::Render(std::string_view state) const {
  SYNCLINE_ASSIGN_OR_RETURN(MvRegister r, MvRegister::Decode(state));
  std::string out = "[";
  auto values = r.Values();
  for (size_t i = 0; i < values.size(); ++i) out += (i ? ", " : "") + values[i];
  return out + "]";
}

}  // namespace syncline::conflict
