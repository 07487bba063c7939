// The parts of Store, ReadView and WriteTxn shared by every implementation: the change-log
// helpers (log keys are 8-byte big-endian origin + counter, so one origin's changes are
// contiguous and in counter order) and the synchronous conveniences.
#include "syncline/core/store.h"

#include <limits>
#include <memory>

#include "record_codec.h"
#include "syncline/core/feed.h"

namespace syncline::core {

namespace {

std::string OriginPrefixEnd(ReplicaId origin) {
  // The first key after every key of `origin`.
  if (origin.value() == std::numeric_limits<uint64_t>::max()) return std::string();
  std::string k;
  AppendBigEndian64(&k, origin.value() + 1);
  return k;
}

}  // namespace

Result<std::optional<std::string>> ReadView::Find(Table table, std::string_view key) {
  auto v = Get(table, key);
  if (v.ok()) return std::optional<std::string>(std::move(v).value());
  if (v.status().IsNotFound()) return std::optional<std::string>();
  return v.status();
}

Status ReadView::ReadLog(ReplicaId origin, uint64_t from, uint64_t to, size_t limit,
                         std::vector<Change>* out) {
  if (from > to || limit == 0) return Status::Ok();
  std::string begin = LogKey(origin, from);
  std::string end = to == std::numeric_limits<uint64_t>::max() ? OriginPrefixEnd(origin)
                                                                : LogKey(origin, to + 1);
  size_t taken = 0;
  Status decode_error;
  Status st = Scan(Table::kLog, begin, end, [&](std::string_view key, std::string_view value) {
    auto change = DecodeChange(value);
    if (!change.ok()) {
      decode_error = change.status().WithContext("log entry '" + PrintableKey(key) + "'");
      return false;
    }
    out->push_back(std::move(change).value());
    return ++taken < limit;
  });
  SYNCLINE_RETURN_IF_ERROR(st);
  return decode_error;
}

Status ReadView::ReadLogEncoded(ReplicaId origin, uint64_t from, size_t limit, size_t max_bytes,
                                std::vector<EncodedChange>* out) {
  if (limit == 0) return Status::Ok();
  size_t taken = 0;
  size_t bytes = 0;
  Status bad_key;
  Status st = Scan(Table::kLog, LogKey(origin, from), OriginPrefixEnd(origin),
                   [&](std::string_view key, std::string_view value) {
    if (key.size() != 16) {
      bad_key = Status::Corruption("log entry '" + PrintableKey(key) + "' is not 16 bytes (origin and counter)");
      return false;
    }
    if (taken > 0 && bytes + value.size() > max_bytes) return false;
    bytes += value.size();
    out->push_back(EncodedChange{Dot{origin, ReadBigEndian64(key.data() + 8)}, std::string(value)});
    return ++taken < limit;
  });
  SYNCLINE_RETURN_IF_ERROR(st);
  return bad_key;
}

Result<Change> ReadView::GetChange(const Dot& dot) {
  SYNCLINE_ASSIGN_OR_RETURN(std::string bytes, Get(Table::kLog, LogKey(dot.replica, dot.counter)));
  return DecodeChange(bytes);
}

Result<std::pair<uint64_t, uint64_t>> ReadView::LogBounds(ReplicaId origin) {
  std::string begin = LogKey(origin, 0);
  std::string end = OriginPrefixEnd(origin);
  bool found = false;
  uint64_t lo = 0, hi = 0;
  // The first key gives the low bound; the scan to the end gives the high one. Logs are
  // truncated from below, so the scan is bounded by what retention keeps.
  SYNCLINE_RETURN_IF_ERROR(Scan(Table::kLog, begin, end, [&](std::string_view key, std::string_view) {
    uint64_t c = ReadBigEndian64(key.data() + 8);
    if (!found) lo = c;
    found = true;
    hi = c;
    return true;
  }));
  if (!found) return Status::NotFound("no changes of origin " + origin.ToString() + " in the log");
  return std::make_pair(lo, hi);
}

Result<std::vector<ReplicaId>> ReadView::LogOrigins() {
  std::vector<ReplicaId> origins;
  std::string begin;
  while (true) {
    bool found = false;
    std::string next_key;
    SYNCLINE_RETURN_IF_ERROR(Scan(Table::kLog, begin, "", [&](std::string_view key, std::string_view) {
      if (key.size() == 16) {
        found = true;
        next_key = std::string(key.substr(0, 8));
      }
      return false;
    }));
    if (!found) break;
    ReplicaId origin(ReadBigEndian64(next_key.data()));
    origins.push_back(origin);
    begin = OriginPrefixEnd(origin);
    if (begin.empty()) break;
  }
  return origins;
}

Status WriteTxn::AppendChange(const Change& change) { return AppendChange(change, EncodeChange(change)); }

Status WriteTxn::AppendChange(const Change& change, std::string_view encoded) {
  SYNCLINE_RETURN_IF_ERROR(ValidateChange(change));
  Status inserted = Insert(Table::kLog, LogKey(change.dot.replica, change.dot.counter), encoded);
  if (inserted.code() == StatusCode::kAlreadyExists) {
    return Status::AlreadyExists("the log already holds change (" + change.dot.replica.ToString() + "," +
                                 std::to_string(change.dot.counter) + ")");
  }
  SYNCLINE_RETURN_IF_ERROR(inserted);
  // The change feed: a reference to this log entry, in this node's commit order (feed.h).
  return AppendToFeed(*this, change.dot);
}

Status WriteTxn::FinishDeferred() { return WriteDeferredFeed(*this); }

Status WriteTxn::TruncateLog(ReplicaId origin, uint64_t below) {
  if (below == 0) return Status::Ok();
  return DeleteRange(Table::kLog, LogKey(origin, 0), LogKey(origin, below));
}

void Store::SubmitStaged(WriteFn fn, WriteDone committed, WriteDone durable) {
  Submit(std::move(fn), [committed = std::move(committed), durable = std::move(durable)](Status st) {
    if (committed) committed(st);
    if (durable) durable(std::move(st));
  });
}

std::future<Status> Store::Write(WriteFn fn) {
  auto promise = std::make_shared<std::promise<Status>>();
  std::future<Status> fut = promise->get_future();
  Submit(std::move(fn), [promise](Status st) { promise->set_value(std::move(st)); });
  return fut;
}

Status Store::WriteAndWait(WriteFn fn) { return Write(std::move(fn)).get(); }

Status Store::Put(Table table, std::string_view key, std::string_view value) {
  return WriteAndWait([table, k = std::string(key), v = std::string(value)](WriteTxn& txn) {
    return txn.Put(table, k, v);
  });
}

Status Store::Delete(Table table, std::string_view key) {
  return WriteAndWait(
      [table, k = std::string(key)](WriteTxn& txn) { return txn.Delete(table, k); });
}

Result<std::string> Store::Get(Table table, std::string_view key) {
  std::string out;
  Status st = Read([&](ReadView& view) -> Status {
    SYNCLINE_ASSIGN_OR_RETURN(out, view.Get(table, key));
    return Status::Ok();
  });
  if (!st.ok()) return st;
  return out;
}

}  // namespace syncline::core
