// The stored anti-entropy item index: maintenance in the write path, rebuild, check, and the
// ItemIndex the Reconciler reads (see item_index_table.h for the layout).
#include "item_index_table.h"

#include <xxhash.h>

#include <algorithm>
#include <cstring>

#include "state_access.h"

namespace syncline::replication::internal {

namespace {

// Below every block and item key, so items are the table's last keys and a new node's items,
// written in order, are appended (AddNewItem).
constexpr std::string_view kMetaKey = kItemIndexMetaKey;
constexpr std::string_view kLastBlockKey = "c";
constexpr char kItemTag = 'i';
constexpr char kBlockTag = 'b';
// Every block key sorts in ["b", "d"); every item key in ["i", "j").
constexpr std::string_view kBlocksBegin = "b";
constexpr std::string_view kBlocksEnd = "d";
constexpr std::string_view kItemsEnd = "j";
// This layout's version (v3: the format entry moved from "m" to "a"; v4: blob-type keys keep no
// item entry), then 8 bytes that depend on the index key. An index of another version is rebuilt
// when the replica opens.
constexpr std::string_view kFormat = "item-index-v4:";
// Items per block when the index is built in one pass: half the most a block holds, so that
// inserts do not cut every block at once.
constexpr uint64_t kBuildBlockItems = kMaxBlockItems / 2;

void Put64(std::string* out, uint64_t v) {
  char b[8];
  for (int i = 0; i < 8; ++i) b[i] = static_cast<char>(v >> (8 * i));
  out->append(b, 8);
}
uint64_t Get64(std::string_view in) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(in[i]);
  return v;
}

std::string ItemKeyOf(std::string_view item) {
  std::string k(1, kItemTag);
  k.append(item);
  return k;
}

// A 128-bit sum kept as a RangeSum whose count is the number of records summed.
StateDigest DigestBytes(const RangeSum& d) {
  StateDigest out{};
  for (int i = 0; i < 8; ++i) {
    out[i] = static_cast<uint8_t>(d.lo >> (8 * i));
    out[8 + i] = static_cast<uint8_t>(d.hi >> (8 * i));
  }
  return out;
}

RangeSum RecordHash(std::string_view sub, std::string_view value) {
  // varint(len(sub)) || sub || value, hashed in one call; small records (the common case) are
  // assembled on the stack.
  char small[512];
  std::string large;
  size_t total = 10 + sub.size() + value.size();
  char* buf = small;
  if (total > sizeof(small)) {
    large.resize(total);
    buf = large.data();
  }
  size_t n = 0;
  uint64_t len = sub.size();
  while (len >= 0x80) {
    buf[n++] = static_cast<char>((len & 0x7f) | 0x80);
    len >>= 7;
  }
  buf[n++] = static_cast<char>(len);
  if (!sub.empty()) std::memcpy(buf + n, sub.data(), sub.size());
  n += sub.size();
  if (!value.empty()) std::memcpy(buf + n, value.data(), value.size());
  n += value.size();
  XXH128_hash_t h = XXH3_128bits(buf, n);
  return RangeSum{h.low64, h.high64, 1};
}

// An item's entry: its digest (count: records summed) and its keyed hash, kept so that neither
// a change nor a read recomputes it.
struct ItemEntry {
  RangeSum digest;
  RangeSum hash;  // HashItem(index key, item, digest), count 1
};

std::string EncodeItem(const ItemEntry& e) {
  std::string out;
  out.reserve(40);
  Put64(&out, e.digest.lo);
  Put64(&out, e.digest.hi);
  Put64(&out, e.digest.count);
  Put64(&out, e.hash.lo);
  Put64(&out, e.hash.hi);
  return out;
}

Result<ItemEntry> DecodeItem(std::string_view item, std::string_view v) {
  if (v.size() != 40) {
    return Status::Corruption("index entry of item '" + core::PrintableKey(item) + "' holds " + std::to_string(v.size()) +
                              " bytes, not 40");
  }
  return ItemEntry{RangeSum{Get64(v), Get64(v.substr(8)), Get64(v.substr(16))},
                   RangeSum{Get64(v.substr(24)), Get64(v.substr(32)), 1}};
}

std::string EncodeBlock(const RangeSum& sum, std::string_view lo) {
  std::string out;
  Put64(&out, sum.lo);
  Put64(&out, sum.hi);
  Put64(&out, sum.count);
  out.append(lo);
  return out;
}

struct DecodedBlock {
  RangeSum sum;
  std::string lo;
};

Result<DecodedBlock> DecodeBlock(std::string_view key, std::string_view v) {
  if (v.size() < 24) {
    return Status::Corruption("index block '" + core::PrintableKey(key) + "' holds " + std::to_string(v.size()) +
                              " bytes, fewer than 24");
  }
  return DecodedBlock{RangeSum{Get64(v), Get64(v.substr(8)), Get64(v.substr(16))}, std::string(v.substr(24))};
}

// The data-table key range of the items in [lo, hi) (no hi: to the end). Item keys and their
// data prefixes sort alike, so the range is [prefix of lo, prefix of hi).
std::string DataBegin(std::string_view lo) { return lo.empty() ? std::string() : PrefixOfItem(lo); }
std::string DataEnd(const std::optional<std::string>& hi) { return hi ? PrefixOfItem(*hi) : std::string(); }

// One item of a range as the index sums it.
struct RangeItem {
  std::string item;
  RangeSum digest;
  RangeSum hash;
};

// The items with lo <= item < hi (no hi: to the end), in order: blob items (one record, the
// state) from the data table, whose digest is that record's hash, and the others from their
// entries. A key of the record layout is passed over with one seek, not record by record.
Status ItemsInRange(core::ReadView& view, const AntiEntropyKey& index_key, std::string_view lo,
                    const std::optional<std::string>& hi, std::vector<RangeItem>* out) {
  std::vector<RangeItem> blobs;
  std::string from = DataBegin(lo);
  const std::string end = DataEnd(hi);
  Status inner;
  while (true) {
    std::optional<std::string> skip;  // the data prefix of a key of the record layout met
    SYNCLINE_RETURN_IF_ERROR(view.Scan(core::Table::kData, from, end, [&](std::string_view k, std::string_view v) {
      auto parsed = ParseDataKey(k);
      if (!parsed.ok()) {
        inner = parsed.status();
        return false;
      }
      std::string_view prefix = k.substr(0, k.size() - parsed->sub.size());
      if (parsed->sub != kStateSub) {
        skip.emplace(prefix);
        return false;
      }
      RangeItem ri;
      ri.item.assign(ItemOfPrefix(prefix));
      ri.digest = RecordHash(parsed->sub, v);
      ri.hash = ItemHash(index_key, ri.item, ri.digest);
      blobs.push_back(std::move(ri));
      return true;
    }));
    SYNCLINE_RETURN_IF_ERROR(inner);
    if (!skip) break;
    from = *skip + "\xff";  // every sub-key of a key sorts below 0xff
  }
  std::vector<RangeItem> entries;
  std::string ibegin = ItemKeyOf(lo);
  std::string iend = hi ? ItemKeyOf(*hi) : std::string(kItemsEnd);
  SYNCLINE_RETURN_IF_ERROR(view.Scan(core::Table::kIndex, ibegin, iend, [&](std::string_view k, std::string_view v) {
    std::string_view item = k.substr(1);
    auto d = DecodeItem(item, v);
    if (!d.ok()) {
      inner = d.status();
      return false;
    }
    entries.push_back(RangeItem{std::string(item), d->digest, d->hash});
    return true;
  }));
  SYNCLINE_RETURN_IF_ERROR(inner);
  out->clear();
  out->reserve(blobs.size() + entries.size());
  std::merge(std::make_move_iterator(blobs.begin()), std::make_move_iterator(blobs.end()),
             std::make_move_iterator(entries.begin()), std::make_move_iterator(entries.end()), std::back_inserter(*out),
             [](const RangeItem& a, const RangeItem& b) { return a.item < b.item; });
  return Status::Ok();
}

std::string CheckValue(const AntiEntropyKey& index_key) {
  RangeSum h = HashItem(index_key, "item index check", StateDigest{});
  std::string out(kFormat);
  Put64(&out, h.lo);
  return out;
}

// The first entry of `table` in [begin, end), if any.
Result<std::optional<std::pair<std::string, std::string>>> First(core::ReadView& view, std::string_view begin,
                                                                  std::string_view end) {
  std::optional<std::pair<std::string, std::string>> found;
  SYNCLINE_RETURN_IF_ERROR(view.Scan(core::Table::kIndex, begin, end, [&](std::string_view k, std::string_view v) {
    found.emplace(std::string(k), std::string(v));
    return false;
  }));
  return found;
}

// The block whose range holds `item`: the first block key above "b" + item (its upper bound
// is above the item), else the last block.
Result<std::pair<std::string, DecodedBlock>> BlockOf(core::ReadView& view, std::string_view item) {
  std::string begin(1, kBlockTag);
  begin.append(item);
  begin.push_back('\0');
  SYNCLINE_ASSIGN_OR_RETURN(auto found, First(view, begin, kBlocksEnd));
  if (!found) return Status::Corruption("the item index has no last block (index table entry \"c\")");
  SYNCLINE_ASSIGN_OR_RETURN(DecodedBlock block, DecodeBlock(found->first, found->second));
  return std::make_pair(std::move(found->first), std::move(block));
}

// Writes back a block whose sum changed. A block that emptied, or shrank below kMinBlockItems,
// joins the next block (which takes its range over) when it emptied or both fit in
// kBuildBlockItems, or else takes the previous block in when both fit; the last block always
// stays. A block that grew past kMaxBlockItems is cut into pieces of kBuildBlockItems items.
// Joining up to half the build size and cutting above twice it keeps a block that was just
// joined from being cut again soon, and the other way round.
Status FinishBlock(core::WriteTxn& txn, const AntiEntropyKey& index_key, const std::string& key,
                   const DecodedBlock& changed) {
  bool last = key == kLastBlockKey;
  DecodedBlock block = changed;
  if (block.sum.count < kMinBlockItems && !last) {
    SYNCLINE_ASSIGN_OR_RETURN(auto next, First(txn, key + std::string(1, '\0'), kBlocksEnd));
    if (!next) return Status::Corruption("the item index has no last block (index table entry \"c\")");
    SYNCLINE_ASSIGN_OR_RETURN(DecodedBlock nb, DecodeBlock(next->first, next->second));
    if (block.sum.count == 0 || block.sum.count + nb.sum.count <= kBuildBlockItems) {
      SYNCLINE_RETURN_IF_ERROR(txn.Delete(core::Table::kIndex, key));
      RangeSum joined = nb.sum;
      joined.Add(block.sum);
      return txn.Put(core::Table::kIndex, next->first, EncodeBlock(joined, block.lo));
    }
  }
  if (block.sum.count < kMinBlockItems && !block.lo.empty()) {
    // The previous block ends where this one starts, so its key is the tag and this block's lo.
    std::string prev_key = std::string(1, kBlockTag) + block.lo;
    auto prev = txn.Get(core::Table::kIndex, prev_key);
    if (prev.status().IsNotFound()) {
      return Status::Corruption("the item index has no block ending where block '" + core::PrintableKey(key) +
                                "' starts");
    }
    SYNCLINE_RETURN_IF_ERROR(prev.status());
    SYNCLINE_ASSIGN_OR_RETURN(DecodedBlock pb, DecodeBlock(prev_key, *prev));
    if (pb.sum.count + block.sum.count <= kBuildBlockItems) {
      SYNCLINE_RETURN_IF_ERROR(txn.Delete(core::Table::kIndex, prev_key));
      block.sum.Add(pb.sum);
      block.lo = std::move(pb.lo);
    }
  }
  if (block.sum.count <= kMaxBlockItems) return txn.Put(core::Table::kIndex, key, EncodeBlock(block.sum, block.lo));
  // Every piece but the last gets a key of its own ("b" + the next piece's first item); the last
  // keeps this block's key.
  RangeSum piece, total;
  std::string piece_lo = block.lo;
  std::vector<RangeItem> items;
  std::optional<std::string> hi;
  if (!last) hi.emplace(std::string_view(key).substr(1));
  SYNCLINE_RETURN_IF_ERROR(ItemsInRange(txn, index_key, block.lo, hi, &items));
  for (const RangeItem& ri : items) {
    if (piece.count == kBuildBlockItems) {
      SYNCLINE_RETURN_IF_ERROR(txn.Put(core::Table::kIndex, std::string(1, kBlockTag) + ri.item, EncodeBlock(piece, piece_lo)));
      piece_lo = ri.item;
      piece = RangeSum();
    }
    piece.Add(ri.hash);
    total.Add(ri.hash);
  }
  if (!(total == block.sum)) {
    return Status::Corruption("index block '" + core::PrintableKey(key) + "' counts " + std::to_string(block.sum.count) +
                              " items but its range holds " + std::to_string(total.count) + " with another sum");
  }
  return txn.Put(core::Table::kIndex, key, EncodeBlock(piece, piece_lo));
}

Status ApplyToBlock(const std::string& key, DecodedBlock* block, std::string_view item, const RangeSum& add,
                    const RangeSum& remove) {
  if (block->sum.count + add.count < remove.count) {
    return Status::Corruption("index block '" + core::PrintableKey(key) + "' counts " + std::to_string(block->sum.count) +
                              " items, fewer than item '" + core::PrintableKey(item) + "' removes");
  }
  block->sum.Add(add);
  block->sum.Subtract(remove);
  return Status::Ok();
}

// Builds items and blocks in key order from (item, digest) pairs given in order.
class IndexBuilder {
 public:
  IndexBuilder(core::WriteTxn& txn, const AntiEntropyKey& index_key) : txn_(txn), index_key_(index_key) {}

  // `blob`: the item's one record is its state, so it keeps no entry.
  Status Add(const std::string& item, const RangeSum& digest, bool blob) {
    if (block_.count == kBuildBlockItems) {
      SYNCLINE_RETURN_IF_ERROR(txn_.Put(core::Table::kIndex, std::string(1, kBlockTag) + item, EncodeBlock(block_, lo_)));
      lo_ = item;
      block_ = RangeSum();
    }
    ItemEntry e{digest, HashItem(index_key_, item, DigestBytes(digest))};
    block_.Add(e.hash);
    ++items_;
    if (blob) return Status::Ok();
    return txn_.Put(core::Table::kIndex, ItemKeyOf(item), EncodeItem(e));
  }
  Status Finish() { return txn_.Put(core::Table::kIndex, kLastBlockKey, EncodeBlock(block_, lo_)); }
  uint64_t items() const { return items_; }

 private:
  core::WriteTxn& txn_;
  const AntiEntropyKey& index_key_;
  RangeSum block_;
  std::string lo_;
  uint64_t items_ = 0;
};

// Visits (item, digest, blob) for every key of the data table, in order; `blob`: the key's one
// record is its state (kStateSub).
Status ForEachDataItem(core::ReadView& view,
                       const std::function<Status(const std::string&, const RangeSum&, bool)>& visit) {
  std::string item;
  RangeSum digest;
  bool have = false;
  bool blob = true;
  Status inner;
  SYNCLINE_RETURN_IF_ERROR(view.Scan(core::Table::kData, "", "", [&](std::string_view k, std::string_view v) {
    auto parsed = ParseDataKey(k);
    if (!parsed.ok()) {
      inner = parsed.status();
      return false;
    }
    std::string_view it = k.substr(0, k.size() - parsed->sub.size() - 2);
    if (!have || it != item) {
      if (have && digest.count > 0) {
        inner = visit(item, digest, blob && digest.count == 1);
        if (!inner.ok()) return false;
      }
      item.assign(it);
      digest = RangeSum();
      have = true;
      blob = true;
    }
    if (parsed->sub != kStateSub) blob = false;
    if (CountsTowardDigest(parsed->sub)) digest.Add(RecordHash(parsed->sub, v));
    return true;
  }));
  SYNCLINE_RETURN_IF_ERROR(inner);
  if (have && digest.count > 0) return visit(item, digest, blob && digest.count == 1);
  return Status::Ok();
}

}  // namespace

bool CountsTowardDigest(std::string_view sub) { return sub.empty() || sub[0] != 'i'; }

RangeSum RecordDigest(std::string_view sub, std::string_view value) { return RecordHash(sub, value); }

RangeSum ItemHash(const AntiEntropyKey& index_key, std::string_view item, const RangeSum& digest) {
  return HashItem(index_key, item, DigestBytes(digest));
}

Status IndexUpdates::AddNewItem(core::WriteTxn& txn, std::string_view item, const RangeSum& digest,
                                const RangeSum& hash, bool blob) {
  if (digest.count == 0) return Status::Ok();
  if (blob) return Block(txn, item, hash, RangeSum());
  // Called once per key of a snapshot install: key and entry are built on the stack.
  char key[1 + core::kMaxStoreKeyBytes];
  if (item.size() >= core::kMaxStoreKeyBytes) {
    return Status::Corruption("item '" + core::PrintableKey(item) + "' is too long for an index key");
  }
  key[0] = kItemTag;
  std::memcpy(key + 1, item.data(), item.size());
  char entry[40];
  const uint64_t words[5] = {digest.lo, digest.hi, digest.count, hash.lo, hash.hi};
  for (int w = 0; w < 5; ++w) {
    for (int i = 0; i < 8; ++i) entry[8 * w + i] = static_cast<char>(words[w] >> (8 * i));
  }
  std::string_view k(key, 1 + item.size());
  std::string_view v(entry, sizeof(entry));
  // Above every stored item (a new node's install): appended; otherwise put in its place.
  Status appended = txn.Append(core::Table::kIndex, k, v);
  if (appended.code() == StatusCode::kFailedPrecondition) appended = txn.Put(core::Table::kIndex, k, v);
  SYNCLINE_RETURN_IF_ERROR(appended);
  return Block(txn, item, hash, RangeSum());
}

Status IndexUpdates::RecordChange(core::WriteTxn& txn, std::string_view item, std::string_view sub,
                                  const std::optional<std::string>& before, const std::optional<std::string>& after) {
  if (!CountsTowardDigest(sub) || before == after) return Status::Ok();
  if (sub == kStateSub) {
    // A blob-type key: its one record is its whole digest, and it keeps no entry.
    RangeSum old_hash, new_hash;
    if (before) old_hash = ItemHash(key_, item, RecordHash(sub, *before));
    if (after) new_hash = ItemHash(key_, item, RecordHash(sub, *after));
    return Block(txn, item, new_hash, old_hash);
  }
  std::string ikey = ItemKeyOf(item);
  RangeSum digest;
  RangeSum old_hash;
  auto stored = txn.Get(core::Table::kIndex, ikey);
  if (!stored.ok() && !stored.status().IsNotFound()) return stored.status();
  if (stored.ok()) {
    SYNCLINE_ASSIGN_OR_RETURN(ItemEntry e, DecodeItem(item, *stored));
    digest = e.digest;
    old_hash = e.hash;
  }
  if (before) {
    if (digest.count == 0) {
      return Status::Corruption("the item index holds no record of key '" + core::PrintableKey(item) +
                                "' that the data table holds; rebuild it (see docs/anti-entropy.md)");
    }
    digest.Subtract(RecordHash(sub, *before));
  }
  if (after) digest.Add(RecordHash(sub, *after));
  RangeSum new_hash;
  if (digest.count == 0) {
    SYNCLINE_RETURN_IF_ERROR(txn.Delete(core::Table::kIndex, ikey));
  } else {
    new_hash = HashItem(key_, item, DigestBytes(digest));
    SYNCLINE_RETURN_IF_ERROR(txn.Put(core::Table::kIndex, ikey, EncodeItem(ItemEntry{digest, new_hash})));
  }
  return Block(txn, item, new_hash, old_hash);
}

Status IndexUpdates::RemoveItem(core::WriteTxn& txn, std::string_view item) {
  // A blob-type key keeps no entry: its state record is its digest.
  auto state = txn.Get(core::Table::kData, PrefixOfItem(item) + std::string(kStateSub));
  if (state.ok()) return RecordChange(txn, item, kStateSub, *state, std::nullopt);
  if (!state.status().IsNotFound()) return state.status();
  std::string ikey = ItemKeyOf(item);
  auto stored = txn.Get(core::Table::kIndex, ikey);
  if (stored.status().IsNotFound()) return Status::Ok();
  if (!stored.ok()) return stored.status();
  SYNCLINE_ASSIGN_OR_RETURN(ItemEntry e, DecodeItem(item, *stored));
  SYNCLINE_RETURN_IF_ERROR(txn.Delete(core::Table::kIndex, ikey));
  return Block(txn, item, RangeSum(), e.hash);
}

Status IndexUpdates::Block(core::WriteTxn& txn, std::string_view item, const RangeSum& add, const RangeSum& remove) {
  if (batched_) {
    if (!pending_.empty()) {
      Pending& last = pending_.back();
      std::string_view prev = ItemOf(last);
      if (prev == item) {
        last.add.Add(add);
        last.remove.Add(remove);
        return Status::Ok();
      }
      if (item < prev) in_order_ = false;
    }
    pending_.push_back(Pending{arena_.size(), item.size(), add, remove});
    arena_.append(item);
    return Status::Ok();
  }
  SYNCLINE_ASSIGN_OR_RETURN(auto found, BlockOf(txn, item));
  SYNCLINE_RETURN_IF_ERROR(ApplyToBlock(found.first, &found.second, item, add, remove));
  return FinishBlock(txn, key_, found.first, found.second);
}

std::optional<IndexUpdates> BatchOf(const IndexUpdates* index) {
  if (index == nullptr) return std::nullopt;
  return IndexUpdates(index->key(), /*batched=*/true);
}

Status IndexUpdates::Flush(core::WriteTxn& txn) {
  if (!in_order_) {
    std::stable_sort(pending_.begin(), pending_.end(),
                     [this](const Pending& a, const Pending& b) { return ItemOf(a) < ItemOf(b); });
    // Merge the updates of one item.
    size_t out = 0;
    for (size_t i = 0; i < pending_.size(); ++i) {
      if (out > 0 && ItemOf(pending_[out - 1]) == ItemOf(pending_[i])) {
        pending_[out - 1].add.Add(pending_[i].add);
        pending_[out - 1].remove.Add(pending_[i].remove);
      } else {
        pending_[out++] = pending_[i];
      }
    }
    pending_.resize(out);
  }
  // Items in order: those of one block are consecutive, so each block is read and written once.
  std::optional<std::pair<std::string, DecodedBlock>> block;
  for (const Pending& p : pending_) {
    std::string_view item = ItemOf(p);
    bool inside = block.has_value() && (block->first == kLastBlockKey || item < std::string_view(block->first).substr(1));
    if (!inside) {
      if (block) SYNCLINE_RETURN_IF_ERROR(FinishBlock(txn, key_, block->first, block->second));
      SYNCLINE_ASSIGN_OR_RETURN(block, BlockOf(txn, item));
    }
    SYNCLINE_RETURN_IF_ERROR(ApplyToBlock(block->first, &block->second, item, p.add, p.remove));
  }
  if (block) SYNCLINE_RETURN_IF_ERROR(FinishBlock(txn, key_, block->first, block->second));
  pending_.clear();
  arena_.clear();
  in_order_ = true;
  return Status::Ok();
}

Result<bool> ItemIndexCurrent(core::ReadView& view, const AntiEntropyKey& index_key) {
  auto m = view.Get(core::Table::kIndex, kMetaKey);
  if (m.status().IsNotFound()) return false;
  if (!m.ok()) return m.status();
  return *m == CheckValue(index_key);
}

Result<uint64_t> RebuildItemIndex(core::WriteTxn& txn, const AntiEntropyKey& index_key) {
  SYNCLINE_RETURN_IF_ERROR(txn.DeleteRange(core::Table::kIndex, "", ""));
  IndexBuilder builder(txn, index_key);
  SYNCLINE_RETURN_IF_ERROR(ForEachDataItem(txn, [&](const std::string& item, const RangeSum& digest, bool blob) {
    return builder.Add(item, digest, blob);
  }));
  SYNCLINE_RETURN_IF_ERROR(builder.Finish());
  SYNCLINE_RETURN_IF_ERROR(txn.Put(core::Table::kIndex, kMetaKey, CheckValue(index_key)));
  return builder.items();
}

Status CheckItemIndex(core::ReadView& view, const AntiEntropyKey& index_key) {
  SYNCLINE_ASSIGN_OR_RETURN(bool current, ItemIndexCurrent(view, index_key));
  if (!current) return Status::Corruption("the item index was not built with this index key");
  // Items: the stored ones against the data table, in order.
  // Entries exist for the keys that are not blobs, and only for them.
  std::vector<std::pair<std::string, RangeSum>> expected;
  std::vector<size_t> with_entry;  // positions in `expected`
  SYNCLINE_RETURN_IF_ERROR(ForEachDataItem(view, [&](const std::string& item, const RangeSum& digest, bool blob) {
    if (!blob) with_entry.push_back(expected.size());
    expected.emplace_back(item, digest);
    return Status::Ok();
  }));
  size_t n = 0;
  Status mismatch;
  SYNCLINE_RETURN_IF_ERROR(view.Scan(core::Table::kIndex, "i", kItemsEnd, [&](std::string_view k, std::string_view v) {
    std::string_view item = k.substr(1);
    auto d = DecodeItem(item, v);
    const std::pair<std::string, RangeSum>* want = n < with_entry.size() ? &expected[with_entry[n]] : nullptr;
    if (!d.ok()) {
      mismatch = d.status();
    } else if (want == nullptr || want->first != item) {
      mismatch = Status::Corruption("the item index holds an entry for key '" + core::PrintableKey(item) + "', the data table " +
                                    (want != nullptr ? "needs one for '" + core::PrintableKey(want->first) + "' there"
                                                     : "no more keys that need one"));
    } else if (!(d->digest == want->second)) {
      mismatch = Status::Corruption("the item index's digest of key '" + core::PrintableKey(item) + "' is not the data's");
    } else if (!(d->hash == HashItem(index_key, item, DigestBytes(d->digest)))) {
      mismatch = Status::Corruption("the item index's hash of key '" + core::PrintableKey(item) + "' is not its digest's");
    }
    ++n;
    return mismatch.ok();
  }));
  SYNCLINE_RETURN_IF_ERROR(mismatch);
  if (n != with_entry.size()) {
    return Status::Corruption("the item index lacks key '" + core::PrintableKey(expected[with_entry[n]].first) +
                              "' of the data table");
  }
  // Blocks: contiguous from the empty key, and each sums exactly its range's items.
  StoredItemIndex stored(view, index_key);
  SYNCLINE_RETURN_IF_ERROR(stored.Load());
  SYNCLINE_ASSIGN_OR_RETURN(uint64_t size, stored.Size());
  if (size != expected.size()) {
    return Status::Corruption("the item index's blocks count " + std::to_string(size) + " items, the data table has " +
                              std::to_string(expected.size()));
  }
  RangeSum running;
  size_t next_block = 0;
  for (uint64_t r = 0; r <= size; ++r) {
    bool boundary = r == size || (next_block < stored.blocks() && stored.block_start(next_block) == r);
    while (next_block < stored.blocks() && stored.block_start(next_block) <= r) ++next_block;
    if (boundary) {
      SYNCLINE_ASSIGN_OR_RETURN(RangeSum prefix, stored.PrefixSum(r));
      if (!(prefix == running)) {
        return Status::Corruption("the item index's sum of the first " + std::to_string(r) +
                                  " items is not the sum of their hashes");
      }
    }
    if (r < size) running.Add(HashItem(index_key, expected[r].first, DigestBytes(expected[r].second)));
  }
  return Status::Ok();
}

Status StoredItemIndex::Load() {
  blocks_.clear();
  total_ = RangeSum();
  std::string expect_lo;
  bool last_seen = false;
  Status inner;
  SYNCLINE_RETURN_IF_ERROR(view_.Scan(core::Table::kIndex, kBlocksBegin, kBlocksEnd, [&](std::string_view k, std::string_view v) {
    auto b = DecodeBlock(k, v);
    if (!b.ok()) {
      inner = b.status();
      return false;
    }
    if (b->lo != expect_lo) {
      inner = Status::Corruption("index block '" + core::PrintableKey(k) + "' starts at '" + core::PrintableKey(b->lo) +
                                 "', where the previous block ends at '" + core::PrintableKey(expect_lo) + "'");
      return false;
    }
    Block block;
    block.lo = std::move(b->lo);
    if (k == kLastBlockKey) {
      last_seen = true;
    } else {
      block.hi = std::string(k.substr(1));
      expect_lo = *block.hi;
    }
    block.sum = b->sum;
    block.before = total_.count;
    block.sum_before = total_;
    total_.Add(block.sum);
    blocks_.push_back(std::move(block));
    return true;
  }));
  SYNCLINE_RETURN_IF_ERROR(inner);
  if (!last_seen) return Status::Corruption("the item index has no last block (index table entry \"c\")");
  return Status::Ok();
}

Result<uint64_t> StoredItemIndex::Size() const { return total_.count; }

size_t StoredItemIndex::BlockOfRank(uint64_t rank) const {
  auto it = std::partition_point(blocks_.begin(), blocks_.end(),
                                 [rank](const Block& b) { return b.before + b.sum.count <= rank; });
  return static_cast<size_t>(std::min<ptrdiff_t>(it - blocks_.begin(), static_cast<ptrdiff_t>(blocks_.size()) - 1));
}

Result<const StoredItemIndex::BlockItems*> StoredItemIndex::Items(size_t b) const {
  auto cached = items_.find(b);
  if (cached != items_.end()) return &cached->second;
  const Block& block = blocks_[b];
  BlockItems items;
  items.keys.reserve(block.sum.count);
  items.digests.reserve(block.sum.count);
  items.prefix.reserve(block.sum.count + 1);
  items.prefix.push_back(block.sum_before);
  std::vector<RangeItem> range;
  SYNCLINE_RETURN_IF_ERROR(ItemsInRange(view_, index_key_, block.lo, block.hi, &range));
  for (RangeItem& ri : range) {
    if (items.keys.size() > block.sum.count) break;
    items.digests.push_back(DigestBytes(ri.digest));
    RangeSum next = items.prefix.back();
    next.Add(ri.hash);
    items.prefix.push_back(next);
    items.keys.push_back(std::move(ri.item));
  }
  if (items.keys.size() != block.sum.count) {
    return Status::Corruption("index block at '" + core::PrintableKey(block.lo) + "' counts " + std::to_string(block.sum.count) +
                              " items but its range holds " + (items.keys.size() > block.sum.count ? "more" : "fewer"));
  }
  return &items_.emplace(b, std::move(items)).first->second;
}

Result<uint64_t> StoredItemIndex::Rank(std::string_view key) const {
  auto it = std::partition_point(blocks_.begin(), blocks_.end(),
                                 [key](const Block& b) { return b.hi.has_value() && *b.hi <= key; });
  if (it == blocks_.end()) return Status::Corruption("the item index has no last block");
  SYNCLINE_ASSIGN_OR_RETURN(const BlockItems* items, Items(static_cast<size_t>(it - blocks_.begin())));
  auto below = std::lower_bound(items->keys.begin(), items->keys.end(), key,
                                [](const std::string& a, std::string_view b) { return std::string_view(a) < b; });
  return it->before + static_cast<uint64_t>(below - items->keys.begin());
}

Result<RangeSum> StoredItemIndex::PrefixSum(uint64_t rank) const {
  if (rank > total_.count) {
    return Status::InvalidArgument("prefix sum of " + std::to_string(rank) + " items; the index holds " +
                                   std::to_string(total_.count));
  }
  if (rank == total_.count) return total_;
  size_t b = BlockOfRank(rank);
  uint64_t within = rank - blocks_[b].before;
  if (within == 0) return blocks_[b].sum_before;
  SYNCLINE_ASSIGN_OR_RETURN(const BlockItems* items, Items(b));
  return items->prefix[within];
}

Result<IndexedItem> StoredItemIndex::ItemAt(uint64_t rank) const {
  if (rank >= total_.count) {
    return Status::InvalidArgument("item " + std::to_string(rank) + " asked; the index holds " +
                                   std::to_string(total_.count));
  }
  size_t b = BlockOfRank(rank);
  SYNCLINE_ASSIGN_OR_RETURN(const BlockItems* items, Items(b));
  uint64_t within = rank - blocks_[b].before;
  return IndexedItem{items->keys[within], items->digests[within]};
}

Status StoredItemIndex::ListItems(uint64_t begin, uint64_t end, std::vector<IndexedItem>* out) const {
  if (begin > end || end > total_.count) {
    return Status::InvalidArgument("items [" + std::to_string(begin) + ", " + std::to_string(end) +
                                   ") asked; the index holds " + std::to_string(total_.count));
  }
  uint64_t rank = begin;
  while (rank < end) {
    size_t b = BlockOfRank(rank);
    SYNCLINE_ASSIGN_OR_RETURN(const BlockItems* items, Items(b));
    for (uint64_t i = rank - blocks_[b].before; i < items->keys.size() && rank < end; ++i, ++rank) {
      out->push_back(IndexedItem{items->keys[i], items->digests[i]});
    }
  }
  return Status::Ok();
}

}  // namespace syncline::replication::internal
