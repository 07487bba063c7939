// Replicator: runs multi-leader log shipping for one Replica over the TCP transport.
//
// It owns a TcpTransport (listening on the peer endpoint and dialing the configured peers) and one
// ShippingSession per connected peer, and glues them to the replica: received batches are applied
// through Replica::ApplyChanges and acknowledged after their commit; local commits wake the
// publishers; a timer drives the sessions' retransmission and re-subscription and persists what
// each peer acknowledged (table `peers`, key "ack/<node id>": the peer's node context).
//
// Threading: the transport and sessions live on the io_context given (run by the caller or by
// the node). Start, AddPeer, RemovePeer and Stop may be called from any thread (they post to the
// io_context and wait when it runs elsewhere); Peers() may be called from any thread.
#ifndef SYNCLINE_REPLICATION_REPLICATOR_H_
#define SYNCLINE_REPLICATION_REPLICATOR_H_

#include <asio.hpp>

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "syncline/replication/anti_entropy_options.h"
#include "syncline/replication/gc.h"
#include "syncline/replication/leader_follower.h"
#include "syncline/replication/log_shipping.h"
#include "syncline/replication/peer_status.h"
#include "syncline/replication/replica.h"
#include "syncline/replication/tcp_transport.h"

namespace syncline::replication {

struct ReplicatorOptions {
  TcpTransportOptions transport;  // handshake identity, listen address, limits
  ShippingOptions shipping;
  std::vector<std::string> peers;  // host:port of the peers to dial
  int64_t tick_millis = 100;       // session timers
  int64_t persist_acks_millis = 1000;
  // Snapshot bootstrap (snapshot.h) and log retention (retention.h).
  SnapshotOptions snapshot;
  RetentionOptions retention;
  // Garbage collection below the stability horizon and fencing of long-absent peers (gc.h).
  GcOptions gc;
  // Anti-entropy sessions with the peers (anti_entropy_options.h). The index key is derived from
  // transport.handshake.secret.
  AntiEntropyOptions anti_entropy;
  // Where diagnostics go (default: nowhere).
  std::function<void(std::string_view)> log;
  // The node's epoch record and leader-follower rules (not owned; may be null: multi-leader
  // without an epoch record). Its sessions' gate; acknowledgements and promotions progress here.
  LeaderFollower* leadership = nullptr;
};


class Replicator final : public TransportHandler {
 public:
  Replicator(asio::io_context& io, Replica* replica, ReplicatorOptions options);
  ~Replicator() override;

  // Listens and dials the peers. Call once, before or while the io_context runs.
  Status Start();
  uint16_t port() const;
  void AddPeer(const std::string& host_port);
  void RemovePeer(const std::string& host_port);
  // Closes every connection and stops the timers; the io_context may then run out of work.
  void Stop();

  std::vector<PeerStatus> Peers() const;
  // Snapshot bootstrap progress and log retention, for status (any thread).
  BootstrapStatus Bootstrap() const;
  RetentionStatus Retention() const;
  // Garbage collection: the horizon, passes, what they removed, fenced peers (any thread).
  GcStatus Gc() const;

  // Leader-follower mode (needs options.leadership). Waits for the followers' acknowledgement of
  // the committed local write `dot` (see LeaderFollower::WaitForAck); `done` runs on the
  // io_context.
  void WaitForAck(const Dot& dot, AckLevel level, int64_t timeout_millis, std::function<void(Status)> done);
  // Promotes this node (LeaderFollower::Promote); `done` runs on the io_context.
  void Promote(std::string mode, std::function<void(Status)> done);
  // What the current leader holds that we lack, in changes (0 on the leader, in multi-leader
  // mode, or when the leader is not connected: see `leader_connected`).
  uint64_t BehindLeader(bool* leader_connected) const;

  // Anti-entropy (replicator_anti_entropy.cc). Runs one session with the connected peer
  // `peer_node_id` now (empty: with every connected peer, one session each) and calls `done` on
  // the io_context with one AntiEntropyRun per peer once every session ended; a session that
  // cannot start (no such peer, one already running with it, another epoch, the index bound)
  // reports why in its run's status. NotFound when no peer is connected. Any thread.
  using AntiEntropyDone = std::function<void(Result<std::vector<AntiEntropyRun>>)>;
  void RunAntiEntropy(std::string peer_node_id, AntiEntropyDone done);
  // Anti-entropy counters per peer ever seen (any thread).
  std::vector<AntiEntropyPeerStatus> AntiEntropy() const;

  // TransportHandler (io_context thread).
  void OnPeerConnected(const PeerInfo& peer) override;
  void OnPeerFrame(const std::string& node_id, Frame frame) override;
  void OnPeerDisconnected(const std::string& node_id, const Status& why) override;
  void OnPeerWritable(const std::string& node_id) override;

 private:
  struct Peer {
    PeerInfo info;
    std::unique_ptr<ShippingSession> session;
    std::unique_ptr<SnapshotSender> sender;  // serves this peer's snapshot requests
    uint64_t generation = 0;  // tells a reconnected peer's session from the one before
    int64_t caught_up_at = 0;  // last time the peer's acknowledged context covered ours
  };
  int64_t NowMillis() const;
  void Handle(const std::string& node_id, SessionOutput out);
  void PumpAll();
  void ScheduleTick();
  void Tick();
  void PersistAcks();
  void Log(const std::string& line) const;
  void RunOnIo(const std::function<void()>& fn);
  void UpdateSnapshot();
  void UpdateDirectOrigins();
  // Snapshot bootstrap and retention (replicator_snapshot.cc); io_context thread.
  void SnapshotStart();
  void SnapshotPeerUp(const std::string& node_id);
  void SnapshotPeerDown(const std::string& node_id);
  void SnapshotFrame(const std::string& node_id, const Frame& frame);
  void SnapshotWritable(const std::string& node_id);
  void SnapshotTick(int64_t now);
  void HandleSnapshot(SnapshotReceiverOutput out);
  void RunRetention(int64_t now);
  // How many changes the next retention transaction may drop: retention.max_truncate_per_txn,
  // or, when commits are large, four times the changes a commit stored since the last step (up
  // to ten times the option), so that truncation keeps up with the log at full load while a step
  // stays small beside the commit it shares.
  uint64_t RetentionStep();
  // The stability horizon and fencing (replicator_gc.cc); io_context thread. The pointwise
  // minimum of what every peer not fenced acknowledged (none: nothing known yet). `for_gc` adds
  // what collection needs beyond truncation: a node alone (no peer configured or ever heard
  // from, or every peer fenced) gets its own vector, and none is given until this node holds
  // each counted peer's own changes up to what the peer acknowledged for itself.
  Result<std::optional<VersionVector>> StabilityHorizonNow(int64_t now, bool for_gc);
  void GcTick(int64_t now);
  void GcPeerUp(const std::string& node_id, ReplicaId replica_id);
  void GcPeerDown(const std::string& node_id);
  // At start: the persisted last-heard times ("seen/<id>") seed the absence clocks.
  void GcLoadLastHeard();
  // The records PersistAcks writes for the absence clocks (connected peers: heard now), and
  // gc_.last_heard refreshed from them.
  std::vector<std::pair<std::string, std::string>> GcLastHeardRecords(int64_t now);
  void GcStep(std::string begin);
  void PublishGc();
  std::map<std::string, int64_t> gc_last_heard_;  // peer -> last time connected (steady millis)
  std::set<std::string> gc_seen_stored_;  // peers away whose last-heard time is persisted already
  std::map<std::string, VersionVector> gc_acks_;   // peer -> last acknowledgement seen live
  std::map<std::string, ReplicaId> gc_replica_ids_;  // peer -> its replica id (from its handshake)
  int64_t last_gc_ = 0;
  GcStatus gc_;
  // Anti-entropy sessions (replicator_anti_entropy.cc); io_context thread.
  struct AeSession;
  void AeInit();
  void AeFrame(const std::string& node_id, const Frame& frame);
  void AeTick(int64_t now);
  void AePeerDown(const std::string& node_id);
  void AeStopAll();
  Status AeAllowed(const std::string& node_id) const;
  Status AeStart(const std::string& node_id, std::function<void(AntiEntropyRun)> waiter);
  void AeOnMessage(const std::string& node_id, const Frame& frame);
  // Handles a message of the running session `id` (its reconciler exists).
  void AeHandleMessage(const std::string& node_id, uint64_t id, const std::string& message);
  void AeOnFetch(const std::string& node_id, const Frame& frame);
  void AeOnStates(const std::string& node_id, const Frame& frame);
  void AeOnEnd(const std::string& node_id, const Frame& frame);
  void AePump(const std::string& node_id);
  void AeFinish(const std::string& node_id, Status status);
  void AeRefuse(const std::string& node_id, const std::string& what, uint64_t session_id, const Status& why);
  bool AeSend(const std::string& node_id, MessageType type, const std::string& payload);
  void AePublish();
  std::map<std::string, std::shared_ptr<AeSession>> ae_sessions_;  // by peer node id
  std::map<std::string, AntiEntropyPeerStatus> ae_status_;         // by peer node id
  uint64_t ae_next_id_ = 0;
  uint64_t ae_next_fetch_ = 1;
  int64_t ae_last_run_ = 0;
  double ae_tokens_ = 0;
  int64_t ae_tokens_at_ = 0;
  std::vector<AntiEntropyPeerStatus> ae_snapshot_;  // guarded by snapshot_mu_
  std::unique_ptr<SnapshotReceiver> receiver_;
  int64_t last_retention_ = 0;
  bool retention_running_ = false;  // a truncation transaction is queued or running
  uint64_t retention_changes_seen_ = 0;  // changes stored and commits made when RetentionStep last ran
  uint64_t retention_commits_seen_ = 0;
  // The last run found nothing to do: until the store commits again or the horizon moves, a
  // run would find nothing either, so none is submitted (an idle node commits nothing).
  bool retention_idle_ = false;
  uint64_t retention_idle_commits_ = 0;
  std::optional<VersionVector> retention_idle_horizon_;
  RetentionStatus retention_;
  // Leader-follower progress after peers' news: resubscribe on an epoch change, complete
  // acknowledgements and promotions.
  void LeadershipProgress();
  std::vector<PeerView> PeerViews();

  asio::io_context& io_;
  Replica* replica_;
  ReplicatorOptions options_;
  std::unique_ptr<TcpTransport> transport_;
  asio::steady_timer timer_;
  std::map<std::string, Peer> peers_;  // by node id; io thread only
  std::atomic<bool> pump_pending_{false};
  std::atomic<bool> stopped_{false};
  int64_t last_persist_ = 0;
  uint64_t next_generation_ = 1;
  std::shared_ptr<std::atomic<bool>> alive_;

  mutable std::mutex snapshot_mu_;
  std::vector<PeerStatus> snapshot_;
  BootstrapStatus bootstrap_status_;
  RetentionStatus retention_status_;
  GcStatus gc_status_;
  uint64_t behind_leader_ = 0;
  bool leader_connected_ = false;
};

}  // namespace syncline::replication

#endif  // SYNCLINE_REPLICATION_REPLICATOR_H_
