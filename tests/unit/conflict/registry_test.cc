#include <gtest/gtest.h>

#include "syncline/conflict/resolver.h"
#include "syncline/conflict/mv.h"
#include "syncline/conflict/value_resolver.h"

#include <algorithm>
#include <random>

namespace syncline::conflict {
namespace {

class Union final : public ValueResolver {
 public:
  explicit Union(std::string name) : name_(std::move(name)) {}
  std::string_view name() const override { return name_; }
  std::string Resolve(std::string_view a, std::string_view b) const override {
    std::string out(a);
    for (char c : b) {
      if (out.find(c) == std::string::npos) out.push_back(c);
    }
    std::sort(out.begin(), out.end());
    return out;
  }

 private:
  std::string name_;
};

TEST(RegistryTest, BuiltinsAndCustomResolversByName) {
  ResolverRegistry r = ResolverRegistry::WithBuiltins();
  EXPECT_EQ(r.Names(), (std::vector<std::string>{"counter", "lww", "map", "mv", "set"}));
  ASSERT_TRUE(r.Register(MakeCustomResolver(std::make_shared<Union>("letters"))).ok());
  auto found = r.Find("letters");
  ASSERT_TRUE(found.ok());
  EXPECT_EQ((*found)->name(), "letters");
  Status dup = r.Register(MakeCustomResolver(std::make_shared<Union>("lww")));
  EXPECT_EQ(dup.code(), StatusCode::kAlreadyExists);
  Status bad = r.Register(MakeCustomResolver(std::make_shared<Union>("Bad Name")));
  EXPECT_EQ(bad.code(), StatusCode::kInvalidArgument);
  auto missing = r.Find("nope");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("known: counter, letters, lww, map, mv, set"), std::string::npos)
      << missing.status();
}

TEST(RegistryTest, CustomResolverFoldsConcurrentVersions) {
  auto resolver = MakeCustomResolver(std::make_shared<Union>("letters"));
  // Two concurrent writes built through the mv layout the custom type uses.
  std::mt19937_64 rng(1);
  auto mutate = [](std::string value, ReplicaId r) {
    MvRegister m;
    return m.Write(WriteContext{r, HlcTimestamp{1, 0}, Dot{}}, VersionVector(), std::move(value)).Encode();
  };
  std::string state;
  MergeOutcome outcome;
  ASSERT_TRUE(resolver->Join(&state, mutate("ab", ReplicaId(1)), nullptr).ok());
  ASSERT_TRUE(resolver->Join(&state, mutate("bc", ReplicaId(2)), &outcome).ok());
  EXPECT_TRUE(outcome.concurrent);
  EXPECT_EQ(resolver->Render(state).value(), "abc");
  EXPECT_FALSE(resolver->Join(&state, "\xff\xff garbage", nullptr).ok());
  EXPECT_EQ(resolver->Render(state).value(), "abc");  // unchanged by the refused input
}

}  // namespace
}  // namespace syncline::conflict
