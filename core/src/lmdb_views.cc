#include "lmdb_views.h"

#include <cerrno>
#include <cstring>

#include "record_codec.h"

namespace syncline::core {

namespace {

MDB_val ToVal(std::string_view s) { return MDB_val{s.size(), const_cast<char*>(s.data())}; }
std::string_view FromVal(const MDB_val& v) {
  return std::string_view(static_cast<const char*>(v.mv_data), v.mv_size);
}

std::string Where(Table table, std::string_view key) {
  return "table '" + std::string(TableName(table)) + "' key '" + PrintableKey(key) + "'";
}

}  // namespace

Status LmdbStatus(int rc, std::string_view what) {
  std::string w(what);
  switch (rc) {
    case 0:
      return Status::Ok();
    case MDB_NOTFOUND:
      return Status::NotFound(w + ": not found");
    case MDB_MAP_FULL:
      return Status::ResourceExhausted(w + ": the LMDB map is full (MDB_MAP_FULL)");
    case ENOSPC:
      return Status::ResourceExhausted(w + ": no space left on device (ENOSPC)");
    case MDB_READERS_FULL:
      return Status::ResourceExhausted(w + ": all LMDB reader slots are in use (MDB_READERS_FULL); "
                                            "raise max_readers");
    case MDB_TXN_FULL:
      return Status::ResourceExhausted(w + ": the transaction has too many dirty pages (MDB_TXN_FULL)");
    case MDB_INVALID:
    case MDB_VERSION_MISMATCH:
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_BAD_TXN:
      return Status::Corruption(w + ": " + mdb_strerror(rc));
    case MDB_PANIC:
      return Status::IOError(w + ": LMDB hit a fatal error (MDB_PANIC); the store must be reopened");
    default:
      return Status::IOError(w + ": " + mdb_strerror(rc));
  }
}

Result<std::string> LmdbReadView::Get(Table table, std::string_view key) {
  SYNCLINE_ASSIGN_OR_RETURN(std::optional<std::string> value, Find(table, key));
  if (!value.has_value()) return Status::NotFound("no " + Where(table, key));
  return std::move(*value);
}

Result<std::optional<std::string>> LmdbReadView::Find(Table table, std::string_view key) {
  MDB_val k = ToVal(key), v;
  int rc = mdb_get(txn_, dbis_[static_cast<int>(table)], &k, &v);
  if (rc == MDB_NOTFOUND) return std::optional<std::string>();
  if (rc != 0) return LmdbStatus(rc, "reading " + Where(table, key));
  SYNCLINE_ASSIGN_OR_RETURN(std::string_view payload, DecodeRecord(table, key, FromVal(v)));
  return std::optional<std::string>(std::string(payload));
}

Status LmdbReadView::Scan(Table table, std::string_view begin, std::string_view end,
                          const ScanVisitor& visit) {
  MDB_cursor* cursor = nullptr;
  int rc = mdb_cursor_open(txn_, dbis_[static_cast<int>(table)], &cursor);
  if (rc != 0) return LmdbStatus(rc, "opening a cursor on table '" + std::string(TableName(table)) + "'");
  MDB_val k = ToVal(begin), v;
  rc = begin.empty() ? mdb_cursor_get(cursor, &k, &v, MDB_FIRST)
                     : mdb_cursor_get(cursor, &k, &v, MDB_SET_RANGE);
  Status result;
  while (rc == 0) {
    std::string_view key = FromVal(k);
    if (!end.empty() && key >= end) break;
    auto payload = DecodeRecord(table, key, FromVal(v));
    if (!payload.ok()) {
      result = payload.status();
      break;
    }
    if (!visit(key, *payload)) break;
    rc = mdb_cursor_get(cursor, &k, &v, MDB_NEXT);
  }
  if (result.ok() && rc != 0 && rc != MDB_NOTFOUND) {
    result = LmdbStatus(rc, "scanning table '" + std::string(TableName(table)) + "'");
  }
  mdb_cursor_close(cursor);
  return result;
}

Status LmdbWriteTxn::Fail(int rc, std::string what) {
  if (broken_rc_ == 0) broken_rc_ = rc;
  return LmdbStatus(rc, what);
}

Result<uint64_t> LmdbReadView::CountEntries(Table table) {
  MDB_stat st;
  int rc = mdb_stat(txn_, dbis_[static_cast<int>(table)], &st);
  if (rc != 0) return LmdbStatus(rc, "counting the keys of table '" + std::string(TableName(table)) + "'");
  return static_cast<uint64_t>(st.ms_entries);
}

Result<std::optional<std::string>> LmdbReadView::LastKey(Table table, std::string_view begin,
                                                        std::string_view end) {
  std::string what = "seeking the last key of a range of table '" + std::string(TableName(table)) + "'";
  MDB_cursor* cursor = nullptr;
  int rc = mdb_cursor_open(txn_, dbis_[static_cast<int>(table)], &cursor);
  if (rc != 0) return LmdbStatus(rc, what);
  MDB_val k, v;
  if (end.empty()) {
    rc = mdb_cursor_get(cursor, &k, &v, MDB_LAST);
  } else {
    // The first key at or after `end`, then the one before it; none at or after: the last.
    k = ToVal(end);
    rc = mdb_cursor_get(cursor, &k, &v, MDB_SET_RANGE);
    if (rc == 0) {
      rc = mdb_cursor_get(cursor, &k, &v, MDB_PREV);
    } else if (rc == MDB_NOTFOUND) {
      rc = mdb_cursor_get(cursor, &k, &v, MDB_LAST);
    }
  }
  std::optional<std::string> out;
  if (rc == 0) {
    std::string_view key = FromVal(k);
    if (key >= begin && (end.empty() || key < end)) out = std::string(key);
  }
  mdb_cursor_close(cursor);
  if (rc != 0 && rc != MDB_NOTFOUND) return LmdbStatus(rc, what);
  return out;
}

Result<std::string> LmdbWriteTxn::Get(Table table, std::string_view key) { return view_.Get(table, key); }

Result<std::optional<std::string>> LmdbWriteTxn::Find(Table table, std::string_view key) {
  return view_.Find(table, key);
}

Status LmdbWriteTxn::Scan(Table table, std::string_view begin, std::string_view end,
                          const ScanVisitor& visit) {
  return view_.Scan(table, begin, end, visit);
}

Result<uint64_t> LmdbWriteTxn::CountEntries(Table table) { return view_.CountEntries(table); }

Result<std::optional<std::string>> LmdbWriteTxn::LastKey(Table table, std::string_view begin, std::string_view end) {
  return view_.LastKey(table, begin, end);
}

Status LmdbWriteTxn::Clear(Table table) {
  std::string where = "clearing table '" + std::string(TableName(table)) + "'";
  if (broken_rc_ != 0) return LmdbStatus(broken_rc_, where + " after an earlier failure");
  if (fault_hook_ && *fault_hook_) {
    if (int rc = (*fault_hook_)(FaultPoint::kPut)) return Fail(rc, where);
  }
  int rc = mdb_drop(txn_, dbis_[static_cast<int>(table)], 0);
  if (rc != 0) return Fail(rc, where);
  return Status::Ok();
}

Status LmdbWriteTxn::Put(Table table, std::string_view key, std::string_view value) {
  return PutFlags(table, key, value, 0);
}

Status LmdbWriteTxn::Append(Table table, std::string_view key, std::string_view value) {
  return PutFlags(table, key, value, MDB_APPEND);
}

Status LmdbWriteTxn::Insert(Table table, std::string_view key, std::string_view value) {
  return PutFlags(table, key, value, MDB_NOOVERWRITE);
}

Status LmdbWriteTxn::PutFlags(Table table, std::string_view key, std::string_view value, unsigned flags) {
  SYNCLINE_RETURN_IF_ERROR(CheckKeyAndValue(table, key, value.size(), max_value_bytes_));
  if (broken_rc_ != 0) return LmdbStatus(broken_rc_, "writing " + Where(table, key) + " after an earlier failure");
  if (fault_hook_ && *fault_hook_) {
    if (int rc = (*fault_hook_)(FaultPoint::kPut)) return Fail(rc, "writing " + Where(table, key));
  }
  MDB_val k = ToVal(key);
  MDB_val v{kRecordHeaderBytes + value.size(), nullptr};
  int rc = mdb_put(txn_, dbis_[static_cast<int>(table)], &k, &v, MDB_RESERVE | flags);
  if (rc == MDB_KEYEXIST && (flags & MDB_APPEND) != 0) {
    // Not an environment error: the transaction goes on, nothing was written.
    return Status::FailedPrecondition("appending " + Where(table, key) + ": the table holds that key or a greater one");
  }
  if (rc == MDB_KEYEXIST && (flags & MDB_NOOVERWRITE) != 0) {
    return Status::AlreadyExists("inserting " + Where(table, key) + ": the table holds that key already");
  }
  if (rc != 0) return Fail(rc, "writing " + Where(table, key));
  EncodeRecordInto(table, key, value, static_cast<char*>(v.mv_data));
  return Status::Ok();
}

Status LmdbWriteTxn::Delete(Table table, std::string_view key) {
  if (key.empty() || key.size() > kMaxStoreKeyBytes) return Status::Ok();  // cannot exist
  if (broken_rc_ != 0) return LmdbStatus(broken_rc_, "deleting " + Where(table, key) + " after an earlier failure");
  MDB_val k = ToVal(key);
  int rc = mdb_del(txn_, dbis_[static_cast<int>(table)], &k, nullptr);
  if (rc == MDB_NOTFOUND) return Status::Ok();
  if (rc != 0) return Fail(rc, "deleting " + Where(table, key));
  return Status::Ok();
}

Status LmdbWriteTxn::DeleteRange(Table table, std::string_view begin, std::string_view end) {
  std::string where = "deleting a range of table '" + std::string(TableName(table)) + "'";
  if (broken_rc_ != 0) return LmdbStatus(broken_rc_, where + " after an earlier failure");
  MDB_cursor* cursor = nullptr;
  int rc = mdb_cursor_open(txn_, dbis_[static_cast<int>(table)], &cursor);
  if (rc != 0) return Fail(rc, where);
  MDB_val k = ToVal(begin), v;
  rc = begin.empty() ? mdb_cursor_get(cursor, &k, &v, MDB_FIRST)
                     : mdb_cursor_get(cursor, &k, &v, MDB_SET_RANGE);
  while (rc == 0) {
    if (!end.empty() && FromVal(k) >= end) break;
    rc = mdb_cursor_del(cursor, 0);
    if (rc != 0) break;
    // After a delete LMDB leaves the cursor on the following entry; MDB_NEXT returns it.
    rc = mdb_cursor_get(cursor, &k, &v, MDB_NEXT);
  }
  mdb_cursor_close(cursor);
  if (rc != 0 && rc != MDB_NOTFOUND) return Fail(rc, where);
  return Status::Ok();
}

}  // namespace syncline::core
