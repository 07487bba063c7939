// The replica on a store whose commits become durable later than they become visible (staged
// writes, store.h): writes are answered, and counted as held (Context), only once durable, while
// they are readable (AppliedContext) at once, the next transaction is not held up and the clock
// already follows what was applied.
#include <gtest/gtest.h>

#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

#include "replica_node.h"
#include "syncline/core/memory_store.h"
#include "syncline/replication/replica.h"

namespace syncline::replication {
namespace {

// An in-memory store that keeps the durable reports of staged writes until Release(), as the
// LMDB store does while its sync thread syncs. A write from Submit first releases them (it runs
// only after every earlier transaction's callbacks).
class HeldDurabilityStore final : public core::Store {
 public:
  HeldDurabilityStore() {
    core::MemoryStoreOptions o;
    o.seed = 7;
    inner_ = core::OpenMemoryStore(o);
  }

  ReplicaId replica_id() const override { return inner_->replica_id(); }
  void Submit(core::WriteFn fn, core::WriteDone done) override {
    Release();
    inner_->Submit(std::move(fn), std::move(done));
  }
  void SubmitStaged(core::WriteFn fn, core::WriteDone committed, core::WriteDone durable) override {
    inner_->Submit(std::move(fn), [this, committed = std::move(committed), durable = std::move(durable)](Status s) {
      if (committed) committed(s);
      std::lock_guard<std::mutex> lock(mu_);
      held_.emplace_back(std::move(durable), std::move(s));
    });
  }
  Status Read(const core::ReadFn& fn) override { return inner_->Read(fn); }
  void Flush() override {
    Release();
    inner_->Flush();
  }
  Status Close() override {
    Release();
    return inner_->Close();
  }
  core::StoreStats stats() const override { return inner_->stats(); }

  size_t held() {
    std::lock_guard<std::mutex> lock(mu_);
    return held_.size();
  }
  // Reports every held commit durable, in commit order.
  void Release() {
    while (true) {
      std::pair<core::WriteDone, Status> next;
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (held_.empty()) return;
        next = std::move(held_.front());
        held_.pop_front();
      }
      if (next.first) next.first(std::move(next.second));
    }
  }

 private:
  std::unique_ptr<core::Store> inner_;
  std::mutex mu_;
  std::deque<std::pair<core::WriteDone, Status>> held_;
};

struct Node {
  explicit Node(int64_t wall, size_t max_dot_waiters = 65536) : clock(wall) {
    ReplicaOptions ro;
    ro.clock = &clock;
    ro.max_dot_waiters = max_dot_waiters;
    auto r = Replica::Open(&store, ro);
    EXPECT_TRUE(r.ok()) << r.status();
    replica = std::move(r).value();
    EXPECT_TRUE(replica->CreateCollection("reg", "lww").ok());
  }
  ~Node() {
    replica.reset();
    (void)store.Close();
  }
  ManualClock clock;
  HeldDurabilityStore store;
  std::unique_ptr<Replica> replica;
};

TEST(ReplicaDurabilityTest, LocalWritesAreAnsweredAndHeldOnlyOnceDurable) {
  Node n(1'800'000'000'000);
  std::vector<Result<WriteResult>> answers;
  n.replica->Write("reg", "a", WriteOp::Put("1"), [&](Result<WriteResult> r) { answers.push_back(std::move(r)); });
  n.replica->Write("reg", "b", WriteOp::Put("2"), [&](Result<WriteResult> r) { answers.push_back(std::move(r)); });

  // Both committed (the second drain did not wait for the first to be durable) ...
  ReplicaId me = n.store.replica_id();
  std::vector<core::Change> log;
  ASSERT_TRUE(n.replica->ReadLog(me, 1, 100, 1 << 20, &log).ok());
  EXPECT_EQ(log.size(), 2u);
  EXPECT_EQ(n.store.held(), 2u);
  // ... but neither is answered, nor in the context a publisher ships from and peers are told.
  EXPECT_TRUE(answers.empty());
  EXPECT_FALSE(n.replica->Context().Contains(Dot{me, 1}));
  EXPECT_FALSE(n.replica->Context().Contains(Dot{me, 2}));
  // They are readable here, and the applied context says so.
  EXPECT_TRUE(n.replica->AppliedContext().Contains(Dot{me, 2}));
  EXPECT_EQ(n.replica->Read("reg", "a")->values, std::vector<std::string>{"1"});

  n.store.Release();
  ASSERT_EQ(answers.size(), 2u);
  ASSERT_TRUE(answers[0].ok()) << answers[0].status();
  ASSERT_TRUE(answers[1].ok()) << answers[1].status();
  EXPECT_EQ(answers[0]->dot, (Dot{me, 1}));
  EXPECT_EQ(answers[1]->dot, (Dot{me, 2}));
  EXPECT_TRUE(n.replica->Context().Contains(Dot{me, 2}));
  EXPECT_EQ(n.replica->AppliedContext(), n.replica->Context());
  EXPECT_EQ(n.replica->Read("reg", "b")->values, std::vector<std::string>{"2"});
}

TEST(ReplicaDurabilityTest, AppliedChangesMoveTheClockBeforeTheyAreDurable) {
  // The other node's clock runs a second ahead of ours.
  testing::ReplicaNode ahead(11);
  ahead.clock.AdvanceMillis(1000);
  Node n(1'800'000'000'000);
  n.clock.SetWallMillis(ahead.clock.WallNowMillis() - 1000);
  ASSERT_TRUE(ahead.replica->WriteAndWait("reg", "k", WriteOp::Put("theirs")).ok());
  std::vector<core::Change> theirs = ahead.Log();
  ASSERT_EQ(theirs.size(), 1u);

  std::optional<Result<ApplyStats>> applied;
  n.replica->ApplyChanges(theirs, [&](Result<ApplyStats> r) { applied = std::move(r); });
  EXPECT_FALSE(applied.has_value());
  EXPECT_FALSE(n.replica->Context().Contains(theirs[0].dot));
  EXPECT_TRUE(n.replica->AppliedContext().Contains(theirs[0].dot));

  // Our later write to the key, made while the applied change is not yet durable, is stamped
  // after it and wins.
  std::optional<Result<WriteResult>> mine;
  n.replica->Write("reg", "k", WriteOp::Put("ours"), [&](Result<WriteResult> r) { mine = std::move(r); });
  n.store.Release();
  ASSERT_TRUE(applied.has_value());
  ASSERT_TRUE(applied->ok()) << applied->status();
  EXPECT_EQ((*applied)->applied, 1u);
  EXPECT_TRUE(n.replica->Context().Contains(theirs[0].dot));
  ASSERT_TRUE(mine.has_value());
  ASSERT_TRUE(mine->ok()) << mine->status();
  EXPECT_GT((*mine)->hlc, theirs[0].hlc);
  EXPECT_EQ(n.replica->Read("reg", "k")->values, std::vector<std::string>{"ours"});
}

// What a WhenHeld caller was told, and how often.
struct Told {
  int calls = 0;
  Status last;
  std::function<void(Status)> Callback() {
    return [this](Status s) {
      ++calls;
      last = std::move(s);
    };
  }
};

TEST(ReplicaDurabilityTest, WhenHeldReportsALocalWriteReadableAtCommitAndHeldOnceDurable) {
  Told applied, durable, later, now;  // outlive the replica
  Node n(1'800'000'000'000);
  ReplicaId me = n.store.replica_id();
  n.replica->WhenHeld(Dot{me, 1}, Replica::DotStage::kApplied, applied.Callback());
  n.replica->WhenHeld(Dot{me, 1}, Replica::DotStage::kDurable, durable.Callback());
  n.replica->WhenHeld(Dot{me, 2}, Replica::DotStage::kApplied, later.Callback());
  EXPECT_EQ(applied.calls + durable.calls + later.calls, 0);

  n.replica->Write("reg", "a", WriteOp::Put("1"), [](Result<WriteResult>) {});
  // Committed: readable, so the first waiter is told; not yet durable; write 2 does not exist.
  EXPECT_EQ(applied.calls, 1);
  EXPECT_TRUE(applied.last.ok()) << applied.last;
  EXPECT_EQ(durable.calls, 0);
  EXPECT_EQ(later.calls, 0);

  n.store.Release();
  EXPECT_EQ(durable.calls, 1);
  EXPECT_TRUE(durable.last.ok()) << durable.last;
  EXPECT_EQ(applied.calls, 1);  // once only

  // A stage reached already is reported at once, on the calling thread.
  n.replica->WhenHeld(Dot{me, 1}, Replica::DotStage::kDurable, now.Callback());
  EXPECT_EQ(now.calls, 1);
  EXPECT_TRUE(now.last.ok()) << now.last;

  n.replica->Write("reg", "b", WriteOp::Put("2"), [](Result<WriteResult>) {});
  EXPECT_EQ(later.calls, 1);
  EXPECT_TRUE(later.last.ok()) << later.last;
  n.store.Release();  // the drain's durable report needs the replica
}

TEST(ReplicaDurabilityTest, WhenHeldReportsReceivedChangesAndCancelsWaitersAtClose) {
  testing::ReplicaNode other(21);
  ASSERT_TRUE(other.replica->WriteAndWait("reg", "x", WriteOp::Put("1")).ok());
  ASSERT_TRUE(other.replica->WriteAndWait("reg", "y", WriteOp::Put("2")).ok());
  ASSERT_TRUE(other.replica->WriteAndWait("reg", "z", WriteOp::Put("3")).ok());
  std::vector<core::Change> theirs = other.Log();
  ASSERT_EQ(theirs.size(), 3u);

  Told first_applied, first_durable, third_applied, never;  // outlive the replica
  auto n = std::make_unique<Node>(1'800'000'000'000);
  // Two waiters on the first change (more waiters than the batch has changes: each change is
  // looked up), one on the third (a batch at least as long as the waiters: every waiter is
  // checked), one on a change that never comes.
  n->replica->WhenHeld(theirs[0].dot, Replica::DotStage::kApplied, first_applied.Callback());
  n->replica->WhenHeld(theirs[0].dot, Replica::DotStage::kDurable, first_durable.Callback());
  Dot missing{theirs[0].dot.replica, 99};
  n->replica->WhenHeld(missing, Replica::DotStage::kApplied, never.Callback());

  n->replica->ApplyChanges({theirs[0]}, [](Result<ApplyStats>) {});
  EXPECT_EQ(first_applied.calls, 1);
  EXPECT_TRUE(first_applied.last.ok()) << first_applied.last;
  EXPECT_EQ(first_durable.calls, 0);
  n->store.Release();
  EXPECT_EQ(first_durable.calls, 1);

  n->replica->WhenHeld(theirs[2].dot, Replica::DotStage::kApplied, third_applied.Callback());
  n->replica->ApplyChanges({theirs[1], theirs[2]}, [](Result<ApplyStats>) {});
  EXPECT_EQ(third_applied.calls, 1);
  EXPECT_TRUE(third_applied.last.ok()) << third_applied.last;

  // A duplicate delivery tells nobody again.
  n->replica->ApplyChanges({theirs[0]}, [](Result<ApplyStats>) {});
  n->store.Release();
  EXPECT_EQ(first_applied.calls, 1);
  EXPECT_EQ(first_durable.calls, 1);

  EXPECT_EQ(never.calls, 0);
  n.reset();
  EXPECT_EQ(never.calls, 1);
  EXPECT_EQ(never.last.code(), StatusCode::kUnavailable) << never.last;
}

TEST(ReplicaDurabilityTest, WhenHeldRefusesWaitersBeyondTheLimit) {
  Told a, b, c, d;  // outlive the replica, which tells a waiter left over when it goes
  Node n(1'800'000'000'000, /*max_dot_waiters=*/2);
  ReplicaId me = n.store.replica_id();
  n.replica->WhenHeld(Dot{me, 1}, Replica::DotStage::kApplied, a.Callback());
  n.replica->WhenHeld(Dot{me, 1}, Replica::DotStage::kDurable, b.Callback());
  n.replica->WhenHeld(Dot{me, 2}, Replica::DotStage::kApplied, c.Callback());
  EXPECT_EQ(a.calls + b.calls, 0);
  ASSERT_EQ(c.calls, 1);
  EXPECT_EQ(c.last.code(), StatusCode::kResourceExhausted) << c.last;
  EXPECT_NE(c.last.message().find("max_dot_waiters"), std::string::npos) << c.last;

  // Once the first ones are told, there is room again.
  n.replica->Write("reg", "a", WriteOp::Put("1"), [](Result<WriteResult>) {});
  n.store.Release();
  EXPECT_EQ(a.calls, 1);
  EXPECT_EQ(b.calls, 1);
  n.replica->WhenHeld(Dot{me, 2}, Replica::DotStage::kApplied, d.Callback());
  EXPECT_EQ(d.calls, 0);
}

TEST(ReplicaDurabilityTest, WhenHeldWaitersCanBeCancelled) {
  Told a, b, c, d;  // outlive the replica
  Node n(1'800'000'000'000, /*max_dot_waiters=*/1);
  ReplicaId me = n.store.replica_id();
  uint64_t handle = n.replica->WhenHeld(Dot{me, 1}, Replica::DotStage::kApplied, a.Callback());
  EXPECT_NE(handle, 0u);
  n.replica->WhenHeld(Dot{me, 1}, Replica::DotStage::kDurable, b.Callback());
  ASSERT_EQ(b.calls, 1);
  EXPECT_EQ(b.last.code(), StatusCode::kResourceExhausted) << b.last;

  // A cancelled waiter is never told, and makes room for another.
  EXPECT_TRUE(n.replica->CancelWhenHeld(handle));
  EXPECT_FALSE(n.replica->CancelWhenHeld(handle));
  n.replica->Write("reg", "a", WriteOp::Put("1"), [](Result<WriteResult>) {});
  n.store.Release();
  EXPECT_EQ(a.calls, 0);
  uint64_t later = n.replica->WhenHeld(Dot{me, 2}, Replica::DotStage::kApplied, c.Callback());
  EXPECT_NE(later, 0u);
  EXPECT_EQ(c.calls, 0);

  // A waiter told at once has no handle; one told later cannot be cancelled any more.
  EXPECT_EQ(n.replica->WhenHeld(Dot{me, 1}, Replica::DotStage::kDurable, d.Callback()), 0u);
  EXPECT_EQ(d.calls, 1);
  n.replica->Write("reg", "b", WriteOp::Put("2"), [](Result<WriteResult>) {});
  n.store.Release();
  EXPECT_EQ(c.calls, 1);
  EXPECT_TRUE(c.last.ok()) << c.last;
  EXPECT_FALSE(n.replica->CancelWhenHeld(later));
}

}  // namespace
}  // namespace syncline::replication
