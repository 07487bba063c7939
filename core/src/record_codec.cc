#include "record_codec.h"

#define XXH_STATIC_LINKING_ONLY  // for the XXH3_state_t definition (stack allocation)
#include <xxhash.h>

#include <cstring>

namespace syncline::core {

namespace {

uint64_t RecordChecksum(Table table, std::string_view key, uint8_t version,
                        std::string_view payload) {
  uint32_t klen = static_cast<uint32_t>(key.size());
  // Most records are small: hash them in one call over a copy on the stack (the same bytes, so
  // the same sum as the streaming form below), which skips the streaming state's set-up.
  constexpr size_t kSmall = 1024;
  if (1 + 4 + key.size() + 1 + payload.size() <= kSmall) {
    char buf[kSmall];
    size_t n = 0;
    buf[n++] = static_cast<char>(table);
    std::memcpy(buf + n, &klen, 4);
    n += 4;
    if (!key.empty()) std::memcpy(buf + n, key.data(), key.size());
    n += key.size();
    buf[n++] = static_cast<char>(version);
    if (!payload.empty()) std::memcpy(buf + n, payload.data(), payload.size());
    n += payload.size();
    return XXH3_64bits(buf, n);
  }
  XXH3_state_t state;
  XXH3_64bits_reset(&state);
  uint8_t head[1 + 4];
  head[0] = static_cast<uint8_t>(table);
  std::memcpy(head + 1, &klen, 4);
  XXH3_64bits_update(&state, head, sizeof head);
  XXH3_64bits_update(&state, key.data(), key.size());
  XXH3_64bits_update(&state, &version, 1);
  XXH3_64bits_update(&state, payload.data(), payload.size());
  return XXH3_64bits_digest(&state);
}

}  // namespace

std::string_view TableName(Table table) {
  switch (table) {
    case Table::kData: return "data";
    case Table::kLog: return "log";
    case Table::kMeta: return "meta";
    case Table::kPeers: return "peers";
    case Table::kFeeds: return "feeds";
    case Table::kJournal: return "journal";
    case Table::kIndex: return "index";
    case Table::kLog2: return "log2";
  }
  return "unknown";
}

void EncodeRecordInto(Table table, std::string_view key, std::string_view payload, char* out) {
  uint64_t sum = RecordChecksum(table, key, kRecordFormatV1, payload);
  out[0] = static_cast<char>(kRecordFormatV1);
  for (int i = 0; i < 8; ++i) out[1 + i] = static_cast<char>((sum >> (8 * i)) & 0xff);
  if (!payload.empty()) std::memcpy(out + kRecordHeaderBytes, payload.data(), payload.size());
}

std::string EncodeRecord(Table table, std::string_view key, std::string_view payload) {
  std::string out(kRecordHeaderBytes + payload.size(), '\0');
  EncodeRecordInto(table, key, payload, out.data());
  return out;
}

Result<std::string_view> DecodeRecord(Table table, std::string_view key, std::string_view record) {
  auto where = [&] {
    return "table '" + std::string(TableName(table)) + "' key '" + PrintableKey(key) + "'";
  };
  if (record.size() < kRecordHeaderBytes) {
    return Status::Corruption("record in " + where() + " is " + std::to_string(record.size()) +
                              " bytes, shorter than its 9-byte header");
  }
  uint8_t version = static_cast<uint8_t>(record[0]);
  if (version != kRecordFormatV1) {
    return Status::Corruption("record in " + where() + " has unknown format version " +
                              std::to_string(version) + " (this build reads version 1)");
  }
  uint64_t stored = 0;
  for (int i = 0; i < 8; ++i) {
    stored |= static_cast<uint64_t>(static_cast<uint8_t>(record[1 + i])) << (8 * i);
  }
  std::string_view payload = record.substr(kRecordHeaderBytes);
  if (RecordChecksum(table, key, version, payload) != stored) {
    return Status::Corruption("checksum mismatch in " + where() +
                              ": the stored record is corrupt; restore the node from a replica");
  }
  return payload;
}

std::string PrintableKey(std::string_view key) {
  static const char* kHex = "0123456789abcdef";
  std::string out;
  size_t n = std::min<size_t>(key.size(), 64);
  for (size_t i = 0; i < n; ++i) {
    unsigned char c = static_cast<unsigned char>(key[i]);
    if (c >= 0x20 && c < 0x7f && c != '\\' && c != '\'') {
      out.push_back(static_cast<char>(c));
    } else {
      out += "\\x";
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  if (key.size() > n) out += "...";
  return out;
}

Status CheckKeyAndValue(Table table, std::string_view key, size_t value_size,
                        size_t max_value_bytes) {
  if (key.empty() || key.size() > kMaxStoreKeyBytes) {
    return Status::InvalidArgument("key of " + std::to_string(key.size()) + " bytes for table '" +
                                   std::string(TableName(table)) +
                                   "' is out of range (1 to 480 bytes)");
  }
  if (value_size > max_value_bytes) {
    return Status::InvalidArgument("value of " + std::to_string(value_size) + " bytes under '" +
                                   PrintableKey(key) + "' in table '" +
                                   std::string(TableName(table)) + "' exceeds the limit of " +
                                   std::to_string(max_value_bytes) + " bytes");
  }
  return Status::Ok();
}

void AppendBigEndian64(std::string* out, uint64_t v) {
  for (int i = 7; i >= 0; --i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

uint64_t ReadBigEndian64(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

std::string LogKey(ReplicaId origin, uint64_t counter) {
  std::string k;
  k.reserve(16);
  AppendBigEndian64(&k, origin.value());
  AppendBigEndian64(&k, counter);
  return k;
}

}  // namespace syncline::core
