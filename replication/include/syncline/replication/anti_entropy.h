// Anti-entropy: range-based set reconciliation of two replicas' (item key, state digest) sets.
//
// Two replicas that should hold the same data each keep an ItemIndex: every key of every
// collection as an item (item key = MakeItemKey(collection, key), a 16-byte digest of the key's
// state), ordered by item key, with the sum of keyed per-item hashes of any range available in
// O(log n). A Reconciler on each side exchanges fingerprints of key ranges; ranges whose
// fingerprints agree are skipped, ranges that differ are split into `branching` sub-ranges or,
// once small, listed item by item, until both sides know exactly which keys differ. The outcome
// on each side is `need()` (keys the peer holds that we lack or hold in another state: fetch and
// merge them through the resolvers) and `have()` (keys the peer lacks or holds in another state:
// send them). A key whose digests differ is in both. Repair by merging is safe in every mode.
//
// Keying: per-item hashes are SipHash-2-4 under an index key that only cluster members hold
// (DeriveIndexKey), so whoever writes data cannot pick keys whose hashes cancel; fingerprints on
// the wire are SipHash under a per-session key (DeriveSessionKey, from both handshake nonces), so
// a recorded or forged "equal" from another session does not match. Sides with different keys
// never see equal fingerprints and fall back to listing items (still correct, just not cheap).
//
// The Reconciler does no I/O: messages come in as bytes, replies go out as bytes, and the host
// carries them in frames. The wire format (version 1) is specified in docs/anti-entropy.md and
// every received length is bounded before anything is allocated.
//
// Thread-safety: ItemIndex implementations document their own; MemoryItemIndex is not
// thread-safe (one thread, or external locking). A Reconciler is driven by one thread and reads
// its index only inside Initiate/Resume/HandleMessage; the index may change between messages
// (what changed is then caught by the next session), not during a call.
#ifndef SYNCLINE_REPLICATION_ANTI_ENTROPY_H_
#define SYNCLINE_REPLICATION_ANTI_ENTROPY_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "syncline/core/status.h"

namespace syncline::replication {

// The version of the anti-entropy wire format this code speaks (first byte of every message).
inline constexpr uint8_t kAntiEntropyProtocolVersion = 1;

// A 16-byte digest of one key's state (e.g. XXH3-128 of the canonical encoded state).
using StateDigest = std::array<uint8_t, 16>;

// A 128-bit key for SipHash: the index key and the session key.
using AntiEntropyKey = std::array<uint8_t, 16>;

// The item key of (collection, key): the collection name, a NUL, then the key with every NUL
// byte written as 00 FF. This is the data-table key prefix of that key, so an index built on
// the data table orders items the same way. InvalidArgument when the collection is empty or
// holds a NUL byte.
Result<std::string> MakeItemKey(std::string_view collection, std::string_view key);
// The inverse; Corruption when `item_key` is not of that form.
Status SplitItemKey(std::string_view item_key, std::string* collection, std::string* key);

// The index key all members of a cluster share: HMAC-SHA256(cluster secret, a fixed label),
// truncated to 16 bytes. Both sides of a session must use the same index key.
AntiEntropyKey DeriveIndexKey(std::string_view cluster_secret);
// A per-session key from the index key and both sides' handshake nonces (initiator's first).
AntiEntropyKey DeriveSessionKey(const AntiEntropyKey& index_key, std::string_view initiator_nonce,
                                std::string_view responder_nonce);

// The fingerprint accumulator of a set of items: the sum modulo 2^128 of their keyed hashes
// and their count. Sums form a group, so the sum of a range is the difference of two prefix
// sums, and adding or removing one item is one addition.
struct RangeSum {
  uint64_t lo = 0;
  uint64_t hi = 0;
  uint64_t count = 0;

  void Add(const RangeSum& o);
  void Subtract(const RangeSum& o);
  friend bool operator==(const RangeSum&, const RangeSum&) = default;
};

struct IndexedItem {
  std::string key;  // item key (MakeItemKey)
  StateDigest digest{};
  friend bool operator==(const IndexedItem&, const IndexedItem&) = default;
};

// The keyed hash of one item (SipHash-2-4-128 of the key's length, the key and the digest),
// as a RangeSum of count 1.
RangeSum HashItem(const AntiEntropyKey& index_key, std::string_view item_key,
                  const StateDigest& digest);

// The read interface the Reconciler uses. Ranks count items in item-key order from 0.
//
// An LMDB-backed implementation keeps, beside the data table, a table of aggregate nodes (a
// B-tree over item keys whose inner entries hold each child's RangeSum) and updates the path
// from the changed item to the root inside the same write transaction that writes the key's
// state, so the fingerprints always describe committed data; it reads through one read
// transaction per Reconciler call. Its reads may fail (IOError, Corruption), hence the Results.
class ItemIndex {
 public:
  virtual ~ItemIndex() = default;

  // Number of items.
  virtual Result<uint64_t> Size() const = 0;
  // Number of items whose key is below `key` (any bytes; need not be an item key).
  virtual Result<uint64_t> Rank(std::string_view key) const = 0;
  // Sum of the first `rank` items (rank <= Size(), else InvalidArgument).
  virtual Result<RangeSum> PrefixSum(uint64_t rank) const = 0;
  // The item at `rank` (< Size(), else InvalidArgument).
  virtual Result<IndexedItem> ItemAt(uint64_t rank) const = 0;
  // Appends the items of ranks [begin, end) to `out` in key order (end <= Size()).
  virtual Status ListItems(uint64_t begin, uint64_t end, std::vector<IndexedItem>* out) const = 0;

  // Sum of the items with lower <= key < upper (no upper: to the end).
  Result<RangeSum> RangeFingerprint(std::string_view lower,
                                    std::optional<std::string_view> upper) const;
};

// An ItemIndex that forwards to `target`, which the owner sets for the length of each
// Reconciler call (e.g. to the replica's stored index inside Replica::WithItemIndex, one read
// transaction per call) and clears after it; FailedPrecondition while no target is set.
class BoundItemIndex final : public ItemIndex {
 public:
  const ItemIndex* target = nullptr;

  Result<uint64_t> Size() const override;
  Result<uint64_t> Rank(std::string_view key) const override;
  Result<RangeSum> PrefixSum(uint64_t rank) const override;
  Result<IndexedItem> ItemAt(uint64_t rank) const override;
  Status ListItems(uint64_t begin, uint64_t end, std::vector<IndexedItem>* out) const override;

 private:
  Status Bound() const;
};

// An in-memory ItemIndex: a treap ordered by item key whose nodes carry their subtree's
// RangeSum, so every operation is O(log n) expected. Not thread-safe.
class MemoryItemIndex final : public ItemIndex {
 public:
  explicit MemoryItemIndex(const AntiEntropyKey& index_key, uint64_t seed = 0x5eed);
  ~MemoryItemIndex() override;
  MemoryItemIndex(const MemoryItemIndex&) = delete;
  MemoryItemIndex& operator=(const MemoryItemIndex&) = delete;

  // Inserts or replaces the item; returns true when the index changed.
  bool Upsert(std::string_view item_key, const StateDigest& digest);
  // Removes the item; returns true when it was present.
  bool Erase(std::string_view item_key);
  // The digest of `item_key`, if present.
  std::optional<StateDigest> Find(std::string_view item_key) const;

  Result<uint64_t> Size() const override;
  Result<uint64_t> Rank(std::string_view key) const override;
  Result<RangeSum> PrefixSum(uint64_t rank) const override;
  Result<IndexedItem> ItemAt(uint64_t rank) const override;
  Status ListItems(uint64_t begin, uint64_t end, std::vector<IndexedItem>* out) const override;

 private:
  class Tree;
  AntiEntropyKey index_key_;
  std::unique_ptr<Tree> tree_;
};

struct ReconcileOptions {
  // Sub-ranges a differing range is split into (default 16; 2..256).
  size_t branching = 16;
  // A differing range holding at most this many of our items is listed instead of split
  // (default 16; 1..4096).
  size_t list_threshold = 16;
  // Bytes of each fingerprint on the wire (default 12, i.e. a 2^-96 chance that one differing
  // range looks equal; 8..16). Both sides must agree; a message with another length is refused.
  size_t fingerprint_bytes = 12;
  // Largest message built or accepted (default 512 KiB). A reply that would be larger defers
  // the rest of the key space to the next round as one fingerprint range. Create refuses a
  // value too small for the largest range the other options can produce.
  size_t max_message_bytes = size_t{512} << 10;
  // Largest item key or range bound accepted (default 1 KiB: a collection name of up to 64
  // bytes and a key of up to 400, escaped, fit).
  size_t max_key_bytes = 1024;
  // Largest item list accepted in one range (default 256; must be >= list_threshold, and a
  // peer's list_threshold must not exceed it). A reply may name twice as many keys.
  size_t max_list_items = 256;
  // Most keys need() and have() may hold together (default 2^20). A session that finds more
  // fails with ResourceExhausted, keeping what it found: repair that, then reconcile again.
  // This bounds the memory a peer can make a session use.
  size_t max_differences = size_t{1} << 20;
};

struct ReconcileStats {
  uint64_t messages_sent = 0;
  uint64_t messages_received = 0;
  uint64_t bytes_sent = 0;
  uint64_t bytes_received = 0;
  // Initiator: replies received to its messages; responder: messages answered.
  uint64_t round_trips = 0;
  uint64_t ranges_compared = 0;  // received fingerprints compared with ours
  uint64_t ranges_equal = 0;     // ... of which matched
  uint64_t ranges_split = 0;     // ranges we split into sub-ranges
  uint64_t items_listed = 0;     // items we listed in our messages
  uint64_t items_received = 0;   // items the peer listed
  uint64_t deferred = 0;         // replies cut at max_message_bytes
};

// A half-open range of item keys [lower, upper); no upper means to the end of the key space.
struct KeyRange {
  std::string lower;
  std::optional<std::string> upper;
  friend bool operator==(const KeyRange&, const KeyRange&) = default;
};

// One side of a reconciliation session. Usage, initiator:
//   auto r = Reconciler::Create(&index, session_key, options);   // check r.ok()
//   msg = r->Initiate();  send; then for each reply: next = r->HandleMessage(reply);
//   while next holds bytes send them; a nullopt means the session is complete.
// Responder: the same, without Initiate; it answers every message it receives.
class Reconciler {
 public:
  // InvalidArgument when `index` is null or the options are out of range.
  static Result<std::unique_ptr<Reconciler>> Create(const ItemIndex* index,
                                                    const AntiEntropyKey& session_key,
                                                    const ReconcileOptions& options = {});
  ~Reconciler();
  Reconciler(const Reconciler&) = delete;
  Reconciler& operator=(const Reconciler&) = delete;

  // The first message of a session over the whole key space (initiator only; a second call is
  // FailedPrecondition). Errors of the index come back as they are.
  Result<std::string> Initiate();
  // The first message of a new session that resumes this one: only `ranges` are reconciled
  // (typically PendingRanges() of an interrupted session, whose outcome this object keeps).
  // `session_key` is the new session's key. InvalidArgument when the ranges are not ordered
  // and disjoint.
  Result<std::string> Resume(const std::vector<KeyRange>& ranges,
                             const AntiEntropyKey& session_key);

  // Processes one message from the peer and returns the reply to send, or nullopt when the
  // session is complete and nothing is to be sent. Corruption when the message does not
  // decode, exceeds a bound or was built with another fingerprint length, ResourceExhausted
  // past max_differences; the session is then unusable (start a new one). Errors of the index
  // come back as they are. FailedPrecondition after the session completed or failed.
  Result<std::optional<std::string>> HandleMessage(std::string_view message);

  // True once nothing more is expected: our last message needs no answer or the peer's final
  // message was processed.
  bool done() const;
  // Keys the peer holds that we lack or hold in another state, sorted and unique.
  std::vector<std::string> need() const;
  // Keys we hold that the peer lacks or holds in another state, sorted and unique.
  std::vector<std::string> have() const;
  // The ranges our last message left unresolved (awaiting the peer's answer), in order. After
  // an interruption, Resume(PendingRanges(), new_key) finishes the job.
  std::vector<KeyRange> PendingRanges() const;
  const ReconcileStats& stats() const;

 private:
  class Impl;
  explicit Reconciler(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace syncline::replication

#endif  // SYNCLINE_REPLICATION_ANTI_ENTROPY_H_
