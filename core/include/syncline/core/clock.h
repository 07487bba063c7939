// Clock: the seam through which all of Syncline reads time.
//
// The library never calls std::chrono::*::now() directly; it asks the Clock it was given.
// Production code uses SystemClock; tests and the simulator use ManualClock, whose wall
// and monotonic readings move only when the test says so (and whose wall clock can jump
// backwards, as real ones do after an NTP step).
//
// Thread-safety: all methods of both implementations may be called from any thread.
#ifndef SYNCLINE_CORE_CLOCK_H_
#define SYNCLINE_CORE_CLOCK_H_

#include <atomic>
#include <chrono>
#include <cstdint>

namespace syncline {

// Milliseconds since the Unix epoch, as the wall clock says (may jump either way).
using WallMillis = int64_t;
// Nanoseconds since an arbitrary origin; never decreases.
using MonoNanos = int64_t;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual WallMillis WallNowMillis() = 0;
  virtual MonoNanos MonoNowNanos() = 0;
};

// The operating system's clocks (CLOCK_REALTIME and CLOCK_MONOTONIC).
class SystemClock final : public Clock {
 public:
  WallMillis WallNowMillis() override;
  MonoNanos MonoNowNanos() override;
  // A process-wide instance: stateless, so sharing it is not global mutable state.
  static SystemClock* Default();
};

// A clock that moves only when told to.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(WallMillis wall = 1'700'000'000'000, MonoNanos mono = 0)
      : wall_(wall), mono_(mono) {}

  WallMillis WallNowMillis() override { return wall_.load(); }
  MonoNanos MonoNowNanos() override { return mono_.load(); }

  // Moves both clocks forward by `ms` milliseconds.
  void AdvanceMillis(int64_t ms) {
    wall_ += ms;
    mono_ += ms * 1'000'000;
  }
  // Sets the wall clock only (forwards or backwards); the monotonic clock is unaffected.
  void SetWallMillis(WallMillis wall) { wall_ = wall; }

 private:
  std::atomic<WallMillis> wall_;
  std::atomic<MonoNanos> mono_;
};

}  // namespace syncline

#endif  // SYNCLINE_CORE_CLOCK_H_
