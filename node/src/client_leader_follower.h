// The client endpoint's leader-follower pieces (docs/leader-follower.md): acknowledgement levels
// on writes, redirects from followers, reads that report how far behind the leader they are and
// that can wait for a version (read-your-writes), and promotion. Private to the node module.
//
// Threading: the io_context's thread.
#ifndef SYNCLINE_NODE_SRC_CLIENT_LEADER_FOLLOWER_H_
#define SYNCLINE_NODE_SRC_CLIENT_LEADER_FOLLOWER_H_

#include <asio.hpp>

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>

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

// Reads that wait for a version (read-your-writes), for one client server. Each wait is a
// Replica::WhenHeld waiter (no polling: the replica tells it right after the commit that makes the
// change readable here) and a timer for its deadline; the answer is posted to the io_context.
// Close, on the io_context's thread before it goes, cancels the waiters still registered and
// shuts the gate, so that a replica thread never posts to an io_context that is gone and no
// timer touches the replica afterwards.
class VersionWaits : public std::enable_shared_from_this<VersionWaits> {
 public:
  VersionWaits(asio::io_context& io, Node* node) : io_(io), node_(node) {}
  // Calls `done` on the io_context once the change `dot` is readable on the node (Ok), after
  // `wait_millis` without it (Unavailable, naming the change and the wait), or at once with
  // ResourceExhausted when too many reads wait already (ReplicaOptions::max_dot_waiters).
  // After Close `done` is never called.
  void Wait(const Dot& dot, int64_t wait_millis, std::function<void(Status)> done);
  void Close();

 private:
  struct Pending;
  void Finish(const std::shared_ptr<Pending>& p, Status s);

  asio::io_context& io_;
  Node* node_;
  std::mutex mu_;  // guards open_ and handles_; held while a replica thread posts
  bool open_ = true;
  std::set<uint64_t> handles_;  // WhenHeld handles of the waits not answered yet
};

}  // namespace syncline::node

#endif  // SYNCLINE_NODE_SRC_CLIENT_LEADER_FOLLOWER_H_
