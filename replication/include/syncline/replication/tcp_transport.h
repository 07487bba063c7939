// TcpTransport: moves frames between this node and its peers over TCP with Asio. This is the one
// public header that includes <asio.hpp>; protocol logic lives in the I/O-free engines.
//
// Every connection, accepted or dialed, first runs the Handshake (handshake.h); nothing but
// handshake frames is read or passed up before it succeeded. Established connections carry frames
// for the TransportHandler; idle ones exchange heartbeats and are dropped after
// `idle_timeout_millis` without a frame. Dialed peers are redialed with jittered exponential
// backoff. One connection per peer node: when two exist (both sides dialed at once), both sides
// keep the one dialed by the node with the smaller node id; a dialer refused because the peer is
// already connected waits until that connection drops before it dials again.
//
// Sending: each peer has a send queue of at most `max_send_queue_bytes`; Send refuses beyond it
// (back-pressure) and OnPeerWritable fires once the queue drained below half. Writes gather the
// queued frames into one system call. TCP_NODELAY is set.
//
// Threading: every method, and every TransportHandler callback, runs on the io_context's thread
// (call Listen and AddPeer before the io_context runs, or from its thread).
#ifndef SYNCLINE_REPLICATION_TCP_TRANSPORT_H_
#define SYNCLINE_REPLICATION_TCP_TRANSPORT_H_

#include <asio.hpp>

#include <array>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "syncline/replication/frame.h"
#include "syncline/replication/handshake.h"

namespace syncline::replication {

struct TcpTransportOptions {
  std::string listen_host = "127.0.0.1";
  uint16_t listen_port = 0;                // 0: any free port (see port())
  HandshakeConfig handshake;
  size_t max_frame_bytes = kDefaultMaxFrameBytes;
  size_t max_send_queue_bytes = size_t{64} << 20;  // per peer
  int64_t idle_timeout_millis = 15000;     // no frame received for this long: drop the connection
  int64_t heartbeat_millis = 2000;         // send a heartbeat when nothing was sent for this long
  int64_t reconnect_min_millis = 100;      // backoff of redials: min, doubling up to max, jittered
  int64_t reconnect_max_millis = 5000;
  std::function<void(std::string_view)> log;  // diagnostics; default none
};

class TransportHandler {
 public:
  virtual ~TransportHandler() = default;
  virtual void OnPeerConnected(const PeerInfo& peer) = 0;
  // Every frame after the handshake except heartbeats.
  virtual void OnPeerFrame(const std::string& node_id, Frame frame) = 0;
  virtual void OnPeerDisconnected(const std::string& node_id, const Status& why) = 0;
  // The send queue to `node_id` fell below half its limit after a Send was refused.
  virtual void OnPeerWritable(const std::string& node_id) { (void)node_id; }
};

struct TransportCounters {
  uint64_t bytes_sent = 0;
  uint64_t bytes_received = 0;
  uint64_t frames_sent = 0;
  uint64_t frames_received = 0;
  uint64_t handshakes_failed = 0;
  uint64_t sends_refused = 0;  // back-pressure
};

class TcpTransport {
 public:
  TcpTransport(asio::io_context& io, TcpTransportOptions options, TransportHandler* handler);
  ~TcpTransport();
  TcpTransport(const TcpTransport&) = delete;
  TcpTransport& operator=(const TcpTransport&) = delete;

  // Binds and listens. Unavailable naming the address when it cannot.
  Status Listen();
  uint16_t port() const { return port_; }

  void AddPeer(const std::string& host_port);
  void RemovePeer(const std::string& host_port);

  // Queues a frame for the connected peer `node_id`. NotFound if it is not connected;
  // ResourceExhausted when its queue is above max_send_queue_bytes.
  Status Send(const std::string& node_id, MessageType type, std::string_view payload);
  size_t queued_bytes(const std::string& node_id) const;
  std::vector<PeerInfo> connected() const;
  const TransportCounters& counters() const { return counters_; }

  // Stops accepting and dialing and closes every connection. Frames still queued are dropped
  // (log shipping resends what was not acknowledged).
  void Close();

 private:
  class Conn;
  struct Dialer {
    std::string address;
    std::unique_ptr<asio::steady_timer> timer;
    int attempt = 0;
    std::string parked_on;  // node id whose connection we wait on, if refused as a duplicate
    std::shared_ptr<Conn> conn;
  };

  void Accept();
  void Dial(const std::string& address);
  void ScheduleRedial(const std::string& address);
  void StartConn(const std::shared_ptr<Conn>& conn);
  void WriteSome(const std::shared_ptr<Conn>& conn);
  void ReadSome(const std::shared_ptr<Conn>& conn);
  void ArmTick(const std::shared_ptr<Conn>& conn);
  void OnHandshakeDone(const std::shared_ptr<Conn>& conn);
  void CloseConn(const std::shared_ptr<Conn>& conn, const Status& why);
  Status Admit(const std::shared_ptr<Conn>& conn, const PeerInfo& peer);
  void Log(const std::string& line) const;
  int64_t NowMillis() const;

  asio::io_context& io_;
  TcpTransportOptions options_;
  TransportHandler* handler_;
  asio::ip::tcp::acceptor acceptor_;
  uint16_t port_ = 0;
  bool closed_ = false;
  std::map<std::string, Dialer> dialers_;                    // by address
  std::map<std::string, std::shared_ptr<Conn>> established_; // by node id
  std::set<std::shared_ptr<Conn>> conns_;                    // every open connection
  std::mt19937_64 rng_;
  std::shared_ptr<bool> alive_;
  TransportCounters counters_;
};

}  // namespace syncline::replication

#endif  // SYNCLINE_REPLICATION_TCP_TRANSPORT_H_
