#include "client_leader_follower.h"

#include <chrono>
#include <memory>

namespace syncline::node {


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

struct VersionWaits::Pending {
  explicit Pending(asio::io_context& io) : timer(io) {}
  asio::steady_timer timer;
  std::function<void(Status)> done;
  uint64_t handle = 0;    // set on the io thread once WhenHeld returned (0: answered at once)
  bool finished = false;  // io thread only
};

void VersionWaits::Wait(const Dot& dot, int64_t wait_millis, std::function<void(Status)> done) {
  auto p = std::make_shared<Pending>(io_);
  p->done = std::move(done);
  // The replica calls this on its writer (or another) thread: post the answer while the gate is
  // open, under its lock, so Close cannot pass in between and let the io_context go.
  auto self = shared_from_this();
  uint64_t handle = node_->replica().WhenHeld(dot, replication::Replica::DotStage::kApplied, [self, p](Status s) {
    std::lock_guard<std::mutex> lock(self->mu_);
    if (!self->open_) return;
    asio::post(self->io_, [self, p, s = std::move(s)]() mutable { self->Finish(p, std::move(s)); });
  });
  if (handle == 0) return;  // answered at once (held already, or refused): the answer is posted
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!open_) {
      node_->replica().CancelWhenHeld(handle);
      return;
    }
    handles_.insert(handle);
  }
  p->handle = handle;
  std::string what = "node '" + node_->id() + "' does not hold change " + dot.replica.ToString() + ":" +
                     std::to_string(dot.counter) + " after " + std::to_string(wait_millis) +
                     " ms; read from the leader or retry";
  p->timer.expires_after(std::chrono::milliseconds(wait_millis));
  p->timer.async_wait([self, p, what = std::move(what)](const std::error_code& ec) {
    if (ec || p->finished) return;  // answered (Finish cancels the timer) or shutting down
    {
      std::lock_guard<std::mutex> lock(self->mu_);
      if (!self->open_) return;
    }
    // Still waiting: forget the waiter. If the replica told it meanwhile, its answer is posted
    // already and wins.
    if (self->node_->replica().CancelWhenHeld(p->handle)) self->Finish(p, Status::Unavailable(what));
  });
}

void VersionWaits::Finish(const std::shared_ptr<Pending>& p, Status s) {
  if (p->finished) return;
  p->finished = true;
  p->timer.cancel();
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!open_) return;
    handles_.erase(p->handle);
  }
  p->done(std::move(s));
}

void VersionWaits::Close() {
  std::set<uint64_t> handles;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!open_) return;
    open_ = false;
    handles.swap(handles_);
  }
  for (uint64_t h : handles) node_->replica().CancelWhenHeld(h);
}

}  // namespace syncline::node
