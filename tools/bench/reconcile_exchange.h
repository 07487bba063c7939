// The in-process message loop of two Reconcilers, shared by the anti-entropy benchmarks.
#ifndef SYNCLINE_TOOLS_BENCH_RECONCILE_EXCHANGE_H_
#define SYNCLINE_TOOLS_BENCH_RECONCILE_EXCHANGE_H_

#include <optional>
#include <string>

#include "syncline/replication/anti_entropy.h"

namespace syncline::bench {

// `a` initiates; messages alternate until one side has nothing more to say. The first error
// (naming the side) stops the exchange.
inline Status Exchange(replication::Reconciler& a, replication::Reconciler& b) {
  auto first = a.Initiate();
  if (!first.ok()) return first.status().WithContext("initiating");
  std::optional<std::string> msg = *first;
  bool to_b = true;
  while (msg) {
    auto next = (to_b ? b : a).HandleMessage(*msg);
    if (!next.ok()) return next.status().WithContext(to_b ? "side B" : "side A");
    msg = *next;
    to_b = !to_b;
  }
  return Status::Ok();
}

}  // namespace syncline::bench

#endif  // SYNCLINE_TOOLS_BENCH_RECONCILE_EXCHANGE_H_
