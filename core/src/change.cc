#include "syncline/core/change.h"

#include <limits>
#include <utility>

#include "syncline/core/v1/change.pb.h"

namespace syncline::core {

Status ValidateCollectionName(std::string_view name) {
  if (name.empty() || name.size() > kMaxCollectionNameBytes) {
    return Status::InvalidArgument("collection name '" + std::string(name.substr(0, 80)) +
                                   "' must be 1 to 64 bytes long");
  }
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    if (!ok) {
      return Status::InvalidArgument("collection name '" + std::string(name) +
                                     "' may only hold letters, digits, '.', '_' and '-'");
    }
  }
  return Status::Ok();
}

Status ValidateKey(std::string_view key) {
  if (key.empty() || key.size() > kMaxKeyBytes) {
    return Status::InvalidArgument("key of " + std::to_string(key.size()) +
                                   " bytes is out of range (1 to 400 bytes)");
  }
  return Status::Ok();
}

Status ValidateChange(const Change& change) {
  SYNCLINE_RETURN_IF_ERROR(ValidateCollectionName(change.collection));
  SYNCLINE_RETURN_IF_ERROR(ValidateKey(change.key).WithContext("collection '" + change.collection + "'"));
  if (!change.dot.valid()) {
    return Status::InvalidArgument("change to '" + change.collection +
                                   "' has an invalid dot (replica and counter must be non-zero)");
  }
  if (change.resolver.size() > kMaxCollectionNameBytes) {
    return Status::InvalidArgument("change to '" + change.collection + "' names a resolver of " +
                                   std::to_string(change.resolver.size()) + " bytes (at most " +
                                   std::to_string(kMaxCollectionNameBytes) + ")");
  }
  return Status::Ok();
}

std::string EncodeChange(const Change& change) {
  syncline::core::v1::Change pb;
  pb.set_collection(change.collection);
  pb.set_key(change.key);
  pb.set_origin(change.dot.replica.value());
  pb.set_counter(change.dot.counter);
  pb.set_hlc(change.hlc.Pack());
  pb.set_context(change.context);
  pb.set_kind(change.kind);
  pb.set_payload(change.payload);
  pb.set_resolver(change.resolver);
  return pb.SerializeAsString();
}

Result<Change> DecodeChangeFields(std::string_view bytes, size_t max_bytes) {
  if (bytes.size() > max_bytes || bytes.size() > static_cast<size_t>(std::numeric_limits<int>::max())) {
    return Status::InvalidArgument("change record of " + std::to_string(bytes.size()) +
                                   " bytes exceeds the limit of " + std::to_string(max_bytes));
  }
  syncline::core::v1::Change pb;
  if (!pb.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return Status::Corruption("change record of " + std::to_string(bytes.size()) +
                              " bytes does not parse as syncline.core.v1.Change");
  }
  // The strings move out of the message, which is dropped here.
  Change c;
  c.collection = std::move(*pb.mutable_collection());
  c.key = std::move(*pb.mutable_key());
  c.dot = Dot{ReplicaId(pb.origin()), pb.counter()};
  c.hlc = HlcTimestamp::Unpack(pb.hlc());
  c.context = std::move(*pb.mutable_context());
  c.kind = pb.kind();
  c.payload = std::move(*pb.mutable_payload());
  c.resolver = std::move(*pb.mutable_resolver());
  return c;
}

Result<Change> DecodeChange(std::string_view bytes, size_t max_bytes) {
  SYNCLINE_ASSIGN_OR_RETURN(Change c, DecodeChangeFields(bytes, max_bytes));
  Status st = ValidateChange(c);
  if (!st.ok()) return Status::Corruption("decoded change is invalid: " + st.message());
  return c;
}

}  // namespace syncline::core
