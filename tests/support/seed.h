// Seeded randomness for tests: every randomized test draws its seed from TestSeed(), which
// uses SYNCLINE_TEST_SEED when set (to replay a failure) and otherwise a fixed default, and
// records it with the test so that a failure prints the seed and the command to replay it.
#ifndef SYNCLINE_TESTS_SUPPORT_SEED_H_
#define SYNCLINE_TESTS_SUPPORT_SEED_H_

#include <cstdint>
#include <random>
#include <string>

namespace syncline::testing {

// The base seed: $SYNCLINE_TEST_SEED if set, else `fallback`.
uint64_t BaseSeed(uint64_t fallback = 20261122);

// A seed printed on failure via a SCOPED_TRACE-like message. Use:
//   SeededRng rng;  // in a test body
//   ... rng.engine() ...
class SeededRng {
 public:
  explicit SeededRng(uint64_t seed = BaseSeed());
  ~SeededRng();
  std::mt19937_64& engine() { return rng_; }
  uint64_t seed() const { return seed_; }
  uint64_t Uniform(uint64_t lo, uint64_t hi) {  // inclusive
    return std::uniform_int_distribution<uint64_t>(lo, hi)(rng_);
  }
  bool Chance(double p) { return std::bernoulli_distribution(p)(rng_); }
  // Random bytes, 0 to `max_len` of them (for decoders fed garbage).
  std::string Bytes(size_t max_len) {
    std::string out(Uniform(0, max_len), '\0');
    for (char& ch : out) ch = static_cast<char>(Uniform(0, 255));
    return out;
  }

 private:
  uint64_t seed_;
  std::mt19937_64 rng_;
};

}  // namespace syncline::testing

#endif  // SYNCLINE_TESTS_SUPPORT_SEED_H_
