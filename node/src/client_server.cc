#include "client_server.h"

#include <deque>

#include "client_anti_entropy.h"
#include "client_codec.h"
#include "client_feed.h"
#include "client_key_versions.h"
#include "client_leader_follower.h"
#include "syncline/node/node.h"
#include "syncline/replication/frame.h"

namespace syncline::node {

using replication::Frame;
using replication::MessageType;

class ClientServer::Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(ClientServer* server, asio::ip::tcp::socket socket)
      : server_(server), socket_(std::move(socket)), decoder_(server->options_.max_frame_bytes) {
    std::error_code ec;
    auto remote = socket_.remote_endpoint(ec);
    peer_ = ec ? std::string("?") : remote.address().to_string() + ":" + std::to_string(remote.port());
  }

  void Start() { Read(); }

  void Close() {
    closed_ = true;
    std::error_code ec;
    socket_.close(ec);
  }

 private:
  void Read() {
    if (closed_ || reading_) return;
    if (in_flight_ >= server_->options_.max_in_flight) return;  // resumes when a request completes
    reading_ = true;
    auto self = shared_from_this();
    socket_.async_read_some(asio::buffer(buf_), [this, self](const std::error_code& ec, size_t n) {
      reading_ = false;
      if (ec) {
        Drop();
        return;
      }
      std::vector<Frame> frames;
      Status s = decoder_.Feed(std::string_view(buf_, n), &frames);
      for (auto& f : frames) {
        if (closed_) return;
        Handle(std::move(f));
      }
      if (!s.ok()) {
        BadInput(s.ToString());
        return;
      }
      Read();
    });
  }

  void BadInput(const std::string& why) {
    ++server_->counters_.bad_input;
    if (server_->options_.log) server_->options_.log("client " + peer_ + ": " + why + "; closing the connection");
    Drop();
  }

  void Drop() {
    Close();
    server_->connections_.erase(shared_from_this());
  }

  void Handle(Frame frame) {
    if (frame.type != MessageType::kRequest) {
      BadInput("sent a frame of type " + std::to_string(static_cast<int>(frame.type)) + ", not a request");
      return;
    }
    v1::Request req;
    if (!req.ParseFromString(frame.payload)) {
      BadInput("sent a request of " + std::to_string(frame.payload.size()) + " bytes that does not parse");
      return;
    }
    ++server_->counters_.requests;
    ++in_flight_;
    Node* node = server_->node_;
    uint64_t id = req.id();
    auto self = shared_from_this();
    switch (req.op_case()) {
      case v1::Request::kWrite: {
        auto op = DecodeWriteOp(req.write());
        if (!op.ok()) {
          Finish(Error(id, op.status()));
          return;
        }
        auto ack = RequestedAck(req.write());
        if (!ack.ok()) {
          Finish(Error(id, ack.status()));
          return;
        }
        node->WriteAsync(req.write().collection(), req.write().key(), std::move(op).value(), *ack,
                         req.write().ack_timeout_millis(),
                              [answer = AnswerOnIo(), id, node](Result<replication::WriteResult> r) {
                                v1::Response resp;
                                resp.set_id(id);
                                if (r.ok()) {
                                  resp.mutable_write()->set_origin(r->dot.replica.value());
                                  resp.mutable_write()->set_counter(r->dot.counter);
                                  resp.mutable_write()->set_hlc(r->hlc.Pack());
                                } else {
                                  SetWriteError(r.status(), *node, &resp);
                                }
                                answer(std::move(resp));
                              });
        return;
      }
      case v1::Request::kRead: {
        auto answer = [self, node, id, read = req.read()](Status waited) {
          v1::Response resp;
          resp.set_id(id);
          auto r = waited.ok() ? node->Read(read.collection(), read.key()) : Result<replication::ReadResult>(waited);
          if (r.ok()) {
            EncodeReadResult(*r, resp.mutable_read());
            AddReadLag(*node, resp.mutable_read());
          } else {
            SetError(r.status(), &resp);
          }
          self->Finish(std::move(resp));
        };
        if (req.read().min_counter() == 0) {
          answer(Status::Ok());
          return;
        }
        // Read-your-writes: wait (bounded) until this node holds the version asked for.
        int64_t wait = req.read().wait_millis() == 0 ? 5000 : std::min<int64_t>(req.read().wait_millis(), 60000);
        auto alive = server_->alive_;
        server_->version_waits_->Wait(Dot{ReplicaId(req.read().min_origin()), req.read().min_counter()}, wait,
                                      [alive, answer](Status s) {
                                        if (alive->load()) answer(s);
                                      });
        return;
      }
      case v1::Request::kPromote: {
        std::string mode = req.promote().mode().empty() ? "leader-follower" : req.promote().mode();
        node->PromoteAsync(mode, [answer = AnswerOnIo(), id, node](Status s) {
          v1::Response resp;
          resp.set_id(id);
          if (s.ok()) {
            replication::EpochState st = node->leadership().state();
            resp.mutable_promote()->set_epoch(st.epoch);
            resp.mutable_promote()->set_leader(st.leader);
            resp.mutable_promote()->set_mode(st.mode);
          } else {
            SetError(s, &resp);
          }
          answer(std::move(resp));
        });
        return;
      }
      case v1::Request::kCreateCollection: {
        v1::Response resp;
        resp.set_id(id);
        Status s = node->CreateCollection(req.create_collection().name(), req.create_collection().resolver());
        if (!s.ok()) SetError(s, &resp);
        Finish(std::move(resp));
        return;
      }
      case v1::Request::kStatus: {
        v1::Response resp;
        resp.set_id(id);
        std::string client_address = server_->options_.host + ":" + std::to_string(server_->port_);
        EncodeStatus(node->GetStatus(), node->replica().Collections(), client_address, resp.mutable_status());
        Finish(std::move(resp));
        return;
      }
      case v1::Request::kDigest: {
        v1::Response resp;
        resp.set_id(id);
        auto d = node->Digest();
        if (d.ok()) {
          resp.set_digest(*d);
        } else {
          SetError(d.status(), &resp);
        }
        Finish(std::move(resp));
        return;
      }
      case v1::Request::kDump: {
        v1::Response resp;
        resp.set_id(id);
        const auto& d = req.dump();
        size_t limit = d.limit() == 0 ? 1000 : std::min<size_t>(d.limit(), 10000);
        bool more = false;
        auto* out = resp.mutable_dump();
        Status s = node->replica().DumpPage(
            d.collection(), d.after_collection(), d.after_key(), limit,
            [&](std::string_view coll, std::string_view key, std::string_view rendered) {
              auto* e = out->add_entries();
              e->set_collection(std::string(coll));
              e->set_key(std::string(key));
              e->set_rendered(std::string(rendered));
            },
            &more);
        out->set_more(more);
        if (!s.ok()) {
          resp.clear_dump();
          SetError(s, &resp);
        }
        Finish(std::move(resp));
        return;
      }
      case v1::Request::kFeed: {
        v1::Response resp;
        resp.set_id(id);
        HandleFeed(*node, req.feed(), &resp);
        Finish(std::move(resp));
        return;
      }
      case v1::Request::kCommitCursor: {
        v1::Response resp;
        resp.set_id(id);
        HandleCommitCursor(*node, req.commit_cursor(), &resp);
        Finish(std::move(resp));
        return;
      }
      case v1::Request::kAntiEntropy: {
        node->RunAntiEntropyAsync(req.anti_entropy().peer(),
                                  [answer = AnswerOnIo(), id](Result<std::vector<replication::AntiEntropyRun>> runs) {
                                    v1::Response resp;
                                    resp.set_id(id);
                                    if (runs.ok()) {
                                      EncodeAntiEntropyRuns(*runs, resp.mutable_anti_entropy());
                                    } else {
                                      SetError(runs.status(), &resp);
                                    }
                                    answer(std::move(resp));
                                  });
        return;
      }
      case v1::Request::kKeyVersions: {
        v1::Response resp;
        resp.set_id(id);
        HandleKeyVersions(*node, req.key_versions(), &resp);
        Finish(std::move(resp));
        return;
      }
      case v1::Request::OP_NOT_SET:
        break;
    }
    Finish(Error(id, Status::InvalidArgument("request " + std::to_string(id) + " names no operation")));
  }

  static v1::Response Error(uint64_t id, const Status& s) {
    v1::Response resp;
    resp.set_id(id);
    SetError(s, &resp);
    return resp;
  }

  // For a request answered by a callback on another thread: a function, callable on any thread,
  // that posts the response to the io_context and finishes it there unless the server closed.
  // It holds what it needs (not the server), so it may outlive the server.
  std::function<void(v1::Response)> AnswerOnIo() {
    return [self = shared_from_this(), alive = server_->alive_, &io = server_->io_](v1::Response resp) {
      asio::post(io, [self, alive, resp = std::move(resp)]() mutable {
        if (alive->load()) self->Finish(std::move(resp));
      });
    };
  }

  void Finish(v1::Response resp) {
    --in_flight_;
    if (resp.code() != 0) ++server_->counters_.errors;
    if (closed_) return;
    std::string frame;
    replication::AppendFrame(MessageType::kResponse, resp.SerializeAsString(), &frame);
    out_.push_back(std::move(frame));
    Write();
    Read();
  }

  void Write() {
    if (writing_ || out_.empty() || closed_) return;
    writing_ = true;
    auto self = shared_from_this();
    asio::async_write(socket_, asio::buffer(out_.front()), [this, self](const std::error_code& ec, size_t) {
      writing_ = false;
      out_.pop_front();
      if (ec) {
        Drop();
        return;
      }
      Write();
    });
  }

  ClientServer* server_;
  asio::ip::tcp::socket socket_;
  replication::FrameDecoder decoder_;
  std::string peer_;
  char buf_[65536];
  bool reading_ = false;
  bool writing_ = false;
  bool closed_ = false;
  size_t in_flight_ = 0;
  std::deque<std::string> out_;
};

ClientServer::ClientServer(asio::io_context& io, Node* node, ClientServerOptions options)
    : io_(io),
      node_(node),
      options_(std::move(options)),
      acceptor_(io),
      alive_(std::make_shared<std::atomic<bool>>(true)),
      version_waits_(std::make_shared<VersionWaits>(io, node)) {}

ClientServer::~ClientServer() {
  alive_->store(false);
  Close();
}

Status ClientServer::Listen() {
  std::error_code ec;
  auto addr = asio::ip::make_address(options_.host, ec);
  if (ec) return Status::InvalidArgument("client endpoint host '" + options_.host + "' is not an IP address");
  asio::ip::tcp::endpoint ep(addr, options_.port);
  acceptor_.open(ep.protocol(), ec);
  if (!ec) acceptor_.set_option(asio::ip::tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor_.bind(ep, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    std::string what = "cannot listen for clients on " + options_.host + ":" + std::to_string(options_.port) + ": " +
                       ec.message();
    return ec == asio::error::address_in_use ? Status::AlreadyExists(what) : Status::Unavailable(what);
  }
  port_ = acceptor_.local_endpoint().port();
  Accept();
  return Status::Ok();
}

void ClientServer::Accept() {
  auto alive = alive_;
  acceptor_.async_accept([this, alive](const std::error_code& ec, asio::ip::tcp::socket socket) {
    if (!alive->load() || !acceptor_.is_open()) return;
    if (!ec) {
      std::error_code e;
      socket.set_option(asio::ip::tcp::no_delay(true), e);
      ++counters_.connections;
      auto c = std::make_shared<Connection>(this, std::move(socket));
      connections_.insert(c);
      c->Start();
    }
    Accept();
  });
}

void ClientServer::Close() {
  std::error_code ec;
  acceptor_.close(ec);
  version_waits_->Close();
  for (auto& c : connections_) c->Close();
  connections_.clear();
}

}  // namespace syncline::node
