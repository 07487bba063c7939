#include "syncline/core/dvv.h"

#include <algorithm>

#include "syncline/core/varint.h"

namespace syncline {

using core::GetFixed64;
using core::GetVarint64;
using core::PutFixed64;
using core::PutVarint64;

VersionVector Dvv::Join() const {
  VersionVector vv = past;
  vv.Advance(dot.replica, dot.counter);
  return vv;
}

void Siblings::Insert(Sibling s) {
  for (const Sibling& mine : items_) {
    if (mine.clock.dot == s.clock.dot || s.clock.SeenBy(mine.clock)) return;  // known or obsolete
  }
  std::erase_if(items_, [&](const Sibling& mine) { return mine.clock.SeenBy(s.clock); });
  auto at = std::lower_bound(items_.begin(), items_.end(), s,
                             [](const Sibling& a, const Sibling& b) { return a.clock.dot < b.clock.dot; });
  items_.insert(at, std::move(s));
}

namespace {

// Orders two copies of one dot by content, so that Sync picks the same copy whichever side it
// came from. Well-formed histories never give one dot two contents; corrupt ones might.
bool ContentLess(const Sibling& x, const Sibling& y) {
  if (x.clock.past.entries() != y.clock.past.entries()) return x.clock.past.entries() < y.clock.past.entries();
  return x.value < y.value;
}

}  // namespace

Siblings Siblings::Sync(const Siblings& a, const Siblings& b) {
  // The union of both sides in ascending dot order, one copy per dot.
  std::vector<const Sibling*> all;
  all.reserve(a.items_.size() + b.items_.size());
  size_t i = 0, j = 0;
  while (i < a.items_.size() || j < b.items_.size()) {
    if (j == b.items_.size() || (i < a.items_.size() && a.items_[i].clock.dot < b.items_[j].clock.dot)) {
      all.push_back(&a.items_[i++]);
    } else if (i == a.items_.size() || b.items_[j].clock.dot < a.items_[i].clock.dot) {
      all.push_back(&b.items_[j++]);
    } else {
      all.push_back(ContentLess(b.items_[j], a.items_[i]) ? &b.items_[j] : &a.items_[i]);
      ++i;
      ++j;
    }
  }
  // Keep the versions no other version of the union has seen. Judging every version against
  // the whole union (rather than inserting one side into the other) makes the result a
  // function of the union alone, whatever the order of the arguments.
  Siblings out;
  out.items_.reserve(all.size());
  for (size_t x = 0; x < all.size(); ++x) {
    bool obsolete = false;
    for (size_t y = 0; y < all.size() && !obsolete; ++y) obsolete = y != x && all[x]->clock.SeenBy(all[y]->clock);
    if (!obsolete) out.items_.push_back(*all[x]);
  }
  return out;
}

Dot Siblings::Update(const VersionVector& context, ReplicaId replica, std::string value, uint64_t floor) {
  // The new counter must exceed every counter of `replica` this key has seen anywhere.
  uint64_t top = std::max(context.Get(replica), floor);
  for (const Sibling& s : items_) {
    top = std::max(top, s.clock.past.Get(replica));
    if (s.clock.dot.replica == replica) top = std::max(top, s.clock.dot.counter);
  }
  Sibling fresh{Dvv{Dot{replica, top + 1}, context}, std::move(value)};
  Dot dot = fresh.clock.dot;
  Insert(std::move(fresh));
  return dot;
}

void Siblings::Discard(const VersionVector& context) {
  std::erase_if(items_, [&](const Sibling& s) { return context.Covers(s.clock.dot); });
}

VersionVector Siblings::Context() const {
  VersionVector vv;
  for (const Sibling& s : items_) vv.Merge(s.clock.Join());
  return vv;
}

std::string Siblings::Encode() const {
  std::string out;
  PutVarint64(&out, items_.size());
  for (const Sibling& s : items_) {
    PutFixed64(&out, s.clock.dot.replica.value());
    PutVarint64(&out, s.clock.dot.counter);
    s.clock.past.EncodeTo(&out);
    PutVarint64(&out, s.value.size());
    out += s.value;
  }
  return out;
}

Result<Siblings> Siblings::Decode(std::string_view in, size_t max_siblings, size_t max_value_bytes) {
  uint64_t n = 0;
  if (!GetVarint64(&in, &n)) return Status::Corruption("siblings: truncated count");
  if (n > max_siblings || n > in.size() / 11) {
    return Status::Corruption("siblings: count " + std::to_string(n) + " exceeds the limit of " +
                              std::to_string(max_siblings) + " or the input");
  }
  Siblings out;
  out.items_.reserve(n);
  for (uint64_t k = 0; k < n; ++k) {
    Sibling s;
    uint64_t id = 0, counter = 0, len = 0;
    if (!GetFixed64(&in, &id) || !GetVarint64(&in, &counter)) {
      return Status::Corruption("siblings: truncated dot of sibling " + std::to_string(k));
    }
    s.clock.dot = Dot{ReplicaId(id), counter};
    if (!s.clock.dot.valid()) return Status::Corruption("siblings: sibling " + std::to_string(k) + " has an invalid dot");
    auto past = VersionVector::DecodeFrom(&in);
    if (!past.ok()) return past.status().WithContext("siblings: past of sibling " + std::to_string(k));
    s.clock.past = std::move(past).value();
    if (s.clock.past.Covers(s.clock.dot)) {
      return Status::Corruption("siblings: the past of sibling " + std::to_string(k) + " covers its own dot " +
                                std::to_string(counter) + " (a write cannot have seen itself)");
    }
    if (!GetVarint64(&in, &len)) return Status::Corruption("siblings: truncated value length");
    if (len > max_value_bytes || len > in.size()) {
      return Status::Corruption("siblings: value of " + std::to_string(len) + " bytes exceeds the limit of " +
                                std::to_string(max_value_bytes) + " or the input");
    }
    s.value.assign(in.substr(0, len));
    in.remove_prefix(len);
    if (!out.items_.empty() && !(out.items_.back().clock.dot < s.clock.dot)) {
      return Status::Corruption("siblings: dots not in strictly ascending order at sibling " + std::to_string(k));
    }
    for (const Sibling& prev : out.items_) {
      if (prev.clock.SeenBy(s.clock) || s.clock.SeenBy(prev.clock)) {
        return Status::Corruption("siblings: sibling " + std::to_string(k) + " is obsolete");
      }
    }
    out.items_.push_back(std::move(s));
  }
  if (!in.empty()) return Status::Corruption("siblings: " + std::to_string(in.size()) + " trailing bytes");
  return out;
}

}  // namespace syncline
