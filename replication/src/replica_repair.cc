// Replica: anti-entropy support: the per-session item index, reading states by key for a peer's
// fetch, and merging the states a peer sent through the collections' resolvers.
#include <xxhash.h>

#include <algorithm>
#include <cstring>

#include "state_access.h"
#include "state_merge.h"
#include "syncline/replication/replica.h"

namespace syncline::replication {


StateDigest Replica::ItemDigest(std::string_view collection, std::string_view key, std::string_view state) {
  // The bytes Digest() feeds per key: each field preceded by its length (4 bytes little-endian).
  std::string buf;
  buf.reserve(12 + collection.size() + key.size() + state.size());
  for (std::string_view s : {collection, key, state}) {
    for (int i = 0; i < 4; ++i) buf.push_back(static_cast<char>(s.size() >> (8 * i)));
    buf.append(s);
  }
  XXH128_hash_t h = XXH3_128bits(buf.data(), buf.size());
  StateDigest d{};
  for (int i = 0; i < 8; ++i) {
    d[i] = static_cast<uint8_t>(h.high64 >> (56 - 8 * i));
    d[8 + i] = static_cast<uint8_t>(h.low64 >> (56 - 8 * i));
  }
  return d;
}

Status Replica::BuildItemIndex(size_t max_keys, MemoryItemIndex* index) {
  if (!Serving()) return NotServing();
  auto type_of = [this](std::string_view coll) -> Result<CollectionType> {
    SYNCLINE_ASSIGN_OR_RETURN(Collection c, FindCollection(coll));
    return c.type;
  };
  size_t keys = 0;
  Status s = store_->Read([&](core::ReadView& view) -> Status {
    return internal::ForEachState(view, type_of, [&](std::string_view coll, std::string_view key, std::string_view state) -> Status {
      if (++keys > max_keys) {
        return Status::ResourceExhausted("the data holds more than " + std::to_string(max_keys) +
                                         " keys, the most an anti-entropy item index is built for "
                                         "(raise anti_entropy max_index_keys)");
      }
      SYNCLINE_ASSIGN_OR_RETURN(std::string item, MakeItemKey(coll, key));
      index->Upsert(item, ItemDigest(coll, key, state));
      return Status::Ok();
    });
  });
  return s.WithContext("building the anti-entropy item index");
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
  auto fn = [this, item_keys = std::move(item_keys), peer_vv = std::move(peer_vv), dropped](core::WriteTxn& txn) -> Status {
    *dropped = 0;
    if (peer_vv.empty()) return Status::Ok();
    for (const std::string& item : item_keys) {
      std::string coll, key;
      SYNCLINE_RETURN_IF_ERROR(SplitItemKey(item, &coll, &key).WithContext("anti-entropy item key " + internal::HexPrefix(item)));
      auto c = FindCollection(coll);
      if (!c.ok()) continue;
      auto records = internal::TxnKeyRecords(txn, coll, key);
      SYNCLINE_ASSIGN_OR_RETURN(std::string state, internal::LoadState(*records, c->type));
      if (state.empty()) continue;
      SYNCLINE_ASSIGN_OR_RETURN(bool seen, c->impl->SeenBy(state, peer_vv));
      if (!seen) continue;
      SYNCLINE_RETURN_IF_ERROR(internal::DeleteKeyRecords(txn, internal::DataKeyPrefix(coll, key)));
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
  auto fn = [what, data, targets, stale](core::WriteTxn& txn) -> Status {
    *stale = 0;
    return internal::MergeStatesInto(txn, *targets, data->entries, what, stale.get());
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
