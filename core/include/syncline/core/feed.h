// Change feed storage: every change a node stores, local or applied from a peer, in the order
// this node committed it, under a dense local sequence number; the named consumer cursors that
// read it; and the retention that keeps what those consumers still need.
//
// The change log (table `log`) is keyed by (origin, counter), which is not the order in which a
// node learned its changes. The feed is that order: WriteTxn::AppendChange also appends the
// change's dot to the feed in the same transaction, so a change is in the feed exactly when it is
// in the store. The feed does not copy the change: one record per transaction lists the dots it
// appended (as runs of consecutive counters), and a reader takes each change from the log. Log
// retention therefore keeps every log entry a retained feed entry names (GetFeedLogPins), and the
// feed has its own retention (PruneFeed).
//
// Table `feeds` layout (docs/change-feed.md):
//   "h"               -> fixed64 head: the sequence number of the newest entry (0: none yet),
//                        written once per transaction however many entries it appended
//   "p"               -> fixed64 pruned-through: every entry at or below it was dropped
//   "r"               -> fixed64 retained tail: entries kept for readers without a cursor
//   "g" + BE64(last)  -> a group: the entries one transaction appended, the newest being `last`:
//                        varint entry count n (entries last - n + 1 .. last), then runs of
//                        fixed64 origin, varint first counter, varint count, in order
//   "x" + BE64(seq)   -> a state entry (AppendStateToFeed): the Change message with no dot, kind
//                        kFeedStateKind, the merged state as payload; a group names it by a run
//                        of origin 0 (first counter 0) instead of its dot
//   "e" + BE64(seq)   -> the encoded change (core::EncodeChange): entries of stores written before
//                        groups, read and pruned as before, no longer written
//   "c" + name        -> fixed64 cursor of a consumer registered on this node's feed: the last
//                        sequence number it has processed; retention keeps every entry above it
//   "s" + name        -> fixed64 source position: where this node's application stands in
//                        another node's feed (the transactional outbox; pins nothing here)
//
// Retention: PruneFeed drops the entries at or below min(lowest registered cursor,
// head - retained tail). It runs inside SetFeedCursor and every kFeedPruneEvery appends, in the
// transaction of the write that triggered it. A consumer that stops reading keeps its entries,
// and with them their log entries: its lag (head - cursor) is reported by ListFeedConsumers, so a
// slow consumer is visible.
//
// Threading: these are functions on a ReadView or WriteTxn; they follow the store's rules (write
// functions run on the store's writer). They keep no state of their own.
#ifndef SYNCLINE_CORE_FEED_H_
#define SYNCLINE_CORE_FEED_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "syncline/core/change.h"
#include "syncline/core/dot.h"
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
// Most groups GetFeedLogPins reads for log retention (a transaction appends one).
inline constexpr size_t kMaxFeedPinGroups = size_t{1} << 18;

// The kind (Change::kind) of a state entry: a key's whole state after an anti-entropy repair or a
// snapshot install into a node that held data merged a peer's state into it, or dropped the key
// (AppendStateToFeed). Its change has no dot (Dot{}), and its payload is the key's state then,
// encoded like a delta of the resolver (conflict-format-v1.md, a state is a delta): joining it
// into the key as a consumer had it gives the key as this node had it. An empty payload: the key
// was dropped (its source had collected it) and holds nothing here now.
inline constexpr uint32_t kFeedStateKind = 0xFFFFFFFEu;
// The kind of a state entry whose state was above kMaxFeedStateBytes and is not copied (empty
// payload): the key changed; read it.
inline constexpr uint32_t kFeedUncopiedStateKind = 0xFFFFFFFDu;
// Largest state a state entry copies.
inline constexpr size_t kMaxFeedStateBytes = size_t{4} << 20;

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

// Appends the change with dot `dot`, which the log holds, as the next entry. Called by
// WriteTxn::AppendChange after its log insert; nothing else needs to.
// The head moves in the transaction and the entries gather in it (WriteTxn::deferred_feed);
// WriteDeferredFeed writes both once, when the store finishes the transaction. Every function
// here that reads the feed in a write transaction sees the moved head and the gathered entries.
Status AppendToFeed(WriteTxn& txn, const Dot& dot);
// Appends a state entry (kFeedStateKind; kFeedUncopiedStateKind above kMaxFeedStateBytes) for
// `key` of `collection` holding `state` (empty: the key was dropped), stored in the feed itself
// (the log holds no change for it) and pruned with the entry. Called in the transaction that
// merges or drops the state.
Status AppendStateToFeed(WriteTxn& txn, std::string_view collection, std::string_view key, std::string_view resolver,
                         std::string_view state, HlcTimestamp hlc);
// Writes the head and the group the transaction's appends built (WriteTxn::FinishDeferred).
Status WriteDeferredFeed(WriteTxn& txn);

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

// The log entries the retained feed entries name: per origin, the lowest counter a retained entry
// refers to. Log retention truncates no origin at or above its pin. `complete` is false when the
// feed holds more than `max_groups` groups (a consumer far behind): the scan stopped, and then
// retention truncates nothing, as any counter may be named further on.
struct FeedLogPins {
  std::vector<std::pair<ReplicaId, uint64_t>> lowest;  // by origin, sorted
  bool complete = true;
};
Result<FeedLogPins> GetFeedLogPins(ReadView& view, size_t max_groups);

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
