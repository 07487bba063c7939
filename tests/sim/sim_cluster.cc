#include "sim_cluster.h"

#include <algorithm>
#include <stdexcept>

namespace syncline::sim {

const char* TopologyName(Topology t) {
  switch (t) {
    case Topology::kMesh: return "mesh";
    case Topology::kChain: return "chain";
    case Topology::kStar: return "star";
    case Topology::kRing: return "ring";
  }
  return "?";
}

namespace {
constexpr int64_t kEpochMillis = 1'800'000'000'000;

void Check(const Status& s, const char* what) {
  if (!s.ok()) throw std::runtime_error(std::string(what) + ": " + s.ToString());
}
}  // namespace

SimCluster::SimCluster(ClusterOptions options, uint64_t seed)
    : options_(options), rng_(seed), network_(options.network, seed ^ 0x9e3779b97f4a7c15ULL) {
  std::uniform_int_distribution<int64_t> skew(-options_.max_skew_millis, options_.max_skew_millis);
  for (int i = 0; i < options_.nodes; ++i) {
    auto n = std::make_unique<Node>();
    n->index = i;
    n->storage = core::NewMemoryStorage();
    n->skew = skew(rng_);
    n->clock = std::make_unique<ManualClock>(kEpochMillis + n->skew, 0);
    nodes_.push_back(std::move(n));
  }
  for (auto& n : nodes_) OpenNode(*n);
  int n = options_.nodes;
  switch (options_.topology) {
    case Topology::kMesh:
      for (int a = 0; a < n; ++a)
        for (int b = a + 1; b < n; ++b) links_.push_back({a, b});
      break;
    case Topology::kChain:
      for (int a = 0; a + 1 < n; ++a) links_.push_back({a, a + 1});
      break;
    case Topology::kStar:
      for (int b = 1; b < n; ++b) links_.push_back({0, b});
      break;
    case Topology::kRing:
      for (int a = 0; a < n; ++a) links_.push_back({std::min(a, (a + 1) % n), std::max(a, (a + 1) % n)});
      break;
  }
  for (auto [a, b] : links_) Connect(a, b);
}

SimCluster::~SimCluster() {
  for (auto& n : nodes_) {
    n->sessions.clear();
    n->senders.clear();
    n->receiver.reset();
    n->replica.reset();
    if (n->store) (void)n->store->Close();
  }
}

void SimCluster::OpenNode(Node& n) {
  core::MemoryStoreOptions so;
  so.storage = n.storage;
  so.seed = 1000 + static_cast<uint64_t>(n.index);
  n.store = core::OpenMemoryStore(so);
  uint64_t retain = options_.feed_retain_entries;
  Check(n.store->WriteAndWait([retain](core::WriteTxn& txn) { return core::SetFeedRetention(txn, retain); }),
        "setting the feed retention of a simulated node");
  replication::ReplicaOptions ro;
  ro.clock = n.clock.get();
  ro.hlc.drift_policy = DriftPolicy::kClamp;
  auto r = replication::Replica::Open(n.store.get(), ro);
  Check(r.status(), "opening a simulated replica");
  n.replica = std::move(r).value();
  n.up = true;
  // An install interrupted by the crash resumes from what the store recorded.
  n.receiver = std::make_unique<replication::SnapshotReceiver>(options_.snapshot, now_);
  // As the Replicator does: no new install while serving a peer that ranks above this node.
  n.receiver->SetBeginGate([&n] {
    if (n.replica->snapshot_progress().installing) return true;
    for (const auto& [peer, sender] : n.senders) {
      if (peer > n.index && sender != nullptr && sender->active()) return false;
    }
    return true;
  });
  replication::SnapshotProgress p = n.replica->snapshot_progress();
  n.receiver->Restore(p.installing, p.next_begin, p.keys, p.bytes, p.chunks);
}

void SimCluster::CreateCollection(int i, const std::string& name, const std::string& resolver) {
  Check(nodes_[i]->replica->CreateCollection(name, resolver), "creating a collection");
}

void SimCluster::Connect(int a, int b) {
  if (!nodes_[a]->up || !nodes_[b]->up) return;
  uint64_t gen = next_generation_++;
  for (auto [x, y] : {std::pair{a, b}, std::pair{b, a}}) {
    Node& n = *nodes_[x];
    n.generation[y] = gen;
    n.sessions[y] = std::make_unique<replication::ShippingSession>(options_.shipping, n.replica.get(), now_);
    n.sessions[y]->SetPeerOrigin(nodes_[y]->replica->id());
    n.senders[y] = std::make_unique<replication::SnapshotSender>(options_.snapshot, n.replica.get());
  }
  for (auto [x, y] : {std::pair{a, b}, std::pair{b, a}}) {
    replication::SessionOutput out;
    nodes_[x]->sessions[y]->Start(now_, &out);
    Handle(x, y, std::move(out));
  }
  UpdateDirectOrigins(a);
  UpdateDirectOrigins(b);
  for (auto [x, y] : {std::pair{a, b}, std::pair{b, a}}) {
    replication::SnapshotReceiverOutput out;
    nodes_[x]->receiver->OnPeerUp(std::to_string(y), now_, &out);
    HandleSnapshot(x, std::move(out));
  }
}

void SimCluster::UpdateDirectOrigins(int i) {
  Node& n = *nodes_[i];
  if (!n.up) return;
  std::vector<int> peers;
  for (auto& [peer, session] : n.sessions) peers.push_back(peer);
  for (int peer : peers) {
    std::vector<ReplicaId> direct;
    for (int other : peers) {
      if (other != peer && nodes_[other]->up) direct.push_back(nodes_[other]->replica->id());
    }
    replication::SessionOutput out;
    n.sessions[peer]->SetDirectOrigins(std::move(direct), now_, &out);
    Handle(i, peer, std::move(out));
  }
}

void SimCluster::Disconnect(int a, int b) {
  nodes_[a]->sessions.erase(b);
  nodes_[a]->generation.erase(b);
  nodes_[b]->sessions.erase(a);
  nodes_[b]->generation.erase(a);
  for (auto [x, y] : {std::pair{a, b}, std::pair{b, a}}) {
    Node& n = *nodes_[x];
    n.senders.erase(y);
    if (n.receiver == nullptr) continue;
    replication::SnapshotReceiverOutput out;
    n.receiver->OnPeerDown(std::to_string(y), now_, &out);
    HandleSnapshot(x, std::move(out));
  }
  UpdateDirectOrigins(a);
  UpdateDirectOrigins(b);
}

void SimCluster::Handle(int node, int peer, replication::SessionOutput out) {
  // Applies complete inline (the in-memory store), and may produce more output; work through it
  // iteratively so nothing recurses without bound.
  std::vector<replication::SessionOutput> work;
  work.push_back(std::move(out));
  while (!work.empty()) {
    replication::SessionOutput cur = std::move(work.back());
    work.pop_back();
    Node& n = *nodes_[node];
    auto it = n.sessions.find(peer);
    if (it == n.sessions.end()) return;
    for (auto& f : cur.frames) {
      network_.Send(now_, node, peer, n.generation[peer], replication::Frame{f.type, std::move(f.payload)});
    }
    bool applied = false;
    for (auto& req : cur.applies) {
      Result<replication::ApplyStats> result = Status::Internal("apply did not complete");
      n.replica->ApplyChanges(std::move(req.changes), std::move(req.encoded),
                              [&](Result<replication::ApplyStats> r) { result = std::move(r); });
      replication::SessionOutput next;
      it->second->OnApplied(req.seq, result.status(), now_, &next);
      work.push_back(std::move(next));
      if (result.ok() && result->applied > 0) applied = true;
    }
    if (applied) {
      // New changes here: every other session of this node may have something to relay.
      for (auto& [other, session] : n.sessions) {
        if (other == peer) continue;
        replication::SessionOutput more;
        session->OnLocalChanges(now_, &more);
        Handle(node, other, std::move(more));
      }
    }
  }
}

void SimCluster::Notify(int i) {
  Node& n = *nodes_[i];
  for (auto& [peer, session] : n.sessions) {
    replication::SessionOutput out;
    session->OnLocalChanges(now_, &out);
    Handle(i, peer, std::move(out));
  }
}

void SimCluster::Deliver(const Message& m) {
  Node& n = *nodes_[m.to];
  if (!n.up) return;
  auto g = n.generation.find(m.from);
  if (g == n.generation.end() || g->second != m.generation) return;  // an old connection's message
  switch (m.frame.type) {
    case replication::MessageType::kSnapshotNeeded:
    case replication::MessageType::kSnapshotRequest:
    case replication::MessageType::kSnapshotChunk:
    case replication::MessageType::kSnapshotChunkAck:
    case replication::MessageType::kSnapshotRefused:
      DeliverSnapshot(m);
      return;
    default:
      break;
  }
  auto it = n.sessions.find(m.from);
  replication::SessionOutput out;
  Status s = it->second->OnFrame(m.frame, now_, &out);
  Check(s, "a simulated peer sent a frame the session refused");
  Handle(m.to, m.from, std::move(out));
}

void SimCluster::Tick() {
  for (auto& n : nodes_) {
    if (!n->up) continue;
    for (auto& [peer, sender] : n->senders) {
      std::vector<replication::OutFrame> frames;
      sender->OnTick(now_, &frames);
      SendSnapshotFrames(n->index, peer, std::move(frames));
    }
    replication::SnapshotReceiverOutput sout;
    n->receiver->OnTick(now_, &sout);
    HandleSnapshot(n->index, std::move(sout));
    std::vector<int> peers;
    for (auto& [peer, session] : n->sessions) peers.push_back(peer);
    for (int peer : peers) {
      auto it = n->sessions.find(peer);
      if (it == n->sessions.end()) continue;
      replication::SessionOutput out;
      it->second->OnTick(now_, &out);
      Handle(n->index, peer, std::move(out));
    }
  }
}

void SimCluster::SetClocks() {
  for (auto& n : nodes_) n->clock->SetWallMillis(kEpochMillis + n->skew + now_);
}

void SimCluster::RunFor(int64_t millis) {
  int64_t end = now_ + millis;
  while (true) {
    int64_t next = std::min({network_.NextDue(), next_tick_, end});
    now_ = std::max(now_, next);
    SetClocks();
    Message m;
    while (network_.PopDue(now_, &m)) Deliver(m);
    if (now_ >= next_tick_) {
      Tick();
      next_tick_ = now_ + options_.tick_millis;
    }
    if (now_ >= end) break;
  }
}

bool SimCluster::RunUntilQuiet(int64_t max_millis) {
  // Quiet: every live replica holds the same changes, no batch waits for an acknowledgement and
  // no snapshot is being installed (a node's context may equal the others' before its install's
  // last chunk arrived). (Subscriptions keep flowing while idle; they carry nothing new.)
  int64_t end = now_ + max_millis;
  while (now_ < end) {
    RunFor(options_.tick_millis);
    bool busy = false;
    const DotContext* first = nullptr;
    DotContext first_ctx;
    for (auto& n : nodes_) {
      if (!n->up) continue;
      for (auto& [peer, session] : n->sessions) busy = busy || session->in_flight() > 0;
      busy = busy || n->replica->snapshot_progress().installing;
      DotContext ctx = n->replica->Context();
      if (first == nullptr) {
        first_ctx = ctx;
        first = &first_ctx;
      } else if (!(ctx == *first)) {
        busy = true;
      }
    }
    if (!busy) return true;
  }
  return false;
}

void SimCluster::Crash(int i) {
  Node& n = *nodes_[i];
  if (!n.up) return;
  for (auto [a, b] : links_) {
    if (a == i || b == i) Disconnect(a, b);
  }
  n.senders.clear();
  n.receiver.reset();
  n.replica.reset();
  (void)n.store->Close();
  n.store.reset();
  n.up = false;
}

void SimCluster::Restart(int i) {
  Node& n = *nodes_[i];
  if (n.up) return;
  OpenNode(n);
  for (auto [a, b] : links_) {
    if (a == i || b == i) Connect(a, b);
  }
}

void SimCluster::SendSnapshotFrames(int node, int peer, std::vector<replication::OutFrame> frames) {
  Node& n = *nodes_[node];
  auto g = n.generation.find(peer);
  if (g == n.generation.end()) return;
  for (auto& f : frames) network_.Send(now_, node, peer, g->second, replication::Frame{f.type, std::move(f.payload)});
}

void SimCluster::DeliverSnapshot(const Message& m) {
  Node& n = *nodes_[m.to];
  replication::Frame frame = m.frame;
  if (frame.type == replication::MessageType::kSnapshotRequest ||
      frame.type == replication::MessageType::kSnapshotChunkAck) {
    auto it = n.senders.find(m.from);
    if (it == n.senders.end()) return;
    std::vector<replication::OutFrame> frames;
    Check(it->second->OnFrame(frame, now_, &frames), "a simulated peer sent a snapshot frame the sender refused");
    SendSnapshotFrames(m.to, m.from, std::move(frames));
    return;
  }
  if (frame.type == replication::MessageType::kSnapshotChunk && options_.tamper_chunk) {
    options_.tamper_chunk(m.from, m.to, &frame);
  }
  replication::SnapshotReceiverOutput out;
  Check(n.receiver->OnFrame(std::to_string(m.from), frame, n.replica->Context().vv(), now_, &out),
        "a simulated peer sent a snapshot frame the receiver refused");
  HandleSnapshot(m.to, std::move(out));
}

void SimCluster::HandleSnapshot(int node, replication::SnapshotReceiverOutput out) {
  // Installs complete inline (the in-memory store); work through their output iteratively.
  std::vector<replication::SnapshotReceiverOutput> work;
  work.push_back(std::move(out));
  while (!work.empty()) {
    replication::SnapshotReceiverOutput cur = std::move(work.back());
    work.pop_back();
    Node& n = *nodes_[node];
    if (!n.up) return;
    for (auto& [peer, f] : cur.frames) {
      std::vector<replication::OutFrame> frames;
      frames.push_back(std::move(f));
      SendSnapshotFrames(node, std::stoi(peer), std::move(frames));
    }
    for (auto& inst : cur.installs) {
      Status st = Status::Internal("install did not complete");
      n.replica->InstallSnapshotChunk(inst.peer, inst.begin, std::move(inst.chunk), [&](Status s) { st = s; });
      replication::SnapshotReceiverOutput next;
      n.receiver->OnInstalled(inst.transfer_id, inst.seq, st, n.replica->Context().vv(), now_, &next);
      work.push_back(std::move(next));
    }
    if (cur.completed) {
      // Installed: subscribe again at once, so log shipping catches up from the new context.
      std::vector<int> peers;
      for (auto& [peer, session] : n.sessions) peers.push_back(peer);
      for (int peer : peers) {
        auto it = n.sessions.find(peer);
        if (it == n.sessions.end()) continue;
        replication::SessionOutput sout;
        it->second->Resubscribe(now_, &sout);
        Handle(node, peer, std::move(sout));
      }
    }
  }
}

replication::BootstrapStatus SimCluster::Bootstrap(int i) const {
  const Node& n = *nodes_[i];
  if (!n.up || n.receiver == nullptr) return {};
  return n.receiver->status();
}

void SimCluster::ApplyRetention(int i, uint64_t max_changes_per_origin) {
  Node& n = *nodes_[i];
  if (!n.up) return;
  std::vector<VersionVector> acks;
  for (auto& [peer, session] : n.sessions) {
    if (session->peer_subscribed()) acks.push_back(session->peer_context().vv());
  }
  auto report = n.replica->ApplyRetention(replication::StabilityHorizon(acks), max_changes_per_origin, 0,
                                         options_.log_segment_changes);
  Check(report.status(), "log retention");
  segments_dropped_ += report->segments_dropped;
}

void RandomizeFaults(std::mt19937_64& rng, ClusterOptions* opts) {
  opts->network.drop = std::uniform_real_distribution<double>(0.0, 0.1)(rng);
  opts->network.duplicate = std::uniform_real_distribution<double>(0.0, 0.1)(rng);
  opts->network.max_delay_millis = std::uniform_int_distribution<int64_t>(2, 200)(rng);
  opts->shipping.batch_max_changes = std::uniform_int_distribution<size_t>(1, 64)(rng);
  opts->shipping.window_batches = std::uniform_int_distribution<size_t>(1, 4)(rng);
  opts->shipping.retransmit_millis = 600;
  opts->shipping.resubscribe_millis = 1000;
  opts->shipping.relay_delay_millis = std::uniform_int_distribution<int64_t>(0, 1500)(rng);
}

void RandomFault(SimCluster& cluster, std::mt19937_64& rng, int event, int node) {
  if (event < 3) {
    auto [a, b] = cluster.links()[std::uniform_int_distribution<size_t>(0, cluster.links().size() - 1)(rng)];
    cluster.network().Cut(a, b);
  } else if (event < 5) {
    cluster.network().Heal();
  } else if (event < 7) {
    cluster.Crash(node);
  } else {
    cluster.Restart(node);
  }
}

uint64_t SimCluster::CollectGarbage(int i) {
  Node& n = *nodes_[i];
  if (!n.up || !n.replica->Serving()) return 0;
  VersionVector own = n.replica->Context().vv();
  std::vector<VersionVector> acks;
  for (int p = 0; p < size(); ++p) {
    if (p == i) continue;
    auto s = n.sessions.find(p);
    if (s == n.sessions.end() || !s->second->peer_subscribed()) return 0;
    VersionVector ack = s->second->peer_context().vv();
    ReplicaId rid = nodes_[p]->replica->id();
    if (own.Get(rid) < ack.Get(rid)) return 0;
    acks.push_back(std::move(ack));
  }
  auto horizon = replication::StabilityHorizon(acks);
  if (!horizon.has_value()) return 0;
  auto report = n.replica->CollectGarbage(*horizon, std::string(), 0);
  Check(report.status(), "garbage collection");
  return report->removed;
}

std::string SimCluster::Digest(int i) {
  auto d = nodes_[i]->replica->Digest();
  Check(d.status(), "digest");
  // The stored anti-entropy item index must describe the data exactly, and replicas holding
  // equal data must hold equal index sums (the item digest is canonical): both go into the
  // string compared.
  Check(nodes_[i]->replica->CheckItemIndex(), "item index check");
  replication::RangeSum sum;
  Check(nodes_[i]->replica->WithItemIndex([&](const replication::ItemIndex& index) -> Status {
    SYNCLINE_ASSIGN_OR_RETURN(sum, index.RangeFingerprint("", std::nullopt));
    return Status::Ok();
  }),
        "item index sum");
  return *d + "/index:" + std::to_string(sum.lo) + ":" + std::to_string(sum.hi) + ":" + std::to_string(sum.count);
}

}  // namespace syncline::sim

namespace syncline::sim {
std::string SimCluster::DebugSessions() {
  std::string out;
  for (auto& n : nodes_) {
    for (auto& [peer, s] : n->sessions) {
      out += std::to_string(n->index) + "->" + std::to_string(peer) + " sub=" + std::to_string(s->peer_subscribed()) +
             " inflight=" + std::to_string(s->in_flight()) + " rewinds=" + std::to_string(s->stats().rewinds) +
             " resubs=" + std::to_string(s->stats().resubscribes) + " sent=" + std::to_string(s->stats().changes_sent) +
             " known=" + s->peer_context().ToString().substr(0, 200) + "\n";
    }
  }
  return out;
}
}  // namespace syncline::sim
