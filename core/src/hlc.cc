#include "syncline/core/hlc.h"

#include <algorithm>
#include <string>

namespace syncline {

Hlc::Hlc(Clock* clock, HlcOptions options) : clock_(clock), options_(options) {}

HlcTimestamp Hlc::Advance(uint64_t wall, HlcTimestamp floor) {
  // The new timestamp is max(wall, floor) in milliseconds, with the logical counter bumped
  // when the milliseconds did not move past the floor. The wall clock is capped to the 48
  // bits the packed form holds *before* comparing: capping afterwards could return a
  // timestamp below the floor (e.g. floor {max, 3} and a wall clock past max gave {max, 0}).
  wall = std::min(wall, HlcTimestamp::kMaxMillis);
  if (wall > floor.millis) return HlcTimestamp{wall, 0};
  if (floor.logical < HlcTimestamp::kMaxLogical) return HlcTimestamp{floor.millis, floor.logical + 1};
  if (floor.millis < HlcTimestamp::kMaxMillis) return HlcTimestamp{floor.millis + 1, 0};
  // The last representable timestamp: stay on it rather than wrap or go backwards.
  return HlcTimestamp{HlcTimestamp::kMaxMillis, static_cast<uint32_t>(HlcTimestamp::kMaxLogical)};
}

static uint64_t WallNow(Clock* clock) {
  int64_t w = clock->WallNowMillis();
  return w < 0 ? 0 : static_cast<uint64_t>(w);
}

HlcTimestamp Hlc::Now() {
  uint64_t wall = WallNow(clock_);
  std::lock_guard<std::mutex> lock(mu_);
  last_ = Advance(wall, last_);
  return last_;
}

Result<HlcTimestamp> Hlc::Update(HlcTimestamp remote) {
  uint64_t wall = WallNow(clock_);
  uint64_t bound = wall + static_cast<uint64_t>(std::max<int64_t>(options_.max_drift_millis, 0));
  std::lock_guard<std::mutex> lock(mu_);
  if (remote.millis > bound) {
    if (options_.drift_policy == DriftPolicy::kRefuse) {
      ++refused_;
      return Status::InvalidArgument(
          "remote HLC timestamp " + std::to_string(remote.millis) + " ms is " +
          std::to_string(remote.millis - wall) + " ms ahead of the local wall clock (bound " +
          std::to_string(options_.max_drift_millis) +
          " ms); check the clocks of both nodes or raise max_drift_millis");
    }
    ++clamped_;
    remote = HlcTimestamp{bound, 0};
  }
  HlcTimestamp floor = std::max(last_, remote);
  last_ = Advance(wall, floor);
  return last_;
}

void Hlc::Restore(HlcTimestamp persisted) {
  std::lock_guard<std::mutex> lock(mu_);
  last_ = std::max(last_, persisted);
}

HlcTimestamp Hlc::Last() const {
  std::lock_guard<std::mutex> lock(mu_);
  return last_;
}

uint64_t Hlc::clamped_count() const {
  std::lock_guard<std::mutex> lock(mu_);
  return clamped_;
}

uint64_t Hlc::refused_count() const {
  std::lock_guard<std::mutex> lock(mu_);
  return refused_;
}

}  // namespace syncline
