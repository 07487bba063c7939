#include "syncline/replication/replica.h"

#include <xxhash.h>

#include <cstdio>

#include "item_index_table.h"
#include "state_access.h"
#include "syncline/conflict/counter.h"
#include "syncline/conflict/lww.h"
#include "syncline/conflict/mv.h"
#include "syncline/conflict/or_set.h"
#include "syncline/conflict/record_layout.h"
#include "syncline/conflict/value_resolver.h"

namespace syncline::replication {

namespace {
constexpr std::string_view kCollectionMetaPrefix = "collection/";
}  // namespace

CollectionType TypeOfResolver(std::string_view resolver) {
  if (resolver == "lww") return CollectionType::kLww;
  if (resolver == "mv") return CollectionType::kMv;
  if (resolver == "counter") return CollectionType::kCounter;
  if (resolver == "set") return CollectionType::kSet;
  if (resolver == "map") return CollectionType::kMap;
  return CollectionType::kCustom;
}

WriteOp WriteOp::Put(std::string value, VersionVector token) {
  WriteOp op;
  op.kind = Kind::kPut;
  op.value = std::move(value);
  op.token = std::move(token);
  return op;
}
WriteOp WriteOp::Delete(VersionVector token) {
  WriteOp op;
  op.kind = Kind::kDelete;
  op.token = std::move(token);
  return op;
}
WriteOp WriteOp::Add(int64_t amount) {
  WriteOp op;
  op.kind = Kind::kAdd;
  op.amount = amount;
  return op;
}
WriteOp WriteOp::AddElement(std::string element) {
  WriteOp op;
  op.kind = Kind::kAddElement;
  op.value = std::move(element);
  return op;
}
WriteOp WriteOp::RemoveElement(std::string element) {
  WriteOp op;
  op.kind = Kind::kRemoveElement;
  op.value = std::move(element);
  return op;
}
WriteOp WriteOp::SetField(conflict::FieldPath path, std::string value) {
  WriteOp op;
  op.kind = Kind::kSetField;
  op.path = std::move(path);
  op.value = std::move(value);
  return op;
}
WriteOp WriteOp::IncrementField(conflict::FieldPath path, int64_t amount) {
  WriteOp op;
  op.kind = Kind::kIncrementField;
  op.path = std::move(path);
  op.amount = amount;
  return op;
}
WriteOp WriteOp::AddToField(conflict::FieldPath path, std::string element) {
  WriteOp op;
  op.kind = Kind::kAddToField;
  op.path = std::move(path);
  op.value = std::move(element);
  return op;
}
WriteOp WriteOp::RemoveFromField(conflict::FieldPath path, std::string element) {
  WriteOp op;
  op.kind = Kind::kRemoveFromField;
  op.path = std::move(path);
  op.value = std::move(element);
  return op;
}
WriteOp WriteOp::RemoveField(conflict::FieldPath path) {
  WriteOp op;
  op.kind = Kind::kRemoveField;
  op.path = std::move(path);
  return op;
}
WriteOp WriteOp::MergeDelta(std::string delta) {
  WriteOp op;
  op.kind = Kind::kMergeDelta;
  op.value = std::move(delta);
  return op;
}

Replica::Replica(core::Store* store, ReplicaOptions options)
    : store_(store),
      options_(std::move(options)),
      registry_(options_.registry),
      journal_(options_.journal),
      id_(store->replica_id()),
      hlc_(options_.clock, options_.hlc) {}

Replica::~Replica() {
  ReadyWaiters left;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (DotWaiters& stage : waiters_) {
      for (auto& [dot, w] : stage) left.push_back(std::move(w.done));
      stage.clear();
    }
    waiter_handles_.clear();
  }
  for (auto& done : left) done(Status::Unavailable("the replica was closed before the change arrived"));
}

Result<std::unique_ptr<Replica>> Replica::Open(core::Store* store, ReplicaOptions options) {
  if (store == nullptr) return Status::InvalidArgument("Replica::Open: no store given");
  if (options.clock == nullptr) options.clock = SystemClock::Default();
  if (options.registry == nullptr) {
    options.registry = std::make_shared<conflict::ResolverRegistry>(conflict::ResolverRegistry::WithBuiltins());
  }
  std::unique_ptr<Replica> r(new Replica(store, std::move(options)));
  SYNCLINE_RETURN_IF_ERROR(r->LoadMeta());
  SYNCLINE_RETURN_IF_ERROR(r->LoadSnapshotMeta());
  SYNCLINE_RETURN_IF_ERROR(r->OpenItemIndex());
  return r;
}

Status Replica::LoadMeta() {
  std::map<std::string, Collection, std::less<>> collections;
  DotContext context;
  HlcTimestamp last;
  Status s = store_->Read([&](core::ReadView& view) -> Status {
    std::string begin(kCollectionMetaPrefix);
    std::string end = begin;
    end.back() = static_cast<char>(end.back() + 1);
    Status inner;
    SYNCLINE_RETURN_IF_ERROR(view.Scan(core::Table::kMeta, begin, end, [&](std::string_view k, std::string_view v) {
      std::string name(k.substr(kCollectionMetaPrefix.size()));
      auto impl = registry_->Find(v);
      if (!impl.ok()) {
        inner = impl.status().WithContext("collection '" + name + "' stored in this data directory");
        return false;
      }
      collections.emplace(name, Collection{std::string(v), TypeOfResolver(v), *impl});
      return true;
    }));
    SYNCLINE_RETURN_IF_ERROR(inner);
    auto ctx = view.Get(core::Table::kMeta, "context");
    if (ctx.ok()) {
      auto decoded = DotContext::Decode(*ctx);
      if (!decoded.ok()) return decoded.status().WithContext("meta record 'context'");
      context = std::move(decoded).value();
    } else if (!ctx.status().IsNotFound()) {
      return ctx.status();
    }
    auto hlc = view.Get(core::Table::kMeta, "hlc");
    if (hlc.ok() && hlc->size() == 8) {
      uint64_t packed = 0;
      for (int i = 7; i >= 0; --i) packed = (packed << 8) | static_cast<uint8_t>((*hlc)[i]);
      last = HlcTimestamp::Unpack(packed);
    }
    return Status::Ok();
  });
  SYNCLINE_RETURN_IF_ERROR(s);
  std::lock_guard<std::mutex> lock(mu_);
  collections_ = std::move(collections);
  applied_ = context;
  context_ = std::move(context);
  hlc_.Restore(last);
  return Status::Ok();
}

Status Replica::CreateCollection(std::string_view name, std::string_view resolver) {
  SYNCLINE_RETURN_IF_ERROR(core::ValidateCollectionName(name));
  SYNCLINE_ASSIGN_OR_RETURN(auto impl, registry_->Find(resolver));
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = collections_.find(name);
    if (it != collections_.end()) {
      if (it->second.resolver == resolver) return Status::Ok();
      return Status::FailedPrecondition("collection '" + std::string(name) + "' exists with resolver '" +
                                        it->second.resolver + "', not '" + std::string(resolver) + "'");
    }
  }
  std::string key = std::string(kCollectionMetaPrefix) + std::string(name);
  std::string value(resolver);
  Status s = store_->WriteAndWait([&](core::WriteTxn& txn) -> Status {
    auto existing = txn.Get(core::Table::kMeta, key);
    if (existing.ok()) {
      if (*existing == value) return Status::Ok();
      return Status::FailedPrecondition("collection '" + std::string(name) + "' exists with resolver '" +
                                        *existing + "', not '" + value + "'");
    }
    if (!existing.status().IsNotFound()) return existing.status();
    return txn.Put(core::Table::kMeta, key, value);
  });
  SYNCLINE_RETURN_IF_ERROR(s);
  std::lock_guard<std::mutex> lock(mu_);
  collections_.emplace(std::string(name), Collection{value, TypeOfResolver(value), impl});
  return Status::Ok();
}

Result<Replica::Collection> Replica::FindCollection(std::string_view name) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = collections_.find(name);
  if (it == collections_.end()) {
    return Status::NotFound("no collection '" + std::string(name) + "' (create it first)");
  }
  return it->second;
}

Result<std::string> Replica::ResolverOf(std::string_view collection) const {
  SYNCLINE_ASSIGN_OR_RETURN(Collection c, FindCollection(collection));
  return c.resolver;
}

std::map<std::string, std::string> Replica::Collections() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::map<std::string, std::string> out;
  for (const auto& [name, c] : collections_) out.emplace(name, c.resolver);
  return out;
}

DotContext Replica::Context() { return static_cast<const Replica*>(this)->Context(); }

DotContext Replica::Context() const {
  std::lock_guard<std::mutex> lock(mu_);
  return context_;
}

DotContext Replica::AppliedContext() const {
  std::lock_guard<std::mutex> lock(mu_);
  return applied_;
}

ReplicaStats Replica::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  ReplicaStats out = stats_;
  out.dot_waiters = waiter_handles_.size();
  return out;
}

void Replica::SetCommitListener(std::function<void()> listener) {
  std::lock_guard<std::mutex> lock(mu_);
  if (listener) {
    commit_listener_ = std::make_shared<const std::function<void()>>(std::move(listener));
  } else {
    commit_listener_.reset();
  }
}

uint64_t Replica::AddCommitListener(std::function<void()> listener) {
  std::lock_guard<std::mutex> lock(mu_);
  uint64_t id = next_listener_id_++;
  extra_listeners_.emplace(id, std::make_shared<const std::function<void()>>(std::move(listener)));
  return id;
}

void Replica::RemoveCommitListener(uint64_t id) {
  std::lock_guard<std::mutex> lock(mu_);
  extra_listeners_.erase(id);
}

uint64_t Replica::WhenHeld(const Dot& dot, DotStage stage, std::function<void(Status)> done) {
  Status refused;
  {
    std::lock_guard<std::mutex> lock(mu_);
    const DotContext& held = stage == DotStage::kApplied ? applied_ : context_;
    if (!held.Contains(dot)) {
      size_t waiting = waiter_handles_.size();
      if (waiting < options_.max_dot_waiters) {
        uint64_t handle = next_waiter_handle_++;
        DotKey key(dot.replica.value(), dot.counter);
        waiters_[static_cast<int>(stage)].emplace(key, DotWaiter{handle, std::move(done)});
        waiter_handles_.emplace(handle, std::make_pair(static_cast<int>(stage), key));
        return handle;
      }
      refused = Status::ResourceExhausted("cannot wait for change " + dot.replica.ToString() + ":" + std::to_string(dot.counter) + ": " + std::to_string(waiting) +
                                          " callers wait for changes already (max_dot_waiters)");
    }
  }
  done(std::move(refused));
  return 0;
}

bool Replica::CancelWhenHeld(uint64_t handle) {
  std::function<void(Status)> dropped;  // destroyed once mu_ is released
  std::lock_guard<std::mutex> lock(mu_);
  auto h = waiter_handles_.find(handle);
  if (h == waiter_handles_.end()) return false;
  auto [stage, key] = h->second;
  waiter_handles_.erase(h);
  auto [begin, end] = waiters_[stage].equal_range(key);
  for (auto it = begin; it != end; ++it) {
    if (it->second.handle == handle) {
      dropped = std::move(it->second.done);
      waiters_[stage].erase(it);
      break;
    }
  }
  return true;
}

void Replica::TakeReachedLocked(DotStage stage, const std::vector<Dot>* dots, ReadyWaiters* ready) {
  DotWaiters& waiting = waiters_[static_cast<int>(stage)];
  if (waiting.empty()) return;
  if (dots != nullptr && dots->size() < waiting.size()) {
    for (const Dot& d : *dots) {
      auto [begin, end] = waiting.equal_range(DotKey(d.replica.value(), d.counter));
      for (auto it = begin; it != end; ++it) {
        waiter_handles_.erase(it->second.handle);
        ready->push_back(std::move(it->second.done));
      }
      waiting.erase(begin, end);
    }
    return;
  }
  const DotContext& held = stage == DotStage::kApplied ? applied_ : context_;
  for (auto it = waiting.begin(); it != waiting.end();) {
    if (held.Contains(Dot{ReplicaId(it->first.first), it->first.second})) {
      waiter_handles_.erase(it->second.handle);
      ready->push_back(std::move(it->second.done));
      it = waiting.erase(it);
    } else {
      ++it;
    }
  }
}

void Replica::TakeReachedLocked(DotStage stage, const std::vector<WriteResult>& results, ReadyWaiters* ready) {
  if (waiters_[static_cast<int>(stage)].empty()) return;
  std::vector<Dot> dots;
  dots.reserve(results.size());
  for (const WriteResult& r : results) dots.push_back(r.dot);
  TakeReachedLocked(stage, &dots, ready);
}

void Replica::RunReady(ReadyWaiters& ready) {
  for (auto& done : ready) done(Status::Ok());
  ready.clear();
}

void Replica::NotifyCommit() {
  std::shared_ptr<const std::function<void()>> listener;
  std::vector<std::shared_ptr<const std::function<void()>>> extra;
  {
    std::lock_guard<std::mutex> lock(mu_);
    listener = commit_listener_;
    for (const auto& [id, l] : extra_listeners_) extra.push_back(l);
  }
  if (listener) (*listener)();
  for (const auto& l : extra) (*l)();
}

HlcTimestamp Replica::Now() {
  std::lock_guard<std::mutex> lock(mu_);
  return hlc_.Now();
}

Result<ReadResult> Replica::Read(std::string_view collection, std::string_view key) {
  SYNCLINE_RETURN_IF_ERROR(core::ValidateKey(key));
  if (!Serving()) return NotServing();
  SYNCLINE_ASSIGN_OR_RETURN(Collection c, FindCollection(collection));
  ReadResult out;
  Status s = store_->Read([&](core::ReadView& view) -> Status {
    auto records = internal::ViewKeyRecords(view, collection, key);
    SYNCLINE_ASSIGN_OR_RETURN(out.state, internal::LoadState(*records, c.type));
    return Status::Ok();
  });
  SYNCLINE_RETURN_IF_ERROR(s.WithContext("reading '" + std::string(collection) + "'"));
  if (out.state.empty()) return out;
  SYNCLINE_ASSIGN_OR_RETURN(out.rendered, c.impl->Render(out.state));
  switch (c.type) {
    case CollectionType::kLww: {
      SYNCLINE_ASSIGN_OR_RETURN(auto reg, conflict::LwwRegister::Decode(out.state));
      auto v = reg.value();
      out.found = v.has_value();
      if (v.has_value()) out.values.push_back(std::move(*v));
      break;
    }
    case CollectionType::kMv: {
      SYNCLINE_ASSIGN_OR_RETURN(auto reg, conflict::MvRegister::Decode(out.state));
      out.values = reg.Values();
      out.token = reg.Token();
      out.found = !out.values.empty();
      break;
    }
    case CollectionType::kCounter: {
      SYNCLINE_ASSIGN_OR_RETURN(auto counter, conflict::PnCounter::Decode(out.state));
      out.counter = counter.value();
      out.found = true;
      break;
    }
    case CollectionType::kSet: {
      SYNCLINE_ASSIGN_OR_RETURN(auto set, conflict::OrSet::Decode(out.state));
      out.values = set.Elements();
      out.found = !out.values.empty();
      break;
    }
    case CollectionType::kMap: {
      SYNCLINE_ASSIGN_OR_RETURN(auto map, conflict::OrMap::Decode(out.state));
      out.values = map.Keys();
      out.found = !out.values.empty();
      break;
    }
    case CollectionType::kCustom: {
      // Value resolvers keep the mv layout; other custom resolvers only render.
      auto reg = conflict::MvRegister::Decode(out.state);
      if (reg.ok()) {
        out.values = reg->Values();
        out.token = reg->Token();
      }
      out.found = true;
      break;
    }
  }
  return out;
}

Status Replica::ReadLog(ReplicaId origin, uint64_t from, size_t max_changes, size_t max_bytes,
                        std::vector<core::Change>* out) {
  return store_->Read([&](core::ReadView& view) -> Status {
    size_t bytes = 0;
    uint64_t next = from;
    while (out->size() < max_changes && bytes < max_bytes) {
      size_t want = std::min<size_t>(max_changes - out->size(), 64);
      std::vector<core::Change> chunk;
      SYNCLINE_RETURN_IF_ERROR(view.ReadLog(origin, next, UINT64_MAX, want, &chunk));
      if (chunk.empty()) break;
      for (auto& c : chunk) {
        if (bytes >= max_bytes && !out->empty()) return Status::Ok();
        bytes += c.payload.size() + c.key.size() + 32;
        next = c.dot.counter + 1;
        out->push_back(std::move(c));
      }
      if (chunk.size() < want) break;
    }
    return Status::Ok();
  });
}

Status Replica::ReadLogEncoded(ReplicaId origin, uint64_t from, size_t max_changes, size_t max_bytes,
                               std::vector<core::EncodedChange>* out) {
  return store_->Read([&](core::ReadView& view) { return view.ReadLogEncoded(origin, from, max_changes, max_bytes, out); });
}

Result<std::string> Replica::Digest() {
  XXH3_state_t* st = XXH3_createState();
  if (st == nullptr) return Status::ResourceExhausted("digest: out of memory");
  XXH3_128bits_reset(st);
  auto put_len = [&](std::string_view s) {
    uint8_t len[4] = {static_cast<uint8_t>(s.size()), static_cast<uint8_t>(s.size() >> 8),
                      static_cast<uint8_t>(s.size() >> 16), static_cast<uint8_t>(s.size() >> 24)};
    XXH3_128bits_update(st, len, sizeof(len));
    XXH3_128bits_update(st, s.data(), s.size());
  };
  auto type_of = [this](std::string_view coll) -> Result<CollectionType> {
    SYNCLINE_ASSIGN_OR_RETURN(Collection c, FindCollection(coll));
    return c.type;
  };
  Status s = store_->Read([&](core::ReadView& view) -> Status {
    return internal::ForEachState(view, type_of, [&](std::string_view coll, std::string_view key, std::string_view state) {
      put_len(coll);
      put_len(key);
      put_len(state);
      return Status::Ok();
    });
  });
  XXH128_hash_t h = XXH3_128bits_digest(st);
  XXH3_freeState(st);
  SYNCLINE_RETURN_IF_ERROR(s.WithContext("computing the state digest"));
  char buf[33];
  std::snprintf(buf, sizeof(buf), "%016llx%016llx", static_cast<unsigned long long>(h.high64),
                static_cast<unsigned long long>(h.low64));
  return std::string(buf);
}

Status Replica::Dump(const std::function<void(std::string_view, std::string_view, std::string_view)>& visit) {
  auto type_of = [this](std::string_view coll) -> Result<CollectionType> {
    SYNCLINE_ASSIGN_OR_RETURN(Collection c, FindCollection(coll));
    return c.type;
  };
  return store_->Read([&](core::ReadView& view) -> Status {
    return internal::ForEachState(view, type_of, [&](std::string_view coll, std::string_view key, std::string_view state) -> Status {
      SYNCLINE_ASSIGN_OR_RETURN(Collection c, FindCollection(coll));
      SYNCLINE_ASSIGN_OR_RETURN(std::string rendered, c.impl->Render(state));
      visit(coll, key, rendered);
      return Status::Ok();
    });
  });
}

Status Replica::DumpPage(std::string_view collection, std::string_view after_collection, std::string_view after_key,
                         size_t limit,
                         const std::function<void(std::string_view, std::string_view, std::string_view)>& visit,
                         bool* more) {
  *more = false;
  if (!Serving()) return NotServing();
  std::string begin, end;
  if (!after_collection.empty()) {
    // Every sub-key of a key sorts below 0xff, so this starts right after the key's records.
    begin = internal::DataKeyPrefix(after_collection, after_key) + "\xff";
  } else if (!collection.empty()) {
    begin = std::string(collection) + std::string(1, '\0');
  }
  if (!collection.empty()) end = std::string(collection) + std::string(1, '\x01');
  auto type_of = [this](std::string_view coll) -> Result<CollectionType> {
    SYNCLINE_ASSIGN_OR_RETURN(Collection c, FindCollection(coll));
    return c.type;
  };
  size_t seen = 0;
  bool stop = false;
  return store_->Read([&](core::ReadView& view) -> Status {
    return internal::ForEachState(
        view, type_of,
        [&](std::string_view coll, std::string_view key, std::string_view state) -> Status {
          if (seen == limit) {
            *more = true;
            stop = true;
            return Status::Ok();
          }
          SYNCLINE_ASSIGN_OR_RETURN(Collection c, FindCollection(coll));
          SYNCLINE_ASSIGN_OR_RETURN(std::string rendered, c.impl->Render(state));
          visit(coll, key, rendered);
          ++seen;
          return Status::Ok();
        },
        begin, end, &stop);
  });
}

}  // namespace syncline::replication
