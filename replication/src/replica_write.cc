// Replica: local writes and applying peers' changes (see replica.h).
#include <memory>
#include <utility>
#include <vector>

#include "item_index_table.h"
#include "state_access.h"
#include "undo_records.h"
#include "syncline/conflict/counter.h"
#include "syncline/conflict/lww.h"
#include "syncline/conflict/map.h"
#include "syncline/conflict/mv.h"
#include "syncline/conflict/or_set.h"
#include "syncline/conflict/record_layout.h"
#include "syncline/replication/replica.h"

namespace syncline::replication {

namespace {

using Kind = WriteOp::Kind;

std::string PackHlc(HlcTimestamp t) {
  uint64_t p = t.Pack();
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>(p >> (8 * i));
  return out;
}

const char* KindName(Kind k) {
  switch (k) {
    case Kind::kPut: return "put";
    case Kind::kDelete: return "delete";
    case Kind::kAdd: return "add";
    case Kind::kAddElement: return "add-element";
    case Kind::kRemoveElement: return "remove-element";
    case Kind::kSetField: return "set-field";
    case Kind::kIncrementField: return "increment-field";
    case Kind::kAddToField: return "add-to-field";
    case Kind::kRemoveFromField: return "remove-from-field";
    case Kind::kRemoveField: return "remove-field";
    case Kind::kMergeDelta: return "merge-delta";
  }
  return "?";
}

Status CheckOp(CollectionType type, const WriteOp& op, size_t max_value_bytes) {
  if (op.value.size() > max_value_bytes) {
    return Status::InvalidArgument("value of " + std::to_string(op.value.size()) + " bytes is above the limit of " +
                                   std::to_string(max_value_bytes) + " bytes");
  }
  bool ok = false;
  switch (type) {
    case CollectionType::kLww:
    case CollectionType::kMv: ok = op.kind == Kind::kPut || op.kind == Kind::kDelete; break;
    case CollectionType::kCounter: ok = op.kind == Kind::kAdd; break;
    case CollectionType::kSet: ok = op.kind == Kind::kAddElement || op.kind == Kind::kRemoveElement; break;
    case CollectionType::kMap:
      ok = op.kind == Kind::kSetField || op.kind == Kind::kIncrementField || op.kind == Kind::kAddToField ||
           op.kind == Kind::kRemoveFromField || op.kind == Kind::kRemoveField;
      break;
    case CollectionType::kCustom:
      ok = op.kind == Kind::kPut || op.kind == Kind::kDelete || op.kind == Kind::kMergeDelta;
      break;
  }
  if (!ok) return Status::InvalidArgument(std::string("operation '") + KindName(op.kind) + "' does not apply to this collection's type");
  return Status::Ok();
}

// Applies `op` to the stored state and returns the delta to replicate.
Result<std::string> ApplyLocal(conflict::KeyRecords& records, CollectionType type, const conflict::Resolver& resolver,
                               const WriteOp& op, const conflict::WriteContext& wctx) {
  switch (type) {
    case CollectionType::kLww: {
      SYNCLINE_ASSIGN_OR_RETURN(std::string state, internal::LoadState(records, type));
      conflict::LwwRegister reg;
      if (!state.empty()) {
        SYNCLINE_ASSIGN_OR_RETURN(reg, conflict::LwwRegister::Decode(state));
      }
      std::optional<std::string> value;
      if (op.kind == Kind::kPut) value = op.value;
      conflict::LwwRegister delta = reg.Write(wctx, std::move(value));
      SYNCLINE_RETURN_IF_ERROR(internal::StoreBlob(records, reg.Encode()));
      return delta.Encode();
    }
    case CollectionType::kMv:
    case CollectionType::kCustom: {
      if (op.kind == Kind::kMergeDelta) {
        std::string before, after;
        SYNCLINE_RETURN_IF_ERROR(internal::MergeDelta(records, type, resolver, op.value, nullptr, &before, &after));
        return op.value;
      }
      SYNCLINE_ASSIGN_OR_RETURN(std::string state, internal::LoadState(records, type));
      conflict::MvRegister reg;
      if (!state.empty()) {
        auto decoded = conflict::MvRegister::Decode(state);
        if (!decoded.ok()) {
          return decoded.status().WithContext("this collection's resolver does not keep the mv layout; write with MergeDelta");
        }
        reg = std::move(decoded).value();
      }
      std::optional<std::string> value;
      if (op.kind == Kind::kPut) value = op.value;
      conflict::MvRegister delta = reg.Write(wctx, op.token, std::move(value));
      SYNCLINE_RETURN_IF_ERROR(internal::StoreBlob(records, reg.Encode()));
      return delta.Encode();
    }
    case CollectionType::kCounter: {
      SYNCLINE_ASSIGN_OR_RETURN(std::string state, internal::LoadState(records, type));
      conflict::PnCounter counter;
      if (!state.empty()) {
        SYNCLINE_ASSIGN_OR_RETURN(counter, conflict::PnCounter::Decode(state));
      }
      SYNCLINE_ASSIGN_OR_RETURN(conflict::PnCounter delta, counter.Add(wctx.replica, op.amount));
      SYNCLINE_RETURN_IF_ERROR(internal::StoreBlob(records, counter.Encode()));
      return delta.Encode();
    }
    case CollectionType::kSet: {
      SYNCLINE_ASSIGN_OR_RETURN(conflict::OrSet partial, internal::LoadSetElement(records, op.value));
      // The logged forms: the change's log dot goes into the key's log clock, so the key can be
      // collected once every replica applied it (gc.h).
      conflict::OrSet delta = op.kind == Kind::kAddElement ? partial.Add(wctx, op.value) : partial.Remove(wctx, op.value);
      SYNCLINE_RETURN_IF_ERROR(conflict::ApplySetDelta(records, delta, nullptr));
      return delta.Encode();
    }
    case CollectionType::kMap: {
      SYNCLINE_ASSIGN_OR_RETURN(std::string state, internal::LoadState(records, type));
      conflict::OrMap partial;
      if (!state.empty()) {
        SYNCLINE_ASSIGN_OR_RETURN(partial, conflict::OrMap::Decode(state));
      }
      Result<conflict::OrMap> delta = Status::Internal("unreachable");
      switch (op.kind) {
        case Kind::kSetField: delta = partial.SetRegister(op.path, wctx, op.value); break;
        case Kind::kIncrementField: delta = partial.Increment(op.path, wctx, op.amount); break;
        case Kind::kAddToField: delta = partial.AddElement(op.path, wctx, op.value); break;
        case Kind::kRemoveFromField: delta = partial.RemoveElement(op.path, wctx, op.value); break;
        case Kind::kRemoveField: delta = partial.RemoveField(op.path, wctx); break;
        default: break;
      }
      SYNCLINE_RETURN_IF_ERROR(delta.status());
      SYNCLINE_RETURN_IF_ERROR(internal::StoreBlob(records, partial.Encode()));
      return delta->Encode();
    }
  }
  return Status::Internal("unknown collection type");
}

// A queued write's error, naming its collection.
Status WriteFailed(const std::string& collection, const Status& st) {
  return st.WithContext("write to '" + collection + "'");
}

std::string ChangeWhere(const core::Change& ch) {
  return "change " + ch.dot.replica.ToString() + ":" + std::to_string(ch.dot.counter) + " to '" + ch.collection + "'";
}

// LogAfterData: a write function applies its changes to the data first and appends them to the
// log after (the feed group and head follow at the end of the transaction). LMDB hands out pages
// in the order a transaction touches them, so the log's new pages come out as one run instead of
// alternating with the data's; retention later frees the log's pages, and a run of free pages is
// written back, when reused, in one request instead of one per page. Measured: p99 replication
// lag at half load 12 to 38 ms interleaved, 8.7 to 9.7 ms in this order (docs/benchmarks.md).

}  // namespace

Status Replica::ApplyLocalWrite(core::WriteTxn& txn, DotContext& ctx, internal::IndexUpdates* index,
                                const Collection& c, const std::string& collection, const std::string& key,
                                const WriteOp& op, WriteResult* result, std::vector<core::Change>* to_log) {
  Dot dot{id_, ctx.vv().Get(id_) + 1};
  HlcTimestamp now = Now();
  conflict::WriteContext wctx{id_, now, dot};
  std::unique_ptr<conflict::KeyRecords> records = internal::TxnKeyRecords(txn, index, collection, key);
  internal::UndoKeyRecords* undo = nullptr;
  if (undo_.load()) {
    auto wrapped = std::make_unique<internal::UndoKeyRecords>(std::move(records));
    undo = wrapped.get();
    records = std::move(wrapped);
  }
  SYNCLINE_ASSIGN_OR_RETURN(std::string delta, ApplyLocal(*records, c.type, *c.impl, op, wctx));
  if (undo != nullptr) SYNCLINE_RETURN_IF_ERROR(SaveUndo(txn, dot, collection, key, *undo));
  core::Change change;
  change.collection = collection;
  change.key = key;
  change.dot = dot;
  change.hlc = now;
  change.kind = static_cast<uint32_t>(c.type);
  change.payload = std::move(delta);
  change.resolver = c.resolver;
  to_log->push_back(std::move(change));
  ctx.Add(dot);
  *result = WriteResult{dot, now};
  return Status::Ok();
}

// A drain's writes, taken from the queue the first time it runs (a write function may run more
// than once), and how its last run went.
struct Replica::Drain {
  bool took = false;
  std::vector<QueuedWrite> writes;
  std::vector<WriteResult> results;
  // The write whose error the function returned; none when it failed elsewhere or not at all.
  std::optional<size_t> failed_at;
  // The transaction committed: the writes are answered when it is durable.
  bool committed = false;
};

void Replica::Write(std::string collection, std::string key, WriteOp op, WriteDone done) {
  Status valid = core::ValidateKey(key);
  auto coll = FindCollection(collection);
  if (valid.ok() && !Serving()) valid = NotServing();
  if (valid.ok() && !coll.ok()) valid = coll.status();
  if (valid.ok()) valid = CheckOp(coll->type, op, options_.max_value_bytes);
  if (!valid.ok()) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++stats_.write_errors;
    }
    done(WriteFailed(collection, valid));
    return;
  }
  {
    std::unique_lock<std::mutex> lock(queue_mu_);
    if (!store_->OnWriterThread()) {
      queue_room_.wait(lock, [&] { return queue_.size() < std::max<size_t>(options_.max_queued_writes, 1); });
    }
    queue_.push_back(QueuedWrite{std::move(coll).value(), std::move(collection), std::move(key), std::move(op),
                                 std::move(done)});
  }
  ScheduleDrain();
}

void Replica::ScheduleDrain() {
  {
    std::lock_guard<std::mutex> lock(queue_mu_);
    if (drain_pending_ || queue_.empty()) return;
    drain_pending_ = true;
  }
  auto drain = std::make_shared<Drain>();
  auto fn = [this, drain](core::WriteTxn& txn) -> Status {
    if (!drain->took) {
      drain->took = true;
      std::lock_guard<std::mutex> lock(queue_mu_);
      size_t n = std::min(queue_.size(), std::max<size_t>(options_.max_writes_per_commit, 1));
      drain->writes.reserve(n);
      for (size_t i = 0; i < n; ++i) {
        drain->writes.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      drain_pending_ = false;
      queue_room_.notify_all();
    }
    drain->results.clear();
    drain->failed_at.reset();
    if (drain->writes.empty()) return Status::Ok();
    SYNCLINE_ASSIGN_OR_RETURN(DotContext ctx, internal::LoadNodeContext(txn));
    std::optional<internal::IndexUpdates> index = internal::BatchOf(IndexForWrites());
    drain->results.resize(drain->writes.size());
    std::vector<core::Change> to_log;
    to_log.reserve(drain->writes.size());
    for (size_t i = 0; i < drain->writes.size(); ++i) {
      const QueuedWrite& w = drain->writes[i];
      Status st = ApplyLocalWrite(txn, ctx, index ? &*index : nullptr, w.c, w.collection, w.key, w.op,
                                  &drain->results[i], &to_log);
      if (!st.ok()) {
        drain->failed_at = i;
        return st;
      }
    }
    // The log after the data (LogAfterData): write i's change is to_log[i].
    for (size_t i = 0; i < to_log.size(); ++i) {
      if (Status st = txn.AppendChange(to_log[i]); !st.ok()) {
        drain->failed_at = i;
        return WriteFailed(drain->writes[i].collection, st);
      }
    }
    SYNCLINE_RETURN_IF_ERROR(txn.Put(core::Table::kMeta, "context", ctx.Encode()));
    SYNCLINE_RETURN_IF_ERROR(txn.Put(core::Table::kMeta, "hlc", PackHlc(drain->results.back().hlc)));
    return index ? index->Flush(txn) : Status::Ok();
  };
  store_->SubmitStaged(
      std::move(fn), [this, drain](Status s) { FinishDrain(*drain, std::move(s)); },
      [this, drain](Status s) { AnswerDrain(*drain, std::move(s)); });
}

void Replica::AnswerDrain(Drain& drain, Status s) {
  // A drain whose commit failed was answered by FinishDrain.
  if (!drain.committed) return;
  // The answers go out last, after every use of this object: a caller may destroy the replica
  // as soon as its write is answered.
  std::vector<std::pair<WriteDone, Result<WriteResult>>> answers;
  answers.reserve(drain.writes.size());
  if (s.ok()) {
    ReadyWaiters ready;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (const WriteResult& r : drain.results) context_.Add(r.dot);
      TakeReachedLocked(DotStage::kDurable, drain.results, &ready);
    }
    RunReady(ready);
    if (!drain.results.empty()) NotifyCommit();
    for (size_t i = 0; i < drain.writes.size(); ++i) answers.emplace_back(std::move(drain.writes[i].done), drain.results[i]);
  } else {
    // The commit did not reach the disk (a failed sync): the store refuses later writes, and
    // these may or may not survive an OS crash.
    {
      std::lock_guard<std::mutex> lock(mu_);
      stats_.local_writes -= drain.results.size();  // counted at commit
      stats_.write_errors += drain.writes.size();
    }
    for (QueuedWrite& w : drain.writes) answers.emplace_back(std::move(w.done), WriteFailed(w.collection, s));
  }
  for (auto& [done, result] : answers) done(std::move(result));
}

void Replica::FinishDrain(Drain& drain, Status s) {
  if (!drain.took) {
    // The store refused the function without running it (closed or failed): every queued write
    // gets its answer.
    std::lock_guard<std::mutex> lock(queue_mu_);
    drain_pending_ = false;
    while (!queue_.empty()) {
      drain.writes.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
    queue_room_.notify_all();
  }
  // The answers go out last, after every use of this object: a caller may destroy the replica
  // as soon as its write is answered.
  std::vector<std::pair<WriteDone, Result<WriteResult>>> answers;
  answers.reserve(drain.writes.size());
  uint64_t failed = 0;
  auto fail = [&](QueuedWrite& w, const Status& st) {
    ++failed;
    answers.emplace_back(std::move(w.done), WriteFailed(w.collection, st));
  };
  ReadyWaiters ready;
  if (s.ok()) {
    // Answered once durable (AnswerDrain); the next drain may run meanwhile.
    drain.committed = true;
    std::lock_guard<std::mutex> lock(mu_);
    for (const WriteResult& r : drain.results) applied_.Add(r.dot);
    stats_.local_writes += drain.results.size();
    TakeReachedLocked(DotStage::kApplied, drain.results, &ready);
  } else if (drain.failed_at && s.code() != StatusCode::kResourceExhausted && s.code() != StatusCode::kIOError &&
             s.code() != StatusCode::kUnavailable) {
    // One write's own error: it fails alone. The others were rolled back with it and go back to
    // the head of the queue in their order, ahead of any write a later drain could take (a later
    // drain was submitted after this one took its writes, so it has not run yet).
    size_t bad = *drain.failed_at;
    {
      std::lock_guard<std::mutex> lock(queue_mu_);
      for (size_t i = drain.writes.size(); i-- > 0;) {
        if (i != bad) queue_.push_front(std::move(drain.writes[i]));
      }
    }
    fail(drain.writes[bad], s);
  } else {
    // The store failed the transaction (full map or disk, I/O error, closed): every write of it
    // gets the error.
    for (QueuedWrite& w : drain.writes) fail(w, s);
  }
  if (failed > 0) {
    std::lock_guard<std::mutex> lock(mu_);
    stats_.write_errors += failed;
  }
  RunReady(ready);
  ScheduleDrain();
  for (auto& [done, result] : answers) done(std::move(result));
}

Result<WriteResult> Replica::WriteAndWait(std::string collection, std::string key, WriteOp op) {
  std::promise<Result<WriteResult>> p;
  auto f = p.get_future();
  Write(std::move(collection), std::move(key), std::move(op),
        [&p](Result<WriteResult> r) { p.set_value(std::move(r)); });
  return f.get();
}

void Replica::ApplyChanges(std::vector<core::Change> changes, ApplyDone done) {
  ApplyChanges(std::move(changes), {}, std::move(done));
}

void Replica::ApplyChanges(std::vector<core::Change> changes, std::vector<std::string> encoded, ApplyDone done) {
  if (!encoded.empty() && encoded.size() != changes.size()) {
    done(Status::InvalidArgument("a batch of " + std::to_string(changes.size()) + " changes came with " +
                                 std::to_string(encoded.size()) + " encodings"));
    return;
  }
  struct Outcome {
    ApplyStats stats;
    std::vector<Dot> dots;
    std::map<std::string, Collection, std::less<>> created;
  };
  auto out = std::make_shared<Outcome>();
  auto batch = std::make_shared<std::vector<core::Change>>(std::move(changes));
  auto bytes = std::make_shared<std::vector<std::string>>(std::move(encoded));
  auto fn = [this, out, batch, bytes](core::WriteTxn& txn) -> Status {
    *out = Outcome{};
    SYNCLINE_ASSIGN_OR_RETURN(DotContext ctx, internal::LoadNodeContext(txn));
    std::optional<internal::IndexUpdates> index = internal::BatchOf(IndexForWrites());
    bool any = false;
    // The changes to log, by index into the batch: appended after the data (see LogAfterData).
    std::vector<size_t> to_log;
    to_log.reserve(batch->size());
    for (size_t i = 0; i < batch->size(); ++i) {
      const core::Change& ch = (*batch)[i];
      if (Status valid = core::ValidateChange(ch); !valid.ok()) return valid.WithContext(ChangeWhere(ch));
      if (ctx.Contains(ch.dot)) {
        ++out->stats.duplicates;
        continue;
      }
      if (ch.kind == kVoidChangeKind) {
        // A change a promotion left behind: only its dot is recorded (leader_follower.h).
        to_log.push_back(i);
        ctx.Add(ch.dot);
        out->dots.push_back(ch.dot);
        ++out->stats.applied;
        any = true;
        continue;
      }
      // The collection: known, created earlier in this batch, or created now from the change.
      Collection c;
      auto found = FindCollection(ch.collection);
      if (found.ok()) {
        c = std::move(found).value();
      } else if (auto it = out->created.find(ch.collection); it != out->created.end()) {
        c = it->second;
      } else {
        if (ch.resolver.empty()) return found.status().WithContext(ChangeWhere(ch));
        auto impl = registry_->Find(ch.resolver);
        if (!impl.ok()) return impl.status().WithContext(ChangeWhere(ch) + ": this node cannot merge it");
        c = Collection{ch.resolver, TypeOfResolver(ch.resolver), *impl};
        SYNCLINE_RETURN_IF_ERROR(txn.Put(core::Table::kMeta, "collection/" + ch.collection, ch.resolver));
        out->created.emplace(ch.collection, c);
      }
      if (!ch.resolver.empty() && ch.resolver != c.resolver) {
        return Status::FailedPrecondition(ChangeWhere(ch) + " was made with resolver '" + ch.resolver +
                                          "' but the collection here uses '" + c.resolver + "'");
      }
      std::unique_ptr<conflict::KeyRecords> records =
          internal::TxnKeyRecords(txn, index ? &*index : nullptr, ch.collection, ch.key);
      internal::UndoKeyRecords* undo = nullptr;
      if (undo_.load()) {
        auto wrapped = std::make_unique<internal::UndoKeyRecords>(std::move(records));
        undo = wrapped.get();
        records = std::move(wrapped);
      }
      conflict::MergeOutcome outcome;
      std::string before, after;
      if (Status merged = internal::MergeDelta(*records, c.type, *c.impl, ch.payload, &outcome, &before, &after);
          !merged.ok()) {
        return merged.WithContext(ChangeWhere(ch));
      }
      if (undo != nullptr) {
        if (Status saved = SaveUndo(txn, ch.dot, ch.collection, ch.key, *undo); !saved.ok()) {
          return saved.WithContext(ChangeWhere(ch));
        }
      }
      if (outcome.concurrent) {
        ++out->stats.conflicts;
        conflict::JournalEntry entry;
        entry.collection = ch.collection;
        entry.key = ch.key;
        entry.resolver = c.resolver;
        entry.at = ch.hlc;
        entry.local = std::move(before);
        entry.remote = ch.payload;
        entry.merged = std::move(after);
        entry.outcome = outcome.description;
        SYNCLINE_RETURN_IF_ERROR(journal_.Append(txn, std::move(entry)).status());
      }
      to_log.push_back(i);
      ctx.Add(ch.dot);
      out->dots.push_back(ch.dot);
      ++out->stats.applied;
      any = true;
    }
    for (size_t i : to_log) {
      const core::Change& ch = (*batch)[i];
      Status appended = bytes->empty() ? txn.AppendChange(ch) : txn.AppendChange(ch, (*bytes)[i]);
      // A dot the log holds already is left as it is.
      if (!appended.ok() && appended.code() != StatusCode::kAlreadyExists) return appended.WithContext(ChangeWhere(ch));
    }
    if (any) SYNCLINE_RETURN_IF_ERROR(txn.Put(core::Table::kMeta, "context", ctx.Encode()));
    return index ? index->Flush(txn) : Status::Ok();
  };
  // At commit, before the next transaction: the collections the batch created, and the clock,
  // which must not stamp a later local write below a change applied here.
  auto committed = [this, out, batch](Status s) {
    if (!s.ok()) return;
    uint64_t refused = 0;
    ReadyWaiters ready;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (const Dot& d : out->dots) applied_.Add(d);
      for (auto& [name, c] : out->created) collections_.emplace(name, c);
      for (const core::Change& ch : *batch) {
        if (!hlc_.Update(ch.hlc).ok()) ++refused;
      }
      stats_.changes_applied += out->stats.applied;
      stats_.duplicates += out->stats.duplicates;
      stats_.conflicts += out->stats.conflicts;
      stats_.hlc_refused += refused;
      TakeReachedLocked(DotStage::kApplied, &out->dots, &ready);
    }
    RunReady(ready);
  };
  // Once durable: the changes count as held (the context we advertise, relay and acknowledge).
  auto durable = [this, out, done = std::move(done)](Status s) {
    if (!s.ok()) {
      done(s);
      return;
    }
    ReadyWaiters ready;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (const Dot& d : out->dots) context_.Add(d);
      TakeReachedLocked(DotStage::kDurable, &out->dots, &ready);
    }
    RunReady(ready);
    if (out->stats.applied > 0) NotifyCommit();
    done(out->stats);
  };
  store_->SubmitStaged(std::move(fn), std::move(committed), std::move(durable));
}

void Replica::WriteBatch(std::vector<KeyedWrite> writes, core::WriteFn also, BatchDone done) {
  Status valid;
  if (writes.size() > kMaxBatchWrites) {
    valid = Status::InvalidArgument("a batch of " + std::to_string(writes.size()) + " writes is above the limit of " +
                                    std::to_string(kMaxBatchWrites));
  }
  if (valid.ok() && !Serving()) valid = NotServing();
  std::vector<Collection> colls;
  for (size_t i = 0; valid.ok() && i < writes.size(); ++i) {
    const KeyedWrite& w = writes[i];
    std::string where = "write " + std::to_string(i) + " of the batch, to '" + w.collection + "'";
    valid = core::ValidateKey(w.key).WithContext(where);
    if (!valid.ok()) break;
    auto coll = FindCollection(w.collection);
    if (!coll.ok()) {
      valid = coll.status().WithContext(where);
      break;
    }
    valid = CheckOp(coll->type, w.op, options_.max_value_bytes).WithContext(where);
    colls.push_back(std::move(coll).value());
  }
  if (!valid.ok()) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++stats_.write_errors;
    }
    done(valid);
    return;
  }
  auto results = std::make_shared<std::vector<WriteResult>>();
  auto batch = std::make_shared<std::vector<KeyedWrite>>(std::move(writes));
  auto fn = [this, colls = std::move(colls), batch, also = std::move(also), results](core::WriteTxn& txn) -> Status {
    results->clear();
    SYNCLINE_ASSIGN_OR_RETURN(DotContext ctx, internal::LoadNodeContext(txn));
    std::optional<internal::IndexUpdates> index = internal::BatchOf(IndexForWrites());
    auto where = [&](size_t i) {
      return "write " + std::to_string(i) + " of the batch, to '" + (*batch)[i].collection + "'";
    };
    std::vector<core::Change> to_log;
    to_log.reserve(batch->size());
    for (size_t i = 0; i < batch->size(); ++i) {
      const KeyedWrite& w = (*batch)[i];
      WriteResult r;
      SYNCLINE_RETURN_IF_ERROR(
          ApplyLocalWrite(txn, ctx, index ? &*index : nullptr, colls[i], w.collection, w.key, w.op, &r, &to_log)
              .WithContext(where(i)));
      results->push_back(r);
    }
    for (size_t i = 0; i < to_log.size(); ++i) {  // LogAfterData
      SYNCLINE_RETURN_IF_ERROR(txn.AppendChange(to_log[i]).WithContext(where(i)));
    }
    if (!batch->empty()) {
      SYNCLINE_RETURN_IF_ERROR(txn.Put(core::Table::kMeta, "context", ctx.Encode()));
      SYNCLINE_RETURN_IF_ERROR(txn.Put(core::Table::kMeta, "hlc", PackHlc(results->back().hlc)));
    }
    if (also) SYNCLINE_RETURN_IF_ERROR(also(txn));
    return index ? index->Flush(txn) : Status::Ok();
  };
  auto committed = [this, results](Status s) {
    if (!s.ok()) return;
    ReadyWaiters ready;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (const WriteResult& r : *results) applied_.Add(r.dot);
      TakeReachedLocked(DotStage::kApplied, *results, &ready);
    }
    RunReady(ready);
  };
  store_->SubmitStaged(std::move(fn), std::move(committed), [this, results, done = std::move(done)](Status s) {
    if (!s.ok()) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        ++stats_.write_errors;
      }
      done(s.WithContext("batch write"));
      return;
    }
    ReadyWaiters ready;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (const WriteResult& r : *results) context_.Add(r.dot);
      stats_.local_writes += results->size();
      TakeReachedLocked(DotStage::kDurable, *results, &ready);
    }
    RunReady(ready);
    if (!results->empty()) NotifyCommit();
    done(*results);
  });
}

Result<std::vector<WriteResult>> Replica::WriteBatchAndWait(std::vector<KeyedWrite> writes, core::WriteFn also) {
  std::promise<Result<std::vector<WriteResult>>> p;
  auto f = p.get_future();
  WriteBatch(std::move(writes), std::move(also),
             [&p](Result<std::vector<WriteResult>> r) { p.set_value(std::move(r)); });
  return f.get();
}

}  // namespace syncline::replication
