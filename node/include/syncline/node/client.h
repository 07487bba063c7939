// Client: a connection to a syncline-node's client endpoint (docs/client-protocol-v1.md), used
// by the syncline CLI and by programs that talk to a node over the network.
//
// Every call sends one request and waits for its response, up to the client's timeout.
// Errors: Unavailable when the node cannot be reached (nothing was sent: not applied);
// DeadlineExceeded when the response did not come in time or the connection broke after the
// request was sent (the outcome is unknown: a write may still apply); otherwise the node's own
// error (InvalidArgument, NotFound, ...), which means not applied.
//
// Thread-safety: a Client is used by one thread at a time.
#ifndef SYNCLINE_NODE_CLIENT_H_
#define SYNCLINE_NODE_CLIENT_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "syncline/core/feed.h"
#include "syncline/core/status.h"
#include "syncline/node/feed.h"
#include "syncline/replication/anti_entropy_options.h"
#include "syncline/replication/key_versions.h"
#include "syncline/replication/replica.h"

namespace syncline {

struct RemotePeer {
  std::string node_id;
  std::string address;
  bool subscribed = false;
  std::string acknowledged;
  uint64_t lag_changes = 0;
  uint64_t changes_sent = 0;
  uint64_t changes_received = 0;
  uint64_t queued_bytes = 0;
};

struct RemoteStatus {
  std::string node_id;
  std::string replica_id;
  std::string mode;
  std::string role;
  uint64_t epoch = 0;
  std::string context;
  uint64_t local_writes = 0;
  uint64_t changes_applied = 0;
  uint64_t conflicts = 0;
  uint64_t duplicates = 0;
  std::string leader;          // leader-follower: the leader's node id and client address
  std::string leader_client;
  uint64_t orphaned = 0;       // changes taken back after a promotion left them behind
  uint64_t behind_leader = 0;  // followers: changes the leader holds that this node lacks
  uint64_t pending_acks = 0;
  std::string peer_address;
  std::string client_address;
  std::map<std::string, std::string> collections;
  std::vector<RemotePeer> peers;
  uint64_t feed_head = 0;
  uint64_t feed_pruned_through = 0;
  std::vector<core::FeedConsumer> feed_consumers;  // registered consumers with their lag
  // Snapshot bootstrap and log retention (docs/snapshot-and-retention.md).
  bool installing = false;
  std::string snapshot_source;
  uint64_t snapshot_keys_installed = 0;
  uint64_t snapshots_completed = 0;
  uint64_t snapshot_corrupt_chunks = 0;
  std::string retention_horizon;  // empty: none yet
  uint64_t log_truncated = 0;
  struct OriginLog {
    std::string origin;
    uint64_t low = 0;
    uint64_t high = 0;
    uint64_t floor = 0;
  };
  std::vector<OriginLog> log;
  // Garbage collection (docs/garbage-collection.md).
  std::string gc_horizon;  // empty: none yet
  uint64_t gc_passes = 0;
  uint64_t gc_removed = 0;
  uint64_t gc_stale_skipped = 0;
  uint64_t gc_stale_dropped = 0;
  std::vector<std::string> fenced_peers;
  // Anti-entropy per peer since the node started (docs/anti-entropy.md).
  std::vector<replication::AntiEntropyPeerStatus> anti_entropy;
};

// Which entries of a node's change feed to read (Client::ReadFeed).
struct FeedQuery {
  std::string cursor;        // read after this registered consumer's cursor, if set
  uint64_t after = 0;        // else after this position
  bool from_oldest = false;  // else (if set) after the oldest entry retention kept
  uint32_t max_entries = 1000;
};

// Leader-follower mode (docs/leader-follower.md).
struct WriteOptions {
  std::string ack;                 // "local", "one", "quorum", "all"; empty: the node's default
  int64_t ack_timeout_millis = 0;  // 0: the node's default
};
// Where a follower that refused a write says the leader is.
struct Redirect {
  std::string leader;
  std::string client_address;
  uint64_t epoch = 0;
};
struct ReadOptions {
  Dot min_version;           // read-your-writes: answer once the node holds it (zero: at once)
  int64_t wait_millis = 0;   // how long the node may wait for it (0: 5 s)
};
struct ReadInfo {
  uint64_t behind_changes = 0;  // changes the leader holds that the node lacks
  bool leader_connected = false;
  uint64_t epoch = 0;
  std::string role;
};
struct PromoteResult {
  uint64_t epoch = 0;
  std::string leader;
  std::string mode;
};

struct DumpEntry {
  std::string collection;
  std::string key;
  std::string rendered;
};

class Client {
 public:
  // Connects to `host_port` ("127.0.0.1:7401"). InvalidArgument for a malformed address.
  static Result<std::unique_ptr<Client>> Connect(const std::string& host_port, int64_t timeout_millis = 5000);
  ~Client();

  Result<replication::WriteResult> Write(const std::string& collection, const std::string& key,
                                         const replication::WriteOp& op);
  Result<replication::ReadResult> Read(const std::string& collection, const std::string& key);
  // Leader-follower mode. A write at an acknowledgement level: DeadlineExceeded when it timed out
  // (unknown); FailedPrecondition from a follower, whose redirect last_redirect() then holds.
  Result<replication::WriteResult> Write(const std::string& collection, const std::string& key,
                                         const replication::WriteOp& op, const WriteOptions& options);
  const Redirect& last_redirect() const { return redirect_; }
  // A read that may wait for a version and reports how far behind the leader the node is.
  Result<replication::ReadResult> Read(const std::string& collection, const std::string& key,
                                       const ReadOptions& options, ReadInfo* info);
  // Promotes the node (mode "leader-follower" or "multi-leader"). DeadlineExceeded: unknown.
  Result<PromoteResult> Promote(const std::string& mode);
  Status CreateCollection(const std::string& name, const std::string& resolver);
  Result<RemoteStatus> GetStatus();
  Result<std::string> Digest();
  // Every key (of `collection`, or all), in order, with its rendering.
  Status Dump(const std::string& collection, std::vector<DumpEntry>* out);
  // The change feed (docs/change-feed.md): one batch of changes in the node's commit order.
  Result<FeedBatch> ReadFeed(const FeedQuery& query);
  // Registers consumer `name` at `seq` or moves its cursor forward to `seq` on the node.
  Status CommitFeedCursor(const std::string& name, uint64_t seq);
  Status RemoveFeedConsumer(const std::string& name);
  // One page of key versions (docs/diagnostics.md): keys of `collection` (all if empty) after
  // (`after_collection`, `after_key`) (from the start if `after_collection` is empty), at most
  // `limit` (the node caps it at 10,000 and at about 1 MiB of entries); `*more` tells whether keys
  // remain. Corruption when the node's answer does not decode.
  Result<std::vector<replication::KeyVersion>> KeyVersions(const std::string& collection,
                                                           const std::string& after_collection,
                                                           const std::string& after_key, uint32_t limit, bool* more);
  // Runs an anti-entropy session now on the node with its connected peer `peer` (a node id; empty:
  // every connected peer) and answers when they ended: one run per peer with its own status
  // (docs/anti-entropy.md). NotFound when no peer is connected. Sessions can take long: connect
  // with a timeout above the node's anti_entropy.session_timeout_millis (30 s by default).
  Result<std::vector<replication::AntiEntropyRun>> RunAntiEntropy(const std::string& peer);
  // Bytes this client wrote to and read from the connection (frames included) since it connected.
  uint64_t bytes_sent() const;
  uint64_t bytes_received() const;

  const std::string& address() const { return address_; }

 private:
  struct Impl;
  explicit Client(std::string address);
  std::unique_ptr<Impl> impl_;
  std::string address_;
  Redirect redirect_;
};

// Reading a node's change feed until caught up or for ever (`syncline watch`).
struct WatchOptions {
  std::string cursor;          // consumer to read after and advance (registered at `after` if new)
  uint64_t after = 0;          // where to start without a cursor (ignored if from_oldest)
  bool from_oldest = true;     // start after the oldest entry retention kept
  bool follow = false;         // keep polling for new changes instead of stopping when caught up
  uint64_t limit = 0;          // stop after this many changes (0: no limit)
  int64_t poll_millis = 200;   // how long to wait between polls when caught up (follow)
  uint32_t batch_entries = 1000;
};

// Calls `visit` for every change in order; `visit` returns false to stop. With a cursor, the
// consumer's cursor is committed on the node after each batch was visited (at-least-once: a change
// is visited again after a crash between the visit and the commit). Returns OK when caught up (not
// following), at the limit or when `visit` stopped; otherwise the first error (DeadlineExceeded
// when the connection was lost).
Status WatchFeed(Client& client, const WatchOptions& options, const std::function<bool(const FeedChange&)>& visit);

}  // namespace syncline

#endif  // SYNCLINE_NODE_CLIENT_H_
