// The anti-entropy item index kept in the store's `index` table, beside the data it describes
// (docs/anti-entropy.md, "The item index"). The replica's write path updates it inside the
// transaction that changes a key's records, so the fingerprints always describe committed data.
//
// Layout of the `index` table:
//   "a"                the index's format and a check value of the index key it was built with
//                      (format v4; an index of v2, whose entry was under "m", or of v3, which
//                      kept an entry for every key, is rebuilt at open)
//   "i" + item key  -> the item's digest (16 bytes), how many records it sums (8 LE), and its
//                      keyed hash HashItem(index key, item key, digest) (16 bytes); kept only for
//                      keys of the record layout (sets). A blob-type key (one record, kStateSub)
//                      has no entry: its digest is its record's hash, read from the data table,
//                      so a write to it touches its data page and its block, not a page of its own.
//                      Readers of a block's items take blob keys from the data table (one seek
//                      past each key of the record layout) and merge them with the entries
//   "b" + hi        -> a block: the items with lo <= item key < hi, as
//                      sum.lo (8 LE) sum.hi (8 LE) count (8 LE) then the bytes of lo
//   "c"             -> the last block (no upper bound), same value
// Blocks partition the item-key space: the first one starts at the empty key and each starts
// where the previous one ends. A block that grows past kMaxBlockItems is cut into pieces of
// kMaxBlockItems / 2; one that shrinks below kMinBlockItems joins the next block when together
// they hold at most kMaxBlockItems / 2, or else takes in the previous block when those two fit;
// an empty one always joins the next (its range joins the next block), except the last, which
// always exists.
//
// An item's digest is the sum modulo 2^128 of XXH3-128(varint len(sub) || sub || value) over
// the key's records, except a set's dot-index records ("i" + dot), which repeat what the element
// records hold. Equal states are stored as equal records (the record layout is canonical), so
// equal states have equal digests; a record changing changes the digest by one subtraction and
// one addition, whatever the size of the key's state.
//
// Thread-safety: functions act only on the view or transaction given.
#ifndef SYNCLINE_REPLICATION_SRC_ITEM_INDEX_TABLE_H_
#define SYNCLINE_REPLICATION_SRC_ITEM_INDEX_TABLE_H_

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "syncline/core/store.h"
#include "syncline/replication/anti_entropy.h"

namespace syncline::replication::internal {

inline constexpr uint64_t kMaxBlockItems = 256;
inline constexpr uint64_t kMinBlockItems = kMaxBlockItems / 8;
// The index's format and key check value ("a" in the layout above); absent: no index.
inline constexpr std::string_view kItemIndexMetaKey = "a";


// True when the record `sub` of a key counts toward its digest.
bool CountsTowardDigest(std::string_view sub);
// One record's share of its item's digest (count 1); an item's digest is the sum over its
// records that count.
RangeSum RecordDigest(std::string_view sub, std::string_view value);
// The keyed hash an item's entry holds: HashItem over the item and its digest's 16 bytes.
RangeSum ItemHash(const AntiEntropyKey& index_key, std::string_view item_key, const RangeSum& digest);

// Keeps the index in step with changes of the data table, in the writing transaction. Each
// change updates the item's entry at once; its block is updated at once too, or, when `batched`,
// gathered and applied by Flush in one ordered pass (one read and one write per block touched),
// which must then run before the write function returns. A non-batched object holds no state and
// may serve any number of write functions.
class IndexUpdates {
 public:
  IndexUpdates(const AntiEntropyKey& key, bool batched) : key_(key), batched_(batched) {}
  const AntiEntropyKey& key() const { return key_; }

  // Record `sub` of `item_key` changed from `before` to `after` (nullopt: absent).
  Status RecordChange(core::WriteTxn& txn, std::string_view item_key, std::string_view sub,
                      const std::optional<std::string>& before, const std::optional<std::string>& after);
  // Every record of `item_key` is about to be deleted: call it before deleting them (a blob-type
  // key's share of the sums is read from its record).
  Status RemoveItem(core::WriteTxn& txn, std::string_view item_key);
  // `item_key`, which the index did not hold, was written whole with records summing to
  // `digest` (RecordDigest) and so hashes to `hash` (ItemHash with this object's key, computed
  // by the caller, possibly on another thread): its entry is written without being read first,
  // or none when `blob` (its one record is its state, kStateSub).
  Status AddNewItem(core::WriteTxn& txn, std::string_view item_key, const RangeSum& digest, const RangeSum& hash,
                    bool blob);
  Status Flush(core::WriteTxn& txn);

 private:
  Status Block(core::WriteTxn& txn, std::string_view item_key, const RangeSum& add, const RangeSum& remove);

  AntiEntropyKey key_;
  bool batched_;
  // Gathered block updates, in the order they came: the item's bytes (at `offset` in arena_) and
  // what it added and removed. Flush sorts them if they did not come in order (a snapshot
  // install and most batches give them in order) and merges repeats.
  struct Pending {
    size_t offset;
    size_t size;
    RangeSum add;
    RangeSum remove;
  };
  std::string_view ItemOf(const Pending& p) const { return std::string_view(arena_).substr(p.offset, p.size); }
  std::string arena_;
  std::vector<Pending> pending_;
  bool in_order_ = true;
};

// A batched IndexUpdates with `index`'s key, none when `index` is null: for a write function
// that changes many keys; Flush it before the function returns.
std::optional<IndexUpdates> BatchOf(const IndexUpdates* index);

// True when the table holds an index of this format built with `index_key`.
Result<bool> ItemIndexCurrent(core::ReadView& view, const AntiEntropyKey& index_key);

// Replaces the table's contents with the index of the data table as it is. Returns the number
// of items.
Result<uint64_t> RebuildItemIndex(core::WriteTxn& txn, const AntiEntropyKey& index_key);

// Compares the stored index with one computed from the data table: OK when they agree,
// Corruption naming the first difference otherwise.
Status CheckItemIndex(core::ReadView& view, const AntiEntropyKey& index_key);

// The ItemIndex the Reconciler reads, over the stored table through `view` (which must
// outlive it). Load() reads the block list once (O(items / block size)); a call after that
// reads the items of the blocks it touches, each block once for the object's life.
class StoredItemIndex final : public ItemIndex {
 public:
  StoredItemIndex(core::ReadView& view, const AntiEntropyKey& index_key) : view_(view), index_key_(index_key) {}
  Status Load();

  Result<uint64_t> Size() const override;
  Result<uint64_t> Rank(std::string_view key) const override;
  Result<RangeSum> PrefixSum(uint64_t rank) const override;
  Result<IndexedItem> ItemAt(uint64_t rank) const override;
  Status ListItems(uint64_t begin, uint64_t end, std::vector<IndexedItem>* out) const override;

  size_t blocks() const { return blocks_.size(); }
  // Items in the blocks before block `i`.
  uint64_t block_start(size_t i) const { return blocks_[i].before; }

 private:
  struct Block {
    std::string lo;
    std::optional<std::string> hi;
    RangeSum sum;
    uint64_t before = 0;  // items in the blocks before this one
    RangeSum sum_before;
  };
  // One block's items, read once per index object: keys, digests and prefix sums.
  struct BlockItems {
    std::vector<std::string> keys;
    std::vector<StateDigest> digests;
    std::vector<RangeSum> prefix;  // prefix[i]: the sum of the first i items of the block
  };
  // The block holding the item of `rank` (< Size()).
  size_t BlockOfRank(uint64_t rank) const;
  Result<const BlockItems*> Items(size_t b) const;

  core::ReadView& view_;
  AntiEntropyKey index_key_;
  std::vector<Block> blocks_;
  RangeSum total_;
  mutable std::map<size_t, BlockItems> items_;  // by block, as read
};

}  // namespace syncline::replication::internal

#endif  // SYNCLINE_REPLICATION_SRC_ITEM_INDEX_TABLE_H_
