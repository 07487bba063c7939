// Encoding and bounded decoding of anti-entropy messages (format in docs/anti-entropy.md).
#include "anti_entropy_codec.h"

#include <algorithm>
#include <string>
#include <utility>

namespace syncline::replication::ae {
namespace {

// Smallest encoding of one listed item (empty shared and suffix varints, no suffix, digest) and
// of one reply key (flags, two varints): used to bound counts before reserving.
constexpr size_t kMinItemBytes = 2 + sizeof(StateDigest);
constexpr size_t kMinReplyKeyBytes = 3;

size_t SharedPrefix(std::string_view a, std::string_view b) {
  size_t n = std::min(a.size(), b.size());
  size_t i = 0;
  while (i < n && a[i] == b[i]) ++i;
  return i;
}

// Writes `key` as (shared prefix length with `prev`, suffix length, suffix).
void PutKeyDelta(std::string* out, std::string_view prev, std::string_view key) {
  size_t shared = SharedPrefix(prev, key);
  PutVarint(out, shared);
  PutVarint(out, key.size() - shared);
  out->append(key.substr(shared));
}

class Reader {
 public:
  Reader(std::string_view bytes, const DecodeLimits& limits)
      : in_(bytes), total_(bytes.size()), limits_(limits) {}

  size_t offset() const { return total_ - in_.size(); }
  bool empty() const { return in_.empty(); }
  size_t remaining() const { return in_.size(); }

  Status Error(std::string_view what) const {
    return Status::Corruption("anti-entropy message of " + std::to_string(total_) +
                              " bytes, at offset " + std::to_string(offset()) + ": " +
                              std::string(what));
  }

  Status Varint(uint64_t* v, std::string_view what) {
    if (!GetVarint(&in_, v)) return Error(std::string(what) + " is a truncated or overlong varint");
    return Status::Ok();
  }

  Status Byte(uint8_t* b, std::string_view what) {
    if (in_.empty()) return Error(std::string(what) + " is missing (message truncated)");
    *b = static_cast<uint8_t>(in_[0]);
    in_.remove_prefix(1);
    return Status::Ok();
  }

  Status Bytes(size_t n, std::string_view what, std::string_view* out) {
    if (in_.size() < n) {
      return Error(std::string(what) + " needs " + std::to_string(n) + " bytes, " +
                   std::to_string(in_.size()) + " left (message truncated)");
    }
    *out = in_.substr(0, n);
    in_.remove_prefix(n);
    return Status::Ok();
  }

  // Reads a prefix-compressed key against `prev` into `key`, bounding its length first.
  Status KeyDelta(std::string_view prev, std::string_view what, std::string* key) {
    uint64_t shared = 0;
    uint64_t suffix = 0;
    SYNCLINE_RETURN_IF_ERROR(Varint(&shared, what));
    SYNCLINE_RETURN_IF_ERROR(Varint(&suffix, what));
    if (shared > prev.size()) {
      return Error(std::string(what) + " shares " + std::to_string(shared) +
                   " bytes with a previous key of " + std::to_string(prev.size()));
    }
    if (suffix > limits_.max_key_bytes || shared + suffix > limits_.max_key_bytes) {
      return Error(std::string(what) + " is longer than the limit of " +
                   std::to_string(limits_.max_key_bytes) + " bytes");
    }
    std::string_view tail;
    SYNCLINE_RETURN_IF_ERROR(Bytes(suffix, what, &tail));
    key->assign(prev.substr(0, shared));
    key->append(tail);
    return Status::Ok();
  }

 private:
  std::string_view in_;
  size_t total_;
  const DecodeLimits& limits_;
};

bool InRange(std::string_view key, std::string_view lower,
             const std::optional<std::string>& upper) {
  return key >= lower && (!upper || key < *upper);
}

}  // namespace

void PutVarint(std::string* out, uint64_t v) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

bool GetVarint(std::string_view* in, uint64_t* v) {
  uint64_t result = 0;
  for (size_t i = 0; i < 10 && i < in->size(); ++i) {
    uint64_t byte = static_cast<uint8_t>((*in)[i]);
    if (i == 9 && byte > 1) return false;  // beyond 64 bits
    result |= (byte & 0x7f) << (7 * i);
    if ((byte & 0x80) == 0) {
      if (i > 0 && byte == 0) return false;  // overlong: a trailing zero group
      in->remove_prefix(i + 1);
      *v = result;
      return true;
    }
  }
  return false;
}

MessageWriter::MessageWriter(uint8_t fingerprint_bytes) {
  out_.push_back(static_cast<char>(kAntiEntropyProtocolVersion));
  out_.push_back(static_cast<char>(fingerprint_bytes));
}

void MessageWriter::PutBound(const std::optional<std::string>& upper) {
  if (!upper) {
    PutVarint(&out_, 0);
    return;
  }
  size_t shared = SharedPrefix(prev_bound_, *upper);
  PutVarint(&out_, shared + 1);
  PutVarint(&out_, upper->size() - shared);
  out_.append(std::string_view(*upper).substr(shared));
  prev_bound_ = *upper;
}

void MessageWriter::Add(const WireRange& range) {
  if (range.mode == RangeMode::kSkip) {
    if (last_was_skip_) {
      // Extend the previous skip: rewrite its bound in place (it is the last thing written).
      out_.resize(last_skip_offset_);
      prev_bound_ = last_skip_prev_bound_;
    } else {
      last_skip_offset_ = out_.size();
      last_skip_prev_bound_ = prev_bound_;
    }
    PutBound(range.upper);
    out_.push_back(static_cast<char>(RangeMode::kSkip));
    last_was_skip_ = true;
    return;
  }
  last_was_skip_ = false;
  PutBound(range.upper);
  out_.push_back(static_cast<char>(range.mode));
  switch (range.mode) {
    case RangeMode::kSkip:
      break;
    case RangeMode::kFingerprint:
      out_.append(range.fingerprint);
      expects_answer_ = true;
      break;
    case RangeMode::kItems: {
      PutVarint(&out_, range.items.size());
      std::string_view prev;
      for (const IndexedItem& item : range.items) {
        PutKeyDelta(&out_, prev, item.key);
        out_.append(reinterpret_cast<const char*>(item.digest.data()), item.digest.size());
        prev = item.key;
      }
      expects_answer_ = true;
      break;
    }
    case RangeMode::kReply: {
      PutVarint(&out_, range.reply.size());
      std::string_view prev;
      for (const ReplyKey& k : range.reply) {
        out_.push_back(static_cast<char>(k.flags));
        PutKeyDelta(&out_, prev, k.key);
        prev = k.key;
      }
      break;
    }
  }
}

std::string MessageWriter::Finish() && { return std::move(out_); }

MessageWriter::Mark MessageWriter::Save() const {
  return Mark{out_.size(),       prev_bound_,          last_was_skip_,
              last_skip_offset_, last_skip_prev_bound_, expects_answer_};
}

void MessageWriter::Rollback(const Mark& mark) {
  out_.resize(mark.size);
  prev_bound_ = mark.prev_bound;
  last_was_skip_ = mark.last_was_skip;
  last_skip_offset_ = mark.last_skip_offset;
  last_skip_prev_bound_ = mark.last_skip_prev_bound;
  expects_answer_ = mark.expects_answer;
}

std::string EncodeMessage(const Message& message) {
  MessageWriter writer(message.fingerprint_bytes);
  for (const WireRange& r : message.ranges) writer.Add(r);
  return std::move(writer).Finish();
}

Result<Message> DecodeMessage(std::string_view bytes, const DecodeLimits& limits) {
  if (bytes.size() > limits.max_message_bytes) {
    return Status::Corruption("anti-entropy message of " + std::to_string(bytes.size()) +
                              " bytes exceeds the limit of " +
                              std::to_string(limits.max_message_bytes));
  }
  Reader in(bytes, limits);
  Message msg;
  uint8_t version = 0;
  SYNCLINE_RETURN_IF_ERROR(in.Byte(&version, "protocol version"));
  if (version != kAntiEntropyProtocolVersion) {
    return in.Error("unsupported anti-entropy protocol version " + std::to_string(version) +
                    " (this node speaks " + std::to_string(kAntiEntropyProtocolVersion) + ")");
  }
  SYNCLINE_RETURN_IF_ERROR(in.Byte(&msg.fingerprint_bytes, "fingerprint length"));
  if (msg.fingerprint_bytes != limits.fingerprint_bytes) {
    return in.Error("fingerprint length " + std::to_string(msg.fingerprint_bytes) +
                    " differs from ours (" + std::to_string(limits.fingerprint_bytes) +
                    "); both sides must use the same fingerprint_bytes");
  }
  std::string lower;  // the current range's lower bound
  bool ended = false;
  while (!in.empty()) {
    if (ended) return in.Error("trailing bytes after the range that ends the key space");
    WireRange range;
    uint64_t h = 0;
    SYNCLINE_RETURN_IF_ERROR(in.Varint(&h, "range bound"));
    if (h == 0) {
      ended = true;
    } else {
      uint64_t shared = h - 1;
      uint64_t suffix = 0;
      SYNCLINE_RETURN_IF_ERROR(in.Varint(&suffix, "range bound length"));
      if (shared > lower.size()) {
        return in.Error("range bound shares " + std::to_string(shared) +
                        " bytes with a previous bound of " + std::to_string(lower.size()));
      }
      if (suffix > limits.max_key_bytes || shared + suffix > limits.max_key_bytes) {
        return in.Error("range bound is longer than the limit of " +
                        std::to_string(limits.max_key_bytes) + " bytes");
      }
      std::string_view tail;
      SYNCLINE_RETURN_IF_ERROR(in.Bytes(suffix, "range bound", &tail));
      std::string upper = lower.substr(0, shared);
      upper.append(tail);
      if (upper <= lower) return in.Error("range bounds are not strictly increasing");
      range.upper = std::move(upper);
    }
    uint8_t mode = 0;
    SYNCLINE_RETURN_IF_ERROR(in.Byte(&mode, "range mode"));
    switch (mode) {
      case static_cast<uint8_t>(RangeMode::kSkip):
        range.mode = RangeMode::kSkip;
        break;
      case static_cast<uint8_t>(RangeMode::kFingerprint): {
        range.mode = RangeMode::kFingerprint;
        std::string_view fp;
        SYNCLINE_RETURN_IF_ERROR(in.Bytes(limits.fingerprint_bytes, "fingerprint", &fp));
        range.fingerprint.assign(fp);
        break;
      }
      case static_cast<uint8_t>(RangeMode::kItems): {
        range.mode = RangeMode::kItems;
        uint64_t n = 0;
        SYNCLINE_RETURN_IF_ERROR(in.Varint(&n, "item count"));
        if (n > limits.max_list_items) {
          return in.Error("item list of " + std::to_string(n) + " exceeds the limit of " +
                          std::to_string(limits.max_list_items));
        }
        if (n > in.remaining() / kMinItemBytes) {
          return in.Error("item list of " + std::to_string(n) + " cannot fit in the " +
                          std::to_string(in.remaining()) + " bytes left");
        }
        range.items.reserve(n);
        std::string prev;
        for (uint64_t i = 0; i < n; ++i) {
          IndexedItem item;
          SYNCLINE_RETURN_IF_ERROR(in.KeyDelta(prev, "item key", &item.key));
          if (i > 0 && item.key <= prev) return in.Error("item keys are not strictly increasing");
          if (!InRange(item.key, lower, range.upper)) {
            return in.Error("item key lies outside its range");
          }
          std::string_view digest;
          SYNCLINE_RETURN_IF_ERROR(in.Bytes(item.digest.size(), "item digest", &digest));
          std::copy(digest.begin(), digest.end(), item.digest.begin());
          prev = item.key;
          range.items.push_back(std::move(item));
        }
        break;
      }
      case static_cast<uint8_t>(RangeMode::kReply): {
        range.mode = RangeMode::kReply;
        uint64_t n = 0;
        SYNCLINE_RETURN_IF_ERROR(in.Varint(&n, "reply key count"));
        if (n > 2 * limits.max_list_items) {
          return in.Error("reply of " + std::to_string(n) + " keys exceeds the limit of " +
                          std::to_string(2 * limits.max_list_items));
        }
        if (n > in.remaining() / kMinReplyKeyBytes) {
          return in.Error("reply of " + std::to_string(n) + " keys cannot fit in the " +
                          std::to_string(in.remaining()) + " bytes left");
        }
        range.reply.reserve(n);
        std::string prev;
        for (uint64_t i = 0; i < n; ++i) {
          ReplyKey k;
          SYNCLINE_RETURN_IF_ERROR(in.Byte(&k.flags, "reply flags"));
          if (k.flags == 0 || k.flags > (kReplyYouNeed | kReplyINeed)) {
            return in.Error("reply flags " + std::to_string(k.flags) + " are not 1, 2 or 3");
          }
          SYNCLINE_RETURN_IF_ERROR(in.KeyDelta(prev, "reply key", &k.key));
          if (i > 0 && k.key <= prev) return in.Error("reply keys are not strictly increasing");
          if (!InRange(k.key, lower, range.upper)) {
            return in.Error("reply key lies outside its range");
          }
          prev = k.key;
          range.reply.push_back(std::move(k));
        }
        break;
      }
      default:
        return in.Error("unknown range mode " + std::to_string(mode));
    }
    if (range.upper) lower = *range.upper;
    msg.ranges.push_back(std::move(range));
  }
  if (!ended) return in.Error("message ends before a range reaches the end of the key space");
  return msg;
}

}  // namespace syncline::replication::ae
