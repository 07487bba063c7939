// SimNetwork: a seeded, single-threaded fake network between simulated nodes. Every message is
// delivered after a random delay (so messages overtake each other), and may be dropped or
// duplicated with the configured probabilities; a cut link drops everything sent over it.
// Messages carry the generation of the connection they were sent on, so a message from before a
// crash-restart is never delivered to the new session (as a TCP connection would die with it).
#ifndef SYNCLINE_TESTS_SIM_SIM_NETWORK_H_
#define SYNCLINE_TESTS_SIM_SIM_NETWORK_H_

#include <cstdint>
#include <queue>
#include <random>
#include <set>
#include <utility>
#include <vector>

#include "syncline/replication/frame.h"

namespace syncline::sim {

struct NetworkOptions {
  int64_t min_delay_millis = 1;
  int64_t max_delay_millis = 40;
  double drop = 0.0;
  double duplicate = 0.0;
};

struct Message {
  int64_t deliver_at = 0;
  uint64_t order = 0;  // ties broken by send order, so runs are deterministic
  int from = 0;
  int to = 0;
  uint64_t generation = 0;
  replication::Frame frame;
};

class SimNetwork {
 public:
  SimNetwork(NetworkOptions options, uint64_t seed) : options_(options), rng_(seed) {}

  void set_options(NetworkOptions options) { options_ = options; }
  void Send(int64_t now, int from, int to, uint64_t generation, replication::Frame frame);
  // The next message due at or before `now`, if any.
  bool PopDue(int64_t now, Message* out);
  // Time of the next pending message (INT64_MAX when none).
  int64_t NextDue() const;
  size_t pending() const { return queue_.size(); }

  void Cut(int a, int b);
  void Heal();
  bool IsCut(int a, int b) const;

  uint64_t sent() const { return sent_; }
  uint64_t dropped() const { return dropped_; }

 private:
  struct Later {
    bool operator()(const Message& a, const Message& b) const {
      return a.deliver_at != b.deliver_at ? a.deliver_at > b.deliver_at : a.order > b.order;
    }
  };
  NetworkOptions options_;
  std::mt19937_64 rng_;
  std::priority_queue<Message, std::vector<Message>, Later> queue_;
  std::set<std::pair<int, int>> cut_;
  uint64_t order_ = 0;
  uint64_t sent_ = 0;
  uint64_t dropped_ = 0;
};

}  // namespace syncline::sim

#endif  // SYNCLINE_TESTS_SIM_SIM_NETWORK_H_
