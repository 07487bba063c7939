// Replica: log retention (truncation below the horizon and the size bound, and the log floor).
#include <algorithm>

#include "state_access.h"
#include "syncline/core/feed.h"
#include "syncline/replication/replica.h"

namespace syncline::replication {

namespace {

constexpr std::string_view kFloorMeta = "log.floor";

Result<VersionVector> LoadFloor(core::ReadView& view) {
  auto v = view.Get(core::Table::kMeta, kFloorMeta);
  if (v.status().IsNotFound()) return VersionVector();
  if (!v.ok()) return v.status();
  auto vv = VersionVector::Decode(*v);
  if (!vv.ok()) return vv.status().WithContext("meta record 'log.floor'");
  return vv;
}

// The lowest counter of `origin` in one log segment (0 when none).
Result<uint64_t> LowestIn(core::ReadView& view, int segment, ReplicaId origin) {
  SYNCLINE_ASSIGN_OR_RETURN(auto bounds, view.SegmentBounds(segment, origin));
  return bounds.has_value() ? bounds->first : 0;
}

// The highest counter of `origin` in one log segment at or above `from` (0 when none).
Result<uint64_t> HighestIn(core::ReadView& view, int segment, ReplicaId origin, uint64_t from) {
  SYNCLINE_ASSIGN_OR_RETURN(auto bounds, view.SegmentBounds(segment, origin, from));
  return bounds.has_value() ? bounds->second : 0;
}

// The lowest counter of `origin` in the log (0 when none), reading a record per segment.
Result<uint64_t> LowestCounter(core::ReadView& view, ReplicaId origin) {
  uint64_t low = 0;
  for (int segment = 0; segment < 2; ++segment) {
    SYNCLINE_ASSIGN_OR_RETURN(uint64_t l, LowestIn(view, segment, origin));
    if (l != 0 && (low == 0 || l < low)) low = l;
  }
  return low;
}

// The highest counter of `origin` in the log at or above `from` (0 when none).
Result<uint64_t> HighestCounter(core::ReadView& view, ReplicaId origin, uint64_t from) {
  uint64_t high = 0;
  for (int segment = 0; segment < 2; ++segment) {
    SYNCLINE_ASSIGN_OR_RETURN(uint64_t h, HighestIn(view, segment, origin, from));
    high = std::max(high, h);
  }
  return high;
}

Status Describe(core::ReadView& view, const DotContext& ctx, const VersionVector& floor, RetentionReport* out) {
  SYNCLINE_ASSIGN_OR_RETURN(std::vector<ReplicaId> origins, view.LogOrigins());
  out->origins.clear();
  for (ReplicaId origin : origins) {
    OriginLogBounds b;
    b.origin = origin;
    SYNCLINE_ASSIGN_OR_RETURN(b.low, LowestCounter(view, origin));
    SYNCLINE_ASSIGN_OR_RETURN(b.high, HighestCounter(view, origin, std::max(b.low, ctx.vv().Get(origin))));
    b.floor = floor.Get(origin);
    out->origins.push_back(b);
  }
  out->floor = floor;
  return Status::Ok();
}

}  // namespace

std::optional<VersionVector> StabilityHorizon(const std::vector<VersionVector>& acks) {
  if (acks.empty()) return std::nullopt;
  VersionVector h = acks.front();
  for (size_t i = 1; i < acks.size(); ++i) h = VersionVector::Min(h, acks[i]);
  return h;
}

Result<RetentionReport> Replica::LogReport() {
  RetentionReport report;
  SYNCLINE_RETURN_IF_ERROR(store_->Read([&](core::ReadView& view) -> Status {
    SYNCLINE_ASSIGN_OR_RETURN(DotContext ctx, internal::LoadNodeContext(view));
    SYNCLINE_ASSIGN_OR_RETURN(VersionVector floor, LoadFloor(view));
    return Describe(view, ctx, floor, &report);
  }));
  return report;
}

namespace {

// What retention may drop of one origin: counters below `below` (the horizon, the size bound
// and the feed's pins), of which those below `size_below` the size bound alone asks for.
struct OriginBound {
  ReplicaId origin;
  uint64_t below = 0;
  uint64_t size_below = 0;
};

// Drops, one by one, the changes of log segment `segment` below each origin's bound
// (`size_only`: the size bound's), at most `*budget` of them, raising `floor`.
Status DropOneByOne(core::WriteTxn& txn, int segment, const std::vector<OriginBound>& bounds, bool size_only,
                    uint64_t* budget, VersionVector* floor, bool* raised, RetentionReport* report) {
  for (const OriginBound& b : bounds) {
    uint64_t below = size_only ? b.size_below : b.below;
    SYNCLINE_ASSIGN_OR_RETURN(uint64_t low, LowestIn(txn, segment, b.origin));
    if (low == 0 || below <= low) continue;
    if (*budget == 0) {
      report->more = true;
      return Status::Ok();
    }
    if (below - low > *budget) {
      below = low + *budget;
      report->more = true;
    }
    core::Table table = core::kLogSegments[segment];
    SYNCLINE_ASSIGN_OR_RETURN(uint64_t before, txn.CountEntries(table));
    SYNCLINE_RETURN_IF_ERROR(txn.TruncateLogSegment(segment, b.origin, below));
    SYNCLINE_ASSIGN_OR_RETURN(uint64_t after, txn.CountEntries(table));
    report->truncated += before - after;
    *budget -= std::min(*budget, below - low);
    if (floor->Get(b.origin) < below - 1) {
      floor->Set(b.origin, below - 1);
      *raised = true;
    }
  }
  return Status::Ok();
}

// One retention transaction: works out, per origin, the log below the horizon and the size
// bound (never above the contiguous prefix, never what the feed lists); drops the sealed segment
// whole if everything in it is below; drops changes one by one where segment_changes says
// (ApplyRetention), at most `max_truncate` of them (0: no bound); seals the active segment when
// it is full and the other empty; and raises the floor to match.
Status RetentionTxn(core::WriteTxn& txn, const std::optional<VersionVector>& horizon,
                    uint64_t max_changes_per_origin, uint64_t max_truncate, uint64_t segment_changes,
                    RetentionReport* report) {
  *report = RetentionReport();
  SYNCLINE_ASSIGN_OR_RETURN(DotContext ctx, internal::LoadNodeContext(txn));
  SYNCLINE_ASSIGN_OR_RETURN(VersionVector floor, LoadFloor(txn));
  SYNCLINE_ASSIGN_OR_RETURN(std::vector<ReplicaId> origins, txn.LogOrigins());
  // The change feed reads its entries from the log: what it still lists stays (after dropping
  // the feed entries nobody needs any more).
  SYNCLINE_RETURN_IF_ERROR(core::PruneFeed(txn));
  SYNCLINE_ASSIGN_OR_RETURN(core::FeedLogPins pins, core::GetFeedLogPins(txn, core::kMaxFeedPinGroups));
  std::vector<OriginBound> bounds;
  for (ReplicaId origin : origins) {
    uint64_t have = ctx.vv().Get(origin);
    SYNCLINE_ASSIGN_OR_RETURN(uint64_t low, LowestCounter(txn, origin));
    if (low == 0) continue;
    OriginBound b;  // drop counters < below
    b.origin = origin;
    if (horizon.has_value()) b.below = horizon->Get(origin) + 1;
    if (max_changes_per_origin > 0 && have >= max_changes_per_origin) {
      b.size_below = have - max_changes_per_origin + 1;
      b.below = std::max(b.below, b.size_below);
    }
    // Never beyond our own contiguous prefix: what lies above a gap is still to be streamed
    // once the gap fills, and the floor must not claim what we never held.
    b.below = std::min(b.below, have + 1);
    uint64_t wanted = b.below;
    uint64_t pin = UINT64_MAX;
    if (!pins.complete) {
      pin = low;
    } else {
      auto it = std::lower_bound(pins.lowest.begin(), pins.lowest.end(), origin,
                                 [](const auto& p, ReplicaId o) { return p.first < o; });
      if (it != pins.lowest.end() && it->first == origin) pin = it->second;
    }
    b.below = std::min(b.below, pin);
    b.size_below = std::min({b.size_below, have + 1, pin});
    if (wanted > std::max(b.below, low)) report->held_by_feed += wanted - std::max(b.below, low);
    bounds.push_back(b);
  }
  auto bound_of = [&](ReplicaId origin) -> const OriginBound* {
    auto it = std::lower_bound(bounds.begin(), bounds.end(), origin,
                               [](const OriginBound& b, ReplicaId o) { return b.origin < o; });
    return it != bounds.end() && it->origin == origin ? &*it : nullptr;
  };

  SYNCLINE_ASSIGN_OR_RETURN(int active, txn.ActiveLogSegment());
  const core::Table active_table = core::kLogSegments[active];
  const core::Table sealed_table = core::kLogSegments[1 - active];
  bool raised = false;
  // The sealed segment goes whole once every change in it is below its origin's bound: its pages
  // are freed without its entries being visited.
  SYNCLINE_ASSIGN_OR_RETURN(uint64_t sealed_n, txn.CountEntries(sealed_table));
  if (segment_changes > 0 && sealed_n > 0) {
    SYNCLINE_ASSIGN_OR_RETURN(std::vector<ReplicaId> sealed_origins, txn.SegmentOrigins(1 - active));
    std::vector<std::pair<ReplicaId, uint64_t>> highs;
    bool whole = true;
    for (ReplicaId origin : sealed_origins) {
      SYNCLINE_ASSIGN_OR_RETURN(uint64_t high, HighestIn(txn, 1 - active, origin, 0));
      const OriginBound* b = bound_of(origin);
      if (b == nullptr || high >= b->below) {
        whole = false;
        break;
      }
      highs.emplace_back(origin, high);
    }
    if (whole) {
      SYNCLINE_RETURN_IF_ERROR(txn.Clear(sealed_table));
      report->truncated += sealed_n;
      report->segments_dropped = 1;
      sealed_n = 0;
      for (const auto& [origin, high] : highs) {
        if (floor.Get(origin) < high) {
          floor.Set(origin, high);
          raised = true;
        }
      }
    }
  }
  // One by one: below every bound while the active segment is small (or without segments);
  // elsewhere only what the size bound asks for, the rest waiting for its segment to go whole.
  uint64_t budget = max_truncate > 0 ? max_truncate : UINT64_MAX;
  SYNCLINE_ASSIGN_OR_RETURN(uint64_t active_n, txn.CountEntries(active_table));
  bool small = segment_changes == 0 || active_n < segment_changes;
  SYNCLINE_RETURN_IF_ERROR(DropOneByOne(txn, 1 - active, bounds, segment_changes > 0, &budget, &floor, &raised, report));
  SYNCLINE_RETURN_IF_ERROR(DropOneByOne(txn, active, bounds, !small, &budget, &floor, &raised, report));
  // Seal the active segment once it is full and the other one is empty.
  if (segment_changes > 0 && !report->more) {
    SYNCLINE_ASSIGN_OR_RETURN(sealed_n, txn.CountEntries(sealed_table));
    SYNCLINE_ASSIGN_OR_RETURN(active_n, txn.CountEntries(active_table));
    if (sealed_n == 0 && active_n >= segment_changes) {
      SYNCLINE_RETURN_IF_ERROR(txn.SwitchLogSegment());
      report->sealed = true;
    }
  }
  if (raised) SYNCLINE_RETURN_IF_ERROR(txn.Put(core::Table::kMeta, kFloorMeta, floor.Encode()));
  return Describe(txn, ctx, floor, report);
}

}  // namespace

Result<RetentionReport> Replica::ApplyRetention(const std::optional<VersionVector>& horizon,
                                                uint64_t max_changes_per_origin, uint64_t max_truncate,
                                                uint64_t segment_changes) {
  auto report = std::make_shared<RetentionReport>();
  Status s = store_->WriteAndWait([&, report](core::WriteTxn& txn) -> Status {
    return RetentionTxn(txn, horizon, max_changes_per_origin, max_truncate, segment_changes, report.get());
  });
  SYNCLINE_RETURN_IF_ERROR(s.WithContext("truncating the change log"));
  {
    std::lock_guard<std::mutex> lock(mu_);
    log_floor_.Merge(report->floor);
  }
  return *report;
}

void Replica::ApplyRetentionAsync(std::optional<VersionVector> horizon, uint64_t max_changes_per_origin,
                                  uint64_t max_truncate, uint64_t segment_changes,
                                  std::function<void(Result<RetentionReport>)> done) {
  auto report = std::make_shared<RetentionReport>();
  // A staged write: truncating does not make the writer wait for earlier commits' syncs. The
  // floor rises as soon as the changes are gone from what readers see.
  store_->SubmitStaged(
      [horizon = std::move(horizon), max_changes_per_origin, max_truncate, segment_changes,
       report](core::WriteTxn& txn) -> Status {
        return RetentionTxn(txn, horizon, max_changes_per_origin, max_truncate, segment_changes, report.get());
      },
      [this, report](Status s) {
        if (!s.ok()) return;
        std::lock_guard<std::mutex> lock(mu_);
        log_floor_.Merge(report->floor);
      },
      [report, done = std::move(done)](Status s) {
        if (!s.ok()) {
          done(s.WithContext("truncating the change log"));
          return;
        }
        done(*report);
      });
}

}  // namespace syncline::replication
