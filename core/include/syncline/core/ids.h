// Identifiers: NodeId names a node for humans and configuration; ReplicaId names the
// replica whose writes a dot counts.
//
// A node keeps its NodeId for life (it is in its configuration), but its ReplicaId is drawn
// at random when its data directory is created and stored there. A node whose data
// directory is wiped and re-created therefore gets a new ReplicaId, and can never reuse a
// dot it handed out before the wipe (reusing dots would silently break causality: other
// replicas would treat new writes as already seen).
//
// Thread-safety: value types.
#ifndef SYNCLINE_CORE_IDS_H_
#define SYNCLINE_CORE_IDS_H_

#include <compare>
#include <cstdint>
#include <functional>
#include <ostream>
#include <random>
#include <string>
#include <string_view>

#include "syncline/core/status.h"

namespace syncline {

// A replica identifier: a non-zero 64-bit number. Zero is reserved for "none".
class ReplicaId {
 public:
  constexpr ReplicaId() = default;
  constexpr explicit ReplicaId(uint64_t v) : v_(v) {}

  constexpr uint64_t value() const { return v_; }
  constexpr bool valid() const { return v_ != 0; }

  // 16 lowercase hex digits.
  std::string ToString() const;
  // Accepts what ToString() produces.
  static Result<ReplicaId> Parse(std::string_view text);
  // A fresh random non-zero id from `rng`.
  static ReplicaId Random(std::mt19937_64& rng);

  friend constexpr auto operator<=>(ReplicaId a, ReplicaId b) = default;

 private:
  uint64_t v_ = 0;
};

std::ostream& operator<<(std::ostream& os, ReplicaId id);

// A node identifier: 1 to 64 characters from [A-Za-z0-9._-], starting with a letter or digit.
class NodeId {
 public:
  NodeId() = default;
  static Result<NodeId> Make(std::string_view name);

  const std::string& str() const { return name_; }
  bool empty() const { return name_.empty(); }

  friend auto operator<=>(const NodeId& a, const NodeId& b) = default;

 private:
  explicit NodeId(std::string name) : name_(std::move(name)) {}
  std::string name_;
};

inline std::ostream& operator<<(std::ostream& os, const NodeId& id) { return os << id.str(); }

inline constexpr size_t kMaxNodeIdLength = 64;

}  // namespace syncline

template <>
struct std::hash<syncline::ReplicaId> {
  size_t operator()(syncline::ReplicaId id) const noexcept { return std::hash<uint64_t>()(id.value()); }
};

#endif  // SYNCLINE_CORE_IDS_H_
