#include "syncline/core/version_vector.h"

#include <gtest/gtest.h>

#include "support/seed.h"

namespace syncline {
namespace {

using syncline::testing::SeededRng;

const ReplicaId A(1), B(2), C(3);

VersionVector RandomVV(SeededRng& rng) {
  VersionVector vv;
  for (uint64_t r = 1; r <= 4; ++r) {
    if (rng.Chance(0.7)) vv.Set(ReplicaId(r), rng.Uniform(1, 6));
  }
  return vv;
}

TEST(VersionVectorTest, GetSetIncrementCovers) {
  VersionVector vv;
  EXPECT_EQ(vv.Get(A), 0u);
  EXPECT_EQ(vv.Increment(A), (Dot{A, 1}));
  EXPECT_EQ(vv.Increment(A), (Dot{A, 2}));
  vv.Advance(B, 5);
  vv.Advance(B, 3);  // never goes back
  EXPECT_EQ(vv.Get(B), 5u);
  EXPECT_TRUE(vv.Covers(Dot{A, 2}));
  EXPECT_FALSE(vv.Covers(Dot{A, 3}));
  EXPECT_FALSE(vv.Covers(Dot{C, 1}));
  EXPECT_FALSE(vv.Covers(Dot{A, 0}));
  vv.Set(B, 0);
  EXPECT_EQ(vv.size(), 1u);
  EXPECT_EQ(vv, (VersionVector{{A, 2}}));
}

TEST(VersionVectorTest, CompareAllFourOrders) {
  VersionVector a{{A, 1}, {B, 2}};
  EXPECT_EQ(VersionVector::Compare(a, a), Ordering::kEqual);
  EXPECT_EQ(VersionVector::Compare(a, VersionVector{{A, 1}, {B, 3}}), Ordering::kBefore);
  EXPECT_EQ(VersionVector::Compare(a, VersionVector{{A, 1}}), Ordering::kAfter);
  EXPECT_EQ(VersionVector::Compare(a, VersionVector{{A, 2}, {B, 1}}), Ordering::kConcurrent);
  EXPECT_EQ(VersionVector::Compare(a, VersionVector{{C, 1}}), Ordering::kConcurrent);
  EXPECT_EQ(VersionVector::Compare(VersionVector(), a), Ordering::kBefore);
}

TEST(VersionVectorTest, MergeIsAJoinOverRandomVectors) {
  SeededRng rng;
  for (int i = 0; i < 5000; ++i) {
    VersionVector a = RandomVV(rng), b = RandomVV(rng), c = RandomVV(rng);
    VersionVector ab = a;
    ab.Merge(b);
    VersionVector ba = b;
    ba.Merge(a);
    ASSERT_EQ(ab, ba) << a << " " << b;  // commutative
    VersionVector aa = a;
    aa.Merge(a);
    ASSERT_EQ(aa, a);  // idempotent
    VersionVector ab_c = ab;
    ab_c.Merge(c);
    VersionVector bc = b;
    bc.Merge(c);
    VersionVector a_bc = a;
    a_bc.Merge(bc);
    ASSERT_EQ(ab_c, a_bc);  // associative
    // The join is an upper bound, and the least one: it dominates both and is covered by any
    // vector that dominates both.
    ASSERT_TRUE(ab.Dominates(a) && ab.Dominates(b));
    Ordering o = VersionVector::Compare(a, ab);
    ASSERT_TRUE(o == Ordering::kBefore || o == Ordering::kEqual);
    if (c.Dominates(a) && c.Dominates(b)) {
      ASSERT_TRUE(c.Dominates(ab));
    }
    // Compare agrees with Dominates.
    Ordering ac = VersionVector::Compare(a, c);
    ASSERT_EQ(ac == Ordering::kEqual || ac == Ordering::kAfter, a.Dominates(c));
    ASSERT_EQ(VersionVector::Compare(c, a) == Ordering::kBefore, ac == Ordering::kAfter);
    // Min is a lower bound.
    VersionVector m = VersionVector::Min(a, b);
    ASSERT_TRUE(a.Dominates(m) && b.Dominates(m));
  }
}

TEST(VersionVectorTest, EncodingRoundTripsAndIsCanonical) {
  SeededRng rng;
  for (int i = 0; i < 2000; ++i) {
    VersionVector vv;
    int n = static_cast<int>(rng.Uniform(0, 10));
    for (int k = 0; k < n; ++k) vv.Set(ReplicaId(rng.Uniform(1, ~uint64_t{0})), rng.Uniform(1, ~uint64_t{0}));
    auto back = VersionVector::Decode(vv.Encode());
    ASSERT_TRUE(back.ok()) << back.status();
    ASSERT_EQ(*back, vv);
    ASSERT_EQ(back->Encode(), vv.Encode());
  }
  // Three replicas with modest counters stay small.
  VersionVector three{{A, 1'000'000}, {B, 1'000'000}, {C, 1'000'000}};
  EXPECT_LE(three.Encode().size(), 1u + 3 * (8 + 3));
}

TEST(VersionVectorTest, DecodeRejectsBadInput) {
  std::string good = VersionVector{{A, 1}, {B, 2}}.Encode();
  for (size_t cut = 0; cut < good.size(); ++cut) {
    EXPECT_FALSE(VersionVector::Decode(good.substr(0, cut)).ok()) << cut;
  }
  EXPECT_FALSE(VersionVector::Decode(good + "x").ok());
  // Unsorted replicas.
  std::string unsorted = "\x02";
  unsorted += std::string("\x02\0\0\0\0\0\0\0\x01", 9);
  unsorted += std::string("\x01\0\0\0\0\0\0\0\x01", 9);
  auto r = VersionVector::Decode(unsorted);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("ascending"), std::string::npos) << r.status();
  // A huge count is refused before allocating.
  std::string huge = "\xff\xff\xff\xff\x0f";
  EXPECT_FALSE(VersionVector::Decode(huge).ok());
  EXPECT_FALSE(VersionVector::Decode(VersionVector{{A, 1}, {B, 1}, {C, 1}}.Encode(), 2).ok());
  // Random bytes never crash; whatever decodes re-encodes to the same bytes.
  SeededRng rng;
  for (int i = 0; i < 5000; ++i) {
    std::string junk = rng.Bytes(40);
    auto d = VersionVector::Decode(junk);
    if (d.ok()) {
      ASSERT_EQ(d->Encode(), junk);
    }
  }
}

TEST(VersionVectorTest, CompareAgreesWithMergeAndCovers) {
  SeededRng rng;
  for (int i = 0; i < 5000; ++i) {
    VersionVector a = RandomVV(rng), b = RandomVV(rng);
    VersionVector ab = a;
    ab.Merge(b);
    Ordering o = VersionVector::Compare(a, b);
    // a <= b exactly when merging b into a gives b.
    ASSERT_EQ(o == Ordering::kBefore || o == Ordering::kEqual, ab == b) << a << " vs " << b;
    ASSERT_EQ(o == Ordering::kAfter || o == Ordering::kEqual, ab == a) << a << " vs " << b;
    ASSERT_EQ(o == Ordering::kEqual, a == b);
    // Covers agrees with a naive per-dot reading of the vector, and the merge covers a dot
    // exactly when one of its inputs does.
    for (uint64_t r = 1; r <= 5; ++r) {
      for (uint64_t c = 0; c <= 7; ++c) {
        Dot d{ReplicaId(r), c};
        ASSERT_EQ(a.Covers(d), c >= 1 && c <= a.Get(d.replica)) << a << " " << d;
        ASSERT_EQ(ab.Covers(d), a.Covers(d) || b.Covers(d)) << a << " " << b << " " << d;
      }
    }
    // Entries stay sorted, without zeros.
    for (size_t k = 0; k < ab.entries().size(); ++k) {
      ASSERT_GT(ab.entries()[k].second, 0u);
      if (k > 0) {
        ASSERT_LT(ab.entries()[k - 1].first, ab.entries()[k].first);
      }
    }
  }
}

TEST(VersionVectorTest, DecodeSaysWhatIsWrong) {
  auto entry = [](uint64_t id, uint8_t counter) {
    std::string out;
    for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((id >> (8 * i)) & 0xff));
    out.push_back(static_cast<char>(counter));
    return out;
  };
  auto message = [](std::string_view bytes, size_t max = VersionVector::kDefaultMaxEntries) {
    auto r = VersionVector::Decode(bytes, max);
    EXPECT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), StatusCode::kCorruption);
    return r.status().message();
  };
  EXPECT_NE(message("\x01" + entry(0, 1)).find("zero replica"), std::string::npos);
  EXPECT_NE(message("\x01" + entry(5, 0)).find("zero replica or counter"), std::string::npos);
  EXPECT_NE(message("\x02" + entry(5, 1) + entry(5, 2)).find("ascending"), std::string::npos);  // repeated
  EXPECT_NE(message("\x03" + entry(1, 1) + entry(2, 1) + entry(3, 1), 2).find("limit of 2"), std::string::npos);
  EXPECT_NE(message("\x01" + entry(1, 1) + "zz").find("2 trailing bytes"), std::string::npos);
  EXPECT_NE(message("\x02" + entry(1, 1)).find("truncated"), std::string::npos);
  // The limit is checked against the count before anything is allocated for it.
  EXPECT_NE(message(std::string("\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 10)).find("exceed the limit"),
            std::string::npos);
}

TEST(VersionVectorTest, DecodeRefusesOverlongVarints) {
  // "\x80\x00" is an overlong zero: accepting it would give one vector two encodings.
  EXPECT_FALSE(VersionVector::Decode(std::string("\x80\x00", 2)).ok());
  std::string one = VersionVector{{A, 1}}.Encode();
  ASSERT_EQ(one.back(), '\x01');
  std::string overlong_counter = one.substr(0, one.size() - 1) + std::string("\x81\x00", 2);
  EXPECT_FALSE(VersionVector::Decode(overlong_counter).ok());
  // An 11th varint byte, or a 10th one above 1, would overflow 64 bits.
  std::string eleven = one.substr(0, one.size() - 1) + std::string(10, '\xff') + "\x01";
  EXPECT_FALSE(VersionVector::Decode(eleven).ok());
  std::string too_big = one.substr(0, one.size() - 1) + std::string(9, '\xff') + "\x02";
  EXPECT_FALSE(VersionVector::Decode(too_big).ok());
  std::string max = one.substr(0, one.size() - 1) + std::string(9, '\xff') + "\x01";
  auto m = VersionVector::Decode(max);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->Get(A), ~uint64_t{0});
}

TEST(VersionVectorTest, MutatedEncodingsDecodeCanonicallyOrFail) {
  SeededRng rng;
  for (int i = 0; i < 5000; ++i) {
    VersionVector vv = RandomVV(rng);
    std::string bytes = vv.Encode();
    int flips = static_cast<int>(rng.Uniform(1, 3));
    for (int f = 0; f < flips && !bytes.empty(); ++f) {
      bytes[rng.Uniform(0, bytes.size() - 1)] = static_cast<char>(rng.Uniform(0, 255));
    }
    if (rng.Chance(0.3)) bytes.resize(rng.Uniform(0, bytes.size()));
    auto d = VersionVector::Decode(bytes);
    if (d.ok()) {
      ASSERT_EQ(d->Encode(), bytes);  // canonical: one encoding per vector
    } else {
      ASSERT_EQ(d.status().code(), StatusCode::kCorruption) << d.status();
    }
  }
}

TEST(VersionVectorTest, DecodeFromLeavesTheRestOfTheInput) {
  VersionVector vv{{A, 3}, {C, 9}};
  std::string bytes = vv.Encode() + "tail";
  std::string_view in = bytes;
  auto d = VersionVector::DecodeFrom(&in);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(*d, vv);
  EXPECT_EQ(in, "tail");
}

}  // namespace
}  // namespace syncline
