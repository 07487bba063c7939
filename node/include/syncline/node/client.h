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
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "syncline/core/status.h"
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
  std::string peer_address;
  std::string client_address;
  std::map<std::string, std::string> collections;
  std::vector<RemotePeer> peers;
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
  Status CreateCollection(const std::string& name, const std::string& resolver);
  Result<RemoteStatus> GetStatus();
  Result<std::string> Digest();
  // Every key (of `collection`, or all), in order, with its rendering.
  Status Dump(const std::string& collection, std::vector<DumpEntry>* out);

  const std::string& address() const { return address_; }

 private:
  struct Impl;
  explicit Client(std::string address);
  std::unique_ptr<Impl> impl_;
  std::string address_;
};

}  // namespace syncline

#endif  // SYNCLINE_NODE_CLIENT_H_
