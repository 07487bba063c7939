// Log shipping: the I/O-free engine of one peer session in multi-leader replication.
//
// A session is symmetric: each side is at once a publisher (streams to the peer the changes it
// lacks) and a subscriber (receives and applies the peer's). The subscriber opens with Subscribe
// carrying its node context; the publisher streams, per origin in counter order, every change in
// its log that context lacks (its own and relayed ones alike, so chains, stars and rings converge),
// in batches, with at most `window_batches` unacknowledged. The subscriber hands each batch to the
// host to apply (Replica::ApplyChanges) and acknowledges it, with its new context, only once the
// batch committed durably. Duplicates are skipped by the replica, so nothing here needs to be
// exactly-once: when acknowledgements stop coming while batches are in flight, the publisher
// rewinds to what the peer acknowledged and sends again; when the publisher stays silent, the
// subscriber subscribes again. That recovers lost, duplicated and reordered messages.
//
// The engine does no I/O: frames, time and apply completions come in; frames to send and batches
// to apply go out through SessionOutput. It reads the local log through ChangeSource.
//
// Thread-safety: not thread-safe; one thread drives a session (the transport's or the
// simulator's).
#ifndef SYNCLINE_REPLICATION_LOG_SHIPPING_H_
#define SYNCLINE_REPLICATION_LOG_SHIPPING_H_

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "syncline/core/change.h"
#include "syncline/core/dot_context.h"
#include "syncline/replication/frame.h"

namespace syncline::replication {

struct ShippingOptions {
  // A batch holds at most this many changes (default 1,024) ...
  size_t batch_max_changes = 1024;
  // ... and about this many bytes (default 1 MiB; a single larger change still goes alone).
  size_t batch_max_bytes = size_t{1} << 20;
  // Batches sent and not yet acknowledged (default 8).
  size_t window_batches = 8;
  // Rewind and resend when batches are in flight and no acknowledgement came for this long.
  int64_t retransmit_millis = 3000;
  // Subscribe again when the publisher sent nothing for this long.
  int64_t resubscribe_millis = 5000;
  // Tell the publisher our context when it changed (e.g. through another peer), at most this often,
  // so its view of what we hold (lag, relays) stays current.
  int64_t context_update_millis = 250;
  // Largest number of changes accepted in one received batch (checked before decoding them).
  size_t max_received_batch_changes = 65536;
  // A change of an origin the subscriber is directly connected to is relayed only after we held
  // it this long (default 1 s): in a mesh the origin's own copy normally arrives first.
  int64_t relay_delay_millis = 1000;
  // A subscriber holding nothing yet is sent SnapshotNeeded (snapshot.h) when it lacks at least
  // this many changes (default 100,000): copying the data is then cheaper than replaying the log.
  uint64_t bootstrap_min_changes = 100'000;
};

// What a publisher reads: the local node context and log (implemented by Replica).
class ChangeSource {
 public:
  virtual ~ChangeSource() = default;
  virtual DotContext Context() = 0;
  virtual Status ReadLog(ReplicaId origin, uint64_t from, size_t max_changes, size_t max_bytes,
                         std::vector<core::Change>* out) = 0;
  // The same changes as the log stores them, which a publisher ships without decoding and
  // encoding them again. The default reads through ReadLog and encodes.
  virtual Status ReadLogEncoded(ReplicaId origin, uint64_t from, size_t max_changes, size_t max_bytes,
                                std::vector<core::EncodedChange>* out);
  // False while the node installs a snapshot: a publisher then sends nothing.
  virtual bool Serving() { return true; }
  // Per origin, the highest counter that may be missing from the log (retention.h): a
  // subscriber lacking one of those gets SnapshotNeeded instead of a stream with a gap.
  virtual VersionVector LogFloor() { return {}; }
};

// Leader-follower mode's epoch rules, as a session sees them (implemented by LeaderFollower in
// leader_follower.h; null in multi-leader mode without an epoch record). Called on the session's
// thread; implementations are thread-safe.
class EpochGate {
 public:
  virtual ~EpochGate() = default;
  // Our epoch, put in every Subscribe, Batch and Ack.
  virtual uint64_t epoch() = 0;
  // Our encoded epoch record (leader_follower.proto EpochRecord), sent in every Subscribe.
  virtual std::string LocalRecord() = 0;
  // A peer's Subscribe carried `record`: the gate adopts it if it is newer than ours. Returns
  // true when ours is newer (the session then sends our Subscribe, so the peer catches up).
  virtual bool OnPeerRecord(std::string_view record) = 0;
  // Whether `change` may be applied here and shipped at our epoch.
  virtual bool Admit(const core::Change& change) = 0;
  // True when every change with `dot` is admitted whatever it holds, so a publisher need not
  // decode a log entry to ask Admit. False (the default) only means "ask Admit".
  virtual bool AdmitsDot(const Dot& dot) {
    (void)dot;
    return false;
  }
};

struct OutFrame {
  MessageType type;
  std::string payload;
};

// A received batch the host must apply, in the order given, then report with OnApplied.
struct ApplyRequest {
  uint64_t seq = 0;
  std::vector<core::Change> changes;
  std::vector<std::string> encoded;  // encoded[i]: the bytes changes[i] was decoded from
};

struct SessionOutput {
  std::vector<OutFrame> frames;
  std::vector<ApplyRequest> applies;
};

struct SessionStats {
  uint64_t batches_sent = 0;
  uint64_t changes_sent = 0;
  uint64_t payload_bytes_sent = 0;
  uint64_t batches_received = 0;
  uint64_t changes_received = 0;
  uint64_t acks_received = 0;
  uint64_t rewinds = 0;        // publisher resends after silence
  uint64_t resubscribes = 0;   // subscriber re-subscriptions after silence
  uint64_t apply_errors = 0;
  uint64_t epoch_refused = 0;  // batches refused because the publisher's epoch was not ours
  uint64_t snapshot_needed = 0;  // SnapshotNeeded sent: the peer lacked changes our log no longer holds
};

class ShippingSession {
 public:
  // `gate` (not owned, may be null) applies leader-follower mode's epoch rules.
  ShippingSession(ShippingOptions options, ChangeSource* source, int64_t now_millis, EpochGate* gate = nullptr);

  // Opens the session: appends our Subscribe.
  void Start(int64_t now_millis, SessionOutput* out);
  // A frame from the peer. Corruption (naming the problem) for a message that does not decode or
  // breaks a bound; the host should drop the connection then.
  Status OnFrame(const Frame& frame, int64_t now_millis, SessionOutput* out);
  // The host applied the batch `seq` from an earlier ApplyRequest: OK acknowledges it; an error is
  // counted and not acknowledged (the publisher will resend it).
  void OnApplied(uint64_t seq, const Status& status, int64_t now_millis, SessionOutput* out);
  // New changes were committed locally (own writes or applied from any peer): stream them.
  void OnLocalChanges(int64_t now_millis, SessionOutput* out);
  // Timers: retransmission, re-subscription and delayed relays.
  void OnTick(int64_t now_millis, SessionOutput* out);
  // Subscriber side: the origins we receive directly (our other connected peers' replica ids).
  // A change re-subscribes, so the publisher learns it at once.
  void SetDirectOrigins(std::vector<ReplicaId> origins, int64_t now_millis, SessionOutput* out);
  // Publisher side: the peer's own replica id (from the handshake). Its own changes reach us from
  // it, so a copy of them is sent back only after the relay delay, like a direct origin's (the
  // peer's acknowledgements trail its writes: without the delay we would echo what it just wrote).
  void SetPeerOrigin(ReplicaId origin) { peer_origin_ = origin; }

  // Sends our Subscribe again at once (e.g. our epoch changed, so the peer learns it).
  void Resubscribe(int64_t now_millis, SessionOutput* out) { SendSubscribe(now_millis, out); }
  // The epoch of the peer's last Subscribe (0 before it).
  uint64_t peer_epoch() const { return peer_epoch_; }

  // What the peer acknowledged holding (empty until its first Subscribe).
  const DotContext& peer_context() const { return known_; }
  bool peer_subscribed() const { return subscribed_; }
  size_t in_flight() const { return in_flight_.size(); }
  const SessionStats& stats() const { return stats_; }

 private:
  void Pump(int64_t now_millis, SessionOutput* out);
  // The next change of `origin` to send: past our cursor and past what the peer acknowledged.
  uint64_t NextToSend(ReplicaId origin) const;
  // True (and SnapshotNeeded appended) when the peer needs a snapshot rather than our log.
  bool CheckSnapshotNeeded(const DotContext& mine, SessionOutput* out);
  void SendSubscribe(int64_t now_millis, SessionOutput* out);
  Status HandleSubscribe(const Frame& frame, int64_t now_millis, SessionOutput* out);
  Status HandleBatch(const Frame& frame, int64_t now_millis, SessionOutput* out);
  Status HandleAck(const Frame& frame, int64_t now_millis, SessionOutput* out);

  ShippingOptions options_;
  ChangeSource* source_;
  EpochGate* gate_;
  uint64_t peer_epoch_ = 0;
  int64_t last_epoch_resubscribe_ = 0;  // last Subscribe sent because a batch had another epoch

  // Publisher side.
  bool subscribed_ = false;
  DotContext known_;                      // what the peer holds, as far as we know
  std::map<ReplicaId, uint64_t> cursor_;  // next counter to send per origin (absent: from known_)
  std::deque<uint64_t> in_flight_;        // sequence numbers sent, not acknowledged
  uint64_t next_seq_ = 1;
  int64_t last_progress_ = 0;             // last ack (or first send into an empty window)
  size_t rotate_ = 0;                     // fairness between origins
  std::vector<ReplicaId> peer_direct_;    // origins the peer receives directly (sorted)
  std::optional<ReplicaId> peer_origin_;  // the peer's own replica id, when the host knows it
  // Per origin: (counter, when we first held it), to relay a direct origin's changes late.
  std::map<ReplicaId, std::deque<std::pair<uint64_t, int64_t>>> held_since_;
  bool deferred_ = false;                 // changes held back by the relay delay
  bool needs_snapshot_ = false;           // SnapshotNeeded sent; nothing more until the next Subscribe

  // Subscriber side.
  int64_t last_heard_ = 0;
  std::vector<ReplicaId> my_direct_;
  std::string last_context_sent_;
  int64_t last_context_update_ = 0;

  SessionStats stats_;
};

}  // namespace syncline::replication

#endif  // SYNCLINE_REPLICATION_LOG_SHIPPING_H_
