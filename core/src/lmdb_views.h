// LMDB-backed ReadView and WriteTxn, and the mapping of LMDB and errno codes to Status.
#ifndef SYNCLINE_CORE_SRC_LMDB_VIEWS_H_
#define SYNCLINE_CORE_SRC_LMDB_VIEWS_H_

#include <lmdb.h>

#include <array>
#include <functional>
#include <string>
#include <string_view>

#include "syncline/core/lmdb_store.h"
#include "syncline/core/store.h"

namespace syncline::core {

using TableDbis = std::array<MDB_dbi, kNumTables>;

// Maps an LMDB return code (or errno) to a Status whose message starts with `what`.
Status LmdbStatus(int rc, std::string_view what);

// True for codes after which the transaction can no longer be used.
inline bool IsEnvironmentError(int rc) { return rc != 0 && rc != MDB_NOTFOUND && rc != MDB_KEYEXIST; }

class LmdbReadView : public ReadView {
 public:
  LmdbReadView(MDB_txn* txn, const TableDbis& dbis) : txn_(txn), dbis_(dbis) {}

  Result<std::string> Get(Table table, std::string_view key) override;
  Result<std::optional<std::string>> Find(Table table, std::string_view key) override;
  Status Scan(Table table, std::string_view begin, std::string_view end,
              const ScanVisitor& visit) override;
  Result<uint64_t> CountEntries(Table table) override;
  Result<std::optional<std::string>> LastKey(Table table, std::string_view begin, std::string_view end) override;

 protected:
  MDB_txn* txn_;
  const TableDbis& dbis_;
};

// A write transaction handed to write functions. Remembers the first LMDB failure (`broken_rc`),
// after which LMDB requires the transaction to be aborted.
class LmdbWriteTxn final : public WriteTxn {
 public:
  LmdbWriteTxn(MDB_txn* txn, const TableDbis& dbis, size_t max_value_bytes,
               const std::function<int(FaultPoint)>* fault_hook)
      : view_(txn, dbis), txn_(txn), dbis_(dbis), max_value_bytes_(max_value_bytes),
        fault_hook_(fault_hook) {}

  Result<std::string> Get(Table table, std::string_view key) override;
  Result<std::optional<std::string>> Find(Table table, std::string_view key) override;
  Status Scan(Table table, std::string_view begin, std::string_view end,
              const ScanVisitor& visit) override;
  Status Put(Table table, std::string_view key, std::string_view value) override;
  Status Append(Table table, std::string_view key, std::string_view value) override;
  Status Insert(Table table, std::string_view key, std::string_view value) override;
  Status Delete(Table table, std::string_view key) override;
  Status DeleteRange(Table table, std::string_view begin, std::string_view end) override;
  Result<uint64_t> CountEntries(Table table) override;
  Result<std::optional<std::string>> LastKey(Table table, std::string_view begin, std::string_view end) override;
  // mdb_drop: the table's pages go to the free list without their leaves being read.
  Status Clear(Table table) override;

  int broken_rc() const { return broken_rc_; }

 private:
  Status Fail(int rc, std::string what);
  Status PutFlags(Table table, std::string_view key, std::string_view value, unsigned flags);

  LmdbReadView view_;
  MDB_txn* txn_;
  const TableDbis& dbis_;
  size_t max_value_bytes_;
  const std::function<int(FaultPoint)>* fault_hook_;
  int broken_rc_ = 0;
};

}  // namespace syncline::core

#endif  // SYNCLINE_CORE_SRC_LMDB_VIEWS_H_
