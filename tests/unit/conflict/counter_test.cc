#include "syncline/conflict/counter.h"

#include <gtest/gtest.h>

#include <limits>

namespace syncline::conflict {
namespace {

const ReplicaId A(1), B(2);

TEST(CounterTest, IncrementsAndDecrementsFromAllReplicasAddUp) {
  PnCounter a, b;
  auto d1 = a.Add(A, 5);
  auto d2 = b.Add(B, -2);
  auto d3 = a.Add(A, 1);
  ASSERT_TRUE(d1.ok() && d2.ok() && d3.ok());
  b.Join(*d3);  // out of order: the later total subsumes the earlier one
  b.Join(*d1);
  a.Join(*d2);
  a.Join(*d2);  // duplicates change nothing
  EXPECT_EQ(a.value(), 4);
  EXPECT_EQ(a, b);
  EXPECT_EQ(d3->entries().size(), 1u);  // a delta is one replica's totals
}

TEST(CounterTest, OverflowIsRefusedAndTheValueSaturates) {
  PnCounter c;
  ASSERT_TRUE(c.Add(A, std::numeric_limits<int64_t>::max()).ok());
  ASSERT_TRUE(c.Add(A, std::numeric_limits<int64_t>::max()).ok());
  ASSERT_TRUE(c.Add(B, std::numeric_limits<int64_t>::max()).ok());
  EXPECT_EQ(c.value(), std::numeric_limits<int64_t>::max());
  auto over = c.Add(A, std::numeric_limits<int64_t>::max());
  EXPECT_FALSE(over.ok());
}

TEST(CounterTest, EncodingRoundTrips) {
  PnCounter c;
  ASSERT_TRUE(c.Add(B, 3).ok());
  ASSERT_TRUE(c.Add(A, -7).ok());
  auto back = PnCounter::Decode(c.Encode());
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, c);
  EXPECT_EQ(back->value(), -4);
}

}  // namespace
}  // namespace syncline::conflict
