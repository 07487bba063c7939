// In-process nodes on real sockets: each with its own LMDB store, Replica, Replicator and
// io_context thread, listening on 127.0.0.1. Used by integration tests and the replication
// benchmark.
#ifndef SYNCLINE_TESTS_INTEGRATION_TEST_CLUSTER_H_
#define SYNCLINE_TESTS_INTEGRATION_TEST_CLUSTER_H_

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "syncline/core/lmdb_store.h"
#include "syncline/replication/replica.h"
#include "syncline/replication/replicator.h"

namespace syncline::testing {

struct TestNodeOptions {
  std::string node_id;
  std::string dir;
  uint16_t port = 0;  // 0: any free port
  std::string secret = "test-secret";
  std::string cluster_id = "test-cluster";
  core::SyncMode sync = core::SyncMode::kDurable;
};

class TestNode {
 public:
  explicit TestNode(TestNodeOptions options);
  ~TestNode();

  // Opens the store and replica and listens (the io thread is not started yet).
  Status Open();
  // Dials `peers` and starts the io thread.
  void Run(const std::vector<std::string>& peers);
  // Stops replication and closes the store (the data directory stays).
  void Stop();
  bool running() const { return thread_.joinable(); }

  uint16_t port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  const std::string& id() const { return options_.node_id; }
  replication::Replica& replica() { return *replica_; }
  replication::Replicator& replicator() { return *replicator_; }

 private:
  TestNodeOptions options_;
  uint16_t port_ = 0;
  std::unique_ptr<core::Store> store_;
  std::unique_ptr<replication::Replica> replica_;
  std::unique_ptr<asio::io_context> io_;
  std::unique_ptr<replication::Replicator> replicator_;
  std::thread thread_;
};

// Waits (polling, up to `deadline_millis`) until all running nodes report the same digest;
// returns the digests seen last.
bool WaitForEqualDigests(const std::vector<TestNode*>& nodes, int64_t deadline_millis,
                         std::vector<std::string>* digests);

}  // namespace syncline::testing

#endif  // SYNCLINE_TESTS_INTEGRATION_TEST_CLUSTER_H_
