// Log shipping sessions between two replicas, driven by hand (no transport): what a publisher
// sends a peer back of the peer's own changes, and when it asks an epoch gate about a change.
#include "syncline/replication/log_shipping.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "replica_node.h"

namespace syncline::replication {
namespace {

using testing::ReplicaNode;

// The changes of `origin` the batches among `out`'s frames carry, as a subscriber reads them.
size_t ChangesOf(const SessionOutput& out, ReplicaId origin) {
  ReplicaNode reader(99);
  ShippingSession probe(ShippingOptions{}, reader.replica.get(), 0);
  size_t n = 0;
  for (const auto& f : out.frames) {
    if (f.type != MessageType::kBatch) continue;
    SessionOutput read;
    EXPECT_TRUE(probe.OnFrame(Frame{f.type, f.payload}, 0, &read).ok());
    for (const auto& req : read.applies) {
      for (const auto& change : req.changes) n += change.dot.replica == origin ? 1 : 0;
    }
  }
  return n;
}

// Hands `from`'s frames of the types given to `to`.
void Deliver(const SessionOutput& from, ShippingSession& to, int64_t now, SessionOutput* out,
             std::vector<MessageType> types) {
  for (const auto& f : from.frames) {
    if (std::find(types.begin(), types.end(), f.type) == types.end()) continue;
    ASSERT_TRUE(to.OnFrame(Frame{f.type, f.payload}, now, out).ok());
  }
}

struct Pair {
  ReplicaNode a{1};  // the publisher
  ReplicaNode b{2};  // the peer that writes
  ShippingOptions options;
  std::unique_ptr<ShippingSession> pub, sub;

  explicit Pair(bool tell_peer_origin) {
    options.relay_delay_millis = 1000;
    pub = std::make_unique<ShippingSession>(options, a.replica.get(), 0);
    sub = std::make_unique<ShippingSession>(options, b.replica.get(), 0);
    if (tell_peer_origin) pub->SetPeerOrigin(b.replica->id());
  }

  // b subscribes to a while it holds nothing, then writes `n` changes that reach a (as they
  // would from b directly, on the other session of the connection).
  void SubscribeThenWrite(int n) {
    SessionOutput s;
    sub->Start(0, &s);
    SessionOutput p;
    Deliver(s, *pub, 0, &p, {MessageType::kSubscribe});
    for (int i = 0; i < n; ++i) {
      ASSERT_TRUE(b.replica->WriteAndWait("reg", "k" + std::to_string(i), WriteOp::Put("v")).ok());
    }
    std::promise<Result<ApplyStats>> applied;
    a.replica->ApplyChanges(b.Log(), [&](Result<ApplyStats> r) { applied.set_value(std::move(r)); });
    auto r = applied.get_future().get();
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_EQ(r->applied, static_cast<uint64_t>(n));
  }
};

TEST(LogShipping, APeersOwnChangesAreNotEchoedBackBeforeTheRelayDelay) {
  Pair p(/*tell_peer_origin=*/true);
  p.SubscribeThenWrite(5);
  SessionOutput now;
  p.pub->OnLocalChanges(10, &now);
  EXPECT_EQ(ChangesOf(now, p.b.replica->id()), 0u) << "the peer's own writes were sent back to it at once";
  // The peer never says it holds them (a peer that lost them): after the delay they go back.
  SessionOutput later;
  p.pub->OnTick(1'500, &later);
  EXPECT_EQ(ChangesOf(later, p.b.replica->id()), 5u);
}

TEST(LogShipping, APeerThatAcknowledgesItsOwnChangesIsNeverSentThem) {
  Pair p(/*tell_peer_origin=*/true);
  p.SubscribeThenWrite(5);
  SessionOutput first;
  p.pub->OnLocalChanges(10, &first);
  // The peer's periodic context update says it holds its five changes.
  SessionOutput update;
  p.sub->OnTick(300, &update);
  SessionOutput handled;
  Deliver(update, *p.pub, 300, &handled, {MessageType::kAck});
  SessionOutput later;
  p.pub->OnTick(1'500, &later);
  p.pub->OnTick(3'000, &later);
  EXPECT_EQ(ChangesOf(first, p.b.replica->id()) + ChangesOf(handled, p.b.replica->id()) +
                ChangesOf(later, p.b.replica->id()),
            0u);
}

TEST(LogShipping, WithoutThePeersIdItsOwnChangesAreSentAtOnce) {
  // The session on its own cannot tell the peer's origin; the host tells it (SetPeerOrigin).
  Pair p(/*tell_peer_origin=*/false);
  p.SubscribeThenWrite(5);
  SessionOutput now;
  p.pub->OnLocalChanges(10, &now);
  EXPECT_EQ(ChangesOf(now, p.b.replica->id()), 5u);
}

// A gate that admits every change of replica `open` by its dot alone and refuses the rest.
struct CountingGate : EpochGate {
  ReplicaId open;
  int admit_calls = 0;
  uint64_t epoch() override { return 7; }
  std::string LocalRecord() override { return {}; }
  bool OnPeerRecord(std::string_view) override { return false; }
  bool Admit(const core::Change& change) override {
    ++admit_calls;
    return change.dot.replica == open;
  }
  bool AdmitsDot(const Dot& dot) override { return dot.replica == open; }
};

TEST(LogShipping, AGateIsAskedAboutAChangeOnlyWhenItsDotAloneDoesNotAdmitIt) {
  ReplicaNode a(1), b(2), c(3);
  for (ReplicaNode* w : {&b, &c}) {
    for (int i = 0; i < 3; ++i) {
      ASSERT_TRUE(w->replica->WriteAndWait("reg", "k" + std::to_string(i), WriteOp::Put("v")).ok());
    }
    std::promise<Result<ApplyStats>> applied;
    a.replica->ApplyChanges(w->Log(), [&](Result<ApplyStats> r) { applied.set_value(std::move(r)); });
    ASSERT_TRUE(applied.get_future().get().ok());
  }
  CountingGate gate;
  gate.open = b.replica->id();
  ShippingOptions o;
  ShippingSession pub(o, a.replica.get(), 0, &gate);
  ReplicaNode d(4);
  ShippingSession sub(o, d.replica.get(), 0, &gate);
  SessionOutput s;
  sub.Start(0, &s);
  SessionOutput out;
  Deliver(s, pub, 0, &out, {MessageType::kSubscribe});
  EXPECT_EQ(ChangesOf(out, b.replica->id()), 3u);
  EXPECT_EQ(ChangesOf(out, c.replica->id()), 0u) << "the gate refused them";
  EXPECT_EQ(gate.admit_calls, 3) << "asked about b's changes, which their dots admit";
}

// A received change keeps the bytes it arrived as: the log (and so what this node relays) holds
// them exactly, fields this build does not know included, and they still decode to the change.
TEST(LogShipping, AReceivedChangeIsLoggedAsTheBytesItArrivedAs) {
  ReplicaNode a(1), b(2);
  ASSERT_TRUE(b.replica->WriteAndWait("reg", "k", WriteOp::Put("v")).ok());
  std::vector<core::Change> changes = b.Log();
  ASSERT_EQ(changes.size(), 1u);
  std::string bytes = core::EncodeChange(changes[0]);
  bytes += std::string("\xf8\x06\x2a", 3);  // field 111, varint 42: unknown to this build
  auto decoded = core::DecodeChange(bytes);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  std::promise<Result<ApplyStats>> applied;
  a.replica->ApplyChanges({*decoded}, {bytes}, [&](Result<ApplyStats> r) { applied.set_value(std::move(r)); });
  auto r = applied.get_future().get();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->applied, 1u);
  std::vector<core::EncodedChange> logged;
  ASSERT_TRUE(a.replica->ReadLogEncoded(b.replica->id(), 1, 10, 1 << 20, &logged).ok());
  ASSERT_EQ(logged.size(), 1u);
  EXPECT_EQ(logged[0].bytes, bytes);
  auto read = a.replica->Read("reg", "k");
  ASSERT_TRUE(read.ok()) << read.status();
}

TEST(LogShipping, EncodingsThatDoNotMatchTheChangesInNumberFailTheBatch) {
  ReplicaNode a(1), b(2);
  ASSERT_TRUE(b.replica->WriteAndWait("reg", "k", WriteOp::Put("v")).ok());
  std::vector<core::Change> changes = b.Log();
  std::promise<Result<ApplyStats>> applied;
  a.replica->ApplyChanges(changes, {"x", "y"}, [&](Result<ApplyStats> r) { applied.set_value(std::move(r)); });
  auto r = applied.get_future().get();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(a.replica->Context().Contains(changes[0].dot));
}

}  // namespace
}  // namespace syncline::replication
