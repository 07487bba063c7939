// Packed data-table records: the form in which a snapshot chunk carries a range of the sender's
// `data` table as it is stored (SnapshotChunkData::records; docs/snapshot-and-retention.md).
//
//   record := varint(key length) key varint(value length) value
//
// Keys are data-table keys (state_access.h), strictly increasing; every key of the range has all
// its records in one chunk. A node whose data table holds nothing from the chunk's first key on
// (a new node) appends them as they are (AppendPackedRecords); any other node turns them back
// into whole states (UnpackStates) and merges those through the resolvers.
//
// Thread-safety: functions act only on their arguments and the transaction given.
#ifndef SYNCLINE_REPLICATION_SRC_SNAPSHOT_RECORDS_H_
#define SYNCLINE_REPLICATION_SRC_SNAPSHOT_RECORDS_H_

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "state_merge.h"
#include "syncline/core/store.h"
#include "syncline/replication/snapshot.h"

namespace syncline::replication::internal {

class IndexUpdates;  // item_index_table.h

void AppendPackedRecord(std::string* out, std::string_view key, std::string_view value);

// Walks packed records in order. Next() returns false at the end or at the first malformed
// record or key not above the one before it; status() then says which (Corruption naming the
// record) or is OK.
class PackedRecordReader {
 public:
  explicit PackedRecordReader(std::string_view packed) : in_(packed) {}
  bool Next(std::string_view* key, std::string_view* value);
  const Status& status() const { return status_; }
  uint64_t records() const { return records_; }

 private:
  std::string_view in_;
  size_t offset_ = 0;
  uint64_t records_ = 0;
  std::string_view prev_;  // the last key returned
  Status status_;
};

// The part of a stored data key up to and including its "\0\x01" separator (the DataKeyPrefix
// of its key), or Corruption.
Result<std::string_view> DataKeyItemPrefix(std::string_view stored);

// Checks packed records: framing, keys strictly increasing, every key a data key, at most
// `max_records` records. Returns how many keys (not records) they hold; Corruption naming the
// first bad record otherwise.
Result<uint64_t> CheckPackedRecords(std::string_view packed, size_t max_records);

// The whole state of every key in `packed`, in order; `type_of` gives a collection's type.
Status UnpackStates(std::string_view packed, const std::function<Result<CollectionType>(std::string_view)>& type_of,
                    std::vector<SnapshotEntry>* out);

// One key of packed records, checked and with its item-index entry computed (PreparePackedKeys).
struct PackedKey {
  std::string_view item;  // the key's DataKeyItemPrefix, pointing into the records
  size_t records = 0;     // how many records it has
  RangeSum digest;        // its item digest (RecordDigest sum)
  RangeSum hash;          // HashItem(index key, item, digest), when an index key was given
};

// Checks packed records for a store as they are, off the writer thread: every record must lie
// in [begin, end) (an empty `end`: no upper bound), belong to a collection of `targets` and, for
// a blob type, be its one state record. With `index_key`, also computes each key's digest and
// keyed hash. Corruption naming `what` and the record when anything does not hold.
Result<std::vector<PackedKey>> PreparePackedKeys(std::string_view packed, std::string_view begin, std::string_view end,
                                                 const StateTargets& targets, const AntiEntropyKey* index_key,
                                                 const std::string& what);

// Stores packed records as they are, through Append, for a node whose data table holds no key at
// or above the first (checked by the caller); `keys` from PreparePackedKeys over the same records.
// With `index` (batched, built with the same index key), writes each key's item entry and gathers
// its block sum. Corruption naming `what` when a record is not above every stored key; the
// caller's transaction must then be abandoned.
Status AppendPackedRecords(core::WriteTxn& txn, IndexUpdates* index, std::string_view packed,
                           const std::vector<PackedKey>& keys, const std::string& what);

}  // namespace syncline::replication::internal

#endif  // SYNCLINE_REPLICATION_SRC_SNAPSHOT_RECORDS_H_
