// The change feed storage (feed.h) on both stores: commit order, cursors across reopen,
// retention pinned by cursors, lag, and atomicity with the write function that carries it.
#include "syncline/core/feed.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <memory>
#include <string>
#include <vector>

#include "support/temp_dir.h"
#include "syncline/core/lmdb_store.h"
#include "syncline/core/memory_store.h"
#include "syncline/core/varint.h"

namespace syncline::core {
namespace {

using syncline::testing::TempDir;

Change MakeChange(uint64_t origin, uint64_t counter, std::string key) {
  Change c;
  c.collection = "c";
  c.key = std::move(key);
  c.dot = Dot{ReplicaId(origin), counter};
  c.payload = "p" + std::to_string(counter);
  c.resolver = "lww";
  return c;
}

// A feeds key: the prefix, then the sequence number big-endian (feed.h).
std::string SeqKey(char prefix, uint64_t seq) {
  std::string k(1, prefix);
  for (int i = 7; i >= 0; --i) k.push_back(static_cast<char>(seq >> (8 * i)));
  return k;
}

class FeedTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override { store_ = Open(); }

  std::unique_ptr<Store> Open() {
    if (GetParam()) {
      LmdbStoreOptions o;
      o.map_size_bytes = 64 << 20;
      auto s = OpenLmdbStore(dir_.str(), o);
      EXPECT_TRUE(s.ok()) << s.status();
      return std::move(s).value();
    }
    MemoryStoreOptions o;
    o.storage = storage_;
    return OpenMemoryStore(o);
  }

  void Reopen() {
    ASSERT_TRUE(store_->Close().ok());
    store_ = Open();
  }

  Status Append(const Change& c) {
    return store_->WriteAndWait([c](WriteTxn& txn) { return txn.AppendChange(c); });
  }

  std::vector<FeedEntry> Read(uint64_t after, size_t max = 100, Status* status = nullptr) {
    std::vector<FeedEntry> out;
    Status s = store_->Read([&](ReadView& v) { return ReadFeed(v, after, max, 1 << 20, &out); });
    if (status != nullptr) {
      *status = s;
    } else {
      EXPECT_TRUE(s.ok()) << s;
    }
    return out;
  }

  FeedBounds Bounds() {
    FeedBounds b;
    EXPECT_TRUE(store_->Read([&](ReadView& v) -> Status {
                        SYNCLINE_ASSIGN_OR_RETURN(b, GetFeedBounds(v));
                        return Status::Ok();
                      }).ok());
    return b;
  }

  Status SetCursor(const std::string& name, uint64_t seq) {
    return store_->WriteAndWait([&](WriteTxn& txn) { return SetFeedCursor(txn, name, seq); });
  }

  TempDir dir_;
  std::shared_ptr<MemoryStorage> storage_ = NewMemoryStorage();
  std::unique_ptr<Store> store_;
};

TEST_P(FeedTest, EntriesFollowCommitOrderNotLogOrder) {
  // Log order would be (1,1) (1,2) (2,1) (2,2); commit order interleaves the origins.
  ASSERT_TRUE(Append(MakeChange(2, 1, "a")).ok());
  ASSERT_TRUE(Append(MakeChange(1, 1, "b")).ok());
  ASSERT_TRUE(Append(MakeChange(2, 2, "c")).ok());
  ASSERT_TRUE(Append(MakeChange(1, 2, "d")).ok());
  auto all = Read(0);
  ASSERT_EQ(all.size(), 4u);
  std::string keys;
  for (size_t i = 0; i < all.size(); ++i) {
    EXPECT_EQ(all[i].seq, i + 1);
    keys += all[i].change.key;
  }
  EXPECT_EQ(keys, "abcd");
  EXPECT_EQ(all[2].change, MakeChange(2, 2, "c"));
  auto tail = Read(2, 1);
  ASSERT_EQ(tail.size(), 1u);
  EXPECT_EQ(tail[0].seq, 3u);
  EXPECT_TRUE(Read(4).empty());
  Status s;
  Read(5, 10, &s);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s;
  // A duplicate dot is refused by the log and adds nothing to the feed.
  EXPECT_EQ(Append(MakeChange(1, 2, "d")).code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(Bounds().head, 4u);
}

TEST_P(FeedTest, FailedWriteFunctionLeavesNoEntryAndNoCursorMove) {
  ASSERT_TRUE(Append(MakeChange(1, 1, "a")).ok());
  ASSERT_TRUE(SetCursor("proj", 0).ok());
  Status s = store_->WriteAndWait([](WriteTxn& txn) -> Status {
    SYNCLINE_RETURN_IF_ERROR(txn.AppendChange(MakeChange(1, 2, "b")));
    SYNCLINE_RETURN_IF_ERROR(SetFeedCursor(txn, "proj", 1));
    return Status::Internal("the consumer's write failed");
  });
  EXPECT_EQ(s.code(), StatusCode::kInternal);
  EXPECT_EQ(Bounds().head, 1u);
  auto cursor = store_->Read([](ReadView& v) -> Status {
    SYNCLINE_ASSIGN_OR_RETURN(uint64_t c, GetFeedCursor(v, "proj"));
    return c == 0 ? Status::Ok() : Status::Internal("cursor moved to " + std::to_string(c));
  });
  EXPECT_TRUE(cursor.ok()) << cursor;
}

TEST_P(FeedTest, CursorsAndHeadSurviveReopen) {
  for (uint64_t i = 1; i <= 5; ++i) ASSERT_TRUE(Append(MakeChange(1, i, "k" + std::to_string(i))).ok());
  ASSERT_TRUE(SetCursor("proj", 3).ok());
  ASSERT_TRUE(store_->WriteAndWait([](WriteTxn& txn) { return AdvanceSourcePosition(txn, "orders", 0, 9); }).ok());
  Reopen();
  EXPECT_EQ(Bounds().head, 5u);
  Status s = store_->Read([](ReadView& v) -> Status {
    SYNCLINE_ASSIGN_OR_RETURN(uint64_t c, GetFeedCursor(v, "proj"));
    SYNCLINE_ASSIGN_OR_RETURN(uint64_t p, GetSourcePosition(v, "orders"));
    if (c != 3 || p != 9) return Status::Internal("cursor " + std::to_string(c) + " source " + std::to_string(p));
    return Status::Ok();
  });
  EXPECT_TRUE(s.ok()) << s;
  ASSERT_TRUE(Append(MakeChange(1, 6, "k6")).ok());
  auto next = Read(5);
  ASSERT_EQ(next.size(), 1u);
  EXPECT_EQ(next[0].seq, 6u);
}

TEST_P(FeedTest, CursorMovesForwardOnlyAndSourcePositionIsCompareAndSet) {
  for (uint64_t i = 1; i <= 3; ++i) ASSERT_TRUE(Append(MakeChange(1, i, "k")).ok());
  ASSERT_TRUE(SetCursor("proj", 2).ok());
  EXPECT_TRUE(SetCursor("proj", 2).ok());  // a repeated acknowledgement
  EXPECT_EQ(SetCursor("proj", 1).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(SetCursor("proj", 4).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(SetCursor("bad name", 1).code(), StatusCode::kInvalidArgument);
  auto advance = [&](uint64_t from, uint64_t to) {
    return store_->WriteAndWait([=](WriteTxn& txn) { return AdvanceSourcePosition(txn, "src", from, to); });
  };
  ASSERT_TRUE(advance(0, 5).ok());
  EXPECT_EQ(advance(0, 5).code(), StatusCode::kFailedPrecondition);  // the same batch again
  EXPECT_EQ(advance(3, 7).code(), StatusCode::kFailedPrecondition);
  EXPECT_TRUE(advance(5, 7).ok());
}

TEST_P(FeedTest, RetentionKeepsWhatRegisteredCursorsNeed) {
  ASSERT_TRUE(store_->WriteAndWait([](WriteTxn& txn) { return SetFeedRetention(txn, 2); }).ok());
  ASSERT_TRUE(SetCursor("slow", 0).ok());
  ASSERT_TRUE(SetCursor("fast", 0).ok());
  for (uint64_t i = 1; i <= 10; ++i) ASSERT_TRUE(Append(MakeChange(1, i, "k")).ok());
  ASSERT_TRUE(SetCursor("fast", 10).ok());
  ASSERT_TRUE(store_->WriteAndWait([](WriteTxn& txn) { return PruneFeed(txn); }).ok());
  // "slow" has processed nothing: every entry stays.
  EXPECT_EQ(Bounds().pruned_through, 0u);
  EXPECT_EQ(Read(0).size(), 10u);
  std::vector<FeedConsumer> consumers;
  ASSERT_TRUE(store_->Read([&](ReadView& v) -> Status {
                      SYNCLINE_ASSIGN_OR_RETURN(consumers, ListFeedConsumers(v));
                      return Status::Ok();
                    }).ok());
  ASSERT_EQ(consumers.size(), 2u);
  EXPECT_EQ(consumers[0].name, "fast");
  EXPECT_EQ(consumers[0].lag, 0u);
  EXPECT_EQ(consumers[1].name, "slow");
  EXPECT_EQ(consumers[1].lag, 10u);
  // "slow" moves to 6: entries up to 6 go; reading them is refused, not silently skipped.
  ASSERT_TRUE(SetCursor("slow", 6).ok());
  EXPECT_EQ(Bounds().pruned_through, 6u);
  Status s;
  Read(3, 10, &s);
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition) << s;
  auto rest = Read(6);
  ASSERT_EQ(rest.size(), 4u);
  EXPECT_EQ(rest[0].seq, 7u);
  // A new consumer cannot register below what was pruned.
  EXPECT_EQ(SetCursor("late", 2).code(), StatusCode::kFailedPrecondition);
  // Without cursors only the retained tail stays.
  ASSERT_TRUE(store_->WriteAndWait([](WriteTxn& txn) -> Status {
                      SYNCLINE_RETURN_IF_ERROR(RemoveFeedCursor(txn, "slow"));
                      return RemoveFeedCursor(txn, "fast");
                    }).ok());
  EXPECT_EQ(Bounds().pruned_through, 8u);
  EXPECT_EQ(Read(8).size(), 2u);
}

TEST_P(FeedTest, AppendPathPrunesPeriodically) {
  ASSERT_TRUE(store_->WriteAndWait([](WriteTxn& txn) { return SetFeedRetention(txn, 10); }).ok());
  ASSERT_TRUE(store_->WriteAndWait([](WriteTxn& txn) -> Status {
                      for (uint64_t i = 1; i <= kFeedPruneEvery; ++i) {
                        SYNCLINE_RETURN_IF_ERROR(txn.AppendChange(MakeChange(1, i, "k")));
                      }
                      return Status::Ok();
                    }).ok());
  FeedBounds b = Bounds();
  EXPECT_EQ(b.head, kFeedPruneEvery);
  EXPECT_EQ(b.pruned_through, kFeedPruneEvery - 10);
  EXPECT_EQ(Read(b.pruned_through).size(), 10u);
}

// One transaction's appends form one group, read back entry by entry from the log, also from
// the middle of the group and across groups; runs break where origins or counters do.
TEST_P(FeedTest, GroupsAreReadEntryByEntryFromTheLog) {
  std::vector<Change> changes = {MakeChange(1, 5, "a"), MakeChange(1, 6, "b"), MakeChange(2, 1, "c"),
                                 MakeChange(1, 7, "d"), MakeChange(1, 9, "e"), MakeChange(3, 4, "f")};
  ASSERT_TRUE(store_->WriteAndWait([&](WriteTxn& txn) -> Status {
                      for (const Change& c : changes) SYNCLINE_RETURN_IF_ERROR(txn.AppendChange(c));
                      return Status::Ok();
                    }).ok());
  ASSERT_TRUE(Append(MakeChange(2, 2, "g")).ok());
  auto all = Read(0);
  ASSERT_EQ(all.size(), 7u);
  for (size_t i = 0; i < changes.size(); ++i) {
    EXPECT_EQ(all[i].seq, i + 1);
    EXPECT_EQ(all[i].change, changes[i]) << "entry " << i + 1;
  }
  EXPECT_EQ(all[6].change, MakeChange(2, 2, "g"));
  auto middle = Read(3, 2);
  ASSERT_EQ(middle.size(), 2u);
  EXPECT_EQ(middle[0].change.key, "d");
  EXPECT_EQ(middle[1].change.key, "e");
  auto across = Read(5);
  ASSERT_EQ(across.size(), 2u);
  EXPECT_EQ(across[0].change.key, "f");
  EXPECT_EQ(across[1].change.key, "g");
  // A byte bound still returns at least one entry.
  std::vector<FeedEntry> one;
  ASSERT_TRUE(store_->Read([&](ReadView& v) { return ReadFeed(v, 0, 100, 1, &one); }).ok());
  EXPECT_EQ(one.size(), 1u);
}

// A write transaction reads the entries its own appends gathered, before they are written.
TEST_P(FeedTest, ATransactionReadsItsOwnAppends) {
  ASSERT_TRUE(Append(MakeChange(1, 1, "a")).ok());
  std::vector<FeedEntry> seen;
  ASSERT_TRUE(store_->WriteAndWait([&](WriteTxn& txn) -> Status {
                      SYNCLINE_RETURN_IF_ERROR(txn.AppendChange(MakeChange(1, 2, "b")));
                      SYNCLINE_RETURN_IF_ERROR(txn.AppendChange(MakeChange(1, 3, "c")));
                      return ReadFeed(txn, 0, 100, 1 << 20, &seen);
                    }).ok());
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[2].seq, 3u);
  EXPECT_EQ(seen[2].change.key, "c");
}

// Stores written before groups hold copies ("e" records); they are read before the groups that
// follow them, and pruned with them.
TEST_P(FeedTest, EntriesStoredAsCopiesAreReadBeforeGroups) {
  ASSERT_TRUE(store_->WriteAndWait([](WriteTxn& txn) -> Status {
                      for (uint64_t seq = 1; seq <= 3; ++seq) {
                        Change c = MakeChange(9, seq, "old" + std::to_string(seq));
                        SYNCLINE_RETURN_IF_ERROR(txn.Put(Table::kFeeds, SeqKey('e', seq), EncodeChange(c)));
                      }
                      std::string head;
                      PutFixed64(&head, 3);
                      return txn.Put(Table::kFeeds, "h", head);
                    }).ok());
  ASSERT_TRUE(Append(MakeChange(1, 1, "new1")).ok());
  ASSERT_TRUE(Append(MakeChange(1, 2, "new2")).ok());
  auto all = Read(0);
  ASSERT_EQ(all.size(), 5u);
  EXPECT_EQ(all[0].change.key, "old1");
  EXPECT_EQ(all[2].change.key, "old3");
  EXPECT_EQ(all[3].seq, 4u);
  EXPECT_EQ(all[3].change.key, "new1");
  auto from_copies = Read(1, 3);
  ASSERT_EQ(from_copies.size(), 3u);
  EXPECT_EQ(from_copies[2].change.key, "new1");
  ASSERT_TRUE(store_->WriteAndWait([](WriteTxn& txn) { return SetFeedRetention(txn, 1); }).ok());
  EXPECT_EQ(Bounds().pruned_through, 4u);
  auto rest = Read(4);
  ASSERT_EQ(rest.size(), 1u);
  EXPECT_EQ(rest[0].change.key, "new2");
}

// The log pins name, per origin, the lowest counter a retained entry refers to, whatever the
// order the counters arrived in; pruned entries pin nothing, and a scan past its bound says so.
TEST_P(FeedTest, LogPinsNameTheLowestCounterOfEveryRetainedEntry) {
  auto pins = [&](size_t max_groups) {
    FeedLogPins p;
    EXPECT_TRUE(store_->Read([&](ReadView& v) -> Status {
                        SYNCLINE_ASSIGN_OR_RETURN(p, GetFeedLogPins(v, max_groups));
                        return Status::Ok();
                      }).ok());
    return p;
  };
  using Pins = std::vector<std::pair<ReplicaId, uint64_t>>;
  ASSERT_TRUE(store_->WriteAndWait([](WriteTxn& txn) { return SetFeedRetention(txn, 100); }).ok());
  EXPECT_TRUE(pins(10).lowest.empty());
  ASSERT_TRUE(store_->WriteAndWait([](WriteTxn& txn) -> Status {
                      for (uint64_t c = 5; c <= 7; ++c) SYNCLINE_RETURN_IF_ERROR(txn.AppendChange(MakeChange(1, c, "k")));
                      return Status::Ok();
                    }).ok());
  // A gap of origin 1 filled later, and another origin.
  ASSERT_TRUE(store_->WriteAndWait([](WriteTxn& txn) -> Status {
                      SYNCLINE_RETURN_IF_ERROR(txn.AppendChange(MakeChange(2, 10, "k")));
                      return txn.AppendChange(MakeChange(1, 3, "k"));
                    }).ok());
  FeedLogPins p = pins(10);
  EXPECT_TRUE(p.complete);
  EXPECT_EQ(p.lowest, (Pins{{ReplicaId(1), 3}, {ReplicaId(2), 10}}));
  EXPECT_FALSE(pins(1).complete);
  // Entries 1 and 2 pruned (counters 5 and 6): origin 1 is still pinned at 3 by entry 5.
  ASSERT_TRUE(SetCursor("c", 2).ok());
  ASSERT_TRUE(store_->WriteAndWait([](WriteTxn& txn) { return SetFeedRetention(txn, 0); }).ok());
  EXPECT_EQ(Bounds().pruned_through, 2u);
  EXPECT_EQ(pins(10).lowest, (Pins{{ReplicaId(1), 3}, {ReplicaId(2), 10}}));
  // Entries up to 4 pruned, the one of (1,3) remains.
  ASSERT_TRUE(SetCursor("c", 4).ok());
  EXPECT_EQ(pins(10).lowest, (Pins{{ReplicaId(1), 3}}));
  ASSERT_TRUE(SetCursor("c", 5).ok());
  EXPECT_TRUE(pins(10).lowest.empty());
  // The group a transaction is building pins too.
  ASSERT_TRUE(store_->WriteAndWait([&](WriteTxn& txn) -> Status {
                      SYNCLINE_RETURN_IF_ERROR(txn.AppendChange(MakeChange(4, 2, "k")));
                      SYNCLINE_ASSIGN_OR_RETURN(FeedLogPins in_txn, GetFeedLogPins(txn, 10));
                      if (in_txn.lowest != Pins{{ReplicaId(4), 2}}) return Status::Internal("pending group not pinned");
                      return Status::Ok();
                    }).ok());
}

// A feed entry whose change the log no longer holds is reported with its place, never skipped.
TEST_P(FeedTest, AnEntryWhoseChangeLeftTheLogIsReported) {
  ASSERT_TRUE(Append(MakeChange(1, 1, "a")).ok());
  ASSERT_TRUE(Append(MakeChange(1, 2, "b")).ok());
  ASSERT_TRUE(store_->WriteAndWait([](WriteTxn& txn) { return txn.TruncateLog(ReplicaId(1), 2); }).ok());
  Status s;
  Read(0, 10, &s);
  EXPECT_EQ(s.code(), StatusCode::kCorruption) << s;
  EXPECT_NE(s.message().find("feed entry 1 names change"), std::string::npos) << s;
  EXPECT_EQ(Read(1).size(), 1u);
}

// State entries (a merged state, no dot) take their place in commit order among the changes,
// in the group of their transaction; they are read from the feed itself, pin no log entry, are
// pruned with their sequence numbers and survive a reopen. A state above the bound is entered
// without it, under its own kind; an empty state (a dropped key) is entered as such.
TEST_P(FeedTest, StateEntriesTakeTheirPlaceAmongChangesAndArePrunedWithThem) {
  ASSERT_TRUE(store_->WriteAndWait([](WriteTxn& txn) { return SetFeedRetention(txn, 100); }).ok());
  ASSERT_TRUE(Append(MakeChange(1, 1, "a")).ok());
  HlcTimestamp at{1234, 5};
  ASSERT_TRUE(store_->WriteAndWait([&](WriteTxn& txn) -> Status {
                      SYNCLINE_RETURN_IF_ERROR(AppendStateToFeed(txn, "c", "s1", "lww", "state-1", at));
                      SYNCLINE_RETURN_IF_ERROR(AppendStateToFeed(txn, "c", "s2", "lww", "state-2", at));
                      SYNCLINE_RETURN_IF_ERROR(txn.AppendChange(MakeChange(1, 2, "b")));
                      return AppendStateToFeed(txn, "set", "s3", "set", std::string(kMaxFeedStateBytes + 1, 'z'), at);
                    }).ok());
  ASSERT_TRUE(Append(MakeChange(2, 1, "c")).ok());
  Reopen();
  auto all = Read(0);
  ASSERT_EQ(all.size(), 6u);
  for (size_t i = 0; i < all.size(); ++i) EXPECT_EQ(all[i].seq, i + 1);
  EXPECT_EQ(all[0].change, MakeChange(1, 1, "a"));
  for (size_t i : {1, 2, 4}) {
    EXPECT_EQ(all[i].change.kind, i == 4 ? kFeedUncopiedStateKind : kFeedStateKind) << "entry " << i + 1;
    EXPECT_FALSE(all[i].change.dot.valid()) << "entry " << i + 1;
    EXPECT_EQ(all[i].change.hlc, at);
  }
  EXPECT_EQ(all[1].change.key, "s1");
  EXPECT_EQ(all[1].change.payload, "state-1");
  EXPECT_EQ(all[1].change.resolver, "lww");
  EXPECT_EQ(all[2].change.payload, "state-2");
  EXPECT_EQ(all[3].change, MakeChange(1, 2, "b"));
  EXPECT_EQ(all[4].change.collection, "set");
  EXPECT_EQ(all[4].change.resolver, "set");
  EXPECT_TRUE(all[4].change.payload.empty());  // above kMaxFeedStateBytes: not copied
  EXPECT_EQ(all[5].change, MakeChange(2, 1, "c"));
  // Read from the middle of the group, starting at a state entry.
  auto middle = Read(2, 2);
  ASSERT_EQ(middle.size(), 2u);
  EXPECT_EQ(middle[0].change.key, "s2");
  EXPECT_EQ(middle[1].change.key, "b");
  // Only changes pin the log.
  FeedLogPins pins;
  ASSERT_TRUE(store_->Read([&](ReadView& v) -> Status {
                      SYNCLINE_ASSIGN_OR_RETURN(pins, GetFeedLogPins(v, 10));
                      return Status::Ok();
                    }).ok());
  EXPECT_EQ(pins.lowest, (std::vector<std::pair<ReplicaId, uint64_t>>{{ReplicaId(1), 1}, {ReplicaId(2), 1}}));
  auto stored = [&](uint64_t seq) {
    return store_->Read([&](ReadView& v) { return v.Get(Table::kFeeds, SeqKey('x', seq)).status(); });
  };
  EXPECT_TRUE(stored(2).ok());
  // Pruning through entry 3 drops the state entries 2 and 3 and keeps 5.
  ASSERT_TRUE(SetCursor("c", 3).ok());
  ASSERT_TRUE(store_->WriteAndWait([](WriteTxn& txn) { return SetFeedRetention(txn, 0); }).ok());
  EXPECT_EQ(Bounds().pruned_through, 3u);
  EXPECT_TRUE(stored(2).IsNotFound());
  EXPECT_TRUE(stored(3).IsNotFound());
  EXPECT_TRUE(stored(5).ok());
  auto rest = Read(3);
  ASSERT_EQ(rest.size(), 3u);
  EXPECT_EQ(rest[1].change.key, "s3");
  // A dropped key: an empty state.
  ASSERT_TRUE(store_->WriteAndWait([&](WriteTxn& txn) { return AppendStateToFeed(txn, "c", "gone", "lww", "", at); }).ok());
  auto dropped = Read(6);
  ASSERT_EQ(dropped.size(), 1u);
  EXPECT_EQ(dropped[0].change.kind, kFeedStateKind);
  EXPECT_EQ(dropped[0].change.key, "gone");
  EXPECT_TRUE(dropped[0].change.payload.empty());
  // A state entry whose record is gone, or holds a change with a dot, is reported.
  ASSERT_TRUE(store_->WriteAndWait([](WriteTxn& txn) {
                      return txn.Put(Table::kFeeds, SeqKey('x', 5), EncodeChange(MakeChange(1, 9, "k")));
                    }).ok());
  Status s;
  Read(4, 10, &s);
  EXPECT_EQ(s.code(), StatusCode::kCorruption) << s;
  EXPECT_NE(s.message().find("feed state entry 5"), std::string::npos) << s;
  ASSERT_TRUE(store_->WriteAndWait([](WriteTxn& txn) { return txn.Delete(Table::kFeeds, SeqKey('x', 5)); }).ok());
  Read(4, 10, &s);
  EXPECT_EQ(s.code(), StatusCode::kCorruption) << s;
  EXPECT_NE(s.message().find("feed state entry 5 is missing"), std::string::npos) << s;
}

// A damaged group record is reported naming the record.
TEST_P(FeedTest, ADamagedGroupIsReported) {
  ASSERT_TRUE(Append(MakeChange(1, 1, "a")).ok());
  for (std::string bad : {std::string("\x05"), std::string("\x01\x01\x00"), std::string("\x01") + std::string(8, '\0') + "\x01\x01"}) {
    ASSERT_TRUE(store_->WriteAndWait([&](WriteTxn& txn) {
                        return txn.Put(Table::kFeeds, SeqKey('g', 1), bad);
                      }).ok());
    Status s;
    Read(0, 10, &s);
    EXPECT_EQ(s.code(), StatusCode::kCorruption) << s;
    EXPECT_NE(s.message().find("feeds record 'g"), std::string::npos) << s;
  }
}

// Fault injection on the real store: a commit that fails (full disk) or a put that fails (I/O
// error) in the middle of a write function loses the change, its feed entry and the cursor move
// together; the store reopens with neither and accepts the same write afterwards.
TEST(FeedFaultTest, FailedCommitOrPutKeepsChangeEntryAndCursorTogether) {
  TempDir dir;
  std::atomic<int> fail_commit{0}, fail_put_at{0}, puts{0};
  auto open = [&] {
    LmdbStoreOptions o;
    o.map_size_bytes = 64 << 20;
    o.fault_hook = [&](FaultPoint p) -> int {
      if (p == FaultPoint::kCommit && fail_commit.load() > 0) {
        --fail_commit;
        return ENOSPC;
      }
      if (p == FaultPoint::kPut && fail_put_at.load() > 0 && ++puts == fail_put_at.load()) return EIO;
      return 0;
    };
    auto s = OpenLmdbStore(dir.str(), o);
    EXPECT_TRUE(s.ok()) << s.status();
    return std::move(s).value();
  };
  auto store = open();
  auto apply = [](uint64_t counter) {
    return [counter](WriteTxn& txn) -> Status {
      SYNCLINE_RETURN_IF_ERROR(txn.AppendChange(MakeChange(1, counter, "k")));
      return SetFeedCursor(txn, "proj", counter);
    };
  };
  ASSERT_TRUE(store->WriteAndWait([](WriteTxn& txn) { return SetFeedCursor(txn, "proj", 0); }).ok());
  fail_commit = 1;
  EXPECT_EQ(store->WriteAndWait(apply(1)).code(), StatusCode::kResourceExhausted);
  puts = 0;
  fail_put_at = 2;  // the change is in the log; its feed entry fails
  EXPECT_FALSE(store->WriteAndWait(apply(1)).ok());
  fail_put_at = 0;
  ASSERT_TRUE(store->Close().ok());
  store = open();
  auto state = [&](uint64_t* head, uint64_t* cursor, bool* logged) {
    return store->Read([&](ReadView& v) -> Status {
      SYNCLINE_ASSIGN_OR_RETURN(FeedBounds b, GetFeedBounds(v));
      *head = b.head;
      SYNCLINE_ASSIGN_OR_RETURN(*cursor, GetFeedCursor(v, "proj"));
      *logged = v.GetChange(Dot{ReplicaId(1), 1}).ok();
      return Status::Ok();
    });
  };
  uint64_t head = 9, cursor = 9;
  bool logged = true;
  ASSERT_TRUE(state(&head, &cursor, &logged).ok());
  EXPECT_EQ(head, 0u);
  EXPECT_EQ(cursor, 0u);
  EXPECT_FALSE(logged);
  ASSERT_TRUE(store->WriteAndWait(apply(1)).ok());
  ASSERT_TRUE(state(&head, &cursor, &logged).ok());
  EXPECT_EQ(head, 1u);
  EXPECT_EQ(cursor, 1u);
  EXPECT_TRUE(logged);
  ASSERT_TRUE(store->Close().ok());
}

// Appends in one transaction move the head in memory: later steps of the same transaction (a
// cursor, a read of the feed, the bounds) see the moved head, the stored head record follows at
// commit, and a function that fails after appending leaves the head where it was.
TEST_P(FeedTest, HeadMovedByATransactionIsSeenInsideItAndStoredAtCommit) {
  ASSERT_TRUE(Append(MakeChange(1, 1, "a")).ok());
  Status s = store_->WriteAndWait([](WriteTxn& txn) -> Status {
    for (uint64_t c = 2; c <= 6; ++c) SYNCLINE_RETURN_IF_ERROR(txn.AppendChange(MakeChange(1, c, "k")));
    SYNCLINE_ASSIGN_OR_RETURN(FeedBounds b, GetFeedBounds(txn));
    if (b.head != 6) return Status::Internal("head inside the transaction is " + std::to_string(b.head));
    std::vector<FeedEntry> seen;
    SYNCLINE_RETURN_IF_ERROR(ReadFeed(txn, 4, 100, 1 << 20, &seen));
    if (seen.size() != 2 || seen.back().seq != 6) {
      return Status::Internal("read " + std::to_string(seen.size()) + " entries after 4 inside the transaction");
    }
    // A cursor at the moved head is accepted; one past it is not.
    SYNCLINE_RETURN_IF_ERROR(SetFeedCursor(txn, "proj", 6));
    if (SetFeedCursor(txn, "proj", 7).ok()) return Status::Internal("a cursor beyond the head was accepted");
    return Status::Ok();
  });
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(Bounds().head, 6u);
  Reopen();
  EXPECT_EQ(Bounds().head, 6u);
  ASSERT_TRUE(Append(MakeChange(1, 7, "b")).ok());
  auto all = Read(0);
  ASSERT_EQ(all.size(), 7u);
  EXPECT_EQ(all.back().seq, 7u);
  EXPECT_EQ(all.back().change.key, "b");
  // Appends of a failed function are undone with the head they moved.
  s = store_->WriteAndWait([](WriteTxn& txn) -> Status {
    SYNCLINE_RETURN_IF_ERROR(txn.AppendChange(MakeChange(1, 8, "c")));
    return Status::Internal("fails after appending");
  });
  EXPECT_EQ(s.code(), StatusCode::kInternal);
  EXPECT_EQ(Bounds().head, 7u);
  ASSERT_TRUE(Append(MakeChange(1, 8, "d")).ok());
  all = Read(7);
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].seq, 8u);
  EXPECT_EQ(all[0].change.key, "d");
}

// The feed writes once per transaction, not once per append: a transaction of ten changes puts
// ten log entries, one group naming them and one head.
TEST(FeedPutsTest, OneGroupAndOneHeadPerTransaction) {
  TempDir dir;
  std::atomic<int> puts{0};
  LmdbStoreOptions o;
  o.map_size_bytes = 64 << 20;
  o.fault_hook = [&](FaultPoint p) -> int {
    if (p == FaultPoint::kPut) ++puts;
    return 0;
  };
  auto store = OpenLmdbStore(dir.str(), o);
  ASSERT_TRUE(store.ok()) << store.status();
  puts = 0;
  Status s = (*store)->WriteAndWait([](WriteTxn& txn) -> Status {
    for (uint64_t c = 1; c <= 10; ++c) SYNCLINE_RETURN_IF_ERROR(txn.AppendChange(MakeChange(3, c, "k")));
    return Status::Ok();
  });
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(puts.load(), 12);
  ASSERT_TRUE((*store)->Close().ok());
}

INSTANTIATE_TEST_SUITE_P(Stores, FeedTest, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& p) { return p.param ? "Lmdb" : "Memory"; });

}  // namespace
}  // namespace syncline::core
