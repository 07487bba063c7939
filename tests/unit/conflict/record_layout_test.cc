#include "syncline/conflict/record_layout.h"

#include <gtest/gtest.h>

#include <map>

#include "support/seed.h"
#include "syncline/core/memory_store.h"

namespace syncline::conflict {
namespace {

// Records in a std::map, counting every access.
class CountingRecords final : public KeyRecords {
 public:
  Result<std::optional<std::string>> Get(std::string_view sub) override {
    ++ops;
    auto it = records.find(std::string(sub));
    if (it == records.end()) return std::optional<std::string>();
    return std::optional<std::string>(it->second);
  }
  Status Put(std::string_view sub, std::string_view value) override {
    ++ops;
    records[std::string(sub)] = std::string(value);
    return Status::Ok();
  }
  Status Delete(std::string_view sub) override {
    ++ops;
    records.erase(std::string(sub));
    return Status::Ok();
  }
  Status Scan(std::string_view prefix,
              const std::function<bool(std::string_view, std::string_view)>& visit) override {
    for (auto it = records.lower_bound(std::string(prefix)); it != records.end(); ++it) {
      ++ops;
      if (it->first.compare(0, prefix.size(), prefix) != 0 || !visit(it->first, it->second)) break;
    }
    return Status::Ok();
  }
  std::map<std::string, std::string> records;
  uint64_t ops = 0;
};

TEST(RecordLayoutTest, RecordsMatchTheInMemorySetOverRandomHistories) {
  syncline::testing::SeededRng rng;
  for (int trial = 0; trial < 100; ++trial) {
    OrSet writers[2], reference;
    CountingRecords stored;
    std::vector<OrSet> deltas;
    for (int step = 0; step < 40; ++step) {
      int w = static_cast<int>(rng.Uniform(0, 1));
      std::string e = "e" + std::to_string(rng.Uniform(0, 5));
      OrSet d = rng.Chance(0.35) ? writers[w].Remove(e) : writers[w].Add(ReplicaId(static_cast<uint64_t>(w + 1)), e);
      writers[1 - w].ApplyDelta(d, nullptr);
      deltas.push_back(d);
      // The stored replica gets deltas late, duplicated and out of order.
      const OrSet& late = deltas[rng.Uniform(0, deltas.size() - 1)];
      reference.ApplyDelta(late, nullptr);
      ASSERT_TRUE(ApplySetDelta(stored, late, nullptr).ok());
      auto loaded = LoadSet(stored);
      ASSERT_TRUE(loaded.ok()) << loaded.status();
      ASSERT_EQ(*loaded, reference) << "trial " << trial << " step " << step;
    }
  }
}

TEST(RecordLayoutTest, AnUpdateOfAHundredThousandElementSetTouchesAFewRecords) {
  CountingRecords stored;
  OrSet writer;
  for (int i = 0; i < 100'000; ++i) {
    ASSERT_TRUE(ApplySetDelta(stored, writer.Add(ReplicaId(1), "member-" + std::to_string(i)), nullptr).ok());
  }
  stored.ops = 0;
  ASSERT_TRUE(ApplySetDelta(stored, writer.Add(ReplicaId(2), "member-77"), nullptr).ok());
  EXPECT_LE(stored.ops, 10u) << "an add should touch O(1) records";
  stored.ops = 0;
  ASSERT_TRUE(ApplySetDelta(stored, writer.Remove("member-5"), nullptr).ok());
  EXPECT_LE(stored.ops, 10u) << "a remove should touch O(1) records";
  auto loaded = LoadSet(stored);
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(loaded->size(), 99'999u);
  EXPECT_FALSE(loaded->Contains("member-5"));
}

TEST(RecordLayoutTest, WorksInsideAStoreTransaction) {
  auto store = core::OpenMemoryStore();
  OrSet writer;
  OrSet add = writer.Add(ReplicaId(1), "x");
  ASSERT_TRUE(store->WriteAndWait([&](core::WriteTxn& txn) {
    auto records = TxnKeyRecords(txn, "tags", "doc-1");
    return ApplySetDelta(*records, add, nullptr);
  }).ok());
  ASSERT_TRUE(store->WriteAndWait([&](core::WriteTxn& txn) -> Status {
    auto records = TxnKeyRecords(txn, "tags", "doc-1");
    SYNCLINE_ASSIGN_OR_RETURN(OrSet loaded, LoadSet(*records));
    EXPECT_TRUE(loaded.Contains("x"));
    auto other = TxnKeyRecords(txn, "tags", "doc-10");  // a key sharing a prefix stays apart
    SYNCLINE_ASSIGN_OR_RETURN(OrSet empty, LoadSet(*other));
    EXPECT_EQ(empty.size(), 0u);
    return Status::Ok();
  }).ok());
}

}  // namespace
}  // namespace syncline::conflict
