// The Reconciler: one side of a range-based set reconciliation session (protocol in
// docs/anti-entropy.md). Each received range is answered from our index:
//   skip         -> skip
//   fingerprint  -> skip when ours matches; our items when we hold few; else our sub-ranges
//   items        -> the keys either side lacks or holds differently (a reply), computed by
//                   walking our items of the range beside the peer's list
//   reply        -> record what to fetch and what to send; skip
// A reply that grows past the message budget is cut: what is left of the key space goes back as
// one fingerprint of ours, so the peer takes it up in the next round.
#include <algorithm>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "anti_entropy_codec.h"
#include "syncline/replication/anti_entropy.h"

namespace syncline::replication {

using ae::MessageWriter;
using ae::RangeMode;
using ae::ReplyKey;
using ae::WireRange;

namespace {

// Bytes a range's bound, mode and varints may take beyond its key bytes.
constexpr size_t kRangeOverhead = 24;

size_t CommonPrefix(std::string_view a, std::string_view b) {
  size_t n = std::min(a.size(), b.size());
  size_t i = 0;
  while (i < n && a[i] == b[i]) ++i;
  return i;
}

// Room kept at the end of every message for the range that closes a cut one: our side of the
// rest of the key space, split or listed, plus one bound.
size_t ClosingReserve(const ReconcileOptions& o) {
  size_t key = o.max_key_bytes + kRangeOverhead;
  size_t split = o.branching * (key + o.fingerprint_bytes);
  size_t list = o.list_threshold * (key + sizeof(StateDigest));
  return std::max(split, list) + key + 16;
}

Status ValidateOptions(const ReconcileOptions& o) {
  auto bad = [](std::string what) {
    return Status::InvalidArgument("anti-entropy options: " + std::move(what));
  };
  if (o.branching < 2 || o.branching > 256) {
    return bad("branching " + std::to_string(o.branching) + " is outside 2..256");
  }
  if (o.list_threshold < 1 || o.list_threshold > 4096) {
    return bad("list_threshold " + std::to_string(o.list_threshold) + " is outside 1..4096");
  }
  if (o.fingerprint_bytes < 8 || o.fingerprint_bytes > 16) {
    return bad("fingerprint_bytes " + std::to_string(o.fingerprint_bytes) + " is outside 8..16");
  }
  if (o.max_key_bytes < 16 || o.max_key_bytes > (size_t{1} << 20)) {
    return bad("max_key_bytes " + std::to_string(o.max_key_bytes) + " is outside 16..1 MiB");
  }
  if (o.max_differences < 1) return bad("max_differences is 0");
  if (o.max_list_items < o.list_threshold || o.max_list_items > (size_t{1} << 20)) {
    return bad("max_list_items " + std::to_string(o.max_list_items) +
               " is below list_threshold or above 2^20");
  }
  // The largest output one received range can cause, plus the final deferred range, must fit.
  size_t key = o.max_key_bytes + kRangeOverhead;
  size_t split = o.branching * (key + o.fingerprint_bytes);
  size_t list = o.list_threshold * (key + sizeof(StateDigest));
  size_t reply = (o.max_list_items + o.list_threshold) * key + kRangeOverhead;
  size_t needed = std::max({split, list, reply}) + ClosingReserve(o);
  if (o.max_message_bytes < needed) {
    return bad("max_message_bytes " + std::to_string(o.max_message_bytes) +
               " cannot hold the largest range these options produce (" + std::to_string(needed) +
               " bytes); raise it or lower max_key_bytes, max_list_items or branching");
  }
  return Status::Ok();
}

}  // namespace

class Reconciler::Impl {
 public:
  Impl(const ItemIndex* index, const AntiEntropyKey& session_key, const ReconcileOptions& options)
      : index_(index), session_key_(session_key), options_(options) {
    limits_.fingerprint_bytes = options.fingerprint_bytes;
    limits_.max_message_bytes = options.max_message_bytes;
    limits_.max_key_bytes = options.max_key_bytes;
    limits_.max_list_items = options.max_list_items;
    // Keep room for the range that closes a cut message.
    budget_ = options.max_message_bytes - ClosingReserve(options);
  }

  Result<std::string> Initiate() {
    if (started_) return Status::FailedPrecondition("anti-entropy: the session already started");
    return Resume({KeyRange{"", std::nullopt}}, session_key_, /*split=*/true);
  }

  Result<std::string> Resume(const std::vector<KeyRange>& ranges, const AntiEntropyKey& key,
                             bool split) {
    for (size_t i = 0; i < ranges.size(); ++i) {
      const KeyRange& r = ranges[i];
      if (r.upper && *r.upper <= r.lower) {
        return Status::InvalidArgument("anti-entropy resume: range " + std::to_string(i) +
                                       " is empty or reversed");
      }
      if (i > 0 && (!ranges[i - 1].upper || *ranges[i - 1].upper > r.lower)) {
        return Status::InvalidArgument("anti-entropy resume: range " + std::to_string(i) +
                                       " overlaps or precedes the one before it");
      }
    }
    started_ = true;
    initiator_ = true;
    done_ = false;
    failed_ = false;
    session_key_ = key;
    Out out(options_.fingerprint_bytes);
    std::string cur;
    bool closed = false;
    for (const KeyRange& r : ranges) {
      if (out.writer.size() > budget_) {
        SYNCLINE_RETURN_IF_ERROR(EmitOwn(cur, std::nullopt, /*split=*/false, &out));
        ++stats_.deferred;
        closed = true;
        break;
      }
      if (r.lower > cur) out.Add(WireRange{r.lower, RangeMode::kSkip, {}, {}, {}}, cur);
      SYNCLINE_RETURN_IF_ERROR(EmitOwn(r.lower, r.upper, split, &out));
      if (!r.upper) {
        closed = true;
        break;
      }
      cur = *r.upper;
    }
    if (!closed) out.Add(WireRange{std::nullopt, RangeMode::kSkip, {}, {}, {}}, cur);
    return Send(std::move(out));
  }

  Result<std::optional<std::string>> HandleMessage(std::string_view bytes) {
    if (failed_) {
      return Status::FailedPrecondition(
          "anti-entropy: the session failed on an earlier message; start a new one");
    }
    if (done_) return Status::FailedPrecondition("anti-entropy: the session is complete");
    started_ = true;
    Result<ae::Message> decoded = ae::DecodeMessage(bytes, limits_);
    if (!decoded.ok()) {
      failed_ = true;
      return decoded.status();
    }
    ++stats_.messages_received;
    stats_.bytes_received += bytes.size();
    if (initiator_) ++stats_.round_trips;
    Status s = Answer(*decoded);
    if (!s.ok()) {
      failed_ = true;
      return s;
    }
    if (need_.size() + have_.size() + out_->need.size() + out_->have.size() >
        options_.max_differences) {
      Commit(&*out_);
      out_.reset();
      failed_ = true;
      return Status::ResourceExhausted(
          "anti-entropy: more than " + std::to_string(options_.max_differences) +
          " differing keys in one session; repair those found (need() and have()) and "
          "reconcile again");
    }
    if (!answer_expected_) {
      // The peer's message asked nothing of us: the session is over.
      Commit(&*out_);
      out_.reset();
      done_ = true;
      pending_.clear();
      return std::optional<std::string>();
    }
    if (!initiator_) ++stats_.round_trips;
    SYNCLINE_ASSIGN_OR_RETURN(std::string reply, Send(std::move(*out_)));
    out_.reset();
    return std::optional<std::string>(std::move(reply));
  }

  bool done() const { return done_; }
  std::vector<std::string> need() const { return {need_.begin(), need_.end()}; }
  std::vector<std::string> have() const { return {have_.begin(), have_.end()}; }
  std::vector<KeyRange> pending() const { return pending_; }
  const ReconcileStats& stats() const { return stats_; }

 private:
  // A message under construction, with the ranges in it that await an answer and the keys it
  // adds to need/have; all three can be rolled back to a mark.
  struct Out {
    explicit Out(size_t fingerprint_bytes)
        : writer(static_cast<uint8_t>(fingerprint_bytes)) {}
    void Add(const WireRange& r, std::string_view lower) {
      writer.Add(r);
      if (r.mode == RangeMode::kFingerprint || r.mode == RangeMode::kItems) {
        pending.push_back(KeyRange{std::string(lower), r.upper});
      }
    }
    MessageWriter writer;
    std::vector<KeyRange> pending;
    std::vector<std::string> need;
    std::vector<std::string> have;
  };

  struct Span {
    uint64_t begin = 0;
    uint64_t end = 0;
    uint64_t size() const { return end - begin; }
  };

  Result<Span> SpanOf(std::string_view lower, const std::optional<std::string>& upper) const {
    Span s;
    SYNCLINE_ASSIGN_OR_RETURN(s.begin, index_->Rank(lower));
    if (upper) {
      SYNCLINE_ASSIGN_OR_RETURN(s.end, index_->Rank(*upper));
    } else {
      SYNCLINE_ASSIGN_OR_RETURN(s.end, index_->Size());
    }
    if (s.end < s.begin) s.end = s.begin;
    return s;
  }

  Result<RangeSum> SumOf(uint64_t begin, uint64_t end) const {
    SYNCLINE_ASSIGN_OR_RETURN(RangeSum sum, index_->PrefixSum(end));
    SYNCLINE_ASSIGN_OR_RETURN(RangeSum below, index_->PrefixSum(begin));
    sum.Subtract(below);
    return sum;
  }

  std::string Fingerprint(const RangeSum& sum) const {
    return ae::WireFingerprint(session_key_, sum, options_.fingerprint_bytes);
  }

  // The bounds cutting ranks [span) into up to `branching` parts of near-equal counts: each is
  // the shortest prefix of a part's first key that sorts above the previous part's last key.
  // `ranks` receives the part boundaries (begin, cuts..., end).
  Status SplitPoints(Span span, std::vector<std::string>* bounds,
                     std::vector<uint64_t>* ranks) const {
    uint64_t n = span.size();
    uint64_t parts = std::min<uint64_t>(options_.branching, n);
    ranks->push_back(span.begin);
    for (uint64_t i = 1; i < parts; ++i) {
      uint64_t r = span.begin + n * i / parts;
      SYNCLINE_ASSIGN_OR_RETURN(IndexedItem prev, index_->ItemAt(r - 1));
      SYNCLINE_ASSIGN_OR_RETURN(IndexedItem next, index_->ItemAt(r));
      bounds->push_back(next.key.substr(0, CommonPrefix(prev.key, next.key) + 1));
      ranks->push_back(r);
    }
    ranks->push_back(span.end);
    return Status::Ok();
  }

  Status EmitItems(const std::optional<std::string>& upper, std::string_view lower, Span span,
                   Out* out) {
    WireRange r{upper, RangeMode::kItems, {}, {}, {}};
    SYNCLINE_RETURN_IF_ERROR(index_->ListItems(span.begin, span.end, &r.items));
    stats_.items_listed += r.items.size();
    out->Add(r, lower);
    return Status::Ok();
  }

  // Our fingerprints of `span` (= [lower, upper)) cut into sub-ranges.
  Status EmitSplit(std::string_view lower, const std::optional<std::string>& upper, Span span,
                   Out* out) {
    std::vector<std::string> bounds;
    std::vector<uint64_t> ranks;
    SYNCLINE_RETURN_IF_ERROR(SplitPoints(span, &bounds, &ranks));
    ++stats_.ranges_split;
    std::string sub_lower(lower);
    for (size_t i = 0; i + 1 < ranks.size(); ++i) {
      std::optional<std::string> sub_upper = i < bounds.size() ? bounds[i] : upper;
      SYNCLINE_ASSIGN_OR_RETURN(RangeSum sum, SumOf(ranks[i], ranks[i + 1]));
      out->Add(WireRange{sub_upper, RangeMode::kFingerprint, Fingerprint(sum), {}, {}}, sub_lower);
      if (sub_upper) sub_lower = *sub_upper;
    }
    return Status::Ok();
  }

  // Our side of [lower, upper) from scratch: our items when few, else our fingerprint (split
  // into sub-ranges when `split`).
  Status EmitOwn(std::string_view lower, const std::optional<std::string>& upper, bool split,
                 Out* out) {
    SYNCLINE_ASSIGN_OR_RETURN(Span span, SpanOf(lower, upper));
    if (span.size() <= options_.list_threshold) return EmitItems(upper, lower, span, out);
    if (split) return EmitSplit(lower, upper, span, out);
    SYNCLINE_ASSIGN_OR_RETURN(RangeSum sum, SumOf(span.begin, span.end));
    out->Add(WireRange{upper, RangeMode::kFingerprint, Fingerprint(sum), {}, {}}, lower);
    return Status::Ok();
  }

  Status OnFingerprint(std::string_view lower, const WireRange& in, Out* out) {
    SYNCLINE_ASSIGN_OR_RETURN(Span span, SpanOf(lower, in.upper));
    SYNCLINE_ASSIGN_OR_RETURN(RangeSum sum, SumOf(span.begin, span.end));
    ++stats_.ranges_compared;
    if (Fingerprint(sum) == in.fingerprint) {
      ++stats_.ranges_equal;
      out->Add(WireRange{in.upper, RangeMode::kSkip, {}, {}, {}}, lower);
      return Status::Ok();
    }
    if (span.size() <= options_.list_threshold) return EmitItems(in.upper, lower, span, out);
    return EmitSplit(lower, in.upper, span, out);
  }

  // Compares our items of `span` with the peer's theirs[j, n) (all inside [lower, upper)) and
  // answers with the keys that differ, or a skip when none does.
  Status Diff(std::string_view lower, const std::optional<std::string>& upper, Span span,
              const std::vector<IndexedItem>& theirs, size_t j, size_t n, Out* out) {
    std::vector<IndexedItem> ours;
    SYNCLINE_RETURN_IF_ERROR(index_->ListItems(span.begin, span.end, &ours));
    WireRange r{upper, RangeMode::kReply, {}, {}, {}};
    size_t i = 0;
    while (i < ours.size() || j < n) {
      int c = i == ours.size() ? 1 : j == n ? -1 : ours[i].key.compare(theirs[j].key);
      if (c < 0) {
        r.reply.push_back(ReplyKey{ours[i].key, ae::kReplyYouNeed});
        out->have.push_back(ours[i++].key);
      } else if (c > 0) {
        r.reply.push_back(ReplyKey{theirs[j].key, ae::kReplyINeed});
        out->need.push_back(theirs[j++].key);
      } else {
        if (ours[i].digest != theirs[j].digest) {
          r.reply.push_back(ReplyKey{ours[i].key, ae::kReplyYouNeed | ae::kReplyINeed});
          out->have.push_back(ours[i].key);
          out->need.push_back(ours[i].key);
        }
        ++i;
        ++j;
      }
    }
    if (r.reply.empty()) r.mode = RangeMode::kSkip;
    out->Add(r, lower);
    return Status::Ok();
  }

  Status OnItems(std::string_view lower, const WireRange& in, Out* out) {
    stats_.items_received += in.items.size();
    SYNCLINE_ASSIGN_OR_RETURN(Span span, SpanOf(lower, in.upper));
    if (span.size() <= options_.list_threshold) {
      return Diff(lower, in.upper, span, in.items, 0, in.items.size(), out);
    }
    // We hold many items here: cut our side into parts; answer the small parts at once and send
    // our fingerprint of the others (the peer lists its few items there again).
    std::vector<std::string> bounds;
    std::vector<uint64_t> ranks;
    SYNCLINE_RETURN_IF_ERROR(SplitPoints(span, &bounds, &ranks));
    ++stats_.ranges_split;
    std::string sub_lower(lower);
    size_t j = 0;
    for (size_t i = 0; i + 1 < ranks.size(); ++i) {
      std::optional<std::string> sub_upper = i < bounds.size() ? bounds[i] : in.upper;
      size_t first = j;
      while (j < in.items.size() && (!sub_upper || in.items[j].key < *sub_upper)) ++j;
      Span part{ranks[i], ranks[i + 1]};
      if (part.size() <= options_.list_threshold) {
        SYNCLINE_RETURN_IF_ERROR(
            Diff(sub_lower, sub_upper, part, in.items, first, j, out));
      } else {
        SYNCLINE_ASSIGN_OR_RETURN(RangeSum sum, SumOf(part.begin, part.end));
        out->Add(WireRange{sub_upper, RangeMode::kFingerprint, Fingerprint(sum), {}, {}},
                 sub_lower);
      }
      if (sub_upper) sub_lower = *sub_upper;
    }
    return Status::Ok();
  }

  // Records a reply. A key the peer asks for goes to have() only while we hold it: it may have
  // been erased since we listed it, and a peer must not make us claim keys we never had.
  Status OnReply(const WireRange& in, Out* out) {
    for (const ReplyKey& k : in.reply) {
      if (k.flags & ae::kReplyYouNeed) out->need.push_back(k.key);
      if ((k.flags & ae::kReplyINeed) == 0) continue;
      SYNCLINE_ASSIGN_OR_RETURN(uint64_t rank, index_->Rank(k.key));
      SYNCLINE_ASSIGN_OR_RETURN(uint64_t size, index_->Size());
      if (rank >= size) continue;
      SYNCLINE_ASSIGN_OR_RETURN(IndexedItem item, index_->ItemAt(rank));
      if (item.key == k.key) out->have.push_back(k.key);
    }
    return Status::Ok();
  }

  // Builds the answer to `msg` into out_.
  Status Answer(const ae::Message& msg) {
    out_.emplace(options_.fingerprint_bytes);
    Out* out = &*out_;
    answer_expected_ = false;
    std::string lower;
    bool cut = false;
    bool handled_any = false;
    for (size_t i = 0; i < msg.ranges.size(); ++i) {
      const WireRange& in = msg.ranges[i];
      if (in.mode == RangeMode::kFingerprint || in.mode == RangeMode::kItems) {
        answer_expected_ = true;
      }
      if (cut) {
        // Past the budget: keep what the peer told us; the rest waits for the next round.
        if (in.mode == RangeMode::kReply) SYNCLINE_RETURN_IF_ERROR(OnReply(in, out));
        continue;
      }
      const MessageWriter::Mark mark = out->writer.Save();
      const size_t mark_pending = out->pending.size();
      const size_t mark_need = out->need.size();
      const size_t mark_have = out->have.size();
      switch (in.mode) {
        case RangeMode::kSkip:
          out->Add(in, lower);
          break;
        case RangeMode::kFingerprint:
          SYNCLINE_RETURN_IF_ERROR(OnFingerprint(lower, in, out));
          break;
        case RangeMode::kItems:
          SYNCLINE_RETURN_IF_ERROR(OnItems(lower, in, out));
          break;
        case RangeMode::kReply:
          SYNCLINE_RETURN_IF_ERROR(OnReply(in, out));
          out->Add(WireRange{in.upper, RangeMode::kSkip, {}, {}, {}}, lower);
          break;
      }
      if (out->writer.size() > budget_ && handled_any) {
        // Roll this range back and defer everything from its lower bound, as our sub-ranges of
        // it (one level deeper than a single fingerprint, for the price of `branching` of
        // them). The first range that asks for work is always answered, so every round makes
        // progress.
        out->writer.Rollback(mark);
        out->pending.resize(mark_pending);
        out->need.resize(mark_need);
        out->have.resize(mark_have);
        if (in.mode == RangeMode::kReply) SYNCLINE_RETURN_IF_ERROR(OnReply(in, out));
        SYNCLINE_RETURN_IF_ERROR(EmitOwn(lower, std::nullopt, /*split=*/true, out));
        ++stats_.deferred;
        cut = true;
        continue;
      }
      if (in.mode != RangeMode::kSkip) handled_any = true;
      if (in.upper) lower = *in.upper;
    }
    return Status::Ok();
  }

  void Commit(Out* out) {
    for (std::string& k : out->need) need_.insert(std::move(k));
    for (std::string& k : out->have) have_.insert(std::move(k));
    out->need.clear();
    out->have.clear();
  }

  Result<std::string> Send(Out out) {
    Commit(&out);
    const bool expects = out.writer.expects_answer();
    pending_ = std::move(out.pending);
    std::string bytes = std::move(out.writer).Finish();
    if (bytes.size() > options_.max_message_bytes) {
      failed_ = true;
      return Status::Internal("anti-entropy: built a message of " + std::to_string(bytes.size()) +
                              " bytes, above max_message_bytes " +
                              std::to_string(options_.max_message_bytes));
    }
    ++stats_.messages_sent;
    stats_.bytes_sent += bytes.size();
    if (!expects) done_ = true;
    return bytes;
  }

  const ItemIndex* index_;
  AntiEntropyKey session_key_;
  ReconcileOptions options_;
  ae::DecodeLimits limits_;
  size_t budget_ = 0;
  bool started_ = false;
  bool initiator_ = false;
  bool done_ = false;
  bool failed_ = false;
  bool answer_expected_ = false;
  std::optional<Out> out_;
  std::set<std::string> need_;
  std::set<std::string> have_;
  std::vector<KeyRange> pending_;
  ReconcileStats stats_;
};

Result<std::unique_ptr<Reconciler>> Reconciler::Create(const ItemIndex* index,
                                                       const AntiEntropyKey& session_key,
                                                       const ReconcileOptions& options) {
  if (index == nullptr) return Status::InvalidArgument("anti-entropy: the item index is null");
  SYNCLINE_RETURN_IF_ERROR(ValidateOptions(options));
  return std::unique_ptr<Reconciler>(
      new Reconciler(std::make_unique<Impl>(index, session_key, options)));
}

Reconciler::Reconciler(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Reconciler::~Reconciler() = default;

Result<std::string> Reconciler::Initiate() { return impl_->Initiate(); }

Result<std::string> Reconciler::Resume(const std::vector<KeyRange>& ranges,
                                       const AntiEntropyKey& session_key) {
  return impl_->Resume(ranges, session_key, /*split=*/false);
}

Result<std::optional<std::string>> Reconciler::HandleMessage(std::string_view message) {
  return impl_->HandleMessage(message);
}

bool Reconciler::done() const { return impl_->done(); }
std::vector<std::string> Reconciler::need() const { return impl_->need(); }
std::vector<std::string> Reconciler::have() const { return impl_->have(); }
std::vector<KeyRange> Reconciler::PendingRanges() const { return impl_->pending(); }
const ReconcileStats& Reconciler::stats() const { return impl_->stats(); }

}  // namespace syncline::replication
