// Item keys, key derivation, SipHash and range sums of the anti-entropy engine.
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cstring>
#include <string>

#include "anti_entropy_codec.h"
#include "syncline/replication/anti_entropy.h"

namespace syncline::replication {
namespace {

constexpr std::string_view kIndexKeyLabel = "syncline anti-entropy index key v1";
constexpr std::string_view kSessionKeyLabel = "syncline anti-entropy session key v1";

uint64_t Load64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

void Store64(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}

uint64_t Rotl(uint64_t x, int b) { return (x << b) | (x >> (64 - b)); }

struct SipState {
  uint64_t v0, v1, v2, v3;
  void Round() {
    v0 += v1;
    v1 = Rotl(v1, 13);
    v1 ^= v0;
    v0 = Rotl(v0, 32);
    v2 += v3;
    v3 = Rotl(v3, 16);
    v3 ^= v2;
    v0 += v3;
    v3 = Rotl(v3, 21);
    v3 ^= v0;
    v2 += v1;
    v1 = Rotl(v1, 17);
    v1 ^= v2;
    v2 = Rotl(v2, 32);
  }
};

AntiEntropyKey HmacKey(std::string_view secret, std::string_view data) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  // HMAC() with SHA-256 cannot fail for in-memory inputs; a null result would leave mac zeroed,
  // which the memset makes deterministic rather than uninitialised.
  std::memset(mac, 0, sizeof(mac));
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac, &mac_len);
  AntiEntropyKey key{};
  std::memcpy(key.data(), mac, key.size());
  return key;
}

}  // namespace

namespace ae {

std::array<uint8_t, 16> SipHash128(const AntiEntropyKey& key, std::string_view data) {
  const uint64_t k0 = Load64(key.data());
  const uint64_t k1 = Load64(key.data() + 8);
  SipState s{0x736f6d6570736575ULL ^ k0, 0x646f72616e646f6dULL ^ k1,
             0x6c7967656e657261ULL ^ k0, 0x7465646279746573ULL ^ k1};
  s.v1 ^= 0xee;
  const auto* p = reinterpret_cast<const uint8_t*>(data.data());
  const size_t n = data.size();
  const size_t full = n - n % 8;
  for (size_t i = 0; i < full; i += 8) {
    uint64_t m = Load64(p + i);
    s.v3 ^= m;
    s.Round();
    s.Round();
    s.v0 ^= m;
  }
  uint64_t b = static_cast<uint64_t>(n) << 56;
  for (size_t i = 0; i < n % 8; ++i) b |= static_cast<uint64_t>(p[full + i]) << (8 * i);
  s.v3 ^= b;
  s.Round();
  s.Round();
  s.v0 ^= b;
  s.v2 ^= 0xee;
  for (int i = 0; i < 4; ++i) s.Round();
  std::array<uint8_t, 16> out{};
  Store64(out.data(), s.v0 ^ s.v1 ^ s.v2 ^ s.v3);
  s.v1 ^= 0xdd;
  for (int i = 0; i < 4; ++i) s.Round();
  Store64(out.data() + 8, s.v0 ^ s.v1 ^ s.v2 ^ s.v3);
  return out;
}

std::string WireFingerprint(const AntiEntropyKey& session_key, const RangeSum& sum,
                            size_t bytes) {
  uint8_t buf[24];
  Store64(buf, sum.lo);
  Store64(buf + 8, sum.hi);
  Store64(buf + 16, sum.count);
  std::array<uint8_t, 16> h =
      SipHash128(session_key, std::string_view(reinterpret_cast<const char*>(buf), sizeof(buf)));
  return std::string(reinterpret_cast<const char*>(h.data()), std::min(bytes, h.size()));
}

}  // namespace ae

void RangeSum::Add(const RangeSum& o) {
  uint64_t lo_sum = lo + o.lo;
  hi += o.hi + (lo_sum < lo ? 1 : 0);
  lo = lo_sum;
  count += o.count;
}

void RangeSum::Subtract(const RangeSum& o) {
  uint64_t borrow = lo < o.lo ? 1 : 0;
  lo -= o.lo;
  hi -= o.hi + borrow;
  count -= o.count;
}

RangeSum HashItem(const AntiEntropyKey& index_key, std::string_view item_key,
                  const StateDigest& digest) {
  std::string buf;
  buf.reserve(item_key.size() + digest.size() + 10);
  ae::PutVarint(&buf, item_key.size());
  buf.append(item_key);
  buf.append(reinterpret_cast<const char*>(digest.data()), digest.size());
  std::array<uint8_t, 16> h = ae::SipHash128(index_key, buf);
  return RangeSum{Load64(h.data()), Load64(h.data() + 8), 1};
}

Result<std::string> MakeItemKey(std::string_view collection, std::string_view key) {
  if (collection.empty()) return Status::InvalidArgument("item key: the collection name is empty");
  if (collection.find('\0') != std::string_view::npos) {
    return Status::InvalidArgument("item key: collection name '" + std::string(collection) +
                                   "' holds a NUL byte");
  }
  std::string out;
  out.reserve(collection.size() + 1 + key.size() + 4);
  out.append(collection);
  out.push_back('\0');
  for (char c : key) {
    out.push_back(c);
    if (c == '\0') out.push_back('\xff');
  }
  return out;
}

Status SplitItemKey(std::string_view item_key, std::string* collection, std::string* key) {
  size_t sep = item_key.find('\0');
  if (sep == std::string_view::npos || sep == 0) {
    return Status::Corruption("item key of " + std::to_string(item_key.size()) +
                              " bytes has no collection name before a NUL byte");
  }
  collection->assign(item_key.substr(0, sep));
  key->clear();
  for (size_t i = sep + 1; i < item_key.size(); ++i) {
    key->push_back(item_key[i]);
    if (item_key[i] == '\0') {
      if (i + 1 >= item_key.size() || item_key[i + 1] != '\xff') {
        return Status::Corruption("item key in collection '" + *collection +
                                  "' has a NUL byte not followed by FF at offset " +
                                  std::to_string(i));
      }
      ++i;
    }
  }
  return Status::Ok();
}

AntiEntropyKey DeriveIndexKey(std::string_view cluster_secret) {
  return HmacKey(cluster_secret, kIndexKeyLabel);
}

AntiEntropyKey DeriveSessionKey(const AntiEntropyKey& index_key, std::string_view initiator_nonce,
                                std::string_view responder_nonce) {
  std::string data(kSessionKeyLabel);
  ae::PutVarint(&data, initiator_nonce.size());
  data.append(initiator_nonce);
  ae::PutVarint(&data, responder_nonce.size());
  data.append(responder_nonce);
  return HmacKey(std::string_view(reinterpret_cast<const char*>(index_key.data()),
                                  index_key.size()),
                 data);
}

Result<RangeSum> ItemIndex::RangeFingerprint(std::string_view lower,
                                             std::optional<std::string_view> upper) const {
  SYNCLINE_ASSIGN_OR_RETURN(uint64_t begin, Rank(lower));
  uint64_t end = 0;
  if (upper) {
    SYNCLINE_ASSIGN_OR_RETURN(end, Rank(*upper));
  } else {
    SYNCLINE_ASSIGN_OR_RETURN(end, Size());
  }
  if (end <= begin) return RangeSum{};
  SYNCLINE_ASSIGN_OR_RETURN(RangeSum sum, PrefixSum(end));
  SYNCLINE_ASSIGN_OR_RETURN(RangeSum below, PrefixSum(begin));
  sum.Subtract(below);
  return sum;
}

Status BoundItemIndex::Bound() const {
  if (target == nullptr) return Status::FailedPrecondition("the item index was read outside a reconciler call");
  return Status::Ok();
}

Result<uint64_t> BoundItemIndex::Size() const {
  SYNCLINE_RETURN_IF_ERROR(Bound());
  return target->Size();
}

Result<uint64_t> BoundItemIndex::Rank(std::string_view key) const {
  SYNCLINE_RETURN_IF_ERROR(Bound());
  return target->Rank(key);
}

Result<RangeSum> BoundItemIndex::PrefixSum(uint64_t rank) const {
  SYNCLINE_RETURN_IF_ERROR(Bound());
  return target->PrefixSum(rank);
}

Result<IndexedItem> BoundItemIndex::ItemAt(uint64_t rank) const {
  SYNCLINE_RETURN_IF_ERROR(Bound());
  return target->ItemAt(rank);
}

Status BoundItemIndex::ListItems(uint64_t begin, uint64_t end, std::vector<IndexedItem>* out) const {
  SYNCLINE_RETURN_IF_ERROR(Bound());
  return target->ListItems(begin, end, out);
}

}  // namespace syncline::replication
