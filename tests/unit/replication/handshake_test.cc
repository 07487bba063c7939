#include "syncline/replication/handshake.h"

#include <gtest/gtest.h>

#include <random>

namespace syncline::replication {
namespace {

HandshakeConfig Config(const std::string& node, const std::string& secret = "s3cret-s3cret-s3cret",
                       const std::string& cluster = "c1") {
  HandshakeConfig c;
  c.cluster_id = cluster;
  c.node_id = node;
  c.replica_id = ReplicaId(node == "a" ? 1 : 2);
  c.mode = "multi-leader";
  c.secret = secret;
  c.timeout_millis = 1000;
  return c;
}

std::function<void(uint8_t*, size_t)> Seeded(uint64_t seed) {
  auto rng = std::make_shared<std::mt19937_64>(seed);
  return [rng](uint8_t* p, size_t n) {
    for (size_t i = 0; i < n; ++i) p[i] = static_cast<uint8_t>((*rng)());
  };
}

// Delivers bytes between two engines until nothing moves; returns each side's last status.
struct Pair {
  Handshake a, b;
  Status sa, sb;
  std::string a_to_b, b_to_a;
  bool byte_by_byte = false;
  Pair(HandshakeConfig ca, HandshakeConfig cb, std::function<Status(const PeerInfo&)> admit_b = {})
      : a(std::move(ca), 0, Seeded(1)), b(std::move(cb), 0, Seeded(2), std::move(admit_b)) {}
  void Run() {
    a.Start(&a_to_b);
    b.Start(&b_to_a);
    FrameDecoder da, db;
    for (int round = 0; round < 10 && (!a_to_b.empty() || !b_to_a.empty()); ++round) {
      std::vector<Frame> to_b, to_a;
      std::string ab = std::move(a_to_b), ba = std::move(b_to_a);
      a_to_b.clear();
      b_to_a.clear();
      if (byte_by_byte) {
        for (char c : ab) ASSERT_TRUE(db.Feed(std::string(1, c), &to_b).ok());
        for (char c : ba) ASSERT_TRUE(da.Feed(std::string(1, c), &to_a).ok());
      } else {
        ASSERT_TRUE(db.Feed(ab, &to_b).ok());
        ASSERT_TRUE(da.Feed(ba, &to_a).ok());
      }
      for (auto& f : to_b) {
        if (sb.ok()) sb = b.OnFrame(f, &b_to_a);
      }
      for (auto& f : to_a) {
        if (sa.ok()) sa = a.OnFrame(f, &a_to_b);
      }
    }
  }
};

TEST(Handshake, SucceedsBothWays) {
  for (bool byte_by_byte : {false, true}) {
    Pair p(Config("a"), Config("b"));
    p.byte_by_byte = byte_by_byte;
    p.Run();
    ASSERT_TRUE(p.sa.ok()) << p.sa;
    ASSERT_TRUE(p.sb.ok()) << p.sb;
    EXPECT_TRUE(p.a.done());
    EXPECT_TRUE(p.b.done());
    EXPECT_EQ(p.a.peer().node_id, "b");
    EXPECT_EQ(p.b.peer().node_id, "a");
    EXPECT_EQ(p.b.peer().replica_id, ReplicaId(1));
    EXPECT_EQ(p.a.peer().major, kProtocolMajor);
  }
}

TEST(Handshake, WrongClusterIsRefusedOnBothSidesWithTheReason) {
  Pair p(Config("a"), Config("b", "s3cret-s3cret-s3cret", "other"));
  p.Run();
  EXPECT_FALSE(p.a.done());
  EXPECT_FALSE(p.b.done());
  EXPECT_NE(p.sa.message().find("cluster id mismatch"), std::string::npos) << p.sa;
  EXPECT_NE(p.sb.message().find("cluster id mismatch"), std::string::npos) << p.sb;
}

TEST(Handshake, WrongSecretFailsAuthenticationAndRevealsNothing) {
  Pair p(Config("a"), Config("b", "another-secret-value"));
  p.Run();
  EXPECT_FALSE(p.a.done());
  EXPECT_FALSE(p.b.done());
  EXPECT_NE(p.sa.message().find("authentication failed"), std::string::npos) << p.sa;
  EXPECT_NE(p.sb.message().find("authentication failed"), std::string::npos) << p.sb;
}

TEST(Handshake, UnknownMajorVersionIsRefused) {
  Handshake b(Config("b"), 0, Seeded(2));
  std::string out;
  b.Start(&out);
  // A Hello from the future, hand-built: major 2.
  std::string hello;
  {
    Handshake future(Config("a"), 0, Seeded(1));
    future.Start(&hello);
  }
  FrameDecoder d;
  std::vector<Frame> frames;
  ASSERT_TRUE(d.Feed(hello, &frames).ok());
  ASSERT_EQ(frames.size(), 1u);
  // Field 1 (major) is the first byte pair of the payload: tag 0x08, value 1.
  ASSERT_EQ(frames[0].payload[0], 0x08);
  frames[0].payload[1] = 2;
  std::string reply;
  Status s = b.OnFrame(frames[0], &reply);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("not compatible"), std::string::npos) << s;
  EXPECT_FALSE(reply.empty());  // the Refuse frame tells the peer why
}

TEST(Handshake, AdmitCanRefuseADuplicateNode) {
  Pair p(Config("a"), Config("b"), [](const PeerInfo& peer) {
    return Status::AlreadyExists("node '" + peer.node_id + "' is already connected");
  });
  p.Run();
  EXPECT_FALSE(p.b.done());
  EXPECT_NE(p.sb.message().find("already connected"), std::string::npos) << p.sb;
  EXPECT_NE(p.sa.message().find("already connected"), std::string::npos) << p.sa;
}

TEST(Handshake, AReflectedProofIsRefused) {
  // b sends a's own proof back: a proof is bound to its sender's node id, so it fails.
  Handshake a(Config("a"), 0, Seeded(1));
  Handshake b(Config("b"), 0, Seeded(2));
  std::string a_out, b_out;
  a.Start(&a_out);
  b.Start(&b_out);
  FrameDecoder da, db;
  std::vector<Frame> to_a, to_b;
  ASSERT_TRUE(db.Feed(a_out, &to_b).ok());
  ASSERT_TRUE(da.Feed(b_out, &to_a).ok());
  a_out.clear();
  ASSERT_TRUE(a.OnFrame(to_a[0], &a_out).ok());  // a answers b's Hello with its proof
  std::vector<Frame> a_frames;
  ASSERT_TRUE(FrameDecoder().Feed(a_out, &a_frames).ok());
  ASSERT_EQ(a_frames.size(), 1u);
  ASSERT_EQ(a_frames[0].type, MessageType::kProof);
  std::string ignored;
  Status s = a.OnFrame(a_frames[0], &ignored);  // reflected
  EXPECT_NE(s.message().find("authentication failed"), std::string::npos) << s;
  EXPECT_FALSE(a.done());
}

TEST(Handshake, DataBeforeTheHandshakeIsAViolation) {
  Handshake a(Config("a"), 0, Seeded(1));
  std::string out;
  a.Start(&out);
  out.clear();
  Status s = a.OnFrame(Frame{MessageType::kBatch, "x"}, &out);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("before the handshake"), std::string::npos) << s;
  EXPECT_FALSE(out.empty());
}

TEST(Handshake, GarbageHelloIsRefused) {
  Handshake a(Config("a"), 0, Seeded(1));
  std::string out;
  Status s = a.OnFrame(Frame{MessageType::kHello, std::string("\xff\xff\xff\xff", 4)}, &out);
  EXPECT_FALSE(s.ok());
  EXPECT_FALSE(a.done());
}

TEST(Handshake, TimesOut) {
  Handshake a(Config("a"), 1000, Seeded(1));
  EXPECT_TRUE(a.OnTick(1500).ok());
  Status s = a.OnTick(2000);
  EXPECT_EQ(s.code(), StatusCode::kDeadlineExceeded);
}

}  // namespace
}  // namespace syncline::replication
