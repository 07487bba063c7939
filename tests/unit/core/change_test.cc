#include "syncline/core/change.h"

#include <gtest/gtest.h>

#include "support/seed.h"

namespace syncline::core {
namespace {

Change Sample() {
  Change c;
  c.collection = "orders";
  c.key = std::string("key\0with\xffnul", 12);
  c.dot = Dot{ReplicaId(0x1234), 99};
  c.hlc = HlcTimestamp{1'700'000'000'123, 7};
  c.context = std::string("\x01\x02", 2);
  c.kind = 4;
  c.payload = "delta";
  return c;
}

TEST(ChangeTest, EncodeDecodeRoundTrip) {
  Change c = Sample();
  auto d = DecodeChange(EncodeChange(c));
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(*d, c);
}

TEST(ChangeTest, DecodeBoundsTheInputBeforeParsing) {
  std::string bytes = EncodeChange(Sample());
  auto r = DecodeChange(bytes, bytes.size() - 1);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
}

TEST(ChangeTest, DecodeRejectsGarbageAndInvalidChanges) {
  syncline::testing::SeededRng rng;
  int decoded = 0;
  for (int i = 0; i < 2000; ++i) {
    std::string junk = rng.Bytes(64);
    auto r = DecodeChange(junk);
    if (r.ok()) {
      ++decoded;
      EXPECT_TRUE(ValidateChange(*r).ok());
    } else {
      EXPECT_TRUE(r.status().IsCorruption()) << r.status();
    }
  }
  EXPECT_LT(decoded, 2000);
  Change no_dot = Sample();
  no_dot.dot.counter = 0;
  auto r = DecodeChange(EncodeChange(no_dot));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("dot"), std::string::npos) << r.status();
}

TEST(ChangeTest, NamesAndKeysAreBounded) {
  EXPECT_TRUE(ValidateCollectionName("users.v2").ok());
  EXPECT_FALSE(ValidateCollectionName("").ok());
  EXPECT_FALSE(ValidateCollectionName(std::string(65, 'c')).ok());
  EXPECT_FALSE(ValidateCollectionName("a/b").ok());
  EXPECT_TRUE(ValidateKey(std::string(kMaxKeyBytes, 'k')).ok());
  EXPECT_FALSE(ValidateKey(std::string(kMaxKeyBytes + 1, 'k')).ok());
  EXPECT_FALSE(ValidateKey("").ok());
}

}  // namespace
}  // namespace syncline::core
