// Change feed storage (see feed.h and docs/change-feed.md).
#include "syncline/core/feed.h"

#include <algorithm>
#include <limits>

#include "record_codec.h"
#include "syncline/core/varint.h"

namespace syncline::core {

namespace {

constexpr std::string_view kHeadKey = "h";
constexpr std::string_view kPrunedKey = "p";
constexpr std::string_view kRetainKey = "r";
constexpr char kEntryPrefix = 'e';
constexpr char kCursorPrefix = 'c';
constexpr char kSourcePrefix = 's';

std::string EntryKey(uint64_t seq) {
  std::string k(1, kEntryPrefix);
  AppendBigEndian64(&k, seq);
  return k;
}

std::string NamedKey(char prefix, std::string_view name) {
  std::string k(1, prefix);
  k.append(name);
  return k;
}

std::string Fixed(uint64_t v) {
  std::string out;
  PutFixed64(&out, v);
  return out;
}

// A fixed64 under `key`; `absent` when the key is missing.
Result<uint64_t> GetFixed(ReadView& view, std::string_view key, uint64_t absent) {
  auto v = view.Get(Table::kFeeds, key);
  if (v.status().IsNotFound()) return absent;
  if (!v.ok()) return v.status();
  std::string_view in = *v;
  uint64_t out = 0;
  if (!GetFixed64(&in, &out) || !in.empty()) {
    return Status::Corruption("feeds record '" + PrintableKey(key) + "' is not an 8-byte number");
  }
  return out;
}

// Visits every (name, position) under `prefix`, stopping after `limit` + 1 so a caller can tell
// that the limit was passed.
Status ScanNamed(ReadView& view, char prefix, size_t limit,
                 std::vector<std::pair<std::string, uint64_t>>* out) {
  std::string begin(1, prefix);
  std::string end(1, static_cast<char>(prefix + 1));
  Status bad;
  SYNCLINE_RETURN_IF_ERROR(view.Scan(Table::kFeeds, begin, end, [&](std::string_view k, std::string_view v) {
    uint64_t pos = 0;
    if (!GetFixed64(&v, &pos) || !v.empty()) {
      bad = Status::Corruption("feeds record '" + PrintableKey(k) + "' is not an 8-byte number");
      return false;
    }
    out->emplace_back(std::string(k.substr(1)), pos);
    return out->size() <= limit;
  }));
  return bad;
}

}  // namespace

Status ValidateFeedName(std::string_view name) {
  if (name.empty() || name.size() > 64) {
    return Status::InvalidArgument("feed consumer name must be 1..64 bytes, got " + std::to_string(name.size()));
  }
  for (char ch : name) {
    bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '.' ||
              ch == '_' || ch == '-';
    if (!ok) {
      return Status::InvalidArgument("feed consumer name '" + PrintableKey(name) +
                                     "' may only hold letters, digits, '.', '_' and '-'");
    }
  }
  return Status::Ok();
}

Status AppendToFeed(WriteTxn& txn, std::string_view encoded_change) {
  WriteTxn::DeferredFeedHead& deferred = txn.deferred_feed_head();
  uint64_t head = deferred.head;
  if (!deferred.pending) {
    SYNCLINE_ASSIGN_OR_RETURN(head, GetFixed(txn, kHeadKey, 0));
  }
  if (head == std::numeric_limits<uint64_t>::max()) {
    return Status::ResourceExhausted("the change feed has used every sequence number");
  }
  uint64_t seq = head + 1;
  SYNCLINE_RETURN_IF_ERROR(txn.Put(Table::kFeeds, EntryKey(seq), encoded_change));
  deferred.pending = true;
  deferred.head = seq;
  if (seq % kFeedPruneEvery == 0) SYNCLINE_RETURN_IF_ERROR(PruneFeed(txn));
  return Status::Ok();
}

Status WriteDeferredFeedHead(WriteTxn& txn) {
  WriteTxn::DeferredFeedHead& deferred = txn.deferred_feed_head();
  if (!deferred.pending) return Status::Ok();
  SYNCLINE_RETURN_IF_ERROR(txn.Put(Table::kFeeds, kHeadKey, Fixed(deferred.head)));
  deferred.pending = false;
  return Status::Ok();
}

Result<FeedBounds> GetFeedBounds(ReadView& view) {
  FeedBounds b;
  auto* txn = dynamic_cast<WriteTxn*>(&view);
  if (txn != nullptr && txn->deferred_feed_head().pending) {
    b.head = txn->deferred_feed_head().head;
  } else {
    SYNCLINE_ASSIGN_OR_RETURN(b.head, GetFixed(view, kHeadKey, 0));
  }
  SYNCLINE_ASSIGN_OR_RETURN(b.pruned_through, GetFixed(view, kPrunedKey, 0));
  SYNCLINE_ASSIGN_OR_RETURN(b.retain_entries, GetFixed(view, kRetainKey, kDefaultFeedRetainEntries));
  return b;
}

Status ReadFeed(ReadView& view, uint64_t after, size_t max_entries, size_t max_bytes, std::vector<FeedEntry>* out) {
  SYNCLINE_ASSIGN_OR_RETURN(FeedBounds b, GetFeedBounds(view));
  if (after > b.head) {
    return Status::InvalidArgument("feed position " + std::to_string(after) + " is beyond this node's head " +
                                   std::to_string(b.head) + " (a position from another data directory?)");
  }
  if (after < b.pruned_through) {
    return Status::FailedPrecondition("feed entries after " + std::to_string(after) + " were pruned; the oldest kept is " +
                                      std::to_string(b.pruned_through + 1) + " (register a cursor to keep entries)");
  }
  max_entries = std::min(max_entries, kMaxFeedBatchEntries);
  if (max_entries == 0 || after == b.head) return Status::Ok();
  size_t taken = 0;
  size_t bytes = 0;
  uint64_t expect = after + 1;
  Status bad;
  SYNCLINE_RETURN_IF_ERROR(view.Scan(Table::kFeeds, EntryKey(after + 1), EntryKey(b.head) + '\0',
                                     [&](std::string_view k, std::string_view v) {
    uint64_t seq = k.size() == 9 ? ReadBigEndian64(k.data() + 1) : 0;
    if (seq != expect) {
      bad = Status::Corruption("feed entry " + std::to_string(expect) + " is missing (found '" + PrintableKey(k) + "')");
      return false;
    }
    auto change = DecodeChange(v);
    if (!change.ok()) {
      bad = change.status().WithContext("feed entry " + std::to_string(seq));
      return false;
    }
    bytes += v.size();
    out->push_back(FeedEntry{seq, std::move(change).value()});
    ++taken;
    ++expect;
    return taken < max_entries && bytes < max_bytes;
  }));
  SYNCLINE_RETURN_IF_ERROR(bad);
  if (taken == 0) return Status::Corruption("feed entry " + std::to_string(after + 1) + " is missing");
  return Status::Ok();
}

Result<uint64_t> GetFeedCursor(ReadView& view, std::string_view name) {
  SYNCLINE_RETURN_IF_ERROR(ValidateFeedName(name));
  std::string key = NamedKey(kCursorPrefix, name);
  auto v = view.Get(Table::kFeeds, key);
  if (v.status().IsNotFound()) {
    return Status::NotFound("no feed consumer '" + std::string(name) + "' is registered on this node");
  }
  SYNCLINE_RETURN_IF_ERROR(v.status());
  return GetFixed(view, key, 0);
}

Status SetFeedCursor(WriteTxn& txn, std::string_view name, uint64_t seq) {
  SYNCLINE_RETURN_IF_ERROR(ValidateFeedName(name));
  SYNCLINE_ASSIGN_OR_RETURN(FeedBounds b, GetFeedBounds(txn));
  std::string where = "feed consumer '" + std::string(name) + "'";
  if (seq > b.head) {
    return Status::InvalidArgument(where + ": position " + std::to_string(seq) + " is beyond the head " +
                                   std::to_string(b.head));
  }
  std::string key = NamedKey(kCursorPrefix, name);
  auto have = txn.Get(Table::kFeeds, key);
  if (have.ok()) {
    SYNCLINE_ASSIGN_OR_RETURN(uint64_t cur, GetFixed(txn, key, 0));
    if (seq < cur) {
      return Status::FailedPrecondition(where + " is at " + std::to_string(cur) + "; it cannot move back to " +
                                        std::to_string(seq));
    }
    if (seq == cur) return Status::Ok();
  } else if (have.status().IsNotFound()) {
    if (seq < b.pruned_through) {
      return Status::FailedPrecondition(where + ": entries after " + std::to_string(seq) +
                                        " were pruned; register at " + std::to_string(b.pruned_through) +
                                        " or later");
    }
    std::vector<std::pair<std::string, uint64_t>> all;
    SYNCLINE_RETURN_IF_ERROR(ScanNamed(txn, kCursorPrefix, kMaxFeedConsumers, &all));
    if (all.size() >= kMaxFeedConsumers) {
      return Status::ResourceExhausted(where + ": this node has " + std::to_string(kMaxFeedConsumers) +
                                       " consumers already; remove one first");
    }
  } else {
    return have.status();
  }
  SYNCLINE_RETURN_IF_ERROR(txn.Put(Table::kFeeds, key, Fixed(seq)));
  return PruneFeed(txn);
}

Status RemoveFeedCursor(WriteTxn& txn, std::string_view name) {
  SYNCLINE_RETURN_IF_ERROR(ValidateFeedName(name));
  SYNCLINE_RETURN_IF_ERROR(txn.Delete(Table::kFeeds, NamedKey(kCursorPrefix, name)));
  return PruneFeed(txn);
}

Result<std::vector<FeedConsumer>> ListFeedConsumers(ReadView& view) {
  SYNCLINE_ASSIGN_OR_RETURN(FeedBounds b, GetFeedBounds(view));
  std::vector<std::pair<std::string, uint64_t>> all;
  SYNCLINE_RETURN_IF_ERROR(ScanNamed(view, kCursorPrefix, kMaxFeedConsumers, &all));
  std::vector<FeedConsumer> out;
  for (auto& [name, cursor] : all) {
    out.push_back(FeedConsumer{std::move(name), cursor, b.head > cursor ? b.head - cursor : 0});
  }
  return out;
}

Status SetFeedRetention(WriteTxn& txn, uint64_t retain_entries) {
  SYNCLINE_RETURN_IF_ERROR(txn.Put(Table::kFeeds, kRetainKey, Fixed(retain_entries)));
  return PruneFeed(txn);
}

Status PruneFeed(WriteTxn& txn) {
  SYNCLINE_ASSIGN_OR_RETURN(FeedBounds b, GetFeedBounds(txn));
  uint64_t upto = b.head > b.retain_entries ? b.head - b.retain_entries : 0;
  std::vector<std::pair<std::string, uint64_t>> cursors;
  SYNCLINE_RETURN_IF_ERROR(ScanNamed(txn, kCursorPrefix, kMaxFeedConsumers, &cursors));
  for (const auto& c : cursors) upto = std::min(upto, c.second);
  if (upto <= b.pruned_through) return Status::Ok();
  SYNCLINE_RETURN_IF_ERROR(txn.DeleteRange(Table::kFeeds, EntryKey(b.pruned_through + 1), EntryKey(upto + 1)));
  return txn.Put(Table::kFeeds, kPrunedKey, Fixed(upto));
}

Result<uint64_t> GetSourcePosition(ReadView& view, std::string_view name) {
  SYNCLINE_RETURN_IF_ERROR(ValidateFeedName(name));
  std::string key = NamedKey(kSourcePrefix, name);
  auto v = view.Get(Table::kFeeds, key);
  if (v.status().IsNotFound()) return Status::NotFound("no source position '" + std::string(name) + "' is stored");
  SYNCLINE_RETURN_IF_ERROR(v.status());
  return GetFixed(view, key, 0);
}

Status AdvanceSourcePosition(WriteTxn& txn, std::string_view name, uint64_t from, uint64_t to) {
  SYNCLINE_RETURN_IF_ERROR(ValidateFeedName(name));
  std::string where = "source position '" + std::string(name) + "'";
  if (to < from) {
    return Status::InvalidArgument(where + ": cannot advance from " + std::to_string(from) + " back to " +
                                   std::to_string(to));
  }
  std::string key = NamedKey(kSourcePrefix, name);
  auto have = txn.Get(Table::kFeeds, key);
  uint64_t cur = 0;
  if (have.ok()) {
    SYNCLINE_ASSIGN_OR_RETURN(cur, GetFixed(txn, key, 0));
  } else if (have.status().IsNotFound()) {
    std::vector<std::pair<std::string, uint64_t>> all;
    SYNCLINE_RETURN_IF_ERROR(ScanNamed(txn, kSourcePrefix, kMaxFeedConsumers, &all));
    if (all.size() >= kMaxFeedConsumers) {
      return Status::ResourceExhausted(where + ": this store keeps " + std::to_string(kMaxFeedConsumers) +
                                       " source positions already");
    }
  } else {
    return have.status();
  }
  if (cur != from) {
    return Status::FailedPrecondition(where + " is at " + std::to_string(cur) + ", not at " + std::to_string(from) +
                                      "; these entries were applied already (or a batch was skipped)");
  }
  return txn.Put(Table::kFeeds, key, Fixed(to));
}

}  // namespace syncline::core
