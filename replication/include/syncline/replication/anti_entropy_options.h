// Anti-entropy between live nodes: the options of the sessions the Replicator runs with its
// peers (in the background and on demand), and what it reports about them per peer.
//
// A session reconciles this node's data with one peer's (anti_entropy.h: a Reconciler on each
// side over an item index built from one read transaction of the data table), then each side
// fetches the states of the keys it needs from the other and merges them through the
// collections' resolvers (Replica::MergeStates), exactly as snapshot chunks are installed. The
// frames, the scheduling, the throttle and what is left to do are in docs/anti-entropy.md
// ("Running sessions").
//
// Thread-safety: value types.
#ifndef SYNCLINE_REPLICATION_ANTI_ENTROPY_OPTIONS_H_
#define SYNCLINE_REPLICATION_ANTI_ENTROPY_OPTIONS_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "syncline/core/status.h"
#include "syncline/replication/anti_entropy.h"

namespace syncline::replication {

struct AntiEntropyOptions {
  // Background sessions: every `interval_millis` this node starts one with each connected peer
  // whose node id is above its own (one session per pair suffices: the outcome is symmetric).
  // Default 60 s; 0 turns the background schedule off (on-demand sessions still run).
  int64_t interval_millis = 60000;
  // Repair traffic this node pulls (states received), in bytes per second, shared by all peers;
  // fetches wait while the budget is spent and ask for at most what it holds (at least one key
  // is always answered, so keep session_timeout_millis above the largest state divided by this
  // rate). 0 (default): unthrottled.
  uint64_t repair_bytes_per_second = 0;
  // Most keys a session fetches; the rest waits for the next session. Default 100,000.
  size_t max_keys_per_session = 100000;
  // Keys asked for in one fetch (default 256), and the most a fetch received may name (1024).
  size_t fetch_keys = 256;
  size_t max_fetch_keys_accepted = 1024;
  // Bytes of states answered to one fetch (at least one key is always answered). Default 4 MiB.
  size_t states_max_bytes = size_t{4} << 20;
  // A session that heard nothing from its peer for this long fails (default 30 s).
  int64_t session_timeout_millis = 30000;
  // The Reconciler's options; both sides must agree on fingerprint_bytes.
  ReconcileOptions reconcile;
};

// What one session with one peer did (Node::RunAntiEntropy returns one per peer).
struct AntiEntropyRun {
  std::string peer;             // node id
  Status status;                // OK, or why the session failed or was refused
  uint64_t session_id = 0;
  uint64_t need = 0;            // keys the peer held that we lacked or held in another state
  uint64_t have = 0;            // keys we held that the peer lacked or held in another state
  uint64_t keys_fetched = 0;    // states fetched from the peer and merged here
  uint64_t keys_sent = 0;       // states this node sent to the peer during the session
  uint64_t peer_keys_fetched = 0;  // what the peer reported merging (initiator only)
  uint64_t ranges_compared = 0;
  uint64_t bytes_sent = 0;      // anti-entropy frame payloads, both reconciliation and repair
  uint64_t bytes_received = 0;
  int64_t duration_millis = 0;
};

// Anti-entropy counters per peer since the node started (kept after the peer disconnects).
struct AntiEntropyPeerStatus {
  std::string node_id;
  bool active = false;               // a session with the peer runs now
  uint64_t sessions_started = 0;     // as initiator or responder
  uint64_t sessions_completed = 0;
  uint64_t sessions_failed = 0;      // timed out, refused, ended by a bad frame or a disconnect
  uint64_t ranges_compared = 0;      // fingerprints compared, summed over sessions
  uint64_t keys_fetched = 0;         // states fetched from the peer and merged here
  uint64_t keys_sent = 0;            // states sent to the peer in answer to its fetches
  uint64_t bytes_sent = 0;           // anti-entropy frame payloads sent to the peer
  uint64_t bytes_received = 0;
  uint64_t bad_frames = 0;           // anti-entropy frames refused (corrupt, unexpected, out of bounds)
  int64_t last_session_unix_millis = 0;  // when the last completed session ended (0: never)
  int64_t last_duration_millis = 0;
  // Divergence estimate: need + have of the last completed session (keys found different).
  uint64_t last_need = 0;
  uint64_t last_have = 0;
  uint64_t divergence = 0;
  std::string last_error;            // of the last failed session
};

}  // namespace syncline::replication

#endif  // SYNCLINE_REPLICATION_ANTI_ENTROPY_OPTIONS_H_
