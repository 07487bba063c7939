// LEB128 varints and fixed-width little-endian integers, with bounded decoding.
#ifndef SYNCLINE_CORE_VARINT_H_
#define SYNCLINE_CORE_VARINT_H_

#include <cstdint>
#include <string>
#include <string_view>

namespace syncline::core {

void PutVarint64(std::string* out, uint64_t v);
void PutFixed64(std::string* out, uint64_t v);

// Each consumes from the front of `in`; false if the input is truncated or malformed: a
// varint longer than 10 bytes, overflowing 64 bits, or overlong (ending in a zero byte after
// the first, which PutVarint64 never writes), so each value has exactly one encoding.
bool GetVarint64(std::string_view* in, uint64_t* v);
bool GetFixed64(std::string_view* in, uint64_t* v);

}  // namespace syncline::core

#endif  // SYNCLINE_CORE_VARINT_H_
