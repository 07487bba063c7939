#include "syncline/conflict/journal.h"

#include <gtest/gtest.h>

#include "syncline/conflict/lww.h"
#include "syncline/conflict/mv.h"
#include "syncline/conflict/value_resolver.h"
#include "syncline/core/memory_store.h"

namespace syncline::conflict {
namespace {

const ReplicaId A(1), B(2);

std::vector<JournalEntry> ListAll(core::Store& store, const ConflictJournal& journal) {
  std::vector<JournalEntry> out;
  EXPECT_TRUE(store.Read([&](core::ReadView& view) { return journal.List(view, 0, 1000, &out); }).ok());
  return out;
}

TEST(JournalTest, ConcurrentLwwWritesAreJournaledCausalOnesAreNot) {
  auto store = core::OpenMemoryStore();
  ConflictJournal journal;
  LwwResolver lww;
  LwwRegister a, b;
  std::string wa = a.Write(WriteContext{A, HlcTimestamp{100, 0}, Dot{A, 1}}, "from-a").Encode();
  std::string wb = b.Write(WriteContext{B, HlcTimestamp{200, 0}, Dot{B, 1}}, "from-b").Encode();
  std::string state = a.Encode();
  ASSERT_TRUE(store->WriteAndWait([&](core::WriteTxn& txn) {
    return MergeAndJournal(txn, journal, lww, "users", "u1", HlcTimestamp{300, 0}, &state, wb);
  }).ok());
  auto entries = ListAll(*store, journal);
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].sequence, 1u);
  EXPECT_EQ(entries[0].collection, "users");
  EXPECT_EQ(entries[0].key, "u1");
  EXPECT_EQ(entries[0].resolver, "lww");
  EXPECT_EQ(entries[0].local, wa);
  EXPECT_EQ(entries[0].remote, wb);
  EXPECT_EQ(entries[0].merged, state);
  EXPECT_NE(entries[0].outcome.find("won over concurrent"), std::string::npos);

  // A write that saw the current value is no conflict.
  LwwRegister current = LwwRegister::Decode(state).value();
  std::string later = current.Write(WriteContext{A, HlcTimestamp{50, 0}, Dot{A, 2}}, "later").Encode();
  ASSERT_TRUE(store->WriteAndWait([&](core::WriteTxn& txn) {
    return MergeAndJournal(txn, journal, lww, "users", "u1", HlcTimestamp{400, 0}, &state, later);
  }).ok());
  EXPECT_EQ(ListAll(*store, journal).size(), 1u);
}

TEST(JournalTest, RetentionKeepsTheNewestEntries) {
  auto store = core::OpenMemoryStore();
  ConflictJournal journal(JournalOptions{.max_entries = 3});
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(store->WriteAndWait([&](core::WriteTxn& txn) -> Status {
      JournalEntry e;
      e.collection = "c";
      e.key = "k" + std::to_string(i);
      return journal.Append(txn, e).status();
    }).ok());
  }
  auto entries = ListAll(*store, journal);
  ASSERT_EQ(entries.size(), 3u);
  EXPECT_EQ(entries[0].sequence, 8u);
  EXPECT_EQ(entries[2].key, "k9");
}

TEST(JournalTest, EntryCommitsWithTheMergeOrNotAtAll) {
  auto store = core::OpenMemoryStore();
  ConflictJournal journal;
  Status st = store->WriteAndWait([&](core::WriteTxn& txn) -> Status {
    SYNCLINE_RETURN_IF_ERROR(journal.Append(txn, JournalEntry{}).status());
    return Status::FailedPrecondition("the merge failed later in the transaction");
  });
  EXPECT_FALSE(st.ok());
  EXPECT_TRUE(ListAll(*store, journal).empty());
}

class HighScore final : public ValueResolver {
 public:
  std::string_view name() const override { return "high-score"; }
  std::string Resolve(std::string_view a, std::string_view b) const override {
    return std::stoll(std::string(a)) >= std::stoll(std::string(b)) ? std::string(a) : std::string(b);
  }
};

TEST(JournalTest, DryRunReportsWhatAnotherResolverWouldHaveDecided) {
  auto store = core::OpenMemoryStore();
  ConflictJournal journal;
  ResolverRegistry registry = ResolverRegistry::WithBuiltins();
  ASSERT_TRUE(registry.Register(MakeCustomResolver(std::make_shared<HighScore>())).ok());
  MvResolver mv;
  // Two mv conflicts: one where the candidate changes the read, one where it would not.
  for (auto [x, y] : {std::pair<const char*, const char*>{"1", "5"}, {"7", "7"}}) {
    MvRegister a, b;
    std::string wa = a.Write(WriteContext{A, {}, {}}, a.Token(), x).Encode();
    std::string wb = b.Write(WriteContext{B, {}, {}}, b.Token(), y).Encode();
    std::string state = wa;
    ASSERT_TRUE(store->WriteAndWait([&](core::WriteTxn& txn) {
      return MergeAndJournal(txn, journal, mv, "scores", "k", HlcTimestamp{}, &state, wb);
    }).ok());
  }
  // And one lww conflict, which an mv-layout resolver cannot read.
  LwwRegister la, lb;
  std::string wla = la.Write(WriteContext{A, HlcTimestamp{1, 0}, {}}, "p").Encode();
  std::string wlb = lb.Write(WriteContext{B, HlcTimestamp{2, 0}, {}}, "q").Encode();
  LwwResolver lww;
  ASSERT_TRUE(store->WriteAndWait([&](core::WriteTxn& txn) {
    return MergeAndJournal(txn, journal, lww, "names", "n", HlcTimestamp{}, &wla, wlb);
  }).ok());

  auto entries = ListAll(*store, journal);
  ASSERT_EQ(entries.size(), 3u);
  ReplayReport report = ReplayJournal(entries, registry, *registry.Find("high-score").value());
  EXPECT_EQ(report.entries, 3u);
  EXPECT_EQ(report.changed, 2u);
  EXPECT_EQ(report.incompatible, 1u);
  EXPECT_EQ(report.results[0].recorded, "[1, 5]");
  EXPECT_EQ(report.results[0].replayed, "5");
  EXPECT_TRUE(report.results[0].changed);
  EXPECT_EQ(report.results[1].recorded, "[7, 7]");
  EXPECT_EQ(report.results[1].replayed, "7");
  EXPECT_FALSE(report.results[2].error.empty());
}

}  // namespace
}  // namespace syncline::conflict
