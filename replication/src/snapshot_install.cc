// Replica: snapshot bootstrap (reading chunks, installing them) and the serving gate.
#include <algorithm>
#include <map>
#include <set>
#include <vector>

#include "item_index_table.h"
#include "snapshot_records.h"
#include "state_access.h"
#include "state_merge.h"
#include "syncline/core/feed.h"
#include "syncline/replication/replica.h"

namespace syncline::replication {

namespace {

constexpr std::string_view kInstallMeta = "snapshot.install";
constexpr std::string_view kFloorMeta = "log.floor";
constexpr uint8_t kProgressFormat = 1;

void PutU64(std::string* out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out->push_back(static_cast<char>(v >> (8 * i)));
}
void PutBytes(std::string* out, std::string_view s) {
  PutU64(out, s.size());
  out->append(s);
}
bool GetU64(std::string_view* in, uint64_t* v) {
  if (in->size() < 8) return false;
  *v = 0;
  for (int i = 7; i >= 0; --i) *v = (*v << 8) | static_cast<uint8_t>((*in)[i]);
  in->remove_prefix(8);
  return true;
}
bool GetBytes(std::string_view* in, std::string_view* s) {
  uint64_t n = 0;
  if (!GetU64(in, &n) || n > in->size()) return false;
  *s = in->substr(0, n);
  in->remove_prefix(n);
  return true;
}

// meta "snapshot.install": format byte, then source, next_begin and the encoded vector
// (length-prefixed), then keys, bytes and chunks (8 bytes little-endian each).
std::string EncodeProgress(const SnapshotProgress& p) {
  std::string out(1, static_cast<char>(kProgressFormat));
  PutBytes(&out, p.source);
  PutBytes(&out, p.next_begin);
  PutBytes(&out, p.context.Encode());
  PutU64(&out, p.keys);
  PutU64(&out, p.bytes);
  PutU64(&out, p.chunks);
  return out;
}

Result<SnapshotProgress> DecodeProgress(std::string_view in) {
  auto bad = [] { return Status::Corruption("meta record 'snapshot.install' is malformed"); };
  if (in.empty() || static_cast<uint8_t>(in[0]) != kProgressFormat) return bad();
  in.remove_prefix(1);
  SnapshotProgress p;
  p.installing = true;
  std::string_view source, next, ctx;
  if (!GetBytes(&in, &source) || !GetBytes(&in, &next) || !GetBytes(&in, &ctx)) return bad();
  if (!GetU64(&in, &p.keys) || !GetU64(&in, &p.bytes) || !GetU64(&in, &p.chunks) || !in.empty()) return bad();
  p.source = std::string(source);
  p.next_begin = std::string(next);
  auto vv = VersionVector::Decode(ctx);
  if (!vv.ok()) return vv.status().WithContext("meta record 'snapshot.install'");
  p.context = std::move(vv).value();
  return p;
}

Result<std::optional<SnapshotProgress>> LoadProgress(core::ReadView& view) {
  auto v = view.Get(core::Table::kMeta, kInstallMeta);
  if (v.status().IsNotFound()) return std::optional<SnapshotProgress>();
  if (!v.ok()) return v.status();
  SYNCLINE_ASSIGN_OR_RETURN(SnapshotProgress p, DecodeProgress(*v));
  return std::optional<SnapshotProgress>(std::move(p));
}

Result<VersionVector> LoadVector(core::ReadView& view, std::string_view name) {
  auto v = view.Get(core::Table::kMeta, name);
  if (v.status().IsNotFound()) return VersionVector();
  if (!v.ok()) return v.status();
  auto vv = VersionVector::Decode(*v);
  if (!vv.ok()) return vv.status().WithContext("meta record '" + std::string(name) + "'");
  return vv;
}


}  // namespace

Status Replica::LoadSnapshotMeta() {
  std::optional<SnapshotProgress> progress;
  VersionVector floor;
  SYNCLINE_RETURN_IF_ERROR(store_->Read([&](core::ReadView& view) -> Status {
    SYNCLINE_ASSIGN_OR_RETURN(progress, LoadProgress(view));
    SYNCLINE_ASSIGN_OR_RETURN(floor, LoadVector(view, kFloorMeta));
    return Status::Ok();
  }));
  std::lock_guard<std::mutex> lock(mu_);
  snapshot_ = progress.has_value() ? std::move(*progress) : SnapshotProgress();
  log_floor_ = std::move(floor);
  return Status::Ok();
}

bool Replica::Serving() {
  std::lock_guard<std::mutex> lock(mu_);
  return !snapshot_.installing;
}

Status Replica::NotServing() const {
  std::lock_guard<std::mutex> lock(mu_);
  return Status::Unavailable("this node is installing a snapshot from " + snapshot_.source + " (" +
                             std::to_string(snapshot_.keys) + " keys so far) and serves nothing until it is complete; "
                             "ask another node or retry later");
}

SnapshotProgress Replica::snapshot_progress() const {
  std::lock_guard<std::mutex> lock(mu_);
  return snapshot_;
}

VersionVector Replica::LogFloor() {
  std::lock_guard<std::mutex> lock(mu_);
  return log_floor_;
}

Status Replica::ReadSnapshotChunk(std::string_view begin, size_t max_bytes, SnapshotChunkData* out) {
  *out = SnapshotChunkData();
  auto type_of = [this](std::string_view coll) -> Result<CollectionType> {
    SYNCLINE_ASSIGN_OR_RETURN(Collection c, FindCollection(coll));
    return c.type;
  };
  bool stop = false;
  std::string last_collection;
  Status s = store_->Read([&](core::ReadView& view) -> Status {
    SYNCLINE_ASSIGN_OR_RETURN(DotContext ctx, internal::LoadNodeContext(view));
    out->context = ctx.vv();
    return internal::ForEachState(
        view, type_of,
        [&](std::string_view coll, std::string_view key, std::string_view state) -> Status {
          if (coll != last_collection) {
            SYNCLINE_ASSIGN_OR_RETURN(Collection c, FindCollection(coll));
            out->collections[std::string(coll)] = c.resolver;
            last_collection = std::string(coll);
          }
          out->entries.push_back(SnapshotEntry{std::string(coll), std::string(key), std::string(state)});
          out->bytes += key.size() + state.size();
          if (out->bytes >= max_bytes) {
            // Every sub-key of a key sorts below 0xff, so this starts right after the key's records.
            out->next_begin = internal::DataKeyPrefix(coll, key) + "\xff";
            stop = true;
          }
          return Status::Ok();
        },
        begin, {}, &stop);
  });
  if (!s.ok()) return s.WithContext("reading a snapshot chunk from data key " + internal::HexPrefix(begin));
  out->last = !stop;
  if (out->last) out->next_begin.clear();
  return Status::Ok();
}

Status Replica::ReadSnapshotRecords(std::string_view begin, size_t max_bytes, SnapshotChunkData* out) {
  *out = SnapshotChunkData();
  // Room for a full chunk at once: growing a buffer of megabytes step by step copies it and
  // faults in fresh pages every time.
  out->records.reserve(std::min<size_t>(max_bytes, size_t{64} << 20) + 4096);
  std::string item;  // the DataKeyItemPrefix of the key being read
  std::string collection;
  bool stopped = false;
  Status inner;
  Status s = store_->Read([&](core::ReadView& view) -> Status {
    SYNCLINE_ASSIGN_OR_RETURN(DotContext ctx, internal::LoadNodeContext(view));
    out->context = ctx.vv();
    std::string from = begin.empty() ? std::string(1, '\x01') : std::string(begin);
    SYNCLINE_RETURN_IF_ERROR(view.Scan(core::Table::kData, from, {}, [&](std::string_view k, std::string_view v) {
      auto prefix = internal::DataKeyItemPrefix(k);
      if (!prefix.ok()) {
        inner = prefix.status();
        return false;
      }
      if (*prefix != item) {
        // A key boundary: stop here once the chunk is full (every sub-key sorts below 0xff, so
        // the next chunk starts right after the last key's records).
        if (out->bytes >= max_bytes) {
          out->next_begin = item + "\xff";
          stopped = true;
          return false;
        }
        item.assign(*prefix);
        ++out->record_keys;
        std::string_view coll = k.substr(0, k.find('\0'));
        if (coll != collection) {
          auto c = FindCollection(coll);
          if (!c.ok()) {
            inner = c.status();
            return false;
          }
          collection.assign(coll);
          out->collections[collection] = c->resolver;
        }
      }
      internal::AppendPackedRecord(&out->records, k, v);
      out->bytes = out->records.size();
      return true;
    }));
    return inner;
  });
  if (!s.ok()) return s.WithContext("reading snapshot records from data key " + internal::HexPrefix(begin));
  out->last = !stopped;
  return Status::Ok();
}

Result<bool> Replica::FreshFrom(core::WriteTxn& txn, std::string_view begin) {
  SYNCLINE_ASSIGN_OR_RETURN(DotContext ctx, internal::LoadNodeContext(txn));
  if (!ctx.vv().empty()) return false;
  bool any = false;
  SYNCLINE_RETURN_IF_ERROR(txn.Scan(core::Table::kData, begin.empty() ? std::string_view("\x01") : begin, {},
                                    [&any](std::string_view, std::string_view) {
                                      any = true;
                                      return false;
                                    }));
  return !any;
}

Status Replica::DropSeenAbsent(core::WriteTxn& txn, const std::string& begin, const SnapshotChunkData& chunk,
                               const std::vector<SnapshotEntry>& entries, const internal::StateTargets& targets,
                               uint64_t* dropped, HlcTimestamp feed_hlc) {
  // The chunk covers the source's data-table keys from `begin` to its next_begin (to the end for
  // the last one), read in one view whose vector is chunk.context. A local key in that range the
  // chunk does not hold, whose every change that vector covers, was removed at the source by
  // garbage collection: keeping it would keep (and spread) deleted data.
  if (chunk.context.empty()) return Status::Ok();
  std::set<std::string, std::less<>> held;
  for (const SnapshotEntry& e : entries) held.insert(internal::DataKeyPrefix(e.collection, e.key));
  CollectionMap collections = CollectionsNow();
  // Collections this install registered in this transaction are not in collections_ yet.
  for (const auto& [name, t] : targets) collections.emplace(name, Collection{t.resolver, t.type, t.impl});
  auto type_of = TypeLookup(collections);
  struct Drop {
    std::string collection, key, resolver;
  };
  std::vector<Drop> drop;
  SYNCLINE_RETURN_IF_ERROR(internal::ForEachState(
      txn, type_of,
      [&](std::string_view coll, std::string_view key, std::string_view state) -> Status {
        if (held.count(internal::DataKeyPrefix(coll, key)) != 0) return Status::Ok();
        const Collection& c = collections.find(coll)->second;
        auto seen = c.impl->SeenBy(state, chunk.context);
        if (!seen.ok()) {
          return seen.status().WithContext("local state of '" + std::string(coll) + "' key " + internal::HexPrefix(key));
        }
        if (*seen) drop.push_back(Drop{std::string(coll), std::string(key), c.resolver});
        return Status::Ok();
      },
      begin, chunk.last ? std::string_view() : std::string_view(chunk.next_begin)));
  for (const Drop& d : drop) {
    SYNCLINE_RETURN_IF_ERROR(internal::DeleteKeyRecords(txn, IndexForWrites(), internal::DataKeyPrefix(d.collection, d.key)));
    SYNCLINE_RETURN_IF_ERROR(core::AppendStateToFeed(txn, d.collection, d.key, d.resolver, {}, feed_hlc));
  }
  *dropped = drop.size();
  return Status::Ok();
}

void Replica::InstallSnapshotChunk(std::string source, std::string begin, SnapshotChunkData chunk,
                                   std::function<void(Status)> done) {
  // Resolve the collections and validate every entry off the writer thread (state_merge.h).
  std::string what = "snapshot chunk from " + source;
  auto prepared = internal::PrepareStates(
      what, *registry_, [this](std::string_view n) -> Result<std::string> {
        SYNCLINE_ASSIGN_OR_RETURN(Collection c, FindCollection(n));
        return c.resolver;
      },
      &chunk);
  if (!prepared.ok()) {
    done(prepared.status());
    return;
  }
  std::shared_ptr<const internal::StateTargets> targets = std::move(prepared).value();
  if (!chunk.records.empty() && !chunk.entries.empty()) {
    done(Status::Corruption(what + " holds both entries and packed records"));
    return;
  }
  auto data = std::make_shared<SnapshotChunkData>(std::move(chunk));
  // Packed records are checked, and their index entries computed, here rather than on the
  // writer, which a new node's install keeps busy.
  auto packed_keys = std::make_shared<std::vector<internal::PackedKey>>();
  if (!data->records.empty()) {
    auto prepared_keys = internal::PreparePackedKeys(data->records, begin, data->last ? std::string_view() : data->next_begin,
                                                     *targets, IndexForWrites() != nullptr ? &index_key_ : nullptr, what);
    if (!prepared_keys.ok()) {
      done(prepared_keys.status());
      return;
    }
    *packed_keys = std::move(prepared_keys).value();
  }
  // Packed records for a node that holds data in the chunk's range are merged as states: made
  // from the records once (the write function may run more than once) and validated like entries.
  auto unpacked = std::make_shared<std::optional<std::vector<SnapshotEntry>>>();
  auto entries_of = [data, targets, unpacked, what]() -> Result<const std::vector<SnapshotEntry>*> {
    if (data->records.empty()) return &data->entries;
    if (!unpacked->has_value()) {
      std::vector<SnapshotEntry> entries;
      auto type_of = [&targets](std::string_view coll) -> Result<CollectionType> {
        auto t = targets->find(coll);
        if (t == targets->end()) {
          return Status::Corruption("packed records hold a key of collection '" + std::string(coll) +
                                    "', which the chunk does not describe");
        }
        return t->second.type;
      };
      SYNCLINE_RETURN_IF_ERROR(internal::UnpackStates(data->records, type_of, &entries).WithContext(what));
      SYNCLINE_RETURN_IF_ERROR(internal::PrepareEntries(what, *targets, &entries));
      *unpacked = std::move(entries);
    }
    return &**unpacked;
  };
  auto result = std::make_shared<SnapshotProgress>();
  auto finished_context = std::make_shared<DotContext>();
  auto floor_after = std::make_shared<VersionVector>();
  auto stale_skipped = std::make_shared<uint64_t>(0);
  auto stale_dropped = std::make_shared<uint64_t>(0);
  auto fn = [this, source, what, begin, data, targets, packed_keys, entries_of, result, finished_context, floor_after, stale_skipped,
             stale_dropped, feed_hlc = Now()](core::WriteTxn& txn) -> Status {
    SYNCLINE_ASSIGN_OR_RETURN(std::optional<SnapshotProgress> progress, LoadProgress(txn));
    std::string stopped_at = progress.has_value() ? progress->next_begin : std::string();
    if (begin != stopped_at) {
      return Status::FailedPrecondition(what + " starts at data key " + internal::HexPrefix(begin) +
                                        ", but the install here stopped at " + internal::HexPrefix(stopped_at) +
                                        "; ask again from there");
    }
    *stale_skipped = 0;
    *stale_dropped = 0;
    uint64_t keys = 0;
    SYNCLINE_ASSIGN_OR_RETURN(bool fresh, FreshFrom(txn, begin));
    if (!data->records.empty() && fresh) {
      // A new node: nothing here to merge with, drop or find stale, so the records are stored as
      // they are, in order (snapshot_records.h).
      SYNCLINE_RETURN_IF_ERROR(internal::RegisterCollections(txn, *targets, what));
      std::optional<internal::IndexUpdates> batch = internal::BatchOf(IndexForWrites());
      SYNCLINE_RETURN_IF_ERROR(
          internal::AppendPackedRecords(txn, batch ? &*batch : nullptr, data->records, *packed_keys, what));
      if (batch) SYNCLINE_RETURN_IF_ERROR(batch->Flush(txn));
      keys = packed_keys->size();
    } else {
      SYNCLINE_ASSIGN_OR_RETURN(const std::vector<SnapshotEntry>* entries, entries_of());
      // Dropping first walks only what was here before the chunk (nothing, on a new node); the
      // merge touches only the chunk's keys, which the drop leaves alone.
      SYNCLINE_RETURN_IF_ERROR(DropSeenAbsent(txn, begin, *data, *entries, *targets, stale_dropped.get(), feed_hlc));
      // The keys the merge changes are entered in the change feed, unless this is a new node
      // (no context, no data from `begin` on): its install is its initial state, not feed entries.
      SYNCLINE_RETURN_IF_ERROR(internal::MergeStatesInto(txn, IndexForWrites(), *targets, *entries, what, stale_skipped.get(),
                                                         fresh ? std::nullopt : std::optional<HlcTimestamp>(feed_hlc)));
      keys = entries->size();
    }
    SnapshotProgress p = progress.has_value() ? std::move(*progress) : SnapshotProgress();
    p.context = progress.has_value() ? VersionVector::Min(p.context, data->context) : data->context;
    p.installing = true;
    p.source = source;
    p.next_begin = data->next_begin;
    p.keys += keys;
    p.bytes += data->bytes;
    p.chunks += 1;
    if (!data->last) {
      SYNCLINE_RETURN_IF_ERROR(txn.Put(core::Table::kMeta, kInstallMeta, EncodeProgress(p)));
      *result = std::move(p);
      return Status::Ok();
    }
    // Complete: every state holds at least what the meet names, so the node holds it too. The log
    // does not hold those changes, so they count as missing from it (the floor).
    SYNCLINE_ASSIGN_OR_RETURN(DotContext ctx, internal::LoadNodeContext(txn));
    ctx.Merge(DotContext(p.context));
    SYNCLINE_RETURN_IF_ERROR(txn.Put(core::Table::kMeta, "context", ctx.Encode()));
    SYNCLINE_ASSIGN_OR_RETURN(VersionVector floor, LoadVector(txn, kFloorMeta));
    for (const auto& [origin, counter] : p.context.entries()) {
      if (origin != id_) floor.Advance(origin, counter);
    }
    SYNCLINE_RETURN_IF_ERROR(txn.Put(core::Table::kMeta, kFloorMeta, floor.Encode()));
    SYNCLINE_RETURN_IF_ERROR(txn.Delete(core::Table::kMeta, kInstallMeta));
    *finished_context = DotContext(p.context);
    *floor_after = std::move(floor);
    p.installing = false;
    *result = std::move(p);
    return Status::Ok();
  };
  store_->Submit(std::move(fn), [this, targets, result, finished_context, floor_after, stale_skipped, stale_dropped,
                                 done = std::move(done)](Status s) {
    ReadyWaiters ready;
    if (s.ok()) {
      std::lock_guard<std::mutex> lock(mu_);
      stats_.stale_states_skipped += *stale_skipped;
      stats_.stale_keys_dropped += *stale_dropped;
      for (const auto& [name, t] : *targets) {
        collections_.emplace(name, Collection{t.resolver, t.type, t.impl});
      }
      snapshot_ = *result;
      if (!result->installing) {
        context_.Merge(*finished_context);
        applied_.Merge(*finished_context);
        log_floor_.Merge(*floor_after);
        TakeReachedLocked(DotStage::kApplied, nullptr, &ready);
        TakeReachedLocked(DotStage::kDurable, nullptr, &ready);
      }
    }
    RunReady(ready);
    if (s.ok() && !result->installing) NotifyCommit();
    done(s);
  });
}

}  // namespace syncline::replication
