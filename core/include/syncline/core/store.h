// Store: the local, transactional, ordered key-value store every Syncline node keeps its
// data, change log and replication metadata in.
//
// Two implementations pass one shared test suite: the LMDB store (production; see
// lmdb_store.h) and the in-memory store (unit tests and the simulator; memory_store.h).
//
// Tables. A store has the named tables of DESIGN.md:
//   data  (collection + key -> state and causal metadata)
//   log, log2 (origin + counter -> change; see change.h and the log helpers below): the change
//         log in two segments. Appends go to the active one (meta "log.active"); retention
//         seals a filled segment and later drops it whole (docs/snapshot-and-retention.md)
//   meta  (node ids, mode, epoch, counters, version vector)
//   peers (what each peer has acknowledged)
//   feeds (change-feed consumer cursors)
//   journal (the conflict journal: sequence -> entry; see conflict/journal.h)
//   index (the anti-entropy item index and its range sums, kept beside data by the replica;
//          docs/anti-entropy.md)
// Keys are ordered bytewise. Every stored value is wrapped in a record carrying a format
// version and a checksum over table, key and value; every read verifies it and reports a
// mismatch as Corruption naming the table and key, never returning the bytes.
//
// Writes. All writes go through Submit(): the function runs on the store's single writer,
// inside a transaction shared with other queued writes (group commit). Its effects commit
// atomically; `done` is called with OK only after that commit is durable (durable mode:
// synced to disk; no-sync mode: written to the OS, which survives a process crash but not
// an OS crash). If the function returns an error, its effects are discarded, `done` gets
// that error, and the rest of the group is unaffected. If the commit itself fails (full
// map, full disk, I/O error), every write of the group gets the error and none is applied.
//
// Staged writes. SubmitStaged() reports a write's outcome twice: `committed` as soon as its
// transaction committed (its effects are visible to reads from then on) or failed, on the
// writer before it starts the next transaction, like Submit's `done`; and `durable` once the
// commit is on disk, or with the same error if it failed. In durable mode the LMDB store writes
// the next transaction while the last one's final sync runs on a sync thread, so nothing that
// leaves the node (an acknowledgement, a shipped change of our own) may depend on a staged
// write before its `durable` callback. `durable` callbacks run in commit order. A write
// submitted with Submit still gets `done` once durable and before the writer starts the next
// transaction, and its function runs only after every earlier transaction's callbacks have
// run. If a sync fails, the writes it covered get the error in `durable` (their effects may or
// may not survive an OS crash) and the store refuses every later write with Unavailable until
// it is reopened.
//
// A write function may run more than once (the writer re-runs a group without a function
// that failed, or after growing the map), so it must act only through the WriteTxn it is given
// and keep no side effects of its own until `done` reports the outcome.
//
// Threading. Submit, Write, Read and the convenience calls may be used from any thread.
// Write functions and `committed` callbacks run on the writer thread, `done` and `durable`
// callbacks on the writer or the sync thread (for the in-memory store: all inline on the
// caller's thread); none of them may block on the store, e.g. by waiting for the future of
// another write. Read functions run on the caller's thread against a consistent
// snapshot. The number of queued writes is bounded; Submit blocks while the queue is full.
#ifndef SYNCLINE_CORE_STORE_H_
#define SYNCLINE_CORE_STORE_H_

#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "syncline/core/change.h"
#include "syncline/core/ids.h"
#include "syncline/core/status.h"

namespace syncline::core {

enum class Table : uint8_t {
  kData = 0,
  kLog = 1,
  kMeta = 2,
  kPeers = 3,
  kFeeds = 4,
  kJournal = 5,
  kIndex = 6,
  kLog2 = 7,
};
inline constexpr int kNumTables = 8;
// The change log's two segments, by segment number (0, 1).
inline constexpr Table kLogSegments[2] = {Table::kLog, Table::kLog2};
std::string_view TableName(Table table);

// Largest key the store accepts in any table (LMDB's compile-time limit is 511).
inline constexpr size_t kMaxStoreKeyBytes = 480;

// A printable rendering of a stored key for error messages: printable ASCII as it is, other
// bytes as \xNN, cut after 64 bytes.
std::string PrintableKey(std::string_view key);

// Visits one entry of a scan; returns false to stop the scan early.
using ScanVisitor = std::function<bool(std::string_view key, std::string_view value)>;

// A consistent, read-only view of the store.
class ReadView {
 public:
  virtual ~ReadView() = default;

  // The value under `key`: NotFound if absent, Corruption if its record fails its checksum.
  virtual Result<std::string> Get(Table table, std::string_view key) = 0;
  // Get for a key that may well be absent: nullopt instead of a NotFound status, so no error
  // message is built for it (the write path asks this of every key it creates). The stores
  // override it; this default is built on Get.
  virtual Result<std::optional<std::string>> Find(Table table, std::string_view key);

  // Visits the entries with begin <= key < end in key order (an empty `end` means "to the
  // last key"). Stops at the first corrupt record with Corruption naming it.
  virtual Status Scan(Table table, std::string_view begin, std::string_view end,
                      const ScanVisitor& visit) = 0;
  // How many keys `table` holds. The stores answer at once; this default counts with a scan.
  virtual Result<uint64_t> CountEntries(Table table);
  // The greatest key with begin <= key < end (empty `end`: no upper bound); nullopt when there
  // is none. The stores seek backwards; this default scans the range.
  virtual Result<std::optional<std::string>> LastKey(Table table, std::string_view begin, std::string_view end);

  // Change-log helpers (shared by all implementations, built on Get/Scan). Each reads both
  // segments of the log; an origin's changes come back in counter order whichever segment
  // holds them.
  // Reads changes of `origin` with counter in [from, to] (inclusive), at most `limit`.
  Status ReadLog(ReplicaId origin, uint64_t from, uint64_t to, size_t limit,
                 std::vector<Change>* out);
  // ReadLog without decoding: the entries as stored, at most `limit` of them and, past the
  // first, no more than `max_bytes` of encoding in all.
  Status ReadLogEncoded(ReplicaId origin, uint64_t from, size_t limit, size_t max_bytes,
                        std::vector<EncodedChange>* out);
  // The change named `dot`: NotFound if it is not in the log (never written, or truncated).
  Result<Change> GetChange(const Dot& dot);
  // The lowest and highest counter of `origin` in the log; NotFound if it has none.
  Result<std::pair<uint64_t, uint64_t>> LogBounds(ReplicaId origin);
  // The origins that have at least one change in the log, in order.
  Result<std::vector<ReplicaId>> LogOrigins();
  // The origins with at least one change in one segment (0 or 1) of the log, in order.
  Result<std::vector<ReplicaId>> SegmentOrigins(int segment);
  // The lowest and highest counters of `origin` at or above `from` in one segment (0 or 1) of
  // the log, from a forward and a backward seek; nullopt when the segment holds none.
  Result<std::optional<std::pair<uint64_t, uint64_t>>> SegmentBounds(int segment, ReplicaId origin, uint64_t from = 0);
  // The stored encoding of the change named `dot`, from whichever segment holds it; nullopt
  // when neither does.
  Result<std::optional<std::string>> FindLogEntry(const Dot& dot);
};

// A write transaction; valid only inside the write function it was passed to.
class WriteTxn : public ReadView {
 public:
  // Stores `value` under `key`, replacing any earlier value. InvalidArgument if the key is
  // empty or longer than kMaxStoreKeyBytes or the value is above the store's value limit.
  virtual Status Put(Table table, std::string_view key, std::string_view value) = 0;
  // Put for a key that sorts above every key the table holds (keys written in order into an
  // empty or lower range, e.g. a snapshot install on a new node): cheaper, and LMDB fills its
  // pages instead of splitting them in half. FailedPrecondition naming the key, with nothing
  // written, when the table holds that key or a greater one.
  virtual Status Append(Table table, std::string_view key, std::string_view value) = 0;
  // Put for a key the table must not hold yet: AlreadyExists naming the key, with nothing
  // written, when it does. One lookup instead of a Get and a Put.
  virtual Status Insert(Table table, std::string_view key, std::string_view value) = 0;
  // Removes `key`; removing an absent key is not an error.
  virtual Status Delete(Table table, std::string_view key) = 0;
  // Removes every key with begin <= key < end (empty `end`: to the last key).
  virtual Status DeleteRange(Table table, std::string_view begin, std::string_view end) = 0;
  // Removes every key of `table`. The LMDB store frees the table's pages without reading its
  // leaves (mdb_drop), so it costs far less than deleting the keys one by one; this default
  // deletes them.
  virtual Status Clear(Table table);

  // Appends `change` to the log under its dot. The data the change describes must be written
  // in the same write function, so both commit or neither does. AlreadyExists if the log
  // holds that dot already. The change is also appended to the change feed (feed.h), which
  // refers to the log entry by its dot.
  Status AppendChange(const Change& change);
  // The same, with the change's encoding at hand (the bytes `change` was decoded from, as a
  // peer shipped them): the log stores them as they are instead of encoding the change again.
  // `encoded` must decode to `change`.
  Status AppendChange(const Change& change, std::string_view encoded);
  // Drops the changes of `origin` with counter < `below` from both segments. The change feed
  // reads its entries from the log: callers keep what GetFeedLogPins (feed.h) names.
  Status TruncateLog(ReplicaId origin, uint64_t below);
  // The same in one segment (0 or 1) only.
  Status TruncateLogSegment(int segment, ReplicaId origin, uint64_t below);
  // Replaces the stored encoding of the change named `dot` in the segment that holds it (the
  // active one when neither does). Not appended to the feed.
  Status ReplaceLogEntry(const Dot& dot, std::string_view encoded);
  // The segment (0 or 1) appends go to: meta "log.active", 0 when absent. Read once per
  // transaction.
  Result<int> ActiveLogSegment();
  // Makes the other segment the active one; the caller makes sure it is empty.
  Status SwitchLogSegment();

  // Writes what this transaction kept back to its end: the change feed's head and the one feed
  // record listing every change the transaction appended, which appends build here (feed.cc)
  // instead of writing records once per change. Every store calls it once, after the last write
  // function of a transaction and before committing.
  Status FinishDeferred();

  // Consecutive counters of one origin, appended to the feed one after the other.
  struct FeedRun {
    ReplicaId origin;
    uint64_t first = 0;  // counter of the first change
    uint64_t count = 0;  // changes: counters first .. first + count - 1
  };
  // The feed as this transaction's appends left it, not yet written (feed.cc only): the head,
  // and the entries appended, from sequence number `first`, as runs of their dots.
  struct DeferredFeed {
    bool pending = false;
    uint64_t head = 0;
    uint64_t first = 0;
    std::vector<FeedRun> runs;
  };
  DeferredFeed& deferred_feed() { return deferred_feed_; }

 private:
  DeferredFeed deferred_feed_;
  int active_log_ = -1;  // ActiveLogSegment, once read in this transaction
};

using WriteFn = std::function<Status(WriteTxn&)>;
using WriteDone = std::function<void(Status)>;
using ReadFn = std::function<Status(ReadView&)>;

struct StoreStats {
  uint64_t writes_committed = 0;   // write functions that committed
  uint64_t writes_failed = 0;      // write functions whose error was returned
  uint64_t groups_committed = 0;   // transactions committed (one data sync each in durable mode)
  uint64_t syncs = 0;              // final syncs by the sync thread (each covers every commit before it)
  uint64_t queue_depth = 0;        // writes waiting for the writer now
  uint64_t map_size_bytes = 0;     // LMDB map size (0 for the in-memory store)
  uint64_t map_grow_count = 0;     // how often the map was grown
};

class Store {
 public:
  virtual ~Store() = default;

  // The replica id of this store: drawn at random when the store was created, kept in meta.
  virtual ReplicaId replica_id() const = 0;

  // Queues `fn` for the writer; `done` receives the outcome (see the header comment).
  // After Close(), `done` receives Unavailable at once.
  virtual void Submit(WriteFn fn, WriteDone done) = 0;

  // Queues `fn` with its outcome reported in two steps (see "Staged writes" above). The default,
  // for stores whose commit is durable at once, calls both from Submit's `done`.
  virtual void SubmitStaged(WriteFn fn, WriteDone committed, WriteDone durable);

  // Runs `fn` on a consistent snapshot. Errors from `fn` are returned as they are.
  virtual Status Read(const ReadFn& fn) = 0;

  // Waits until every write submitted before the call has completed.
  virtual void Flush() = 0;

  // True on the threads that run write functions and callbacks (the writer and the sync
  // thread), where a caller must not wait for room in a queue only they drain. The in-memory
  // store runs them inline on the caller's thread and answers false.
  virtual bool OnWriterThread() const { return false; }

  // Finishes queued writes, stops the writer and releases the files. Idempotent.
  virtual Status Close() = 0;

  virtual StoreStats stats() const = 0;

  // Conveniences built on Submit and Read.
  std::future<Status> Write(WriteFn fn);
  Status WriteAndWait(WriteFn fn);
  Status Put(Table table, std::string_view key, std::string_view value);
  Status Delete(Table table, std::string_view key);
  Result<std::string> Get(Table table, std::string_view key);
};

}  // namespace syncline::core

#endif  // SYNCLINE_CORE_STORE_H_
