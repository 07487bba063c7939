#include "state_merge.h"

#include <optional>

#include "item_index_table.h"

#include "state_access.h"
#include "syncline/core/feed.h"

namespace syncline::replication::internal {

std::string HexPrefix(std::string_view s) {
  static const char* kDigits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s.substr(0, 48)) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 15]);
  }
  if (s.size() > 48) out += "...";
  return out.empty() ? "(start)" : out;
}

Result<std::shared_ptr<const StateTargets>> PrepareTargets(
    const std::string& what, const conflict::ResolverRegistry& registry,
    const std::function<Result<std::string>(std::string_view)>& local_resolver,
    const std::map<std::string, std::string>& collections) {
  auto targets = std::make_shared<StateTargets>();
  for (const auto& [name, resolver] : collections) {
    Status valid = core::ValidateCollectionName(name);
    auto impl = registry.Find(resolver);
    if (!valid.ok() || !impl.ok()) {
      return (valid.ok() ? impl.status() : valid).WithContext(what + ", collection '" + name + "'");
    }
    auto existing = local_resolver(name);
    if (existing.ok() && *existing != resolver) {
      return Status::FailedPrecondition(what + " has collection '" + name + "' with resolver '" + resolver +
                                        "', but here it has '" + *existing + "'");
    }
    targets->emplace(name, StateTarget{resolver, TypeOfResolver(resolver), *impl});
  }
  return std::shared_ptr<const StateTargets>(std::move(targets));
}

Status PrepareEntries(const std::string& what, const StateTargets& targets, std::vector<SnapshotEntry>* entries) {
  for (SnapshotEntry& e : *entries) {
    auto t = targets.find(e.collection);
    if (t == targets.end()) {
      return Status::Corruption(what + " has key " + HexPrefix(e.key) + " of collection '" + e.collection +
                                "', which it does not describe");
    }
    SYNCLINE_RETURN_IF_ERROR(core::ValidateKey(e.key).WithContext(what));
    if (UsesRecords(t->second.type)) continue;
    std::string canonical;
    Status joined = t->second.impl->Join(&canonical, e.state, nullptr);
    if (!joined.ok()) return joined.WithContext("state of '" + e.collection + "' key " + HexPrefix(e.key) + " in " + what);
    e.state = std::move(canonical);
  }
  return Status::Ok();
}

Result<std::shared_ptr<const StateTargets>> PrepareStates(
    const std::string& what, const conflict::ResolverRegistry& registry,
    const std::function<Result<std::string>(std::string_view)>& local_resolver, SnapshotChunkData* states) {
  SYNCLINE_ASSIGN_OR_RETURN(auto targets, PrepareTargets(what, registry, local_resolver, states->collections));
  SYNCLINE_RETURN_IF_ERROR(PrepareEntries(what, *targets, &states->entries));
  return targets;
}

Status RegisterCollections(core::WriteTxn& txn, const StateTargets& targets, const std::string& what) {
  for (const auto& [name, t] : targets) {
    std::string key = "collection/" + name;
    auto existing = txn.Get(core::Table::kMeta, key);
    if (existing.ok()) {
      if (*existing != t.resolver) {
        return Status::FailedPrecondition("collection '" + name + "' exists here with resolver '" + *existing + "', " +
                                          what + " has '" + t.resolver + "'");
      }
    } else if (existing.status().IsNotFound()) {
      SYNCLINE_RETURN_IF_ERROR(txn.Put(core::Table::kMeta, key, t.resolver));
    } else {
      return existing.status();
    }
  }
  return Status::Ok();
}

Status MergeStatesInto(core::WriteTxn& txn, const IndexUpdates* index, const StateTargets& targets, const std::vector<SnapshotEntry>& entries,
                       const std::string& what, uint64_t* stale, std::optional<HlcTimestamp> feed_hlc) {
  SYNCLINE_RETURN_IF_ERROR(RegisterCollections(txn, targets, what));
  SYNCLINE_ASSIGN_OR_RETURN(DotContext ctx, LoadNodeContext(txn));
  std::optional<IndexUpdates> batch = BatchOf(index);
  IndexUpdates* updates = batch ? &*batch : nullptr;
  for (const SnapshotEntry& e : entries) {
    const StateTarget& t = targets.find(e.collection)->second;
    auto records = TxnKeyRecords(txn, updates, e.collection, e.key);
    bool absent = false;
    if (UsesRecords(t.type)) {
      absent = true;
      SYNCLINE_RETURN_IF_ERROR(records->Scan("", [&absent](std::string_view, std::string_view) {
        absent = false;
        return false;
      }));
    } else {
      SYNCLINE_ASSIGN_OR_RETURN(auto blob, records->Get(kStateSub));
      absent = !blob.has_value();
    }
    if (absent && !ctx.vv().empty()) {
      auto seen = t.impl->SeenBy(e.state, ctx.vv());
      if (!seen.ok()) return seen.status().WithContext("state of '" + e.collection + "' key " + HexPrefix(e.key) + " in " + what);
      if (*seen) {
        if (stale != nullptr) ++*stale;
        continue;
      }
    }
    std::string before, after;
    if (absent && !UsesRecords(t.type)) {
      // Nothing stored here (e.g. a new node): store the canonical state PrepareStates made.
      SYNCLINE_RETURN_IF_ERROR(StoreBlob(*records, e.state));
      after = e.state;
    } else {
      // Otherwise a join of whole states through the collection's resolver (a blob type hands
      // back its states before and after; a set or map is loaded for the feed only).
      if (feed_hlc.has_value() && UsesRecords(t.type) && !absent) {
        SYNCLINE_ASSIGN_OR_RETURN(before, LoadState(*records, t.type));
      }
      Status merged = MergeDelta(*records, t.type, *t.impl, e.state, nullptr, &before, &after);
      if (!merged.ok()) return merged.WithContext("merging '" + e.collection + "' key " + HexPrefix(e.key) + " from " + what);
      if (feed_hlc.has_value() && UsesRecords(t.type)) {
        SYNCLINE_ASSIGN_OR_RETURN(after, LoadState(*records, t.type));
      }
    }
    if (feed_hlc.has_value() && before != after) {
      Status fed = core::AppendStateToFeed(txn, e.collection, e.key, t.resolver, after, *feed_hlc);
      if (!fed.ok()) return fed.WithContext("entering '" + e.collection + "' key " + HexPrefix(e.key) + " from " + what + " in the change feed");
    }
  }
  return batch ? batch->Flush(txn) : Status::Ok();
}

}  // namespace syncline::replication::internal
