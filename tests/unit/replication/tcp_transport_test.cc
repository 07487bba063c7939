// The TCP transport on real sockets (127.0.0.1 only). Synchronisation is by running the
// io_context until a condition holds, with a generous overall deadline.
#include "syncline/replication/tcp_transport.h"

#include <gtest/gtest.h>

#include <chrono>

namespace syncline::replication {
namespace {

struct Recorder : TransportHandler {
  std::vector<std::string> connected;
  std::vector<std::pair<std::string, Frame>> frames;
  std::vector<std::pair<std::string, Status>> disconnected;
  int writable = 0;
  void OnPeerConnected(const PeerInfo& peer) override { connected.push_back(peer.node_id); }
  void OnPeerFrame(const std::string& node_id, Frame frame) override { frames.emplace_back(node_id, std::move(frame)); }
  void OnPeerDisconnected(const std::string& node_id, const Status& why) override { disconnected.emplace_back(node_id, why); }
  void OnPeerWritable(const std::string&) override { ++writable; }
};

TcpTransportOptions Options(const std::string& node, const std::string& secret = "shared-secret-value") {
  TcpTransportOptions o;
  o.listen_host = "127.0.0.1";
  o.handshake.cluster_id = "test";
  o.handshake.node_id = node;
  o.handshake.replica_id = ReplicaId(node == "a" ? 1 : 2);
  o.handshake.mode = "multi-leader";
  o.handshake.secret = secret;
  o.handshake.timeout_millis = 2000;
  o.reconnect_min_millis = 20;
  o.reconnect_max_millis = 100;
  return o;
}

bool RunUntil(asio::io_context& io, const std::function<bool()>& done, int seconds = 20) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    io.restart();
    io.run_for(std::chrono::milliseconds(5));
  }
  return true;
}

std::string Address(const TcpTransport& t) { return "127.0.0.1:" + std::to_string(t.port()); }

TEST(TcpTransport, ConnectsAndCarriesFramesBothWaysInOrder) {
  asio::io_context io;
  Recorder ra, rb;
  TcpTransport a(io, Options("a"), &ra), b(io, Options("b"), &rb);
  ASSERT_TRUE(a.Listen().ok());
  ASSERT_TRUE(b.Listen().ok());
  a.AddPeer(Address(b));
  ASSERT_TRUE(RunUntil(io, [&] { return !ra.connected.empty() && !rb.connected.empty(); }));
  EXPECT_EQ(ra.connected[0], "b");
  EXPECT_EQ(rb.connected[0], "a");
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(a.Send("b", MessageType::kBatch, "to-b-" + std::to_string(i)).ok());
    ASSERT_TRUE(b.Send("a", MessageType::kAck, "to-a-" + std::to_string(i)).ok());
  }
  ASSERT_TRUE(RunUntil(io, [&] { return ra.frames.size() == 100 && rb.frames.size() == 100; }));
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(rb.frames[i].second.payload, "to-b-" + std::to_string(i));
    EXPECT_EQ(ra.frames[i].second.payload, "to-a-" + std::to_string(i));
  }
  EXPECT_EQ(a.Send("nobody", MessageType::kBatch, "x").code(), StatusCode::kNotFound);
}

TEST(TcpTransport, WrongSecretConnectsNeitherSide) {
  asio::io_context io;
  Recorder ra, rb;
  TcpTransport a(io, Options("a"), &ra), b(io, Options("b", "a-different-secret"), &rb);
  ASSERT_TRUE(a.Listen().ok());
  ASSERT_TRUE(b.Listen().ok());
  a.AddPeer(Address(b));
  ASSERT_TRUE(RunUntil(io, [&] { return a.counters().handshakes_failed >= 2 && b.counters().handshakes_failed >= 2; }));
  EXPECT_TRUE(ra.connected.empty());
  EXPECT_TRUE(rb.connected.empty());
  EXPECT_TRUE(rb.frames.empty());
}

TEST(TcpTransport, RedialsAPeerThatRestarts) {
  asio::io_context io;
  Recorder ra, rb1, rb2;
  TcpTransport a(io, Options("a"), &ra);
  ASSERT_TRUE(a.Listen().ok());
  auto b = std::make_unique<TcpTransport>(io, Options("b"), &rb1);
  ASSERT_TRUE(b->Listen().ok());
  uint16_t port = b->port();
  a.AddPeer("127.0.0.1:" + std::to_string(port));
  ASSERT_TRUE(RunUntil(io, [&] { return ra.connected.size() == 1; }));
  b->Close();
  b.reset();
  ASSERT_TRUE(RunUntil(io, [&] { return ra.disconnected.size() == 1; }));
  TcpTransportOptions ob = Options("b");
  ob.listen_port = port;
  b = std::make_unique<TcpTransport>(io, ob, &rb2);
  ASSERT_TRUE(b->Listen().ok());
  ASSERT_TRUE(RunUntil(io, [&] { return ra.connected.size() == 2 && rb2.connected.size() == 1; }));
}

TEST(TcpTransport, BackPressureRefusesAndThenSignalsWritable) {
  asio::io_context io;
  Recorder ra, rb;
  TcpTransportOptions oa = Options("a");
  oa.max_send_queue_bytes = 64 * 1024;
  TcpTransport a(io, oa, &ra), b(io, Options("b"), &rb);
  ASSERT_TRUE(a.Listen().ok());
  ASSERT_TRUE(b.Listen().ok());
  a.AddPeer(Address(b));
  ASSERT_TRUE(RunUntil(io, [&] { return !ra.connected.empty() && !rb.connected.empty(); }));
  // Without running the io_context nothing drains: the queue fills and Send refuses.
  std::string chunk(16 * 1024, 'x');
  Status s;
  int sent = 0;
  while ((s = a.Send("b", MessageType::kBatch, chunk)).ok()) ++sent;
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted);
  EXPECT_GT(sent, 2);
  ASSERT_TRUE(RunUntil(io, [&] { return ra.writable > 0 && static_cast<int>(rb.frames.size()) == sent; }));
}

TEST(TcpTransport, OversizedFrameFromARawSocketDropsTheConnection) {
  asio::io_context io;
  Recorder rb;
  TcpTransportOptions ob = Options("b");
  ob.max_frame_bytes = 1024;
  TcpTransport b(io, ob, &rb);
  ASSERT_TRUE(b.Listen().ok());
  asio::ip::tcp::socket raw(io);
  raw.connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), b.port()));
  std::string frame;
  AppendFrame(MessageType::kHello, std::string(4096, 'x'), &frame);
  asio::write(raw, asio::buffer(frame));
  // The transport closes the connection: our read ends.
  bool closed = false;
  char buf[4096];
  std::function<void()> read = [&] {
    raw.async_read_some(asio::buffer(buf), [&](const std::error_code& ec, size_t) {
      if (ec) {
        closed = true;
        return;
      }
      read();
    });
  };
  read();
  ASSERT_TRUE(RunUntil(io, [&] { return closed; }));
  EXPECT_TRUE(rb.connected.empty());
  EXPECT_TRUE(rb.frames.empty());
}

TEST(TcpTransport, DataFramesBeforeTheHandshakeAreNeverDelivered) {
  asio::io_context io;
  Recorder rb;
  TcpTransport b(io, Options("b"), &rb);
  ASSERT_TRUE(b.Listen().ok());
  asio::ip::tcp::socket raw(io);
  raw.connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), b.port()));
  std::string frames;
  AppendFrame(MessageType::kBatch, "sneaky", &frames);
  AppendFrame(MessageType::kSubscribe, "sneaky", &frames);
  asio::write(raw, asio::buffer(frames));
  ASSERT_TRUE(RunUntil(io, [&] { return b.counters().handshakes_failed == 1; }));
  EXPECT_TRUE(rb.frames.empty());
  EXPECT_TRUE(rb.connected.empty());
}

TEST(TcpTransport, SimultaneousDialsSettleOnOneConnection) {
  asio::io_context io;
  Recorder ra, rb;
  TcpTransport a(io, Options("a"), &ra), b(io, Options("b"), &rb);
  ASSERT_TRUE(a.Listen().ok());
  ASSERT_TRUE(b.Listen().ok());
  a.AddPeer(Address(b));
  b.AddPeer(Address(a));
  ASSERT_TRUE(RunUntil(io, [&] { return a.connected().size() == 1 && b.connected().size() == 1; }));
  // Let any second handshake finish and settle; then exactly one connection remains, and it works.
  auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(500);
  RunUntil(io, [&] { return std::chrono::steady_clock::now() > until; });
  EXPECT_EQ(a.connected().size(), 1u);
  EXPECT_EQ(b.connected().size(), 1u);
  ASSERT_TRUE(a.Send("b", MessageType::kBatch, "after").ok());
  ASSERT_TRUE(RunUntil(io, [&] { return !rb.frames.empty(); }));
  EXPECT_EQ(rb.frames.back().second.payload, "after");
}

}  // namespace
}  // namespace syncline::replication
