// The change feed as a node's user sees it (docs/change-feed.md): every change the node stored,
// local or replicated, in the node's commit order, each under a dense sequence number, with its
// collection, key, dot, timestamp and the collection's rendering of its delta.
//
// Consumers name a cursor. A consumer of a node's own feed registers a cursor on that node
// (Node::CommitFeedCursor, or `CommitCursor` on the client protocol); retention keeps every entry
// above the lowest registered cursor, and the node's status reports each consumer's lag.
//
// The transactional outbox: a consumer that projects a feed into a Syncline node of its own writes
// its projection and its position in one transaction (Node::WriteWithCursor), so a crash keeps
// both or neither: a projection neither misses nor applies a change twice. The position is a
// compare-and-set from where the applied entries were read after, so a batch applied twice fails
// with FailedPrecondition instead of applying twice.
//
// Thread-safety: value types.
#ifndef SYNCLINE_NODE_FEED_H_
#define SYNCLINE_NODE_FEED_H_

#include <cstdint>
#include <string>
#include <vector>

#include "syncline/core/dot.h"
#include "syncline/core/feed.h"
#include "syncline/core/hlc.h"

namespace syncline {

struct FeedChange {
  uint64_t seq = 0;        // this node's sequence number of the change (dense, from 1)
  std::string collection;
  std::string key;
  Dot dot;                 // the change's name: (origin replica, counter)
  HlcTimestamp hlc;
  std::string resolver;    // the collection's resolver
  bool local = false;      // made on this node (not received from a peer)
  std::string delta;       // the encoded delta (conflict-format-v1.md)
  std::string rendered;    // the resolver's rendering of the delta: lww the value written
                           // ("<absent>" for a delete), counter the origin's total, set the
                           // elements added, mv the values written
  // A state entry (core::kFeedStateKind): the key's whole state after an anti-entropy repair or a
  // snapshot install merged a peer's state into it or dropped the key, not a change of the log.
  // `dot` is 0:0, `local` false, `delta` the state (join it like a delta), `rendered` the key's
  // value then. `dropped`: the key holds nothing here any more (delta empty, rendered
  // "<dropped>"). Above core::kMaxFeedStateBytes the state is not copied (delta empty, rendered
  // "<state not copied: read the key>").
  bool state = false;
  bool dropped = false;
};

struct FeedBatch {
  std::vector<FeedChange> changes;  // oldest first
  uint64_t after = 0;               // the position this batch was read after
  uint64_t head = 0;                // the node's newest sequence number when read
  uint64_t pruned_through = 0;      // entries at or below were dropped by retention
  // The position to read after next (the last change's seq, or `after` when empty).
  uint64_t next() const { return changes.empty() ? after : changes.back().seq; }
};

// Where a consumer stands, written with its writes by Node::WriteWithCursor.
struct FeedCommit {
  enum class Kind {
    kConsumer,  // a cursor registered on this node's own feed (pins retention here)
    kSource,    // a position in another node's feed, kept here (pins nothing here)
  };
  Kind kind = Kind::kConsumer;
  std::string name;   // 1..64 bytes of [A-Za-z0-9._-]
  uint64_t from = 0;  // the position the applied entries were read after (FeedBatch::after)
  uint64_t to = 0;    // the last entry applied (FeedBatch::next())
};

// Most entries one feed read returns.
inline constexpr size_t kMaxFeedReadEntries = core::kMaxFeedBatchEntries;

}  // namespace syncline

#endif  // SYNCLINE_NODE_FEED_H_
