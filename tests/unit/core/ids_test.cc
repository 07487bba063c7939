#include "syncline/core/ids.h"

#include <gtest/gtest.h>

#include <set>

#include "support/seed.h"

namespace syncline {
namespace {

TEST(ReplicaIdTest, RoundTripsThroughText) {
  syncline::testing::SeededRng rng;
  for (int i = 0; i < 1000; ++i) {
    ReplicaId id = ReplicaId::Random(rng.engine());
    ASSERT_TRUE(id.valid());
    auto parsed = ReplicaId::Parse(id.ToString());
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ(*parsed, id);
  }
  EXPECT_EQ(ReplicaId(0xabc).ToString(), "0000000000000abc");
}

TEST(ReplicaIdTest, ParseRejectsBadText) {
  EXPECT_FALSE(ReplicaId::Parse("").ok());
  EXPECT_FALSE(ReplicaId::Parse("0").ok());
  EXPECT_FALSE(ReplicaId::Parse("12345678901234567").ok());
  auto bad = ReplicaId::Parse("12g4");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("12g4"), std::string::npos);
}

TEST(NodeIdTest, Validation) {
  EXPECT_TRUE(NodeId::Make("node-1").ok());
  EXPECT_TRUE(NodeId::Make("a.b_c-9").ok());
  EXPECT_FALSE(NodeId::Make("").ok());
  EXPECT_FALSE(NodeId::Make("-leading").ok());
  EXPECT_FALSE(NodeId::Make("has space").ok());
  EXPECT_FALSE(NodeId::Make(std::string(65, 'a')).ok());
  EXPECT_TRUE(NodeId::Make(std::string(64, 'a')).ok());
  EXPECT_LT(NodeId::Make("a").value(), NodeId::Make("b").value());
}

}  // namespace
}  // namespace syncline
