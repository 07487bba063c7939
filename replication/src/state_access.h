// State access: where a key's state lives in the data table and how a delta is merged into it,
// by collection type. Sets and maps keep their record layout (conflict/record_layout.h), so a
// merge touches O(delta) records; the other types keep one record "s" under the key's prefix.
//
// Thread-safety: functions act only on the view or transaction given.
#ifndef SYNCLINE_REPLICATION_SRC_STATE_ACCESS_H_
#define SYNCLINE_REPLICATION_SRC_STATE_ACCESS_H_

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "syncline/conflict/or_set.h"
#include "syncline/conflict/record_layout.h"
#include "syncline/conflict/resolver.h"
#include "syncline/core/store.h"
#include "syncline/replication/anti_entropy.h"
#include "syncline/replication/replica.h"

namespace syncline::replication::internal {

class IndexUpdates;  // item_index_table.h

// The sub-key of the single record holding a blob-type state.
inline constexpr std::string_view kStateSub = "s";

bool UsesRecords(CollectionType type);

// The node's dot context (meta "context"); empty when none is stored yet, Corruption naming the
// record when it does not decode.
Result<DotContext> LoadNodeContext(core::ReadView& view);

// The prefix of every record of one key in the data table:
//   collection \0 escape(key) \0 \x01
// where escape() turns each 0x00 byte of the key into 0x00 0xFF. Order-preserving (the keys of a
// collection sort as their raw bytes do) and prefix-free (no key's prefix starts another's).
std::string DataKeyPrefix(std::string_view collection, std::string_view key);
struct ParsedDataKey {
  std::string collection;
  std::string key;
  std::string_view sub;  // points into the parsed string
};
// Splits a stored data-table key; Corruption when it is not of the form above.
Result<ParsedDataKey> ParseDataKey(std::string_view stored);

// The item key (anti_entropy.h, MakeItemKey) of a DataKeyPrefix.
std::string_view ItemOfPrefix(std::string_view prefix);
// Its inverse: the DataKeyPrefix of an item key.
std::string PrefixOfItem(std::string_view item);

// Removes every record of one key (its whole state), given its DataKeyPrefix, and its item from
// the item index (item_index_table.h) when `index` is given.
Status DeleteKeyRecords(core::WriteTxn& txn, IndexUpdates* index, std::string_view prefix);

// KeyRecords over the data table of a write transaction (which must outlive it). With an
// `index`, every record written or removed updates the item index in the same transaction.
std::unique_ptr<conflict::KeyRecords> TxnKeyRecords(core::WriteTxn& txn, IndexUpdates* index, std::string_view collection,
                                                    std::string_view key);

// KeyRecords reading through a view; Put and Delete fail with FailedPrecondition.
std::unique_ptr<conflict::KeyRecords> ViewKeyRecords(core::ReadView& view, std::string_view collection,
                                                     std::string_view key);

// KeyRecords over an in-memory map of sub-key -> value (used to assemble a scanned key).
class MapKeyRecords final : public conflict::KeyRecords {
 public:
  std::map<std::string, std::string, std::less<>> records;
  Result<std::optional<std::string>> Get(std::string_view sub) override;
  Status Put(std::string_view sub, std::string_view value) override;
  Status Delete(std::string_view sub) override;
  Status Scan(std::string_view prefix,
              const std::function<bool(std::string_view sub, std::string_view value)>& visit) override;
};

// The key's whole encoded state, "" when absent. O(state) for sets and maps.
Result<std::string> LoadState(conflict::KeyRecords& records, CollectionType type);

// The part of a stored set that a local add or remove of `element` needs: the set's context and
// that element's dots. O(1) records.
Result<conflict::OrSet> LoadSetElement(conflict::KeyRecords& records, const std::string& element);

// Replaces the stored state of a blob type (records-based types use their own functions).
Status StoreBlob(conflict::KeyRecords& records, std::string_view state);

// Merges `delta` into the stored state. For blob types `*before` (if not null) receives the state
// before the merge and `*after` the state after it; for sets and maps they stay empty (their states
// may be large). Corruption if the delta does not decode.
Status MergeDelta(conflict::KeyRecords& records, CollectionType type, const conflict::Resolver& resolver,
                  std::string_view delta, conflict::MergeOutcome* outcome, std::string* before,
                  std::string* after);

// Visits every key of every collection in order with its whole encoded state. `type_of` gives a
// collection's type (NotFound stops the walk with that error).
using StateVisitor = std::function<Status(std::string_view collection, std::string_view key, std::string_view state)>;
// Starts at data-table key `begin` ("": the first key) and stops before `end` ("": the last) or
// as soon as `*stop` (if given) became true.
Status ForEachState(core::ReadView& view, const std::function<Result<CollectionType>(std::string_view)>& type_of,
                    const StateVisitor& visit, std::string_view begin = {}, std::string_view end = {},
                    const bool* stop = nullptr);

}  // namespace syncline::replication::internal

#endif  // SYNCLINE_REPLICATION_SRC_STATE_ACCESS_H_
