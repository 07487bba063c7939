#include "syncline/replication/replicator.h"

#include <chrono>

namespace syncline::replication {

namespace {

uint64_t LagChanges(const DotContext& mine, const DotContext& theirs) {
  uint64_t lag = 0;
  for (const auto& e : mine.vv().entries()) {
    uint64_t have = theirs.vv().Get(e.first);
    if (e.second > have) lag += e.second - have;
  }
  return lag;
}

}  // namespace

Replicator::Replicator(asio::io_context& io, Replica* replica, ReplicatorOptions options)
    : io_(io),
      replica_(replica),
      options_(std::move(options)),
      timer_(io),
      alive_(std::make_shared<std::atomic<bool>>(true)) {
  transport_ = std::make_unique<TcpTransport>(io_, options_.transport, this);
}

Replicator::~Replicator() {
  alive_->store(false);
  replica_->SetCommitListener({});
}

int64_t Replicator::NowMillis() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void Replicator::Log(const std::string& line) const {
  if (options_.log) options_.log(line);
}

Status Replicator::Start() {
  SYNCLINE_RETURN_IF_ERROR(transport_->Listen());
  SnapshotStart();
  AeInit();
  GcLoadLastHeard();
  // Local commits wake the publishers, coalesced into one pump per burst.
  auto alive = alive_;
  auto pending = std::make_shared<std::atomic<bool>>(false);
  replica_->SetCommitListener([this, alive, pending]() {
    if (!alive->load() || pending->exchange(true)) return;
    asio::post(io_, [this, alive, pending]() {
      pending->store(false);
      if (alive->load()) PumpAll();
    });
  });
  for (const auto& p : options_.peers) transport_->AddPeer(p);
  ScheduleTick();
  return Status::Ok();
}

uint16_t Replicator::port() const { return transport_->port(); }

void Replicator::AddPeer(const std::string& host_port) { transport_->AddPeer(host_port); }
void Replicator::RemovePeer(const std::string& host_port) { transport_->RemovePeer(host_port); }

void Replicator::Stop() {
  if (stopped_.exchange(true)) return;
  PersistAcks();
  AeStopAll();
  alive_->store(false);
  replica_->SetCommitListener({});
  timer_.cancel();
  peers_.clear();
  transport_->Close();
}

void Replicator::ScheduleTick() {
  if (stopped_) return;
  timer_.expires_after(std::chrono::milliseconds(options_.tick_millis));
  auto alive = alive_;
  timer_.async_wait([this, alive](const std::error_code& ec) {
    if (ec || !alive->load()) return;
    Tick();
    ScheduleTick();
  });
}

void Replicator::Tick() {
  int64_t now = NowMillis();
  std::vector<std::string> ids;
  for (auto& [id, peer] : peers_) ids.push_back(id);
  for (const auto& id : ids) {
    auto it = peers_.find(id);
    if (it == peers_.end()) continue;
    SessionOutput out;
    it->second.session->OnTick(now, &out);
    Handle(id, std::move(out));
  }
  if (now - last_persist_ >= options_.persist_acks_millis) {
    last_persist_ = now;
    PersistAcks();
    if (options_.leadership != nullptr) options_.leadership->PruneUndo(PeerViews());
  }
  LeadershipProgress();
  SnapshotTick(now);
  AeTick(now);
  UpdateSnapshot();
}

void Replicator::PersistAcks() {
  // The absence clocks' records, then the acknowledgements.
  std::vector<std::pair<std::string, std::string>> records = GcLastHeardRecords(NowMillis());
  for (auto& [id, peer] : peers_) {
    if (peer.session->peer_subscribed()) records.emplace_back("ack/" + id, peer.session->peer_context().Encode());
  }
  if (records.empty()) return;
  // Staged: the writer need not wait for earlier commits' syncs for it.
  replica_->store()->SubmitStaged(
      [records](core::WriteTxn& txn) -> Status {
        for (const auto& [k, v] : records) SYNCLINE_RETURN_IF_ERROR(txn.Put(core::Table::kPeers, k, v));
        return Status::Ok();
      },
      nullptr,
      [this, alive = alive_](Status s) {
        if (!s.ok() && alive->load()) Log("persisting peer acknowledgements failed: " + s.ToString());
      });
}

void Replicator::UpdateSnapshot() {
  DotContext mine = replica_->Context();
  std::vector<PeerStatus> snap;
  for (auto& [id, peer] : peers_) {
    PeerStatus st;
    st.node_id = id;
    st.replica_id = peer.info.replica_id;
    st.address = peer.info.advertised_address;
    st.subscribed = peer.session->peer_subscribed();
    st.acknowledged = peer.session->peer_context();
    st.lag_changes = LagChanges(mine, st.acknowledged);
    st.stats = peer.session->stats();
    int64_t now = NowMillis();
    if (st.lag_changes == 0 || peer.caught_up_at == 0) peer.caught_up_at = now;
    st.lag_millis = st.lag_changes == 0 ? 0 : now - peer.caught_up_at;
    if (st.stats.changes_sent > 0) {
      st.lag_bytes = static_cast<uint64_t>(static_cast<double>(st.lag_changes) *
                                           static_cast<double>(st.stats.payload_bytes_sent) /
                                           static_cast<double>(st.stats.changes_sent));
    }
    st.queued_bytes = transport_->queued_bytes(id);
    snap.push_back(std::move(st));
  }
  std::lock_guard<std::mutex> lock(snapshot_mu_);
  snapshot_ = std::move(snap);
}

std::vector<PeerStatus> Replicator::Peers() const {
  std::lock_guard<std::mutex> lock(snapshot_mu_);
  return snapshot_;
}

void Replicator::OnPeerConnected(const PeerInfo& info) {
  if (stopped_) return;
  Log("peer " + info.node_id + " connected");
  Peer& peer = peers_[info.node_id];
  peer.info = info;
  GcPeerUp(info.node_id, info.replica_id);
  peer.session = std::make_unique<ShippingSession>(options_.shipping, replica_, NowMillis(), options_.leadership);
  peer.session->SetPeerOrigin(info.replica_id);
  peer.generation = next_generation_++;
  SessionOutput out;
  peer.session->Start(NowMillis(), &out);
  Handle(info.node_id, std::move(out));
  UpdateDirectOrigins();
  SnapshotPeerUp(info.node_id);
  UpdateSnapshot();
}

void Replicator::UpdateDirectOrigins() {
  // Each peer learns which origins we receive directly from our other peers, so it delays
  // relaying those (see ShippingOptions::relay_delay_millis).
  std::vector<std::string> ids;
  for (auto& [id, peer] : peers_) ids.push_back(id);
  for (const auto& id : ids) {
    auto it = peers_.find(id);
    if (it == peers_.end()) continue;
    std::vector<ReplicaId> direct;
    for (auto& [other, p] : peers_) {
      if (other != id) direct.push_back(p.info.replica_id);
    }
    SessionOutput out;
    it->second.session->SetDirectOrigins(std::move(direct), NowMillis(), &out);
    Handle(id, std::move(out));
  }
}

void Replicator::OnPeerDisconnected(const std::string& node_id, const Status& why) {
  Log("peer " + node_id + " disconnected: " + why.ToString());
  GcPeerDown(node_id);
  peers_.erase(node_id);
  SnapshotPeerDown(node_id);
  AePeerDown(node_id);
  UpdateDirectOrigins();
  UpdateSnapshot();
}

void Replicator::OnPeerWritable(const std::string& node_id) {
  auto it = peers_.find(node_id);
  if (it == peers_.end()) return;
  SessionOutput out;
  it->second.session->OnLocalChanges(NowMillis(), &out);
  Handle(node_id, std::move(out));
  SnapshotWritable(node_id);
}

void Replicator::OnPeerFrame(const std::string& node_id, Frame frame) {
  auto it = peers_.find(node_id);
  if (it == peers_.end()) return;
  if (IsSnapshotMessage(frame.type)) {
    SnapshotFrame(node_id, frame);
    return;
  }
  if (IsAntiEntropyMessage(frame.type)) {
    AeFrame(node_id, frame);
    return;
  }
  SessionOutput out;
  MessageType type = frame.type;
  Status s = it->second.session->OnFrame(frame, NowMillis(), &out);
  if (!s.ok()) {
    Log("peer " + node_id + " sent a bad message, dropping the connection: " + s.ToString());
    peers_.erase(it);
    // Removing and re-adding would lose the dial target; the transport's idle timeout and the
    // peer's reconnect bring the session back.
    return;
  }
  Handle(node_id, std::move(out));
  // Acknowledgements and subscriptions move write acknowledgements and promotions forward.
  if (type == MessageType::kAck || type == MessageType::kSubscribe) LeadershipProgress();
}

void Replicator::PumpAll() {
  int64_t now = NowMillis();
  std::vector<std::string> ids;
  for (auto& [id, peer] : peers_) ids.push_back(id);
  for (const auto& id : ids) {
    auto it = peers_.find(id);
    if (it == peers_.end()) continue;
    SessionOutput out;
    it->second.session->OnLocalChanges(now, &out);
    Handle(id, std::move(out));
  }
}

void Replicator::Handle(const std::string& node_id, SessionOutput out) {
  for (auto& f : out.frames) {
    Status s = transport_->Send(node_id, f.type, f.payload);
    if (!s.ok()) {
      // Back-pressure or a dropped connection: the session resends what is not acknowledged.
      Log("sending to " + node_id + " failed: " + s.ToString());
    }
  }
  if (out.applies.empty()) return;
  auto it = peers_.find(node_id);
  if (it == peers_.end()) return;
  uint64_t generation = it->second.generation;
  for (auto& req : out.applies) {
    uint64_t seq = req.seq;
    auto alive = alive_;
    auto applied = [this, alive, node_id, generation, seq](Result<ApplyStats> r) {
      Status status = r.status();
      asio::post(io_, [this, alive, node_id, generation, seq, status]() {
        if (!alive->load()) return;
        auto p = peers_.find(node_id);
        // The session may have been replaced by a reconnect: acknowledge only on the one that asked.
        if (p == peers_.end() || p->second.generation != generation) return;
        if (!status.ok()) Log("applying a batch from " + node_id + " failed: " + status.ToString());
        SessionOutput next;
        p->second.session->OnApplied(seq, status, NowMillis(), &next);
        Handle(node_id, std::move(next));
      });
    };
    replica_->ApplyChanges(std::move(req.changes), std::move(req.encoded), std::move(applied));
  }
}

}  // namespace syncline::replication

namespace syncline::replication {

std::vector<PeerView> Replicator::PeerViews() {
  std::vector<PeerView> views;
  views.reserve(peers_.size());
  for (auto& [id, peer] : peers_) {
    PeerView v;
    v.node_id = id;
    v.epoch = peer.session->peer_epoch();
    v.subscribed = peer.session->peer_subscribed();
    v.context = peer.session->peer_context();
    views.push_back(std::move(v));
  }
  return views;
}

void Replicator::LeadershipProgress() {
  LeaderFollower* lf = options_.leadership;
  if (lf == nullptr || stopped_) return;
  if (lf->TakeEpochChanged()) {
    // Our epoch record changed: every peer hears it at once.
    int64_t now = NowMillis();
    std::vector<std::string> ids;
    for (auto& [id, peer] : peers_) ids.push_back(id);
    for (const auto& id : ids) {
      auto it = peers_.find(id);
      if (it == peers_.end()) continue;
      SessionOutput out;
      it->second.session->Resubscribe(now, &out);
      Handle(id, std::move(out));
    }
  }
  lf->OnProgress(NowMillis(), PeerViews());
  // How far behind the leader we are (for reads on followers).
  EpochState st = lf->state();
  uint64_t behind = 0;
  bool connected = false;
  if (st.leader_follower() && st.leader != lf->node_id()) {
    auto it = peers_.find(st.leader);
    if (it != peers_.end()) {
      connected = true;
      DotContext mine = replica_->Context();
      for (const auto& e : it->second.session->peer_context().vv().entries()) {
        uint64_t have = mine.vv().Get(e.first);
        if (e.second > have) behind += e.second - have;
      }
    }
  }
  std::lock_guard<std::mutex> lock(snapshot_mu_);
  behind_leader_ = behind;
  leader_connected_ = connected;
}

uint64_t Replicator::BehindLeader(bool* leader_connected) const {
  std::lock_guard<std::mutex> lock(snapshot_mu_);
  if (leader_connected != nullptr) *leader_connected = leader_connected_;
  return behind_leader_;
}

void Replicator::WaitForAck(const Dot& dot, AckLevel level, int64_t timeout_millis, std::function<void(Status)> done) {
  LeaderFollower* lf = options_.leadership;
  if (lf == nullptr || level == AckLevel::kLocal) {
    done(Status::Ok());
    return;
  }
  auto alive = alive_;
  lf->WaitForAck(dot, level, NowMillis() + timeout_millis, std::move(done));
  // It may be met already.
  asio::post(io_, [this, alive] {
    if (alive->load()) LeadershipProgress();
  });
}

void Replicator::Promote(std::string mode, std::function<void(Status)> done) {
  LeaderFollower* lf = options_.leadership;
  if (lf == nullptr) {
    done(Status::FailedPrecondition("this node keeps no epoch record; it cannot be promoted"));
    return;
  }
  auto alive = alive_;
  asio::post(io_, [this, alive, lf, mode = std::move(mode), done = std::move(done)]() mutable {
    if (!alive->load()) {
      done(Status::Unavailable("the node is stopping; promotion not started"));
      return;
    }
    lf->Promote(std::move(mode), NowMillis(), std::move(done));
    LeadershipProgress();
  });
}

}  // namespace syncline::replication
