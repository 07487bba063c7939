#include "client_leader_follower.h"

#include <chrono>
#include <memory>

namespace syncline::node {

namespace {

// How often a read waiting for a version looks again (the wait itself is bounded by the request).
constexpr int64_t kVersionPollMillis = 2;

class VersionWait : public std::enable_shared_from_this<VersionWait> {
 public:
  VersionWait(asio::io_context& io, Node* node, Dot dot, int64_t wait_millis, std::function<void(Status)> done)
      : timer_(io),
        node_(node),
        dot_(dot),
        deadline_(std::chrono::steady_clock::now() + std::chrono::milliseconds(wait_millis)),
        wait_millis_(wait_millis),
        done_(std::move(done)) {}

  void Poll() {
    if (node_->replica().Context().Contains(dot_)) {
      done_(Status::Ok());
      return;
    }
    if (std::chrono::steady_clock::now() >= deadline_) {
      done_(Status::Unavailable("node '" + node_->id() + "' does not hold change " + dot_.replica.ToString() + ":" +
                                std::to_string(dot_.counter) + " after " + std::to_string(wait_millis_) +
                                " ms; read from the leader or retry"));
      return;
    }
    timer_.expires_after(std::chrono::milliseconds(kVersionPollMillis));
    timer_.async_wait([self = shared_from_this()](const std::error_code& ec) {
      if (ec) {
        self->done_(Status::Unavailable("node '" + self->node_->id() + "' is stopping"));
        return;
      }
      self->Poll();
    });
  }

 private:
  asio::steady_timer timer_;
  Node* node_;
  Dot dot_;
  std::chrono::steady_clock::time_point deadline_;
  int64_t wait_millis_;
  std::function<void(Status)> done_;
};

}  // namespace

Result<std::optional<replication::AckLevel>> RequestedAck(const v1::Write& write) {
  if (write.ack().empty()) return std::optional<replication::AckLevel>();
  SYNCLINE_ASSIGN_OR_RETURN(replication::AckLevel level, replication::ParseAckLevel(write.ack()));
  return std::optional<replication::AckLevel>(level);
}

void SetWriteError(const Status& s, const Node& node, v1::Response* out) {
  out->set_code(static_cast<uint32_t>(s.code()));
  out->set_message(s.message());
  if (s.code() != StatusCode::kFailedPrecondition) return;
  replication::EpochState st = node.leadership().state();
  if (st.leader_follower() && st.leader != node.id()) {
    out->mutable_redirect()->set_leader(st.leader);
    out->mutable_redirect()->set_client_address(st.leader_client);
    out->mutable_redirect()->set_epoch(st.epoch);
  }
}

void AddReadLag(const Node& node, v1::ReadResult* out) {
  bool connected = false;
  out->set_behind_changes(node.BehindLeader(&connected));
  out->set_leader_connected(connected);
  out->set_epoch(node.leadership().state().epoch);
  out->set_role(node.leadership().role());
}

void WaitForVersion(asio::io_context& io, Node* node, const Dot& dot, int64_t wait_millis,
                    std::function<void(Status)> done) {
  auto w = std::make_shared<VersionWait>(io, node, dot, wait_millis, std::move(done));
  w->Poll();
}

}  // namespace syncline::node
