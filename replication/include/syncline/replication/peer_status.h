// PeerStatus: what a node knows about one replication peer (for status, metrics and the CLI).
//
// Thread-safety: value type.
#ifndef SYNCLINE_REPLICATION_PEER_STATUS_H_
#define SYNCLINE_REPLICATION_PEER_STATUS_H_

#include <cstdint>
#include <string>

#include "syncline/core/dot_context.h"
#include "syncline/replication/log_shipping.h"

namespace syncline::replication {

struct PeerStatus {
  std::string node_id;
  ReplicaId replica_id;
  std::string address;       // the address the peer advertised
  bool subscribed = false;   // the peer subscribed to our log
  DotContext acknowledged;   // what the peer acknowledged holding
  uint64_t lag_changes = 0;  // changes we hold that the peer has not acknowledged
  // Milliseconds since the peer last acknowledged holding everything we hold (0 while it does):
  // how far behind it is in time, whatever the write rate.
  int64_t lag_millis = 0;
  // Estimated bytes of the changes behind: lag_changes times the mean change size shipped to it.
  uint64_t lag_bytes = 0;
  SessionStats stats;
  size_t queued_bytes = 0;   // bytes waiting in our send queue to the peer
};

}  // namespace syncline::replication

#endif  // SYNCLINE_REPLICATION_PEER_STATUS_H_
