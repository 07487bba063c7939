// Anti-entropy between in-process nodes with LMDB stores, over real sockets on 127.0.0.1.
//
// The nodes are made to diverge in a way log shipping cannot repair: states written on two
// isolated source nodes are merged straight into the data of A and B (Replica::MergeStates, the
// repair path itself), so neither log holds them. A session run on demand must then leave both
// with equal digests, a delete not undone, concurrent writes resolved by their resolvers, and the
// repaired keys counted. A corrupt anti-entropy frame from a peer is refused, counted and answered,
// and the node keeps its connections and keeps working.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <future>
#include <map>
#include <optional>
#include <thread>

#include <asio.hpp>

#include "process_support.h"
#include "support/temp_dir.h"
#include "syncline/node/client.h"
#include "syncline/replication/tcp_transport.h"
#include "syncline/replication/v1/anti_entropy.pb.h"
#include "test_cluster.h"

namespace syncline::testing {
namespace {

using replication::WriteOp;

NodeOptions Options(const std::string& id, const TempDir& dir) {
  NodeOptions o = TestNodeOptions(id, (dir / id).string());
  o.sync = core::SyncMode::kNoSync;
  o.anti_entropy.interval_millis = 0;  // on demand only: the test decides when sessions run
  return o;
}

// An isolated node (never started) whose writes only produce states to inject elsewhere.
std::unique_ptr<Node> OpenSource(const std::string& id, const TempDir& dir) {
  auto n = Node::Open(Options(id, dir));
  EXPECT_TRUE(n.ok()) << n.status();
  if (!n.ok()) return nullptr;
  EXPECT_TRUE((*n)->CreateCollection("users", "lww").ok());
  EXPECT_TRUE((*n)->CreateCollection("docs", "mv").ok());
  return std::move(n).value();
}

std::string Write(Node& n, const std::string& coll, const std::string& key, WriteOp op) {
  auto w = n.replica().WriteAndWait(coll, key, std::move(op));
  EXPECT_TRUE(w.ok()) << w.status();
  auto r = n.Read(coll, key);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? r->state : std::string();
}

// Merges states into `n`'s data without any log entry (a hole log shipping cannot fill).
void Inject(Node& n, const std::string& resolver, const std::string& coll,
            const std::vector<std::pair<std::string, std::string>>& states) {
  replication::SnapshotChunkData chunk;
  chunk.collections[coll] = resolver;
  for (const auto& [k, s] : states) chunk.entries.push_back(replication::SnapshotEntry{coll, k, s});
  std::promise<Result<uint64_t>> p;
  n.replica().MergeStates("test", std::move(chunk), [&p](Result<uint64_t> r) { p.set_value(std::move(r)); });
  auto r = p.get_future().get();
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(*r, states.size());
}

// A copy, not a pointer: callers pass a temporary NodeStatus.
std::optional<replication::AntiEntropyPeerStatus> PeerAe(const NodeStatus& st, const std::string& peer) {
  for (const auto& p : st.anti_entropy) {
    if (p.node_id == peer) return p;
  }
  return std::nullopt;
}

bool Connected(Node& n, const std::string& peer) {
  for (const auto& p : n.GetStatus().peers) {
    if (p.node_id == peer) return true;
  }
  return false;
}

// The same on demand through the client protocol and the CLI: a session per node and peer, its
// figures, a peer that is not connected reported as a failed session, and the exit codes.
TEST(AntiEntropyIntegration, ClientAndCliRunSessionsOnDemand) {
  TempDir dir;
  auto s1 = OpenSource("s1", dir);
  auto s2 = OpenSource("s2", dir);
  ASSERT_NE(s1, nullptr);
  ASSERT_NE(s2, nullptr);
  std::string on_a = Write(*s1, "users", "on-a", WriteOp::Put("a"));
  std::string on_b = Write(*s2, "users", "on-b", WriteOp::Put("b"));
  NodeOptions oa = Options("a", dir);
  oa.serve_clients = true;
  auto a = StartNode(oa);
  ASSERT_NE(a, nullptr);
  NodeOptions ob = Options("b", dir);
  ob.peers = {a->peer_address()};
  ob.serve_clients = true;
  auto b = StartNode(ob);
  ASSERT_NE(b, nullptr);
  Inject(*a, "lww", "users", {{"on-a", on_a}});
  Inject(*b, "lww", "users", {{"on-b", on_b}});
  ASSERT_TRUE(WaitFor([&] { return Connected(*a, "b") && Connected(*b, "a"); }));
  ASSERT_NE(a->Digest().value(), b->Digest().value());
  const std::string a_client = "127.0.0.1:" + std::to_string(a->client_port());
  const std::string b_client = "127.0.0.1:" + std::to_string(b->client_port());

  auto client = Client::Connect(a_client, 60000);
  ASSERT_TRUE(client.ok()) << client.status();
  auto runs = (*client)->RunAntiEntropy("");
  ASSERT_TRUE(runs.ok()) << runs.status();
  ASSERT_EQ(runs->size(), 1u);
  EXPECT_TRUE(runs->front().status.ok()) << runs->front().status;
  EXPECT_EQ(runs->front().peer, "b");
  EXPECT_EQ(runs->front().need, 1u);
  EXPECT_EQ(runs->front().have, 1u);
  EXPECT_EQ(runs->front().keys_fetched, 1u);
  EXPECT_EQ(runs->front().keys_sent, 1u);
  EXPECT_GT(runs->front().bytes_sent, 0u);
  EXPECT_GT(runs->front().bytes_received, 0u);
  EXPECT_EQ(a->Digest().value(), b->Digest().value());
  // A peer that is not connected: the request is answered, its session failed and says why.
  auto missing = (*client)->RunAntiEntropy("nosuch");
  ASSERT_TRUE(missing.ok()) << missing.status();
  ASSERT_EQ(missing->size(), 1u);
  EXPECT_FALSE(missing->front().status.ok());
  EXPECT_NE(missing->front().status.message().find("nosuch"), std::string::npos) << missing->front().status;

  // The CLI on both nodes: converged now, so each session finds nothing to repair.
  ProgramRun cli = RunProgram({SYNCLINE_CLI, "--node", a_client, "anti-entropy"});
  EXPECT_EQ(cli.exit_code, 0) << cli.output;
  EXPECT_NE(cli.output.find("completed"), std::string::npos) << cli.output;
  ProgramRun json = RunProgram({SYNCLINE_CLI, "--json", "--node", b_client, "anti-entropy", "--peer", "a"});
  EXPECT_EQ(json.exit_code, 0) << json.output;
  EXPECT_NE(json.output.find("\"sessions\":[{\"peer\":\"a\",\"ok\":true,\"error\":\"\""), std::string::npos)
      << json.output;
  EXPECT_NE(json.output.find("\"need\":0,\"have\":0"), std::string::npos) << json.output;
  ProgramRun failed = RunProgram({SYNCLINE_CLI, "--node", a_client, "anti-entropy", "--peer", "nosuch"});
  EXPECT_EQ(failed.exit_code, 2) << failed.output;
  EXPECT_NE(failed.output.find("failed"), std::string::npos) << failed.output;

  // Status through the client and the CLI carries each peer's anti-entropy record: A ran two
  // sessions with B (one repair, one finding nothing) and B one with A, all completed.
  auto st = (*client)->GetStatus();
  ASSERT_TRUE(st.ok()) << st.status();
  ASSERT_EQ(st->anti_entropy.size(), 1u);
  const replication::AntiEntropyPeerStatus& ae = st->anti_entropy.front();
  EXPECT_EQ(ae.node_id, "b");
  EXPECT_EQ(ae.sessions_completed, 3u);
  EXPECT_EQ(ae.sessions_failed, 0u);
  EXPECT_EQ(ae.keys_fetched, 1u);
  EXPECT_EQ(ae.keys_sent, 1u);
  EXPECT_GT(ae.last_session_unix_millis, 0);
  EXPECT_EQ(ae.last_need + ae.last_have, 0u);
  ProgramRun status = RunProgram({SYNCLINE_CLI, "--node", a_client, "status"});
  EXPECT_EQ(status.exit_code, 0) << status.output;
  EXPECT_NE(status.output.find("ANTI-ENTROPY PEER"), std::string::npos) << status.output;
  ProgramRun status_json = RunProgram({SYNCLINE_CLI, "--json", "--node", a_client, "status"});
  EXPECT_NE(status_json.output.find("\"anti_entropy\":[{\"peer\":\"b\",\"active\":false,\"sessions_started\":3,"
                                    "\"sessions_completed\":3,\"sessions_failed\":0,\"keys_fetched\":1,\"keys_sent\":1"),
            std::string::npos)
      << status_json.output;
}

TEST(AntiEntropyIntegration, OnDemandSessionRepairsWhatLogShippingCannot) {
  TempDir dir;
  auto s1 = OpenSource("s1", dir);
  auto s2 = OpenSource("s2", dir);
  ASSERT_NE(s1, nullptr);
  ASSERT_NE(s2, nullptr);
  std::string x_live = Write(*s1, "users", "x", WriteOp::Put("v1"));
  std::string x_deleted = Write(*s1, "users", "x", WriteOp::Delete());
  std::string y1 = Write(*s1, "users", "y", WriteOp::Put("from-s1"));
  std::string y2 = Write(*s2, "users", "y", WriteOp::Put("from-s2"));  // concurrent with y1
  std::string d1 = Write(*s1, "docs", "d", WriteOp::Put("d1"));
  std::string d2 = Write(*s2, "docs", "d", WriteOp::Put("d2"));        // concurrent: siblings
  std::string a_only = Write(*s1, "users", std::string("a\0only", 6), WriteOp::Put("a"));
  std::string b_only = Write(*s2, "users", "b-only", WriteOp::Put("b"));
  // What the lww resolver makes of the concurrent writes.
  auto lww = conflict::ResolverRegistry::WithBuiltins().Find("lww");
  ASSERT_TRUE(lww.ok());
  std::string y_joined;
  ASSERT_TRUE((*lww)->Join(&y_joined, y1, nullptr).ok());
  ASSERT_TRUE((*lww)->Join(&y_joined, y2, nullptr).ok());
  std::string y_expected = (*lww)->Render(y_joined).value();

  auto a = StartNode(Options("a", dir));
  ASSERT_NE(a, nullptr);
  NodeOptions ob = Options("b", dir);
  ob.peers = {a->peer_address()};
  auto b = StartNode(ob);
  ASSERT_NE(b, nullptr);
  // A holds the delete, B the value it deleted; each holds one side of the concurrent writes.
  Inject(*a, "lww", "users", {{"x", x_deleted}, {"y", y1}, {std::string("a\0only", 6), a_only}});
  Inject(*a, "mv", "docs", {{"d", d1}});
  Inject(*b, "lww", "users", {{"x", x_live}, {"y", y2}, {"b-only", b_only}});
  Inject(*b, "mv", "docs", {{"d", d2}});
  ASSERT_TRUE(WaitFor([&] { return Connected(*a, "b") && Connected(*b, "a"); }));
  ASSERT_NE(a->Digest().value(), b->Digest().value());
  auto head_before = a->ReadFeed(0, 1);
  ASSERT_TRUE(head_before.ok()) << head_before.status();

  auto runs = a->RunAntiEntropy();
  ASSERT_TRUE(runs.ok()) << runs.status();
  ASSERT_EQ(runs->size(), 1u);
  const replication::AntiEntropyRun& run = runs->front();
  ASSERT_TRUE(run.status.ok()) << run.status;
  EXPECT_EQ(run.peer, "b");
  EXPECT_EQ(run.need, 4u);  // x, y, d differ; b-only is missing
  EXPECT_EQ(run.have, 4u);  // x, y, d differ; a\0only is missing there
  EXPECT_EQ(run.keys_fetched, 4u);
  EXPECT_EQ(run.peer_keys_fetched, 4u);
  EXPECT_EQ(run.keys_sent, 4u);

  // The session completes only after both sides merged what they fetched.
  EXPECT_EQ(a->Digest().value(), b->Digest().value());
  for (Node* n : {a.get(), b.get()}) {
    SCOPED_TRACE(n->id());
    auto x = n->Read("users", "x");
    ASSERT_TRUE(x.ok());
    EXPECT_FALSE(x->found) << "the delete was undone: " << x->rendered;
    auto y = n->Read("users", "y");
    ASSERT_TRUE(y.ok());
    EXPECT_EQ(y->rendered, y_expected);
    auto d = n->Read("docs", "d");
    ASSERT_TRUE(d.ok());
    std::vector<std::string> siblings = d->values;
    std::sort(siblings.begin(), siblings.end());
    EXPECT_EQ(siblings, (std::vector<std::string>{"d1", "d2"}));
    EXPECT_TRUE(n->Read("users", "b-only")->found);
    EXPECT_TRUE(n->Read("users", std::string("a\0only", 6))->found);
  }

  NodeStatus sa = a->GetStatus();
  const auto ae_a = PeerAe(sa, "b");
  ASSERT_TRUE(ae_a.has_value());
  EXPECT_EQ(ae_a->sessions_started, 1u);
  EXPECT_EQ(ae_a->sessions_completed, 1u);
  EXPECT_EQ(ae_a->keys_fetched, 4u);
  EXPECT_EQ(ae_a->keys_sent, 4u);
  EXPECT_EQ(ae_a->divergence, 8u);
  EXPECT_GT(ae_a->last_session_unix_millis, 0);
  EXPECT_GT(ae_a->bytes_sent, 0u);
  EXPECT_GT(ae_a->bytes_received, 0u);
  EXPECT_EQ(ae_a->bad_frames, 0u);
  const auto ae_b = PeerAe(b->GetStatus(), "a");
  ASSERT_TRUE(ae_b.has_value());
  EXPECT_EQ(ae_b->sessions_completed, 1u);
  EXPECT_EQ(ae_b->keys_fetched, 4u);
  EXPECT_EQ(ae_b->keys_sent, 4u);

  // A's change feed lists every key the repair changed there as a state entry, with the key's
  // value after the merge: not x, whose delete A held already (B's older value changed nothing).
  auto repaired = a->ReadFeed(head_before->head, 100);
  ASSERT_TRUE(repaired.ok()) << repaired.status();
  std::map<std::string, std::string> entered;
  for (const FeedChange& c : repaired->changes) {
    EXPECT_TRUE(c.state) << c.key;
    EXPECT_FALSE(c.dot.valid()) << c.key;
    EXPECT_FALSE(c.local) << c.key;
    entered[c.collection + "/" + c.key] = c.rendered;
  }
  EXPECT_EQ(entered, (std::map<std::string, std::string>{
                         {"docs/d", a->Read("docs", "d")->rendered},
                         {"users/b-only", "b"},
                         {"users/y", y_expected}}));

  // Converged: the next session finds nothing, from either side.
  auto again = b->RunAntiEntropy("a");
  ASSERT_TRUE(again.ok()) << again.status();
  ASSERT_TRUE(again->front().status.ok()) << again->front().status;
  EXPECT_EQ(again->front().need + again->front().have, 0u);
  EXPECT_EQ(PeerAe(b->GetStatus(), "a")->divergence, 0u);
  EXPECT_EQ(a->Digest().value(), b->Digest().value());
}

// A session repairs at most max_keys_per_session keys; the rest waits for the next session. The
// background schedule (with the repair throttle on) then finishes the job by itself.
TEST(AntiEntropyIntegration, KeysPerSessionBoundAndBackgroundScheduleConverge) {
  TempDir dir;
  auto s1 = OpenSource("s1", dir);
  ASSERT_NE(s1, nullptr);
  std::vector<std::pair<std::string, std::string>> states;
  for (int i = 0; i < 5; ++i) {
    std::string k = "k" + std::to_string(i);
    states.emplace_back(k, Write(*s1, "users", k, WriteOp::Put("v" + std::to_string(i))));
  }
  NodeOptions oa = Options("a", dir);
  oa.anti_entropy.max_keys_per_session = 2;
  auto a = StartNode(oa);
  ASSERT_NE(a, nullptr);
  NodeOptions ob = Options("b", dir);
  ob.peers = {a->peer_address()};
  auto b = StartNode(ob);
  ASSERT_NE(b, nullptr);
  Inject(*b, "lww", "users", states);
  ASSERT_TRUE(WaitFor([&] { return Connected(*a, "b") && Connected(*b, "a"); }));

  auto first = a->RunAntiEntropy("b");
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(first->front().status.ok()) << first->front().status;
  EXPECT_EQ(first->front().need, 5u);
  EXPECT_EQ(first->front().keys_fetched, 2u);
  auto second = a->RunAntiEntropy("b");
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->front().need, 3u);
  EXPECT_EQ(second->front().keys_fetched, 2u);
  EXPECT_NE(a->Digest().value(), b->Digest().value());
  a->Stop();
  a.reset();

  // A restarted with the background schedule on (a frequent one, for the test) and a throttle;
  // "a" sorts below "b", so A starts the sessions. No on-demand run from here on.
  oa.anti_entropy.interval_millis = 200;
  oa.anti_entropy.repair_bytes_per_second = 64 << 10;
  oa.peer_port = 0;
  a = StartNode(oa);
  ASSERT_NE(a, nullptr);
  b->AddPeer(a->peer_address());
  std::vector<std::string> digests;
  ASSERT_TRUE(WaitForEqualDigests({a.get(), b.get()}, 30'000, &digests)) << digests[0] << " " << digests[1];
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(a->Read("users", "k" + std::to_string(i))->found) << i;
  ASSERT_TRUE(WaitFor([&] {
    const auto st = PeerAe(a->GetStatus(), "b");
    return st.has_value() && st->sessions_completed >= 1 && st->keys_fetched == 1;
  }));
}

// Both sides ask for a session with each other at once: one session goes on (or each answers the
// other in turn), every caller gets a completed run, and the nodes converge.
TEST(AntiEntropyIntegration, SessionsStartedFromBothSidesAtOnceBothComplete) {
  TempDir dir;
  auto s1 = OpenSource("s1", dir);
  auto s2 = OpenSource("s2", dir);
  ASSERT_NE(s1, nullptr);
  ASSERT_NE(s2, nullptr);
  std::string y1 = Write(*s1, "users", "y", WriteOp::Put("from-s1"));
  std::string y2 = Write(*s2, "users", "y", WriteOp::Put("from-s2"));
  auto a = StartNode(Options("a", dir));
  ASSERT_NE(a, nullptr);
  NodeOptions ob = Options("b", dir);
  ob.peers = {a->peer_address()};
  auto b = StartNode(ob);
  ASSERT_NE(b, nullptr);
  Inject(*a, "lww", "users", {{"y", y1}});
  Inject(*b, "lww", "users", {{"y", y2}});
  ASSERT_TRUE(WaitFor([&] { return Connected(*a, "b") && Connected(*b, "a"); }));
  for (int round = 0; round < 3; ++round) {
    auto from_a = std::async(std::launch::async, [&] { return a->RunAntiEntropy("b"); });
    auto from_b = std::async(std::launch::async, [&] { return b->RunAntiEntropy("a"); });
    auto ra = from_a.get();
    auto rb = from_b.get();
    ASSERT_TRUE(ra.ok()) << ra.status();
    ASSERT_TRUE(rb.ok()) << rb.status();
    EXPECT_TRUE(ra->front().status.ok()) << round << ": " << ra->front().status;
    EXPECT_TRUE(rb->front().status.ok()) << round << ": " << rb->front().status;
  }
  EXPECT_EQ(a->Digest().value(), b->Digest().value());
  EXPECT_EQ(PeerAe(a->GetStatus(), "b")->sessions_failed, 0u);
  EXPECT_EQ(PeerAe(b->GetStatus(), "a")->sessions_failed, 0u);
}

// A peer that speaks the handshake and then sends what the test tells it to.
class FakePeer final : public replication::TransportHandler {
 public:
  explicit FakePeer(const std::string& dial, const std::string& mode = "multi-leader", uint64_t epoch = 0) {
    replication::TcpTransportOptions o;
    o.handshake.cluster_id = "test-cluster";
    o.handshake.secret = "test-secret";
    o.handshake.node_id = "fake";
    o.handshake.replica_id = ReplicaId(0xfa4e);
    o.handshake.mode = mode;
    o.handshake.epoch = epoch;
    transport_ = std::make_unique<replication::TcpTransport>(io_, o, this);
    EXPECT_TRUE(transport_->Listen().ok());
    transport_->AddPeer(dial);
    thread_ = std::thread([this] {
      auto guard = asio::make_work_guard(io_);
      io_.run();
    });
  }
  ~FakePeer() override {
    std::promise<void> closed;
    asio::post(io_, [&] {
      transport_->Close();
      closed.set_value();
    });
    closed.get_future().wait();
    io_.stop();
    thread_.join();
  }
  void Send(const std::string& to, replication::MessageType type, std::string payload) {
    asio::post(io_, [this, to, type, payload = std::move(payload)] { (void)transport_->Send(to, type, payload); });
  }
  void OnPeerConnected(const replication::PeerInfo& peer) override {
    std::lock_guard<std::mutex> lock(mu_);
    connected_ = peer.node_id;
  }
  void OnPeerFrame(const std::string&, replication::Frame frame) override {
    if (frame.type != replication::MessageType::kAntiEntropyEnd) return;
    replication::v1::AntiEntropyEnd end;
    if (end.ParseFromString(frame.payload)) {
      std::lock_guard<std::mutex> lock(mu_);
      ends_.push_back(end);
    }
  }
  void OnPeerDisconnected(const std::string&, const Status&) override {
    std::lock_guard<std::mutex> lock(mu_);
    connected_.clear();
  }
  std::string connected() {
    std::lock_guard<std::mutex> lock(mu_);
    return connected_;
  }
  std::vector<replication::v1::AntiEntropyEnd> ends() {
    std::lock_guard<std::mutex> lock(mu_);
    return ends_;
  }

 private:
  asio::io_context io_;
  std::unique_ptr<replication::TcpTransport> transport_;
  std::thread thread_;
  std::mutex mu_;
  std::string connected_;
  std::vector<replication::v1::AntiEntropyEnd> ends_;
};

TEST(AntiEntropyIntegration, CorruptFrameIsRefusedCountedAndTheNodeKeepsWorking) {
  TempDir dir;
  auto a = StartNode(Options("a", dir));
  ASSERT_NE(a, nullptr);
  ASSERT_TRUE(a->CreateCollection("users", "lww").ok());
  NodeOptions ob = Options("b", dir);
  ob.peers = {a->peer_address()};
  auto b = StartNode(ob);
  ASSERT_NE(b, nullptr);
  FakePeer fake(a->peer_address());
  ASSERT_TRUE(WaitFor([&] { return fake.connected() == "a" && Connected(*a, "fake") && Connected(*a, "b"); }));

  // A well-framed AntiEntropy frame whose Reconciler message claims another protocol version.
  replication::v1::AntiEntropyMessage bad;
  bad.set_session_id(7);
  bad.set_first(true);
  bad.set_message(std::string("\x02\x0c\x00\x00", 4));
  fake.Send("a", replication::MessageType::kAntiEntropy, bad.SerializeAsString());
  // The message is examined once a's item index is built (off its io thread); a frame arriving
  // before that would fail the session first, so the next one waits for the first refusal.
  ASSERT_TRUE(WaitFor([&] {
    const auto st = PeerAe(a->GetStatus(), "fake");
    return st.has_value() && st->bad_frames == 1 && fake.ends().size() == 1;
  }));
  // And bytes that do not parse at all.
  fake.Send("a", replication::MessageType::kAntiEntropyFetch, std::string("\xff\xff\xff", 3));

  ASSERT_TRUE(WaitFor([&] {
    const auto st = PeerAe(a->GetStatus(), "fake");
    return st.has_value() && st->bad_frames == 2 && fake.ends().size() == 2;
  }));
  NodeStatus st = a->GetStatus();
  const auto ae = PeerAe(st, "fake");
  ASSERT_TRUE(ae.has_value());
  EXPECT_EQ(ae->sessions_failed, 1u);
  EXPECT_EQ(ae->sessions_completed, 0u);
  EXPECT_FALSE(ae->active);
  EXPECT_NE(ae->last_error.find("AntiEntropyFetch"), std::string::npos) << ae->last_error;
  auto ends = fake.ends();
  EXPECT_EQ(ends[0].session_id(), 7u);
  EXPECT_FALSE(ends[0].ok());
  EXPECT_NE(ends[0].reason().find("unsupported anti-entropy protocol version 2"), std::string::npos)
      << ends[0].reason();
  EXPECT_FALSE(ends[1].ok());

  // The connection stays, and the node keeps working: writes replicate, sessions with B run.
  EXPECT_EQ(fake.connected(), "a");
  EXPECT_TRUE(Connected(*a, "fake"));
  ASSERT_TRUE(a->Write("users", "k", WriteOp::Put("v")).ok());
  std::vector<std::string> digests;
  ASSERT_TRUE(WaitForEqualDigests({a.get(), b.get()}, 30'000, &digests));
  auto runs = a->RunAntiEntropy("b");
  ASSERT_TRUE(runs.ok()) << runs.status();
  ASSERT_TRUE(runs->front().status.ok()) << runs->front().status;
  EXPECT_EQ(runs->front().need + runs->front().have, 0u);
}

// Leader-follower mode: repair is still a join, and sessions run only within one epoch.
TEST(AntiEntropyIntegration, LeaderFollowerRepairsWithinOneEpochOnly) {
  TempDir dir;
  auto s1 = OpenSource("s1", dir);
  ASSERT_NE(s1, nullptr);
  std::string x_live = Write(*s1, "users", "x", WriteOp::Put("v1"));
  std::string x_deleted = Write(*s1, "users", "x", WriteOp::Delete());
  NodeOptions oa = Options("a", dir);
  oa.mode = "leader-follower";
  oa.initial_leader = "a";
  auto a = StartNode(oa);
  ASSERT_NE(a, nullptr);
  NodeOptions ob = Options("b", dir);
  ob.mode = "leader-follower";
  ob.initial_leader = "a";
  ob.peers = {a->peer_address()};
  auto b = StartNode(ob);
  ASSERT_NE(b, nullptr);
  Inject(*a, "lww", "users", {{"x", x_live}});
  Inject(*b, "lww", "users", {{"x", x_deleted}});  // the follower holds the later delete
  ASSERT_TRUE(WaitFor([&] { return Connected(*a, "b") && Connected(*b, "a"); }));
  auto runs = b->RunAntiEntropy("a");
  ASSERT_TRUE(runs.ok()) << runs.status();
  ASSERT_TRUE(runs->front().status.ok()) << runs->front().status;
  EXPECT_EQ(a->Digest().value(), b->Digest().value());
  EXPECT_FALSE(a->Read("users", "x")->found);

  // A peer that says it runs another epoch is refused, by name, before anything is compared.
  FakePeer fake(a->peer_address(), "leader-follower", 99);
  ASSERT_TRUE(WaitFor([&] { return Connected(*a, "fake"); }));
  auto refused = a->RunAntiEntropy("fake");
  ASSERT_TRUE(refused.ok()) << refused.status();
  EXPECT_EQ(refused->front().status.code(), StatusCode::kFailedPrecondition) << refused->front().status;
  EXPECT_NE(refused->front().status.message().find("epoch 99"), std::string::npos) << refused->front().status;
}

}  // namespace
}  // namespace syncline::testing
