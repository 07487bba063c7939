// Change feed storage: every change a node stores, local or applied from a peer, in the order
// this node committed it, under a dense local sequence number; the named consumer cursors that
// read it; and the retention that keeps what those consumers still need.
//
// The change log (table `log`) is keyed by (origin, counter), which is not the order in which a
// node learned its changes. The feed is that order: WriteTxn::AppendChange also appends the change
// to the feed in the same transaction, so a change is in the feed exactly when it is in the store.
// Feed entries hold their own copy of the change, so log truncation never takes a change away
// from a consumer; the feed has its own retention instead (PruneFeed).
//
// Table `feeds` layout (docs/change-feed.md):
//   "h"               -> fixed64 head: the sequence number of the newest entry (0: none yet),
//                        written once per transaction however many entries it appended
//   "p"               -> fixed64 pruned-through: every entry at or below it was dropped
//   "r"               -> fixed64 retained tail: entries kept for readers without a cursor
//   "e" + BE64(seq)   -> the encoded change (core::EncodeChange)
//   "c" + name        -> fixed64 cursor of a consumer registered on this node's feed: the last
//                        sequence number it has processed; retention keeps every entry above it
//   "s" + name        -> fixed64 source position: where this node's application stands in
//                        another node's feed (the transactional outbox; pins nothing here)
//
// Retention: PruneFeed drops the entries at or below min(lowest registered cursor,
// head - retained tail). It runs inside SetFeedCursor and every kFeedPruneEvery appends, in the
// transaction of the write that triggered it. A consumer that stops reading keeps its entries:
// its lag (head - cursor) is reported by ListFeedConsumers, so a slow consumer is visible.
//
// Threading: these are functions on a ReadView or WriteTxn; they follow the store's rules (write
// functions run on the store's writer). They keep no state of their own.
#ifndef SYNCLINE_CORE_FEED_H_
#define SYNCLINE_CORE_FEED_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "syncline/core/change.h"
#include "syncline/core/status.h"
#include "syncline/core/store.h"

namespace syncline::core {

// Entries kept for readers without a cursor, whatever the cursors say (FeedRetention default).
inline constexpr uint64_t kDefaultFeedRetainEntries = 10000;
// How often (in appended entries) the append path prunes.
inline constexpr uint64_t kFeedPruneEvery = 1024;
// Most consumer cursors (and most source positions) one store keeps.
inline constexpr size_t kMaxFeedConsumers = 1024;
// Most entries one ReadFeed returns.
inline constexpr size_t kMaxFeedBatchEntries = 10000;

struct FeedEntry {
  uint64_t seq = 0;
  Change change;
};

struct FeedBounds {
  uint64_t head = 0;            // newest sequence number (0: the feed never had an entry)
  uint64_t pruned_through = 0;  // entries at or below were dropped; the oldest kept is this + 1
  uint64_t retain_entries = kDefaultFeedRetainEntries;
};

struct FeedConsumer {
  std::string name;
  uint64_t cursor = 0;  // last sequence number processed
  uint64_t lag = 0;     // head - cursor: entries it has not processed yet
};

// Checks a consumer (or source position) name: 1..64 bytes of [A-Za-z0-9._-].
Status ValidateFeedName(std::string_view name);

// Appends a change, as EncodeChange gives it, as the next entry. Called by
// WriteTxn::AppendChange; nothing else needs to.
// The head moves in the transaction (WriteTxn::deferred_feed_head), and is written once, by
// WriteDeferredFeedHead, when the store finishes the transaction; every function here that reads
// the head in a write transaction sees the moved one.
Status AppendToFeed(WriteTxn& txn, std::string_view encoded_change);
// Writes the head the transaction's appends moved (WriteTxn::FinishDeferred calls it).
Status WriteDeferredFeedHead(WriteTxn& txn);

Result<FeedBounds> GetFeedBounds(ReadView& view);

// Reads the entries after `after`, oldest first: at most `max_entries` (capped at
// kMaxFeedBatchEntries) and about `max_bytes` of changes (at least one entry when one exists).
// FailedPrecondition if entries after `after` were pruned (the error names the oldest kept);
// InvalidArgument if `after` is beyond the head (a position from another data directory).
Status ReadFeed(ReadView& view, uint64_t after, size_t max_entries, size_t max_bytes,
                std::vector<FeedEntry>* out);

// The cursor of consumer `name`: NotFound if it is not registered.
Result<uint64_t> GetFeedCursor(ReadView& view, std::string_view name);
// Registers `name` at `seq` or moves its cursor forward to `seq`, then prunes. InvalidArgument for
// a bad name or a position beyond the head; FailedPrecondition if `seq` is below the cursor
// (a consumer that re-applies a batch it already committed) or below the pruned entries for a new
// consumer; ResourceExhausted beyond kMaxFeedConsumers.
Status SetFeedCursor(WriteTxn& txn, std::string_view name, uint64_t seq);
// Unregisters `name` (its entries become prunable). Removing an absent consumer is not an error.
Status RemoveFeedCursor(WriteTxn& txn, std::string_view name);
// Every registered consumer, by name, with its lag.
Result<std::vector<FeedConsumer>> ListFeedConsumers(ReadView& view);

// Sets the retained tail (entries kept for readers without a cursor) and prunes.
Status SetFeedRetention(WriteTxn& txn, uint64_t retain_entries);
// Drops the entries nobody needs (see the header comment).
Status PruneFeed(WriteTxn& txn);

// Source positions (the transactional outbox): where this store's owner stands in another
// node's feed, written in the same transaction as the writes that applied those entries.
// Get: NotFound if none is stored. Advance: a compare-and-set from `from` (the position the
// applied entries were read after; 0 when none is stored) to `to` >= `from`; FailedPrecondition
// if the stored position is not `from`, so a batch applied twice (a retry after a crash, a second
// worker) fails as a whole instead of applying twice.
Result<uint64_t> GetSourcePosition(ReadView& view, std::string_view name);
Status AdvanceSourcePosition(WriteTxn& txn, std::string_view name, uint64_t from, uint64_t to);

}  // namespace syncline::core

#endif  // SYNCLINE_CORE_FEED_H_
