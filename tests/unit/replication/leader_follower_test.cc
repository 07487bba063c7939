// Leader-follower pieces without a network: the epoch record, acknowledgement levels, undo and
// roll-back of changes a promotion left behind, redirects.
#include "syncline/replication/leader_follower.h"

#include <gtest/gtest.h>

#include "syncline/core/clock.h"
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
  }
  ~Fixture() {
    replica.reset();
    (void)store->Close();
  }
  ManualClock clock{1'800'000'000'000, 0};
  std::unique_ptr<core::Store> store;
  std::unique_ptr<Replica> replica;
};

TEST(AckLevels, ParseAndCount) {
  EXPECT_EQ(*ParseAckLevel("quorum"), AckLevel::kQuorum);
  EXPECT_FALSE(ParseAckLevel("most").ok());
  EXPECT_EQ(FollowersNeeded(AckLevel::kLocal, 3), 0u);
  EXPECT_EQ(FollowersNeeded(AckLevel::kOne, 3), 1u);
  EXPECT_EQ(FollowersNeeded(AckLevel::kQuorum, 3), 1u);
  EXPECT_EQ(FollowersNeeded(AckLevel::kQuorum, 5), 2u);
  EXPECT_EQ(FollowersNeeded(AckLevel::kAll, 5), 4u);
  EXPECT_EQ(FollowersNeeded(AckLevel::kOne, 1), 0u);
}

TEST(EpochState, EncodesAndOrders) {
  EpochState s;
  s.mode = std::string(kModeLeaderFollower);
  s.epoch = 7;
  s.leader = "n2";
  s.leader_replica = ReplicaId(42);
  s.leader_client = "127.0.0.1:7401";
  s.has_fence = true;
  s.fence = VersionVector{{ReplicaId(9), 5}};
  auto d = EpochState::Decode(s.Encode());
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->epoch, 7u);
  EXPECT_EQ(d->leader_client, "127.0.0.1:7401");
  EXPECT_TRUE(d->Admits(Dot{ReplicaId(9), 5}));
  EXPECT_FALSE(d->Admits(Dot{ReplicaId(9), 6}));
  EXPECT_TRUE(d->Admits(Dot{ReplicaId(42), 100}));
  EXPECT_EQ(d->VoidedIn(VersionVector{{ReplicaId(9), 5}}), "");
  EXPECT_NE(d->VoidedIn(VersionVector{{ReplicaId(9), 6}}).find("change 6 of origin"), std::string::npos);
  EpochState promoting = s;
  promoting.promoting = true;
  EXPECT_TRUE(s.NewerThan(promoting));
  EXPECT_FALSE(promoting.NewerThan(s));
  EXPECT_FALSE(EpochState::Decode("\xff\xff garbage").ok());
}

TEST(RollBack, RestoresEveryTypeAndJournals) {
  Fixture f;
  Replica& r = *f.replica;
  ASSERT_TRUE(r.CreateCollection("s", "set").ok());
  ASSERT_TRUE(r.CreateCollection("c", "counter").ok());
  ASSERT_TRUE(r.CreateCollection("kv", "lww").ok());
  ASSERT_TRUE(r.CreateCollection("m", "map").ok());
  r.SetUndo(true);
  ASSERT_TRUE(r.WriteAndWait("s", "k", WriteOp::AddElement("a")).ok());
  ASSERT_TRUE(r.WriteAndWait("c", "k", WriteOp::Add(5)).ok());
  ASSERT_TRUE(r.WriteAndWait("kv", "k", WriteOp::Put("one")).ok());
  ASSERT_TRUE(r.WriteAndWait("m", "k", WriteOp::IncrementField({"c:n"}, 1)).ok());
  auto before = r.Digest();
  ASSERT_TRUE(before.ok());
  uint64_t fence = r.Context().vv().Get(r.id());
  ASSERT_TRUE(r.WriteAndWait("s", "k", WriteOp::AddElement("b")).ok());
  ASSERT_TRUE(r.WriteAndWait("s", "k", WriteOp::RemoveElement("a")).ok());
  ASSERT_TRUE(r.WriteAndWait("c", "k", WriteOp::Add(7)).ok());
  ASSERT_TRUE(r.WriteAndWait("kv", "k", WriteOp::Put("two")).ok());
  ASSERT_TRUE(r.WriteAndWait("m", "k", WriteOp::IncrementField({"c:n"}, 3)).ok());
  ASSERT_TRUE(r.WriteAndWait("kv", "new", WriteOp::Put("x")).ok());
  DotContext held = r.Context();
  Result<uint64_t> taken = Status::Internal("not run");
  r.RollBack([&](const Dot& d) { return d.counter > fence; }, "left behind", [&](Result<uint64_t> n) { taken = n; });
  ASSERT_TRUE(taken.ok()) << taken.status();
  EXPECT_EQ(*taken, 6u);
  auto after = r.Digest();
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(*after, *before);
  EXPECT_TRUE(r.Context() == held);  // the dots stay held, as void changes
  EXPECT_EQ(r.stats().orphaned, 6u);
  auto change = f.store->Read([&](core::ReadView& v) -> Status {
    auto c = v.GetChange(Dot{r.id(), fence + 1});
    if (!c.ok()) return c.status();
    EXPECT_EQ(c->kind, kVoidChangeKind);
    return Status::Ok();
  });
  EXPECT_TRUE(change.ok()) << change;
  // A second pass finds nothing left to take back.
  r.RollBack([&](const Dot& d) { return d.counter > fence; }, "left behind", [&](Result<uint64_t> n) { taken = n; });
  EXPECT_EQ(*taken, 0u);
}

// A change held out of order: the orphan (A:2) was applied before a change that stays (A:1), on the
// same key. Taking A:2 back undoes A:1 too and merges it again.
TEST(RollBack, MergesAgainLaterChangesOfTheSameKey) {
  Fixture origin, out_of_order, reference;
  for (Fixture* f : {&origin, &out_of_order, &reference}) ASSERT_TRUE(f->replica->CreateCollection("s", "set").ok());
  auto a1 = origin.replica->WriteAndWait("s", "k", WriteOp::AddElement("x"));
  auto a2 = origin.replica->WriteAndWait("s", "k", WriteOp::AddElement("y"));
  ASSERT_TRUE(a1.ok() && a2.ok());
  std::vector<core::Change> log;
  ASSERT_TRUE(origin.replica->ReadLog(origin.replica->id(), 1, 10, 1 << 20, &log).ok());
  ASSERT_EQ(log.size(), 2u);
  out_of_order.replica->SetUndo(true);
  auto apply = [](Replica& r, core::Change c) {
    Status st = Status::Internal("not run");
    r.ApplyChanges({std::move(c)}, [&](Result<ApplyStats> s) { st = s.status(); });
    return st;
  };
  ASSERT_TRUE(apply(*out_of_order.replica, log[1]).ok());
  ASSERT_TRUE(apply(*out_of_order.replica, log[0]).ok());
  ASSERT_TRUE(apply(*reference.replica, log[0]).ok());
  Result<uint64_t> taken = Status::Internal("not run");
  out_of_order.replica->RollBack([&](const Dot& d) { return d == a2->dot; }, "left behind",
                                 [&](Result<uint64_t> n) { taken = n; });
  ASSERT_TRUE(taken.ok()) << taken.status();
  EXPECT_EQ(*taken, 1u);
  EXPECT_EQ(*out_of_order.replica->Digest(), *reference.replica->Digest());
  auto read = out_of_order.replica->Read("s", "k");
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(read->values, std::vector<std::string>{"x"});
}

TEST(LeaderFollower, FollowerRedirectsAndAdoptsNewerEpochs) {
  Fixture f;
  LeaderFollowerOptions o;
  o.node_id = "n2";
  o.mode = std::string(kModeLeaderFollower);
  o.initial_leader = "n1";
  o.cluster_size = 3;
  auto lf = LeaderFollower::Open(f.replica.get(), o);
  ASSERT_TRUE(lf.ok()) << lf.status();
  EXPECT_EQ((*lf)->role(), "follower");
  EXPECT_EQ((*lf)->state().epoch, 1u);
  Status w = (*lf)->CheckWrite();
  EXPECT_EQ(w.code(), StatusCode::kFailedPrecondition);
  EpochState leader;
  leader.mode = std::string(kModeLeaderFollower);
  leader.epoch = 1;
  leader.leader = "n1";
  leader.leader_client = "127.0.0.1:9";
  (*lf)->OnPeerRecord(leader.Encode());
  EXPECT_NE((*lf)->CheckWrite().message().find("127.0.0.1:9"), std::string::npos);
  leader.epoch = 4;
  leader.leader = "n3";
  (*lf)->OnPeerRecord(leader.Encode());
  EXPECT_EQ((*lf)->state().epoch, 4u);
  EXPECT_TRUE((*lf)->TakeEpochChanged());
  // A lower epoch is not adopted.
  leader.epoch = 2;
  (*lf)->OnPeerRecord(leader.Encode());
  EXPECT_EQ((*lf)->state().epoch, 4u);
  // The record survives a reopen.
  lf->reset();
  auto again = LeaderFollower::Open(f.replica.get(), o);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ((*again)->state().epoch, 4u);
  EXPECT_EQ((*again)->state().leader, "n3");
}

TEST(LeaderFollower, AcknowledgementLevelsAndTimeouts) {
  Fixture f;
  LeaderFollowerOptions o;
  o.node_id = "n1";
  o.mode = std::string(kModeLeaderFollower);
  o.initial_leader = "n1";
  o.cluster_size = 3;
  auto lf = std::move(LeaderFollower::Open(f.replica.get(), o)).value();
  ASSERT_TRUE(f.replica->CreateCollection("kv", "lww").ok());
  ASSERT_TRUE(lf->CheckWrite().ok());
  auto w = f.replica->WriteAndWait("kv", "k", WriteOp::Put("v"));
  ASSERT_TRUE(w.ok());
  std::optional<Status> one, all, local;
  lf->WaitForAck(w->dot, AckLevel::kLocal, 1000, [&](Status s) { local = s; });
  lf->WaitForAck(w->dot, AckLevel::kOne, 1000, [&](Status s) { one = s; });
  lf->WaitForAck(w->dot, AckLevel::kAll, 1000, [&](Status s) { all = s; });
  ASSERT_TRUE(local && local->ok());
  PeerView p2{"n2", lf->epoch(), true, f.replica->Context()};
  PeerView p3{"n3", lf->epoch(), true, DotContext()};
  lf->OnProgress(10, {p2, p3});
  ASSERT_TRUE(one && one->ok());
  EXPECT_FALSE(all);
  // A follower of another epoch does not count.
  PeerView p3_old{"n3", 0, true, f.replica->Context()};
  lf->OnProgress(20, {p2, p3_old});
  EXPECT_FALSE(all);
  lf->OnProgress(1000, {p2, p3});
  ASSERT_TRUE(all);
  EXPECT_EQ(all->code(), StatusCode::kDeadlineExceeded);
  EXPECT_NE(all->message().find("unknown"), std::string::npos);
}

}  // namespace
}  // namespace syncline::replication
