// Replica: anti-entropy support: the stored item index (opening, reading, checking), reading
// states by key for a peer's fetch, and merging the states a peer sent through the resolvers.

#include <algorithm>
#include <cstring>

#include "item_index_table.h"
#include "state_access.h"
#include "state_merge.h"
#include "syncline/core/feed.h"
#include "syncline/replication/replica.h"

namespace syncline::replication {


Status Replica::OpenItemIndex() {
  index_key_ = DeriveIndexKey(options_.index_secret);
  if (!options_.build_item_index) return Status::Ok();
  bool current = false;
  SYNCLINE_RETURN_IF_ERROR(store_->Read([&](core::ReadView& view) -> Status {
    SYNCLINE_ASSIGN_OR_RETURN(current, internal::ItemIndexCurrent(view, index_key_));
    return Status::Ok();
  }));
  if (!current || options_.rebuild_item_index) {
    // First open by this version, the cluster secret changed, or a rebuild was asked for: one
    // pass over the data.
    SYNCLINE_RETURN_IF_ERROR(store_->WriteAndWait([&](core::WriteTxn& txn) -> Status {
      SYNCLINE_ASSIGN_OR_RETURN(index_items_at_open_, internal::RebuildItemIndex(txn, index_key_));
      return Status::Ok();
    }).WithContext("building the anti-entropy item index"));
    index_rebuilt_at_open_ = true;
  } else {
    SYNCLINE_RETURN_IF_ERROR(WithIndexUnchecked([&](const ItemIndex& index) -> Status {
      SYNCLINE_ASSIGN_OR_RETURN(index_items_at_open_, index.Size());
      return Status::Ok();
    }));
  }
  index_updates_ = std::make_unique<internal::IndexUpdates>(index_key_, /*batched=*/false);
  index_live_ = true;
  return Status::Ok();
}

Status Replica::WithIndexUnchecked(const std::function<Status(const ItemIndex&)>& fn) const {
  return store_->Read([&](core::ReadView& view) -> Status {
    internal::StoredItemIndex index(view, index_key_);
    SYNCLINE_RETURN_IF_ERROR(index.Load());
    return fn(index);
  });
}

Status Replica::WithItemIndex(const std::function<Status(const ItemIndex&)>& fn) {
  if (!index_live_) {
    return Status::FailedPrecondition("this replica was opened without its anti-entropy item index");
  }
  if (!Serving()) return NotServing();
  return WithIndexUnchecked(fn);
}

Status Replica::CallWithItemIndex(BoundItemIndex& bound, const std::function<Status()>& call) {
  return WithItemIndex([&](const ItemIndex& index) -> Status {
    bound.target = &index;
    Status s = call();
    bound.target = nullptr;
    return s;
  });
}

Status Replica::CheckItemIndex() const {
  if (!index_live_) {
    return Status::FailedPrecondition("this replica was opened without its anti-entropy item index");
  }
  return store_->Read([&](core::ReadView& view) { return internal::CheckItemIndex(view, index_key_); });
}

Status Replica::ReadStates(const std::vector<std::string>& item_keys, size_t max_bytes, SnapshotChunkData* out,
                           std::vector<std::string>* missing) {
  *out = SnapshotChunkData();
  if (!Serving()) return NotServing();
  return store_->Read([&](core::ReadView& view) -> Status {
    auto ctx = internal::LoadNodeContext(view);
    if (ctx.ok()) out->context = ctx->vv();
    for (const std::string& item : item_keys) {
      if (out->bytes >= max_bytes && !out->entries.empty()) break;
      std::string coll, key;
      SYNCLINE_RETURN_IF_ERROR(SplitItemKey(item, &coll, &key).WithContext("anti-entropy item key " + internal::HexPrefix(item)));
      auto c = FindCollection(coll);
      if (!c.ok()) {
        missing->push_back(item);
        continue;
      }
      auto records = internal::ViewKeyRecords(view, coll, key);
      SYNCLINE_ASSIGN_OR_RETURN(std::string state, internal::LoadState(*records, c->type));
      if (state.empty()) {
        missing->push_back(item);
        continue;
      }
      out->collections[coll] = c->resolver;
      out->bytes += key.size() + state.size();
      out->entries.push_back(SnapshotEntry{std::move(coll), std::move(key), std::move(state)});
    }
    return Status::Ok();
  });
}

void Replica::DropStale(std::vector<std::string> item_keys, VersionVector peer_vv,
                        std::function<void(Result<uint64_t>)> done) {
  if (!Serving()) {
    done(NotServing());
    return;
  }
  auto dropped = std::make_shared<uint64_t>(0);
  // Each key dropped is entered in the change feed as dropped (core::AppendStateToFeed).
  auto fn = [this, item_keys = std::move(item_keys), peer_vv = std::move(peer_vv), dropped, now = Now()](core::WriteTxn& txn) -> Status {
    *dropped = 0;
    if (peer_vv.empty()) return Status::Ok();
    for (const std::string& item : item_keys) {
      std::string coll, key;
      SYNCLINE_RETURN_IF_ERROR(SplitItemKey(item, &coll, &key).WithContext("anti-entropy item key " + internal::HexPrefix(item)));
      auto c = FindCollection(coll);
      if (!c.ok()) continue;
      auto records = internal::TxnKeyRecords(txn, IndexForWrites(), coll, key);
      SYNCLINE_ASSIGN_OR_RETURN(std::string state, internal::LoadState(*records, c->type));
      if (state.empty()) continue;
      SYNCLINE_ASSIGN_OR_RETURN(bool seen, c->impl->SeenBy(state, peer_vv));
      if (!seen) continue;
      SYNCLINE_RETURN_IF_ERROR(internal::DeleteKeyRecords(txn, IndexForWrites(), internal::DataKeyPrefix(coll, key)));
      SYNCLINE_RETURN_IF_ERROR(core::AppendStateToFeed(txn, coll, key, c->resolver, {}, now));
      ++*dropped;
    }
    return Status::Ok();
  };
  store_->Submit(std::move(fn), [this, dropped, done = std::move(done)](Status s) {
    if (!s.ok()) {
      done(s.WithContext("dropping states a peer collected"));
      return;
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      stats_.stale_keys_dropped += *dropped;
    }
    done(*dropped);
  });
}

void Replica::MergeStates(std::string source, SnapshotChunkData states, std::function<void(Result<uint64_t>)> done) {
  if (!Serving()) {
    done(NotServing());
    return;
  }
  // The snapshot install's join (state_merge.h) without its progress bookkeeping.
  std::string what = "states from " + source;
  auto prepared = internal::PrepareStates(
      what, *registry_, [this](std::string_view n) -> Result<std::string> {
        SYNCLINE_ASSIGN_OR_RETURN(Collection c, FindCollection(n));
        return c.resolver;
      },
      &states);
  if (!prepared.ok()) {
    done(prepared.status());
    return;
  }
  std::shared_ptr<const internal::StateTargets> targets = std::move(prepared).value();
  auto data = std::make_shared<SnapshotChunkData>(std::move(states));
  auto stale = std::make_shared<uint64_t>(0);
  // The keys a repair changes are entered in the change feed, so its consumers see the repair.
  auto fn = [what, data, targets, stale, index = IndexForWrites(), now = Now()](core::WriteTxn& txn) -> Status {
    *stale = 0;
    return internal::MergeStatesInto(txn, index, *targets, data->entries, what, stale.get(), now);
  };
  store_->Submit(std::move(fn), [this, targets, data, stale, done = std::move(done)](Status s) {
    if (!s.ok()) {
      done(s);
      return;
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (const auto& [name, t] : *targets) collections_.emplace(name, Collection{t.resolver, t.type, t.impl});
      stats_.stale_states_skipped += *stale;
    }
    done(static_cast<uint64_t>(data->entries.size() - *stale));
  });
}

}  // namespace syncline::replication
