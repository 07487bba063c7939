// Helpers for integration tests with in-process nodes (syncline::Node) on 127.0.0.1.
#ifndef SYNCLINE_TESTS_INTEGRATION_TEST_CLUSTER_H_
#define SYNCLINE_TESTS_INTEGRATION_TEST_CLUSTER_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "syncline/node/node.h"

namespace syncline::testing {

// Options for a test node on 127.0.0.1 with a shared test secret and short reconnect backoff.
NodeOptions TestNodeOptions(const std::string& node_id, const std::string& dir, uint16_t port = 0);

// Opens and starts a node; fails the test (returns null) on error.
std::unique_ptr<Node> StartNode(NodeOptions options);

// Waits (polling, up to `deadline_millis`) until all nodes report the same digest; returns false
// on timeout, with the digests seen last.
bool WaitForEqualDigests(const std::vector<Node*>& nodes, int64_t deadline_millis, std::vector<std::string>* digests);

// Polls `pred` every 10 ms until it holds (true) or `deadline_millis` passed (false).
template <typename Pred>
bool WaitFor(Pred pred, int64_t deadline_millis = 60'000) {
  auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(deadline_millis);
  while (!pred()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

}  // namespace syncline::testing

#endif  // SYNCLINE_TESTS_INTEGRATION_TEST_CLUSTER_H_
