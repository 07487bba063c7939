// Merging whole states from a peer: what a snapshot chunk install and an anti-entropy repair
// share. Both receive a batch of (collection, key, encoded state) with the collections'
// resolvers, validate all of it before writing anything, register collections new here and join
// each state into the stored one through its collection's resolver.
//
// Thread-safety: PrepareStates runs on any thread; MergeStatesInto on the store's writer.
#ifndef SYNCLINE_REPLICATION_SRC_STATE_MERGE_H_
#define SYNCLINE_REPLICATION_SRC_STATE_MERGE_H_

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "syncline/conflict/resolver.h"
#include "syncline/core/store.h"
#include "syncline/replication/replica.h"
#include "syncline/replication/snapshot.h"

namespace syncline::replication::internal {

// Hex of the first 48 bytes of `s` (then "..."), "(start)" when empty: keys and data-table
// positions in error messages.
std::string HexPrefix(std::string_view s);

// A collection the states belong to, resolved once.
struct StateTarget {
  std::string resolver;
  CollectionType type;
  std::shared_ptr<const conflict::Resolver> impl;
};
using StateTargets = std::map<std::string, StateTarget, std::less<>>;

// Resolves the collections of `states` and validates every entry, off the writer thread: a
// collection name or resolver that is not valid here, a collection that exists here with another
// resolver (`local_resolver` gives ours, any error meaning "none"), an entry of a collection the
// batch does not describe, an invalid key or a blob state its resolver does not decode is an
// error naming `what` (e.g. "snapshot chunk from n1"), and nothing may be written. Blob states are
// put in canonical form (joined into the empty state), so a key new here can be stored as is.
// The collections part of PrepareStates: resolves and checks `collections` (name -> resolver).
Result<std::shared_ptr<const StateTargets>> PrepareTargets(
    const std::string& what, const conflict::ResolverRegistry& registry,
    const std::function<Result<std::string>(std::string_view)>& local_resolver,
    const std::map<std::string, std::string>& collections);
// The entries part of PrepareStates, against targets PrepareTargets made.
Status PrepareEntries(const std::string& what, const StateTargets& targets, std::vector<SnapshotEntry>* entries);

// In the writer's transaction: writes the meta record of every collection of `targets` new here;
// FailedPrecondition for one that exists here with another resolver.
Status RegisterCollections(core::WriteTxn& txn, const StateTargets& targets, const std::string& what);

Result<std::shared_ptr<const StateTargets>> PrepareStates(
    const std::string& what, const conflict::ResolverRegistry& registry,
    const std::function<Result<std::string>(std::string_view)>& local_resolver, SnapshotChunkData* states);

// In the writer's transaction: writes the meta record of every collection new here
// (FailedPrecondition for one that exists with another resolver), then merges every entry:
// stores the canonical state of a blob-type key new here, joins it into the stored state
// otherwise. Entries must have passed PrepareStates with `targets`. With `index`, the item index
// follows, its blocks updated once for the whole batch (item_index_table.h).
//
// An entry for a key this node holds no record of, whose every change this node's context has
// seen (Resolver::SeenBy), is skipped and counted in `*stale` (if not null): the key was removed
// here by garbage collection, and merging the peer's older state would bring deleted data back.
//
// With `feed_hlc`, every key whose state the merge changed gets a state entry in the change feed
// (core::AppendStateToFeed, stamped `*feed_hlc`) holding its state after the merge. A set or map
// key is then loaded whole before and after its merge.
Status MergeStatesInto(core::WriteTxn& txn, const IndexUpdates* index, const StateTargets& targets, const std::vector<SnapshotEntry>& entries,
                       const std::string& what, uint64_t* stale = nullptr,
                       std::optional<HlcTimestamp> feed_hlc = std::nullopt);

}  // namespace syncline::replication::internal

#endif  // SYNCLINE_REPLICATION_SRC_STATE_MERGE_H_
