// Hybrid logical clock (Kulkarni et al., 2014).
//
// An HlcTimestamp is (wall milliseconds, logical counter), ordered lexicographically; the
// HLC never goes backwards even when the wall clock does, stays close to the wall clock, and
// after Update(remote) is above every timestamp the node has seen. Last-writer-wins orders
// writes by HlcTimestamp and breaks ties by ReplicaId.
//
// A remote timestamp more than `max_drift_millis` ahead of the local wall clock is either
// refused (the default: Update returns InvalidArgument naming the drift, and the clock is
// unchanged) or clamped to now + max_drift (the write is accepted, the local clock does not
// jump further than the bound, and the event is counted in clamped_count()). Either way a
// peer with a runaway clock cannot drag every other node's clock into the future.
//
// Packed form: 48 bits of milliseconds and 16 bits of logical counter in one uint64, so
// timestamps compare as integers and take 8 bytes on disk and on the wire. The logical
// counter saturating (65,535 events in one millisecond with no wall-clock progress) moves
// the timestamp to the next millisecond instead of overflowing.
//
// Thread-safety: Hlc is internally synchronised; all methods may be called concurrently.
#ifndef SYNCLINE_CORE_HLC_H_
#define SYNCLINE_CORE_HLC_H_

#include <compare>
#include <cstdint>
#include <mutex>
#include <ostream>

#include "syncline/core/clock.h"
#include "syncline/core/status.h"

namespace syncline {

struct HlcTimestamp {
  static constexpr int kLogicalBits = 16;
  static constexpr uint64_t kMaxLogical = (uint64_t{1} << kLogicalBits) - 1;
  static constexpr uint64_t kMaxMillis = (uint64_t{1} << (64 - kLogicalBits)) - 1;

  uint64_t millis = 0;   // wall-clock milliseconds since the Unix epoch
  uint32_t logical = 0;  // orders events within one millisecond

  uint64_t Pack() const { return (millis << kLogicalBits) | logical; }
  static HlcTimestamp Unpack(uint64_t packed) {
    return HlcTimestamp{packed >> kLogicalBits, static_cast<uint32_t>(packed & kMaxLogical)};
  }
  bool IsZero() const { return millis == 0 && logical == 0; }

  friend constexpr auto operator<=>(const HlcTimestamp&, const HlcTimestamp&) = default;
};

inline std::ostream& operator<<(std::ostream& os, const HlcTimestamp& t) {
  return os << t.millis << '.' << t.logical;
}

enum class DriftPolicy {
  kRefuse,  // Update() fails with InvalidArgument; nothing changes
  kClamp,   // the remote time is clamped to now + max_drift; counted
};

struct HlcOptions {
  // How far ahead of our wall clock a remote timestamp may be (default: 60 s).
  int64_t max_drift_millis = 60'000;
  DriftPolicy drift_policy = DriftPolicy::kRefuse;
};

class Hlc {
 public:
  explicit Hlc(Clock* clock, HlcOptions options = {});

  // A timestamp for a local event: greater than every timestamp returned or observed before.
  // Only at the very top of the range (48-bit milliseconds and logical counter both at their
  // maximum, about 8,900 years from the epoch) does it repeat the last timestamp instead of
  // wrapping around.
  HlcTimestamp Now();

  // Observes a remote timestamp and returns a local event timestamp greater than both it and
  // everything seen before. Refuses (or clamps) a remote time beyond the drift bound.
  Result<HlcTimestamp> Update(HlcTimestamp remote);

  // Restores the last timestamp persisted before a restart, so the clock never goes back
  // across restarts even if the wall clock did.
  void Restore(HlcTimestamp persisted);

  HlcTimestamp Last() const;
  uint64_t clamped_count() const;
  uint64_t refused_count() const;

 private:
  HlcTimestamp Advance(uint64_t wall, HlcTimestamp floor);

  Clock* clock_;
  HlcOptions options_;
  mutable std::mutex mu_;
  HlcTimestamp last_;
  uint64_t clamped_ = 0;
  uint64_t refused_ = 0;
};

}  // namespace syncline

#endif  // SYNCLINE_CORE_HLC_H_
