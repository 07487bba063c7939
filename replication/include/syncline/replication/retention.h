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

struct RetentionOptions {
  // Truncate at most this often (default every second); 0 disables retention (the log grows).
  int64_t interval_millis = 1000;
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
  uint64_t truncated = 0;  // changes dropped by this run
  bool more = false;       // stopped at the per-transaction bound: more is to be dropped
  // Changes the horizon and the size bound would have dropped, kept because the change feed
  // still lists them (its readers take changes from the log; core/feed.h).
  uint64_t held_by_feed = 0;
};

// What status shows about retention.
struct RetentionStatus {
  bool have_horizon = false;  // false until some peer acknowledged something
  VersionVector horizon;      // the stability horizon the last run used
  RetentionReport log;        // the log after the last run
  uint64_t runs = 0;
  uint64_t truncated_total = 0;
  std::string last_error;
};

// The pointwise minimum of `acks`; nullopt when there is none.
std::optional<VersionVector> StabilityHorizon(const std::vector<VersionVector>& acks);

}  // namespace syncline::replication

#endif  // SYNCLINE_REPLICATION_RETENTION_H_
