// The conflict journal: a record of every merge that settled a real concurrency (LWW
// discarded a concurrent write, MV kept siblings, a custom resolver folded versions), with
// both versions and their causal context, the resolver and the outcome.
//
// Entries live in the store's `journal` table, keyed by a sequence number, and are appended
// in the same write transaction as the merge they describe. Retention is bounded: appending
// beyond `max_entries` drops the oldest entries. ReplayJournal is the dry run for changing a
// collection's resolver: it merges each recorded pair again with a candidate resolver and
// reports which reads would have come out differently.
//
// Thread-safety: ConflictJournal holds only options; its methods act through the transaction
// or view they are given (see core/store.h for their threading).
#ifndef SYNCLINE_CONFLICT_JOURNAL_H_
#define SYNCLINE_CONFLICT_JOURNAL_H_

#include <cstdint>
#include <string>
#include <vector>

#include "syncline/conflict/resolver.h"
#include "syncline/core/hlc.h"
#include "syncline/core/store.h"

namespace syncline::conflict {

struct JournalEntry {
  uint64_t sequence = 0;  // assigned by Append
  std::string collection;
  std::string key;
  std::string resolver;
  HlcTimestamp at;
  std::string local;   // encoded state before the merge
  std::string remote;  // encoded incoming delta or state
  std::string merged;  // encoded state after the merge
  std::string outcome;

  friend bool operator==(const JournalEntry&, const JournalEntry&) = default;
};

struct JournalOptions {
  // Most entries kept; older ones are dropped as new ones arrive. Default 100,000.
  uint64_t max_entries = 100'000;
};

class ConflictJournal {
 public:
  explicit ConflictJournal(JournalOptions options = {}) : options_(options) {}

  // Appends `entry` in `txn` and returns its sequence number (from 1).
  Result<uint64_t> Append(core::WriteTxn& txn, JournalEntry entry) const;

  // Entries with sequence >= `from`, oldest first, at most `limit`.
  Status List(core::ReadView& view, uint64_t from, size_t limit, std::vector<JournalEntry>* out) const;

 private:
  JournalOptions options_;
};

// Merges `remote` into `*state` with `resolver`; if that settled a concurrency, journals it in
// `txn` with both versions. The merge and the entry commit together.
Status MergeAndJournal(core::WriteTxn& txn, const ConflictJournal& journal, const Resolver& resolver,
                       const std::string& collection, const std::string& key, HlcTimestamp at,
                       std::string* state, std::string_view remote);

struct ReplayResult {
  uint64_t sequence = 0;
  std::string collection;
  std::string key;
  std::string recorded;  // what a read returned with the recorded resolver
  std::string replayed;  // what it would return with the candidate
  bool changed = false;
  std::string error;     // set when the candidate cannot read the recorded states
};

struct ReplayReport {
  size_t entries = 0;
  size_t changed = 0;
  size_t incompatible = 0;
  std::vector<ReplayResult> results;
};

// The dry run: replays `entries` with `candidate`, rendering the recorded outcome with the
// resolver named in each entry (looked up in `registry`).
ReplayReport ReplayJournal(const std::vector<JournalEntry>& entries, const ResolverRegistry& registry,
                           const Resolver& candidate);

}  // namespace syncline::conflict

#endif  // SYNCLINE_CONFLICT_JOURNAL_H_
