// LeaderFollower: one node's view of the cluster's mode, epoch and leader, and the rules of
// leader-follower mode (docs/leader-follower.md).
//
// Every node keeps an epoch record in its `meta` table (key "leadership"): the mode
// ("multi-leader" or "leader-follower"), the epoch, the leader (node id, replica id, client
// address), whether the leader is still being promoted, and the fence (the leader's version
// vector when its promotion completed). Both modes keep the same record, so a cluster switches
// mode by raising the epoch, without re-seeding any node. The record travels in every Subscribe
// (log_shipping.h); a node adopts a newer one at once and refuses batches from any other epoch.
//
// In leader-follower mode only the leader writes; CheckWrite tells the others where the leader
// is. Promote raises the epoch to one above any seen, makes this node the candidate and, once a
// majority of the cluster (itself included) runs the new epoch and it holds everything those
// nodes hold, makes it the leader with the fence set to its version vector. Changes of another
// origin above the fence were written in an older epoch and never reached the new leader: every
// node that holds one takes it back (Replica::RollBack: journaled, never applied, never silently
// dropped), so a deposed leader that comes back overwrites nothing.
//
// Write acknowledgements: WaitForAck completes a committed local write once `one`, `quorum`
// (half the cluster, rounded down, so that with the leader a majority holds it) or `all` followers
// running our epoch hold it durably, or with DeadlineExceeded (the outcome is unknown: the write
// is committed on the leader and may still replicate) when the deadline passes first.
//
// I/O-free: the host (Replicator, the simulator) passes time and what it knows of its peers
// (OnProgress), and resubscribes every session when TakeEpochChanged() says so.
//
// Threading: every method may be called from any thread. Callbacks (ack, promotion) run on the
// thread of the call that completes them (OnProgress, OnPeerRecord) without the lock held, or on
// the store's writer thread for persistence errors.
#ifndef SYNCLINE_REPLICATION_LEADER_FOLLOWER_H_
#define SYNCLINE_REPLICATION_LEADER_FOLLOWER_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "syncline/core/dot_context.h"
#include "syncline/core/status.h"
#include "syncline/replication/log_shipping.h"
#include "syncline/replication/replica.h"

namespace syncline::replication {

inline constexpr std::string_view kModeMultiLeader = "multi-leader";
inline constexpr std::string_view kModeLeaderFollower = "leader-follower";

// Write acknowledgement levels (per write, or a node's default).
enum class AckLevel { kLocal = 0, kOne = 1, kQuorum = 2, kAll = 3 };
// "local", "one", "quorum", "all"; InvalidArgument otherwise.
Result<AckLevel> ParseAckLevel(std::string_view name);
std::string_view AckLevelName(AckLevel level);
// Followers that must hold a write at `level` in a cluster of `cluster_size` nodes.
size_t FollowersNeeded(AckLevel level, size_t cluster_size);

struct EpochState {
  std::string mode = std::string(kModeMultiLeader);
  uint64_t epoch = 0;
  std::string leader;          // node id (leader-follower mode)
  ReplicaId leader_replica;    // zero until known
  std::string leader_client;   // the leader's client address, empty until known
  bool promoting = false;      // the leader is a candidate still catching up
  bool has_fence = false;      // set when a promotion completed
  VersionVector fence;

  bool leader_follower() const { return mode == kModeLeaderFollower; }
  std::string Encode() const;
  // Corruption naming the problem.
  static Result<EpochState> Decode(std::string_view bytes);
  // Whether `change` belongs to this epoch's history (see the file comment).
  bool Admits(const Dot& dot) const;
  // Empty when every change `vv` names belongs to this epoch's history; otherwise why not (the
  // first change it names that Admits refuses). A snapshot whose vector fails this was read on a
  // deposed leader that still holds writes the promotion voided: installing it (a join) would
  // bring them back, so the receiver refuses it.
  std::string VoidedIn(const VersionVector& vv) const;
  // Orders records: higher epoch, then a completed promotion over a running one, then the
  // greater leader id (two candidates that picked the same epoch number: one gives way).
  bool NewerThan(const EpochState& other) const;
  // The epoch and its leader in one number, carried in Subscribe, Batch and Ack: the epoch in the
  // high 48 bits, a hash of the leader's node id in the low 16. Two promotions that picked the same
  // epoch number on two sides of a partition get different tags, so neither side applies the
  // other's stream or counts the other's acknowledgements before one record wins.
  uint64_t Tag() const;
};

struct LeaderFollowerOptions {
  std::string node_id;
  std::string client_address;  // ours, named in redirects when we lead
  // Used when the store holds no record, or holds one of the other mode (which then starts a
  // new epoch in this mode): the mode and, in leader-follower mode, the first leader's node id.
  std::string mode = std::string(kModeMultiLeader);
  std::string initial_leader;
  size_t cluster_size = 1;      // nodes in the cluster, this one included
  int64_t promote_timeout_millis = 10000;
  std::function<void(std::string_view)> log;
};

// What the host knows of one connected peer.
struct PeerView {
  std::string node_id;
  uint64_t epoch = 0;       // the epoch tag of its last Subscribe or Ack
  bool subscribed = false;
  DotContext context;       // what it acknowledged holding
};

class LeaderFollower final : public EpochGate {
 public:
  // Loads (or creates) the epoch record of `replica`'s store (not owned; must outlive this) and
  // takes back any change the record's fence leaves behind.
  static Result<std::unique_ptr<LeaderFollower>> Open(Replica* replica, LeaderFollowerOptions options);
  ~LeaderFollower() override;

  // EpochGate. epoch() is our epoch's Tag().
  uint64_t epoch() override;
  std::string LocalRecord() override;
  bool OnPeerRecord(std::string_view record) override;
  bool Admit(const core::Change& change) override;
  bool AdmitsDot(const Dot& dot) override;

  EpochState state() const;
  // "leader", "follower" or "candidate" (multi-leader: every node is a "leader").
  std::string role() const;
  const std::string& node_id() const { return options_.node_id; }
  size_t cluster_size() const { return options_.cluster_size; }
  // OK when this node may originate a write now. Otherwise FailedPrecondition naming the leader
  // and its client address (a follower: redirect), or Unavailable while a promotion runs.
  Status CheckWrite() const;
  // Our client address, once known (e.g. after listening on a free port); named in redirects.
  void SetClientAddress(const std::string& address);
  // True once after our record changed: the host resubscribes every session so peers learn it.
  bool TakeEpochChanged();

  // Completes `done` when `level` is met for the committed local write `dot` (kLocal: at once),
  // or with DeadlineExceeded at `deadline_millis`, or when this node stops leading.
  using AckDone = std::function<void(Status)>;
  void WaitForAck(const Dot& dot, AckLevel level, int64_t deadline_millis, AckDone done);
  size_t pending_acks() const;

  // Makes this node the leader of a new epoch in `mode` (leader-follower: through a promotion,
  // see above; multi-leader: at once, every node leads). `done` gets OK once this node leads,
  // DeadlineExceeded if a majority did not catch up in time (the node stays a candidate; promote
  // again to continue), InvalidArgument for an unknown mode.
  using PromoteDone = std::function<void(Status)>;
  void Promote(std::string mode, int64_t now_millis, PromoteDone done);

  // Time and the peers' progress: completes acknowledgements and promotions, expires both.
  void OnProgress(int64_t now_millis, const std::vector<PeerView>& peers);
  // Drops undo entries of changes a majority holds (no promotion can leave those behind).
  void PruneUndo(const std::vector<PeerView>& peers);
  // Fails every pending acknowledgement and promotion with `why` (stopping).
  void Abort(const Status& why);

 private:
  struct Waiter {
    Dot dot;
    size_t needed = 0;
    int64_t deadline = 0;
    AckDone done;
  };
  LeaderFollower(Replica* replica, LeaderFollowerOptions options);
  // With mu_ held: replaces the record, persists it, arranges roll-back and resubscription.
  // Callbacks to run after unlocking are appended to *later.
  void Adopt(EpochState next, std::vector<std::function<void()>>* later);
  void Persist(const EpochState& state);
  void RollBackOrphans(const EpochState& state);
  void Log(const std::string& line) const;

  Replica* replica_;
  LeaderFollowerOptions options_;
  mutable std::mutex mu_;
  EpochState state_;
  uint64_t max_seen_epoch_ = 0;
  bool changed_ = false;
  std::deque<Waiter> waiters_;
  PromoteDone promote_done_;
  int64_t promote_deadline_ = 0;
};

}  // namespace syncline::replication

#endif  // SYNCLINE_REPLICATION_LEADER_FOLLOWER_H_
