// Node: the facade an application links to embed Syncline (the database-per-service pattern),
// and what the syncline-node daemon runs.
//
// A Node owns one data directory (an LMDB store), the Replica that applies typed writes and
// peers' changes through the collections' resolvers, and the Replicator that ships changes to
// and from the peers over TCP. Replication runs on the caller's asio::io_context
// (NodeOptions::io) or on a thread of the node's own.
//
// Lifecycle: Open() (opens the store; nothing is on the network yet), Start() (listens on the
// peer endpoint and dials the peers), Stop() (closes connections, finishes queued writes, closes
// the store; also run by the destructor). A second Node on the same directory, in this process
// or another, is refused by Open with AlreadyExists. A data directory created for another cluster
// id is refused with FailedPrecondition naming both ids. Start fails with AlreadyExists when a
// listen address (peer or client endpoint) is in use, and with Unavailable for other listen
// errors; a failed Start leaves nothing running, and Start may be called again.
//
// Threading: every method may be called from any thread after Open, except that Start and Stop
// must not be called from inside a callback of the node.
#ifndef SYNCLINE_NODE_NODE_H_
#define SYNCLINE_NODE_NODE_H_

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "syncline/conflict/resolver.h"
#include "syncline/core/lmdb_store.h"
#include "syncline/node/feed.h"
#include "syncline/replication/anti_entropy_options.h"
#include "syncline/replication/leader_follower.h"
#include "syncline/replication/replica.h"
#include "syncline/replication/peer_status.h"

namespace asio {
class io_context;
}

namespace syncline {

struct NodeOptions {
  std::string node_id;             // stable name of this node, 1..64 bytes (required)
  std::string data_dir;            // created when missing (required)
  std::string cluster_id = "syncline";
  std::string secret;              // shared cluster secret (required to replicate)
  // "multi-leader" or "leader-follower" (docs/leader-follower.md). Seeds a new data directory's
  // epoch record; a directory that holds one in the other mode starts a new epoch in this one.
  std::string mode = "multi-leader";
  std::string initial_leader;      // leader-follower: the first leader's node id (required there)
  // Default write acknowledgement (local, one, quorum, all) and how long a write waits for it
  // before it is answered DeadlineExceeded (unknown: committed here, may still replicate).
  replication::AckLevel default_ack = replication::AckLevel::kLocal;
  int64_t ack_timeout_millis = 5000;
  // Nodes in the cluster, this one included, for quorums and promotions (0: peers + 1).
  size_t cluster_size = 0;
  int64_t promote_timeout_millis = 10000;
  std::string peer_host = "127.0.0.1";  // where the peer endpoint listens
  uint16_t peer_port = 0;               // 0: any free port (see Node::peer_port)
  std::string advertised_address;       // host:port peers reach us on (default peer_host:port)
  std::vector<std::string> peers;       // host:port of the peers to dial
  bool serve_clients = false;           // open the client endpoint (docs/client-protocol-v1.md)
  std::string client_host = "127.0.0.1";
  uint16_t client_port = 0;             // 0: any free port (see Node::client_port)
  core::SyncMode sync = core::SyncMode::kDurable;
  uint64_t map_size_bytes = uint64_t{1} << 30;  // initial LMDB map size (grows on demand)
  size_t max_frame_bytes = size_t{16} << 20;    // largest frame accepted from a peer
  size_t max_value_bytes = size_t{1} << 20;     // largest value, element or delta written
  size_t max_writes_per_commit = 4096;          // local writes applied together (ReplicaOptions)
  bool rebuild_item_index = false;              // rebuild the anti-entropy item index at open
  replication::ShippingOptions shipping;
  // Snapshot bootstrap (chunk size, window, stall timeout) and log retention (interval, changes
  // kept per origin): docs/snapshot-and-retention.md.
  replication::SnapshotOptions snapshot;
  replication::RetentionOptions retention;
  // Anti-entropy with the peers: background interval, repair throttle, keys per session
  // (docs/anti-entropy.md, "Running sessions").
  replication::AntiEntropyOptions anti_entropy;
  // Garbage collection below the stability horizon and fencing of peers away too long
  // (docs/garbage-collection.md).
  replication::GcOptions gc;
  int64_t reconnect_max_millis = 5000;
  std::shared_ptr<const conflict::ResolverRegistry> registry;  // default: the built-ins
  asio::io_context* io = nullptr;  // run replication on this io_context (not owned); null: own thread
  std::function<void(std::string_view)> log;  // diagnostics sink; default: none
  // Change-feed entries kept for readers without a cursor; registered cursors keep more.
  uint64_t feed_retain_entries = core::kDefaultFeedRetainEntries;
};

struct NodeStatus {
  std::string node_id;
  ReplicaId replica_id;
  std::string mode;
  uint16_t peer_port = 0;
  std::string peer_address;
  DotContext context;
  replication::ReplicaStats replica;
  core::StoreStats store;
  std::vector<replication::PeerStatus> peers;
  replication::BootstrapStatus bootstrap;  // snapshot install progress (installing: serves nothing)
  replication::RetentionStatus retention;  // horizon, log bounds per origin, truncation
  replication::GcStatus gc;                // collection passes, what they removed, fenced peers
  std::vector<replication::AntiEntropyPeerStatus> anti_entropy;  // per peer ever seen
  uint16_t client_port = 0;
  uint64_t client_connections = 0;
  uint64_t client_requests = 0;
  uint64_t client_errors = 0;     // requests answered with an error
  uint64_t client_bad_input = 0;  // client connections closed for garbage
  core::FeedBounds feed;                       // the change feed's head and retention
  std::vector<core::FeedConsumer> feed_consumers;  // registered consumers with their lag
  // Leader-follower mode (multi-leader: role "leader", no leader named).
  std::string role;
  uint64_t epoch = 0;
  std::string leader;
  std::string leader_client;
  uint64_t behind_leader = 0;     // followers: changes the leader holds that we lack
  bool leader_connected = false;  // followers: whether that figure is current
  uint64_t pending_acks = 0;      // writes waiting for followers' acknowledgements
};

class Node {
 public:
  static Result<std::unique_ptr<Node>> Open(NodeOptions options);
  ~Node();

  Status Start();
  void Stop();

  // Dials `host_port` too (after Start), or stops dialing it; in effect at once, not persisted.
  void AddPeer(const std::string& host_port);
  void RemovePeer(const std::string& host_port);

  const std::string& id() const { return options_.node_id; }
  uint16_t peer_port() const { return peer_port_; }
  uint16_t client_port() const { return client_port_; }
  std::string peer_address() const;

  replication::Replica& replica() { return *replica_; }
  core::Store& store() { return *store_; }

  // Conveniences over replica().
  Status CreateCollection(std::string_view name, std::string_view resolver) {
    return replica_->CreateCollection(name, resolver);
  }
  // A local write under the epoch rules, acknowledged at `ack` (default: options' default_ack).
  // FailedPrecondition naming the leader on a follower, Unavailable while this node is being
  // promoted (nothing applied); DeadlineExceeded when the followers did not confirm in time (the
  // outcome is unknown: committed here, it may still replicate). The synchronous forms must not
  // be called on the node's io_context thread.
  Result<replication::WriteResult> Write(std::string collection, std::string key, replication::WriteOp op);
  Result<replication::WriteResult> Write(std::string collection, std::string key, replication::WriteOp op,
                                         replication::AckLevel ack);
  using WriteDone = std::function<void(Result<replication::WriteResult>)>;
  // `done` runs on the store's writer thread or the io_context thread. timeout_millis 0: default.
  void WriteAsync(std::string collection, std::string key, replication::WriteOp op,
                  std::optional<replication::AckLevel> ack, int64_t timeout_millis, WriteDone done);
  // Makes this node the leader of a new epoch (LeaderFollower::Promote), waiting for the outcome.
  Status Promote(std::string mode = "leader-follower");
  void PromoteAsync(std::string mode, std::function<void(Status)> done);
  // The epoch record and leader-follower rules of this node.
  replication::LeaderFollower& leadership() { return *leadership_; }
  const replication::LeaderFollower& leadership() const { return *leadership_; }
  // Followers: changes the leader holds that this node lacks (*leader_connected false when the
  // leader is not connected, so the figure may be stale); 0 on a leader.
  uint64_t BehindLeader(bool* leader_connected) const;
  Result<replication::ReadResult> Read(std::string_view collection, std::string_view key) {
    return replica_->Read(collection, key);
  }
  Result<std::string> Digest() { return replica_->Digest(); }

  // Runs one anti-entropy session now with the connected peer `peer_node_id` (empty: with every
  // connected peer) and waits until each ended (bounded by anti_entropy.session_timeout_millis
  // of silence): one run per peer, each with its own status. A session already running with a
  // peer is joined rather than doubled. FailedPrecondition when the node is not started,
  // NotFound when no peer is connected. Must not be called on the node's io_context thread.
  Result<std::vector<replication::AntiEntropyRun>> RunAntiEntropy(std::string peer_node_id = {});
  // The same without waiting: `done` runs on the io_context thread (or at once, on the caller's,
  // when the node is not started). May be called on any thread.
  using AntiEntropyDone = std::function<void(Result<std::vector<replication::AntiEntropyRun>>)>;
  void RunAntiEntropyAsync(std::string peer_node_id, AntiEntropyDone done);

  NodeStatus GetStatus() const;

  // The change feed (syncline/node/feed.h, docs/change-feed.md). Reads return at most
  // `max_entries` (capped at kMaxFeedReadEntries) changes after `after`; FailedPrecondition if
  // retention dropped entries after `after`. ReadFeedFor reads after consumer `name`'s cursor
  // (NotFound if it is not registered).
  Result<FeedBatch> ReadFeed(uint64_t after, size_t max_entries);
  Result<FeedBatch> ReadFeedFor(std::string_view name, size_t max_entries);
  // Registers consumer `name` at `seq`, or moves its cursor forward to `seq` (see core/feed.h).
  Status CommitFeedCursor(std::string_view name, uint64_t seq);
  Status RemoveFeedConsumer(std::string_view name);
  // Where `name` stands in another node's feed (a FeedCommit::kSource position); NotFound if none.
  Result<uint64_t> FeedSourcePosition(std::string_view name);
  // The transactional outbox: `writes` and the consumer position `commit` in one transaction.
  // FailedPrecondition (and nothing applied) if the position is not at `commit.from`.
  Result<std::vector<replication::WriteResult>> WriteWithCursor(std::vector<replication::KeyedWrite> writes,
                                                                FeedCommit commit);
  // Like ReadFeed, but when nothing follows `after` yet, waits up to `timeout_millis` for a change
  // (an empty batch when none came). Must not be called from a callback of the node.
  Result<FeedBatch> WaitFeed(uint64_t after, size_t max_entries, int64_t timeout_millis);
  // Feed listeners: `listener` runs on the store's writer thread after each commit that may have
  // added feed entries (local writes, applied batches). It must not block or wait for the store;
  // typically it wakes a consumer. Returns an id for RemoveFeedListener, after which the listener
  // may still run once. Stop removes them all.
  uint64_t AddFeedListener(std::function<void()> listener);
  void RemoveFeedListener(uint64_t id);

 private:
  explicit Node(NodeOptions options);
  struct Runtime;
  struct FeedSignal;

  NodeOptions options_;
  std::unique_ptr<core::Store> store_;
  std::unique_ptr<replication::Replica> replica_;
  std::unique_ptr<replication::LeaderFollower> leadership_;
  std::unique_ptr<Runtime> runtime_;
  uint16_t peer_port_ = 0;
  uint16_t client_port_ = 0;
  std::once_flag feed_signal_once_;
  std::shared_ptr<FeedSignal> feed_signal_;  // wakes WaitFeed (node_feed.cc)
};

}  // namespace syncline

#endif  // SYNCLINE_NODE_NODE_H_
