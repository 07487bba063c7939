// Record codec: the envelope of every value the stores keep.
//
//   byte 0      format version (kRecordFormatV1)
//   bytes 1..8  checksum, little-endian: XXH3-64 over (table id, key length, key,
//               format version, payload)
//   bytes 9..   payload
//
// Covering table and key means a value copied under another key fails its check too.
#ifndef SYNCLINE_CORE_SRC_RECORD_CODEC_H_
#define SYNCLINE_CORE_SRC_RECORD_CODEC_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "syncline/core/status.h"
#include "syncline/core/store.h"

namespace syncline::core {

inline constexpr uint8_t kRecordFormatV1 = 1;
inline constexpr size_t kRecordHeaderBytes = 9;

// Writes the record for `payload` into `out`, which has room for
// kRecordHeaderBytes + payload.size() bytes.
void EncodeRecordInto(Table table, std::string_view key, std::string_view payload, char* out);
std::string EncodeRecord(Table table, std::string_view key, std::string_view payload);

// The payload of `record`, or Corruption naming the table and key.
Result<std::string_view> DecodeRecord(Table table, std::string_view key, std::string_view record);

// Checks a key and value against the store limits; InvalidArgument naming the table.
Status CheckKeyAndValue(Table table, std::string_view key, size_t value_size, size_t max_value_bytes);

// Big-endian fixed-width integers, so numeric keys sort in numeric order.
void AppendBigEndian64(std::string* out, uint64_t v);
uint64_t ReadBigEndian64(const char* p);

// The log key of a dot: 8 bytes origin, 8 bytes counter, both big-endian.
std::string LogKey(ReplicaId origin, uint64_t counter);

}  // namespace syncline::core

#endif  // SYNCLINE_CORE_SRC_RECORD_CODEC_H_
