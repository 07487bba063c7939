#include "syncline/replication/frame.h"

#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

namespace syncline::replication {

namespace {

uint32_t Checksum(uint8_t type, std::string_view payload) {
  XXH3_state_t state;
  XXH3_64bits_reset(&state);
  XXH3_64bits_update(&state, &type, 1);
  XXH3_64bits_update(&state, payload.data(), payload.size());
  return static_cast<uint32_t>(XXH3_64bits_digest(&state));
}

void PutU32(uint32_t v, char* out) {
  for (int i = 0; i < 4; ++i) out[i] = static_cast<char>(v >> (8 * i));
}

uint32_t GetU32(const char* in) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(in[i]);
  return v;
}

}  // namespace

bool IsKnownMessageType(uint8_t type) {
  switch (static_cast<MessageType>(type)) {
    case MessageType::kHello:
    case MessageType::kProof:
    case MessageType::kRefuse:
    case MessageType::kSubscribe:
    case MessageType::kBatch:
    case MessageType::kAck:
    case MessageType::kHeartbeat:
    case MessageType::kSnapshotNeeded:
    case MessageType::kSnapshotRequest:
    case MessageType::kSnapshotChunk:
    case MessageType::kSnapshotChunkAck:
    case MessageType::kAntiEntropy:
    case MessageType::kAntiEntropyFetch:
    case MessageType::kAntiEntropyStates:
    case MessageType::kAntiEntropyEnd:
    case MessageType::kSnapshotRefused:
    case MessageType::kRequest:
    case MessageType::kResponse:
      return true;
  }
  return false;
}

void AppendFrame(MessageType type, std::string_view payload, std::string* out) {
  char header[kFrameHeaderBytes];
  PutU32(static_cast<uint32_t>(payload.size()), header);
  header[4] = static_cast<char>(type);
  PutU32(Checksum(static_cast<uint8_t>(type), payload), header + 5);
  out->append(header, sizeof(header));
  out->append(payload);
}

Status FrameDecoder::Feed(std::string_view bytes, std::vector<Frame>* out) {
  if (!error_.ok()) return error_;
  buffer_.append(bytes);
  while (buffer_.size() - offset_ >= kFrameHeaderBytes) {
    const char* h = buffer_.data() + offset_;
    uint32_t length = GetU32(h);
    uint8_t type = static_cast<uint8_t>(h[4]);
    if (length > max_) {
      error_ = Status::ResourceExhausted("frame of " + std::to_string(length) + " bytes is above the limit of " +
                                         std::to_string(max_) + " bytes");
      return error_;
    }
    if (!IsKnownMessageType(type)) {
      error_ = Status::Corruption("frame has unknown message type " + std::to_string(type));
      return error_;
    }
    if (buffer_.size() - offset_ < kFrameHeaderBytes + length) break;
    std::string_view payload(h + kFrameHeaderBytes, length);
    if (Checksum(type, payload) != GetU32(h + 5)) {
      error_ = Status::Corruption("frame of type " + std::to_string(type) + " and " + std::to_string(length) +
                                  " bytes fails its checksum");
      return error_;
    }
    out->push_back(Frame{static_cast<MessageType>(type), std::string(payload)});
    offset_ += kFrameHeaderBytes + length;
  }
  // Drop consumed bytes once they dominate the buffer, so it never grows without bound.
  if (offset_ > 0 && (offset_ == buffer_.size() || offset_ > (size_t{1} << 16))) {
    buffer_.erase(0, offset_);
    offset_ = 0;
  }
  return Status::Ok();
}

}  // namespace syncline::replication
