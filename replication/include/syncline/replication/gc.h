// Garbage collection: dropping tombstones and causal metadata below the stability horizon.
//
// A delete leaves a tombstone (lww) or an empty state that still remembers its causal context
// (mv, set, map); sibling histories stay attached to values. Both are only needed until every
// replica has applied the changes they describe. The replicator computes the stability horizon
// (retention.h: the pointwise minimum of what every peer acknowledged, and of this node's own
// vector) and runs a collection pass at an interval: every key's state goes through its
// resolver's Collect (conflict/resolver.h), a key whose every change is stable and that holds no
// value is removed entirely, and kept states lose the metadata the horizon makes unnecessary. A
// pass walks the data table in bounded transactions (GcOptions::max_keys_per_txn), resuming where
// the previous one stopped, so the store's single writer is never held for long.
//
// Fencing. A peer that stays silent holds the horizon back, and with it every collection. After
// GcOptions::fence_after_millis without hearing from it, the peer is fenced: its acknowledgement
// no longer counts, the horizon (and log truncation) moves on without it, and it is listed as
// fenced in status. When it comes back, its log position lies below the floor, so it re-bootstraps
// from a snapshot; and states it still holds for keys the others collected are recognised as
// stale (Resolver::SeenBy against the receiver's node context) instead of being merged back, by
// snapshot installs, anti-entropy repairs and the snapshot install on the returning node itself
// (which drops local keys the source had seen and no longer holds). Deleted keys stay deleted.
// See docs/garbage-collection.md.
//
// Thread-safety: value types.
#ifndef SYNCLINE_REPLICATION_GC_H_
#define SYNCLINE_REPLICATION_GC_H_

#include <cstdint>
#include <map>
#include <string>

#include "syncline/core/version_vector.h"

namespace syncline::replication {

struct GcOptions {
  // Start a collection pass at most this often (default every 60 s); 0 disables collection.
  int64_t interval_millis = 60'000;
  // Look at most this many keys per write transaction (default 10,000); the pass continues in
  // further transactions at once, with other writes in between.
  uint64_t max_keys_per_txn = 10'000;
  // Fence a peer not heard from for this long (default 24 h): its acknowledgement stops holding
  // the horizon back. 0: never fence (a peer that never returns then stops collection and log
  // truncation below what it acknowledged).
  int64_t fence_after_millis = 24LL * 3600 * 1000;
};

// What one collection transaction did.
struct GcReport {
  uint64_t scanned = 0;   // keys looked at
  uint64_t removed = 0;   // keys removed entirely (tombstones and empty states)
  uint64_t dropped = 0;   // pieces of metadata dropped from kept states
  std::string next;       // data-table key the pass resumes at; empty: the pass is complete
};

// What status shows about collection.
struct GcStatus {
  bool have_horizon = false;
  VersionVector horizon;                     // the horizon of the last transaction
  uint64_t passes = 0;                       // complete passes over the data table
  uint64_t txns = 0;
  uint64_t scanned_total = 0;
  uint64_t removed_total = 0;
  uint64_t dropped_total = 0;
  bool running = false;                      // a pass is in progress
  std::map<std::string, int64_t> fenced;     // fenced peer -> wall-clock millis when fenced
  // Every peer heard from -> wall-clock millis it was last connected (now, while it is). Persisted
  // (table peers, "seen/<node id>") with the acknowledgements, so the fence's absence clock
  // runs on across restarts of this node.
  std::map<std::string, int64_t> last_heard;
  uint64_t fenced_total = 0;                 // peers fenced since start
  std::string held_back;                     // why the last pass had no horizon, if it had none
  std::string last_error;
};

}  // namespace syncline::replication

#endif  // SYNCLINE_REPLICATION_GC_H_
