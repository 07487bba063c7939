// The parts of Store, ReadView and WriteTxn shared by every implementation: the change-log
// helpers (log keys are 8-byte big-endian origin + counter, so one origin's changes are
// contiguous and in counter order) and the synchronous conveniences.
#include "syncline/core/store.h"

#include <algorithm>
#include <iterator>
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

namespace {

constexpr std::string_view kActiveLogMeta = "log.active";

// One segment's entries of an origin, from `from` on, in counter order: at most `limit`, and
// past the first no more than `max_bytes` of encoding; `complete` when the scan reached the
// end of the range rather than a bound.
struct SegmentRead {
  std::vector<std::pair<uint64_t, std::string>> entries;
  bool complete = true;
};

Status ReadSegment(ReadView& view, Table table, std::string_view begin, std::string_view end, size_t limit,
                   size_t max_bytes, SegmentRead* out) {
  size_t bytes = 0;
  Status bad_key;
  SYNCLINE_RETURN_IF_ERROR(view.Scan(table, begin, end, [&](std::string_view key, std::string_view value) {
    if (key.size() != 16) {
      bad_key = Status::Corruption("log entry '" + PrintableKey(key) + "' of table '" + std::string(TableName(table)) +
                                   "' is not 16 bytes (origin and counter)");
      return false;
    }
    if (out->entries.size() >= limit || (!out->entries.empty() && bytes + value.size() > max_bytes)) {
      out->complete = false;
      return false;
    }
    bytes += value.size();
    out->entries.emplace_back(ReadBigEndian64(key.data() + 8), std::string(value));
    return true;
  }));
  return bad_key;
}

// Merges the two segments' reads of one origin into counter order, calling `emit` until it
// returns false. A read that stopped at a bound ends the merge where it stopped: the entries it
// did not read may come before the other segment's next one. A counter held by both (which
// appends never make) is emitted once.
template <typename Emit>
void MergeSegments(SegmentRead& a, SegmentRead& b, Emit emit) {
  size_t i = 0, j = 0;
  while (true) {
    bool has_a = i < a.entries.size(), has_b = j < b.entries.size();
    std::pair<uint64_t, std::string>* next = nullptr;
    if (has_a && has_b) {
      if (a.entries[i].first == b.entries[j].first) {
        ++j;
        continue;
      }
      next = a.entries[i].first < b.entries[j].first ? &a.entries[i++] : &b.entries[j++];
    } else if (has_a) {
      if (!b.complete) return;
      next = &a.entries[i++];
    } else if (has_b) {
      if (!a.complete) return;
      next = &b.entries[j++];
    } else {
      return;
    }
    if (!emit(*next)) return;
  }
}

Status ReadOriginFromBothSegments(ReadView& view, ReplicaId origin, uint64_t from, std::string_view end, size_t limit,
                                  size_t max_bytes, SegmentRead* a, SegmentRead* b) {
  std::string begin = LogKey(origin, from);
  SYNCLINE_RETURN_IF_ERROR(ReadSegment(view, kLogSegments[0], begin, end, limit, max_bytes, a));
  return ReadSegment(view, kLogSegments[1], begin, end, limit, max_bytes, b);
}

}  // namespace

Status ReadView::ReadLog(ReplicaId origin, uint64_t from, uint64_t to, size_t limit,
                         std::vector<Change>* out) {
  if (from > to || limit == 0) return Status::Ok();
  std::string end = to == std::numeric_limits<uint64_t>::max() ? OriginPrefixEnd(origin)
                                                                : LogKey(origin, to + 1);
  SegmentRead a, b;
  SYNCLINE_RETURN_IF_ERROR(ReadOriginFromBothSegments(*this, origin, from, end, limit, SIZE_MAX, &a, &b));
  size_t taken = 0;
  Status decode_error;
  MergeSegments(a, b, [&](std::pair<uint64_t, std::string>& e) {
    auto change = DecodeChange(e.second);
    if (!change.ok()) {
      decode_error = change.status().WithContext("log entry '" + PrintableKey(LogKey(origin, e.first)) + "'");
      return false;
    }
    out->push_back(std::move(change).value());
    return ++taken < limit;
  });
  return decode_error;
}

Status ReadView::ReadLogEncoded(ReplicaId origin, uint64_t from, size_t limit, size_t max_bytes,
                                std::vector<EncodedChange>* out) {
  if (limit == 0) return Status::Ok();
  SegmentRead a, b;
  SYNCLINE_RETURN_IF_ERROR(
      ReadOriginFromBothSegments(*this, origin, from, OriginPrefixEnd(origin), limit, max_bytes, &a, &b));
  size_t taken = 0;
  size_t bytes = 0;
  MergeSegments(a, b, [&](std::pair<uint64_t, std::string>& e) {
    if (taken > 0 && bytes + e.second.size() > max_bytes) return false;
    bytes += e.second.size();
    out->push_back(EncodedChange{Dot{origin, e.first}, std::move(e.second)});
    return ++taken < limit;
  });
  return Status::Ok();
}

Result<std::optional<std::string>> ReadView::FindLogEntry(const Dot& dot) {
  std::string key = LogKey(dot.replica, dot.counter);
  for (Table table : kLogSegments) {
    SYNCLINE_ASSIGN_OR_RETURN(std::optional<std::string> v, Find(table, key));
    if (v.has_value()) return v;
  }
  return std::optional<std::string>();
}

Result<Change> ReadView::GetChange(const Dot& dot) {
  SYNCLINE_ASSIGN_OR_RETURN(std::optional<std::string> bytes, FindLogEntry(dot));
  if (!bytes.has_value()) {
    return Status::NotFound("change (" + dot.replica.ToString() + "," + std::to_string(dot.counter) +
                            ") is not in the log");
  }
  return DecodeChange(*bytes);
}

Result<std::optional<std::pair<uint64_t, uint64_t>>> ReadView::SegmentBounds(int segment, ReplicaId origin,
                                                                              uint64_t from) {
  Table table = kLogSegments[segment];
  std::string begin = LogKey(origin, from);
  std::string end = OriginPrefixEnd(origin);
  std::optional<uint64_t> first;
  SYNCLINE_RETURN_IF_ERROR(Scan(table, begin, end, [&](std::string_view key, std::string_view) {
    if (key.size() == 16) first = ReadBigEndian64(key.data() + 8);
    return false;
  }));
  if (!first.has_value()) return std::optional<std::pair<uint64_t, uint64_t>>();
  SYNCLINE_ASSIGN_OR_RETURN(std::optional<std::string> last, LastKey(table, begin, end));
  uint64_t last_counter = last.has_value() && last->size() == 16 ? ReadBigEndian64(last->data() + 8) : *first;
  return std::make_optional(std::make_pair(*first, last_counter));
}

Result<std::pair<uint64_t, uint64_t>> ReadView::LogBounds(ReplicaId origin) {
  std::optional<std::pair<uint64_t, uint64_t>> bounds;
  for (int segment = 0; segment < 2; ++segment) {
    SYNCLINE_ASSIGN_OR_RETURN(auto b, SegmentBounds(segment, origin));
    if (!b.has_value()) continue;
    bounds = bounds.has_value() ? std::make_pair(std::min(bounds->first, b->first), std::max(bounds->second, b->second))
                                : *b;
  }
  if (!bounds.has_value()) return Status::NotFound("no changes of origin " + origin.ToString() + " in the log");
  return *bounds;
}

Result<std::vector<ReplicaId>> ReadView::SegmentOrigins(int segment) {
  std::vector<ReplicaId> origins;
  std::string begin;
  while (true) {
    bool found = false;
    std::string next_key;
    SYNCLINE_RETURN_IF_ERROR(Scan(kLogSegments[segment], begin, "", [&](std::string_view key, std::string_view) {
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

Result<std::vector<ReplicaId>> ReadView::LogOrigins() {
  SYNCLINE_ASSIGN_OR_RETURN(std::vector<ReplicaId> origins, SegmentOrigins(0));
  SYNCLINE_ASSIGN_OR_RETURN(std::vector<ReplicaId> more, SegmentOrigins(1));
  if (more.empty()) return origins;
  std::vector<ReplicaId> all;
  std::set_union(origins.begin(), origins.end(), more.begin(), more.end(), std::back_inserter(all));
  return all;
}

Result<uint64_t> ReadView::CountEntries(Table table) {
  uint64_t n = 0;
  SYNCLINE_RETURN_IF_ERROR(Scan(table, "", "", [&](std::string_view, std::string_view) {
    ++n;
    return true;
  }));
  return n;
}

Result<std::optional<std::string>> ReadView::LastKey(Table table, std::string_view begin, std::string_view end) {
  std::optional<std::string> last;
  SYNCLINE_RETURN_IF_ERROR(Scan(table, begin, end, [&](std::string_view key, std::string_view) {
    last = std::string(key);
    return true;
  }));
  return last;
}

Status WriteTxn::Clear(Table table) { return DeleteRange(table, "", ""); }

Result<int> WriteTxn::ActiveLogSegment() {
  if (active_log_ < 0) {
    SYNCLINE_ASSIGN_OR_RETURN(std::optional<std::string> v, Find(Table::kMeta, kActiveLogMeta));
    if (!v.has_value()) {
      active_log_ = 0;
    } else if (*v == std::string(1, '\0') || *v == std::string(1, '\1')) {
      active_log_ = (*v)[0];
    } else {
      return Status::Corruption("meta record 'log.active' holds " + std::to_string(v->size()) +
                                " byte(s), not the segment number 0 or 1");
    }
  }
  return active_log_;
}

Status WriteTxn::SwitchLogSegment() {
  SYNCLINE_ASSIGN_OR_RETURN(int active, ActiveLogSegment());
  int next = 1 - active;
  SYNCLINE_RETURN_IF_ERROR(Put(Table::kMeta, kActiveLogMeta, std::string(1, static_cast<char>(next))));
  active_log_ = next;
  return Status::Ok();
}

Status WriteTxn::ReplaceLogEntry(const Dot& dot, std::string_view encoded) {
  std::string key = LogKey(dot.replica, dot.counter);
  for (Table table : kLogSegments) {
    SYNCLINE_ASSIGN_OR_RETURN(std::optional<std::string> v, Find(table, key));
    if (v.has_value()) return Put(table, key, encoded);
  }
  SYNCLINE_ASSIGN_OR_RETURN(int active, ActiveLogSegment());
  return Put(kLogSegments[active], key, encoded);
}

Status WriteTxn::AppendChange(const Change& change) { return AppendChange(change, EncodeChange(change)); }

Status WriteTxn::AppendChange(const Change& change, std::string_view encoded) {
  SYNCLINE_RETURN_IF_ERROR(ValidateChange(change));
  SYNCLINE_ASSIGN_OR_RETURN(int active, ActiveLogSegment());
  Status inserted = Insert(kLogSegments[active], LogKey(change.dot.replica, change.dot.counter), encoded);
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
  for (int segment = 0; segment < 2; ++segment) SYNCLINE_RETURN_IF_ERROR(TruncateLogSegment(segment, origin, below));
  return Status::Ok();
}

Status WriteTxn::TruncateLogSegment(int segment, ReplicaId origin, uint64_t below) {
  if (below == 0) return Status::Ok();
  return DeleteRange(kLogSegments[segment], LogKey(origin, 0), LogKey(origin, below));
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
