// Change: one replicated delta, as appended to the change log.
//
// Core stores and ships changes without interpreting `context`, `kind` or `payload`; the
// conflict module gives them meaning. A change is named by its dot (origin, counter), and
// the log is keyed by that dot, so a change can be stored only once per dot.
//
// Thread-safety: value type.
#ifndef SYNCLINE_CORE_CHANGE_H_
#define SYNCLINE_CORE_CHANGE_H_

#include <cstdint>
#include <string>

#include "syncline/core/dot.h"
#include "syncline/core/hlc.h"
#include "syncline/core/status.h"

namespace syncline::core {

// Limits of names and values, checked before anything is allocated or stored.
inline constexpr size_t kMaxCollectionNameBytes = 64;
inline constexpr size_t kMaxKeyBytes = 400;  // LMDB keys are capped at 511 bytes

struct Change {
  std::string collection;
  std::string key;
  Dot dot;
  HlcTimestamp hlc;
  std::string context;
  uint32_t kind = 0;
  std::string payload;
  std::string resolver;  // the collection's resolver name (at most 64 bytes)

  friend bool operator==(const Change&, const Change&) = default;
};

// Checks names and sizes: collection 1..64 bytes, key 1..400 bytes, a valid dot.
Status ValidateChange(const Change& change);

// Checks a collection name: 1..64 bytes of [A-Za-z0-9._-].
Status ValidateCollectionName(std::string_view name);
// Checks a key: 1..400 bytes, any content.
Status ValidateKey(std::string_view key);

// The versioned encoding (syncline.core.v1.Change). Decode refuses inputs larger than
// `max_bytes` and anything that does not parse or validate, naming what is wrong.
std::string EncodeChange(const Change& change);
Result<Change> DecodeChange(std::string_view bytes, size_t max_bytes = 64u << 20);
// DecodeChange without ValidateChange: the fields as stored, for records whose rules differ (the
// change feed's state entries have no dot). Bounded and parsed the same way.
Result<Change> DecodeChangeFields(std::string_view bytes, size_t max_bytes);

// A change as the log stores it: its dot and EncodeChange's bytes, not decoded (what a
// publisher ships as it is).
struct EncodedChange {
  Dot dot;
  std::string bytes;
};

}  // namespace syncline::core

#endif  // SYNCLINE_CORE_CHANGE_H_
