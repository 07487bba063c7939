#include "snapshot_records.h"

#include <algorithm>

#include "item_index_table.h"
#include "syncline/core/varint.h"
#include "state_access.h"

namespace syncline::replication::internal {

namespace {

// A read-only view whose data table is the packed records (ForEachState reads through it).
class PackedView final : public core::ReadView {
 public:
  explicit PackedView(std::vector<std::pair<std::string_view, std::string_view>> records)
      : records_(std::move(records)) {}

  Result<std::string> Get(core::Table table, std::string_view key) override {
    if (table == core::Table::kData) {
      auto it = std::lower_bound(records_.begin(), records_.end(), key,
                                 [](const auto& r, std::string_view k) { return r.first < k; });
      if (it != records_.end() && it->first == key) return std::string(it->second);
    }
    return Status::NotFound("no such key in the packed records");
  }
  Status Scan(core::Table table, std::string_view begin, std::string_view end,
              const core::ScanVisitor& visit) override {
    if (table != core::Table::kData) return Status::Ok();
    auto it = std::lower_bound(records_.begin(), records_.end(), begin,
                               [](const auto& r, std::string_view k) { return r.first < k; });
    for (; it != records_.end(); ++it) {
      if (!end.empty() && it->first >= end) break;
      if (!visit(it->first, it->second)) break;
    }
    return Status::Ok();
  }

 private:
  std::vector<std::pair<std::string_view, std::string_view>> records_;
};

// Checks the DataKeyItemPrefix of a record (collection \0 escape(key) \0 \x01) without copying
// it: the escapes are whole and the key's length is one a write could have; returns the
// collection name.
Result<std::string_view> CheckItem(std::string_view prefix) {
  size_t nul = prefix.find('\0');
  std::string_view escaped = prefix.substr(nul + 1, prefix.size() - nul - 3);
  size_t key_bytes = 0;
  for (size_t i = 0; i < escaped.size(); ++i, ++key_bytes) {
    if (escaped[i] != '\0') continue;
    if (i + 1 >= escaped.size() || escaped[i + 1] != '\xff') return Status::Corruption("has a bad escape in its key");
    ++i;
  }
  if (key_bytes == 0 || key_bytes > core::kMaxKeyBytes) {
    return Status::Corruption("has a key of " + std::to_string(key_bytes) + " bytes (1 to " +
                              std::to_string(core::kMaxKeyBytes) + " allowed)");
  }
  return prefix.substr(0, nul);
}

}  // namespace

void AppendPackedRecord(std::string* out, std::string_view key, std::string_view value) {
  core::PutVarint64(out, key.size());
  out->append(key);
  core::PutVarint64(out, value.size());
  out->append(value);
}

bool PackedRecordReader::Next(std::string_view* key, std::string_view* value) {
  if (!status_.ok() || offset_ >= in_.size()) return false;
  std::string_view rest = in_.substr(offset_);
  uint64_t klen = 0, vlen = 0;
  auto bad = [&](const char* why) {
    status_ = Status::Corruption("packed record " + std::to_string(records_ + 1) + " at byte " +
                                 std::to_string(offset_) + " of " + std::to_string(in_.size()) + " " + why);
    return false;
  };
  if (!core::GetVarint64(&rest, &klen)) return bad("has a bad key length");
  if (klen == 0 || klen > core::kMaxStoreKeyBytes || klen > rest.size()) return bad("has a key length out of range");
  *key = rest.substr(0, klen);
  rest.remove_prefix(klen);
  if (!core::GetVarint64(&rest, &vlen)) return bad("has a bad value length");
  if (vlen > rest.size()) return bad("runs past the end");
  *value = rest.substr(0, vlen);
  rest.remove_prefix(vlen);
  if (records_ > 0 && *key <= prev_) {
    status_ = Status::Corruption("packed record " + std::to_string(records_ + 1) + " (data key '" +
                                 core::PrintableKey(*key) + "') is not above the one before it");
    return false;
  }
  prev_ = *key;
  offset_ = in_.size() - rest.size();
  ++records_;
  return true;
}

Result<std::string_view> DataKeyItemPrefix(std::string_view stored) {
  size_t nul = stored.find('\0');
  if (nul == std::string_view::npos || nul == 0) {
    return Status::Corruption("data key of " + std::to_string(stored.size()) + " bytes has no collection name");
  }
  // In the escaped key every 0x00 is followed by 0xff, so the first "\0\x01" after the
  // collection's terminator ends the key.
  size_t sep = stored.find(std::string_view("\0\x01", 2), nul + 1);
  if (sep == std::string_view::npos || sep == nul + 1) {
    return Status::Corruption("data key in collection '" + core::PrintableKey(stored.substr(0, nul)) +
                              "' has no key or no record name");
  }
  return stored.substr(0, sep + 2);
}

Result<uint64_t> CheckPackedRecords(std::string_view packed, size_t max_records) {
  PackedRecordReader reader(packed);
  std::string_view key, value, item;
  uint64_t keys = 0;
  while (reader.Next(&key, &value)) {
    if (reader.records() > max_records) {
      return Status::Corruption("packed records hold more than the limit of " + std::to_string(max_records));
    }
    auto prefix = DataKeyItemPrefix(key);
    if (!prefix.ok()) return prefix.status().WithContext("packed record " + std::to_string(reader.records()));
    if (*prefix != item) {
      item = *prefix;
      ++keys;
    }
  }
  SYNCLINE_RETURN_IF_ERROR(reader.status());
  return keys;
}

Status UnpackStates(std::string_view packed, const std::function<Result<CollectionType>(std::string_view)>& type_of,
                    std::vector<SnapshotEntry>* out) {
  std::vector<std::pair<std::string_view, std::string_view>> records;
  PackedRecordReader reader(packed);
  std::string_view key, value;
  while (reader.Next(&key, &value)) records.emplace_back(key, value);
  SYNCLINE_RETURN_IF_ERROR(reader.status());
  PackedView view(std::move(records));
  return ForEachState(view, type_of, [&](std::string_view coll, std::string_view k, std::string_view state) {
    out->push_back(SnapshotEntry{std::string(coll), std::string(k), std::string(state)});
    return Status::Ok();
  });
}

Result<std::vector<PackedKey>> PreparePackedKeys(std::string_view packed, std::string_view begin, std::string_view end,
                                                 const StateTargets& targets, const AntiEntropyKey* index_key,
                                                 const std::string& what) {
  std::vector<PackedKey> keys;
  PackedRecordReader reader(packed);
  std::string_view key, value;
  const StateTarget* target = nullptr;
  std::string_view collection;
  auto bad = [&](const std::string& why) {
    return Status::Corruption(what + ": record " + std::to_string(reader.records()) + " (data key '" +
                              core::PrintableKey(key) + "') " + why);
  };
  auto finish = [&] {
    if (!keys.empty() && index_key != nullptr) {
      PackedKey& k = keys.back();
      if (k.digest.count > 0) k.hash = ItemHash(*index_key, ItemOfPrefix(k.item), k.digest);
    }
  };
  while (reader.Next(&key, &value)) {
    if (key < begin || (!end.empty() && key >= end)) return bad("lies outside the chunk's range");
    std::string_view item = keys.empty() ? std::string_view() : keys.back().item;
    if (item.empty() || key.size() < item.size() || key.substr(0, item.size()) != item) {
      // The first record of a key: check where it belongs once.
      finish();
      auto prefix = DataKeyItemPrefix(key);
      if (!prefix.ok()) return bad(prefix.status().message());
      auto coll = CheckItem(*prefix);
      if (!coll.ok()) return bad(coll.status().message());
      if (*coll != collection || target == nullptr) {
        auto t = targets.find(*coll);
        if (t == targets.end()) {
          return bad("belongs to collection '" + core::PrintableKey(*coll) + "', which the chunk does not describe");
        }
        target = &t->second;
        collection = *coll;
      }
      keys.push_back(PackedKey{*prefix, 0, RangeSum(), RangeSum()});
    }
    PackedKey& k = keys.back();
    std::string_view sub = key.substr(k.item.size());
    if (!UsesRecords(target->type) && sub != kStateSub) {
      return bad("is not the one state record of a '" + target->resolver + "' key");
    }
    ++k.records;
    if (index_key != nullptr && CountsTowardDigest(sub)) k.digest.Add(RecordDigest(sub, value));
  }
  SYNCLINE_RETURN_IF_ERROR(reader.status().WithContext(what));
  finish();
  return keys;
}

Status AppendPackedRecords(core::WriteTxn& txn, IndexUpdates* index, std::string_view packed,
                           const std::vector<PackedKey>& keys, const std::string& what) {
  PackedRecordReader reader(packed);
  std::string_view key, value;
  for (const PackedKey& k : keys) {
    bool blob = k.records == 1;  // and its one record is the state (below)
    for (size_t i = 0; i < k.records; ++i) {
      if (!reader.Next(&key, &value)) {
        return Status::Internal(what + ": the packed records end before the keys prepared from them");
      }
      Status appended = txn.Append(core::Table::kData, key, value);
      if (appended.code() == StatusCode::kFailedPrecondition) {
        return Status::Corruption(what + ": record " + std::to_string(reader.records()) + " (data key '" +
                                  core::PrintableKey(key) + "') is not above every key stored here");
      }
      SYNCLINE_RETURN_IF_ERROR(appended);
      if (key.size() < k.item.size() || key.substr(k.item.size()) != kStateSub) blob = false;
    }
    if (index != nullptr) SYNCLINE_RETURN_IF_ERROR(index->AddNewItem(txn, ItemOfPrefix(k.item), k.digest, k.hash, blob));
  }
  return reader.status();
}

}  // namespace syncline::replication::internal
