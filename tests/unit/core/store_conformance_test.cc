// The shared Store test suite: every Store implementation must pass all of it.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cerrno>
#include <cstdio>
#include <future>
#include <mutex>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "support/seed.h"
#include "support/temp_dir.h"
#include "syncline/core/lmdb_store.h"
#include "syncline/core/memory_store.h"
#include "syncline/core/store.h"

namespace syncline::core {
namespace {

using syncline::testing::SeededRng;
using syncline::testing::TempDir;

// Opens and reopens one store of a kind; reopening keeps the data.
class StoreFactory {
 public:
  virtual ~StoreFactory() = default;
  virtual std::unique_ptr<Store> Open() = 0;
};

class MemoryFactory final : public StoreFactory {
 public:
  std::unique_ptr<Store> Open() override {
    MemoryStoreOptions o;
    o.storage = storage_;
    o.max_value_bytes = 1 << 20;
    return OpenMemoryStore(o);
  }

 private:
  std::shared_ptr<MemoryStorage> storage_ = NewMemoryStorage();
};

class LmdbFactory final : public StoreFactory {
 public:
  std::unique_ptr<Store> Open() override {
    LmdbStoreOptions o;
    o.map_size_bytes = 64 << 20;
    o.max_value_bytes = 1 << 20;
    auto store = OpenLmdbStore(dir_.str(), o);
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? std::move(store).value() : nullptr;
  }

 private:
  TempDir dir_;
};

struct Kind {
  const char* name;
  std::unique_ptr<StoreFactory> (*make)();
};

class StoreConformance : public ::testing::TestWithParam<Kind> {
 protected:
  void SetUp() override {
    factory_ = GetParam().make();
    store_ = factory_->Open();
    ASSERT_NE(store_, nullptr);
  }
  void TearDown() override {
    if (store_) {
      EXPECT_TRUE(store_->Close().ok());
    }
  }
  void Reopen() {
    ASSERT_TRUE(store_->Close().ok());
    store_.reset();
    store_ = factory_->Open();
    ASSERT_NE(store_, nullptr);
  }
  // Every entry of the data table, read in one snapshot.
  std::map<std::string, std::string> AllData() {
    std::map<std::string, std::string> all;
    EXPECT_TRUE(store_->Read([&](ReadView& view) {
      return view.Scan(Table::kData, "", "", [&](std::string_view k, std::string_view v) {
        all.emplace(k, v);
        return true;
      });
    }).ok());
    return all;
  }

  std::unique_ptr<StoreFactory> factory_;
  std::unique_ptr<Store> store_;
};

Change MakeChange(uint64_t origin, uint64_t counter, std::string key = "k") {
  Change c;
  c.collection = "users";
  c.key = std::move(key);
  c.dot = Dot{ReplicaId(origin), counter};
  c.hlc = HlcTimestamp{1000 + counter, 0};
  c.context = "ctx";
  c.kind = 3;
  c.payload = "payload-" + std::to_string(counter);
  return c;
}

TEST_P(StoreConformance, PutGetDeleteInEveryTable) {
  for (int i = 0; i < kNumTables; ++i) {
    Table t = static_cast<Table>(i);
    EXPECT_TRUE(store_->Get(t, "a").status().IsNotFound());
    ASSERT_TRUE(store_->Put(t, "a", std::string(TableName(t)) + "-value").ok());
  }
  for (int i = 0; i < kNumTables; ++i) {
    Table t = static_cast<Table>(i);
    auto v = store_->Get(t, "a");
    ASSERT_TRUE(v.ok()) << v.status();
    EXPECT_EQ(*v, std::string(TableName(t)) + "-value");
  }
  ASSERT_TRUE(store_->Delete(Table::kData, "a").ok());
  EXPECT_TRUE(store_->Get(Table::kData, "a").status().IsNotFound());
  EXPECT_TRUE(store_->Get(Table::kMeta, "a").ok());
  EXPECT_TRUE(store_->Delete(Table::kData, "never-there").ok());
}

TEST_P(StoreConformance, AppendTakesOnlyKeysAboveTheLastAndKeepsTheTransactionUsable) {
  ASSERT_TRUE(store_->Put(Table::kData, "m", "middle").ok());
  Status s = store_->WriteAndWait([](WriteTxn& txn) -> Status {
    SYNCLINE_RETURN_IF_ERROR(txn.Append(Table::kData, "n", "1"));
    SYNCLINE_RETURN_IF_ERROR(txn.Append(Table::kData, "o", "2"));
    // Below the last key, and equal to it: refused, nothing written, the transaction goes on.
    Status below = txn.Append(Table::kData, "a", "x");
    EXPECT_EQ(below.code(), StatusCode::kFailedPrecondition) << below;
    EXPECT_NE(below.message().find("data"), std::string::npos) << below;
    EXPECT_EQ(txn.Append(Table::kData, "o", "again").code(), StatusCode::kFailedPrecondition);
    // Another table has its own last key.
    SYNCLINE_RETURN_IF_ERROR(txn.Append(Table::kMeta, "\x7f\x7f", "meta"));
    return txn.Put(Table::kData, "b", "put");
  });
  ASSERT_TRUE(s.ok()) << s;
  std::vector<std::pair<std::string, std::string>> got;
  ASSERT_TRUE(store_->Read([&](ReadView& view) {
    return view.Scan(Table::kData, "", "", [&](std::string_view k, std::string_view v) {
      got.emplace_back(std::string(k), std::string(v));
      return true;
    });
  }).ok());
  std::vector<std::pair<std::string, std::string>> want = {{"b", "put"}, {"m", "middle"}, {"n", "1"}, {"o", "2"}};
  EXPECT_EQ(got, want);
  EXPECT_EQ(*store_->Get(Table::kMeta, "\x7f\x7f"), "meta");
}

TEST_P(StoreConformance, InsertRefusesAHeldKeyAndKeepsTheTransactionUsable) {
  ASSERT_TRUE(store_->Put(Table::kLog, "held", "before").ok());
  Status s = store_->WriteAndWait([](WriteTxn& txn) -> Status {
    SYNCLINE_RETURN_IF_ERROR(txn.Insert(Table::kLog, "new", "1"));
    // A key held before the transaction and one inserted in it: refused, nothing written.
    Status held = txn.Insert(Table::kLog, "held", "x");
    EXPECT_EQ(held.code(), StatusCode::kAlreadyExists) << held;
    EXPECT_NE(held.message().find("held"), std::string::npos) << held;
    EXPECT_EQ(txn.Insert(Table::kLog, "new", "again").code(), StatusCode::kAlreadyExists);
    // The same key in another table is another key.
    SYNCLINE_RETURN_IF_ERROR(txn.Insert(Table::kData, "held", "data"));
    return txn.Put(Table::kLog, "after", "2");
  });
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(*store_->Get(Table::kLog, "held"), "before");
  EXPECT_EQ(*store_->Get(Table::kLog, "new"), "1");
  EXPECT_EQ(*store_->Get(Table::kLog, "after"), "2");
  EXPECT_EQ(*store_->Get(Table::kData, "held"), "data");
}

TEST_P(StoreConformance, FindTellsAnAbsentKeyFromAHeldOneInViewsAndTransactions) {
  ASSERT_TRUE(store_->Put(Table::kData, "held", "v").ok());
  ASSERT_TRUE(store_->Put(Table::kData, "empty", "").ok());
  Status read = store_->Read([](ReadView& view) -> Status {
    auto held = view.Find(Table::kData, "held");
    EXPECT_TRUE(held.ok()) << held.status();
    EXPECT_EQ(held->value_or("<absent>"), "v");
    auto empty = view.Find(Table::kData, "empty");
    EXPECT_TRUE(empty.ok() && empty->has_value() && (*empty)->empty());
    auto absent = view.Find(Table::kData, "absent");
    EXPECT_TRUE(absent.ok()) << absent.status();
    EXPECT_FALSE(absent->has_value());
    // Tables are separate key spaces.
    EXPECT_FALSE(view.Find(Table::kMeta, "held")->has_value());
    return Status::Ok();
  });
  ASSERT_TRUE(read.ok()) << read;
  Status s = store_->WriteAndWait([](WriteTxn& txn) -> Status {
    EXPECT_FALSE(txn.Find(Table::kData, "new")->has_value());
    SYNCLINE_RETURN_IF_ERROR(txn.Put(Table::kData, "new", "n"));
    EXPECT_EQ(txn.Find(Table::kData, "new")->value_or("<absent>"), "n");
    SYNCLINE_RETURN_IF_ERROR(txn.Delete(Table::kData, "held"));
    EXPECT_FALSE(txn.Find(Table::kData, "held")->has_value());
    return Status::Ok();
  });
  ASSERT_TRUE(s.ok()) << s;
}

TEST_P(StoreConformance, EmptyValueAndOverwrite) {
  ASSERT_TRUE(store_->Put(Table::kData, "k", "").ok());
  auto v = store_->Get(Table::kData, "k");
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(*v, "");
  ASSERT_TRUE(store_->Put(Table::kData, "k", "second").ok());
  EXPECT_EQ(store_->Get(Table::kData, "k").value(), "second");
}

TEST_P(StoreConformance, DataSurvivesReopenWithSameReplicaId) {
  ReplicaId id = store_->replica_id();
  EXPECT_TRUE(id.valid());
  ASSERT_TRUE(store_->Put(Table::kData, "persist", "yes").ok());
  Reopen();
  EXPECT_EQ(store_->replica_id(), id);
  EXPECT_EQ(store_->Get(Table::kData, "persist").value(), "yes");
}

TEST_P(StoreConformance, ScanIsOrderedAndBounded) {
  for (std::string k : {"b", "a", "d", "c", "e", "aa"}) {
    ASSERT_TRUE(store_->Put(Table::kData, k, "v" + k).ok());
  }
  std::vector<std::string> seen;
  ASSERT_TRUE(store_->Read([&](ReadView& view) {
    return view.Scan(Table::kData, "aa", "d", [&](std::string_view k, std::string_view v) {
      EXPECT_EQ(v, "v" + std::string(k));
      seen.emplace_back(k);
      return true;
    });
  }).ok());
  EXPECT_EQ(seen, (std::vector<std::string>{"aa", "b", "c"}));

  seen.clear();
  ASSERT_TRUE(store_->Read([&](ReadView& view) {
    return view.Scan(Table::kData, "", "", [&](std::string_view k, std::string_view) {
      seen.emplace_back(k);
      return seen.size() < 4;
    });
  }).ok());
  EXPECT_EQ(seen, (std::vector<std::string>{"a", "aa", "b", "c"}));
  // Other tables are separate key spaces.
  int in_meta = 0;
  ASSERT_TRUE(store_->Read([&](ReadView& view) {
    return view.Scan(Table::kPeers, "", "", [&](std::string_view, std::string_view) {
      ++in_meta;
      return true;
    });
  }).ok());
  EXPECT_EQ(in_meta, 0);
}

TEST_P(StoreConformance, DeleteRangeRemovesExactlyTheRange) {
  for (std::string k : {"a", "b", "c", "d", "e"}) ASSERT_TRUE(store_->Put(Table::kFeeds, k, k).ok());
  ASSERT_TRUE(store_->WriteAndWait([](WriteTxn& txn) { return txn.DeleteRange(Table::kFeeds, "b", "d"); }).ok());
  EXPECT_TRUE(store_->Get(Table::kFeeds, "a").ok());
  EXPECT_TRUE(store_->Get(Table::kFeeds, "b").status().IsNotFound());
  EXPECT_TRUE(store_->Get(Table::kFeeds, "c").status().IsNotFound());
  EXPECT_TRUE(store_->Get(Table::kFeeds, "d").ok());
  ASSERT_TRUE(store_->WriteAndWait([](WriteTxn& txn) { return txn.DeleteRange(Table::kFeeds, "d", ""); }).ok());
  EXPECT_TRUE(store_->Get(Table::kFeeds, "e").status().IsNotFound());
  EXPECT_TRUE(store_->Get(Table::kFeeds, "a").ok());
}

TEST_P(StoreConformance, FailedWriteFunctionLeavesNoTraceAndOthersCommit) {
  ASSERT_TRUE(store_->Put(Table::kData, "x", "old").ok());
  std::vector<std::future<Status>> futures;
  for (int i = 0; i < 20; ++i) {
    futures.push_back(store_->Write([i](WriteTxn& txn) -> Status {
      SYNCLINE_RETURN_IF_ERROR(txn.Put(Table::kData, "k" + std::to_string(i), "v"));
      if (i % 5 == 3) {
        SYNCLINE_RETURN_IF_ERROR(txn.Put(Table::kData, "x", "clobbered"));
        SYNCLINE_RETURN_IF_ERROR(txn.Delete(Table::kData, "k0"));
        return Status::FailedPrecondition("refused on purpose");
      }
      return Status::Ok();
    }));
  }
  for (int i = 0; i < 20; ++i) {
    Status st = futures[i].get();
    if (i % 5 == 3) {
      EXPECT_EQ(st.code(), StatusCode::kFailedPrecondition);
    } else {
      EXPECT_TRUE(st.ok()) << st;
    }
  }
  EXPECT_EQ(store_->Get(Table::kData, "x").value(), "old");
  for (int i = 0; i < 20; ++i) {
    bool present = store_->Get(Table::kData, "k" + std::to_string(i)).ok();
    EXPECT_EQ(present, i % 5 != 3) << i;
  }
}

TEST_P(StoreConformance, KeyAndValueLimitsAreEnforced) {
  Status st = store_->Put(Table::kData, "", "v");
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  st = store_->Put(Table::kData, std::string(kMaxStoreKeyBytes + 1, 'k'), "v");
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("480"), std::string::npos) << st;
  EXPECT_TRUE(store_->Put(Table::kData, std::string(kMaxStoreKeyBytes, 'k'), "v").ok());
  st = store_->Put(Table::kData, "big", std::string((1 << 20) + 1, 'v'));
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("big"), std::string::npos) << st;
  EXPECT_TRUE(store_->Get(Table::kData, "big").status().IsNotFound());
}

TEST_P(StoreConformance, ChangeLogAppendReadTruncate) {
  ASSERT_TRUE(store_->WriteAndWait([](WriteTxn& txn) -> Status {
    for (uint64_t c = 1; c <= 10; ++c) SYNCLINE_RETURN_IF_ERROR(txn.AppendChange(MakeChange(7, c)));
    for (uint64_t c = 1; c <= 3; ++c) SYNCLINE_RETURN_IF_ERROR(txn.AppendChange(MakeChange(5, c)));
    return txn.AppendChange(MakeChange(~uint64_t{0}, 1));
  }).ok());

  ASSERT_TRUE(store_->Read([&](ReadView& view) -> Status {
    std::vector<Change> got;
    SYNCLINE_RETURN_IF_ERROR(view.ReadLog(ReplicaId(7), 3, 6, 100, &got));
    EXPECT_EQ(got.size(), 4u);
    for (size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i], MakeChange(7, 3 + i));
    got.clear();
    SYNCLINE_RETURN_IF_ERROR(view.ReadLog(ReplicaId(7), 1, ~uint64_t{0}, 2, &got));
    EXPECT_EQ(got.size(), 2u);
    got.clear();
    SYNCLINE_RETURN_IF_ERROR(view.ReadLog(ReplicaId(5), 1, ~uint64_t{0}, 100, &got));
    EXPECT_EQ(got.size(), 3u);  // origin 7's changes do not leak into origin 5's range
    // The same entries undecoded: dots from the keys, bytes as EncodeChange gives them.
    std::vector<EncodedChange> raw;
    SYNCLINE_RETURN_IF_ERROR(view.ReadLogEncoded(ReplicaId(7), 3, 4, size_t{1} << 20, &raw));
    EXPECT_EQ(raw.size(), 4u);
    for (size_t i = 0; i < raw.size(); ++i) {
      EXPECT_EQ(raw[i].dot, (Dot{ReplicaId(7), 3 + i}));
      EXPECT_EQ(raw[i].bytes, EncodeChange(MakeChange(7, 3 + i)));
    }
    // A byte budget stops after the first entry that fits; the first is always given.
    raw.clear();
    size_t one = EncodeChange(MakeChange(7, 1)).size();
    SYNCLINE_RETURN_IF_ERROR(view.ReadLogEncoded(ReplicaId(7), 1, 100, 2 * one, &raw));
    EXPECT_EQ(raw.size(), 2u);
    raw.clear();
    SYNCLINE_RETURN_IF_ERROR(view.ReadLogEncoded(ReplicaId(7), 1, 100, 1, &raw));
    EXPECT_EQ(raw.size(), 1u);
    raw.clear();
    SYNCLINE_RETURN_IF_ERROR(view.ReadLogEncoded(ReplicaId(~uint64_t{0}), 1, 100, size_t{1} << 20, &raw));
    EXPECT_EQ(raw.size(), 1u);  // the last possible origin reads to the table's end
    SYNCLINE_ASSIGN_OR_RETURN(auto bounds, view.LogBounds(ReplicaId(7)));
    EXPECT_EQ(bounds, std::make_pair(uint64_t{1}, uint64_t{10}));
    SYNCLINE_ASSIGN_OR_RETURN(auto origins, view.LogOrigins());
    EXPECT_EQ(origins, (std::vector<ReplicaId>{ReplicaId(5), ReplicaId(7), ReplicaId(~uint64_t{0})}));
    SYNCLINE_ASSIGN_OR_RETURN(Change c, view.GetChange(Dot{ReplicaId(7), 9}));
    EXPECT_EQ(c, MakeChange(7, 9));
    EXPECT_TRUE(view.GetChange(Dot{ReplicaId(7), 11}).status().IsNotFound());
    EXPECT_TRUE(view.LogBounds(ReplicaId(6)).status().IsNotFound());
    return Status::Ok();
  }).ok());

  Status dup = store_->WriteAndWait([](WriteTxn& txn) { return txn.AppendChange(MakeChange(7, 4)); });
  EXPECT_EQ(dup.code(), StatusCode::kAlreadyExists);

  ASSERT_TRUE(store_->WriteAndWait([](WriteTxn& txn) { return txn.TruncateLog(ReplicaId(7), 8); }).ok());
  ASSERT_TRUE(store_->Read([&](ReadView& view) -> Status {
    SYNCLINE_ASSIGN_OR_RETURN(auto bounds, view.LogBounds(ReplicaId(7)));
    EXPECT_EQ(bounds, std::make_pair(uint64_t{8}, uint64_t{10}));
    SYNCLINE_ASSIGN_OR_RETURN(auto five, view.LogBounds(ReplicaId(5)));
    EXPECT_EQ(five, std::make_pair(uint64_t{1}, uint64_t{3}));
    return Status::Ok();
  }).ok());
}

TEST_P(StoreConformance, InvalidChangesAreRefused) {
  Change bad = MakeChange(7, 1);
  bad.collection = "no spaces allowed";
  EXPECT_EQ(store_->WriteAndWait([&](WriteTxn& txn) { return txn.AppendChange(bad); }).code(),
            StatusCode::kInvalidArgument);
  bad = MakeChange(7, 0);
  EXPECT_EQ(store_->WriteAndWait([&](WriteTxn& txn) { return txn.AppendChange(bad); }).code(),
            StatusCode::kInvalidArgument);
}

TEST_P(StoreConformance, ChangeAndDataCommitTogetherOrNotAtAll) {
  Status st = store_->WriteAndWait([](WriteTxn& txn) -> Status {
    SYNCLINE_RETURN_IF_ERROR(txn.Put(Table::kData, "users/1", "state"));
    SYNCLINE_RETURN_IF_ERROR(txn.AppendChange(MakeChange(9, 1, "1")));
    return Status::FailedPrecondition("the resolver refused the change");
  });
  EXPECT_EQ(st.code(), StatusCode::kFailedPrecondition);
  EXPECT_TRUE(store_->Get(Table::kData, "users/1").status().IsNotFound());
  ASSERT_TRUE(store_->Read([](ReadView& view) {
    EXPECT_TRUE(view.GetChange(Dot{ReplicaId(9), 1}).status().IsNotFound());
    return Status::Ok();
  }).ok());

  ASSERT_TRUE(store_->WriteAndWait([](WriteTxn& txn) -> Status {
    SYNCLINE_RETURN_IF_ERROR(txn.Put(Table::kData, "users/1", "state"));
    return txn.AppendChange(MakeChange(9, 1, "1"));
  }).ok());
  EXPECT_TRUE(store_->Get(Table::kData, "users/1").ok());
}

TEST_P(StoreConformance, ReadersSeeWholeTransactionsOnly) {
  // Each write sets both keys to the same number; a reader must never see them differ.
  ASSERT_TRUE(store_->WriteAndWait([](WriteTxn& txn) -> Status {
    SYNCLINE_RETURN_IF_ERROR(txn.Put(Table::kData, "left", "0"));
    return txn.Put(Table::kData, "right", "0");
  }).ok());
  std::atomic<bool> stop{false};
  std::atomic<int> torn{0};
  std::atomic<int> reads{0};
  std::thread reader([&] {
    while (!stop.load()) {
      Status st = store_->Read([&](ReadView& view) -> Status {
        SYNCLINE_ASSIGN_OR_RETURN(std::string l, view.Get(Table::kData, "left"));
        SYNCLINE_ASSIGN_OR_RETURN(std::string r, view.Get(Table::kData, "right"));
        if (l != r) ++torn;
        return Status::Ok();
      });
      EXPECT_TRUE(st.ok()) << st;
      ++reads;
    }
  });
  std::vector<std::future<Status>> futures;
  for (int i = 1; i <= 300; ++i) {
    futures.push_back(store_->Write([i](WriteTxn& txn) -> Status {
      SYNCLINE_RETURN_IF_ERROR(txn.Put(Table::kData, "left", std::to_string(i)));
      return txn.Put(Table::kData, "right", std::to_string(i));
    }));
  }
  for (auto& f : futures) EXPECT_TRUE(f.get().ok());
  while (reads.load() < 10) std::this_thread::yield();
  stop = true;
  reader.join();
  EXPECT_EQ(torn.load(), 0);
  EXPECT_EQ(store_->Get(Table::kData, "left").value(), "300");
}

TEST_P(StoreConformance, CallbacksMaySubmitAndCompleteInOrder) {
  std::promise<Status> inner;
  std::vector<int> order;
  std::mutex mu;
  for (int i = 0; i < 50; ++i) {
    store_->Submit([i](WriteTxn& txn) { return txn.Put(Table::kMeta, "n" + std::to_string(i), "v"); },
                   [&, i](Status st) {
                     EXPECT_TRUE(st.ok()) << st;
                     std::lock_guard<std::mutex> lock(mu);
                     order.push_back(i);
                   });
  }
  store_->Submit([](WriteTxn& txn) { return txn.Put(Table::kMeta, "outer", "1"); },
                 [&](Status st) {
                   ASSERT_TRUE(st.ok());
                   // Submitting from a callback must not deadlock.
                   store_->Submit([](WriteTxn& txn) { return txn.Put(Table::kMeta, "inner", "1"); },
                                  [&](Status st2) { inner.set_value(st2); });
                 });
  EXPECT_TRUE(inner.get_future().get().ok());
  store_->Flush();
  EXPECT_TRUE(store_->Get(Table::kMeta, "inner").ok());
  std::lock_guard<std::mutex> lock(mu);
  ASSERT_EQ(order.size(), 50u);
  for (int i = 0; i < 50; ++i) EXPECT_EQ(order[i], i);
}

TEST_P(StoreConformance, StagedWritesAreVisibleWhenCommittedAndReportedDurableInOrder) {
  constexpr int kWrites = 300;
  struct Outcome {
    std::optional<Status> committed, durable;
    bool visible_when_committed = false;
    bool committed_first = false;
  };
  std::vector<Outcome> outcomes(kWrites);
  std::vector<int> durable_order;
  std::mutex mu;
  std::promise<Status> from_callback;
  for (int i = 0; i < kWrites; ++i) {
    std::string key = "s" + std::to_string(1000 + i);
    store_->SubmitStaged(
        [i, key](WriteTxn& txn) -> Status {
          if (i % 50 == 7) return Status::InvalidArgument("write " + std::to_string(i) + " refused");
          return txn.Put(Table::kData, key, "v");
        },
        [&, i, key](Status st) {
          bool visible = store_->Get(Table::kData, key).ok();
          std::lock_guard<std::mutex> lock(mu);
          outcomes[i].committed = st;
          outcomes[i].visible_when_committed = visible;
        },
        [&, i](Status st) {
          std::lock_guard<std::mutex> lock(mu);
          outcomes[i].committed_first = outcomes[i].committed.has_value();
          outcomes[i].durable = st;
          durable_order.push_back(i);
          if (i == kWrites - 1) {
            // Submitting from a durable callback must not deadlock either.
            store_->Submit([](WriteTxn& txn) { return txn.Put(Table::kMeta, "after", "1"); },
                           [&](Status st2) { from_callback.set_value(st2); });
          }
        });
  }
  ASSERT_TRUE(from_callback.get_future().get().ok());
  store_->Flush();
  std::lock_guard<std::mutex> lock(mu);
  ASSERT_EQ(durable_order.size(), static_cast<size_t>(kWrites));
  for (int i = 0; i < kWrites; ++i) {
    SCOPED_TRACE("write " + std::to_string(i));
    EXPECT_EQ(durable_order[i], i);
    const Outcome& o = outcomes[i];
    ASSERT_TRUE(o.committed.has_value());
    ASSERT_TRUE(o.durable.has_value());
    EXPECT_TRUE(o.committed_first);
    bool fails = i % 50 == 7;
    EXPECT_EQ(o.committed->ok(), !fails) << *o.committed;
    EXPECT_EQ(o.durable->ok(), !fails) << *o.durable;
    EXPECT_EQ(o.visible_when_committed, !fails);
    if (fails) {
      EXPECT_EQ(o.committed->code(), StatusCode::kInvalidArgument);
      EXPECT_EQ(o.durable->code(), StatusCode::kInvalidArgument);
    }
    EXPECT_EQ(store_->Get(Table::kData, "s" + std::to_string(1000 + i)).ok(), !fails);
  }
}

TEST_P(StoreConformance, PlainWriteRunsAfterEveryEarlierTransactionIsDurable) {
  constexpr int kStaged = 200;
  std::atomic<int> committed{0}, durable{0};
  for (int i = 0; i < kStaged; ++i) {
    store_->SubmitStaged([i](WriteTxn& txn) { return txn.Put(Table::kData, "k" + std::to_string(i), "v"); },
                         [&](Status) { ++committed; },
                         [&, i](Status st) {
                           EXPECT_TRUE(st.ok()) << st;
                           // A slow last report: a later transaction must still wait for it.
                           if (i == kStaged - 1) std::this_thread::sleep_for(std::chrono::milliseconds(20));
                           ++durable;
                         });
  }
  while (committed.load() < kStaged) std::this_thread::yield();
  // Submitted after every staged write committed, so it runs in a later transaction.
  int seen = -1;
  ASSERT_TRUE(store_->WriteAndWait([&](WriteTxn& txn) {
    seen = durable.load();
    return txn.Put(Table::kMeta, "plain", "1");
  }).ok());
  EXPECT_EQ(seen, kStaged);
}

TEST_P(StoreConformance, ManyThreadsWriting) {
  constexpr int kThreads = 4, kPerThread = 250;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::vector<std::future<Status>> fs;
      for (int i = 0; i < kPerThread; ++i) {
        fs.push_back(store_->Write([t, i](WriteTxn& txn) {
          return txn.Put(Table::kData, "t" + std::to_string(t) + "/" + std::to_string(i), "v");
        }));
      }
      for (auto& f : fs) if (!f.get().ok()) ++failures;
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  int count = 0;
  ASSERT_TRUE(store_->Read([&](ReadView& view) {
    return view.Scan(Table::kData, "", "", [&](std::string_view, std::string_view) {
      ++count;
      return true;
    });
  }).ok());
  EXPECT_EQ(count, kThreads * kPerThread);
  StoreStats stats = store_->stats();
  EXPECT_GE(stats.writes_committed, static_cast<uint64_t>(kThreads * kPerThread));
  EXPECT_GE(stats.groups_committed, 1u);
}

TEST_P(StoreConformance, SubmitAfterCloseIsUnavailable) {
  ASSERT_TRUE(store_->Put(Table::kData, "k", "v").ok());
  ASSERT_TRUE(store_->Close().ok());
  EXPECT_TRUE(store_->Close().ok());  // idempotent
  Status st = store_->Put(Table::kData, "k2", "v");
  EXPECT_EQ(st.code(), StatusCode::kUnavailable) << st;
  store_ = factory_->Open();
  ASSERT_NE(store_, nullptr);
  EXPECT_TRUE(store_->Get(Table::kData, "k").ok());
  EXPECT_TRUE(store_->Get(Table::kData, "k2").status().IsNotFound());
}

// The LMDB variant of this check lives in lmdb_store_test.cc.
TEST(MemoryStoreTest, InjectedFaultFailsWriteAndKeepsEarlierData) {
  std::atomic<int> fail_with{0};
  MemoryStoreOptions o;
  o.fault_hook = [&](FaultPoint p) { return p == FaultPoint::kCommit ? fail_with.load() : 0; };
  auto store = OpenMemoryStore(o);
  ASSERT_TRUE(store->Put(Table::kData, "a", "1").ok());
  fail_with = EIO;
  Status st = store->Put(Table::kData, "b", "2");
  EXPECT_EQ(st.code(), StatusCode::kIOError);
  fail_with = ENOSPC;
  st = store->Put(Table::kData, "c", "3");
  EXPECT_EQ(st.code(), StatusCode::kResourceExhausted);
  fail_with = 0;
  EXPECT_TRUE(store->Get(Table::kData, "a").ok());
  EXPECT_TRUE(store->Get(Table::kData, "b").status().IsNotFound());
  EXPECT_TRUE(store->Put(Table::kData, "d", "4").ok());
}

// A seeded random workload compared against std::map as the reference model.
TEST_P(StoreConformance, MatchesReferenceModelUnderRandomOperations) {
  SeededRng rng;
  std::map<std::string, std::string> model;
  auto random_key = [&] { return "key" + std::to_string(rng.Uniform(0, 60)); };
  for (int round = 0; round < 200; ++round) {
    // One write function with a few operations; sometimes it fails and must leave no trace.
    struct Op { int kind; std::string a, b; };
    std::vector<Op> ops;
    int n = static_cast<int>(rng.Uniform(1, 5));
    for (int i = 0; i < n; ++i) {
      int kind = static_cast<int>(rng.Uniform(0, 9));
      std::string a = random_key(), b = random_key();
      if (b < a) std::swap(a, b);
      ops.push_back({kind, a, kind < 6 ? "v" + std::to_string(rng.Uniform(0, 1'000'000)) : b});
    }
    bool fail = rng.Chance(0.2);
    Status st = store_->WriteAndWait([&](WriteTxn& txn) -> Status {
      for (const Op& op : ops) {
        if (op.kind < 6) {
          SYNCLINE_RETURN_IF_ERROR(txn.Put(Table::kData, op.a, op.b));
        } else if (op.kind < 9) {
          SYNCLINE_RETURN_IF_ERROR(txn.Delete(Table::kData, op.a));
        } else {
          SYNCLINE_RETURN_IF_ERROR(txn.DeleteRange(Table::kData, op.a, op.b));
        }
      }
      return fail ? Status::FailedPrecondition("random failure") : Status::Ok();
    });
    ASSERT_EQ(st.ok(), !fail) << st;
    if (!fail) {
      for (const Op& op : ops) {
        if (op.kind < 6) {
          model[op.a] = op.b;
        } else if (op.kind < 9) {
          model.erase(op.a);
        } else {
          model.erase(model.lower_bound(op.a), model.lower_bound(op.b));
        }
      }
    }
    if (round % 50 == 49) Reopen();
    std::map<std::string, std::string> actual = AllData();
    ASSERT_EQ(actual, model) << "round " << round;
  }
}

// Ranges across many pages (thousands of entries of mixed sizes, so LMDB splits and merges
// pages as it deletes), with open and closed ends, against std::map.
TEST_P(StoreConformance, DeleteRangeAcrossManyPagesMatchesReferenceModel) {
  SeededRng rng;
  std::map<std::string, std::string> model;
  auto key_of = [](uint64_t i) {
    char b[16];
    std::snprintf(b, sizeof(b), "k%08llu", static_cast<unsigned long long>(i));
    return std::string(b);
  };
  for (int round = 0; round < 12; ++round) {
    std::vector<std::pair<std::string, std::string>> puts;
    for (int i = 0; i < 1500; ++i) {
      std::string value(rng.Uniform(1, 600), static_cast<char>('a' + round));
      puts.emplace_back(key_of(rng.Uniform(0, 20'000)), std::move(value));
    }
    std::string a = rng.Chance(0.2) ? std::string() : key_of(rng.Uniform(0, 20'000));
    std::string b = rng.Chance(0.2) ? std::string() : key_of(rng.Uniform(0, 20'000));
    if (!a.empty() && !b.empty() && b < a) std::swap(a, b);
    ASSERT_TRUE(store_->WriteAndWait([&](WriteTxn& txn) -> Status {
      for (const auto& [k, v] : puts) SYNCLINE_RETURN_IF_ERROR(txn.Put(Table::kData, k, v));
      return txn.DeleteRange(Table::kData, a, b);
    }).ok());
    for (const auto& [k, v] : puts) model[k] = v;
    auto lo = a.empty() ? model.begin() : model.lower_bound(a);
    auto hi = b.empty() ? model.end() : model.lower_bound(b);
    model.erase(lo, hi);
    std::map<std::string, std::string> actual = AllData();
    ASSERT_EQ(actual.size(), model.size()) << "round " << round << " range [" << a << ", " << b << ")";
    ASSERT_TRUE(actual == model) << "round " << round << " range [" << a << ", " << b << ")";
  }
}

std::string TestLogKey(uint64_t origin, uint64_t counter) {
  std::string k;
  for (uint64_t v : {origin, counter}) {
    for (int i = 7; i >= 0; --i) k.push_back(static_cast<char>(v >> (8 * i)));
  }
  return k;
}

std::vector<uint64_t> CountersOf(const std::vector<Change>& changes) {
  std::vector<uint64_t> out;
  for (const Change& c : changes) out.push_back(c.dot.counter);
  return out;
}

// The log's two segments read as one log: an origin's changes come back in counter order
// whichever segment holds them, bounds cut the merged sequence, and truncation, replacement and
// clearing act on both.
TEST_P(StoreConformance, LogSegmentsReadAsOneLog) {
  // Segment 0: 7:1..5 and 5:1..2. Segment 1: 7:6..10 (6 last, as a late gap fill) and 9:1. Then
  // 7:11 in segment 0 and 7:12 in segment 1 again.
  ASSERT_TRUE(store_->WriteAndWait([](WriteTxn& txn) -> Status {
    SYNCLINE_ASSIGN_OR_RETURN(int active, txn.ActiveLogSegment());
    if (active != 0) return Status::Internal("a new store appends to segment 0");
    for (uint64_t c = 1; c <= 5; ++c) SYNCLINE_RETURN_IF_ERROR(txn.AppendChange(MakeChange(7, c)));
    for (uint64_t c = 1; c <= 2; ++c) SYNCLINE_RETURN_IF_ERROR(txn.AppendChange(MakeChange(5, c)));
    SYNCLINE_RETURN_IF_ERROR(txn.SwitchLogSegment());
    for (uint64_t c = 7; c <= 10; ++c) SYNCLINE_RETURN_IF_ERROR(txn.AppendChange(MakeChange(7, c)));
    SYNCLINE_RETURN_IF_ERROR(txn.AppendChange(MakeChange(7, 6)));
    return txn.AppendChange(MakeChange(9, 1));
  }).ok());
  ASSERT_TRUE(store_->WriteAndWait([](WriteTxn& txn) -> Status {
    SYNCLINE_RETURN_IF_ERROR(txn.SwitchLogSegment());
    SYNCLINE_RETURN_IF_ERROR(txn.AppendChange(MakeChange(7, 11)));
    SYNCLINE_RETURN_IF_ERROR(txn.SwitchLogSegment());
    return txn.AppendChange(MakeChange(7, 12));
  }).ok());
  Reopen();  // the active segment is kept in the store
  ASSERT_TRUE(store_->Read([&](ReadView& view) -> Status {
    EXPECT_EQ(view.CountEntries(Table::kLog).value(), 8u);
    EXPECT_EQ(view.CountEntries(Table::kLog2).value(), 7u);
    std::vector<Change> all;
    SYNCLINE_RETURN_IF_ERROR(view.ReadLog(ReplicaId(7), 1, UINT64_MAX, 100, &all));
    EXPECT_EQ(CountersOf(all), (std::vector<uint64_t>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}));
    for (const Change& c : all) EXPECT_EQ(c, MakeChange(7, c.dot.counter));
    std::vector<Change> middle;
    SYNCLINE_RETURN_IF_ERROR(view.ReadLog(ReplicaId(7), 3, 9, 100, &middle));
    EXPECT_EQ(CountersOf(middle), (std::vector<uint64_t>{3, 4, 5, 6, 7, 8, 9}));
    std::vector<Change> limited;
    SYNCLINE_RETURN_IF_ERROR(view.ReadLog(ReplicaId(7), 4, UINT64_MAX, 4, &limited));
    EXPECT_EQ(CountersOf(limited), (std::vector<uint64_t>{4, 5, 6, 7}));
    // Limits per call: each segment's read stops at its own bound, and the merge stops where the
    // first of them did.
    std::vector<EncodedChange> encoded;
    SYNCLINE_RETURN_IF_ERROR(view.ReadLogEncoded(ReplicaId(7), 5, 3, SIZE_MAX, &encoded));
    EXPECT_EQ(encoded.size(), 3u);
    for (size_t i = 0; i < encoded.size(); ++i) {
      EXPECT_EQ(encoded[i].dot, (Dot{ReplicaId(7), 5 + i}));
      EXPECT_EQ(encoded[i].bytes, EncodeChange(MakeChange(7, 5 + i)));
    }
    size_t one = EncodeChange(MakeChange(7, 1)).size();
    std::vector<EncodedChange> by_bytes;
    SYNCLINE_RETURN_IF_ERROR(view.ReadLogEncoded(ReplicaId(7), 1, 100, 7 * one + one / 2, &by_bytes));
    EXPECT_EQ(by_bytes.size(), 7u);
    for (size_t i = 0; i < by_bytes.size(); ++i) EXPECT_EQ(by_bytes[i].dot.counter, 1 + i);
    EXPECT_EQ(view.GetChange(Dot{ReplicaId(7), 6}).value(), MakeChange(7, 6));
    EXPECT_EQ(view.GetChange(Dot{ReplicaId(7), 11}).value(), MakeChange(7, 11));
    EXPECT_TRUE(view.GetChange(Dot{ReplicaId(7), 13}).status().IsNotFound());
    EXPECT_EQ(view.LogBounds(ReplicaId(7)).value(), (std::pair<uint64_t, uint64_t>{1, 12}));
    EXPECT_EQ(view.LogBounds(ReplicaId(9)).value(), (std::pair<uint64_t, uint64_t>{1, 1}));
    EXPECT_EQ(view.LogOrigins().value(), (std::vector<ReplicaId>{ReplicaId(5), ReplicaId(7), ReplicaId(9)}));
    EXPECT_EQ(view.SegmentOrigins(0).value(), (std::vector<ReplicaId>{ReplicaId(5), ReplicaId(7)}));
    EXPECT_EQ(view.SegmentOrigins(1).value(), (std::vector<ReplicaId>{ReplicaId(7), ReplicaId(9)}));
    // LastKey: the greatest key of a range, from a seek.
    EXPECT_EQ(view.LastKey(Table::kLog2, TestLogKey(7, 0), TestLogKey(8, 0)).value(), TestLogKey(7, 12));
    EXPECT_EQ(view.LastKey(Table::kLog, TestLogKey(7, 0), TestLogKey(7, 11)).value(), TestLogKey(7, 5));
    EXPECT_EQ(view.LastKey(Table::kLog, "", "").value(), TestLogKey(7, 11));
    EXPECT_FALSE(view.LastKey(Table::kLog, TestLogKey(8, 0), TestLogKey(9, 0)).value().has_value());
    EXPECT_FALSE(view.LastKey(Table::kLog2, "", TestLogKey(7, 0)).value().has_value());
    return Status::Ok();
  }).ok());

  // Truncation drops from both segments; a replaced entry stays in its segment.
  ASSERT_TRUE(store_->WriteAndWait([](WriteTxn& txn) -> Status {
    SYNCLINE_ASSIGN_OR_RETURN(int active, txn.ActiveLogSegment());
    if (active != 1) return Status::Internal("the active segment was not kept");
    SYNCLINE_RETURN_IF_ERROR(txn.TruncateLog(ReplicaId(7), 8));
    return txn.ReplaceLogEntry(Dot{ReplicaId(7), 9}, EncodeChange(MakeChange(7, 9, "other")));
  }).ok());
  ASSERT_TRUE(store_->Read([&](ReadView& view) -> Status {
    std::vector<Change> left;
    SYNCLINE_RETURN_IF_ERROR(view.ReadLog(ReplicaId(7), 0, UINT64_MAX, 100, &left));
    EXPECT_EQ(CountersOf(left), (std::vector<uint64_t>{8, 9, 10, 11, 12}));
    EXPECT_EQ(view.GetChange(Dot{ReplicaId(7), 9}).value().key, "other");
    EXPECT_EQ(view.CountEntries(Table::kLog).value(), 3u);   // 5:1, 5:2, 7:11
    EXPECT_EQ(view.CountEntries(Table::kLog2).value(), 5u);  // 7:8..10, 7:12, 9:1
    return Status::Ok();
  }).ok());

  // Clearing a segment drops everything it holds, and only that.
  ASSERT_TRUE(store_->WriteAndWait([](WriteTxn& txn) { return txn.Clear(Table::kLog2); }).ok());
  ASSERT_TRUE(store_->Read([&](ReadView& view) -> Status {
    EXPECT_EQ(view.CountEntries(Table::kLog2).value(), 0u);
    std::vector<Change> left;
    SYNCLINE_RETURN_IF_ERROR(view.ReadLog(ReplicaId(7), 0, UINT64_MAX, 100, &left));
    EXPECT_EQ(CountersOf(left), (std::vector<uint64_t>{11}));
    EXPECT_EQ(view.LogOrigins().value(), (std::vector<ReplicaId>{ReplicaId(5), ReplicaId(7)}));
    return Status::Ok();
  }).ok());
}

INSTANTIATE_TEST_SUITE_P(
    AllStores, StoreConformance,
    ::testing::Values(Kind{"memory", [] { return std::unique_ptr<StoreFactory>(new MemoryFactory()); }},
                      Kind{"lmdb", [] { return std::unique_ptr<StoreFactory>(new LmdbFactory()); }}),
    [](const ::testing::TestParamInfo<Kind>& p) { return std::string(p.param.name); });

}  // namespace
}  // namespace syncline::core
