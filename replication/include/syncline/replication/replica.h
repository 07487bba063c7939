// Replica: one node's data engine. It turns typed writes into deltas and changes, applies
// changes received from peers through each collection's resolver, and keeps the node's causal
// context (which changes it holds), all inside store transactions.
//
// Every local write and every applied batch is one Submit() on the store: the new state, the
// change appended to the log under its dot, the node context and any conflict-journal entry
// commit together or not at all, and `done` runs only after the commit is durable (as the store
// defines it). A change whose dot the context already holds is skipped, so duplicated, reordered
// and replayed deliveries change nothing.
//
// Collections are named key spaces with a resolver ("lww", "mv", "counter", "set", "map" or a
// custom name registered in the registry). A collection is created explicitly, or implicitly
// when the first change for it arrives from a peer (the change names its resolver). A
// collection's resolver never changes; a change that names another one is refused.
//
// Data layout (table `data`): under conflict::DataKeyPrefix(collection, key), sets and maps keep
// their record layout (conflict/record_layout.h); the other types keep one record "s" holding
// the encoded state. Table `meta` holds "collection/<name>" -> resolver name, "context" -> the
// node's DotContext and "hlc" -> the last HLC timestamp handed out.
//
// Threading: every method may be called from any thread. `done` callbacks and the commit
// hook run on the store's writer thread (the caller's thread for the in-memory store); they must
// not block on the store.
#ifndef SYNCLINE_REPLICATION_REPLICA_H_
#define SYNCLINE_REPLICATION_REPLICA_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "syncline/conflict/journal.h"
#include "syncline/conflict/map.h"
#include "syncline/conflict/resolver.h"
#include "syncline/core/clock.h"
#include "syncline/core/dot_context.h"
#include "syncline/core/hlc.h"
#include "syncline/core/store.h"
#include "syncline/replication/anti_entropy.h"
#include "syncline/replication/gc.h"
#include "syncline/replication/log_shipping.h"
#include "syncline/replication/retention.h"
#include "syncline/replication/snapshot.h"

namespace syncline::replication {

namespace internal {
class IndexUpdates;
class UndoKeyRecords;
struct StateTarget;
using StateTargets = std::map<std::string, StateTarget, std::less<>>;
}  // namespace internal

// A change that carries no data: it names a dot whose change a promotion left behind
// (leader_follower.h). Applying it only records the dot.
inline constexpr uint32_t kVoidChangeKind = 0xFFFFFFFFu;

// The type of a collection, from its resolver name: "lww", "mv", "counter", "set", "map";
// anything else is kCustom (a full Resolver given deltas by the application, or a value
// resolver using the mv layout).
enum class CollectionType : uint32_t { kLww = 1, kMv = 2, kCounter = 3, kSet = 4, kMap = 5, kCustom = 6 };
CollectionType TypeOfResolver(std::string_view resolver);

// One typed mutation. Which kinds a collection accepts depends on its type:
//   lww: Put, Delete            mv and value resolvers: Put, Delete (with the read's token)
//   counter: Add                set: AddElement, RemoveElement
//   map: SetField, IncrementField, AddToField, RemoveFromField, RemoveField
//   custom (full Resolver): MergeDelta, an encoded delta the application built itself
struct WriteOp {
  enum class Kind {
    kPut, kDelete, kAdd, kAddElement, kRemoveElement,
    kSetField, kIncrementField, kAddToField, kRemoveFromField, kRemoveField, kMergeDelta,
  };
  Kind kind = Kind::kPut;
  std::string value;           // Put value, set element, map register value or element, delta
  int64_t amount = 0;          // Add, IncrementField
  conflict::FieldPath path;    // map operations
  VersionVector token;         // mv: the token of the read this write replaces (empty: blind)

  static WriteOp Put(std::string value, VersionVector token = {});
  static WriteOp Delete(VersionVector token = {});
  static WriteOp Add(int64_t amount);
  static WriteOp AddElement(std::string element);
  static WriteOp RemoveElement(std::string element);
  static WriteOp SetField(conflict::FieldPath path, std::string value);
  static WriteOp IncrementField(conflict::FieldPath path, int64_t amount);
  static WriteOp AddToField(conflict::FieldPath path, std::string element);
  static WriteOp RemoveFromField(conflict::FieldPath path, std::string element);
  static WriteOp RemoveField(conflict::FieldPath path);
  static WriteOp MergeDelta(std::string delta);
};

struct WriteResult {
  Dot dot;           // the change's name in the log
  HlcTimestamp hlc;  // its timestamp
};

// One write of a batch (Replica::WriteBatch).
struct KeyedWrite {
  std::string collection;
  std::string key;
  WriteOp op;
};

// What a read returns. `values` holds, by type: lww the value (none when absent or deleted);
// mv and value resolvers every sibling; set the elements in order. `counter` is a counter's
// value; `rendered` the resolver's canonical text of the whole state; `token` the context to
// write an mv register back with.
struct ReadResult {
  bool found = false;
  std::vector<std::string> values;
  int64_t counter = 0;
  std::string rendered;
  VersionVector token;
  std::string state;  // the encoded state (sets and maps: assembled from their records)
};

struct ApplyStats {
  uint64_t applied = 0;     // changes merged
  uint64_t duplicates = 0;  // changes the context already held
  uint64_t conflicts = 0;   // merges that settled a concurrency (journaled)
};

struct ReplicaStats {
  uint64_t local_writes = 0;
  uint64_t changes_applied = 0;
  uint64_t duplicates = 0;
  uint64_t conflicts = 0;
  uint64_t write_errors = 0;
  uint64_t hlc_refused = 0;  // remote timestamps beyond the drift bound (not adopted)
  uint64_t orphaned = 0;     // changes taken back after a promotion left them behind (journaled)
  // Peer states (snapshot chunks, anti-entropy) for keys collected here, recognised as stale
  // and not merged back (gc.h), and local keys a snapshot install dropped because the source
  // had seen every change of them and no longer held them.
  uint64_t stale_states_skipped = 0;
  uint64_t stale_keys_dropped = 0;
  uint64_t dot_waiters = 0;  // WhenHeld callers waiting now
};

struct ReplicaOptions {
  // Wall and monotonic time (default: the system clock). Not owned.
  Clock* clock = nullptr;
  HlcOptions hlc;
  // Resolvers by name (default: the built-ins).
  std::shared_ptr<const conflict::ResolverRegistry> registry;
  // Largest value, element or delta a write accepts. Default 1 MiB.
  size_t max_value_bytes = size_t{1} << 20;
  conflict::JournalOptions journal;
  // The cluster secret the anti-entropy item index is keyed with (DeriveIndexKey); every replica
  // of a cluster must use the same one (the node passes its cluster secret). Changing it
  // rebuilds the index at the next open.
  std::string index_secret;
  // Open checks the stored item index and rebuilds it when needed (one write transaction over
  // the whole data). False only for read-only use (inspect): the index is then neither built
  // nor updated, and WithItemIndex is refused.
  bool build_item_index = true;
  // Rebuild the item index at open even when it carries the right key: the repair for an index
  // that `syncline inspect --secret-file` found not to match the data.
  bool rebuild_item_index = false;
  // Local writes (Write) wait in a queue and are applied together, up to max_writes_per_commit
  // in one write function: such a commit reads and writes the node's context, clock and item
  // index blocks once for all of them. Write waits while max_queued_writes are queued (except on
  // the store's writer thread, which is the one that drains the queue).
  size_t max_writes_per_commit = 4096;
  size_t max_queued_writes = 65536;
  // Callers of WhenHeld waiting at once, at most; a further one is refused (ResourceExhausted).
  size_t max_dot_waiters = 65536;
};

class Replica final : public ChangeSource, public SnapshotSource {
 public:
  // Loads the node context and collections from `store` (not owned; must outlive the replica).
  static Result<std::unique_ptr<Replica>> Open(core::Store* store, ReplicaOptions options);
  ~Replica() override;

  ReplicaId id() const { return id_; }
  core::Store* store() const { return store_; }
  const conflict::ResolverRegistry& registry() const { return *registry_; }

  // Creates `name` with `resolver`. OK if it exists with that resolver already;
  // FailedPrecondition if it exists with another; NotFound if the resolver is unknown.
  Status CreateCollection(std::string_view name, std::string_view resolver);
  // The resolver of `collection`, or NotFound.
  Result<std::string> ResolverOf(std::string_view collection) const;
  // Every collection and its resolver, by name.
  std::map<std::string, std::string> Collections() const;

  // Applies `op` to `collection`/`key` as a new local change. `done` gets the change's dot and
  // timestamp once it committed, or the error (InvalidArgument for a bad op or size, NotFound for
  // an unknown collection, or the store's error), and nothing was applied then. Writes commit in
  // the order they were called, together with others queued at the time (see
  // ReplicaOptions::max_writes_per_commit); one write's error fails that write alone.
  using WriteDone = std::function<void(Result<WriteResult>)>;
  void Write(std::string collection, std::string key, WriteOp op, WriteDone done);
  Result<WriteResult> WriteAndWait(std::string collection, std::string key, WriteOp op);

  // Applies `writes` in order as local changes and then runs `also`, all in one transaction: every
  // change and whatever `also` wrote commit together or not at all. This is the transactional
  // outbox of the change feed: `also` stores the consumer's position (core/feed.h) with the writes
  // that applied it. `also` may be empty; it runs on the writer thread and may run more than once
  // (see Store::Submit). `done` gets the dots in the order of `writes`, or the first error (the
  // failing write named), and nothing was applied then. At most kMaxBatchWrites writes.
  static constexpr size_t kMaxBatchWrites = 1024;
  using BatchDone = std::function<void(Result<std::vector<WriteResult>>)>;
  void WriteBatch(std::vector<KeyedWrite> writes, core::WriteFn also, BatchDone done);
  Result<std::vector<WriteResult>> WriteBatchAndWait(std::vector<KeyedWrite> writes, core::WriteFn also);

  // Reads a key on a consistent snapshot.
  Result<ReadResult> Read(std::string_view collection, std::string_view key);

  // Merges `changes` from a peer in one transaction, skipping those already held. A change for an
  // unknown collection creates it with the resolver it names; a change naming another resolver
  // than the collection's, or whose delta does not decode, fails the whole batch (nothing is
  // applied) with an error naming the change.
  using ApplyDone = std::function<void(Result<ApplyStats>)>;
  void ApplyChanges(std::vector<core::Change> changes, ApplyDone done);
  // The same, with each change's encoding as it arrived (`encoded[i]` decodes to `changes[i]`):
  // the log and feed keep those bytes instead of encoding the changes again. `encoded` is empty or
  // as long as `changes` (otherwise the batch fails with InvalidArgument).
  void ApplyChanges(std::vector<core::Change> changes, std::vector<std::string> encoded, ApplyDone done);

  // The node context: every change (dot) this replica holds durably. This is what it ships,
  // advertises to publishers and acknowledges.
  DotContext Context() override;
  DotContext Context() const;
  // Every change readable here: Context() and the changes committed but not yet reported durable
  // by the store (store.h, staged writes). A client that wrote elsewhere can wait for its dot to
  // show here before it reads (read-your-writes across nodes). Always includes Context().
  DotContext AppliedContext() const;

  // Reads changes of `origin` from counter `from` on, at most `max_changes` of them and about
  // `max_bytes` of payload (at least one change when there is one).
  Status ReadLog(ReplicaId origin, uint64_t from, size_t max_changes, size_t max_bytes,
                 std::vector<core::Change>* out) override;
  Status ReadLogEncoded(ReplicaId origin, uint64_t from, size_t max_changes, size_t max_bytes,
                        std::vector<core::EncodedChange>* out) override;

  // A digest of the logical state of every collection: equal on replicas holding equal states.
  // 32 hex digits. O(data).
  Result<std::string> Digest();
  // Every key of every collection with its canonical rendering, sorted (for dumps and diffs).
  Status Dump(const std::function<void(std::string_view collection, std::string_view key,
                                       std::string_view rendered)>& visit);
  // One page of Dump: keys of `collection` (every collection if empty) after (`after_collection`,
  // `after_key`) (from the start if `after_collection` is empty), at most `limit` of them.
  // `*more` tells whether keys remain.
  Status DumpPage(std::string_view collection, std::string_view after_collection, std::string_view after_key,
                  size_t limit,
                  const std::function<void(std::string_view collection, std::string_view key,
                                           std::string_view rendered)>& visit,
                  bool* more);

  ReplicaStats stats() const;
  HlcTimestamp Now();

  // Sets the function called on the writer thread after each committed local write or batch that
  // applied something (publishers use it to stream new changes). It must not block. Replaces any
  // earlier one; an empty function removes it.
  void SetCommitListener(std::function<void()> listener);
  // Adds a further function called like the commit listener (after it), for other parties than
  // the publishers (the node's change-feed listeners); returns an id for RemoveCommitListener.
  // A listener may still be running when RemoveCommitListener returns.
  uint64_t AddCommitListener(std::function<void()> listener);
  void RemoveCommitListener(uint64_t id);

  // How far a change has got on this replica (WhenHeld).
  enum class DotStage {
    kApplied,  // readable here (AppliedContext)
    kDurable,  // held durably (Context): what is shipped, advertised and acknowledged
  };
  // Calls `done` with Ok once the change `dot` has reached `stage` here: at once, on the calling
  // thread, when it already has; otherwise on the thread that gets it there (the store's writer
  // thread right after the commit for kApplied, the thread that reports the commit durable for
  // kDurable, the thread completing a snapshot install), so `done` must be quick and must not
  // wait for the store. A client that wrote on another node waits here for its write's dot
  // before it reads (read-your-writes across nodes) without polling AppliedContext; the
  // replication benchmark times the lag with it. At most ReplicaOptions::max_dot_waiters wait
  // at once: beyond that `done` gets ResourceExhausted at once. Waiters still waiting when the
  // replica is destroyed get Unavailable. Returns a handle for CancelWhenHeld, or 0 when `done`
  // was called at once.
  uint64_t WhenHeld(const Dot& dot, DotStage stage, std::function<void(Status)> done);
  // Forgets the waiter `handle` names: true when it was still waiting, and its `done` is then
  // never called; false when it was told already (or `handle` is unknown). A caller that stops
  // waiting (a timeout) cancels, so that its waiter does not count against max_dot_waiters.
  bool CancelWhenHeld(uint64_t handle);

  // Leader-follower mode (leader_follower.h). While undo is on, every local write and every
  // applied change also stores an undo entry in the same transaction (meta "undo/<seq>": the
  // records of the key it changed, as they were before), so that it can be taken back.
  void SetUndo(bool on);
  bool undo() const;
  // Takes back, newest first, every change with an undo entry for which `orphan` is true: its
  // key's records are restored, the change goes to the conflict journal (outcome `why`) and its
  // log entry becomes a void change (kVoidChangeKind), so the dot stays held and is shipped as
  // "nothing". `done` (writer thread) gets the number taken back, or the store's error (then
  // nothing changed).
  void RollBack(std::function<bool(const Dot&)> orphan, std::string why, std::function<void(Result<uint64_t>)> done);
  // Drops the undo entries of changes for which `settled` is true (they can no longer be left
  // behind by a promotion).
  void PruneUndo(std::function<bool(const Dot&)> settled, std::function<void(Status)> done);

  // Snapshot bootstrap (snapshot_install.cc; see snapshot.h). While a snapshot is partly
  // installed the replica serves nothing: Read, DumpPage and local writes return Unavailable,
  // publishers send nothing and snapshot requests are refused.
  bool Serving() override;
  // Reads the states of the keys from data-table key `begin` on, about `max_bytes` of them, with
  // the node's version vector, from one consistent view.
  Status ReadSnapshotChunk(std::string_view begin, size_t max_bytes, SnapshotChunkData* out) override;
  // The same as packed data-table records (SnapshotChunkData::records), whole keys only.
  Status ReadSnapshotRecords(std::string_view begin, size_t max_bytes, SnapshotChunkData* out) override;
  // Merges `chunk` (received from `source`, starting at `begin`) into the data through the
  // collections' resolvers and records the progress, in one transaction (packed records go in
  // as they are when this node holds no data from `begin` on and has seen nothing yet: a new
  // node); the last chunk also
  // adds the meet of the chunks' vectors to the node context and ends the install. `done`
  // (writer thread) gets FailedPrecondition if `begin` is not where the recorded install
  // stopped or a collection exists here with another resolver, Corruption for a state that does
  // not decode, or the store's error; nothing was applied then.
  void InstallSnapshotChunk(std::string source, std::string begin, SnapshotChunkData chunk,
                            std::function<void(Status)> done);
  SnapshotProgress snapshot_progress() const;

  // Anti-entropy (replica_repair.cc; see anti_entropy_options.h and docs/anti-entropy.md).
  // The item index is kept in the store's `index` table and updated by every write, in the
  // write's transaction (docs/anti-entropy.md, "The item index"). Runs `fn` over it, as of one
  // read transaction; `fn`'s error comes back as it is. FailedPrecondition when the replica was
  // opened without building it (ReplicaOptions::build_item_index), Unavailable while a snapshot
  // is being installed.
  Status WithItemIndex(const std::function<Status(const ItemIndex&)>& fn);
  // Runs one Reconciler `call` with `bound` set to the stored index (WithItemIndex) during it.
  Status CallWithItemIndex(BoundItemIndex& bound, const std::function<Status()>& call);
  // Compares the stored item index with one computed from the data: Corruption naming the first
  // difference. O(data); for tests and scrubs.
  Status CheckItemIndex() const;
  // The key the item index's hashes are keyed with (DeriveIndexKey of ReplicaOptions::index_secret).
  const AntiEntropyKey& index_key() const { return index_key_; }
  // Items (keys) the index held when the replica was opened, and whether it was rebuilt then.
  uint64_t index_items_at_open() const { return index_items_at_open_; }
  bool index_rebuilt_at_open() const { return index_rebuilt_at_open_; }
  // Reads the whole encoded states of `item_keys` from one read transaction into `out` (entries in
  // the order asked, with their collections' resolvers and this node's version vector); a key
  // not held here (or unknown collection) goes to `*missing`. Stops once `max_bytes` of keys and
  // states were read (at least one key is answered); the keys not answered are in neither.
  // Corruption for an item key that is not of MakeItemKey form.
  Status ReadStates(const std::vector<std::string>& item_keys, size_t max_bytes, SnapshotChunkData* out,
                    std::vector<std::string>* missing);
  // Merges whole states received from `source` into the data through the collections'
  // resolvers (a join, as InstallSnapshotChunk does; a collection unknown here is created with
  // the resolver named), in one transaction. The node context and the log are not changed: the
  // states carry their own causal metadata, and changes later shipped for them merge as
  // duplicates would. `done` (writer thread) gets the number of keys merged, or
  // FailedPrecondition for a resolver mismatch, Corruption for a state that does not decode,
  // Unavailable while a snapshot is being installed, or the store's error; nothing was merged
  // then.
  void MergeStates(std::string source, SnapshotChunkData states, std::function<void(Result<uint64_t>)> done);
  // Anti-entropy's counterpart of a snapshot install's dropping (gc.h): the peer whose node
  // context covers `peer_vv` holds none of `item_keys`. Each of them held here whose every change
  // that vector covers (Resolver::SeenBy) was collected there, so it is removed here too, in one
  // transaction. `done` (writer thread) gets the number removed (also counted in
  // ReplicaStats::stale_keys_dropped), Corruption for an item key that does not parse, or
  // Unavailable while a snapshot is being installed.
  void DropStale(std::vector<std::string> item_keys, VersionVector peer_vv, std::function<void(Result<uint64_t>)> done);

  // Log retention (log_retention.cc; see retention.h). The counters per origin that may be
  // missing from the log (truncated, or installed by a snapshot): a subscriber lacking any of
  // them gets SnapshotNeeded.
  VersionVector LogFloor() override;
  // Truncates each origin's log below `horizon` (what every known peer acknowledged; none: no
  // horizon bound) and to at most `max_changes_per_origin` changes, never above this node's own
  // contiguous prefix, raising the floor in the same transaction. Returns what the log holds
  // afterwards.
  // At most `max_truncate` changes are dropped one by one (0: no bound); the report's `more`
  // says whether the bound stopped it.
  // The log has two segments (core/store.h). The sealed one is dropped whole once every change
  // it holds is below the bounds; the active one is sealed (appends switch to the other) once
  // it holds `segment_changes` changes and the other is empty. Changes are dropped one by one
  // from the active segment while it is smaller than that, and elsewhere only as far as the size
  // bound requires; `segment_changes` 0 drops every change below the bounds one by one, from
  // either segment, and never seals (RetentionOptions::log_segment_changes).
  Result<RetentionReport> ApplyRetention(const std::optional<VersionVector>& horizon,
                                         uint64_t max_changes_per_origin, uint64_t max_truncate = 0,
                                         uint64_t segment_changes = kDefaultLogSegmentChanges);
  // The same without waiting: `done` runs on the writer thread once the transaction committed
  // (or failed), so the caller's thread (the replicator's io thread) is never blocked on it.
  void ApplyRetentionAsync(std::optional<VersionVector> horizon, uint64_t max_changes_per_origin,
                           uint64_t max_truncate, uint64_t segment_changes,
                           std::function<void(Result<RetentionReport>)> done);
  // The log's bounds per origin and the floor, read from the store.
  Result<RetentionReport> LogReport();

  // Garbage collection (garbage_collection.cc; see gc.h). One transaction of a pass: from
  // data-table key `begin` ("": the first), at most `max_keys` keys (0: no bound) go through
  // their resolver's Collect under the minimum of `horizon` and this node's own vector; keys
  // left empty are removed. Does nothing while a snapshot is being installed.
  Result<GcReport> CollectGarbage(const VersionVector& horizon, std::string begin, uint64_t max_keys);
  // The same without waiting: `done` runs on the writer thread.
  void CollectGarbageAsync(VersionVector horizon, std::string begin, uint64_t max_keys,
                           std::function<void(Result<GcReport>)> done);

 private:
  struct Collection {
    std::string resolver;
    CollectionType type;
    std::shared_ptr<const conflict::Resolver> impl;
  };
  Replica(core::Store* store, ReplicaOptions options);
  Result<Collection> FindCollection(std::string_view name) const;
  using CollectionMap = std::map<std::string, Collection, std::less<>>;
  // A copy of the collections known now, and a lookup of a collection's type in such a copy for
  // internal::ForEachState (Corruption for a collection it does not name).
  CollectionMap CollectionsNow() const;
  static std::function<Result<CollectionType>(std::string_view)> TypeLookup(const CollectionMap& collections);
  Status LoadMeta();
  // Checks the stored item index at open and rebuilds it when it is absent or keyed otherwise.
  Status OpenItemIndex();
  Status WithIndexUnchecked(const std::function<Status(const ItemIndex&)>& fn) const;
  // The item index updates for write paths: null when the index is not kept (see
  // build_item_index). Not batched, so shared by every write function.
  internal::IndexUpdates* IndexForWrites() const { return index_live_ ? index_updates_.get() : nullptr; }

  // In a write function: applies `op` as the next local change, adds its dot to `ctx` and the
  // change to `to_log`, which the caller appends to the log after its other writes (LogAfterData
  // in replica_write.cc); `index` is the batch the function flushes before it returns (or null).
  Status ApplyLocalWrite(core::WriteTxn& txn, DotContext& ctx, internal::IndexUpdates* index, const Collection& c,
                         const std::string& collection, const std::string& key, const WriteOp& op,
                         WriteResult* result, std::vector<core::Change>* to_log);
  // The queue of local writes (replica_write.cc). A drain is a write function that, when it
  // first runs, takes the queued writes (at most max_writes_per_commit) and applies them.
  struct QueuedWrite {
    Collection c;
    std::string collection;
    std::string key;
    WriteOp op;
    WriteDone done;
  };
  struct Drain;
  // Submits a drain unless one is pending or the queue is empty.
  void ScheduleDrain();
  // A drain's commit outcome (on the writer: failures answered, the next drain scheduled) and,
  // for a drain that committed, its durable outcome (its writes answered and shipped).
  void FinishDrain(Drain& drain, Status s);
  void AnswerDrain(Drain& drain, Status s);

  core::Store* store_;
  ReplicaOptions options_;
  // Guards queue_ and drain_pending_ (true from a drain's submission to its taking the writes).
  std::mutex queue_mu_;
  std::condition_variable queue_room_;
  std::deque<QueuedWrite> queue_;
  bool drain_pending_ = false;
  std::shared_ptr<const conflict::ResolverRegistry> registry_;
  conflict::ConflictJournal journal_;
  ReplicaId id_;

  mutable std::mutex mu_;
  std::map<std::string, Collection, std::less<>> collections_;
  DotContext context_;
  DotContext applied_;  // context_ and what committed since (AppliedContext)
  Hlc hlc_;
  ReplicaStats stats_;
  std::shared_ptr<const std::function<void()>> commit_listener_;
  std::map<uint64_t, std::shared_ptr<const std::function<void()>>> extra_listeners_;
  uint64_t next_listener_id_ = 1;
  void NotifyCommit();
  // WhenHeld's waiters, by stage and then dot (replica, counter), and where each handle's waiter
  // is; guarded by mu_.
  struct DotWaiter {
    uint64_t handle = 0;
    std::function<void(Status)> done;
  };
  using DotKey = std::pair<uint64_t, uint64_t>;
  using DotWaiters = std::multimap<DotKey, DotWaiter>;
  DotWaiters waiters_[2];
  std::map<uint64_t, std::pair<int, DotKey>> waiter_handles_;
  uint64_t next_waiter_handle_ = 1;
  using ReadyWaiters = std::vector<std::function<void(Status)>>;
  // With mu_ held, after dots reached `stage`: moves the waiters the stage's context now holds
  // into `*ready`, to be run once mu_ is released (RunReady). Looks up only `dots` when given and
  // fewer than the waiters; otherwise checks every waiter (a snapshot install merges a context).
  void TakeReachedLocked(DotStage stage, const std::vector<Dot>* dots, ReadyWaiters* ready);
  // The same for the dots of local writes (their dots gathered only when someone waits).
  void TakeReachedLocked(DotStage stage, const std::vector<WriteResult>& results, ReadyWaiters* ready);
  static void RunReady(ReadyWaiters& ready);

  // Snapshot install progress and the log floor (snapshot_install.cc), guarded by mu_.
  Status LoadSnapshotMeta();
  // Unavailable, naming the install in progress and how far it got.
  Status NotServing() const;
  // In an install's transaction: removes the local keys of the chunk's range that the chunk
  // does not hold and whose every change its vector covers (collected at the source); counts
  // them in `*dropped` and enters each in the change feed as dropped, stamped `feed_hlc`.
  Status DropSeenAbsent(core::WriteTxn& txn, const std::string& begin, const SnapshotChunkData& chunk,
                        const std::vector<SnapshotEntry>& entries, const internal::StateTargets& targets,
                        uint64_t* dropped, HlcTimestamp feed_hlc);
  // True when this node has seen no change (empty context) and its data table holds no key at or
  // above data key `begin`: a chunk's packed records can then be appended as they are.
  Result<bool> FreshFrom(core::WriteTxn& txn, std::string_view begin);
  SnapshotProgress snapshot_;
  VersionVector log_floor_;

  // Undo entries (replica_undo.cc); undo_seq_ is used on the writer thread only.
  Status SaveUndo(core::WriteTxn& txn, const Dot& dot, std::string_view collection, std::string_view key,
                  const internal::UndoKeyRecords& records);
  std::atomic<bool> undo_{false};
  uint64_t undo_seq_ = 0;

  AntiEntropyKey index_key_{};
  bool index_live_ = false;
  std::unique_ptr<internal::IndexUpdates> index_updates_;
  uint64_t index_items_at_open_ = 0;
  bool index_rebuilt_at_open_ = false;
};

}  // namespace syncline::replication

#endif  // SYNCLINE_REPLICATION_REPLICA_H_
