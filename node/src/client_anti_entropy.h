// Client-protocol codec of AntiEntropyRequest's answer (docs/client-protocol-v1.md,
// docs/anti-entropy.md), shared by the server and the client. Private to the node module.
#ifndef SYNCLINE_NODE_SRC_CLIENT_ANTI_ENTROPY_H_
#define SYNCLINE_NODE_SRC_CLIENT_ANTI_ENTROPY_H_

#include <vector>

#include "syncline/node/v1/client.pb.h"
#include "syncline/replication/anti_entropy_options.h"

namespace syncline::node {

void EncodeAntiEntropyRuns(const std::vector<replication::AntiEntropyRun>& runs, v1::AntiEntropyResult* out);

// Corruption for a session whose code is not a StatusCode.
Result<std::vector<replication::AntiEntropyRun>> DecodeAntiEntropyRuns(const v1::AntiEntropyResult& in);

}  // namespace syncline::node

#endif  // SYNCLINE_NODE_SRC_CLIENT_ANTI_ENTROPY_H_
