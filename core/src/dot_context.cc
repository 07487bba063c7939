#include "syncline/core/dot_context.h"

#include <roaring/roaring64map.hh>

#include <exception>
#include <map>
#include <string>

#include "syncline/core/varint.h"

namespace syncline {

using core::GetFixed64;
using core::GetVarint64;
using core::PutFixed64;
using core::PutVarint64;

struct DotContext::Cloud {
  std::map<ReplicaId, Roaring64Map> dots;  // only non-empty bitmaps
};

DotContext::DotContext() : cloud_(std::make_unique<Cloud>()) {}
DotContext::DotContext(VersionVector vv) : vv_(std::move(vv)), cloud_(std::make_unique<Cloud>()) {}
DotContext::DotContext(const DotContext& other)
    : vv_(other.vv_), cloud_(std::make_unique<Cloud>(*other.cloud_)) {}
DotContext& DotContext::operator=(const DotContext& other) {
  if (this != &other) {
    vv_ = other.vv_;
    cloud_ = std::make_unique<Cloud>(*other.cloud_);
  }
  return *this;
}
DotContext::DotContext(DotContext&& other) noexcept
    : vv_(std::move(other.vv_)), cloud_(std::move(other.cloud_)) {
  other.cloud_ = std::make_unique<Cloud>();
}
DotContext& DotContext::operator=(DotContext&& other) noexcept {
  if (this != &other) {
    vv_ = std::move(other.vv_);
    std::swap(cloud_, other.cloud_);
  }
  return *this;
}
DotContext::~DotContext() = default;

bool DotContext::Contains(const Dot& dot) const {
  if (!dot.valid()) return false;
  if (vv_.Covers(dot)) return true;
  auto it = cloud_->dots.find(dot.replica);
  return it != cloud_->dots.end() && it->second.contains(dot.counter);
}

void DotContext::CompactReplica(ReplicaId replica) {
  auto it = cloud_->dots.find(replica);
  if (it == cloud_->dots.end()) return;
  Roaring64Map& bits = it->second;
  uint64_t base = vv_.Get(replica);
  while (!bits.isEmpty()) {
    uint64_t low = bits.minimum();
    if (low <= base) {
      bits.remove(low);  // already covered by the vector
    } else if (low == base + 1) {
      bits.remove(low);
      base = low;
    } else {
      break;
    }
  }
  vv_.Set(replica, base);
  if (bits.isEmpty()) cloud_->dots.erase(it);
}

void DotContext::Add(const Dot& dot) {
  if (!dot.valid() || Contains(dot)) return;
  uint64_t base = vv_.Get(dot.replica);
  if (dot.counter == base + 1) {
    vv_.Set(dot.replica, dot.counter);
  } else {
    cloud_->dots[dot.replica].add(dot.counter);
  }
  CompactReplica(dot.replica);
}

void DotContext::Merge(const DotContext& other) {
  vv_.Merge(other.vv_);
  for (const auto& [replica, bits] : other.cloud_->dots) cloud_->dots[replica] |= bits;
  Compact();
}

void DotContext::Compact() {
  std::vector<ReplicaId> replicas;
  for (const auto& entry : cloud_->dots) replicas.push_back(entry.first);
  for (ReplicaId r : replicas) CompactReplica(r);
}

Dot DotContext::NextDot(ReplicaId replica) const {
  uint64_t top = vv_.Get(replica);
  auto it = cloud_->dots.find(replica);
  if (it != cloud_->dots.end() && !it->second.isEmpty()) top = std::max(top, it->second.maximum());
  return Dot{replica, top + 1};
}

uint64_t DotContext::cloud_size() const {
  uint64_t n = 0;
  for (const auto& entry : cloud_->dots) n += entry.second.cardinality();
  return n;
}

uint64_t DotContext::DotCount() const {
  uint64_t n = cloud_size();
  for (const auto& entry : vv_.entries()) n += entry.second;
  return n;
}

void DotContext::ForEachDot(const std::function<void(const Dot&)>& fn) const {
  for (const auto& [replica, top] : vv_.entries()) {
    for (uint64_t c = 1; c <= top; ++c) fn(Dot{replica, c});
  }
  for (const auto& [replica, bits] : cloud_->dots) {
    for (uint64_t c : bits) fn(Dot{replica, c});
  }
}

std::vector<Dot> DotContext::CloudDots() const {
  std::vector<Dot> out;
  for (const auto& [replica, bits] : cloud_->dots) {
    for (uint64_t c : bits) out.push_back(Dot{replica, c});
  }
  return out;
}

void DotContext::EncodeTo(std::string* out) const {
  vv_.EncodeTo(out);
  PutVarint64(out, cloud_->dots.size());
  for (const auto& [replica, bits] : cloud_->dots) {
    PutFixed64(out, replica.value());
    PutVarint64(out, bits.cardinality());
    uint64_t prev = vv_.Get(replica);
    for (uint64_t c : bits) {
      PutVarint64(out, c - prev);
      prev = c;
    }
  }
}

std::string DotContext::Encode() const {
  std::string out;
  EncodeTo(&out);
  return out;
}

Result<DotContext> DotContext::DecodeFrom(std::string_view* in, size_t max_cloud_dots, size_t max_replicas) {
  // CRoaring's C++ wrapper throws std::runtime_error when it cannot allocate: this is the
  // edge where that becomes a Status.
  try {
    return DecodeCloud(in, max_cloud_dots, max_replicas);
  } catch (const std::exception& e) {
    return Status::ResourceExhausted(std::string("dot context: cannot build the dot cloud (") + e.what() +
                                     "); lower max_cloud_dots or free memory");
  }
}

Result<DotContext> DotContext::DecodeCloud(std::string_view* in, size_t max_cloud_dots, size_t max_replicas) {
  SYNCLINE_ASSIGN_OR_RETURN(VersionVector vv, VersionVector::DecodeFrom(in, max_replicas));
  DotContext ctx(std::move(vv));
  uint64_t replicas = 0;
  if (!GetVarint64(in, &replicas)) return Status::Corruption("dot context: truncated cloud replica count");
  if (replicas > max_replicas) {
    return Status::Corruption("dot context: " + std::to_string(replicas) + " cloud replicas exceed the limit of " +
                              std::to_string(max_replicas));
  }
  // Each cloud entry takes at least 10 bytes (id, count, one gap).
  if (replicas > in->size() / 10) return Status::Corruption("dot context: cloud replica count exceeds the input");
  uint64_t total = 0;
  uint64_t prev_replica = 0;
  for (uint64_t k = 0; k < replicas; ++k) {
    uint64_t id = 0, n = 0;
    if (!GetFixed64(in, &id) || !GetVarint64(in, &n)) {
      return Status::Corruption("dot context: truncated cloud entry " + std::to_string(k));
    }
    if (id == 0 || id <= prev_replica) {
      return Status::Corruption("dot context: cloud replicas zero or not ascending at entry " + std::to_string(k));
    }
    prev_replica = id;
    total += n;
    if (n == 0 || total > max_cloud_dots || n > in->size()) {
      return Status::Corruption("dot context: cloud of replica entry " + std::to_string(k) +
                                " has a bad dot count " + std::to_string(n) + " (limit " +
                                std::to_string(max_cloud_dots) + ")");
    }
    ReplicaId replica(id);
    uint64_t base = ctx.vv_.Get(replica);
    uint64_t prev = base;
    Roaring64Map bits;
    for (uint64_t d = 0; d < n; ++d) {
      uint64_t gap = 0;
      if (!GetVarint64(in, &gap)) return Status::Corruption("dot context: truncated cloud dots");
      // The first dot must skip at least one counter past the vector (else it would have been
      // folded in); later dots must be strictly ascending.
      if (gap == 0 || (d == 0 && gap < 2) || prev > UINT64_MAX - gap) {
        return Status::Corruption("dot context: cloud dots of replica " + replica.ToString() +
                                  " are not canonical");
      }
      prev += gap;
      bits.add(prev);
    }
    ctx.cloud_->dots.emplace(replica, std::move(bits));
  }
  return ctx;
}

Result<DotContext> DotContext::Decode(std::string_view bytes, size_t max_cloud_dots, size_t max_replicas) {
  SYNCLINE_ASSIGN_OR_RETURN(DotContext ctx, DecodeFrom(&bytes, max_cloud_dots, max_replicas));
  if (!bytes.empty()) return Status::Corruption("dot context: " + std::to_string(bytes.size()) + " trailing bytes");
  return ctx;
}

std::string DotContext::ToString() const {
  std::string out = vv_.ToString();
  if (!cloud_->dots.empty()) {
    out += " cloud{";
    bool first = true;
    for (const Dot& d : CloudDots()) {
      if (!first) out += ", ";
      first = false;
      out += d.replica.ToString().substr(12) + ":" + std::to_string(d.counter);
    }
    out += "}";
  }
  return out;
}

bool operator==(const DotContext& a, const DotContext& b) {
  if (!(a.vv_ == b.vv_) || a.cloud_->dots.size() != b.cloud_->dots.size()) return false;
  auto i = a.cloud_->dots.begin();
  auto j = b.cloud_->dots.begin();
  for (; i != a.cloud_->dots.end(); ++i, ++j) {
    if (i->first != j->first || !(i->second == j->second)) return false;
  }
  return true;
}

}  // namespace syncline
