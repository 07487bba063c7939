// Replica::Write's queue: writes queued while the store's writer is busy commit together, in the
// order they were made; one write's own error fails it alone; the queue is bounded.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <limits>
#include <thread>

#include "support/temp_dir.h"
#include "syncline/core/clock.h"
#include "syncline/core/lmdb_store.h"
#include "syncline/replication/replica.h"

namespace syncline::replication {
namespace {

using syncline::testing::TempDir;

struct Fixture {
  explicit Fixture(ReplicaOptions ro = {}) {
    auto s = core::OpenLmdbStore(dir.str());
    EXPECT_TRUE(s.ok()) << s.status();
    store = std::move(s).value();
    ro.clock = &clock;
    auto r = Replica::Open(store.get(), ro);
    EXPECT_TRUE(r.ok()) << r.status();
    replica = std::move(r).value();
    EXPECT_TRUE(replica->CreateCollection("kv", "lww").ok());
    EXPECT_TRUE(replica->CreateCollection("c", "counter").ok());
  }
  ~Fixture() {
    replica.reset();
    (void)store->Close();
  }
  // Occupies the writer until the returned promise is set, so that writes made meanwhile queue.
  std::shared_ptr<std::promise<void>> HoldWriter() {
    auto release = std::make_shared<std::promise<void>>();
    auto started = std::make_shared<std::promise<void>>();
    std::shared_future<void> go = release->get_future().share();
    store->Submit(
        [go, started](core::WriteTxn&) {
          started->set_value();
          go.wait();
          return Status::Ok();
        },
        nullptr);
    started->get_future().wait();
    return release;
  }
  TempDir dir;
  ManualClock clock{1'800'000'000'000, 0};
  std::unique_ptr<core::Store> store;
  std::unique_ptr<Replica> replica;
};

struct Outcome {
  std::promise<Result<WriteResult>> p;
  std::future<Result<WriteResult>> f = p.get_future();
  Replica::WriteDone Done() {
    return [this](Result<WriteResult> r) { p.set_value(std::move(r)); };
  }
};

TEST(WriteQueue, QueuedWritesCommitTogetherInOrder) {
  Fixture f;
  Replica& r = *f.replica;
  uint64_t groups_before = f.store->stats().groups_committed;
  auto release = f.HoldWriter();
  constexpr int kWrites = 50;
  std::vector<Outcome> out(kWrites);
  for (int i = 0; i < kWrites; ++i) r.Write("kv", "k" + std::to_string(i % 5), WriteOp::Put(std::to_string(i)), out[i].Done());
  release->set_value();
  for (int i = 0; i < kWrites; ++i) {
    auto res = out[i].f.get();
    ASSERT_TRUE(res.ok()) << i << ": " << res.status();
    EXPECT_EQ(res->dot, (Dot{r.id(), static_cast<uint64_t>(i + 1)})) << i;
  }
  // The holder's transaction, then one for all fifty.
  EXPECT_LE(f.store->stats().groups_committed - groups_before, 2u);
  for (int k = 0; k < 5; ++k) {
    EXPECT_EQ(r.Read("kv", "k" + std::to_string(k))->values, std::vector<std::string>{std::to_string(45 + k)});
  }
  EXPECT_EQ(r.Context().vv().Get(r.id()), static_cast<uint64_t>(kWrites));
  EXPECT_EQ(r.stats().local_writes, static_cast<uint64_t>(kWrites));
  std::vector<core::Change> log;
  ASSERT_TRUE(r.ReadLog(r.id(), 1, 1000, 1 << 20, &log).ok());
  ASSERT_EQ(log.size(), static_cast<size_t>(kWrites));
  for (int i = 1; i < kWrites; ++i) EXPECT_LT(log[i - 1].hlc, log[i].hlc) << i;
}

TEST(WriteQueue, OneWritesErrorFailsItAlone) {
  Fixture f;
  Replica& r = *f.replica;
  // A counter one addition short of overflowing this replica's total.
  ASSERT_TRUE(r.WriteAndWait("c", "big", WriteOp::Add(std::numeric_limits<int64_t>::max())).ok());
  ASSERT_TRUE(r.WriteAndWait("c", "big", WriteOp::Add(std::numeric_limits<int64_t>::max())).ok());
  auto release = f.HoldWriter();
  Outcome a, bad, b, c;
  r.Write("kv", "x", WriteOp::Put("1"), a.Done());
  r.Write("c", "big", WriteOp::Add(2), bad.Done());  // overflows: fails inside the transaction
  r.Write("kv", "x", WriteOp::Put("2"), b.Done());
  r.Write("c", "n", WriteOp::Add(3), c.Done());
  release->set_value();
  auto ra = a.f.get(), rbad = bad.f.get(), rb = b.f.get(), rc = c.f.get();
  ASSERT_TRUE(ra.ok()) << ra.status();
  ASSERT_FALSE(rbad.ok());
  EXPECT_EQ(rbad.status().code(), StatusCode::kInvalidArgument) << rbad.status();
  EXPECT_NE(rbad.status().message().find("overflow"), std::string::npos) << rbad.status();
  EXPECT_NE(rbad.status().message().find("'c'"), std::string::npos) << rbad.status();
  ASSERT_TRUE(rb.ok()) << rb.status();
  ASSERT_TRUE(rc.ok()) << rc.status();
  // The others keep their order and leave no gap where the failed one was.
  EXPECT_EQ(ra->dot.counter, 3u);
  EXPECT_EQ(rb->dot.counter, 4u);
  EXPECT_EQ(rc->dot.counter, 5u);
  EXPECT_LT(ra->hlc, rb->hlc);
  EXPECT_EQ(r.Read("kv", "x")->values, std::vector<std::string>{"2"});
  EXPECT_EQ(r.Read("c", "n")->counter, 3);
  EXPECT_EQ(r.Context().vv().Get(r.id()), 5u);
  EXPECT_EQ(r.stats().write_errors, 1u);
}

TEST(WriteQueue, AtMostMaxWritesPerCommitInOneTransaction) {
  ReplicaOptions ro;
  ro.max_writes_per_commit = 4;
  Fixture f(ro);
  Replica& r = *f.replica;
  uint64_t groups_before = f.store->stats().groups_committed;
  auto release = f.HoldWriter();
  std::vector<Outcome> out(10);
  for (int i = 0; i < 10; ++i) r.Write("kv", "k", WriteOp::Put(std::to_string(i)), out[i].Done());
  release->set_value();
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(out[i].f.get().ok()) << i;
  // The holder, then 4 + 4 + 2.
  EXPECT_EQ(f.store->stats().groups_committed - groups_before, 4u);
  EXPECT_EQ(r.Read("kv", "k")->values, std::vector<std::string>{"9"});
}

TEST(WriteQueue, AFullQueueMakesTheWriterWait) {
  ReplicaOptions ro;
  ro.max_queued_writes = 3;
  Fixture f(ro);
  Replica& r = *f.replica;
  auto release = f.HoldWriter();
  std::vector<Outcome> out(3);
  for (int i = 0; i < 3; ++i) r.Write("kv", "k", WriteOp::Put(std::to_string(i)), out[i].Done());
  std::atomic<bool> fourth_returned{false};
  Outcome last;
  std::thread t([&] {
    r.Write("kv", "k", WriteOp::Put("3"), last.Done());
    fourth_returned = true;
  });
  // The fourth write waits for room; nothing can make room while the writer is held.
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(fourth_returned.load());
  release->set_value();
  t.join();
  EXPECT_TRUE(fourth_returned.load());
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(out[i].f.get().ok()) << i;
  ASSERT_TRUE(last.f.get().ok());
  EXPECT_EQ(r.Read("kv", "k")->values, std::vector<std::string>{"3"});
}

TEST(WriteQueue, WritesQueuedWhenTheStoreClosesGetAnError) {
  Fixture f;
  Replica& r = *f.replica;
  ASSERT_TRUE(f.store->Close().ok());
  Outcome o;
  r.Write("kv", "k", WriteOp::Put("v"), o.Done());
  auto res = o.f.get();
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(res.status().code(), StatusCode::kUnavailable) << res.status();
}

}  // namespace
}  // namespace syncline::replication
