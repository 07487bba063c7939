#include "syncline/node/node.h"

#include <asio.hpp>

#include "client_server.h"
#include "node_feed.h"
#include "syncline/replication/replicator.h"

#include <future>
#include <thread>

namespace syncline {

struct Node::Runtime {
  std::unique_ptr<asio::io_context> own_io;
  asio::io_context* io = nullptr;
  std::unique_ptr<replication::Replicator> replicator;
  std::unique_ptr<node::ClientServer> clients;
  std::thread thread;
  bool started = false;
};

Node::Node(NodeOptions options) : options_(std::move(options)), runtime_(std::make_unique<Runtime>()) {}

Node::~Node() { Stop(); }

Result<std::unique_ptr<Node>> Node::Open(NodeOptions options) {
  if (options.node_id.empty() || options.node_id.size() > 64) {
    return Status::InvalidArgument("node id must be 1..64 bytes, got " + std::to_string(options.node_id.size()));
  }
  if (options.data_dir.empty()) return Status::InvalidArgument("node '" + options.node_id + "' has no data directory");
  std::unique_ptr<Node> node(new Node(std::move(options)));
  core::LmdbStoreOptions so;
  so.sync_mode = node->options_.sync;
  so.map_size_bytes = node->options_.map_size_bytes;
  auto store = core::OpenLmdbStore(node->options_.data_dir, so);
  if (!store.ok()) return store.status().WithContext("node '" + node->options_.node_id + "'");
  node->store_ = std::move(store).value();
  // The cluster a data directory belongs to is fixed when it is created.
  std::string cluster = node->options_.cluster_id;
  Status bound = node->store_->WriteAndWait([&cluster](core::WriteTxn& txn) -> Status {
    auto have = txn.Get(core::Table::kMeta, "cluster_id");
    if (have.ok()) {
      if (*have == cluster) return Status::Ok();
      return Status::FailedPrecondition("data directory belongs to cluster '" + *have + "', not '" + cluster +
                                        "'; use another directory or the right cluster id");
    }
    if (!have.status().IsNotFound()) return have.status();
    return txn.Put(core::Table::kMeta, "cluster_id", cluster);
  });
  if (!bound.ok()) {
    (void)node->store_->Close();
    return bound.WithContext("node '" + node->options_.node_id + "' at " + node->options_.data_dir);
  }
  replication::ReplicaOptions ro;
  ro.registry = node->options_.registry;
  ro.max_value_bytes = node->options_.max_value_bytes;
  auto replica = replication::Replica::Open(node->store_.get(), ro);
  if (!replica.ok()) return replica.status().WithContext("node '" + node->options_.node_id + "'");
  node->replica_ = std::move(replica).value();
  Status feed = node::ConfigureFeed(*node->store_, node->options_);
  if (!feed.ok()) return feed.WithContext("node '" + node->options_.node_id + "': change feed");
  return node;
}

Status Node::Start() {
  Runtime& rt = *runtime_;
  if (rt.started) return Status::FailedPrecondition("node '" + options_.node_id + "' is already started");
  if (options_.io != nullptr) {
    rt.io = options_.io;
  } else {
    rt.own_io = std::make_unique<asio::io_context>();
    rt.io = rt.own_io.get();
  }
  replication::ReplicatorOptions ro;
  ro.transport.listen_host = options_.peer_host;
  ro.transport.listen_port = options_.peer_port;
  ro.transport.max_frame_bytes = options_.max_frame_bytes;
  ro.transport.reconnect_max_millis = options_.reconnect_max_millis;
  ro.transport.handshake.cluster_id = options_.cluster_id;
  ro.transport.handshake.node_id = options_.node_id;
  ro.transport.handshake.replica_id = replica_->id();
  ro.transport.handshake.mode = options_.mode;
  ro.transport.handshake.secret = options_.secret;
  ro.transport.log = options_.log;
  ro.shipping = options_.shipping;
  ro.snapshot = options_.snapshot;
  ro.retention = options_.retention;
  ro.peers = options_.peers;
  ro.log = options_.log;
  rt.replicator = std::make_unique<replication::Replicator>(*rt.io, replica_.get(), ro);
  // Listening happens here, before the io_context runs, so the port is known on return.
  SYNCLINE_RETURN_IF_ERROR(rt.replicator->Start());
  peer_port_ = rt.replicator->port();
  if (options_.serve_clients) {
    node::ClientServerOptions co;
    co.host = options_.client_host;
    co.port = options_.client_port;
    co.max_frame_bytes = options_.max_frame_bytes;
    co.log = options_.log;
    rt.clients = std::make_unique<node::ClientServer>(*rt.io, this, co);
    Status s = rt.clients->Listen();
    if (!s.ok()) {
      rt.replicator->Stop();
      rt.replicator.reset();
      rt.clients.reset();
      return s;
    }
    client_port_ = rt.clients->port();
  }
  if (rt.own_io) {
    rt.thread = std::thread([io = rt.io] {
      auto guard = asio::make_work_guard(*io);
      io->run();
    });
  }
  rt.started = true;
  return Status::Ok();
}

void Node::Stop() {
  Runtime& rt = *runtime_;
  if (rt.started) {
    rt.started = false;
    if (rt.thread.joinable()) {
      std::promise<void> stopped;
      asio::post(*rt.io, [&] {
        if (rt.clients) rt.clients->Close();
        rt.replicator->Stop();
        stopped.set_value();
      });
      stopped.get_future().wait();
      rt.io->stop();
      rt.thread.join();
      // Writes still queued complete now and post their completions to the stopped io_context,
      // which must therefore outlive them: flush before it goes.
      if (store_) store_->Flush();
    } else {
      std::promise<void> stopped;
      auto done = stopped.get_future();
      asio::post(*rt.io, [&] {
        if (rt.clients) rt.clients->Close();
        rt.replicator->Stop();
        stopped.set_value();
      });
      // The caller's io_context runs elsewhere; if it is not running, stop synchronously.
      if (done.wait_for(std::chrono::seconds(5)) != std::future_status::ready) rt.replicator->Stop();
      if (store_) store_->Flush();
    }
    rt.clients.reset();
    rt.replicator.reset();
    rt.own_io.reset();
  }
  replica_.reset();
  if (store_) (void)store_->Close();
  store_.reset();
}

void Node::AddPeer(const std::string& host_port) {
  Runtime& rt = *runtime_;
  if (!rt.started) return;
  asio::post(*rt.io, [r = rt.replicator.get(), host_port] { r->AddPeer(host_port); });
}

void Node::RemovePeer(const std::string& host_port) {
  Runtime& rt = *runtime_;
  if (!rt.started) return;
  asio::post(*rt.io, [r = rt.replicator.get(), host_port] { r->RemovePeer(host_port); });
}

std::string Node::peer_address() const {
  if (!options_.advertised_address.empty()) return options_.advertised_address;
  return options_.peer_host + ":" + std::to_string(peer_port_);
}

NodeStatus Node::GetStatus() const {
  NodeStatus st;
  st.node_id = options_.node_id;
  st.mode = options_.mode;
  st.peer_port = peer_port_;
  st.peer_address = peer_address();
  if (replica_) {
    st.replica_id = replica_->id();
    st.context = replica_->Context();
    st.replica = replica_->stats();
  }
  if (store_) st.store = store_->stats();
  if (store_) node::FillFeedStatus(*store_, &st);
  if (runtime_->replicator) st.peers = runtime_->replicator->Peers();
  if (runtime_->replicator) {
    st.bootstrap = runtime_->replicator->Bootstrap();
    st.retention = runtime_->replicator->Retention();
  }
  if (replica_ && replica_->snapshot_progress().installing) st.bootstrap.installing = true;
  st.client_port = client_port_;
  if (runtime_->clients) {
    const auto& c = runtime_->clients->counters();
    st.client_connections = c.connections.load();
    st.client_requests = c.requests.load();
    st.client_errors = c.errors.load();
    st.client_bad_input = c.bad_input.load();
  }
  return st;
}

}  // namespace syncline
