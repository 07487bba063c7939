// ClientServer: the node's client endpoint (docs/client-protocol-v1.md) on an io_context.
//
// Each connection reads frames (bounded by max_frame_bytes before allocating), answers each
// Request with a Response carrying its id, and keeps at most max_in_flight requests open, reading
// no further until one completes (back-pressure). Garbage (a bad frame, a frame that is not a
// request, a request that does not parse) closes that connection and is counted; nothing else is
// affected.
//
// Threading: the io_context's thread. Writes complete on the store's writer thread and are posted
// back.
#ifndef SYNCLINE_NODE_SRC_CLIENT_SERVER_H_
#define SYNCLINE_NODE_SRC_CLIENT_SERVER_H_

#include <asio.hpp>

#include <atomic>
#include <functional>
#include <memory>
#include <set>
#include <string>

#include "syncline/core/status.h"

namespace syncline {
class Node;
}

namespace syncline::node {

class VersionWaits;

struct ClientServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 0;
  size_t max_frame_bytes = size_t{16} << 20;
  size_t max_in_flight = 1024;
  std::function<void(std::string_view)> log;
};

struct ClientServerCounters {
  std::atomic<uint64_t> connections{0};
  std::atomic<uint64_t> requests{0};
  std::atomic<uint64_t> errors{0};        // requests answered with an error
  std::atomic<uint64_t> bad_input{0};     // connections closed for garbage
};

class ClientServer {
 public:
  ClientServer(asio::io_context& io, Node* node, ClientServerOptions options);
  ~ClientServer();
  Status Listen();
  uint16_t port() const { return port_; }
  void Close();
  const ClientServerCounters& counters() const { return counters_; }

 private:
  class Connection;
  void Accept();

  asio::io_context& io_;
  Node* node_;
  ClientServerOptions options_;
  asio::ip::tcp::acceptor acceptor_;
  uint16_t port_ = 0;
  std::set<std::shared_ptr<Connection>> connections_;
  std::shared_ptr<std::atomic<bool>> alive_;
  std::shared_ptr<VersionWaits> version_waits_;  // reads waiting for a version (read-your-writes)
  ClientServerCounters counters_;
};

}  // namespace syncline::node

#endif  // SYNCLINE_NODE_SRC_CLIENT_SERVER_H_
