// How much of a long randomized test a build runs. Sanitized builds run the code several
// times slower; there the longest property tests run a tenth of their cases, which is plenty
// to catch a memory or undefined-behaviour error on every path, while the default build runs
// the full counts that the laws and invariants are claimed for.
#ifndef SYNCLINE_TESTS_SUPPORT_SCALE_H_
#define SYNCLINE_TESTS_SUPPORT_SCALE_H_

#include <algorithm>

namespace syncline::testing {

#if defined(SYNCLINE_SANITIZED)
inline constexpr bool kSanitizedBuild = true;
#else
inline constexpr bool kSanitizedBuild = false;
#endif

// `full` in the default build, a tenth of it (at least one) under a sanitizer.
constexpr int ScaledCases(int full) { return kSanitizedBuild ? std::max(full / 10, 1) : full; }

}  // namespace syncline::testing

#endif  // SYNCLINE_TESTS_SUPPORT_SCALE_H_
