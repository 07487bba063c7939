#include "snapshot_codec.h"

#include "snapshot_records.h"

#include <xxhash.h>

#include "syncline/replication/v1/snapshot.pb.h"

namespace syncline::replication {

namespace {

class Hasher {
 public:
  Hasher() : state_(XXH3_createState()) {
    if (state_ != nullptr) XXH3_64bits_reset(state_);
  }
  ~Hasher() { XXH3_freeState(state_); }
  Hasher(const Hasher&) = delete;
  Hasher& operator=(const Hasher&) = delete;

  void U64(uint64_t v) {
    uint8_t b[8];
    for (int i = 0; i < 8; ++i) b[i] = static_cast<uint8_t>(v >> (8 * i));
    if (state_ != nullptr) XXH3_64bits_update(state_, b, sizeof(b));
  }
  // Length-prefixed, so field boundaries cannot shift without changing the hash.
  void Bytes(std::string_view s) {
    U64(s.size());
    if (state_ != nullptr) XXH3_64bits_update(state_, s.data(), s.size());
  }
  // A state that could not be allocated yields 0, which no good chunk is likely to carry, so the
  // chunk is refused and fetched again rather than trusted.
  uint64_t Digest() const { return state_ != nullptr ? XXH3_64bits_digest(state_) : 0; }

 private:
  XXH3_state_t* state_;
};

}  // namespace

uint64_t SnapshotChunkChecksum(uint64_t transfer_id, uint64_t seq, const SnapshotChunkData& chunk) {
  Hasher h;
  h.U64(transfer_id);
  h.U64(seq);
  h.Bytes(chunk.context.Encode());
  h.U64(chunk.collections.size());
  for (const auto& [name, resolver] : chunk.collections) {
    h.Bytes(name);
    h.Bytes(resolver);
  }
  h.U64(chunk.entries.size());
  for (const SnapshotEntry& e : chunk.entries) {
    h.Bytes(e.collection);
    h.Bytes(e.key);
    h.Bytes(e.state);
  }
  h.Bytes(chunk.next_begin);
  h.U64(chunk.last ? 1 : 0);
  // Only when present, so a chunk of entries sums as it did before packed records existed.
  if (!chunk.records.empty()) h.Bytes(chunk.records);
  return h.Digest();
}

namespace internal {

std::string EncodeSnapshotChunk(uint64_t transfer_id, uint64_t seq, const SnapshotChunkData& chunk) {
  v1::SnapshotChunk msg;
  msg.set_transfer_id(transfer_id);
  msg.set_seq(seq);
  msg.set_context(chunk.context.Encode());
  for (const auto& [name, resolver] : chunk.collections) {
    auto* c = msg.add_collections();
    c->set_name(name);
    c->set_resolver(resolver);
  }
  msg.mutable_entries()->Reserve(static_cast<int>(chunk.entries.size()));
  for (const SnapshotEntry& e : chunk.entries) {
    auto* m = msg.add_entries();
    m->set_collection(e.collection);
    m->set_key(e.key);
    m->set_state(e.state);
  }
  msg.set_next_begin(chunk.next_begin);
  msg.set_last(chunk.last);
  msg.set_checksum(SnapshotChunkChecksum(transfer_id, seq, chunk));
  std::string out;
  out.reserve(msg.ByteSizeLong() + 16 + chunk.records.size());
  msg.AppendToString(&out);
  if (!chunk.records.empty()) {
    // Field 9 (records), appended by hand: a parser takes fields in any order, and megabytes of
    // records are copied once instead of into the message and again out of it.
    out.push_back(static_cast<char>((9 << 3) | 2));
    uint64_t n = chunk.records.size();
    while (n >= 0x80) {
      out.push_back(static_cast<char>((n & 0x7f) | 0x80));
      n >>= 7;
    }
    out.push_back(static_cast<char>(n));
    out.append(chunk.records);
  }
  return out;
}

Result<DecodedChunk> DecodeSnapshotChunk(std::string_view payload, size_t max_entries) {
  v1::SnapshotChunk msg;
  if (!msg.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
    return Status::Corruption("SnapshotChunk message of " + std::to_string(payload.size()) + " bytes does not parse");
  }
  if (static_cast<size_t>(msg.entries_size()) > max_entries) {
    return Status::Corruption("SnapshotChunk of " + std::to_string(msg.entries_size()) +
                              " entries is above the limit of " + std::to_string(max_entries));
  }
  if (msg.collections_size() > 4096) {
    return Status::Corruption("SnapshotChunk names " + std::to_string(msg.collections_size()) + " collections");
  }
  DecodedChunk out;
  out.transfer_id = msg.transfer_id();
  out.seq = msg.seq();
  auto vv = VersionVector::Decode(msg.context());
  if (!vv.ok()) return vv.status().WithContext("context of SnapshotChunk " + std::to_string(msg.seq()));
  out.chunk.context = std::move(vv).value();
  for (const auto& c : msg.collections()) out.chunk.collections[c.name()] = c.resolver();
  out.chunk.entries.reserve(msg.entries_size());
  for (auto& e : *msg.mutable_entries()) {
    out.chunk.bytes += e.key().size() + e.state().size();
    out.chunk.entries.push_back(SnapshotEntry{std::move(*e.mutable_collection()), std::move(*e.mutable_key()),
                                              std::move(*e.mutable_state())});
  }
  if (!msg.records().empty()) {
    if (msg.entries_size() > 0) {
      return Status::Corruption("SnapshotChunk " + std::to_string(msg.seq()) + " holds both entries and packed records");
    }
    auto keys = CheckPackedRecords(msg.records(), max_entries);
    if (!keys.ok()) return keys.status().WithContext("SnapshotChunk " + std::to_string(msg.seq()));
    out.chunk.record_keys = *keys;
    out.chunk.bytes = msg.records().size();
    out.chunk.records = std::move(*msg.mutable_records());
  }
  out.chunk.next_begin = std::move(*msg.mutable_next_begin());
  out.chunk.last = msg.last();
  out.checksum_ok = SnapshotChunkChecksum(out.transfer_id, out.seq, out.chunk) == msg.checksum();
  return out;
}

}  // namespace internal
}  // namespace syncline::replication
