#include "test_cluster.h"

#include <chrono>
#include <future>

namespace syncline::testing {

TestNode::TestNode(TestNodeOptions options) : options_(std::move(options)), port_(options_.port) {}

TestNode::~TestNode() { Stop(); }

Status TestNode::Open() {
  core::LmdbStoreOptions so;
  so.sync_mode = options_.sync;
  so.map_size_bytes = uint64_t{1} << 30;
  SYNCLINE_ASSIGN_OR_RETURN(store_, core::OpenLmdbStore(options_.dir, so));
  SYNCLINE_ASSIGN_OR_RETURN(replica_, replication::Replica::Open(store_.get(), {}));
  io_ = std::make_unique<asio::io_context>();
  replication::ReplicatorOptions ro;
  ro.transport.listen_host = "127.0.0.1";
  ro.transport.listen_port = port_;
  ro.transport.handshake.cluster_id = options_.cluster_id;
  ro.transport.handshake.node_id = options_.node_id;
  ro.transport.handshake.replica_id = replica_->id();
  ro.transport.handshake.mode = "multi-leader";
  ro.transport.handshake.secret = options_.secret;
  ro.transport.reconnect_max_millis = 500;
  replicator_ = std::make_unique<replication::Replicator>(*io_, replica_.get(), ro);
  SYNCLINE_RETURN_IF_ERROR(replicator_->Start());
  port_ = replicator_->port();
  return Status::Ok();
}

void TestNode::Run(const std::vector<std::string>& peers) {
  for (const auto& p : peers) replicator_->AddPeer(p);
  thread_ = std::thread([io = io_.get()] {
    auto guard = asio::make_work_guard(*io);
    io->run();
  });
}

void TestNode::Stop() {
  if (thread_.joinable()) {
    std::promise<void> stopped;
    asio::post(*io_, [&] {
      replicator_->Stop();
      stopped.set_value();
    });
    stopped.get_future().wait();
    io_->stop();
    thread_.join();
  } else if (replicator_) {
    replicator_->Stop();
  }
  replicator_.reset();
  io_.reset();
  replica_.reset();
  if (store_) (void)store_->Close();
  store_.reset();
}

bool WaitForEqualDigests(const std::vector<TestNode*>& nodes, int64_t deadline_millis,
                         std::vector<std::string>* digests) {
  auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(deadline_millis);
  while (true) {
    digests->clear();
    for (TestNode* n : nodes) {
      auto d = n->replica().Digest();
      digests->push_back(d.ok() ? *d : d.status().ToString());
    }
    bool equal = true;
    for (const auto& d : *digests) equal = equal && d == digests->front();
    if (equal) return true;
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

}  // namespace syncline::testing
