// A replica on an in-memory store with a manual clock and one collection of every built-in type
// (reg: lww, mv: mv, cnt: counter, tags: set, doc: map), for the replica unit tests.
#ifndef SYNCLINE_TESTS_UNIT_REPLICATION_REPLICA_NODE_H_
#define SYNCLINE_TESTS_UNIT_REPLICATION_REPLICA_NODE_H_

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "syncline/core/memory_store.h"
#include "syncline/replication/replica.h"

namespace syncline::replication::testing {

struct ReplicaNode {
  ManualClock clock{1'800'000'000'000};
  std::unique_ptr<core::Store> store;
  std::unique_ptr<Replica> replica;

  explicit ReplicaNode(uint64_t seed, const std::string& secret = "test-secret") {
    core::MemoryStoreOptions so;
    so.seed = seed;
    store = core::OpenMemoryStore(so);
    Reopen(secret);
    for (auto [name, resolver] : {std::pair{"reg", "lww"}, {"mv", "mv"}, {"cnt", "counter"}, {"tags", "set"},
                                  {"doc", "map"}}) {
      EXPECT_TRUE(replica->CreateCollection(name, resolver).ok());
    }
  }

  // Closes the replica and opens it again on the same store, its item index keyed by `secret`.
  void Reopen(const std::string& secret) {
    replica.reset();
    ReplicaOptions ro;
    ro.clock = &clock;
    ro.index_secret = secret;
    auto r = Replica::Open(store.get(), ro);
    ASSERT_TRUE(r.ok()) << r.status();
    replica = std::move(r).value();
  }

  // Every change in the log, origin by origin.
  std::vector<core::Change> Log() {
    std::vector<core::Change> out;
    DotContext ctx = replica->Context();
    for (const auto& e : ctx.vv().entries()) {
      EXPECT_TRUE(replica->ReadLog(e.first, 1, 1'000'000, 1 << 30, &out).ok());
    }
    return out;
  }

  // The stored item index's sum over every item.
  RangeSum IndexSum() {
    RangeSum sum;
    Status s = replica->WithItemIndex([&](const ItemIndex& index) -> Status {
      SYNCLINE_ASSIGN_OR_RETURN(sum, index.RangeFingerprint("", std::nullopt));
      return Status::Ok();
    });
    EXPECT_TRUE(s.ok()) << s;
    return sum;
  }
};

// Applies `changes` (e.g. another replica's Log()) as log shipping would.
inline void Apply(Replica& r, std::vector<core::Change> changes) {
  Status out = Status::Internal("not called");
  r.ApplyChanges(std::move(changes), [&](Result<ApplyStats> s) { out = s.status(); });
  ASSERT_TRUE(out.ok()) << out;
}

}  // namespace syncline::replication::testing

#endif  // SYNCLINE_TESTS_UNIT_REPLICATION_REPLICA_NODE_H_
