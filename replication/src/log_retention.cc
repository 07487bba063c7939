// Replica: log retention (truncation below the horizon and the size bound, and the log floor).
#include <algorithm>

#include "state_access.h"
#include "syncline/core/feed.h"
#include "syncline/replication/replica.h"

namespace syncline::replication {

namespace {

constexpr std::string_view kFloorMeta = "log.floor";

std::string LogKey(ReplicaId origin, uint64_t counter) {
  std::string k(16, '\0');
  for (int i = 0; i < 8; ++i) {
    k[i] = static_cast<char>(origin.value() >> (56 - 8 * i));
    k[8 + i] = static_cast<char>(counter >> (56 - 8 * i));
  }
  return k;
}

uint64_t CounterOf(std::string_view key) {
  uint64_t c = 0;
  for (int i = 8; i < 16; ++i) c = (c << 8) | static_cast<uint8_t>(key[i]);
  return c;
}

Result<VersionVector> LoadFloor(core::ReadView& view) {
  auto v = view.Get(core::Table::kMeta, kFloorMeta);
  if (v.status().IsNotFound()) return VersionVector();
  if (!v.ok()) return v.status();
  auto vv = VersionVector::Decode(*v);
  if (!vv.ok()) return vv.status().WithContext("meta record 'log.floor'");
  return vv;
}

// The lowest counter of `origin` in the log (0 when none), reading one record.
Result<uint64_t> LowestCounter(core::ReadView& view, ReplicaId origin) {
  uint64_t low = 0;
  std::string end = origin.value() == UINT64_MAX ? std::string() : LogKey(ReplicaId(origin.value() + 1), 0);
  SYNCLINE_RETURN_IF_ERROR(view.Scan(core::Table::kLog, LogKey(origin, 0), end, [&](std::string_view k, std::string_view) {
    if (k.size() == 16) low = CounterOf(k);
    return false;
  }));
  return low;
}

// The highest counter of `origin` in the log at or above `from` (0 when none). Bounded by what
// lies above `from`, which callers pass as the origin's contiguous prefix.
Result<uint64_t> HighestCounter(core::ReadView& view, ReplicaId origin, uint64_t from) {
  uint64_t high = 0;
  std::string end = origin.value() == UINT64_MAX ? std::string() : LogKey(ReplicaId(origin.value() + 1), 0);
  SYNCLINE_RETURN_IF_ERROR(view.Scan(core::Table::kLog, LogKey(origin, from), end, [&](std::string_view k, std::string_view) {
    if (k.size() == 16) high = CounterOf(k);
    return true;
  }));
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

// One retention transaction: drops, per origin, the log below the horizon and the size bound
// (never above the contiguous prefix), at most `max_truncate` changes in all (0: no bound), and
// raises the floor to match.
Status RetentionTxn(core::WriteTxn& txn, const std::optional<VersionVector>& horizon,
                    uint64_t max_changes_per_origin, uint64_t max_truncate, RetentionReport* report) {
  *report = RetentionReport();
  SYNCLINE_ASSIGN_OR_RETURN(DotContext ctx, internal::LoadNodeContext(txn));
  SYNCLINE_ASSIGN_OR_RETURN(VersionVector floor, LoadFloor(txn));
  SYNCLINE_ASSIGN_OR_RETURN(std::vector<ReplicaId> origins, txn.LogOrigins());
  // The change feed reads its entries from the log: what it still lists stays (after dropping
  // the feed entries nobody needs any more).
  SYNCLINE_RETURN_IF_ERROR(core::PruneFeed(txn));
  SYNCLINE_ASSIGN_OR_RETURN(core::FeedLogPins pins, core::GetFeedLogPins(txn, core::kMaxFeedPinGroups));
  uint64_t budget = max_truncate > 0 ? max_truncate : UINT64_MAX;
  bool raised = false;
  for (ReplicaId origin : origins) {
    uint64_t have = ctx.vv().Get(origin);
    SYNCLINE_ASSIGN_OR_RETURN(uint64_t low, LowestCounter(txn, origin));
    if (low == 0) continue;
    uint64_t below = 0;  // drop counters < below
    if (horizon.has_value()) below = horizon->Get(origin) + 1;
    if (max_changes_per_origin > 0 && have >= max_changes_per_origin) {
      below = std::max(below, have - max_changes_per_origin + 1);
    }
    // Never beyond our own contiguous prefix: what lies above a gap is still to be streamed
    // once the gap fills, and the floor must not claim what we never held.
    below = std::min(below, have + 1);
    uint64_t wanted = below;
    if (!pins.complete) {
      below = low;
    } else {
      auto pin = std::lower_bound(pins.lowest.begin(), pins.lowest.end(), origin,
                                  [](const auto& p, ReplicaId o) { return p.first < o; });
      if (pin != pins.lowest.end() && pin->first == origin) below = std::min(below, pin->second);
    }
    if (wanted > std::max(below, low)) report->held_by_feed += wanted - std::max(below, low);
    if (below <= low) continue;
    if (budget == 0) {
      report->more = true;
      break;
    }
    if (below - low > budget) {
      below = low + budget;
      report->more = true;
    }
    SYNCLINE_RETURN_IF_ERROR(txn.TruncateLog(origin, below));
    report->truncated += below - low;  // counters dropped (the retained part is contiguous)
    budget -= below - low;
    if (floor.Get(origin) < below - 1) {
      floor.Set(origin, below - 1);
      raised = true;
    }
  }
  if (raised) SYNCLINE_RETURN_IF_ERROR(txn.Put(core::Table::kMeta, kFloorMeta, floor.Encode()));
  return Describe(txn, ctx, floor, report);
}

}  // namespace

Result<RetentionReport> Replica::ApplyRetention(const std::optional<VersionVector>& horizon,
                                                uint64_t max_changes_per_origin, uint64_t max_truncate) {
  auto report = std::make_shared<RetentionReport>();
  Status s = store_->WriteAndWait([&, report](core::WriteTxn& txn) -> Status {
    return RetentionTxn(txn, horizon, max_changes_per_origin, max_truncate, report.get());
  });
  SYNCLINE_RETURN_IF_ERROR(s.WithContext("truncating the change log"));
  {
    std::lock_guard<std::mutex> lock(mu_);
    log_floor_.Merge(report->floor);
  }
  return *report;
}

void Replica::ApplyRetentionAsync(std::optional<VersionVector> horizon, uint64_t max_changes_per_origin,
                                  uint64_t max_truncate, std::function<void(Result<RetentionReport>)> done) {
  auto report = std::make_shared<RetentionReport>();
  // A staged write: truncating does not make the writer wait for earlier commits' syncs. The
  // floor rises as soon as the changes are gone from what readers see.
  store_->SubmitStaged(
      [horizon = std::move(horizon), max_changes_per_origin, max_truncate, report](core::WriteTxn& txn) -> Status {
        return RetentionTxn(txn, horizon, max_changes_per_origin, max_truncate, report.get());
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
