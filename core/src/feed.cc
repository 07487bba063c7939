// Change feed storage (see feed.h and docs/change-feed.md).
#include "syncline/core/feed.h"

#include <algorithm>
#include <limits>
#include <map>
#include <utility>

#include "record_codec.h"
#include "syncline/core/varint.h"

namespace syncline::core {

namespace {

constexpr std::string_view kHeadKey = "h";
constexpr std::string_view kPrunedKey = "p";
constexpr std::string_view kRetainKey = "r";
constexpr char kEntryPrefix = 'e';  // copies of changes, written by stores before groups
constexpr char kGroupPrefix = 'g';
constexpr char kStatePrefix = 'x';  // state entries (AppendStateToFeed), named by state runs
constexpr char kCursorPrefix = 'c';
constexpr char kSourcePrefix = 's';

std::string SeqKey(char prefix, uint64_t seq) {
  std::string k(1, prefix);
  AppendBigEndian64(&k, seq);
  return k;
}
std::string EntryKey(uint64_t seq) { return SeqKey(kEntryPrefix, seq); }
std::string GroupKey(uint64_t last) { return SeqKey(kGroupPrefix, last); }
std::string StateKey(uint64_t seq) { return SeqKey(kStatePrefix, seq); }

// A state entry as stored: the encoded change with no dot (origin and counter 0), kind
// kFeedStateKind and the state as payload (empty: a dropped key), or kFeedUncopiedStateKind and
// no payload. DecodeChange would refuse the missing dot.
Result<Change> DecodeStateEntry(uint64_t seq, std::string_view bytes) {
  std::string where = "feed state entry " + std::to_string(seq);
  // The state's bound, plus room for the collection, key and resolver names.
  auto c = DecodeChangeFields(bytes, kMaxFeedStateBytes + 2048);
  if (!c.ok()) return Status::Corruption(where + ": " + c.status().message());
  bool state_kind = c->kind == kFeedStateKind || (c->kind == kFeedUncopiedStateKind && c->payload.empty());
  if (c->dot.replica.valid() || c->dot.counter != 0 || !state_kind) {
    return Status::Corruption(where + " has a dot or a kind of its own (it is not a state entry)");
  }
  Status st = ValidateCollectionName(c->collection);
  if (st.ok()) st = ValidateKey(c->key);
  if (!st.ok()) return Status::Corruption(where + " is invalid: " + st.message());
  return c;
}

// The entries one transaction appended: sequence numbers last - entries + 1 .. last, their dots
// in runs.
struct Group {
  uint64_t last = 0;
  uint64_t entries = 0;
  std::vector<WriteTxn::FeedRun> runs;
};

std::string EncodeGroup(uint64_t entries, const std::vector<WriteTxn::FeedRun>& runs) {
  std::string out;
  PutVarint64(&out, entries);
  for (const auto& r : runs) {
    PutFixed64(&out, r.origin.value());
    PutVarint64(&out, r.first);
    PutVarint64(&out, r.count);
  }
  return out;
}

Status DecodeGroup(std::string_view key, std::string_view in, Group* g) {
  auto bad = [&](const std::string& what) {
    return Status::Corruption("feeds record '" + PrintableKey(key) + "' " + what);
  };
  if (key.size() != 9 || key[0] != kGroupPrefix) return bad("is not a group key");
  g->last = ReadBigEndian64(key.data() + 1);
  g->runs.clear();
  if (!GetVarint64(&in, &g->entries) || g->entries == 0 || g->entries > g->last) {
    return bad("has no valid entry count");
  }
  uint64_t total = 0;
  while (!in.empty()) {
    WriteTxn::FeedRun r;
    uint64_t origin = 0;
    if (!GetFixed64(&in, &origin) || !GetVarint64(&in, &r.first) || !GetVarint64(&in, &r.count)) {
      return bad("ends inside a run");
    }
    r.origin = ReplicaId(origin);
    // A run of origin 0 names state entries (first 0); any other names changes (first >= 1).
    bool bad_first = r.origin.valid() ? r.first == 0 : r.first != 0;
    if (bad_first || r.count == 0 || r.count - 1 > UINT64_MAX - r.first || r.count > g->entries - total) {
      return bad("has a run that names no changes or more than the group holds");
    }
    total += r.count;
    g->runs.push_back(r);
  }
  if (total != g->entries) return bad("lists " + std::to_string(total) + " of its " + std::to_string(g->entries) + " entries");
  return Status::Ok();
}

// Calls visit(seq, dot) for the group's entries from sequence number `from` on, in order, until
// it returns false; returns false then. A state entry's dot is the invalid Dot{}.
template <typename Visit>
bool VisitGroup(const Group& g, uint64_t from, Visit&& visit) {
  uint64_t seq = g.last - g.entries + 1;
  for (const auto& r : g.runs) {
    if (seq + r.count <= from) {
      seq += r.count;
      continue;
    }
    uint64_t skip = from > seq ? from - seq : 0;
    for (uint64_t i = skip; i < r.count; ++i) {
      if (!visit(seq + i, r.origin.valid() ? Dot{r.origin, r.first + i} : Dot{})) return false;
    }
    seq += r.count;
  }
  return true;
}

// The group this write transaction's appends are building, if `view` is one and it appended.
const WriteTxn::DeferredFeed* PendingGroup(ReadView& view) {
  auto* txn = dynamic_cast<WriteTxn*>(&view);
  if (txn == nullptr || !txn->deferred_feed().pending) return nullptr;
  return &txn->deferred_feed();
}

// Visits the feed's groups, the stored ones with a last entry at or above `from` and then the
// one the transaction builds, until visit(group) returns false.
template <typename Visit>
Status VisitGroups(ReadView& view, uint64_t from, Visit&& visit) {
  Status bad;
  bool more = true;
  Group g;
  SYNCLINE_RETURN_IF_ERROR(view.Scan(Table::kFeeds, GroupKey(from), std::string(1, kGroupPrefix + 1),
                                     [&](std::string_view k, std::string_view v) {
    bad = DecodeGroup(k, v, &g);
    if (!bad.ok()) return false;
    more = visit(g);
    return more;
  }));
  SYNCLINE_RETURN_IF_ERROR(bad);
  if (!more) return Status::Ok();
  if (const WriteTxn::DeferredFeed* d = PendingGroup(view); d != nullptr && d->head >= from) {
    g.last = d->head;
    g.entries = d->head - d->first + 1;
    g.runs = d->runs;
    visit(g);
  }
  return Status::Ok();
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

namespace {

// Gives the next sequence number to an entry of `origin` (0: a state entry) with counter
// `counter` (0 for a state entry), in the transaction's deferred group.
Result<uint64_t> AppendEntry(WriteTxn& txn, ReplicaId origin, uint64_t counter) {
  WriteTxn::DeferredFeed& deferred = txn.deferred_feed();
  uint64_t head = deferred.head;
  if (!deferred.pending) {
    SYNCLINE_ASSIGN_OR_RETURN(head, GetFixed(txn, kHeadKey, 0));
    deferred.first = head + 1;
    deferred.runs.clear();
  }
  if (head == std::numeric_limits<uint64_t>::max()) {
    return Status::ResourceExhausted("the change feed has used every sequence number");
  }
  uint64_t seq = head + 1;
  auto& runs = deferred.runs;
  bool extends = !runs.empty() && runs.back().origin == origin &&
                 (!origin.valid() || runs.back().first + runs.back().count == counter);
  if (extends) {
    ++runs.back().count;
  } else {
    runs.push_back(WriteTxn::FeedRun{origin, counter, 1});
  }
  deferred.pending = true;
  deferred.head = seq;
  return seq;
}

}  // namespace

Status AppendToFeed(WriteTxn& txn, const Dot& dot) {
  SYNCLINE_ASSIGN_OR_RETURN(uint64_t seq, AppendEntry(txn, dot.replica, dot.counter));
  if (seq % kFeedPruneEvery == 0) SYNCLINE_RETURN_IF_ERROR(PruneFeed(txn));
  return Status::Ok();
}

Status AppendStateToFeed(WriteTxn& txn, std::string_view collection, std::string_view key, std::string_view resolver,
                         std::string_view state, HlcTimestamp hlc) {
  Change entry;  // no dot
  entry.collection = std::string(collection);
  entry.key = std::string(key);
  entry.hlc = hlc;
  entry.resolver = std::string(resolver);
  // A state above the bound is entered without it: the entry still says the key changed.
  bool copied = state.size() <= kMaxFeedStateBytes;
  entry.kind = copied ? kFeedStateKind : kFeedUncopiedStateKind;
  if (copied) entry.payload = std::string(state);
  std::string encoded = EncodeChange(entry);
  SYNCLINE_ASSIGN_OR_RETURN(uint64_t seq, AppendEntry(txn, ReplicaId(), 0));
  SYNCLINE_RETURN_IF_ERROR(txn.Put(Table::kFeeds, StateKey(seq), encoded));
  if (seq % kFeedPruneEvery == 0) SYNCLINE_RETURN_IF_ERROR(PruneFeed(txn));
  return Status::Ok();
}

Status WriteDeferredFeed(WriteTxn& txn) {
  WriteTxn::DeferredFeed& deferred = txn.deferred_feed();
  if (!deferred.pending) return Status::Ok();
  SYNCLINE_RETURN_IF_ERROR(txn.Put(Table::kFeeds, GroupKey(deferred.head),
                                   EncodeGroup(deferred.head - deferred.first + 1, deferred.runs)));
  SYNCLINE_RETURN_IF_ERROR(txn.Put(Table::kFeeds, kHeadKey, Fixed(deferred.head)));
  deferred.pending = false;
  deferred.runs.clear();
  return Status::Ok();
}

Result<FeedBounds> GetFeedBounds(ReadView& view) {
  FeedBounds b;
  if (const WriteTxn::DeferredFeed* d = PendingGroup(view); d != nullptr) {
    b.head = d->head;
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
  size_t bytes = 0;
  uint64_t expect = after + 1;
  auto full = [&] { return out->size() >= max_entries || bytes >= max_bytes; };
  size_t before = out->size();
  max_entries += before;
  // Entries a store wrote as copies before groups: all older than any group.
  Status bad;
  SYNCLINE_RETURN_IF_ERROR(view.Scan(Table::kFeeds, EntryKey(expect), EntryKey(b.head) + '\0',
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
    ++expect;
    return !full();
  }));
  SYNCLINE_RETURN_IF_ERROR(bad);
  // Groups: their dots first (the log is read after the scan), then each change from the log.
  std::vector<std::pair<uint64_t, Dot>> refs;
  if (!full() && expect <= b.head) {
    size_t room = max_entries - out->size();
    SYNCLINE_RETURN_IF_ERROR(VisitGroups(view, expect, [&](const Group& g) {
      if (g.last - g.entries + 1 > expect) {
        bad = Status::Corruption("feed entry " + std::to_string(expect) + " is missing (the next group starts at " +
                                 std::to_string(g.last - g.entries + 1) + ")");
        return false;
      }
      return VisitGroup(g, expect, [&](uint64_t seq, const Dot& dot) {
        refs.emplace_back(seq, dot);
        expect = seq + 1;
        return refs.size() < room;
      });
    }));
    SYNCLINE_RETURN_IF_ERROR(bad);
  }
  for (const auto& [seq, dot] : refs) {
    if (full()) break;
    if (!dot.valid()) {
      auto v = view.Get(Table::kFeeds, StateKey(seq));
      if (v.status().IsNotFound()) return Status::Corruption("feed state entry " + std::to_string(seq) + " is missing");
      SYNCLINE_RETURN_IF_ERROR(v.status());
      SYNCLINE_ASSIGN_OR_RETURN(Change change, DecodeStateEntry(seq, *v));
      bytes += v->size();
      out->push_back(FeedEntry{seq, std::move(change)});
      continue;
    }
    auto v = view.FindLogEntry(dot);
    if (!v.ok()) return v.status().WithContext("feed entry " + std::to_string(seq));
    if (!v->has_value()) {
      return Status::Corruption("feed entry " + std::to_string(seq) + " names change " + dot.replica.ToString() + ":" +
                                std::to_string(dot.counter) + ", which the log no longer holds");
    }
    auto change = DecodeChange(**v);
    if (!change.ok()) return change.status().WithContext("feed entry " + std::to_string(seq));
    bytes += (*v)->size();
    out->push_back(FeedEntry{seq, std::move(change).value()});
  }
  if (out->size() == before) return Status::Corruption("feed entry " + std::to_string(after + 1) + " is missing");
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
  SYNCLINE_RETURN_IF_ERROR(txn.DeleteRange(Table::kFeeds, StateKey(b.pruned_through + 1), StateKey(upto + 1)));
  // Whole groups only: one that reaches past `upto` stays, its older entries skipped by readers.
  SYNCLINE_RETURN_IF_ERROR(txn.DeleteRange(Table::kFeeds, std::string(1, kGroupPrefix), GroupKey(upto + 1)));
  return txn.Put(Table::kFeeds, kPrunedKey, Fixed(upto));
}

Result<FeedLogPins> GetFeedLogPins(ReadView& view, size_t max_groups) {
  SYNCLINE_ASSIGN_OR_RETURN(FeedBounds b, GetFeedBounds(view));
  std::map<ReplicaId, uint64_t> lowest;
  size_t groups = 0;
  FeedLogPins pins;
  SYNCLINE_RETURN_IF_ERROR(VisitGroups(view, b.pruned_through + 1, [&](const Group& g) {
    if (++groups > max_groups) {
      pins.complete = false;
      return false;
    }
    uint64_t seq = g.last - g.entries + 1;
    for (const auto& r : g.runs) {
      // The run's entries after the pruned ones: its counters rise with its sequence numbers.
      if (r.origin.valid() && seq + r.count > b.pruned_through + 1) {
        uint64_t skip = b.pruned_through + 1 > seq ? b.pruned_through + 1 - seq : 0;
        auto [it, inserted] = lowest.emplace(r.origin, r.first + skip);
        if (!inserted) it->second = std::min(it->second, r.first + skip);
      }
      seq += r.count;
    }
    return true;
  }));
  pins.lowest.assign(lowest.begin(), lowest.end());
  return pins;
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
