#include "sim_network.h"

#include <algorithm>
#include <limits>

namespace syncline::sim {

void SimNetwork::Send(int64_t now, int from, int to, uint64_t generation, replication::Frame frame) {
  ++sent_;
  std::bernoulli_distribution drop(options_.drop), dup(options_.duplicate);
  std::uniform_int_distribution<int64_t> delay(options_.min_delay_millis, options_.max_delay_millis);
  if (drop(rng_)) {
    ++dropped_;
    return;
  }
  int copies = dup(rng_) ? 2 : 1;
  for (int i = 0; i < copies; ++i) {
    Message m;
    m.deliver_at = now + delay(rng_);
    m.order = order_++;
    m.from = from;
    m.to = to;
    m.generation = generation;
    m.frame = frame;
    queue_.push(std::move(m));
  }
}

bool SimNetwork::PopDue(int64_t now, Message* out) {
  while (!queue_.empty() && queue_.top().deliver_at <= now) {
    Message m = queue_.top();
    queue_.pop();
    if (IsCut(m.from, m.to)) {
      ++dropped_;
      continue;
    }
    *out = std::move(m);
    return true;
  }
  return false;
}

int64_t SimNetwork::NextDue() const {
  return queue_.empty() ? std::numeric_limits<int64_t>::max() : queue_.top().deliver_at;
}

void SimNetwork::Cut(int a, int b) { cut_.insert({std::min(a, b), std::max(a, b)}); }
void SimNetwork::Heal() { cut_.clear(); }
bool SimNetwork::IsCut(int a, int b) const { return cut_.count({std::min(a, b), std::max(a, b)}) > 0; }

}  // namespace syncline::sim
