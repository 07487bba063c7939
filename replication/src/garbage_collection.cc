// Replica: garbage collection below the stability horizon (gc.h).
#include <future>
#include <memory>
#include <utility>
#include <vector>

#include "state_access.h"
#include "state_merge.h"
#include "syncline/replication/replica.h"

namespace syncline::replication {

namespace {

struct ScannedKey {
  std::string collection;
  std::string key;
  std::string state;
};

}  // namespace

Replica::CollectionMap Replica::CollectionsNow() const {
  std::lock_guard<std::mutex> lock(mu_);
  return collections_;
}

std::function<Result<CollectionType>(std::string_view)> Replica::TypeLookup(const CollectionMap& collections) {
  return [&collections](std::string_view coll) -> Result<CollectionType> {
    auto it = collections.find(coll);
    if (it == collections.end()) {
      return Status::Corruption("the data table holds keys of collection '" + std::string(coll) +
                                "', which the meta table does not name");
    }
    return it->second.type;
  };
}

void Replica::CollectGarbageAsync(VersionVector horizon, std::string begin, uint64_t max_keys,
                                  std::function<void(Result<GcReport>)> done) {
  auto report = std::make_shared<GcReport>();
  if (!Serving()) {
    // A node installing a snapshot holds a partial data table and a context that does not yet
    // name it; nothing is collected until the install completes.
    done(*report);
    return;
  }
  auto fn = [this, horizon = std::move(horizon), begin = std::move(begin), max_keys,
             report](core::WriteTxn& txn) -> Status {
    *report = GcReport();
    SYNCLINE_ASSIGN_OR_RETURN(DotContext ctx, internal::LoadNodeContext(txn));
    // Never above what this node applied itself: a change the peers hold and we do not yet
    // could be concurrent with a tombstone collected here.
    VersionVector h = VersionVector::Min(horizon, ctx.vv());
    CollectionMap collections = CollectionsNow();
    auto type_of = TypeLookup(collections);
    std::vector<ScannedKey> keys;
    bool stop = false;
    SYNCLINE_RETURN_IF_ERROR(internal::ForEachState(
        txn, type_of,
        [&](std::string_view coll, std::string_view key, std::string_view state) -> Status {
          keys.push_back(ScannedKey{std::string(coll), std::string(key), std::string(state)});
          if (max_keys > 0 && keys.size() >= max_keys) {
            report->next = internal::DataKeyPrefix(coll, key) + "\xff";
            stop = true;
          }
          return Status::Ok();
        },
        begin, {}, &stop));
    for (ScannedKey& k : keys) {
      ++report->scanned;
      const Collection& c = collections.find(k.collection)->second;
      auto collected = c.impl->Collect(&k.state, h);
      if (!collected.ok()) {
        return collected.status().WithContext("collecting '" + k.collection + "' key " + internal::HexPrefix(k.key));
      }
      std::string prefix = internal::DataKeyPrefix(k.collection, k.key);
      if (collected->remove_key) {
        SYNCLINE_RETURN_IF_ERROR(internal::DeleteKeyRecords(txn, IndexForWrites(), prefix));
        ++report->removed;
      } else if (collected->dropped > 0 && !internal::UsesRecords(c.type)) {
        auto records = internal::TxnKeyRecords(txn, IndexForWrites(), k.collection, k.key);
        SYNCLINE_RETURN_IF_ERROR(internal::StoreBlob(*records, k.state));
        report->dropped += collected->dropped;
      }
    }
    if (!stop) report->next.clear();
    return Status::Ok();
  };
  store_->Submit(std::move(fn), [report, done = std::move(done)](Status s) {
    if (!s.ok()) {
      done(s.WithContext("collecting garbage"));
      return;
    }
    done(*report);
  });
}

Result<GcReport> Replica::CollectGarbage(const VersionVector& horizon, std::string begin, uint64_t max_keys) {
  std::promise<Result<GcReport>> promise;
  auto future = promise.get_future();
  CollectGarbageAsync(horizon, std::move(begin), max_keys,
                      [&promise](Result<GcReport> r) { promise.set_value(std::move(r)); });
  return future.get();
}

}  // namespace syncline::replication
