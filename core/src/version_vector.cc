#include "syncline/core/version_vector.h"

#include <algorithm>
#include <ostream>

#include "syncline/core/varint.h"

namespace syncline {

using core::GetFixed64;
using core::GetVarint64;
using core::PutFixed64;
using core::PutVarint64;

const char* OrderingName(Ordering o) {
  switch (o) {
    case Ordering::kEqual: return "equal";
    case Ordering::kBefore: return "before";
    case Ordering::kAfter: return "after";
    case Ordering::kConcurrent: return "concurrent";
  }
  return "unknown";
}

VersionVector::VersionVector(std::initializer_list<Entry> entries) {
  for (const Entry& e : entries) Advance(e.first, e.second);
}

uint64_t VersionVector::Get(ReplicaId replica) const {
  auto it = std::lower_bound(entries_.begin(), entries_.end(), replica,
                             [](const Entry& e, ReplicaId r) { return e.first < r; });
  return it != entries_.end() && it->first == replica ? it->second : 0;
}

void VersionVector::Set(ReplicaId replica, uint64_t counter) {
  auto it = std::lower_bound(entries_.begin(), entries_.end(), replica,
                             [](const Entry& e, ReplicaId r) { return e.first < r; });
  bool present = it != entries_.end() && it->first == replica;
  if (counter == 0) {
    if (present) entries_.erase(it);
  } else if (present) {
    it->second = counter;
  } else {
    entries_.insert(it, Entry{replica, counter});
  }
}

void VersionVector::Advance(ReplicaId replica, uint64_t counter) {
  if (counter > Get(replica)) Set(replica, counter);
}

Dot VersionVector::Increment(ReplicaId replica) {
  uint64_t next = Get(replica) + 1;
  Set(replica, next);
  return Dot{replica, next};
}

bool VersionVector::Dominates(const VersionVector& other) const {
  for (const Entry& e : other.entries_) {
    if (Get(e.first) < e.second) return false;
  }
  return true;
}

Ordering VersionVector::Compare(const VersionVector& a, const VersionVector& b) {
  bool a_ahead = false, b_ahead = false;
  size_t i = 0, j = 0;
  while (i < a.entries_.size() || j < b.entries_.size()) {
    if (j == b.entries_.size() || (i < a.entries_.size() && a.entries_[i].first < b.entries_[j].first)) {
      a_ahead = true;
      ++i;
    } else if (i == a.entries_.size() || b.entries_[j].first < a.entries_[i].first) {
      b_ahead = true;
      ++j;
    } else {
      if (a.entries_[i].second > b.entries_[j].second) a_ahead = true;
      if (a.entries_[i].second < b.entries_[j].second) b_ahead = true;
      ++i;
      ++j;
    }
    if (a_ahead && b_ahead) return Ordering::kConcurrent;
  }
  if (a_ahead) return Ordering::kAfter;
  if (b_ahead) return Ordering::kBefore;
  return Ordering::kEqual;
}

void VersionVector::Merge(const VersionVector& other) {
  std::vector<Entry> out;
  out.reserve(entries_.size() + other.entries_.size());
  size_t i = 0, j = 0;
  while (i < entries_.size() || j < other.entries_.size()) {
    if (j == other.entries_.size() ||
        (i < entries_.size() && entries_[i].first < other.entries_[j].first)) {
      out.push_back(entries_[i++]);
    } else if (i == entries_.size() || other.entries_[j].first < entries_[i].first) {
      out.push_back(other.entries_[j++]);
    } else {
      out.push_back(Entry{entries_[i].first, std::max(entries_[i].second, other.entries_[j].second)});
      ++i;
      ++j;
    }
  }
  entries_ = std::move(out);
}

VersionVector VersionVector::Min(const VersionVector& a, const VersionVector& b) {
  VersionVector out;
  for (const Entry& e : a.entries_) {
    uint64_t m = std::min(e.second, b.Get(e.first));
    if (m > 0) out.entries_.push_back(Entry{e.first, m});
  }
  return out;
}

void VersionVector::EncodeTo(std::string* out) const {
  PutVarint64(out, entries_.size());
  for (const Entry& e : entries_) {
    PutFixed64(out, e.first.value());
    PutVarint64(out, e.second);
  }
}

std::string VersionVector::Encode() const {
  std::string out;
  EncodeTo(&out);
  return out;
}

Result<VersionVector> VersionVector::DecodeFrom(std::string_view* in, size_t max_entries) {
  uint64_t n = 0;
  if (!GetVarint64(in, &n)) return Status::Corruption("version vector: truncated entry count");
  if (n > max_entries) {
    return Status::Corruption("version vector: " + std::to_string(n) + " entries exceed the limit of " +
                              std::to_string(max_entries));
  }
  // Each entry takes at least 9 bytes: refuse counts the input cannot hold before allocating.
  if (n > in->size() / 9) return Status::Corruption("version vector: truncated entries");
  VersionVector vv;
  vv.entries_.reserve(n);
  for (uint64_t k = 0; k < n; ++k) {
    uint64_t id = 0, counter = 0;
    if (!GetFixed64(in, &id) || !GetVarint64(in, &counter)) {
      return Status::Corruption("version vector: truncated entry " + std::to_string(k));
    }
    if (id == 0 || counter == 0) {
      return Status::Corruption("version vector: entry " + std::to_string(k) + " has a zero replica or counter");
    }
    if (!vv.entries_.empty() && vv.entries_.back().first.value() >= id) {
      return Status::Corruption("version vector: replicas not in strictly ascending order at entry " +
                                std::to_string(k));
    }
    vv.entries_.push_back(Entry{ReplicaId(id), counter});
  }
  return vv;
}

Result<VersionVector> VersionVector::Decode(std::string_view bytes, size_t max_entries) {
  SYNCLINE_ASSIGN_OR_RETURN(VersionVector vv, DecodeFrom(&bytes, max_entries));
  if (!bytes.empty()) {
    return Status::Corruption("version vector: " + std::to_string(bytes.size()) + " trailing bytes");
  }
  return vv;
}

std::string VersionVector::ToString() const {
  std::string out = "{";
  for (size_t i = 0; i < entries_.size(); ++i) {
    if (i) out += ", ";
    out += entries_[i].first.ToString().substr(12) + ":" + std::to_string(entries_[i].second);
  }
  return out + "}";
}

std::ostream& operator<<(std::ostream& os, const VersionVector& vv) { return os << vv.ToString(); }

}  // namespace syncline
