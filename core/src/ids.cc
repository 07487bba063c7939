#include "syncline/core/ids.h"

#include <cstdio>

namespace syncline {

std::string ReplicaId::ToString() const {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v_));
  return std::string(buf, 16);
}

Result<ReplicaId> ReplicaId::Parse(std::string_view text) {
  if (text.empty() || text.size() > 16) {
    return Status::InvalidArgument("replica id '" + std::string(text) +
                                   "' must be 1 to 16 hex digits");
  }
  uint64_t v = 0;
  for (char c : text) {
    int d;
    if (c >= '0' && c <= '9') {
      d = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      d = c - 'a' + 10;
    } else if (c >= 'A' && c <= 'F') {
      d = c - 'A' + 10;
    } else {
      return Status::InvalidArgument("replica id '" + std::string(text) +
                                     "' has a character that is not a hex digit");
    }
    v = (v << 4) | static_cast<uint64_t>(d);
  }
  if (v == 0) return Status::InvalidArgument("replica id 0 is reserved");
  return ReplicaId(v);
}

ReplicaId ReplicaId::Random(std::mt19937_64& rng) {
  uint64_t v = 0;
  while (v == 0) v = rng();
  return ReplicaId(v);
}

std::ostream& operator<<(std::ostream& os, ReplicaId id) { return os << id.ToString(); }

Result<NodeId> NodeId::Make(std::string_view name) {
  if (name.empty() || name.size() > kMaxNodeIdLength) {
    return Status::InvalidArgument("node id '" + std::string(name.substr(0, 80)) +
                                   "' must be 1 to 64 characters long");
  }
  auto alnum = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  };
  if (!alnum(name[0])) {
    return Status::InvalidArgument("node id '" + std::string(name) +
                                   "' must start with a letter or digit");
  }
  for (char c : name) {
    if (!alnum(c) && c != '.' && c != '_' && c != '-') {
      return Status::InvalidArgument("node id '" + std::string(name) +
                                     "' may only hold letters, digits, '.', '_' and '-'");
    }
  }
  return NodeId(std::string(name));
}

}  // namespace syncline
