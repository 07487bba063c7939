// Log retention: how far each origin's change log is kept, and what a node reports about it.
//
// A node keeps every change it holds in its log (table `log`) so it can stream it to peers. The
// replicator truncates each origin's log below the stability horizon, the pointwise minimum of
// the version vectors every known peer acknowledged (table `peers`, "ack/<node id>"), and, for
// peers that stay away too long, to at most `max_changes_per_origin` changes. What was dropped
// is recorded as the log floor (meta "log.floor": per origin the highest counter that may be
// missing); a subscriber that lacks a change at or below the floor is answered with
// SnapshotNeeded and bootstraps from a snapshot (snapshot.h) instead of failing or looping.
// Neither bound drops a change the change feed still lists (core/feed.h, GetFeedLogPins): the
// feed's readers take their changes from the log.
//
// Thread-safety: value types.
#ifndef SYNCLINE_REPLICATION_RETENTION_H_
#define SYNCLINE_REPLICATION_RETENTION_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "syncline/core/version_vector.h"

namespace syncline::replication {

inline constexpr uint64_t kDefaultLogSegmentChanges = 4096;

struct RetentionOptions {
  // Truncate at most this often (default every 100 ms); 0 disables retention (the log grows).
  // A run that finds nothing to do is not repeated until the store commits again or the horizon
  // moves. Under load each run seals a segment of about this interval's changes and drops the
  // one it sealed before, so the interval also sets the size of the segments dropped whole.
  int64_t interval_millis = 100;
  // Keep at most this many changes per origin, whatever the horizon (default 1,000,000): a peer
  // that stays away longer bootstraps from a snapshot when it comes back. Changes the change
  // feed still lists (a registered consumer far behind) are kept beyond it.
  uint64_t max_changes_per_origin = 1'000'000;
  // Drop at most this many changes per write transaction (default 1,000; 0: no bound), so a
  // backlog never holds the store's single writer for long: the rest follows in further
  // transactions at once, with other writes in between. Each transaction's deletes lengthen the
  // commit cycle every write waiting behind it shares, so small steps keep the replication lag's
  // tail down (docs/benchmarks.md). When commits are large (heavy load: few commits a second,
  // one step each) the replicator takes up to ten times this, four times the changes a recent
  // commit stored, so that truncation keeps up with the log.
  uint64_t max_truncate_per_txn = 1'000;
  // The log is kept in two segments (default: a segment is sealed once it holds 4,096 changes).
  // Appends go to the active segment; once it holds this many changes and the other one is
  // empty, it is sealed and appends go to the other. A sealed segment is dropped whole, which
  // frees its pages without visiting its entries, once every change in it is below the horizon
  // and the size bound. While the active segment is smaller than this, its changes below the
  // bounds are dropped one by one. Under load the log then holds up to about two retention
  // intervals of changes and truncation costs the writer almost nothing; dropping changes one
  // by one lengthened one commit in seven by half at 86,000 writes/s (docs/benchmarks.md).
  // 0: no segments; every change below the bounds is dropped one by one, as soon as possible.
  uint64_t log_segment_changes = kDefaultLogSegmentChanges;
};

// What the log holds of one origin.
struct OriginLogBounds {
  ReplicaId origin;
  uint64_t low = 0;    // lowest counter in the log (0: none)
  uint64_t high = 0;   // highest counter in the log
  uint64_t floor = 0;  // counters up to this may be missing (truncated or installed by snapshot)
};

struct RetentionReport {
  std::vector<OriginLogBounds> origins;
  VersionVector floor;
  uint64_t truncated = 0;  // changes dropped by this run (one by one or in a dropped segment)
  uint64_t segments_dropped = 0;  // sealed segments this run dropped whole (0 or 1)
  bool sealed = false;            // this run sealed the active segment
  bool more = false;       // stopped at the per-transaction bound: more is to be dropped
  // Changes the horizon and the size bound would have dropped, kept because the change feed
  // still lists them (its readers take changes from the log; core/feed.h).
  uint64_t held_by_feed = 0;
};

// What status shows about retention.
struct RetentionStatus {
  RetentionOptions options;   // what retention runs with
  bool have_horizon = false;  // false until some peer acknowledged something
  VersionVector horizon;      // the stability horizon the last run used
  RetentionReport log;        // the log after the last run
  uint64_t runs = 0;
  uint64_t truncated_total = 0;
  uint64_t segments_dropped_total = 0;
  std::string last_error;
};

// The pointwise minimum of `acks`; nullopt when there is none.
std::optional<VersionVector> StabilityHorizon(const std::vector<VersionVector>& acks);

}  // namespace syncline::replication

#endif  // SYNCLINE_REPLICATION_RETENTION_H_
