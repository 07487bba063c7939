// The record envelope's checksum must stay what format v1 defines (docs/storage-format-v1.md):
// XXH3-64 over table id, key length (4 bytes LE), key, format version and payload. The codec
// hashes small records in one call and larger ones in a stream; both must give that sum.
#include "record_codec.h"

#include <gtest/gtest.h>

#include <xxhash.h>

#include <cstring>
#include <string>

namespace syncline::core {
namespace {

uint64_t Reference(Table table, std::string_view key, std::string_view payload) {
  std::string bytes(1, static_cast<char>(table));
  uint32_t klen = static_cast<uint32_t>(key.size());
  char len[4];
  std::memcpy(len, &klen, 4);  // the stores run on little-endian machines only
  bytes.append(len, 4);
  bytes.append(key);
  bytes.push_back(static_cast<char>(kRecordFormatV1));
  bytes.append(payload);
  return XXH3_64bits(bytes.data(), bytes.size());
}

uint64_t Stored(const std::string& record) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= static_cast<uint64_t>(static_cast<uint8_t>(record[1 + i])) << (8 * i);
  return v;
}

TEST(RecordCodec, ChecksumIsTheFormatsOnEitherSideOfTheSmallRecordPath) {
  static constexpr char kKey[] = "collection\0key\0\x01s";
  const std::string key(kKey, sizeof(kKey) - 1);
  for (size_t n : {0, 1, 100, 900, 1000, 1001, 1002, 1003, 1010, 1024, 1025, 5000, 70000}) {
    SCOPED_TRACE(n);
    std::string payload(n, 'p');
    for (size_t i = 0; i < n; ++i) payload[i] = static_cast<char>(i * 31 + 7);
    for (Table t : {Table::kData, Table::kIndex}) {
      std::string record = EncodeRecord(t, key, payload);
      ASSERT_EQ(record.size(), kRecordHeaderBytes + n);
      EXPECT_EQ(static_cast<uint8_t>(record[0]), kRecordFormatV1);
      EXPECT_EQ(Stored(record), Reference(t, key, payload));
      auto back = DecodeRecord(t, key, record);
      ASSERT_TRUE(back.ok()) << back.status();
      EXPECT_EQ(*back, payload);
      // The sum covers the table and the key: the same bytes elsewhere do not decode.
      EXPECT_EQ(DecodeRecord(Table::kMeta, key, record).status().code(), StatusCode::kCorruption);
      EXPECT_EQ(DecodeRecord(t, key + "x", record).status().code(), StatusCode::kCorruption);
    }
  }
}

}  // namespace
}  // namespace syncline::core
