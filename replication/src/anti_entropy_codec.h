// Anti-entropy wire messages (version 1, docs/anti-entropy.md) and the keyed hash they use.
// Private to the replication module; the Reconciler and the tests use it.
//
// A message is a version byte, the fingerprint length, then ranges that together cover the
// whole item-key space in order; each range names its upper bound (its lower bound is the
// previous range's upper, the first starts at the empty key) and a mode:
//   skip         nothing to do here
//   fingerprint  the sender's fingerprint of the range
//   items        the sender's items in the range (key, digest), when it holds few
//   reply        the answer to the peer's items: keys the peer lacks, keys the sender lacks
// Bounds and keys are prefix-compressed against the previous one. Thread-safety: value types
// and pure functions.
#ifndef SYNCLINE_REPLICATION_ANTI_ENTROPY_CODEC_H_
#define SYNCLINE_REPLICATION_ANTI_ENTROPY_CODEC_H_

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "syncline/replication/anti_entropy.h"

namespace syncline::replication::ae {

enum class RangeMode : uint8_t { kSkip = 0, kFingerprint = 1, kItems = 2, kReply = 3 };

// Flags of a key in a reply, from the point of view of the reply's sender.
inline constexpr uint8_t kReplyYouNeed = 1;  // the sender holds it; the receiver lacks or differs
inline constexpr uint8_t kReplyINeed = 2;    // the receiver listed it; the sender lacks or differs

struct ReplyKey {
  std::string key;
  uint8_t flags = 0;
  friend bool operator==(const ReplyKey&, const ReplyKey&) = default;
};

struct WireRange {
  std::optional<std::string> upper;  // nullopt: the end of the key space
  RangeMode mode = RangeMode::kSkip;
  std::string fingerprint;            // kFingerprint
  std::vector<IndexedItem> items;     // kItems, ascending
  std::vector<ReplyKey> reply;        // kReply, ascending
  friend bool operator==(const WireRange&, const WireRange&) = default;
};

struct Message {
  uint8_t fingerprint_bytes = 12;
  std::vector<WireRange> ranges;
  friend bool operator==(const Message&, const Message&) = default;
};

struct DecodeLimits {
  size_t fingerprint_bytes = 12;  // the only accepted fingerprint length
  size_t max_message_bytes = size_t{512} << 10;
  size_t max_key_bytes = 1024;
  size_t max_list_items = 256;
};

// Appends ranges to a message under construction and knows its encoded size at every step.
class MessageWriter {
 public:
  explicit MessageWriter(uint8_t fingerprint_bytes);
  // Appends one range. A skip following a skip extends it instead of adding a range.
  void Add(const WireRange& range);
  size_t size() const { return out_.size(); }
  // True when some range asks the peer for an answer (a fingerprint or an item list).
  bool expects_answer() const { return expects_answer_; }
  std::string Finish() &&;

  // What Rollback needs to undo every Add after Save.
  struct Mark {
    size_t size = 0;
    std::string prev_bound;
    bool last_was_skip = false;
    size_t last_skip_offset = 0;
    std::string last_skip_prev_bound;
    bool expects_answer = false;
  };
  Mark Save() const;
  void Rollback(const Mark& mark);

 private:
  void PutBound(const std::optional<std::string>& upper);
  std::string out_;
  std::string prev_bound_;
  bool last_was_skip_ = false;
  size_t last_skip_offset_ = 0;
  std::string last_skip_prev_bound_;
  bool expects_answer_ = false;
};

std::string EncodeMessage(const Message& message);
// Corruption naming the offset and what is wrong when the bytes are not a well-formed
// version-1 message within `limits`: a wrong version or fingerprint length, a truncated or
// overlong varint, a bound or key above max_key_bytes or out of order, a list above
// max_list_items, ranges that do not end at the end of the key space, trailing bytes.
Result<Message> DecodeMessage(std::string_view bytes, const DecodeLimits& limits);

// SipHash-2-4 with a 128-bit output (Aumasson and Bernstein), little-endian.
std::array<uint8_t, 16> SipHash128(const AntiEntropyKey& key, std::string_view data);
// The fingerprint of `sum` under `session_key`, `bytes` long.
std::string WireFingerprint(const AntiEntropyKey& session_key, const RangeSum& sum, size_t bytes);

void PutVarint(std::string* out, uint64_t v);
// Minimal LEB128 only (an overlong form is refused), at most 10 bytes.
bool GetVarint(std::string_view* in, uint64_t* v);

}  // namespace syncline::replication::ae

#endif  // SYNCLINE_REPLICATION_ANTI_ENTROPY_CODEC_H_
