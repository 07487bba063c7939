// Dot: the unique name of one write, (replica, counter), where counter counts that
// replica's writes from 1. Counter 0 never names a write.
//
// Thread-safety: value type.
#ifndef SYNCLINE_CORE_DOT_H_
#define SYNCLINE_CORE_DOT_H_

#include <compare>
#include <cstdint>
#include <ostream>

#include "syncline/core/ids.h"

namespace syncline {

struct Dot {
  ReplicaId replica;
  uint64_t counter = 0;

  bool valid() const { return replica.valid() && counter != 0; }
  friend constexpr auto operator<=>(const Dot&, const Dot&) = default;
};

inline std::ostream& operator<<(std::ostream& os, const Dot& d) {
  return os << '(' << d.replica << ',' << d.counter << ')';
}

}  // namespace syncline

#endif  // SYNCLINE_CORE_DOT_H_
