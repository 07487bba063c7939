#include "syncline/node/client.h"

#include <asio.hpp>

#include <algorithm>
#include <chrono>

#include "client_anti_entropy.h"
#include "client_codec.h"
#include "client_feed.h"
#include "client_key_versions.h"
#include "syncline/node/v1/client.pb.h"
#include "syncline/replication/frame.h"

namespace syncline {

using replication::Frame;
using replication::FrameDecoder;
using replication::MessageType;

struct Client::Impl {
  asio::io_context io;
  asio::ip::tcp::socket socket{io};
  FrameDecoder decoder{size_t{64} << 20};
  std::vector<Frame> frames;
  int64_t timeout_millis = 5000;
  uint64_t next_id = 1;
  bool broken = false;
  uint64_t bytes_sent = 0;
  uint64_t bytes_received = 0;

  // Runs the io_context until `done` or the deadline; false on timeout.
  bool RunUntil(const bool& done) {
    io.restart();
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_millis);
    while (!done) {
      auto left = deadline - std::chrono::steady_clock::now();
      if (left <= std::chrono::steady_clock::duration::zero()) return false;
      io.run_one_for(left);
    }
    return true;
  }

  Result<node::v1::Response> Call(node::v1::Request req, const std::string& address) {
    if (broken) return Status::Unavailable("connection to " + address + " was lost earlier; reconnect");
    req.set_id(next_id++);
    std::string out;
    replication::AppendFrame(MessageType::kRequest, req.SerializeAsString(), &out);
    bool wrote = false;
    std::error_code werr;
    asio::async_write(socket, asio::buffer(out), [&](const std::error_code& ec, size_t) {
      werr = ec;
      wrote = true;
    });
    if (!RunUntil(wrote)) {
      broken = true;
      socket.close();
      return Status::DeadlineExceeded("no answer from " + address + " within " + std::to_string(timeout_millis) +
                                      " ms; the outcome is unknown");
    }
    if (!werr) bytes_sent += out.size();
    if (werr) {
      broken = true;
      return Status::DeadlineExceeded("connection to " + address + " lost while sending: " + werr.message() +
                                      "; the outcome is unknown");
    }
    char buf[65536];
    while (true) {
      for (size_t i = 0; i < frames.size(); ++i) {
        if (frames[i].type != MessageType::kResponse) {
          broken = true;
          return Status::Corruption("node " + address + " sent a frame of type " +
                                    std::to_string(static_cast<int>(frames[i].type)) + " instead of a response");
        }
        node::v1::Response resp;
        if (!resp.ParseFromString(frames[i].payload)) {
          broken = true;
          return Status::Corruption("node " + address + " sent a response that does not parse");
        }
        frames.erase(frames.begin(), frames.begin() + static_cast<std::ptrdiff_t>(i) + 1);
        if (resp.id() != req.id()) {
          i = static_cast<size_t>(-1);
          continue;
        }
        return resp;
      }
      frames.clear();
      bool got = false;
      std::error_code rerr;
      size_t n = 0;
      socket.async_read_some(asio::buffer(buf), [&](const std::error_code& ec, size_t len) {
        rerr = ec;
        n = len;
        got = true;
      });
      if (!RunUntil(got)) {
        broken = true;
        socket.close();
        return Status::DeadlineExceeded("no answer from " + address + " within " + std::to_string(timeout_millis) +
                                        " ms; the outcome is unknown");
      }
      if (rerr) {
        broken = true;
        return Status::DeadlineExceeded("connection to " + address + " lost before the answer: " + rerr.message() +
                                        "; the outcome is unknown");
      }
      bytes_received += n;
      Status s = decoder.Feed(std::string_view(buf, n), &frames);
      if (!s.ok()) {
        broken = true;
        return s.WithContext("response from " + address);
      }
    }
  }
};

Client::Client(std::string address) : impl_(std::make_unique<Impl>()), address_(std::move(address)) {}
Client::~Client() = default;

Result<std::unique_ptr<Client>> Client::Connect(const std::string& host_port, int64_t timeout_millis) {
  SYNCLINE_ASSIGN_OR_RETURN(auto hp, node::SplitHostPort(host_port));
  std::unique_ptr<Client> c(new Client(host_port));
  c->impl_->timeout_millis = timeout_millis;
  std::error_code ec;
  auto addr = asio::ip::make_address(hp.first, ec);
  if (ec) {
    asio::ip::tcp::resolver resolver(c->impl_->io);
    auto results = resolver.resolve(hp.first, std::to_string(hp.second), ec);
    if (ec || results.empty()) {
      return Status::Unavailable("cannot resolve '" + hp.first + "': " + ec.message());
    }
    addr = results.begin()->endpoint().address();
  }
  bool done = false;
  std::error_code cerr;
  c->impl_->socket.async_connect(asio::ip::tcp::endpoint(addr, hp.second), [&](const std::error_code& e) {
    cerr = e;
    done = true;
  });
  if (!c->impl_->RunUntil(done)) {
    return Status::Unavailable("could not connect to " + host_port + " within " + std::to_string(timeout_millis) + " ms");
  }
  if (cerr) return Status::Unavailable("could not connect to " + host_port + ": " + cerr.message());
  c->impl_->socket.set_option(asio::ip::tcp::no_delay(true), ec);
  return c;
}

Result<replication::WriteResult> Client::Write(const std::string& collection, const std::string& key,
                                               const replication::WriteOp& op) {
  return Write(collection, key, op, WriteOptions{});
}

Result<replication::WriteResult> Client::Write(const std::string& collection, const std::string& key,
                                               const replication::WriteOp& op, const WriteOptions& options) {
  node::v1::Request req;
  node::EncodeWrite(collection, key, op, req.mutable_write());
  req.mutable_write()->set_ack(options.ack);
  req.mutable_write()->set_ack_timeout_millis(static_cast<uint32_t>(std::max<int64_t>(0, options.ack_timeout_millis)));
  SYNCLINE_ASSIGN_OR_RETURN(auto resp, impl_->Call(std::move(req), address_));
  redirect_ = Redirect{};
  if (resp.has_redirect()) {
    redirect_ = Redirect{resp.redirect().leader(), resp.redirect().client_address(), resp.redirect().epoch()};
  }
  SYNCLINE_RETURN_IF_ERROR(node::ResponseStatus(resp));
  replication::WriteResult out;
  out.dot = Dot{ReplicaId(resp.write().origin()), resp.write().counter()};
  out.hlc = HlcTimestamp::Unpack(resp.write().hlc());
  return out;
}

Result<replication::ReadResult> Client::Read(const std::string& collection, const std::string& key,
                                             const ReadOptions& options, ReadInfo* info) {
  node::v1::Request req;
  req.mutable_read()->set_collection(collection);
  req.mutable_read()->set_key(key);
  req.mutable_read()->set_min_origin(options.min_version.replica.value());
  req.mutable_read()->set_min_counter(options.min_version.counter);
  req.mutable_read()->set_wait_millis(static_cast<uint32_t>(std::max<int64_t>(0, options.wait_millis)));
  SYNCLINE_ASSIGN_OR_RETURN(auto resp, impl_->Call(std::move(req), address_));
  SYNCLINE_RETURN_IF_ERROR(node::ResponseStatus(resp));
  if (info != nullptr) {
    info->behind_changes = resp.read().behind_changes();
    info->leader_connected = resp.read().leader_connected();
    info->epoch = resp.read().epoch();
    info->role = resp.read().role();
  }
  return node::DecodeReadResult(resp.read());
}

Result<PromoteResult> Client::Promote(const std::string& mode) {
  node::v1::Request req;
  req.mutable_promote()->set_mode(mode);
  SYNCLINE_ASSIGN_OR_RETURN(auto resp, impl_->Call(std::move(req), address_));
  SYNCLINE_RETURN_IF_ERROR(node::ResponseStatus(resp));
  return PromoteResult{resp.promote().epoch(), resp.promote().leader(), resp.promote().mode()};
}

Result<replication::ReadResult> Client::Read(const std::string& collection, const std::string& key) {
  node::v1::Request req;
  req.mutable_read()->set_collection(collection);
  req.mutable_read()->set_key(key);
  SYNCLINE_ASSIGN_OR_RETURN(auto resp, impl_->Call(std::move(req), address_));
  SYNCLINE_RETURN_IF_ERROR(node::ResponseStatus(resp));
  return node::DecodeReadResult(resp.read());
}

Status Client::CreateCollection(const std::string& name, const std::string& resolver) {
  node::v1::Request req;
  req.mutable_create_collection()->set_name(name);
  req.mutable_create_collection()->set_resolver(resolver);
  SYNCLINE_ASSIGN_OR_RETURN(auto resp, impl_->Call(std::move(req), address_));
  return node::ResponseStatus(resp);
}

Result<RemoteStatus> Client::GetStatus() {
  node::v1::Request req;
  req.mutable_status();
  SYNCLINE_ASSIGN_OR_RETURN(auto resp, impl_->Call(std::move(req), address_));
  SYNCLINE_RETURN_IF_ERROR(node::ResponseStatus(resp));
  return node::DecodeStatus(resp.status());
}

Result<std::string> Client::Digest() {
  node::v1::Request req;
  req.mutable_digest();
  SYNCLINE_ASSIGN_OR_RETURN(auto resp, impl_->Call(std::move(req), address_));
  SYNCLINE_RETURN_IF_ERROR(node::ResponseStatus(resp));
  return resp.digest();
}

Status Client::Dump(const std::string& collection, std::vector<DumpEntry>* out) {
  std::string after_collection, after_key;
  while (true) {
    node::v1::Request req;
    auto* d = req.mutable_dump();
    d->set_collection(collection);
    d->set_after_collection(after_collection);
    d->set_after_key(after_key);
    d->set_limit(1000);
    SYNCLINE_ASSIGN_OR_RETURN(auto resp, impl_->Call(std::move(req), address_));
    SYNCLINE_RETURN_IF_ERROR(node::ResponseStatus(resp));
    for (const auto& e : resp.dump().entries()) out->push_back(DumpEntry{e.collection(), e.key(), e.rendered()});
    if (!resp.dump().more() || resp.dump().entries().empty()) return Status::Ok();
    after_collection = out->back().collection;
    after_key = out->back().key;
  }
}

Result<FeedBatch> Client::ReadFeed(const FeedQuery& query) {
  node::v1::Request req;
  auto* f = req.mutable_feed();
  f->set_cursor(query.cursor);
  f->set_after(query.after);
  f->set_from_oldest(query.from_oldest);
  f->set_max_entries(query.max_entries);
  SYNCLINE_ASSIGN_OR_RETURN(auto resp, impl_->Call(std::move(req), address_));
  SYNCLINE_RETURN_IF_ERROR(node::ResponseStatus(resp));
  return node::DecodeFeedBatch(resp.feed());
}

Status Client::CommitFeedCursor(const std::string& name, uint64_t seq) {
  node::v1::Request req;
  req.mutable_commit_cursor()->set_name(name);
  req.mutable_commit_cursor()->set_seq(seq);
  SYNCLINE_ASSIGN_OR_RETURN(auto resp, impl_->Call(std::move(req), address_));
  return node::ResponseStatus(resp);
}

Status Client::RemoveFeedConsumer(const std::string& name) {
  node::v1::Request req;
  req.mutable_commit_cursor()->set_name(name);
  req.mutable_commit_cursor()->set_remove(true);
  SYNCLINE_ASSIGN_OR_RETURN(auto resp, impl_->Call(std::move(req), address_));
  return node::ResponseStatus(resp);
}

Result<std::vector<replication::KeyVersion>> Client::KeyVersions(const std::string& collection,
                                                                 const std::string& after_collection,
                                                                 const std::string& after_key, uint32_t limit,
                                                                 bool* more) {
  node::v1::Request req;
  auto* k = req.mutable_key_versions();
  k->set_collection(collection);
  k->set_after_collection(after_collection);
  k->set_after_key(after_key);
  k->set_limit(limit);
  SYNCLINE_ASSIGN_OR_RETURN(auto resp, impl_->Call(std::move(req), address_));
  SYNCLINE_RETURN_IF_ERROR(node::ResponseStatus(resp));
  std::vector<replication::KeyVersion> out;
  SYNCLINE_RETURN_IF_ERROR(node::DecodeKeyVersions(resp.key_versions(), &out).WithContext("answer from " + address_));
  *more = resp.key_versions().more() && !out.empty();
  return out;
}

Result<std::vector<replication::AntiEntropyRun>> Client::RunAntiEntropy(const std::string& peer) {
  node::v1::Request req;
  req.mutable_anti_entropy()->set_peer(peer);
  SYNCLINE_ASSIGN_OR_RETURN(auto resp, impl_->Call(std::move(req), address_));
  SYNCLINE_RETURN_IF_ERROR(node::ResponseStatus(resp));
  auto runs = node::DecodeAntiEntropyRuns(resp.anti_entropy());
  if (!runs.ok()) return runs.status().WithContext("answer from " + address_);
  return runs;
}

uint64_t Client::bytes_sent() const { return impl_->bytes_sent; }
uint64_t Client::bytes_received() const { return impl_->bytes_received; }

}  // namespace syncline
