#include "state_access.h"

#include <optional>

#include "item_index_table.h"

#include "syncline/conflict/map.h"
#include "syncline/conflict/or_set.h"

namespace syncline::replication::internal {

Result<DotContext> LoadNodeContext(core::ReadView& view) {
  auto ctx = view.Get(core::Table::kMeta, "context");
  if (ctx.status().IsNotFound()) return DotContext();
  if (!ctx.ok()) return ctx.status();
  auto decoded = DotContext::Decode(*ctx);
  if (!decoded.ok()) return decoded.status().WithContext("meta record 'context'");
  return decoded;
}

bool UsesRecords(CollectionType type) { return type == CollectionType::kSet; }

std::string DataKeyPrefix(std::string_view collection, std::string_view key) {
  std::string out;
  out.reserve(collection.size() + key.size() + 4);
  out.append(collection);
  out.push_back('\0');
  for (char c : key) {
    out.push_back(c);
    if (c == '\0') out.push_back('\xff');
  }
  out.push_back('\0');
  out.push_back('\x01');
  return out;
}

Result<ParsedDataKey> ParseDataKey(std::string_view stored) {
  size_t nul = stored.find('\0');
  if (nul == std::string_view::npos || nul == 0) {
    return Status::Corruption("data key of " + std::to_string(stored.size()) + " bytes has no collection name");
  }
  ParsedDataKey out;
  out.collection = std::string(stored.substr(0, nul));
  size_t i = nul + 1;
  while (true) {
    if (i >= stored.size()) {
      return Status::Corruption("data key in collection '" + out.collection + "' ends inside the key");
    }
    char c = stored[i];
    if (c != '\0') {
      out.key.push_back(c);
      ++i;
      continue;
    }
    if (i + 1 >= stored.size()) {
      return Status::Corruption("data key in collection '" + out.collection + "' ends inside the key");
    }
    char next = stored[i + 1];
    if (next == '\xff') {
      out.key.push_back('\0');
      i += 2;
    } else if (next == '\x01') {
      out.sub = stored.substr(i + 2);
      return out;
    } else {
      return Status::Corruption("data key in collection '" + out.collection + "' has a bad escape in the key");
    }
  }
}

namespace {

// The smallest key above every key starting with `begin` ("" when there is none).
std::string PrefixEnd(std::string begin) {
  while (!begin.empty() && static_cast<uint8_t>(begin.back()) == 0xff) begin.pop_back();
  if (!begin.empty()) begin.back() = static_cast<char>(static_cast<uint8_t>(begin.back()) + 1);
  return begin;
}

class TxnRecords final : public conflict::KeyRecords {
 public:
  TxnRecords(core::WriteTxn& txn, std::string prefix, IndexUpdates* index)
      : txn_(txn), prefix_(std::move(prefix)), index_(index) {}

  Result<std::optional<std::string>> Get(std::string_view sub) override {
    if (index_ != nullptr) {
      auto seen = seen_.find(sub);
      if (seen != seen_.end()) return seen->second;
    }
    SYNCLINE_ASSIGN_OR_RETURN(std::optional<std::string> out, txn_.Find(core::Table::kData, prefix_ + std::string(sub)));
    if (index_ != nullptr && CountsTowardDigest(sub)) seen_[std::string(sub)] = out;
    return out;
  }
  Status Put(std::string_view sub, std::string_view value) override {
    return Change(sub, std::optional<std::string>(std::string(value)));
  }
  Status Delete(std::string_view sub) override { return Change(sub, std::nullopt); }
  Status Scan(std::string_view prefix,
              const std::function<bool(std::string_view sub, std::string_view value)>& visit) override {
    std::string begin = prefix_ + std::string(prefix);
    std::string end = PrefixEnd(begin);
    size_t skip = prefix_.size();
    return txn_.Scan(core::Table::kData, begin, end,
                     [&](std::string_view k, std::string_view v) { return visit(k.substr(skip), v); });
  }

 private:
  // Writes or removes one record and keeps the item index in step (item_index_table.h).
  Status Change(std::string_view sub, const std::optional<std::string>& after) {
    std::string key = prefix_ + std::string(sub);
    std::optional<std::string> before;
    bool indexed = index_ != nullptr && CountsTowardDigest(sub);
    if (indexed) {
      SYNCLINE_ASSIGN_OR_RETURN(before, Get(sub));
    }
    SYNCLINE_RETURN_IF_ERROR(after ? txn_.Put(core::Table::kData, key, *after) : txn_.Delete(core::Table::kData, key));
    if (!indexed) return Status::Ok();
    seen_[std::string(sub)] = after;
    return index_->RecordChange(txn_, ItemOfPrefix(prefix_), sub, before, after);
  }

  core::WriteTxn& txn_;
  std::string prefix_;
  IndexUpdates* index_;
  // The counted records read or written through this object, as they now are: the "before" of a
  // change is then not read twice. Valid because one write function changes a key's records
  // through one KeyRecords at a time.
  std::map<std::string, std::optional<std::string>, std::less<>> seen_;
};

class ViewRecords final : public conflict::KeyRecords {
 public:
  ViewRecords(core::ReadView& view, std::string prefix) : view_(view), prefix_(std::move(prefix)) {}

  Result<std::optional<std::string>> Get(std::string_view sub) override {
    auto v = view_.Get(core::Table::kData, prefix_ + std::string(sub));
    if (v.ok()) return std::optional<std::string>(std::move(v).value());
    if (v.status().IsNotFound()) return std::optional<std::string>();
    return v.status();
  }
  Status Put(std::string_view, std::string_view) override {
    return Status::FailedPrecondition("key records opened for reading cannot be written");
  }
  Status Delete(std::string_view) override {
    return Status::FailedPrecondition("key records opened for reading cannot be written");
  }
  Status Scan(std::string_view prefix,
              const std::function<bool(std::string_view sub, std::string_view value)>& visit) override {
    std::string begin = prefix_ + std::string(prefix);
    std::string end = PrefixEnd(begin);
    size_t skip = prefix_.size();
    return view_.Scan(core::Table::kData, begin, end,
                      [&](std::string_view k, std::string_view v) { return visit(k.substr(skip), v); });
  }

 private:
  core::ReadView& view_;
  std::string prefix_;
};

}  // namespace

std::unique_ptr<conflict::KeyRecords> ViewKeyRecords(core::ReadView& view, std::string_view collection,
                                                     std::string_view key) {
  return std::make_unique<ViewRecords>(view, DataKeyPrefix(collection, key));
}

std::string_view ItemOfPrefix(std::string_view prefix) { return prefix.substr(0, prefix.size() - 2); }

std::string PrefixOfItem(std::string_view item) { return std::string(item) + std::string("\0\x01", 2); }

std::unique_ptr<conflict::KeyRecords> TxnKeyRecords(core::WriteTxn& txn, IndexUpdates* index, std::string_view collection,
                                                    std::string_view key) {
  return std::make_unique<TxnRecords>(txn, DataKeyPrefix(collection, key), index);
}

Result<std::optional<std::string>> MapKeyRecords::Get(std::string_view sub) {
  auto it = records.find(sub);
  if (it == records.end()) return std::optional<std::string>();
  return std::optional<std::string>(it->second);
}

Status MapKeyRecords::Put(std::string_view sub, std::string_view value) {
  records[std::string(sub)] = std::string(value);
  return Status::Ok();
}

Status MapKeyRecords::Delete(std::string_view sub) {
  auto it = records.find(sub);
  if (it != records.end()) records.erase(it);
  return Status::Ok();
}

Status MapKeyRecords::Scan(std::string_view prefix,
                           const std::function<bool(std::string_view sub, std::string_view value)>& visit) {
  for (auto it = records.lower_bound(prefix); it != records.end(); ++it) {
    if (it->first.compare(0, prefix.size(), prefix) != 0) break;
    if (!visit(it->first, it->second)) break;
  }
  return Status::Ok();
}

Result<std::string> LoadState(conflict::KeyRecords& records, CollectionType type) {
  if (type == CollectionType::kSet) {
    SYNCLINE_ASSIGN_OR_RETURN(auto ctx, records.Get("c"));
    if (!ctx.has_value()) return std::string();
    SYNCLINE_ASSIGN_OR_RETURN(conflict::OrSet set, conflict::LoadSet(records));
    return set.Encode();
  }
  SYNCLINE_ASSIGN_OR_RETURN(auto blob, records.Get(kStateSub));
  return blob.has_value() ? std::move(*blob) : std::string();
}

namespace {

// Shows only the context and one element's record of a set, so LoadSet builds the partial set a
// local add or remove of that element needs, in O(1) records.
class OneElementRecords final : public conflict::KeyRecords {
 public:
  OneElementRecords(conflict::KeyRecords& base, std::string element) : base_(base), sub_("e" + std::move(element)) {}
  Result<std::optional<std::string>> Get(std::string_view sub) override { return base_.Get(sub); }
  Status Put(std::string_view, std::string_view) override {
    return Status::FailedPrecondition("a partial set view cannot be written");
  }
  Status Delete(std::string_view) override { return Status::FailedPrecondition("a partial set view cannot be written"); }
  Status Scan(std::string_view prefix,
              const std::function<bool(std::string_view sub, std::string_view value)>& visit) override {
    if (sub_.compare(0, prefix.size(), prefix) != 0) return Status::Ok();
    SYNCLINE_ASSIGN_OR_RETURN(auto value, base_.Get(sub_));
    if (value.has_value()) visit(sub_, *value);
    return Status::Ok();
  }

 private:
  conflict::KeyRecords& base_;
  std::string sub_;
};

}  // namespace

Result<conflict::OrSet> LoadSetElement(conflict::KeyRecords& records, const std::string& element) {
  OneElementRecords one(records, element);
  return conflict::LoadSet(one);
}

Status StoreBlob(conflict::KeyRecords& records, std::string_view state) { return records.Put(kStateSub, state); }

Status MergeDelta(conflict::KeyRecords& records, CollectionType type, const conflict::Resolver& resolver,
                  std::string_view delta, conflict::MergeOutcome* outcome, std::string* before,
                  std::string* after) {
  if (type == CollectionType::kSet) {
    SYNCLINE_ASSIGN_OR_RETURN(conflict::OrSet d, conflict::OrSet::Decode(delta));
    return conflict::ApplySetDelta(records, d, outcome);
  }
  SYNCLINE_ASSIGN_OR_RETURN(auto blob, records.Get(kStateSub));
  std::string state = blob.has_value() ? std::move(*blob) : std::string();
  if (before != nullptr) *before = state;
  SYNCLINE_RETURN_IF_ERROR(resolver.Join(&state, delta, outcome));
  SYNCLINE_RETURN_IF_ERROR(records.Put(kStateSub, state));
  if (after != nullptr) *after = std::move(state);
  return Status::Ok();
}

Status ForEachState(core::ReadView& view, const std::function<Result<CollectionType>(std::string_view)>& type_of,
                    const StateVisitor& visit, std::string_view begin, std::string_view end,
                    const bool* stop) {
  // Records of one key are adjacent (the key's prefix is unique and prefix-free), so the walk
  // assembles one key at a time and hands its state over when the next key begins.
  std::string cur_collection, cur_key;
  CollectionType cur_type = CollectionType::kLww;
  bool have = false;
  MapKeyRecords pending;
  Status status;
  auto flush = [&]() -> Status {
    if (!have) return Status::Ok();
    have = false;
    SYNCLINE_ASSIGN_OR_RETURN(std::string state, LoadState(pending, cur_type));
    pending.records.clear();
    if (state.empty()) return Status::Ok();
    return visit(cur_collection, cur_key, state);
  };
  std::string from = begin.empty() ? std::string(1, '\x01') : std::string(begin);
  Status scan = view.Scan(core::Table::kData, from, end, [&](std::string_view k, std::string_view v) {
    auto parsed = ParseDataKey(k);
    if (!parsed.ok()) {
      status = parsed.status();
      return false;
    }
    if (!have || parsed->collection != cur_collection || parsed->key != cur_key) {
      status = flush();
      if (!status.ok()) return false;
      if (stop != nullptr && *stop) return false;
      if (parsed->collection != cur_collection || cur_collection.empty()) {
        auto type = type_of(parsed->collection);
        if (!type.ok()) {
          status = type.status();
          return false;
        }
        cur_type = *type;
      }
      cur_collection = parsed->collection;
      cur_key = parsed->key;
      have = true;
    }
    pending.records[std::string(parsed->sub)] = std::string(v);
    return true;
  });
  SYNCLINE_RETURN_IF_ERROR(scan);
  SYNCLINE_RETURN_IF_ERROR(status);
  if (stop != nullptr && *stop) return Status::Ok();
  return flush();
}

Status DeleteKeyRecords(core::WriteTxn& txn, IndexUpdates* index, std::string_view prefix) {
  // The index first: a blob-type key's entry in the sums is read from its record.
  if (index != nullptr) SYNCLINE_RETURN_IF_ERROR(index->RemoveItem(txn, ItemOfPrefix(prefix)));
  // Every sub-key of a key sorts below 0xff.
  return txn.DeleteRange(core::Table::kData, prefix, std::string(prefix) + "\xff");
}

}  // namespace syncline::replication::internal
