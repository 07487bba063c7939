// Frames: how messages travel on a peer connection (docs/protocol-v1.md, "Framing").
//
//   offset 0  u32 little-endian  payload length (checked against the cap before any allocation)
//   offset 4  u8                 message type (MessageType)
//   offset 5  u32 little-endian  checksum: low 32 bits of XXH3-64 over the type byte and payload
//   offset 9  payload
//
// FrameDecoder is incremental: feed it the byte stream split anywhere; it returns whole frames.
// A length above the cap, a checksum mismatch or an unknown type kills the stream (the error is
// sticky), since nothing after it can be trusted.
//
// Thread-safety: value types; a decoder is used by one thread at a time.
#ifndef SYNCLINE_REPLICATION_FRAME_H_
#define SYNCLINE_REPLICATION_FRAME_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "syncline/core/status.h"

namespace syncline::replication {

// Message types on the peer connection (one byte on the wire).
enum class MessageType : uint8_t {
  kHello = 1,
  kProof = 2,
  kRefuse = 3,
  kSubscribe = 16,
  kBatch = 17,
  kAck = 18,
  kHeartbeat = 19,
  // Snapshot bootstrap (docs/snapshot-and-retention.md).
  kSnapshotNeeded = 48,
  kSnapshotRequest = 49,
  kSnapshotChunk = 50,
  kSnapshotChunkAck = 51,
  kSnapshotRefused = 52,
  // Anti-entropy sessions and their repair (docs/anti-entropy.md, "Running sessions").
  kAntiEntropy = 64,
  kAntiEntropyFetch = 65,
  kAntiEntropyStates = 66,
  kAntiEntropyEnd = 67,
  // The client protocol (docs/client-protocol-v1.md) uses the same framing.
  kRequest = 32,
  kResponse = 33,
};
bool IsKnownMessageType(uint8_t type);
// True for the messages of anti-entropy sessions and their repair.
inline bool IsAntiEntropyMessage(MessageType type) {
  return type == MessageType::kAntiEntropy || type == MessageType::kAntiEntropyFetch ||
         type == MessageType::kAntiEntropyStates || type == MessageType::kAntiEntropyEnd;
}

inline constexpr size_t kFrameHeaderBytes = 9;
inline constexpr size_t kDefaultMaxFrameBytes = size_t{16} << 20;

struct Frame {
  MessageType type = MessageType::kHeartbeat;
  std::string payload;
};

// Appends one frame to *out.
void AppendFrame(MessageType type, std::string_view payload, std::string* out);

class FrameDecoder {
 public:
  explicit FrameDecoder(size_t max_payload_bytes = kDefaultMaxFrameBytes) : max_(max_payload_bytes) {}

  // Consumes `bytes`, appending every completed frame to *out. ResourceExhausted for a length
  // above the cap (naming both), Corruption for a checksum mismatch or an unknown type; once an
  // error was returned every later call returns it again.
  Status Feed(std::string_view bytes, std::vector<Frame>* out);
  size_t buffered_bytes() const { return buffer_.size() - offset_; }

 private:
  size_t max_;
  std::string buffer_;
  size_t offset_ = 0;
  Status error_;
};

}  // namespace syncline::replication

#endif  // SYNCLINE_REPLICATION_FRAME_H_
