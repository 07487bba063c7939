// Replica::WriteBatch: several typed writes and a caller's write function in one transaction
// (the change feed's outbox), all or nothing; and taken back like single writes after a promotion.
#include <gtest/gtest.h>

#include "syncline/core/clock.h"
#include "syncline/core/feed.h"
#include "syncline/core/memory_store.h"
#include "syncline/replication/replica.h"

namespace syncline::replication {
namespace {

struct Fixture {
  Fixture() {
    core::MemoryStoreOptions so;
    so.storage = core::NewMemoryStorage();
    store = core::OpenMemoryStore(so);
    ReplicaOptions ro;
    ro.clock = &clock;
    replica = std::move(Replica::Open(store.get(), ro)).value();
    EXPECT_TRUE(replica->CreateCollection("kv", "lww").ok());
    EXPECT_TRUE(replica->CreateCollection("c", "counter").ok());
  }
  ~Fixture() {
    replica.reset();
    (void)store->Close();
  }
  uint64_t FeedHead() {
    uint64_t head = 0;
    EXPECT_TRUE(store->Read([&](core::ReadView& v) -> Status {
                       SYNCLINE_ASSIGN_OR_RETURN(core::FeedBounds b, core::GetFeedBounds(v));
                       head = b.head;
                       return Status::Ok();
                     }).ok());
    return head;
  }
  ManualClock clock{1'800'000'000'000, 0};
  std::unique_ptr<core::Store> store;
  std::unique_ptr<Replica> replica;
};

TEST(WriteBatch, AppliesInOrderWithTheCallersWrites) {
  Fixture f;
  Replica& r = *f.replica;
  auto res = r.WriteBatchAndWait({{"kv", "a", WriteOp::Put("1")}, {"c", "n", WriteOp::Add(2)}, {"kv", "a", WriteOp::Put("2")}},
                                 [](core::WriteTxn& txn) { return core::AdvanceSourcePosition(txn, "src", 0, 3); });
  ASSERT_TRUE(res.ok()) << res.status();
  ASSERT_EQ(res->size(), 3u);
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ((*res)[i].dot, (Dot{r.id(), i + 1}));
  EXPECT_LT((*res)[0].hlc, (*res)[2].hlc);
  EXPECT_EQ(r.Read("kv", "a")->values, std::vector<std::string>{"2"});
  EXPECT_EQ(r.Read("c", "n")->counter, 2);
  EXPECT_EQ(r.Context().vv().Get(r.id()), 3u);
  EXPECT_EQ(r.stats().local_writes, 3u);
  EXPECT_EQ(f.FeedHead(), 3u);
}

TEST(WriteBatch, AllOrNothing) {
  Fixture f;
  Replica& r = *f.replica;
  ASSERT_TRUE(r.WriteAndWait("c", "n", WriteOp::Add(1)).ok());
  // The caller's function fails: nothing of the batch is applied.
  auto failed = r.WriteBatchAndWait({{"c", "n", WriteOp::Add(5)}},
                                    [](core::WriteTxn&) { return Status::FailedPrecondition("position moved"); });
  EXPECT_EQ(failed.status().code(), StatusCode::kFailedPrecondition);
  // A write of the batch is invalid: refused before anything runs, naming it.
  auto invalid = r.WriteBatchAndWait({{"c", "n", WriteOp::Add(5)}, {"kv", "k", WriteOp::Add(1)}}, nullptr);
  EXPECT_EQ(invalid.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(invalid.status().message().find("write 1 of the batch"), std::string::npos) << invalid.status();
  auto unknown = r.WriteBatchAndWait({{"nowhere", "k", WriteOp::Add(1)}}, nullptr);
  EXPECT_EQ(unknown.status().code(), StatusCode::kNotFound);
  std::vector<KeyedWrite> many(Replica::kMaxBatchWrites + 1, KeyedWrite{"c", "n", WriteOp::Add(1)});
  EXPECT_EQ(r.WriteBatchAndWait(std::move(many), nullptr).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(r.Read("c", "n")->counter, 1);
  EXPECT_EQ(r.Context().vv().Get(r.id()), 1u);
  EXPECT_EQ(f.FeedHead(), 1u);
  // The next write gets the next dot: nothing was consumed by the failures.
  auto next = r.WriteBatchAndWait({{"c", "n", WriteOp::Add(1)}}, nullptr);
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(next->front().dot.counter, 2u);
}

TEST(WriteBatch, TakenBackAfterAPromotionLikeSingleWrites) {
  Fixture f;
  Replica& r = *f.replica;
  r.SetUndo(true);
  ASSERT_TRUE(r.WriteAndWait("kv", "a", WriteOp::Put("kept")).ok());
  auto before = r.Digest();
  ASSERT_TRUE(before.ok());
  ASSERT_TRUE(r.WriteBatchAndWait({{"kv", "a", WriteOp::Put("lost")}, {"c", "n", WriteOp::Add(3)}}, nullptr).ok());
  Result<uint64_t> taken = Status::Internal("not run");
  r.RollBack([](const Dot& d) { return d.counter > 1; }, "left behind", [&](Result<uint64_t> n) { taken = n; });
  ASSERT_TRUE(taken.ok()) << taken.status();
  EXPECT_EQ(*taken, 2u);
  EXPECT_EQ(*r.Digest(), *before);
}

}  // namespace
}  // namespace syncline::replication
