#include "syncline/conflict/lww.h"

#include <tuple>
#include <utility>

#include "codec.h"

namespace syncline::conflict {

namespace {

HlcTimestamp After(HlcTimestamp t) {
  return t.logical < HlcTimestamp::kMaxLogical ? HlcTimestamp{t.millis, t.logical + 1}
                                               : HlcTimestamp{t.millis + 1, 0};
}

std::string Describe(const LwwRegister& r) {
  std::string out = r.deleted() ? "delete" : "write";
  out += " " + r.dot().replica.ToString() + ":" + std::to_string(r.dot().counter) + " at " +
         std::to_string(r.timestamp().millis) + "." + std::to_string(r.timestamp().logical);
  return out;
}

}  // namespace

std::optional<std::string> LwwRegister::value() const {
  if (!written() || deleted_) return std::nullopt;
  return value_;
}

LwwRegister LwwRegister::Write(const WriteContext& ctx, std::optional<std::string> value) {
  LwwRegister delta;
  // Stamped above the winner it replaces: a write that saw another never loses to it.
  delta.ts_ = std::max(ctx.now, written() ? After(ts_) : HlcTimestamp{});
  delta.writer_ = ctx.replica;
  delta.deleted_ = !value.has_value();
  delta.value_ = value.value_or(std::string());
  delta.dot_ = Dot{ctx.replica, context_.Get(ctx.replica) + 1};
  delta.context_ = context_;
  delta.context_.Advance(ctx.replica, delta.dot_.counter);
  delta.log_dot_ = ctx.log_dot;
  Join(delta, nullptr);
  return delta;
}

bool LwwRegister::Beats(const LwwRegister& other) const {
  if (!other.written()) return written();
  if (!written()) return false;
  return std::tie(ts_, writer_, dot_, deleted_, value_) >
         std::tie(other.ts_, other.writer_, other.dot_, other.deleted_, other.value_);
}

void LwwRegister::Join(const LwwRegister& other, MergeOutcome* outcome) {
  if (outcome && written() && other.written() && dot_ != other.dot_ &&
      !context_.Covers(other.dot_) && !other.context_.Covers(dot_)) {
    const LwwRegister& winner = other.Beats(*this) ? other : *this;
    const LwwRegister& loser = other.Beats(*this) ? *this : other;
    outcome->concurrent = true;
    outcome->description = "lww: " + Describe(winner) + " won over concurrent " + Describe(loser) +
                           " (higher HLC timestamp, ties by replica id)";
  }
  VersionVector merged = context_;
  merged.Merge(other.context_);
  if (other.Beats(*this)) {
    ts_ = other.ts_;
    writer_ = other.writer_;
    deleted_ = other.deleted_;
    value_ = other.value_;
    dot_ = other.dot_;
    log_dot_ = other.log_dot_;
  }
  context_ = std::move(merged);
}

bool LwwRegister::Collectable(const VersionVector& horizon) const {
  return written() && deleted_ && log_dot_.valid() && horizon.Covers(log_dot_);
}

CollectResult LwwRegister::Collect(const VersionVector& horizon) {
  CollectResult result;
  if (Collectable(horizon)) {
    *this = LwwRegister();
    result.remove_key = true;
  }
  return result;
}

std::string LwwRegister::Encode() const {
  if (!written() && context_.empty()) return std::string();
  v1::LwwState pb;
  pb.set_hlc(ts_.Pack());
  pb.set_replica(writer_.value());
  pb.set_deleted(deleted_);
  pb.set_value(value_);
  ToProto(dot_, pb.mutable_dot());
  pb.set_context(context_.Encode());
  if (log_dot_.valid()) ToProto(log_dot_, pb.mutable_log_dot());
  return pb.SerializeAsString();
}

Result<LwwRegister> LwwRegister::Decode(std::string_view bytes) {
  LwwRegister r;
  if (bytes.empty()) return r;
  v1::LwwState pb;
  SYNCLINE_RETURN_IF_ERROR(ParseBounded(bytes, "lww state", &pb));
  r.ts_ = HlcTimestamp::Unpack(pb.hlc());
  r.writer_ = ReplicaId(pb.replica());
  r.deleted_ = pb.deleted();
  r.value_ = std::move(*pb.mutable_value());
  r.dot_ = FromProto(pb.dot());
  auto ctx = VersionVector::Decode(pb.context());
  if (!ctx.ok()) return ctx.status().WithContext("lww state context");
  r.context_ = std::move(ctx).value();
  r.log_dot_ = pb.has_log_dot() ? FromProto(pb.log_dot()) : Dot{};
  if (!r.dot_.valid() || r.writer_ != r.dot_.replica || !r.context_.Covers(r.dot_)) {
    return Status::Corruption("lww state: the winner's dot is missing or not in its context");
  }
  return r;
}

Status LwwResolver::Join(std::string* state, std::string_view other, MergeOutcome* outcome) const {
  SYNCLINE_ASSIGN_OR_RETURN(LwwRegister mine, LwwRegister::Decode(*state));
  SYNCLINE_ASSIGN_OR_RETURN(LwwRegister theirs, LwwRegister::Decode(other));
  mine.Join(theirs, outcome);
  *state = mine.Encode();
  return Status::Ok();
}

Result<bool> LwwResolver::SeenBy(std::string_view state, const VersionVector& seen) const {
  SYNCLINE_ASSIGN_OR_RETURN(LwwRegister r, LwwRegister::Decode(state));
  return r.SeenBy(seen);
}

Result<CollectResult> LwwResolver::Collect(std::string* state, const VersionVector& horizon) const {
  SYNCLINE_ASSIGN_OR_RETURN(LwwRegister r, LwwRegister::Decode(*state));
  CollectResult result = r.Collect(horizon);
  if (result.remove_key) state->clear();
  return result;
}

Result<std::string> LwwResolver::Render(std::string_view state) const {
  SYNCLINE_ASSIGN_OR_RETURN(LwwRegister r, LwwRegister::Decode(state));
  auto v = r.value();
  return v ? *v : std::string("<absent>");
}

}  // namespace syncline::conflict
