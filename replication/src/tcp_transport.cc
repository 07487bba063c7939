#include "syncline/replication/tcp_transport.h"

#include <chrono>
#include <deque>

namespace syncline::replication {

class TcpTransport::Conn : public std::enable_shared_from_this<TcpTransport::Conn> {
 public:
  Conn(asio::io_context& io, asio::ip::tcp::socket sock, size_t max_frame, std::string dialed)
      : socket(std::move(sock)), timer(io), decoder(max_frame), dial_address(std::move(dialed)) {}

  asio::ip::tcp::socket socket;
  asio::steady_timer timer;
  FrameDecoder decoder;
  std::unique_ptr<Handshake> handshake;
  std::string dial_address;  // empty for accepted connections
  std::string node_id;       // once established
  bool established = false;
  bool closed = false;
  bool writing = false;
  bool close_after_write = false;
  bool want_writable = false;
  std::deque<std::string> queue;
  size_t queued_bytes = 0;
  size_t writing_count = 0;
  int64_t last_received = 0;
  int64_t last_sent = 0;
  Status close_reason;
  std::array<char, 64 * 1024> buf;
};

TcpTransport::TcpTransport(asio::io_context& io, TcpTransportOptions options, TransportHandler* handler)
    : io_(io),
      options_(std::move(options)),
      handler_(handler),
      acceptor_(io),
      rng_(std::random_device{}()),
      alive_(std::make_shared<bool>(true)) {}

TcpTransport::~TcpTransport() {
  *alive_ = false;
  Close();
}

int64_t TcpTransport::NowMillis() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void TcpTransport::Log(const std::string& line) const {
  if (options_.log) options_.log(line);
}

Status TcpTransport::Listen() {
  std::error_code ec;
  auto addr = asio::ip::make_address(options_.listen_host, ec);
  std::string where = options_.listen_host + ":" + std::to_string(options_.listen_port);
  if (ec) return Status::InvalidArgument("peer listen host '" + options_.listen_host + "' is not an IP address");
  asio::ip::tcp::endpoint ep(addr, options_.listen_port);
  acceptor_.open(ep.protocol(), ec);
  if (!ec) acceptor_.set_option(asio::ip::tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor_.bind(ep, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec == asio::error::address_in_use) {
    return Status::AlreadyExists("cannot listen for peers on " + where + ": " + ec.message());
  }
  if (ec) return Status::Unavailable("cannot listen for peers on " + where + ": " + ec.message());
  port_ = acceptor_.local_endpoint().port();
  Accept();
  return Status::Ok();
}

void TcpTransport::Accept() {
  auto alive = alive_;
  acceptor_.async_accept([this, alive](const std::error_code& ec, asio::ip::tcp::socket socket) {
    if (!*alive || closed_) return;
    if (!ec) {
      auto conn = std::make_shared<Conn>(io_, std::move(socket), options_.max_frame_bytes, std::string());
      StartConn(conn);
    }
    Accept();
  });
}

void TcpTransport::AddPeer(const std::string& host_port) {
  if (closed_ || dialers_.count(host_port)) return;
  Dialer& d = dialers_[host_port];
  d.address = host_port;
  d.timer = std::make_unique<asio::steady_timer>(io_);
  Dial(host_port);
}

void TcpTransport::RemovePeer(const std::string& host_port) {
  auto it = dialers_.find(host_port);
  if (it == dialers_.end()) return;
  it->second.timer->cancel();
  auto conn = it->second.conn;
  dialers_.erase(it);
  if (conn) CloseConn(conn, Status::Unavailable("peer " + host_port + " removed"));
}

void TcpTransport::Dial(const std::string& address) {
  auto it = dialers_.find(address);
  if (it == dialers_.end() || closed_ || it->second.conn) return;
  size_t colon = address.rfind(':');
  std::string host = colon == std::string::npos ? address : address.substr(0, colon);
  std::string port = colon == std::string::npos ? std::string() : address.substr(colon + 1);
  auto resolver = std::make_shared<asio::ip::tcp::resolver>(io_);
  auto alive = alive_;
  resolver->async_resolve(host, port, [this, alive, resolver, address](const std::error_code& ec,
                                                                       asio::ip::tcp::resolver::results_type results) {
    if (!*alive || closed_ || !dialers_.count(address)) return;
    if (ec || results.empty()) {
      Log("cannot resolve peer " + address + ": " + ec.message());
      ScheduleRedial(address);
      return;
    }
    auto socket = std::make_shared<asio::ip::tcp::socket>(io_);
    asio::async_connect(*socket, results,
                        [this, alive, socket, address](const std::error_code& cec, const asio::ip::tcp::endpoint&) {
                          if (!*alive || closed_) return;
                          auto d = dialers_.find(address);
                          if (d == dialers_.end()) return;
                          if (cec) {
                            if (d->second.attempt == 0) Log("cannot connect to peer " + address + ": " + cec.message());
                            ScheduleRedial(address);
                            return;
                          }
                          auto conn = std::make_shared<Conn>(io_, std::move(*socket), options_.max_frame_bytes, address);
                          d->second.conn = conn;
                          StartConn(conn);
                        });
  });
}

void TcpTransport::ScheduleRedial(const std::string& address) {
  auto it = dialers_.find(address);
  if (it == dialers_.end() || closed_) return;
  Dialer& d = it->second;
  int shift = std::min(d.attempt, 20);
  int64_t base = std::min(options_.reconnect_max_millis, options_.reconnect_min_millis << shift);
  ++d.attempt;
  // Full jitter in [base/2, base], so many nodes restarting together do not dial in lockstep.
  int64_t delay = base / 2 + static_cast<int64_t>(rng_() % static_cast<uint64_t>(base / 2 + 1));
  d.timer->expires_after(std::chrono::milliseconds(delay));
  auto alive = alive_;
  d.timer->async_wait([this, alive, address](const std::error_code& ec) {
    if (ec || !*alive) return;
    Dial(address);
  });
}

void TcpTransport::StartConn(const std::shared_ptr<Conn>& conn) {
  conns_.insert(conn);
  std::error_code nodelay_ec;
  conn->socket.set_option(asio::ip::tcp::no_delay(true), nodelay_ec);
  int64_t start = NowMillis();
  conn->last_received = start;
  conn->last_sent = start;
  std::weak_ptr<Conn> weak = conn;
  conn->handshake = std::make_unique<Handshake>(
      options_.handshake, start, std::function<void(uint8_t*, size_t)>(),
      [this, weak](const PeerInfo& peer) -> Status {
        auto c = weak.lock();
        if (!c) return Status::Unavailable("connection closed");
        return Admit(c, peer);
      });
  std::string hello;
  conn->handshake->Start(&hello);
  conn->queue.push_back(std::move(hello));
  conn->queued_bytes += conn->queue.back().size();

  WriteSome(conn);
  ReadSome(conn);
  ArmTick(conn);
}

// The three per-connection loops hold only a weak reference to the connection, so a closed
// connection is freed as soon as its last pending handler ran.
void TcpTransport::WriteSome(const std::shared_ptr<Conn>& c) {
  if (c->closed || c->writing || c->queue.empty()) return;
  c->writing = true;
  std::vector<asio::const_buffer> bufs;
  size_t n = std::min<size_t>(c->queue.size(), 64);
  for (size_t i = 0; i < n; ++i) bufs.push_back(asio::buffer(c->queue[i]));
  c->writing_count = n;
  auto alive = alive_;
  std::weak_ptr<Conn> weak = c;
  asio::async_write(c->socket, bufs, [this, alive, weak](const std::error_code& ec, size_t bytes) {
    if (!*alive) return;
    auto cc = weak.lock();
    if (!cc || cc->closed) return;
    cc->writing = false;
    if (ec) {
      CloseConn(cc, Status::Unavailable("write to peer failed: " + ec.message()));
      return;
    }
    counters_.bytes_sent += bytes;
    counters_.frames_sent += cc->writing_count;
    for (size_t i = 0; i < cc->writing_count; ++i) {
      cc->queued_bytes -= cc->queue.front().size();
      cc->queue.pop_front();
    }
    cc->last_sent = NowMillis();
    if (cc->queue.empty() && cc->close_after_write) {
      CloseConn(cc, cc->close_reason);
      return;
    }
    if (cc->want_writable && cc->queued_bytes < options_.max_send_queue_bytes / 2 && cc->established) {
      cc->want_writable = false;
      handler_->OnPeerWritable(cc->node_id);
    }
    WriteSome(cc);
  });
}

void TcpTransport::ReadSome(const std::shared_ptr<Conn>& c) {
  if (c->closed) return;
  auto alive = alive_;
  std::weak_ptr<Conn> weak = c;
  c->socket.async_read_some(asio::buffer(c->buf), [this, alive, weak](const std::error_code& ec, size_t n) {
    if (!*alive) return;
    auto cc = weak.lock();
    if (!cc || cc->closed) return;
    if (ec) {
      CloseConn(cc, Status::Unavailable(ec == asio::error::eof ? "peer closed the connection"
                                                                : "read from peer failed: " + ec.message()));
      return;
    }
    counters_.bytes_received += n;
    cc->last_received = NowMillis();
    std::vector<Frame> frames;
    Status s = cc->decoder.Feed(std::string_view(cc->buf.data(), n), &frames);
    for (auto& f : frames) {
      if (cc->closed) return;
      ++counters_.frames_received;
      if (!cc->established) {
        std::string out;
        Status hs = cc->handshake->OnFrame(f, &out);
        if (!out.empty()) {
          cc->queued_bytes += out.size();
          cc->queue.push_back(std::move(out));
        }
        if (!hs.ok()) {
          ++counters_.handshakes_failed;
          Log("handshake with " + (cc->dial_address.empty() ? std::string("an incoming peer") : cc->dial_address) +
              " failed: " + hs.ToString());
          cc->close_reason = hs;
          cc->close_after_write = true;
          WriteSome(cc);
          if (cc->queue.empty()) CloseConn(cc, hs);
          return;
        }
        if (cc->handshake->done()) OnHandshakeDone(cc);
        WriteSome(cc);
        continue;
      }
      if (f.type == MessageType::kHeartbeat) continue;
      if (f.type == MessageType::kRefuse || f.type == MessageType::kHello || f.type == MessageType::kProof) {
        // A late refusal (the peer did not admit us after all) or a protocol violation.
        std::string out;
        Status why = f.type == MessageType::kRefuse ? cc->handshake->OnFrame(f, &out)
                                                    : Status::Corruption("handshake message after the handshake");
        CloseConn(cc, why);
        return;
      }
      handler_->OnPeerFrame(cc->node_id, std::move(f));
    }
    if (!s.ok()) {
      Log("peer " + (cc->node_id.empty() ? cc->dial_address : cc->node_id) + " sent a bad frame: " + s.ToString());
      CloseConn(cc, s);
      return;
    }
    ReadSome(cc);
  });
}

// Handshake timeout, idle timeout and heartbeats.
void TcpTransport::ArmTick(const std::shared_ptr<Conn>& c) {
  if (c->closed) return;
  int64_t period = std::max<int64_t>(50, std::min(options_.heartbeat_millis, options_.idle_timeout_millis) / 4);
  c->timer.expires_after(std::chrono::milliseconds(period));
  auto alive = alive_;
  std::weak_ptr<Conn> weak = c;
  c->timer.async_wait([this, alive, weak](const std::error_code& ec) {
    if (ec || !*alive) return;
    auto cc = weak.lock();
    if (!cc || cc->closed) return;
    int64_t now = NowMillis();
    if (!cc->established) {
      Status s = cc->handshake->OnTick(now);
      if (!s.ok()) {
        ++counters_.handshakes_failed;
        CloseConn(cc, s);
        return;
      }
    } else {
      if (now - cc->last_received >= options_.idle_timeout_millis) {
        CloseConn(cc, Status::DeadlineExceeded("no frame from peer for " + std::to_string(options_.idle_timeout_millis) +
                                               " ms"));
        return;
      }
      if (now - cc->last_sent >= options_.heartbeat_millis && cc->queue.empty()) {
        std::string hb;
        AppendFrame(MessageType::kHeartbeat, "", &hb);
        cc->queued_bytes += hb.size();
        cc->queue.push_back(std::move(hb));
        WriteSome(cc);
      }
    }
    ArmTick(cc);
  });
}

Status TcpTransport::Admit(const std::shared_ptr<Conn>& conn, const PeerInfo& peer) {
  auto it = established_.find(peer.node_id);
  if (it == established_.end() || it->second == conn) return Status::Ok();
  // Two connections to one node: both sides keep the one dialed by the smaller node id.
  const std::string& self = options_.handshake.node_id;
  bool conn_dialed_by_us = !conn->dial_address.empty();
  bool existing_dialed_by_us = !it->second->dial_address.empty();
  if (conn_dialed_by_us == existing_dialed_by_us) {
    return Status::AlreadyExists("node '" + peer.node_id + "' is already connected");
  }
  const std::string& smaller = std::min(self, peer.node_id);
  bool conn_wins = (conn_dialed_by_us ? self : peer.node_id) == smaller;
  if (!conn_wins) return Status::AlreadyExists("node '" + peer.node_id + "' is already connected");
  std::shared_ptr<Conn> old = it->second;  // CloseConn erases the map entry
  CloseConn(old, Status::AlreadyExists("replaced by the connection dialed by '" + smaller + "'"));
  return Status::Ok();
}

void TcpTransport::OnHandshakeDone(const std::shared_ptr<Conn>& conn) {
  const PeerInfo& peer = conn->handshake->peer();
  conn->established = true;
  conn->node_id = peer.node_id;
  established_[peer.node_id] = conn;
  if (!conn->dial_address.empty()) {
    auto d = dialers_.find(conn->dial_address);
    if (d != dialers_.end()) d->second.attempt = 0;
  }
  Log("connected to peer " + peer.node_id + (conn->dial_address.empty() ? " (incoming)" : " at " + conn->dial_address));
  handler_->OnPeerConnected(peer);
}

void TcpTransport::CloseConn(const std::shared_ptr<Conn>& conn, const Status& why) {
  if (conn->closed) return;
  conn->closed = true;
  std::error_code ec;
  conn->socket.shutdown(asio::ip::tcp::socket::shutdown_both, ec);
  conn->socket.close(ec);
  conn->timer.cancel();
  conns_.erase(conn);
  bool was_established = false;
  if (conn->established) {
    auto it = established_.find(conn->node_id);
    if (it != established_.end() && it->second == conn) {
      established_.erase(it);
      was_established = true;
    }
  }
  if (was_established) {
    Log("peer " + conn->node_id + " disconnected: " + why.ToString());
    handler_->OnPeerDisconnected(conn->node_id, why);
    // Dialers parked on this node may dial again.
    for (auto& [address, d] : dialers_) {
      if (d.parked_on == conn->node_id) {
        d.parked_on.clear();
        d.attempt = 0;
        ScheduleRedial(address);
      }
    }
  }
  if (!conn->dial_address.empty() && !closed_) {
    auto d = dialers_.find(conn->dial_address);
    if (d != dialers_.end() && d->second.conn == conn) {
      d->second.conn.reset();
      const std::string peer_id = conn->handshake && conn->handshake->hello_received() ? conn->handshake->peer().node_id : "";
      if (!was_established && !peer_id.empty() && established_.count(peer_id)) {
        d->second.parked_on = peer_id;  // connected the other way: wait until that drops
      } else {
        ScheduleRedial(conn->dial_address);
      }
    }
  }
}

Status TcpTransport::Send(const std::string& node_id, MessageType type, std::string_view payload) {
  auto it = established_.find(node_id);
  if (it == established_.end()) return Status::NotFound("peer '" + node_id + "' is not connected");
  auto& conn = it->second;
  if (conn->queued_bytes > options_.max_send_queue_bytes) {
    conn->want_writable = true;
    ++counters_.sends_refused;
    return Status::ResourceExhausted("send queue to peer '" + node_id + "' holds " + std::to_string(conn->queued_bytes) +
                                     " bytes, above the limit of " + std::to_string(options_.max_send_queue_bytes));
  }
  std::string frame;
  frame.reserve(kFrameHeaderBytes + payload.size());
  AppendFrame(type, payload, &frame);
  conn->queued_bytes += frame.size();
  conn->queue.push_back(std::move(frame));
  WriteSome(conn);
  return Status::Ok();
}

size_t TcpTransport::queued_bytes(const std::string& node_id) const {
  auto it = established_.find(node_id);
  return it == established_.end() ? 0 : it->second->queued_bytes;
}

std::vector<PeerInfo> TcpTransport::connected() const {
  std::vector<PeerInfo> out;
  for (const auto& [id, conn] : established_) out.push_back(conn->handshake->peer());
  return out;
}

void TcpTransport::Close() {
  if (closed_) return;
  closed_ = true;
  std::error_code ec;
  acceptor_.close(ec);
  for (auto& [address, d] : dialers_) d.timer->cancel();
  auto conns = conns_;
  for (const auto& c : conns) CloseConn(c, Status::Unavailable("transport closed"));
  dialers_.clear();
}

}  // namespace syncline::replication
