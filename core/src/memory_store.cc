// The in-memory store. Records are kept encoded (format version + checksum) exactly as the
// LMDB store keeps them, so the same corruption checks run in unit tests and the simulator.
// Each write function keeps an undo log; a function that fails is rolled back alone.
#include "syncline/core/memory_store.h"

#include <cerrno>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <shared_mutex>
#include <utility>
#include <vector>

#include "record_codec.h"

namespace syncline::core {

class MemoryStorage {
 public:
  std::shared_mutex mu;
  std::map<std::string, std::string, std::less<>> tables[kNumTables];
  ReplicaId replica_id;
};

std::shared_ptr<MemoryStorage> NewMemoryStorage() { return std::make_shared<MemoryStorage>(); }

namespace {

Status FaultToStatus(int code, std::string_view where) {
  std::string w(where);
  if (code == ENOSPC) return Status::ResourceExhausted(w + ": no space left on device (injected)");
  if (code == EIO) return Status::IOError(w + ": input/output error (injected)");
  return Status::IOError(w + ": injected failure code " + std::to_string(code));
}

using TableMap = std::map<std::string, std::string, std::less<>>;

class MemoryView : public ReadView {
 public:
  explicit MemoryView(MemoryStorage* s) : s_(s) {}

  Result<std::string> Get(Table table, std::string_view key) override {
    SYNCLINE_ASSIGN_OR_RETURN(std::optional<std::string> value, Find(table, key));
    if (!value.has_value()) {
      return Status::NotFound("no key '" + PrintableKey(key) + "' in table '" +
                              std::string(TableName(table)) + "'");
    }
    return std::move(*value);
  }

  Result<std::optional<std::string>> Find(Table table, std::string_view key) override {
    const TableMap& t = s_->tables[static_cast<int>(table)];
    auto it = t.find(key);
    if (it == t.end()) return std::optional<std::string>();
    SYNCLINE_ASSIGN_OR_RETURN(std::string_view payload, DecodeRecord(table, key, it->second));
    return std::optional<std::string>(std::string(payload));
  }

  Status Scan(Table table, std::string_view begin, std::string_view end,
              const ScanVisitor& visit) override {
    const TableMap& t = s_->tables[static_cast<int>(table)];
    for (auto it = t.lower_bound(begin); it != t.end(); ++it) {
      if (!end.empty() && std::string_view(it->first) >= end) break;
      SYNCLINE_ASSIGN_OR_RETURN(std::string_view payload, DecodeRecord(table, it->first, it->second));
      if (!visit(it->first, payload)) break;
    }
    return Status::Ok();
  }

  Result<uint64_t> CountEntries(Table table) override { return s_->tables[static_cast<int>(table)].size(); }

  Result<std::optional<std::string>> LastKey(Table table, std::string_view begin, std::string_view end) override {
    const TableMap& t = s_->tables[static_cast<int>(table)];
    auto it = end.empty() ? t.end() : t.lower_bound(end);
    if (it == t.begin()) return std::optional<std::string>();
    --it;
    if (std::string_view(it->first) < begin) return std::optional<std::string>();
    return std::optional<std::string>(it->first);
  }

 protected:
  MemoryStorage* s_;
};

class MemoryTxn final : public WriteTxn {
 public:
  MemoryTxn(MemoryStorage* s, const MemoryStoreOptions& options) : view_(s), s_(s), options_(options) {}

  Result<std::string> Get(Table table, std::string_view key) override { return view_.Get(table, key); }
  Result<uint64_t> CountEntries(Table table) override { return view_.CountEntries(table); }
  Result<std::optional<std::string>> LastKey(Table table, std::string_view begin, std::string_view end) override {
    return view_.LastKey(table, begin, end);
  }
  Result<std::optional<std::string>> Find(Table table, std::string_view key) override {
    return view_.Find(table, key);
  }
  Status Scan(Table table, std::string_view begin, std::string_view end,
              const ScanVisitor& visit) override {
    return view_.Scan(table, begin, end, visit);
  }

  Status Append(Table table, std::string_view key, std::string_view value) override {
    const TableMap& t = s_->tables[static_cast<int>(table)];
    if (!t.empty() && std::string_view(t.rbegin()->first) >= key) {
      return Status::FailedPrecondition("appending to table '" + std::string(TableName(table)) + "' key '" +
                                        PrintableKey(key) + "': the table holds that key or a greater one");
    }
    return Put(table, key, value);
  }

  Status Insert(Table table, std::string_view key, std::string_view value) override {
    const TableMap& t = s_->tables[static_cast<int>(table)];
    if (t.find(key) != t.end()) {
      return Status::AlreadyExists("inserting to table '" + std::string(TableName(table)) + "' key '" +
                                   PrintableKey(key) + "': the table holds that key already");
    }
    return Put(table, key, value);
  }

  Status Put(Table table, std::string_view key, std::string_view value) override {
    SYNCLINE_RETURN_IF_ERROR(CheckKeyAndValue(table, key, value.size(), options_.max_value_bytes));
    if (options_.fault_hook) {
      if (int code = options_.fault_hook(FaultPoint::kPut)) {
        return FaultToStatus(code, "put to table '" + std::string(TableName(table)) + "' key '" +
                                       PrintableKey(key) + "'");
      }
    }
    TableMap& t = s_->tables[static_cast<int>(table)];
    std::string record = EncodeRecord(table, key, value);
    auto it = t.find(key);
    if (it == t.end()) {
      undo_.push_back({table, std::string(key), std::nullopt});
      t.emplace(std::string(key), std::move(record));
    } else {
      undo_.push_back({table, std::string(key), std::move(it->second)});
      it->second = std::move(record);
    }
    return Status::Ok();
  }

  Status Delete(Table table, std::string_view key) override {
    TableMap& t = s_->tables[static_cast<int>(table)];
    auto it = t.find(key);
    if (it == t.end()) return Status::Ok();
    undo_.push_back({table, it->first, std::move(it->second)});
    t.erase(it);
    return Status::Ok();
  }

  Status DeleteRange(Table table, std::string_view begin, std::string_view end) override {
    TableMap& t = s_->tables[static_cast<int>(table)];
    auto it = t.lower_bound(begin);
    while (it != t.end() && (end.empty() || std::string_view(it->first) < end)) {
      undo_.push_back({table, it->first, std::move(it->second)});
      it = t.erase(it);
    }
    return Status::Ok();
  }

  // Restores every key this function touched, newest change first.
  void Rollback() {
    for (auto it = undo_.rbegin(); it != undo_.rend(); ++it) {
      TableMap& t = s_->tables[static_cast<int>(it->table)];
      if (it->previous) {
        t[it->key] = std::move(*it->previous);
      } else {
        t.erase(it->key);
      }
    }
    undo_.clear();
  }

 private:
  struct Undo {
    Table table;
    std::string key;
    std::optional<std::string> previous;
  };
  MemoryView view_;
  MemoryStorage* s_;
  const MemoryStoreOptions& options_;
  std::vector<Undo> undo_;
};

class MemoryStore final : public Store {
 public:
  explicit MemoryStore(MemoryStoreOptions options) : options_(std::move(options)) {
    if (!options_.storage) options_.storage = NewMemoryStorage();
    s_ = options_.storage.get();
    std::unique_lock lock(s_->mu);
    if (!s_->replica_id.valid()) {
      std::mt19937_64 rng(options_.seed);
      s_->replica_id = ReplicaId::Random(rng);
    }
  }

  ReplicaId replica_id() const override { return s_->replica_id; }

  void Submit(WriteFn fn, WriteDone done) override {
    Status st;
    {
      std::unique_lock lock(s_->mu);
      if (closed_) {
        st = Status::Unavailable("the in-memory store is closed");
      } else {
        MemoryTxn txn(s_, options_);
        st = fn(txn);
        if (st.ok()) st = txn.FinishDeferred();
        if (st.ok() && options_.fault_hook) {
          if (int code = options_.fault_hook(FaultPoint::kCommit)) st = FaultToStatus(code, "commit");
        }
        if (st.ok()) {
          ++stats_.writes_committed;
          ++stats_.groups_committed;
        } else {
          txn.Rollback();
          ++stats_.writes_failed;
        }
      }
    }
    if (done) done(std::move(st));
  }

  Status Read(const ReadFn& fn) override {
    std::shared_lock lock(s_->mu);
    if (closed_) return Status::Unavailable("the in-memory store is closed");
    MemoryView view(s_);
    return fn(view);
  }

  void Flush() override {}

  Status Close() override {
    std::unique_lock lock(s_->mu);
    closed_ = true;
    return Status::Ok();
  }

  StoreStats stats() const override {
    std::shared_lock lock(s_->mu);
    return stats_;
  }

 private:
  MemoryStoreOptions options_;
  MemoryStorage* s_;
  bool closed_ = false;
  StoreStats stats_;
};

}  // namespace

std::unique_ptr<Store> OpenMemoryStore(const MemoryStoreOptions& options) {
  return std::make_unique<MemoryStore>(options);
}

}  // namespace syncline::core
