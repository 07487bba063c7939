#include "support/seed.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <iostream>
#include <string>

namespace syncline::testing {

uint64_t BaseSeed(uint64_t fallback) {
  if (const char* env = std::getenv("SYNCLINE_TEST_SEED")) {
    return std::strtoull(env, nullptr, 10);
  }
  return fallback;
}

SeededRng::SeededRng(uint64_t seed) : seed_(seed), rng_(seed) {}

SeededRng::~SeededRng() {
  if (::testing::Test::HasFailure()) {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::cerr << "[  SEED    ] failing seed " << seed_ << "; replay with: SYNCLINE_TEST_SEED="
              << seed_ << " <test binary> --gtest_filter="
              << (info ? std::string(info->test_suite_name()) + "." + info->name() : "*")
              << "\n";
  }
}

}  // namespace syncline::testing
