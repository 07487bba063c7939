// Replicator: snapshot bootstrap (a sender per peer, one receiver) and log retention.
#include "syncline/replication/replicator.h"

#include <algorithm>

namespace syncline::replication {

void Replicator::SnapshotStart() {
  receiver_ = std::make_unique<SnapshotReceiver>(options_.snapshot, NowMillis());
  if (options_.leadership != nullptr) {
    // A deposed leader that has not heard of the promotion still holds the writes it voided; a
    // snapshot from it would merge them back. Refuse such chunks (EpochState::VoidedIn).
    LeaderFollower* leadership = options_.leadership;
    receiver_->SetContextCheck([leadership](const VersionVector& vv) { return leadership->state().VoidedIn(vv); });
  }
  // Two nodes each installing from the other would wait for ever (an installing node serves
  // nothing): a node does not begin an install while it serves a peer whose node id sorts above
  // its own, so of two such nodes the higher one goes first.
  receiver_->SetBeginGate([this] {
    if (replica_->snapshot_progress().installing) return true;
    const std::string& self = options_.transport.handshake.node_id;
    for (const auto& [id, peer] : peers_) {
      if (id > self && peer.sender != nullptr && peer.sender->active()) return false;
    }
    return true;
  });
  // An install interrupted by a crash or a stop resumes from what the store recorded.
  SnapshotProgress p = replica_->snapshot_progress();
  receiver_->Restore(p.installing, p.next_begin, p.keys, p.bytes, p.chunks);
  if (p.installing) Log("resuming the snapshot install from " + p.source + " after " + std::to_string(p.keys) + " keys");
}

void Replicator::SnapshotPeerUp(const std::string& node_id) {
  auto it = peers_.find(node_id);
  if (it == peers_.end() || receiver_ == nullptr) return;
  it->second.sender = std::make_unique<SnapshotSender>(options_.snapshot, replica_);
  SnapshotReceiverOutput out;
  receiver_->OnPeerUp(node_id, NowMillis(), &out);
  HandleSnapshot(std::move(out));
}

void Replicator::SnapshotPeerDown(const std::string& node_id) {
  if (receiver_ == nullptr) return;
  SnapshotReceiverOutput out;
  receiver_->OnPeerDown(node_id, NowMillis(), &out);
  HandleSnapshot(std::move(out));
}

void Replicator::SnapshotFrame(const std::string& node_id, const Frame& frame) {
  auto it = peers_.find(node_id);
  if (it == peers_.end() || receiver_ == nullptr) return;
  Status s;
  if (frame.type == MessageType::kSnapshotRequest || frame.type == MessageType::kSnapshotChunkAck) {
    std::vector<OutFrame> frames;
    s = it->second.sender->OnFrame(frame, NowMillis(), &frames);
    for (auto& f : frames) {
      Status sent = transport_->Send(node_id, f.type, f.payload);
      // Back-pressure: the receiver asks again from its last installed key after a stall.
      if (!sent.ok()) Log("sending a snapshot chunk to " + node_id + " failed: " + sent.ToString());
    }
  } else {
    SnapshotReceiverOutput out;
    uint64_t voided = receiver_->status().voided_chunks;
    s = receiver_->OnFrame(node_id, frame, replica_->Context().vv(), NowMillis(), &out);
    if (receiver_->status().voided_chunks != voided) Log(receiver_->last_refusal());
    HandleSnapshot(std::move(out));
  }
  if (!s.ok()) {
    Log("peer " + node_id + " sent a bad snapshot message, dropping the connection: " + s.ToString());
    peers_.erase(node_id);
    SnapshotPeerDown(node_id);
  }
}

void Replicator::SnapshotWritable(const std::string& node_id) {
  auto it = peers_.find(node_id);
  if (it == peers_.end() || it->second.sender == nullptr) return;
  std::vector<OutFrame> frames;
  it->second.sender->OnWritable(NowMillis(), &frames);
  for (auto& f : frames) (void)transport_->Send(node_id, f.type, f.payload);
}

void Replicator::SnapshotTick(int64_t now) {
  if (receiver_ == nullptr) return;
  for (auto& [id, peer] : peers_) {
    if (peer.sender == nullptr) continue;
    std::vector<OutFrame> frames;
    peer.sender->OnTick(now, &frames);
    for (auto& f : frames) (void)transport_->Send(id, f.type, f.payload);
  }
  SnapshotReceiverOutput out;
  receiver_->OnTick(now, &out);
  HandleSnapshot(std::move(out));
  if (options_.retention.interval_millis > 0 && now - last_retention_ >= options_.retention.interval_millis) {
    last_retention_ = now;
    RunRetention(now);
  }
  GcTick(now);
  std::lock_guard<std::mutex> lock(snapshot_mu_);
  bootstrap_status_ = receiver_->status();
  retention_status_ = retention_;
}

void Replicator::HandleSnapshot(SnapshotReceiverOutput out) {
  for (auto& [peer, f] : out.frames) {
    Status sent = transport_->Send(peer, f.type, f.payload);
    if (!sent.ok()) Log("sending a snapshot message to " + peer + " failed: " + sent.ToString());
  }
  for (auto& inst : out.installs) {
    uint64_t transfer = inst.transfer_id;
    uint64_t seq = inst.seq;
    std::string peer = inst.peer;
    auto alive = alive_;
    replica_->InstallSnapshotChunk(
        inst.peer, std::move(inst.begin), std::move(inst.chunk),
        [this, alive, transfer, seq, peer](Status status) {
          // Writer thread: hand the outcome to the io_context.
          asio::post(io_, [this, alive, transfer, seq, peer, status]() {
            if (!alive->load() || receiver_ == nullptr) return;
            if (!status.ok()) Log("installing a snapshot chunk from " + peer + " failed: " + status.ToString());
            SnapshotReceiverOutput next;
            receiver_->OnInstalled(transfer, seq, status, replica_->Context().vv(), NowMillis(), &next);
            HandleSnapshot(std::move(next));
          });
        });
  }
  if (out.completed) {
    Log("snapshot installed; catching up from the log");
    {
      std::lock_guard<std::mutex> lock(snapshot_mu_);
      bootstrap_status_ = receiver_->status();
    }
    // Subscribe again at once, so publishers stream from the installed context.
    int64_t now = NowMillis();
    std::vector<std::string> ids;
    for (auto& [id, peer] : peers_) ids.push_back(id);
    for (const auto& id : ids) {
      auto it = peers_.find(id);
      if (it == peers_.end()) continue;
      SessionOutput sout;
      it->second.session->Resubscribe(now, &sout);
      Handle(id, std::move(sout));
    }
  }
}

uint64_t Replicator::RetentionStep() {
  uint64_t base = options_.retention.max_truncate_per_txn;
  ReplicaStats rs = replica_->stats();
  uint64_t changes = rs.local_writes + rs.changes_applied;
  uint64_t commits = replica_->store()->stats().groups_committed;
  uint64_t stored = changes - retention_changes_seen_;
  uint64_t made = commits - retention_commits_seen_;
  retention_changes_seen_ = changes;
  retention_commits_seen_ = commits;
  if (base == 0 || made == 0) return base;
  return std::clamp<uint64_t>(4 * (stored / made), base, 10 * base);
}

void Replicator::RunRetention(int64_t now) {
  if (retention_running_) return;  // the previous run's transaction is still queued
  auto computed = StabilityHorizonNow(now, /*for_gc=*/false);
  if (!computed.ok()) {
    retention_.last_error = computed.status().ToString();
    return;
  }
  std::optional<VersionVector> horizon = std::move(computed).value();
  if (retention_idle_ && replica_->store()->stats().groups_committed == retention_idle_commits_ &&
      horizon == retention_idle_horizon_) {
    return;
  }
  ++retention_.runs;
  retention_.have_horizon = horizon.has_value();
  retention_.horizon = horizon.value_or(VersionVector());
  // The truncation runs on the store's writer without blocking this thread (which carries every
  // peer's frames), one bounded transaction at a time; a backlog continues at once.
  retention_running_ = true;
  auto alive = alive_;
  replica_->ApplyRetentionAsync(
      horizon, options_.retention.max_changes_per_origin, RetentionStep(), options_.retention.log_segment_changes,
      [this, alive, horizon](Result<RetentionReport> report) {
        // Writer thread: hand the outcome to the io_context.
        asio::post(io_, [this, alive, horizon, report = std::move(report)]() mutable {
          if (!alive->load()) return;
          retention_running_ = false;
          retention_idle_ = report.ok() && report->truncated == 0 && !report->more && !report->sealed;
          retention_idle_commits_ = replica_->store()->stats().groups_committed;
          retention_idle_horizon_ = horizon;
          if (!report.ok()) {
            retention_.last_error = report.status().ToString();
            Log("log retention failed: " + retention_.last_error);
            return;
          }
          retention_.last_error.clear();
          retention_.truncated_total += report->truncated;
          retention_.segments_dropped_total += report->segments_dropped;
          bool more = report->more;
          retention_.log = std::move(report).value();
          {
            std::lock_guard<std::mutex> lock(snapshot_mu_);
            retention_status_ = retention_;
          }
          if (more) RunRetention(NowMillis());
        });
      });
}

BootstrapStatus Replicator::Bootstrap() const {
  std::lock_guard<std::mutex> lock(snapshot_mu_);
  return bootstrap_status_;
}

RetentionStatus Replicator::Retention() const {
  std::lock_guard<std::mutex> lock(snapshot_mu_);
  RetentionStatus status = retention_status_;
  status.options = options_.retention;
  return status;
}

}  // namespace syncline::replication
