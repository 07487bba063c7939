// Snapshot bootstrap: the I/O-free engines that copy a node's data to a peer that cannot catch up
// from the log (a new node, or one whose position is below what its peers' logs still hold).
//
// SnapshotSender (one per peer connection) answers a SnapshotRequest by streaming the `data`
// table, ordered by key, in chunks of about `chunk_max_bytes`, each read from one consistent read
// view of the store and carrying that view's version vector, the collections' resolvers, the key
// to continue from and a checksum; at most `window_chunks` chunks are unacknowledged.
//
// SnapshotReceiver (one per node) starts a transfer when a publisher answers its subscription
// with SnapshotNeeded (or at start-up when an interrupted install is recorded in the store). It
// checks every chunk's sequence and checksum (a corrupt chunk is refused, counted and fetched
// again from the last installed key), hands good chunks to the host to install in order, and
// acknowledges a chunk only after its install committed. An interrupted transfer (disconnect,
// silence, a crash of either side) resumes from the last installed key, from any healthy peer.
//
// Installing (Replica::InstallSnapshotChunk) merges each state into the local data through the
// collection's resolver and records, in the same transaction, the progress (meta
// "snapshot.install": where to resume, and the meet of the chunks' version vectors). While that
// record exists the replica serves nothing: reads and local writes return Unavailable and it
// publishes nothing. The last chunk's transaction adds the meet to the node context and removes
// the record; log shipping then catches up from there. Why merging and the meet are correct is
// in docs/snapshot-and-retention.md.
//
// Neither engine does I/O: frames, time and install completions come in; frames to send and
// chunks to install go out. Thread-safety: not thread-safe; one thread drives each engine.
#ifndef SYNCLINE_REPLICATION_SNAPSHOT_H_
#define SYNCLINE_REPLICATION_SNAPSHOT_H_

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "syncline/core/version_vector.h"
#include "syncline/replication/frame.h"
#include "syncline/replication/log_shipping.h"

namespace syncline::replication {

// True for the messages of snapshot bootstrap (routed to the snapshot engines, not log shipping).
inline bool IsSnapshotMessage(MessageType type) {
  return type == MessageType::kSnapshotNeeded || type == MessageType::kSnapshotRequest ||
         type == MessageType::kSnapshotChunk || type == MessageType::kSnapshotChunkAck ||
         type == MessageType::kSnapshotRefused;
}

struct SnapshotOptions {
  // A chunk holds about this many bytes of states (default 1 MiB; one larger state goes alone).
  size_t chunk_max_bytes = size_t{1} << 20;
  // Chunks sent and not yet acknowledged per transfer (default 8: with 1 MiB chunks, enough to
  // keep a new node's writer busy while earlier chunks commit).
  size_t window_chunks = 8;
  // Receiver: no chunk for this long while a transfer runs -> ask again from the last installed
  // key. Sender: no acknowledgement for this long -> drop the transfer. Default 5 s.
  int64_t stall_millis = 5000;
  // Receiver: wait this long before asking again after a refusal, a corrupt chunk or an install
  // failure (default 200 ms).
  int64_t retry_millis = 200;
  // Largest number of entries accepted in one received chunk (checked before decoding them).
  size_t max_chunk_entries = size_t{1} << 20;
  // Sender: at most this many bytes of states per second to each receiver (default 0: as fast as
  // the window allows), so bootstrapping a new node does not take a serving node's disk and
  // network from its clients. Sending pauses while the budget is spent and resumes on the tick.
  uint64_t max_bytes_per_second = 0;
  // Receiver: ask for chunks of packed data-table records (SnapshotChunk.records) rather than
  // assembled states (default). A sender that does not know the form sends states, which are
  // installed the same way; tests turn this off to play such a sender.
  bool request_packed = true;
};

// One key's whole encoded state.
struct SnapshotEntry {
  std::string collection;
  std::string key;
  std::string state;
};

// One chunk's content, as read from a consistent view and as installed. A chunk holds its keys
// in one of two forms: `entries` (one whole state per key) or `records` (the sender's data-table
// records as they are stored, packed; see docs/snapshot-and-retention.md). A new node stores
// packed records without re-encoding any state.
struct SnapshotChunkData {
  VersionVector context;                          // the sender's vector in that view
  std::map<std::string, std::string> collections;  // name -> resolver, for the keys
  std::vector<SnapshotEntry> entries;             // ordered by (collection, key)
  // Packed data-table records in key order: varint key length, key, varint value length, value.
  std::string records;
  uint64_t record_keys = 0;                       // keys (not records) in `records`
  std::string next_begin;                         // data-table key the next chunk starts at
  bool last = false;
  size_t bytes = 0;                               // bytes of keys and states (or records)

  uint64_t keys() const { return entries.size() + record_keys; }
};

// An install in progress, as recorded in the store (meta "snapshot.install") with every chunk.
struct SnapshotProgress {
  bool installing = false;
  std::string source;       // the peer of the last installed chunk
  std::string next_begin;   // where the next chunk starts
  VersionVector context;    // meet (pointwise minimum) of the installed chunks' vectors
  uint64_t keys = 0;
  uint64_t bytes = 0;
  uint64_t chunks = 0;
};

// What a sender reads (implemented by Replica).
class SnapshotSource {
 public:
  virtual ~SnapshotSource() = default;
  // False while this node installs a snapshot itself: it then serves neither snapshots nor logs.
  virtual bool Serving() = 0;
  // Reads, from one consistent view, the states of the keys from data-table key `begin` ("": the
  // first) on, about `max_bytes` of them (at least one key when there is one).
  virtual Status ReadSnapshotChunk(std::string_view begin, size_t max_bytes, SnapshotChunkData* out) = 0;
  // The same range as packed records (`out->records`), ending at a key boundary.
  virtual Status ReadSnapshotRecords(std::string_view begin, size_t max_bytes, SnapshotChunkData* out) = 0;
};

// The checksum a chunk carries (XXH3-64; see docs/snapshot-and-retention.md).
uint64_t SnapshotChunkChecksum(uint64_t transfer_id, uint64_t seq, const SnapshotChunkData& chunk);

struct SnapshotSenderStats {
  uint64_t transfers = 0;   // requests served (a resume is a new transfer)
  uint64_t chunks_sent = 0;
  uint64_t bytes_sent = 0;  // bytes of keys and states
  uint64_t refused = 0;     // requests refused (not serving, or the store failed)
  uint64_t abandoned = 0;   // transfers dropped after acknowledgements stopped
  uint64_t throttled = 0;   // times sending paused for max_bytes_per_second
};

class SnapshotSender {
 public:
  SnapshotSender(SnapshotOptions options, SnapshotSource* source);

  // A SnapshotRequest or SnapshotChunkAck from the peer; Corruption if it does not decode.
  Status OnFrame(const Frame& frame, int64_t now_millis, std::vector<OutFrame>* out);
  // The transport can take more: continue a transfer held back by back-pressure.
  void OnWritable(int64_t now_millis, std::vector<OutFrame>* out);
  void OnTick(int64_t now_millis, std::vector<OutFrame>* out);

  bool active() const { return active_; }
  const SnapshotSenderStats& stats() const { return stats_; }

 private:
  void Pump(int64_t now_millis, std::vector<OutFrame>* out);
  // Refills the byte budget; true when it is spent (max_bytes_per_second).
  bool Throttled(int64_t now_millis);

  SnapshotOptions options_;
  SnapshotSource* source_;
  bool active_ = false;
  bool done_ = false;  // the last chunk went out
  bool packed_ = false;  // the receiver asked for packed records
  uint64_t transfer_id_ = 0;
  std::string cursor_;
  uint64_t next_seq_ = 1;
  std::set<uint64_t> in_flight_;
  double budget_ = 0;       // bytes we may send now (max_bytes_per_second), may go below zero
  int64_t budget_at_ = -1;  // when budget_ was last refilled (-1: never)
  int64_t last_progress_ = 0;
  SnapshotSenderStats stats_;
};

// Bootstrap progress, for status.
struct BootstrapStatus {
  bool installing = false;      // a snapshot is partly installed: the node serves nothing
  bool transferring = false;    // a transfer is running now
  std::string source;           // the peer of the current or last transfer
  uint64_t keys_installed = 0;  // in the current install (persisted; survives a restart)
  uint64_t bytes_installed = 0;
  uint64_t chunks_installed = 0;
  uint64_t transfers = 0;        // requests sent (the first and every resume)
  uint64_t corrupt_chunks = 0;   // chunks refused for a bad checksum or sequence
  uint64_t refusals = 0;         // SnapshotRefused received
  uint64_t voided_chunks = 0;    // chunks refused: their source holds changes our epoch voids
  uint64_t deferred = 0;         // installs put off while this node served a peer (SetBeginGate)
  uint64_t install_errors = 0;
  uint64_t completed = 0;        // snapshots fully installed since start
};

// A verified chunk the host must install (Replica::InstallSnapshotChunk), in the order given,
// then report with SnapshotReceiver::OnInstalled.
struct SnapshotInstall {
  std::string peer;
  uint64_t transfer_id = 0;
  uint64_t seq = 0;
  // Where this chunk starts: the install refuses it unless the stored progress ends there, so
  // chunks are installed without gaps even when one of them failed.
  std::string begin;
  SnapshotChunkData chunk;
};

struct SnapshotReceiverOutput {
  std::vector<std::pair<std::string, OutFrame>> frames;  // (peer, frame)
  std::vector<SnapshotInstall> installs;
  bool completed = false;  // a snapshot was fully installed: subscribe again to catch up
};

class SnapshotReceiver {
 public:
  SnapshotReceiver(SnapshotOptions options, int64_t now_millis);

  // At start-up: an install recorded in the store (Replica::snapshot_progress) resumes.
  void Restore(bool installing, std::string next_begin, uint64_t keys, uint64_t bytes, uint64_t chunks);

  void OnPeerUp(const std::string& peer, int64_t now_millis, SnapshotReceiverOutput* out);
  void OnPeerDown(const std::string& peer, int64_t now_millis, SnapshotReceiverOutput* out);
  // SnapshotNeeded, SnapshotChunk or SnapshotRefused from `peer`. `node_vv` is the node's
  // version vector now (a SnapshotNeeded judged before our last completed snapshot is stale).
  // Corruption if a SnapshotNeeded or SnapshotRefused does not decode (the host drops the
  // connection); a chunk that does not parse, breaks a bound or fails its checksum is not an
  // error here: it is refused and fetched again from the last installed key.
  Status OnFrame(const std::string& peer, const Frame& frame, const VersionVector& node_vv, int64_t now_millis,
                 SnapshotReceiverOutput* out);
  // The host installed (or failed to install) a chunk from an earlier SnapshotInstall.
  void OnInstalled(uint64_t transfer_id, uint64_t seq, const Status& status, const VersionVector& node_vv,
                   int64_t now_millis, SnapshotReceiverOutput* out);
  void OnTick(int64_t now_millis, SnapshotReceiverOutput* out);

  // Leader-follower mode: `check` judges each verified chunk's vector before it is installed and
  // returns why it must not be (empty: install it). A refused chunk is not installed; the
  // transfer is abandoned and asked for again after retry_millis (by then the source may have
  // learned the new epoch and rolled back what it voids). Unset: every chunk is installed.
  void SetContextCheck(std::function<std::string(const VersionVector&)> check) { check_ = std::move(check); }
  // Asked when the first chunk of a new install arrives (nothing installed yet): false puts the
  // install off (the chunk is dropped, `deferred` counted, and the receiver asks again after
  // retry_millis). A node stops serving once it installs a chunk, so two nodes that each begin an
  // install from the other would wait for each other for ever; the host breaks such cycles by
  // answering false while its own senders serve a peer that ranks above it (see
  // docs/snapshot-and-retention.md, "Two nodes that need each other").
  void SetBeginGate(std::function<bool()> may_begin) { may_begin_ = std::move(may_begin); }
  const std::string& last_refusal() const { return last_refusal_; }

  const BootstrapStatus& status() const { return status_; }
  // True while the node wants a snapshot or has one partly installed.
  bool wanted() const { return wanted_; }

 private:
  void MaybeStart(int64_t now_millis, SnapshotReceiverOutput* out);
  void Abandon(int64_t now_millis);
  Status HandleChunk(const std::string& peer, const Frame& frame, int64_t now_millis, SnapshotReceiverOutput* out);

  SnapshotOptions options_;
  std::set<std::string> peers_;   // connected peers, any of which may serve
  std::string preferred_;         // the last peer that said SnapshotNeeded
  bool wanted_ = false;
  bool active_ = false;
  std::string peer_;              // source of the active transfer
  uint64_t transfer_id_ = 0;
  uint64_t next_transfer_id_ = 1;
  uint64_t expected_seq_ = 1;
  uint64_t pending_installs_ = 0;  // handed to the host, not reported yet
  std::string resume_;             // where the next request starts: after the last installed chunk
  std::string handed_begin_;       // after the last chunk handed to the host
  struct HandedChunk {
    std::string next_begin;
    bool last = false;
    uint64_t keys = 0;
    uint64_t bytes = 0;
  };
  std::map<uint64_t, HandedChunk> handed_;     // handed to the host, by seq
  std::map<uint64_t, SnapshotInstall> ahead_;  // received ahead of their turn, by seq
  int64_t last_heard_ = 0;
  int64_t retry_at_ = 0;
  std::optional<VersionVector> completed_vv_;  // the node's vector after its last completed install
  std::function<std::string(const VersionVector&)> check_;
  std::function<bool()> may_begin_;
  std::string last_refusal_;
  BootstrapStatus status_;
};

}  // namespace syncline::replication

#endif  // SYNCLINE_REPLICATION_SNAPSHOT_H_
