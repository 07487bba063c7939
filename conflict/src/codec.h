// Shared helpers for the protobuf encodings of syncline.conflict.v1.
#ifndef SYNCLINE_CONFLICT_SRC_CODEC_H_
#define SYNCLINE_CONFLICT_SRC_CODEC_H_

#include <limits>
#include <string>
#include <string_view>

#include "syncline/conflict/v1/types.pb.h"
#include "syncline/core/dot.h"
#include "syncline/core/status.h"

namespace syncline::conflict {

// Upper bounds checked before and after parsing.
inline constexpr size_t kMaxEncodedStateBytes = size_t{512} << 20;
inline constexpr size_t kMaxSiblings = 1024;
inline constexpr size_t kMaxDotsPerElement = 4096;

template <typename Message>
Status ParseBounded(std::string_view bytes, std::string_view what, Message* out) {
  if (bytes.size() > kMaxEncodedStateBytes) {
    return Status::Corruption(std::string(what) + " of " + std::to_string(bytes.size()) +
                              " bytes exceeds the limit of " + std::to_string(kMaxEncodedStateBytes));
  }
  if (!out->ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return Status::Corruption(std::string(what) + " of " + std::to_string(bytes.size()) +
                              " bytes does not parse");
  }
  return Status::Ok();
}

inline void ToProto(const Dot& d, v1::Dot* out) {
  out->set_replica(d.replica.value());
  out->set_counter(d.counter);
}

inline Dot FromProto(const v1::Dot& d) { return Dot{ReplicaId(d.replica()), d.counter()}; }

}  // namespace syncline::conflict

#endif  // SYNCLINE_CONFLICT_SRC_CODEC_H_
