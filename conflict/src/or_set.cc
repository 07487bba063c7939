#include "syncline/conflict/or_set.h"

#include <algorithm>

#include "codec.h"
#include "log_clock.h"

namespace syncline::conflict {

namespace {

// Records in a delta which change made it.
void Stamp(ReplicaId replica, const Dot& log_dot, VersionVector* log_clock, bool* unlogged) {
  if (internal::Logged(replica, log_dot)) {
    log_clock->Advance(replica, log_dot.counter);
  } else {
    *unlogged = true;
  }
}

}  // namespace

OrSet OrSet::MakeAdd(ReplicaId replica, const Dot& log_dot, std::string element) {
  OrSet delta;
  internal::FreshDot fresh = internal::NewDot(context_, replica, log_dot);
  internal::ClaimDot(&delta.context_, fresh);
  for (const Dot& old : DotsOf(element)) delta.context_.Add(old);  // supersedes them
  delta.elements_[element] = {fresh.dot};
  Stamp(replica, log_dot, &delta.log_clock_, &delta.unlogged_);
  ApplyDelta(delta, nullptr);
  return delta;
}

OrSet OrSet::MakeRemove(ReplicaId replica, const Dot& log_dot, const std::string& element) {
  OrSet delta;
  for (const Dot& old : DotsOf(element)) delta.context_.Add(old);
  Stamp(replica, log_dot, &delta.log_clock_, &delta.unlogged_);
  ApplyDelta(delta, nullptr);
  return delta;
}

OrSet OrSet::Add(const WriteContext& ctx, std::string element) {
  return MakeAdd(ctx.replica, ctx.log_dot, std::move(element));
}
OrSet OrSet::Remove(const WriteContext& ctx, const std::string& element) {
  return MakeRemove(ctx.replica, ctx.log_dot, element);
}
OrSet OrSet::Add(ReplicaId replica, std::string element) { return MakeAdd(replica, Dot{}, std::move(element)); }
OrSet OrSet::Remove(const std::string& element) { return MakeRemove(ReplicaId(), Dot{}, element); }

CollectResult OrSet::Collect(const VersionVector& horizon) {
  CollectResult result;
  if (!elements_.empty() || !internal::KeyStable(context_, log_clock_, unlogged_, horizon)) return result;
  *this = OrSet();
  result.remove_key = true;
  return result;
}

void OrSet::JoinElement(const std::string& element, const std::vector<Dot>* theirs,
                        const DotContext& their_context, MergeOutcome* outcome) {
  static const std::vector<Dot> kNone;
  auto it = elements_.find(element);
  const std::vector<Dot>& mine = it == elements_.end() ? kNone : it->second;
  const std::vector<Dot>& other = theirs ? *theirs : kNone;
  std::vector<Dot> out;
  // Keep our dot if they have it too or never saw it; take theirs if we never saw it.
  for (const Dot& d : mine) {
    if (std::binary_search(other.begin(), other.end(), d) || !their_context.Contains(d)) out.push_back(d);
  }
  bool gained = false;
  for (const Dot& d : other) {
    if (!context_.Contains(d) && !std::binary_search(mine.begin(), mine.end(), d)) {
      out.push_back(d);
      gained = true;
    }
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  if (outcome && gained && !mine.empty() && out.size() > 1) {
    outcome->concurrent = true;
    outcome->description = "set: concurrent adds of one element kept (add-wins)";
  }
  for (const Dot& d : mine) {
    if (!std::binary_search(out.begin(), out.end(), d)) dot_index_.erase(d);
  }
  for (const Dot& d : out) dot_index_[d] = element;
  if (out.empty()) {
    if (it != elements_.end()) elements_.erase(it);
  } else if (it != elements_.end()) {
    it->second = std::move(out);
  } else {
    elements_.emplace(element, std::move(out));
  }
}

void OrSet::ApplyDelta(const OrSet& delta, MergeOutcome* outcome) {
  if (delta.context_.cloud_size() > kMaxDeltaDots) {
    Join(delta, outcome);
    return;
  }
  // Elements whose dots the delta supersedes, found through the dot index (copied first:
  // JoinElement changes the index). A vector range of the delta's context visits only the live
  // dots inside it, so a range claimed by a first write (NewDot) costs what it holds.
  std::vector<std::string> superseded;
  auto note = [&](std::map<Dot, std::string>::const_iterator it) {
    if (delta.elements_.find(it->second) == delta.elements_.end()) superseded.push_back(it->second);
  };
  for (const auto& [replica, top] : delta.context_.vv().entries()) {
    for (auto it = dot_index_.lower_bound(Dot{replica, 1});
         it != dot_index_.end() && it->first.replica == replica && it->first.counter <= top; ++it) {
      note(it);
    }
  }
  for (const Dot& d : delta.context_.CloudDots()) {
    auto it = dot_index_.find(d);
    if (it != dot_index_.end()) note(it);
  }
  std::sort(superseded.begin(), superseded.end());
  superseded.erase(std::unique(superseded.begin(), superseded.end()), superseded.end());
  for (const std::string& element : superseded) JoinElement(element, nullptr, delta.context_, outcome);
  for (const auto& [element, dots] : delta.elements_) JoinElement(element, &dots, delta.context_, outcome);
  context_.Merge(delta.context_);
  log_clock_.Merge(delta.log_clock_);
  unlogged_ = unlogged_ || delta.unlogged_;
}

void OrSet::Join(const OrSet& other, MergeOutcome* outcome) {
  std::vector<std::string> only_mine;
  for (const auto& entry : elements_) {
    if (other.elements_.find(entry.first) == other.elements_.end()) only_mine.push_back(entry.first);
  }
  for (const std::string& element : only_mine) JoinElement(element, nullptr, other.context_, outcome);
  for (const auto& [element, dots] : other.elements_) JoinElement(element, &dots, other.context_, outcome);
  context_.Merge(other.context_);
  log_clock_.Merge(other.log_clock_);
  unlogged_ = unlogged_ || other.unlogged_;
}

bool OrSet::Contains(const std::string& element) const {
  auto it = elements_.find(element);
  return it != elements_.end() && !it->second.empty();
}

std::vector<std::string> OrSet::Elements() const {
  std::vector<std::string> out;
  for (const auto& entry : elements_) out.push_back(entry.first);
  return out;
}

size_t OrSet::size() const { return elements_.size(); }

std::vector<Dot> OrSet::DotsOf(const std::string& element) const {
  auto it = elements_.find(element);
  return it == elements_.end() ? std::vector<Dot>() : it->second;
}

bool operator==(const OrSet& a, const OrSet& b) {
  return a.elements_ == b.elements_ && a.context_ == b.context_ && a.log_clock_ == b.log_clock_ &&
         a.unlogged_ == b.unlogged_;
}

std::string OrSet::Encode() const {
  if (elements_.empty() && context_.vv().empty() && context_.cloud_size() == 0 && log_clock_.empty() &&
      !unlogged_) {
    return std::string();
  }
  v1::SetState pb;
  for (const auto& [element, dots] : elements_) {
    v1::SetElement* e = pb.add_elements();
    e->set_element(element);
    for (const Dot& d : dots) ToProto(d, e->add_dots());
  }
  pb.set_context(context_.Encode());
  if (!log_clock_.empty()) pb.set_log_clock(log_clock_.Encode());
  pb.set_unlogged(unlogged_);
  return pb.SerializeAsString();
}

Result<OrSet> OrSet::Decode(std::string_view bytes) {
  OrSet s;
  if (bytes.empty()) return s;
  v1::SetState pb;
  SYNCLINE_RETURN_IF_ERROR(ParseBounded(bytes, "set state", &pb));
  auto ctx = DotContext::Decode(pb.context());
  if (!ctx.ok()) return ctx.status().WithContext("set state context");
  s.context_ = std::move(ctx).value();
  if (!pb.log_clock().empty()) {
    auto log_clock = VersionVector::Decode(pb.log_clock());
    if (!log_clock.ok()) return log_clock.status().WithContext("set state log clock");
    if (log_clock->empty()) return Status::Corruption("set state: an empty log clock is encoded (not canonical)");
    s.log_clock_ = std::move(log_clock).value();
  }
  s.unlogged_ = pb.unlogged();
  const std::string* prev = nullptr;
  for (const v1::SetElement& e : pb.elements()) {
    if (prev && !(*prev < e.element())) return Status::Corruption("set state: elements not in ascending order");
    prev = &e.element();
    if (e.dots_size() == 0 || static_cast<size_t>(e.dots_size()) > kMaxDotsPerElement) {
      return Status::Corruption("set state: an element has " + std::to_string(e.dots_size()) +
                                " dots (must be 1 to " + std::to_string(kMaxDotsPerElement) + ")");
    }
    std::vector<Dot> dots;
    dots.reserve(static_cast<size_t>(e.dots_size()));
    for (const v1::Dot& d : e.dots()) {
      Dot dot = FromProto(d);
      if (!dot.valid() || (!dots.empty() && !(dots.back() < dot)) || !s.context_.Contains(dot)) {
        return Status::Corruption("set state: element dots invalid, unsorted or outside the context");
      }
      dots.push_back(dot);
      if (!s.dot_index_.emplace(dot, e.element()).second) {
        return Status::Corruption("set state: a dot belongs to two elements");
      }
    }
    s.elements_.emplace(e.element(), std::move(dots));
  }
  return s;
}

Result<OrSet> OrSet::FromParts(std::map<std::string, std::vector<Dot>, std::less<>> elements, DotContext context,
                               VersionVector log_clock, bool unlogged) {
  OrSet s;
  s.context_ = std::move(context);
  s.log_clock_ = std::move(log_clock);
  s.unlogged_ = unlogged;
  for (auto& [element, dots] : elements) {
    if (dots.empty()) return Status::Corruption("set element without dots");
    for (const Dot& d : dots) {
      if (!s.context_.Contains(d) || !s.dot_index_.emplace(d, element).second) {
        return Status::Corruption("set element dot outside the context or repeated");
      }
    }
  }
  s.elements_ = std::move(elements);
  return s;
}

Status SetResolver::Join(std::string* state, std::string_view other, MergeOutcome* outcome) const {
  SYNCLINE_ASSIGN_OR_RETURN(OrSet mine, OrSet::Decode(*state));
  SYNCLINE_ASSIGN_OR_RETURN(OrSet theirs, OrSet::Decode(other));
  mine.Join(theirs, outcome);
  *state = mine.Encode();
  return Status::Ok();
}

bool OrSet::SeenBy(const VersionVector& seen) const {
  return internal::KeyStable(context_, log_clock_, unlogged_, seen);
}

Result<bool> SetResolver::SeenBy(std::string_view state, const VersionVector& seen) const {
  SYNCLINE_ASSIGN_OR_RETURN(OrSet s, OrSet::Decode(state));
  return s.SeenBy(seen);
}

Result<CollectResult> SetResolver::Collect(std::string* state, const VersionVector& horizon) const {
  SYNCLINE_ASSIGN_OR_RETURN(OrSet s, OrSet::Decode(*state));
  CollectResult result = s.Collect(horizon);
  if (result.remove_key) state->clear();
  return result;
}

Result<std::string> SetResolver::Render(std::string_view state) const {
  SYNCLINE_ASSIGN_OR_RETURN(OrSet s, OrSet::Decode(state));
  std::string out = "{";
  auto elements = s.Elements();
  for (size_t i = 0; i < elements.size(); ++i) out += (i ? ", " : "") + elements[i];
  return out + "}";
}

}  // namespace syncline::conflict
