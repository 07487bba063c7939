// SimCluster: N replicas in one thread, each with an in-memory store (which survives a simulated
// crash), a skewed manual clock, and a log-shipping session per link of the topology, connected
// through SimNetwork. Time is simulated; Run* advance it deterministically.
#ifndef SYNCLINE_TESTS_SIM_SIM_CLUSTER_H_
#define SYNCLINE_TESTS_SIM_SIM_CLUSTER_H_

#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "sim_network.h"
#include "syncline/core/clock.h"
#include "syncline/core/feed.h"
#include "syncline/core/memory_store.h"
#include "syncline/replication/log_shipping.h"
#include "syncline/replication/replica.h"
#include "syncline/replication/snapshot.h"

namespace syncline::sim {

enum class Topology { kMesh, kChain, kStar, kRing };
const char* TopologyName(Topology t);

struct ClusterOptions {
  int nodes = 3;
  Topology topology = Topology::kMesh;
  NetworkOptions network;
  replication::ShippingOptions shipping;
  int64_t tick_millis = 50;
  int64_t max_skew_millis = 5000;  // each node's wall clock is off by up to this, either way
  replication::SnapshotOptions snapshot;
  // The change-feed tail every node keeps (its log keeps what the feed lists).
  uint64_t feed_retain_entries = core::kDefaultFeedRetainEntries;
  // Log retention's segment size (RetentionOptions::log_segment_changes; 0: no segments).
  uint64_t log_segment_changes = replication::kDefaultLogSegmentChanges;
  // Called on every delivered snapshot chunk (from, to, frame): a test may corrupt it.
  std::function<void(int, int, replication::Frame*)> tamper_chunk;
};

class SimCluster;

// Draws the faults of a randomized run into `opts`: drop and duplicate rates up to 10 %, delays
// up to 200 ms, batch and window sizes, relay delays.
void RandomizeFaults(std::mt19937_64& rng, ClusterOptions* opts);

// One fault of a randomized run, for `event` below 10 (of 0..99): 0-2 cut a random link, 3-4 heal
// every link, 5-6 crash `node`, 7-9 restart it.
void RandomFault(SimCluster& cluster, std::mt19937_64& rng, int event, int node);

class SimCluster {
 public:
  SimCluster(ClusterOptions options, uint64_t seed);
  ~SimCluster();

  int size() const { return static_cast<int>(nodes_.size()); }
  int64_t now() const { return now_; }
  SimNetwork& network() { return network_; }
  replication::Replica& replica(int i) { return *nodes_[i]->replica; }
  bool up(int i) const { return nodes_[i]->up; }
  const std::vector<std::pair<int, int>>& links() const { return links_; }

  // Creates the collection on node `i` only (it spreads with the first change).
  void CreateCollection(int i, const std::string& name, const std::string& resolver);

  // After a local write on node `i`: let its sessions stream the new change.
  void Notify(int i);

  // Advances simulated time by `millis`, delivering messages and ticking sessions.
  void RunFor(int64_t millis);
  // Runs until nothing is in flight and every session is idle, or `max_millis` passed.
  // Returns true if quiescent.
  bool RunUntilQuiet(int64_t max_millis);

  // Crash: the node loses its sessions and in-flight messages; its store's committed data stays.
  void Crash(int i);
  void Restart(int i);

  std::string Digest(int i);

  // Snapshot bootstrap progress of node `i` (default when it is down).
  replication::BootstrapStatus Bootstrap(int i) const;
  // Log retention on node `i`: truncates below what its connected peers acknowledged and to at
  // most `max_changes_per_origin` changes per origin.
  void ApplyRetention(int i, uint64_t max_changes_per_origin);
  // Log segments retention dropped whole so far, on every node.
  uint64_t segments_dropped() const { return segments_dropped_; }
  // Garbage collection on node `i` (gc.h), with the horizon a node computes: the minimum of what
  // its peers' sessions acknowledged, only once it has a subscribed session with every other node
  // and holds each one's own changes up to what that one acknowledged for itself. Returns the keys
  // removed (0 when down or no horizon).
  uint64_t CollectGarbage(int i);
  std::string DebugSessions();

 private:
  struct Node {
    int index = 0;
    std::shared_ptr<core::MemoryStorage> storage;
    std::unique_ptr<core::Store> store;
    std::unique_ptr<ManualClock> clock;
    int64_t skew = 0;
    std::unique_ptr<replication::Replica> replica;
    std::map<int, std::unique_ptr<replication::ShippingSession>> sessions;  // by peer
    std::map<int, uint64_t> generation;                                      // by peer
    std::unique_ptr<replication::SnapshotReceiver> receiver;
    std::map<int, std::unique_ptr<replication::SnapshotSender>> senders;     // by peer
    bool up = true;
  };
  void OpenNode(Node& n);
  void Connect(int a, int b);
  void Disconnect(int a, int b);
  void UpdateDirectOrigins(int i);
  void Handle(int node, int peer, replication::SessionOutput out);
  void Deliver(const Message& m);
  void DeliverSnapshot(const Message& m);
  void HandleSnapshot(int node, replication::SnapshotReceiverOutput out);
  void SendSnapshotFrames(int node, int peer, std::vector<replication::OutFrame> frames);
  void Tick();
  void SetClocks();

  ClusterOptions options_;
  uint64_t segments_dropped_ = 0;
  std::mt19937_64 rng_;
  SimNetwork network_;
  std::vector<std::unique_ptr<Node>> nodes_;
  std::vector<std::pair<int, int>> links_;
  int64_t now_ = 0;
  int64_t next_tick_ = 0;
  uint64_t next_generation_ = 1;
};

}  // namespace syncline::sim

#endif  // SYNCLINE_TESTS_SIM_SIM_CLUSTER_H_
