// The cluster secret file, as syncline-node and the offline tools read it.
#ifndef SYNCLINE_NODE_SECRET_H_
#define SYNCLINE_NODE_SECRET_H_

#include <string>

#include "syncline/core/status.h"

namespace syncline {

inline constexpr size_t kMinSecretBytes = 16;
inline constexpr size_t kMaxSecretBytes = 4096;

// Reads the secret file at `path`: its bytes with trailing newlines stripped. InvalidArgument
// naming the file when it cannot be read or holds fewer than kMinSecretBytes or more than
// kMaxSecretBytes (checked against the file's size before reading it).
Result<std::string> ReadSecretFile(const std::string& path);

}  // namespace syncline

#endif  // SYNCLINE_NODE_SECRET_H_
