// Client-protocol handler of KeyVersionsRequest (docs/client-protocol-v1.md, docs/diagnostics.md)
// and the codec of its messages, shared by the server and the client. Private to the node module.
#ifndef SYNCLINE_NODE_SRC_CLIENT_KEY_VERSIONS_H_
#define SYNCLINE_NODE_SRC_CLIENT_KEY_VERSIONS_H_

#include <vector>

#include "syncline/node/node.h"
#include "syncline/node/v1/client.pb.h"
#include "syncline/replication/key_versions.h"

namespace syncline::node {

// The page bounds of KeyVersionsRequest: keys per response by default and at most, and the bytes
// of entries after which a page ends (one response stays far below any frame limit).
inline constexpr uint32_t kDefaultKeyVersions = 1000;
inline constexpr uint32_t kMaxKeyVersions = 10000;
inline constexpr size_t kKeyVersionPageBytes = size_t{1} << 20;

// Answers `req` into `resp` (an error sets its code and message).
void HandleKeyVersions(Node& node, const v1::KeyVersionsRequest& req, v1::Response* resp);

// Corruption naming the key for a digest that is not 16 bytes or a context that does not decode.
Status DecodeKeyVersions(const v1::KeyVersionsResult& in, std::vector<replication::KeyVersion>* out);

}  // namespace syncline::node

#endif  // SYNCLINE_NODE_SRC_CLIENT_KEY_VERSIONS_H_
