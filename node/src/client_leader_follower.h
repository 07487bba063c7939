// The client endpoint's leader-follower pieces (docs/leader-follower.md): acknowledgement levels
// on writes, redirects from followers, reads that report how far behind the leader they are and
// that can wait for a version (read-your-writes), and promotion. Private to the node module.
//
// Threading: the io_context's thread.
#ifndef SYNCLINE_NODE_SRC_CLIENT_LEADER_FOLLOWER_H_
#define SYNCLINE_NODE_SRC_CLIENT_LEADER_FOLLOWER_H_

#include <asio.hpp>

#include <functional>
#include <optional>

#include "syncline/node/node.h"
#include "syncline/node/v1/client.pb.h"

namespace syncline::node {

// The acknowledgement level a Write request asks for: nullopt for the node's default,
// InvalidArgument for an unknown name.
Result<std::optional<replication::AckLevel>> RequestedAck(const v1::Write& write);

// Fills the response's error and, when `s` is a follower's refusal, the redirect to the leader.
void SetWriteError(const Status& s, const Node& node, v1::Response* out);

// Adds the epoch, role and how far behind the leader this node is to a read result.
void AddReadLag(const Node& node, v1::ReadResult* out);

// Calls `done` (on the io_context) once `node` holds `dot`, or with Unavailable after `wait_millis`.
void WaitForVersion(asio::io_context& io, Node* node, const Dot& dot, int64_t wait_millis,
                    std::function<void(Status)> done);

}  // namespace syncline::node

#endif  // SYNCLINE_NODE_SRC_CLIENT_LEADER_FOLLOWER_H_
