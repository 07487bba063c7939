// orders-service: the write side of the database-per-service example. It owns a Syncline node
// (its own data directory), keeps one lww record per order in the collection "orders", and
// serves the node's client endpoint so that other services can read its change feed (and so that
// tools such as `syncline watch` can look at it). It never reads another service's store.
//
//   orders-service --data-dir DIR [--client-listen 127.0.0.1:0] [--port-file FILE]
//                  [--place N] [--first K]
//
// On start it places orders K..K+N-1 (customer c<i mod 3>, a deterministic amount), then cancels
// every third of them and re-prices every fifth, so the feed holds creates and updates. It writes
// its client port to FILE and serves until SIGTERM or SIGINT. Exit codes: 0 stopped, 1 usage,
// 2 failed.
#include <CLI/CLI.hpp>
#include <signal.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "order.h"
#include "syncline/node/node.h"

namespace {

int Fail(const std::string& what, const syncline::Status& s) {
  std::fprintf(stderr, "orders-service: %s: %s\n", what.c_str(), s.ToString().c_str());
  return 2;
}

// The order number `i` as placed.
orders::Order Placed(int64_t i) {
  return orders::Order{"c" + std::to_string(i % 3), 100 + (i * 37) % 900, false};
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"orders-service: the write side of the database-per-service example"};
  std::string data_dir, client_listen = "127.0.0.1:0", port_file;
  int64_t place = 0, first = 0;
  app.add_option("--data-dir", data_dir, "this service's own Syncline data directory")->required();
  app.add_option("--client-listen", client_listen, "HOST:PORT of the client endpoint (port 0: any)")->capture_default_str();
  app.add_option("--port-file", port_file, "write the client port here once serving");
  app.add_option("--place", place, "orders to place on start")->check(CLI::Range(int64_t{0}, int64_t{1000000}));
  app.add_option("--first", first, "number of the first order placed")->check(CLI::NonNegativeNumber);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 1;
  }
  size_t colon = client_listen.rfind(':');
  if (colon == std::string::npos) {
    std::fprintf(stderr, "orders-service: --client-listen '%s' is not HOST:PORT\n", client_listen.c_str());
    return 1;
  }

  // Signals are taken by sigwait below; block them before the node starts its threads.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);

  syncline::NodeOptions o;
  o.node_id = "orders";
  o.data_dir = data_dir;
  o.cluster_id = "orders-service";
  o.secret = "orders-service-local";  // no peers: the secret only guards the peer endpoint
  o.serve_clients = true;
  o.client_host = client_listen.substr(0, colon);
  o.client_port = static_cast<uint16_t>(std::stoi(client_listen.substr(colon + 1)));
  auto node = syncline::Node::Open(o);
  if (!node.ok()) return Fail("open " + data_dir, node.status());
  syncline::Status s = (*node)->CreateCollection("orders", "lww");
  if (!s.ok()) return Fail("create the orders collection", s);

  using syncline::replication::WriteOp;
  for (int64_t i = first; i < first + place; ++i) {
    auto r = (*node)->Write("orders", "order-" + std::to_string(i), WriteOp::Put(orders::Encode(Placed(i))));
    if (!r.ok()) return Fail("place order " + std::to_string(i), r.status());
  }
  for (int64_t i = first; i < first + place; ++i) {
    orders::Order o2 = Placed(i);
    if (i % 5 == 0) o2.amount_cents += 50;
    if (i % 3 == 0) o2.cancelled = true;
    if (i % 3 != 0 && i % 5 != 0) continue;
    auto r = (*node)->Write("orders", "order-" + std::to_string(i), WriteOp::Put(orders::Encode(o2)));
    if (!r.ok()) return Fail("update order " + std::to_string(i), r.status());
  }

  s = (*node)->Start();
  if (!s.ok()) return Fail("start serving", s);
  if (!port_file.empty()) {
    std::string tmp = port_file + ".tmp";
    {
      std::ofstream out(tmp);
      out << (*node)->client_port() << "\n";
      if (!out) return Fail("write " + tmp, syncline::Status::IOError("cannot write the port file"));
    }
    if (std::rename(tmp.c_str(), port_file.c_str()) != 0) {
      return Fail("rename " + tmp, syncline::Status::IOError("cannot rename the port file"));
    }
  }
  std::printf("orders-service: %lld orders placed, serving on %s:%u\n", static_cast<long long>(place),
              o.client_host.c_str(), static_cast<unsigned>((*node)->client_port()));
  std::fflush(stdout);
  int sig = 0;
  sigwait(&stop, &sig);
  (*node)->Stop();
  return 0;
}
