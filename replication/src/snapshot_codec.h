// Wire encoding of snapshot chunks (syncline.replication.v1.SnapshotChunk) and their checksum.
//
// Thread-safety: pure functions.
#ifndef SYNCLINE_REPLICATION_SRC_SNAPSHOT_CODEC_H_
#define SYNCLINE_REPLICATION_SRC_SNAPSHOT_CODEC_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "syncline/replication/snapshot.h"

namespace syncline::replication::internal {

// The SnapshotChunk payload for `chunk`, with its checksum.
std::string EncodeSnapshotChunk(uint64_t transfer_id, uint64_t seq, const SnapshotChunkData& chunk);

struct DecodedChunk {
  uint64_t transfer_id = 0;
  uint64_t seq = 0;
  bool checksum_ok = false;
  SnapshotChunkData chunk;
};
// Corruption when the payload does not parse, holds more than `max_entries` entries (or packed
// records), packed records that are malformed (snapshot_records.h) or a context that does not
// decode; a checksum mismatch is reported in `checksum_ok` (the chunk is then
// fetched again rather than the connection dropped).
Result<DecodedChunk> DecodeSnapshotChunk(std::string_view payload, size_t max_entries);

}  // namespace syncline::replication::internal

#endif  // SYNCLINE_REPLICATION_SRC_SNAPSHOT_CODEC_H_
