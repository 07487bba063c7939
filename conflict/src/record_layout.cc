#include "syncline/conflict/record_layout.h"

#include <algorithm>
#include <map>
#include <set>

#include "log_clock.h"

namespace syncline::conflict {

namespace {

void PutVarint(std::string* out, uint64_t v) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

bool GetVarint(std::string_view* in, uint64_t* v) {
  uint64_t r = 0;
  for (int shift = 0; shift < 64 && !in->empty(); shift += 7) {
    uint8_t b = static_cast<uint8_t>((*in)[0]);
    in->remove_prefix(1);
    r |= static_cast<uint64_t>(b & 0x7f) << shift;
    if (!(b & 0x80)) {
      *v = r;
      return true;
    }
  }
  return false;
}

std::string EncodeDots(const std::vector<Dot>& dots) {
  std::string out;
  PutVarint(&out, dots.size());
  for (const Dot& d : dots) {
    PutVarint(&out, d.replica.value());
    PutVarint(&out, d.counter);
  }
  return out;
}

Result<std::vector<Dot>> DecodeDots(std::string_view in) {
  uint64_t n = 0;
  if (!GetVarint(&in, &n) || n == 0 || n > 4096 || n > in.size() / 2) {
    return Status::Corruption("set element record: bad dot count");
  }
  std::vector<Dot> dots;
  for (uint64_t i = 0; i < n; ++i) {
    uint64_t r = 0, c = 0;
    if (!GetVarint(&in, &r) || !GetVarint(&in, &c)) return Status::Corruption("set element record: truncated");
    Dot d{ReplicaId(r), c};
    if (!d.valid() || (!dots.empty() && !(dots.back() < d))) return Status::Corruption("set element record: bad dots");
    dots.push_back(d);
  }
  if (!in.empty()) return Status::Corruption("set element record: trailing bytes");
  return dots;
}

std::string IndexKey(const Dot& d) {
  std::string k = "i";
  for (uint64_t v : {d.replica.value(), d.counter}) {
    for (int i = 7; i >= 0; --i) k.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  }
  return k;
}

std::string ElementKey(std::string_view element) { return "e" + std::string(element); }

Result<DotContext> LoadContext(KeyRecords& records) {
  SYNCLINE_ASSIGN_OR_RETURN(std::optional<std::string> bytes, records.Get("c"));
  if (!bytes) return DotContext();
  return DotContext::Decode(*bytes);
}

// The log clock record "l": flags (1: unlogged), then the version vector.
struct LogRecord {
  VersionVector log_clock;
  bool unlogged = false;
  bool empty() const { return log_clock.empty() && !unlogged; }
  friend bool operator==(const LogRecord&, const LogRecord&) = default;
};

std::string EncodeLogRecord(const LogRecord& log) {
  std::string out(1, static_cast<char>(log.unlogged ? 1 : 0));
  log.log_clock.EncodeTo(&out);
  return out;
}

Result<LogRecord> LoadLogRecord(KeyRecords& records) {
  SYNCLINE_ASSIGN_OR_RETURN(std::optional<std::string> bytes, records.Get("l"));
  LogRecord log;
  if (!bytes) return log;
  std::string_view in = *bytes;
  if (in.empty() || static_cast<uint8_t>(in[0]) > 1) return Status::Corruption("set log clock record: bad flags byte");
  log.unlogged = in[0] == 1;
  in.remove_prefix(1);
  auto vv = VersionVector::Decode(in);
  if (!vv.ok()) return vv.status().WithContext("set log clock record");
  log.log_clock = std::move(vv).value();
  return log;
}

// The counter of an index record's sub-key ("i" + replica BE8 + counter BE8).
uint64_t IndexCounter(std::string_view sub) {
  uint64_t c = 0;
  for (size_t i = 9; i < 17 && i < sub.size(); ++i) c = (c << 8) | static_cast<uint8_t>(sub[i]);
  return c;
}

class TxnRecords final : public KeyRecords {
 public:
  TxnRecords(core::WriteTxn& txn, std::string prefix) : txn_(txn), prefix_(std::move(prefix)) {}

  Result<std::optional<std::string>> Get(std::string_view sub) override {
    auto v = txn_.Get(core::Table::kData, prefix_ + std::string(sub));
    if (v.status().IsNotFound()) return std::optional<std::string>();
    if (!v.ok()) return v.status();
    return std::optional<std::string>(std::move(v).value());
  }
  Status Put(std::string_view sub, std::string_view value) override {
    return txn_.Put(core::Table::kData, prefix_ + std::string(sub), value);
  }
  Status Delete(std::string_view sub) override { return txn_.Delete(core::Table::kData, prefix_ + std::string(sub)); }
  Status Scan(std::string_view prefix,
              const std::function<bool(std::string_view, std::string_view)>& visit) override {
    std::string begin = prefix_ + std::string(prefix);
    return txn_.Scan(core::Table::kData, begin, "", [&](std::string_view k, std::string_view v) {
      if (k.substr(0, begin.size()) != begin) return false;
      return visit(k.substr(prefix_.size()), v);
    });
  }

 private:
  core::WriteTxn& txn_;
  std::string prefix_;
};

}  // namespace

std::unique_ptr<KeyRecords> TxnKeyRecords(core::WriteTxn& txn, std::string_view collection, std::string_view key) {
  std::string prefix(collection);
  prefix.push_back('\0');
  prefix += key;
  prefix.push_back('\0');
  return std::make_unique<TxnRecords>(txn, std::move(prefix));
}

Status ApplySetDelta(KeyRecords& records, const OrSet& delta, MergeOutcome* outcome) {
  SYNCLINE_ASSIGN_OR_RETURN(DotContext context, LoadContext(records));
  const DotContext& theirs_ctx = delta.context();
  // The elements to join: the delta's own, and those owning a dot the delta supersedes.
  std::set<std::string> touched;
  for (const auto& entry : delta.elements_with_dots()) touched.insert(entry.first);
  // A vector range of the delta's context: scan the index records of that replica up to the
  // range's top, so a range claimed by a first write costs the live dots inside it.
  for (const auto& [replica, top] : theirs_ctx.vv().entries()) {
    std::string prefix = IndexKey(Dot{replica, 0}).substr(0, 9);
    SYNCLINE_RETURN_IF_ERROR(records.Scan(prefix, [&](std::string_view sub, std::string_view owner) {
      if (IndexCounter(sub) > top) return false;
      touched.insert(std::string(owner));
      return true;
    }));
  }
  for (const Dot& d : theirs_ctx.CloudDots()) {
    SYNCLINE_ASSIGN_OR_RETURN(std::optional<std::string> owner, records.Get(IndexKey(d)));
    if (owner) touched.insert(*owner);
  }
  for (const std::string& element : touched) {
    SYNCLINE_ASSIGN_OR_RETURN(std::optional<std::string> stored, records.Get(ElementKey(element)));
    std::vector<Dot> mine;
    if (stored) {
      SYNCLINE_ASSIGN_OR_RETURN(mine, DecodeDots(*stored));
    }
    static const std::vector<Dot> kNone;
    auto it = delta.elements_with_dots().find(element);
    const std::vector<Dot>& other = it == delta.elements_with_dots().end() ? kNone : it->second;
    // The same rule as OrSet::Join, on one element.
    std::vector<Dot> out;
    for (const Dot& d : mine) {
      if (std::binary_search(other.begin(), other.end(), d) || !theirs_ctx.Contains(d)) out.push_back(d);
    }
    bool gained = false;
    for (const Dot& d : other) {
      if (!context.Contains(d) && !std::binary_search(mine.begin(), mine.end(), d)) {
        out.push_back(d);
        gained = true;
      }
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    if (outcome && gained && !mine.empty() && out.size() > 1) {
      outcome->concurrent = true;
      outcome->description = "set: concurrent adds of one element kept (add-wins)";
    }
    for (const Dot& d : mine) {
      if (!std::binary_search(out.begin(), out.end(), d)) SYNCLINE_RETURN_IF_ERROR(records.Delete(IndexKey(d)));
    }
    for (const Dot& d : out) {
      if (!std::binary_search(mine.begin(), mine.end(), d)) SYNCLINE_RETURN_IF_ERROR(records.Put(IndexKey(d), element));
    }
    if (out.empty()) {
      if (stored) SYNCLINE_RETURN_IF_ERROR(records.Delete(ElementKey(element)));
    } else if (out != mine) {
      SYNCLINE_RETURN_IF_ERROR(records.Put(ElementKey(element), EncodeDots(out)));
    }
  }
  if (!delta.log_clock().empty() || delta.unlogged()) {
    SYNCLINE_ASSIGN_OR_RETURN(LogRecord log, LoadLogRecord(records));
    LogRecord merged = log;
    merged.log_clock.Merge(delta.log_clock());
    merged.unlogged = merged.unlogged || delta.unlogged();
    if (!(merged == log)) SYNCLINE_RETURN_IF_ERROR(records.Put("l", EncodeLogRecord(merged)));
  }
  context.Merge(theirs_ctx);
  return records.Put("c", context.Encode());
}

Result<OrSet> LoadSet(KeyRecords& records) {
  SYNCLINE_ASSIGN_OR_RETURN(DotContext context, LoadContext(records));
  std::map<std::string, std::vector<Dot>, std::less<>> elements;
  Status decode;
  SYNCLINE_RETURN_IF_ERROR(records.Scan("e", [&](std::string_view sub, std::string_view value) {
    auto dots = DecodeDots(value);
    if (!dots.ok()) {
      decode = dots.status();
      return false;
    }
    elements.emplace(std::string(sub.substr(1)), std::move(dots).value());
    return true;
  }));
  SYNCLINE_RETURN_IF_ERROR(decode);
  SYNCLINE_ASSIGN_OR_RETURN(LogRecord log, LoadLogRecord(records));
  return OrSet::FromParts(std::move(elements), std::move(context), std::move(log.log_clock), log.unlogged);
}

Result<CollectResult> CollectSet(KeyRecords& records, const VersionVector& horizon) {
  CollectResult result;
  bool has_element = false;
  SYNCLINE_RETURN_IF_ERROR(records.Scan("e", [&](std::string_view, std::string_view) {
    has_element = true;
    return false;
  }));
  if (has_element) return result;
  SYNCLINE_ASSIGN_OR_RETURN(DotContext context, LoadContext(records));
  SYNCLINE_ASSIGN_OR_RETURN(LogRecord log, LoadLogRecord(records));
  if (!internal::KeyStable(context, log.log_clock, log.unlogged, horizon)) return result;
  SYNCLINE_RETURN_IF_ERROR(records.Delete("c"));
  if (!log.empty()) SYNCLINE_RETURN_IF_ERROR(records.Delete("l"));
  result.remove_key = true;
  return result;
}

}  // namespace syncline::conflict
