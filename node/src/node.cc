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
  ro.max_writes_per_commit = node->options_.max_writes_per_commit;
  ro.index_secret = node->options_.secret;
  ro.rebuild_item_index = node->options_.rebuild_item_index;
  auto replica = replication::Replica::Open(node->store_.get(), ro);
  if (!replica.ok()) return replica.status().WithContext("node '" + node->options_.node_id + "'");
  node->replica_ = std::move(replica).value();
  replication::LeaderFollowerOptions lo;
  lo.node_id = node->options_.node_id;
  if (node->options_.serve_clients && node->options_.client_port != 0) {
    lo.client_address = node->options_.client_host + ":" + std::to_string(node->options_.client_port);
  }
  lo.mode = node->options_.mode;
  lo.initial_leader = node->options_.initial_leader;
  lo.cluster_size = node->options_.cluster_size != 0 ? node->options_.cluster_size : node->options_.peers.size() + 1;
  lo.promote_timeout_millis = node->options_.promote_timeout_millis;
  lo.log = node->options_.log;
  auto leadership = replication::LeaderFollower::Open(node->replica_.get(), lo);
  if (!leadership.ok()) return leadership.status().WithContext("node '" + node->options_.node_id + "'");
  node->leadership_ = std::move(leadership).value();
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
  ro.transport.handshake.mode = leadership_->state().mode;
  ro.transport.handshake.epoch = leadership_->state().epoch;
  ro.leadership = leadership_.get();
  ro.transport.handshake.secret = options_.secret;
  ro.transport.log = options_.log;
  ro.shipping = options_.shipping;
  ro.snapshot = options_.snapshot;
  ro.retention = options_.retention;
  ro.gc = options_.gc;
  ro.anti_entropy = options_.anti_entropy;
  ro.peers = options_.peers;
  ro.log = options_.log;
  rt.replicator = std::make_unique<replication::Replicator>(*rt.io, replica_.get(), ro);
  // A start that fails leaves no runtime behind: the replicator refers to the replica, which Stop
  // (or the destructor) frees.
  auto fail = [&rt](Status s) {
    rt.replicator->Stop();
    rt.replicator.reset();
    rt.clients.reset();
    rt.own_io.reset();
    rt.io = nullptr;
    return s;
  };
  // Listening happens here, before the io_context runs, so the port is known on return.
  if (Status s = rt.replicator->Start(); !s.ok()) return fail(std::move(s));
  peer_port_ = rt.replicator->port();
  if (options_.serve_clients) {
    node::ClientServerOptions co;
    co.host = options_.client_host;
    co.port = options_.client_port;
    co.max_frame_bytes = options_.max_frame_bytes;
    co.log = options_.log;
    rt.clients = std::make_unique<node::ClientServer>(*rt.io, this, co);
    Status s = rt.clients->Listen();
    if (!s.ok()) return fail(std::move(s));
    client_port_ = rt.clients->port();
    leadership_->SetClientAddress(options_.client_host + ":" + std::to_string(client_port_));
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
    // Writes waiting for followers are answered "unknown" while the io_context still exists.
    if (leadership_) {
      leadership_->Abort(Status::DeadlineExceeded("node '" + options_.node_id +
                                                  "' stopped before the write was acknowledged; the outcome is unknown"));
    }
    rt.clients.reset();
    rt.replicator.reset();
    rt.own_io.reset();
  }
  leadership_.reset();
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
  st.peer_port = peer_port_;
  if (leadership_) {
    replication::EpochState es = leadership_->state();
    st.mode = es.mode;
    st.role = leadership_->role();
    st.epoch = es.epoch;
    st.leader = es.leader;
    st.leader_client = es.leader_client;
    st.pending_acks = leadership_->pending_acks();
  }
  if (runtime_->replicator) st.behind_leader = runtime_->replicator->BehindLeader(&st.leader_connected);
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
    st.gc = runtime_->replicator->Gc();
    st.anti_entropy = runtime_->replicator->AntiEntropy();
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

// Leader-follower mode: writes under the epoch rules with acknowledgement levels, promotion.

void Node::WriteAsync(std::string collection, std::string key, replication::WriteOp op,
                      std::optional<replication::AckLevel> ack, int64_t timeout_millis, WriteDone done) {
  if (!leadership_) {
    done(Status::Unavailable("node '" + options_.node_id + "' is stopped"));
    return;
  }
  if (Status allowed = leadership_->CheckWrite(); !allowed.ok()) {
    done(allowed);
    return;
  }
  replication::AckLevel level = ack.value_or(options_.default_ack);
  replication::Replicator* replicator = runtime_->replicator.get();
  if (level != replication::AckLevel::kLocal && replicator == nullptr) {
    done(Status::FailedPrecondition("node '" + options_.node_id + "' is not started, so no follower can acknowledge a '" +
                                    std::string(replication::AckLevelName(level)) + "' write; nothing was applied"));
    return;
  }
  int64_t timeout = timeout_millis > 0 ? timeout_millis : options_.ack_timeout_millis;
  replica_->Write(std::move(collection), std::move(key), std::move(op),
                  [replicator, level, timeout, done = std::move(done)](Result<replication::WriteResult> r) {
                    if (!r.ok() || level == replication::AckLevel::kLocal) {
                      done(std::move(r));
                      return;
                    }
                    replication::WriteResult result = *r;
                    replicator->WaitForAck(result.dot, level, timeout, [result, done](Status s) {
                      if (s.ok()) {
                        done(result);
                      } else {
                        done(s);
                      }
                    });
                  });
}

Result<replication::WriteResult> Node::Write(std::string collection, std::string key, replication::WriteOp op) {
  return Write(std::move(collection), std::move(key), std::move(op), options_.default_ack);
}

Result<replication::WriteResult> Node::Write(std::string collection, std::string key, replication::WriteOp op,
                                             replication::AckLevel ack) {
  std::promise<Result<replication::WriteResult>> p;
  auto f = p.get_future();
  WriteAsync(std::move(collection), std::move(key), std::move(op), ack, 0,
             [&p](Result<replication::WriteResult> r) { p.set_value(std::move(r)); });
  return f.get();
}

void Node::PromoteAsync(std::string mode, std::function<void(Status)> done) {
  if (!runtime_->replicator) {
    done(Status::FailedPrecondition("node '" + options_.node_id + "' is not started; start it before promoting it"));
    return;
  }
  runtime_->replicator->Promote(std::move(mode), std::move(done));
}

Result<std::vector<replication::AntiEntropyRun>> Node::RunAntiEntropy(std::string peer_node_id) {
  auto p = std::make_shared<std::promise<Result<std::vector<replication::AntiEntropyRun>>>>();
  auto f = p->get_future();
  RunAntiEntropyAsync(std::move(peer_node_id),
                      [p](Result<std::vector<replication::AntiEntropyRun>> r) { p->set_value(std::move(r)); });
  return f.get();
}

void Node::RunAntiEntropyAsync(std::string peer_node_id, AntiEntropyDone done) {
  if (!runtime_->started || !runtime_->replicator) {
    done(Status::FailedPrecondition("node '" + options_.node_id + "' is not started; start it before running anti-entropy"));
    return;
  }
  runtime_->replicator->RunAntiEntropy(std::move(peer_node_id), std::move(done));
}

uint64_t Node::BehindLeader(bool* leader_connected) const {
  if (leader_connected != nullptr) *leader_connected = false;
  if (!runtime_->replicator) return 0;
  return runtime_->replicator->BehindLeader(leader_connected);
}

Status Node::Promote(std::string mode) {
  std::promise<Status> p;
  auto f = p.get_future();
  PromoteAsync(std::move(mode), [&p](Status s) { p.set_value(std::move(s)); });
  return f.get();
}

}  // namespace syncline
