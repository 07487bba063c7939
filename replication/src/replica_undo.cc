// Replica: undo entries and taking back changes a promotion left behind (see replica.h and
// docs/leader-follower.md).
#include <map>
#include <string>
#include <vector>

#include "state_access.h"
#include "syncline/replication/replica.h"
#include "syncline/replication/v1/leader_follower.pb.h"
#include "undo_records.h"

namespace syncline::replication {

namespace {

constexpr std::string_view kUndoPrefix = "undo/";
constexpr std::string_view kUndoEnd = "undo0";  // '0' follows '/'

std::string BigEndian64(uint64_t v) {
  std::string out(8, '\0');
  for (int i = 7; i >= 0; --i) {
    out[i] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
  return out;
}

uint64_t ReadBigEndian64(std::string_view s) {
  uint64_t v = 0;
  for (size_t i = 0; i < 8 && i < s.size(); ++i) v = (v << 8) | static_cast<unsigned char>(s[i]);
  return v;
}

std::string UndoKey(uint64_t seq) { return std::string(kUndoPrefix) + BigEndian64(seq); }

}  // namespace

void Replica::SetUndo(bool on) { undo_.store(on); }
bool Replica::undo() const { return undo_.load(); }

Status Replica::SaveUndo(core::WriteTxn& txn, const Dot& dot, std::string_view collection, std::string_view key,
                         const internal::UndoKeyRecords& records) {
  if (undo_seq_ == 0) {
    // First entry since the replica opened: continue after the last one stored.
    SYNCLINE_RETURN_IF_ERROR(txn.Scan(core::Table::kMeta, kUndoPrefix, kUndoEnd, [&](std::string_view k, std::string_view) {
      undo_seq_ = ReadBigEndian64(k.substr(kUndoPrefix.size()));
      return true;
    }));
  }
  v1::UndoEntry entry;
  entry.set_origin(dot.replica.value());
  entry.set_counter(dot.counter);
  entry.set_collection(std::string(collection));
  entry.set_key(std::string(key));
  for (const auto& [sub, value] : records.before()) {
    auto* r = entry.add_records();
    r->set_sub(sub);
    r->set_present(value.has_value());
    if (value) r->set_value(*value);
  }
  return txn.Put(core::Table::kMeta, UndoKey(++undo_seq_), entry.SerializeAsString());
}

void Replica::RollBack(std::function<bool(const Dot&)> orphan, std::string why,
                       std::function<void(Result<uint64_t>)> done) {
  auto count = std::make_shared<uint64_t>(0);
  auto fn = [this, orphan = std::move(orphan), why, count](core::WriteTxn& txn) -> Status {
    *count = 0;
    std::vector<std::pair<std::string, std::string>> entries;
    SYNCLINE_RETURN_IF_ERROR(txn.Scan(core::Table::kMeta, kUndoPrefix, kUndoEnd, [&](std::string_view k, std::string_view v) {
      entries.emplace_back(std::string(k), std::string(v));
      return true;
    }));
    // Which entries to undo: every orphan, and every later change of a key that has an orphan
    // (its before-image includes the orphan; it is merged again afterwards).
    std::vector<v1::UndoEntry> parsed(entries.size());
    std::map<std::string, size_t> first_orphan;  // key -> index of its oldest orphan
    std::vector<bool> is_orphan(entries.size(), false);
    for (size_t i = 0; i < entries.size(); ++i) {
      if (!parsed[i].ParseFromString(entries[i].second)) {
        return Status::Corruption("undo entry " + std::to_string(ReadBigEndian64(entries[i].first.substr(kUndoPrefix.size()))) +
                                  " in table 'meta' does not parse");
      }
      is_orphan[i] = orphan(Dot{ReplicaId(parsed[i].origin()), parsed[i].counter()});
      std::string k = parsed[i].collection() + std::string(1, '\0') + parsed[i].key();
      if (is_orphan[i] && !first_orphan.count(k)) first_orphan[k] = i;
    }
    std::vector<Dot> redo;
    // Newest first: each entry restores the records as they were before its change.
    for (size_t n = entries.size(); n-- > 0;) {
      const v1::UndoEntry& entry = parsed[n];
      auto fo = first_orphan.find(entry.collection() + std::string(1, '\0') + entry.key());
      if (fo == first_orphan.end() || n < fo->second) continue;
      Dot dot{ReplicaId(entry.origin()), entry.counter()};
      std::string where = "taking back change " + dot.replica.ToString() + ":" + std::to_string(dot.counter);
      auto records = internal::TxnKeyRecords(txn, IndexForWrites(), entry.collection(), entry.key());
      for (const auto& r : entry.records()) {
        Status s = r.present() ? records->Put(r.sub(), r.value()) : records->Delete(r.sub());
        SYNCLINE_RETURN_IF_ERROR(s.WithContext(where));
      }
      SYNCLINE_RETURN_IF_ERROR(txn.Delete(core::Table::kMeta, entries[n].first));
      if (!is_orphan[n]) {
        redo.push_back(dot);
        continue;
      }
      auto change = txn.GetChange(dot);
      if (!change.ok()) return change.status().WithContext(where);
      conflict::JournalEntry j;
      j.collection = change->collection;
      j.key = change->key;
      j.resolver = change->resolver;
      j.at = change->hlc;
      j.remote = change->payload;
      j.outcome = why + " (change " + dot.replica.ToString() + ":" + std::to_string(dot.counter) + ")";
      SYNCLINE_RETURN_IF_ERROR(journal_.Append(txn, std::move(j)).status().WithContext(where));
      core::Change void_change;
      void_change.collection = change->collection;
      void_change.key = change->key;
      void_change.dot = dot;
      void_change.hlc = change->hlc;
      void_change.kind = kVoidChangeKind;
      void_change.resolver = change->resolver;
      SYNCLINE_RETURN_IF_ERROR(txn.ReplaceLogEntry(dot, core::EncodeChange(void_change)));
      ++*count;
    }
    // Merge again, oldest first, the changes that were undone only because an orphan came before.
    for (auto it = redo.rbegin(); it != redo.rend(); ++it) {
      const Dot& dot = *it;
      std::string where = "merging again change " + dot.replica.ToString() + ":" + std::to_string(dot.counter);
      auto change = txn.GetChange(dot);
      if (!change.ok()) return change.status().WithContext(where);
      SYNCLINE_ASSIGN_OR_RETURN(Collection c, FindCollection(change->collection));
      std::unique_ptr<conflict::KeyRecords> records = internal::TxnKeyRecords(txn, IndexForWrites(), change->collection, change->key);
      auto undo = std::make_unique<internal::UndoKeyRecords>(std::move(records));
      conflict::MergeOutcome outcome;
      SYNCLINE_RETURN_IF_ERROR(
          internal::MergeDelta(*undo, c.type, *c.impl, change->payload, &outcome, nullptr, nullptr).WithContext(where));
      SYNCLINE_RETURN_IF_ERROR(SaveUndo(txn, dot, change->collection, change->key, *undo).WithContext(where));
    }
    return Status::Ok();
  };
  store_->Submit(std::move(fn), [this, count, done = std::move(done)](Status s) {
    if (!s.ok()) {
      done(s.WithContext("rolling back changes left behind by a promotion"));
      return;
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      stats_.orphaned += *count;
      if (*count > 0) stats_.conflicts += *count;
    }
    done(*count);
  });
}

void Replica::PruneUndo(std::function<bool(const Dot&)> settled, std::function<void(Status)> done) {
  auto fn = [settled = std::move(settled)](core::WriteTxn& txn) -> Status {
    std::vector<std::string> drop;
    Status bad;
    SYNCLINE_RETURN_IF_ERROR(txn.Scan(core::Table::kMeta, kUndoPrefix, kUndoEnd, [&](std::string_view k, std::string_view v) {
      v1::UndoEntry entry;
      if (!entry.ParseFromArray(v.data(), static_cast<int>(v.size()))) {
        bad = Status::Corruption("undo entry " + std::to_string(ReadBigEndian64(k.substr(kUndoPrefix.size()))) +
                                 " in table 'meta' does not parse");
        return false;
      }
      if (settled(Dot{ReplicaId(entry.origin()), entry.counter()})) drop.emplace_back(k);
      return true;
    }));
    SYNCLINE_RETURN_IF_ERROR(bad);
    for (const auto& k : drop) SYNCLINE_RETURN_IF_ERROR(txn.Delete(core::Table::kMeta, k));
    return Status::Ok();
  };
  store_->Submit(std::move(fn), std::move(done));
}

}  // namespace syncline::replication
