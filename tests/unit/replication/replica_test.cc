#include "syncline/replication/replica.h"

#include <gtest/gtest.h>

#include "syncline/core/memory_store.h"

namespace syncline::replication {
namespace {

struct Node {
  std::shared_ptr<core::MemoryStorage> storage = core::NewMemoryStorage();
  ManualClock clock{1'800'000'000'000};
  std::unique_ptr<core::Store> store;
  std::unique_ptr<Replica> replica;

  explicit Node(uint64_t seed) {
    core::MemoryStoreOptions so;
    so.storage = storage;
    so.seed = seed;
    store = core::OpenMemoryStore(so);
    Reopen();
  }
  void Reopen() {
    replica.reset();
    ReplicaOptions ro;
    ro.clock = &clock;
    auto r = Replica::Open(store.get(), ro);
    EXPECT_TRUE(r.ok()) << r.status();
    replica = std::move(r).value();
  }
  std::vector<core::Change> Log() {
    std::vector<core::Change> out;
    DotContext ctx = replica->Context();
    for (const auto& e : ctx.vv().entries()) {
      EXPECT_TRUE(replica->ReadLog(e.first, 1, 1'000'000, 1 << 30, &out).ok());
    }
    return out;
  }
};

Result<ApplyStats> Apply(Replica& r, std::vector<core::Change> changes) {
  Result<ApplyStats> out = Status::Internal("not called");
  r.ApplyChanges(std::move(changes), [&](Result<ApplyStats> s) { out = std::move(s); });
  return out;
}

void CreateAll(Replica& r) {
  ASSERT_TRUE(r.CreateCollection("reg", "lww").ok());
  ASSERT_TRUE(r.CreateCollection("mv", "mv").ok());
  ASSERT_TRUE(r.CreateCollection("cnt", "counter").ok());
  ASSERT_TRUE(r.CreateCollection("tags", "set").ok());
  ASSERT_TRUE(r.CreateCollection("doc", "map").ok());
}

TEST(Replica, TypedWritesAndReads) {
  Node a(1);
  CreateAll(*a.replica);
  ASSERT_TRUE(a.replica->WriteAndWait("reg", "k", WriteOp::Put("hello")).ok());
  ASSERT_TRUE(a.replica->WriteAndWait("cnt", "k", WriteOp::Add(5)).ok());
  ASSERT_TRUE(a.replica->WriteAndWait("cnt", "k", WriteOp::Add(-2)).ok());
  ASSERT_TRUE(a.replica->WriteAndWait("tags", "k", WriteOp::AddElement("x")).ok());
  ASSERT_TRUE(a.replica->WriteAndWait("tags", "k", WriteOp::AddElement("y")).ok());
  ASSERT_TRUE(a.replica->WriteAndWait("tags", "k", WriteOp::RemoveElement("x")).ok());
  ASSERT_TRUE(a.replica->WriteAndWait("doc", "k", WriteOp::SetField({conflict::Field::Register("name")}, "ada")).ok());
  ASSERT_TRUE(a.replica->WriteAndWait("doc", "k", WriteOp::IncrementField({conflict::Field::Counter("n")}, 3)).ok());

  auto reg = a.replica->Read("reg", "k");
  ASSERT_TRUE(reg.ok()) << reg.status();
  EXPECT_EQ(reg->values, std::vector<std::string>{"hello"});
  EXPECT_EQ(a.replica->Read("cnt", "k")->counter, 3);
  EXPECT_EQ(a.replica->Read("tags", "k")->values, std::vector<std::string>{"y"});
  auto doc = a.replica->Read("doc", "k");
  ASSERT_TRUE(doc.ok()) << doc.status();
  EXPECT_EQ(doc->rendered, "{c:n=3, r:name=ada}");
  EXPECT_FALSE(a.replica->Read("reg", "absent")->found);

  // The node context counts one dot per write; the log holds each change.
  EXPECT_EQ(a.replica->Context().vv().Get(a.replica->id()), 8u);
  EXPECT_EQ(a.Log().size(), 8u);
}

TEST(Replica, RefusesBadWrites) {
  Node a(1);
  CreateAll(*a.replica);
  EXPECT_EQ(a.replica->WriteAndWait("nope", "k", WriteOp::Put("v")).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(a.replica->WriteAndWait("cnt", "k", WriteOp::Put("v")).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(a.replica->WriteAndWait("reg", "", WriteOp::Put("v")).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(a.replica->WriteAndWait("reg", "k", WriteOp::Put(std::string(2 << 20, 'x'))).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(a.replica->CreateCollection("reg", "mv").code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(a.replica->CreateCollection("x", "no-such").code(), StatusCode::kNotFound);
  EXPECT_EQ(a.replica->Context().vv().Get(a.replica->id()), 0u);
}

TEST(Replica, ApplyingChangesConvergesAndSkipsDuplicates) {
  Node a(1), b(2);
  CreateAll(*a.replica);
  ASSERT_TRUE(a.replica->WriteAndWait("reg", "k", WriteOp::Put("from-a")).ok());
  ASSERT_TRUE(a.replica->WriteAndWait("tags", "s", WriteOp::AddElement("x")).ok());
  ASSERT_TRUE(a.replica->WriteAndWait("doc", "d", WriteOp::AddToField({conflict::Field::Set("t")}, "q")).ok());
  ASSERT_TRUE(a.replica->WriteAndWait("cnt", "c", WriteOp::Add(7)).ok());
  ASSERT_TRUE(a.replica->WriteAndWait("mv", "m", WriteOp::Put("x")).ok());

  // b has never seen these collections: they are created from the changes.
  auto first = Apply(*b.replica, a.Log());
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->applied, 5u);
  EXPECT_EQ(b.replica->Collections(), a.replica->Collections());
  EXPECT_EQ(*a.replica->Digest(), *b.replica->Digest());

  auto again = Apply(*b.replica, a.Log());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->applied, 0u);
  EXPECT_EQ(again->duplicates, 5u);
  EXPECT_EQ(*a.replica->Digest(), *b.replica->Digest());

  // b relays: its log now holds a's changes under a's dots.
  EXPECT_EQ(b.Log().size(), 5u);
}

TEST(Replica, ConcurrentWritesConvergeAndAreJournaled) {
  Node a(1), b(2);
  CreateAll(*a.replica);
  CreateAll(*b.replica);
  ASSERT_TRUE(a.replica->WriteAndWait("reg", "k", WriteOp::Put("a")).ok());
  ASSERT_TRUE(b.replica->WriteAndWait("reg", "k", WriteOp::Put("b")).ok());
  ASSERT_TRUE(a.replica->WriteAndWait("mv", "k", WriteOp::Put("a")).ok());
  ASSERT_TRUE(b.replica->WriteAndWait("mv", "k", WriteOp::Put("b")).ok());
  auto log_a = a.Log(), log_b = b.Log();
  ASSERT_TRUE(Apply(*a.replica, log_b).ok());
  auto applied = Apply(*b.replica, log_a);
  ASSERT_TRUE(applied.ok());
  EXPECT_EQ(applied->conflicts, 2u);
  EXPECT_EQ(*a.replica->Digest(), *b.replica->Digest());
  EXPECT_EQ(a.replica->Read("mv", "k")->values.size(), 2u);
  EXPECT_EQ(a.replica->Read("reg", "k")->values, b.replica->Read("reg", "k")->values);
}

TEST(Replica, RefusesAChangeForAnotherResolver) {
  Node a(1), b(2);
  ASSERT_TRUE(a.replica->CreateCollection("x", "lww").ok());
  ASSERT_TRUE(b.replica->CreateCollection("x", "counter").ok());
  ASSERT_TRUE(a.replica->WriteAndWait("x", "k", WriteOp::Put("v")).ok());
  auto r = Apply(*b.replica, a.Log());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(r.status().message().find("'lww'"), std::string::npos) << r.status();
  EXPECT_FALSE(b.replica->Context().Contains(a.Log()[0].dot));
}

TEST(Replica, ACorruptDeltaFailsTheWholeBatch) {
  Node a(1), b(2);
  CreateAll(*a.replica);
  ASSERT_TRUE(a.replica->WriteAndWait("reg", "k1", WriteOp::Put("v")).ok());
  ASSERT_TRUE(a.replica->WriteAndWait("reg", "k2", WriteOp::Put("w")).ok());
  auto log = a.Log();
  log[1].payload = "garbage";
  auto r = Apply(*b.replica, log);
  ASSERT_FALSE(r.ok());
  EXPECT_FALSE(b.replica->Context().Contains(log[0].dot));  // nothing of the batch applied
  EXPECT_FALSE(b.replica->Read("reg", "k1").ok());          // not even the collection
}

TEST(Replica, ContextAndCollectionsSurviveReopen) {
  Node a(1);
  CreateAll(*a.replica);
  ASSERT_TRUE(a.replica->WriteAndWait("reg", "k", WriteOp::Put("v")).ok());
  ASSERT_TRUE(a.replica->WriteAndWait("reg", "k", WriteOp::Put("w")).ok());
  std::string digest = *a.replica->Digest();
  a.Reopen();
  EXPECT_EQ(a.replica->Context().vv().Get(a.replica->id()), 2u);
  EXPECT_EQ(a.replica->Collections().size(), 5u);
  EXPECT_EQ(*a.replica->Digest(), digest);
  // The next write continues the counter.
  auto w = a.replica->WriteAndWait("reg", "k", WriteOp::Put("x"));
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(w->dot.counter, 3u);
}

TEST(Replica, KeysWithNulBytesStayApart) {
  Node a(1);
  CreateAll(*a.replica);
  std::string k1("a"), k2("a\0e", 3);
  ASSERT_TRUE(a.replica->WriteAndWait("tags", k1, WriteOp::AddElement("one")).ok());
  ASSERT_TRUE(a.replica->WriteAndWait("tags", k2, WriteOp::AddElement("two")).ok());
  EXPECT_EQ(a.replica->Read("tags", k1)->values, std::vector<std::string>{"one"});
  EXPECT_EQ(a.replica->Read("tags", k2)->values, std::vector<std::string>{"two"});
  int keys = 0;
  ASSERT_TRUE(a.replica->Dump([&](std::string_view, std::string_view, std::string_view) { ++keys; }).ok());
  EXPECT_EQ(keys, 2);
}

}  // namespace
}  // namespace syncline::replication
