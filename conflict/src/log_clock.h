// Bookkeeping shared by the types that can be collected (mv, set, map): whether a change
// carries its log dot, the key dot a new write gets, and whether a stability horizon (which
// speaks in log dots) covers every change of a key. See docs/conflict-model.md, "Tombstones".
#ifndef SYNCLINE_CONFLICT_SRC_LOG_CLOCK_H_
#define SYNCLINE_CONFLICT_SRC_LOG_CLOCK_H_

#include "syncline/core/dot.h"
#include "syncline/core/dot_context.h"
#include "syncline/core/version_vector.h"

namespace syncline::conflict::internal {

// Whether `log_dot` names a change made by `replica`.
inline bool Logged(ReplicaId replica, const Dot& log_dot) { return log_dot.valid() && log_dot.replica == replica; }

// The key dot of a new write by `replica` into a dot store with `context`: the next one, or,
// when the context holds none of the replica's dots, the change's log counter. A replica's log
// counters grow with every change it makes and each of its key dots is at most the log counter
// of its change, so that dot is above every dot the replica ever made for this key, even if the
// key was collected here and is still remembered elsewhere. The delta's context then holds the
// whole range up to it (a FreshDot with `range` set, see ClaimDot), which keeps contexts free of
// a dot cloud: the lower dots of that range were never dots of this key, or belong to changes
// every replica has applied and nothing live holds.
struct FreshDot {
  Dot dot;
  bool range = false;
};

inline FreshDot NewDot(const DotContext& context, ReplicaId replica, const Dot& log_dot) {
  Dot next = context.NextDot(replica);
  if (next.counter == 1 && Logged(replica, log_dot) && log_dot.counter > 1) return FreshDot{log_dot, true};
  return FreshDot{next, false};
}

// Records a dot made by NewDot in a delta's context.
inline void ClaimDot(DotContext* context, const FreshDot& fresh) {
  if (fresh.range) {
    context->Merge(DotContext(VersionVector{{fresh.dot.replica, fresh.dot.counter}}));
  } else {
    context->Add(fresh.dot);
  }
}

// Whether every change of `replica` this key recorded in `log_clock` is covered by `horizon`
// (false when none is recorded).
inline bool ReplicaStable(const VersionVector& log_clock, const VersionVector& horizon, ReplicaId replica) {
  uint64_t last = log_clock.Get(replica);
  return last != 0 && horizon.Get(replica) >= last;
}

// Whether every change of a key is stable: no change was unlogged, every replica with a dot in
// `context` has its changes recorded and covered, and so has every replica in `log_clock`
// (deletes and removes leave no dot, only their log counter).
inline bool KeyStable(const DotContext& context, const VersionVector& log_clock, bool unlogged,
                      const VersionVector& horizon) {
  if (unlogged || log_clock.empty() || !horizon.Dominates(log_clock)) return false;
  for (const auto& entry : context.vv().entries()) {
    if (!ReplicaStable(log_clock, horizon, entry.first)) return false;
  }
  for (const Dot& d : context.CloudDots()) {
    if (!ReplicaStable(log_clock, horizon, d.replica)) return false;
  }
  return true;
}

}  // namespace syncline::conflict::internal

#endif  // SYNCLINE_CONFLICT_SRC_LOG_CLOCK_H_
