#include "test_cluster.h"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

namespace syncline::testing {

NodeOptions TestNodeOptions(const std::string& node_id, const std::string& dir, uint16_t port) {
  NodeOptions o;
  o.node_id = node_id;
  o.data_dir = dir;
  o.cluster_id = "test-cluster";
  o.secret = "test-secret";
  o.peer_host = "127.0.0.1";
  o.peer_port = port;
  o.reconnect_max_millis = 300;
  return o;
}

std::unique_ptr<Node> StartNode(NodeOptions options) {
  auto node = Node::Open(std::move(options));
  EXPECT_TRUE(node.ok()) << node.status();
  if (!node.ok()) return nullptr;
  Status s = (*node)->Start();
  EXPECT_TRUE(s.ok()) << s;
  if (!s.ok()) return nullptr;
  return std::move(node).value();
}

bool WaitForEqualDigests(const std::vector<Node*>& nodes, int64_t deadline_millis, std::vector<std::string>* digests) {
  auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(deadline_millis);
  while (true) {
    digests->clear();
    for (Node* n : nodes) {
      auto d = n->Digest();
      digests->push_back(d.ok() ? *d : d.status().ToString());
    }
    bool equal = true;
    for (const auto& d : *digests) equal = equal && d == digests->front();
    if (equal) return true;
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

}  // namespace syncline::testing
