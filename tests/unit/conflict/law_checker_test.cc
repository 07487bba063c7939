// Runs the shipped law checker on every built-in resolver (100,000 random cases in all, a tenth
// under a sanitizer), on a sample custom resolver, and on deliberately broken resolvers it must
// catch.
#include "syncline/conflict/law_checker.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "support/scale.h"
#include "support/seed.h"

namespace syncline::testing {
namespace {

using conflict::MergeOutcome;
using conflict::Resolver;
using conflict::ResolverRegistry;

// Five built-ins: 100,000 cases in the default build, 10,000 under a sanitizer.
constexpr int kCasesPerBuiltin = ScaledCases(20'000);

class BuiltinLaws : public ::testing::TestWithParam<const char*> {};

TEST_P(BuiltinLaws, HoldOverRandomHistories) {
  auto resolver = ResolverRegistry::WithBuiltins().Find(GetParam());
  ASSERT_TRUE(resolver.ok()) << resolver.status();
  LawCheckOptions options;
  options.seed = BaseSeed();
  options.cases = kCasesPerBuiltin;
  LawCheckReport report = CheckLaws(**resolver, BuiltinMutator(GetParam()), options);
  EXPECT_TRUE(report.ok) << report.failure << "\nbase seed " << options.seed
                         << " (SYNCLINE_TEST_SEED replays the whole run)";
  EXPECT_EQ(report.cases_run, static_cast<uint64_t>(kCasesPerBuiltin));
  EXPECT_GT(report.joins, report.cases_run * 10);
}

INSTANTIATE_TEST_SUITE_P(AllBuiltins, BuiltinLaws, ::testing::Values("lww", "mv", "counter", "set", "map"),
                         [](const ::testing::TestParamInfo<const char*>& p) { return std::string(p.param); });

// The sample custom resolver of docs/conflict-resolution.md: concurrent high scores keep the
// highest.
class HighScore final : public conflict::ValueResolver {
 public:
  std::string_view name() const override { return "high-score"; }
  std::string Resolve(std::string_view a, std::string_view b) const override {
    return std::string(std::stoll(std::string(a)) >= std::stoll(std::string(b)) ? a : b);
  }
};

TEST(LawCheckerTest, SampleCustomResolverPasses) {
  ResolverRegistry registry = ResolverRegistry::WithBuiltins();
  ASSERT_TRUE(registry.Register(conflict::MakeCustomResolver(std::make_shared<HighScore>())).ok());
  auto resolver = registry.Find("high-score");
  ASSERT_TRUE(resolver.ok());
  LawCheckOptions options;
  options.cases = ScaledCases(2000);
  LawCheckReport report = CheckLaws(**resolver, ValueMutator([](std::mt19937_64& rng) {
                                      return std::to_string(std::uniform_int_distribution<int>(0, 999)(rng));
                                    }),
                                    options);
  EXPECT_TRUE(report.ok) << report.failure;
}

// Broken on purpose: whatever arrives last wins. Not commutative, so replicas that receive
// the same writes in different orders disagree.
class LastDeliveredWins final : public Resolver {
 public:
  std::string_view name() const override { return "last-delivered-wins"; }
  Status Join(std::string* state, std::string_view other, MergeOutcome*) const override {
    if (!other.empty()) *state = std::string(other);
    return Status::Ok();
  }
  Result<std::string> Render(std::string_view state) const override { return std::string(state); }
};

TEST(LawCheckerTest, CatchesABrokenResolverAndNamesTheSeed) {
  LastDeliveredWins broken;
  LawCheckOptions options;
  options.cases = 100;
  LawCheckReport report = CheckLaws(broken, ValueMutator([](std::mt19937_64& rng) {
                                      return std::to_string(rng() % 100);
                                    }),
                                    options);
  ASSERT_FALSE(report.ok);
  EXPECT_NE(report.failure.find("commutativity"), std::string::npos) << report.failure;
  EXPECT_NE(report.failure.find(std::to_string(report.failing_case_seed)), std::string::npos);
  // Replaying the named case alone fails the same way.
  LawCheckOptions replay;
  replay.seed = report.failing_case_seed;
  replay.cases = 1;
  LawCheckReport again = CheckLaws(broken, ValueMutator([](std::mt19937_64& rng) {
                                     return std::to_string(rng() % 100);
                                   }),
                                   replay);
  EXPECT_FALSE(again.ok);
  EXPECT_EQ(again.failure, report.failure);
}

// Broken differently: a max-register that forgets to keep the larger side when both are set
// (not idempotent once states repeat).
class Doubling final : public Resolver {
 public:
  std::string_view name() const override { return "doubling"; }
  Status Join(std::string* state, std::string_view other, MergeOutcome*) const override {
    *state += std::string(other);
    return Status::Ok();
  }
  Result<std::string> Render(std::string_view state) const override { return std::string(state); }
};

TEST(LawCheckerTest, CatchesANonIdempotentResolver) {
  Doubling broken;
  LawCheckOptions options;
  options.cases = 50;
  LawCheckReport report = CheckLaws(broken, [](std::mt19937_64&, ReplicaId, uint64_t, const std::string&) -> Result<std::string> {
    return std::string("x");
  }, options);
  ASSERT_FALSE(report.ok);
  EXPECT_NE(report.failure.find("idempotence"), std::string::npos) << report.failure;
}

}  // namespace
}  // namespace syncline::testing
