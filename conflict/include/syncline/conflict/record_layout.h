// Record layout of large collections: a set's state kept as many small records under its key,
// so that applying a delta reads and writes O(delta) records, never the whole set.
//
// Records of one key (sub-keys, relative to the key's own prefix):
//   "c"                 the key's DotContext (core encoding), bounded by the replicas
//   "e" + element       the element's live dots (varint count, then replica and counter each)
//   "i" + dot (16 B BE) the element that dot belongs to (the dot index)
//   "l"                 the log clock: a flags byte (1: unlogged) then the core version-vector
//                       encoding; absent while no change of the key was recorded
// An add's delta touches its element, its new dot's index record, the context and the log
// clock; a remove's touches the elements its dots belong to (found through the index), the
// context and the log clock.
//
// KeyRecords is the seam: the replication engine implements it over a core::WriteTxn (see
// TxnKeyRecords), tests over a map. Pure code otherwise: no I/O of its own.
//
// Thread-safety: as the KeyRecords implementation given (TxnKeyRecords: the writer thread).
#ifndef SYNCLINE_CONFLICT_RECORD_LAYOUT_H_
#define SYNCLINE_CONFLICT_RECORD_LAYOUT_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "syncline/conflict/or_set.h"
#include "syncline/core/store.h"

namespace syncline::conflict {

class KeyRecords {
 public:
  virtual ~KeyRecords() = default;
  // nullopt when absent.
  virtual Result<std::optional<std::string>> Get(std::string_view sub) = 0;
  virtual Status Put(std::string_view sub, std::string_view value) = 0;
  virtual Status Delete(std::string_view sub) = 0;
  // Visits the records whose sub-key starts with `prefix`, in order; return false to stop.
  virtual Status Scan(std::string_view prefix,
                      const std::function<bool(std::string_view sub, std::string_view value)>& visit) = 0;
};

// KeyRecords over the `data` table of a write transaction: sub-keys live under
// collection + '\0' + key + '\0'. The transaction must outlive the returned object.
std::unique_ptr<KeyRecords> TxnKeyRecords(core::WriteTxn& txn, std::string_view collection,
                                          std::string_view key);

// Applies a set delta (from OrSet::Add / Remove, or any OrSet) to a set stored as records.
Status ApplySetDelta(KeyRecords& records, const OrSet& delta, MergeOutcome* outcome);

// Reads the whole set back (O(size); for reads, snapshots and tests).
Result<OrSet> LoadSet(KeyRecords& records);

// OrSet::Collect on a set stored as records: when the set has no element and every change of
// the key is stable under `horizon`, deletes the key's remaining records (context and log
// clock) and says remove_key; otherwise changes nothing. Reads O(1) records.
Result<CollectResult> CollectSet(KeyRecords& records, const VersionVector& horizon);

}  // namespace syncline::conflict

#endif  // SYNCLINE_CONFLICT_RECORD_LAYOUT_H_
