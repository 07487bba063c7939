#include "syncline/conflict/law_checker.h"

#include <algorithm>
#include <vector>

#include "syncline/conflict/counter.h"
#include "syncline/conflict/lww.h"
#include "syncline/conflict/map.h"
#include "syncline/conflict/mv.h"
#include "syncline/conflict/or_set.h"

namespace syncline::testing {

namespace {

using conflict::Resolver;

std::string Hex(std::string_view bytes) {
  static const char* kHex = "0123456789abcdef";
  std::string out;
  size_t n = std::min<size_t>(bytes.size(), 96);
  for (size_t i = 0; i < n; ++i) {
    unsigned char c = static_cast<unsigned char>(bytes[i]);
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  if (bytes.size() > n) out += "...";
  return out.empty() ? "<bottom>" : out;
}

uint64_t CaseSeed(uint64_t base, int i) {
  // SplitMix64 of (base, i): well-spread, reproducible seeds per case.
  uint64_t z = base + 0x9e3779b97f4a7c15ULL * static_cast<uint64_t>(i + 1);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

class Case {
 public:
  Case(const Resolver& resolver, uint64_t seed, LawCheckReport* report)
      : resolver_(resolver), seed_(seed), report_(report) {}

  // Joins b into a copy of a; records a failure (and returns false) on a decode error.
  bool Join(const std::string& a, const std::string& b, std::string* out) {
    *out = a;
    ++report_->joins;
    Status st = resolver_.Join(out, b, nullptr);
    if (!st.ok()) return Fail("join failed: " + st.ToString(), {a, b});
    return true;
  }

  bool Fail(const std::string& what, std::initializer_list<std::string> inputs) {
    report_->ok = false;
    report_->failing_case_seed = seed_;
    std::string msg = "resolver '" + std::string(resolver_.name()) + "': " + what;
    char name = 'x';
    for (const std::string& in : inputs) msg += "\n  " + std::string(1, name++) + " = " + Hex(in);
    msg += "\n  replay this case alone with LawCheckOptions{.seed = " + std::to_string(seed_) +
           ", .cases = 1}";
    report_->failure = msg;
    return false;
  }

  bool CheckLaws(const std::string& x, const std::string& y, const std::string& z) {
    std::string xx, xy, yx, xy_z, yz, x_yz;
    if (!Join(x, x, &xx)) return false;
    if (xx != x) return Fail("idempotence: x ⊔ x != x", {x});
    if (!Join(x, y, &xy) || !Join(y, x, &yx)) return false;
    if (xy != yx) return Fail("commutativity: x ⊔ y != y ⊔ x", {x, y});
    if (!Join(xy, z, &xy_z) || !Join(y, z, &yz) || !Join(x, yz, &x_yz)) return false;
    if (xy_z != x_yz) return Fail("associativity: (x ⊔ y) ⊔ z != x ⊔ (y ⊔ z)", {x, y, z});
    return true;
  }

 private:
  const Resolver& resolver_;
  uint64_t seed_;
  LawCheckReport* report_;
};

}  // namespace

LawCheckReport CheckLaws(const Resolver& resolver, const Mutator& mutate, const LawCheckOptions& options) {
  LawCheckReport report;
  const int replicas = std::clamp(options.replicas, 2, 16);
  for (int c = 0; c < options.cases && report.ok; ++c) {
    uint64_t seed = options.cases == 1 ? options.seed : CaseSeed(options.seed, c);
    std::mt19937_64 rng(seed);
    Case kase(resolver, seed, &report);
    std::vector<std::string> states(static_cast<size_t>(replicas));
    std::vector<std::string> deltas;
    auto pick = [&](size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(rng); };
    auto chance = [&](double p) { return std::bernoulli_distribution(p)(rng); };
    for (int step = 0; step < options.steps; ++step) {
      size_t r = pick(states.size());
      if (!deltas.empty() && chance(options.deliver_probability)) {
        const std::string& d = deltas[pick(deltas.size())];
        int times = chance(options.duplicate_probability) ? 2 : 1;
        for (int t = 0; t < times; ++t) {
          if (!kase.Join(states[r], d, &states[r])) return report;
        }
      } else {
        auto delta = mutate(rng, ReplicaId(r + 1), static_cast<uint64_t>(step), states[r]);
        if (!delta.ok()) {
          kase.Fail("mutator failed: " + delta.status().ToString(), {states[r]});
          return report;
        }
        if (!kase.Join(states[r], *delta, &states[r])) return report;
        deltas.push_back(std::move(delta).value());
      }
      // The laws on a random triple of states and deltas seen so far.
      auto any = [&]() -> const std::string& {
        if (!deltas.empty() && chance(0.5)) return deltas[pick(deltas.size())];
        return states[pick(states.size())];
      };
      if (!kase.CheckLaws(any(), any(), any())) return report;
    }
    // Convergence: every replica gets every delta, in its own random order, some twice.
    for (std::string& state : states) {
      std::vector<size_t> order(deltas.size());
      for (size_t i = 0; i < order.size(); ++i) order[i] = i;
      std::shuffle(order.begin(), order.end(), rng);
      for (size_t i : order) {
        int times = chance(options.duplicate_probability) ? 2 : 1;
        for (int t = 0; t < times; ++t) {
          if (!kase.Join(state, deltas[i], &state)) return report;
        }
      }
    }
    for (size_t r = 1; r < states.size(); ++r) {
      if (states[r] != states[0]) {
        kase.Fail("convergence: replicas differ after receiving every delta", {states[0], states[r]});
        return report;
      }
    }
    ++report.cases_run;
  }
  return report;
}

namespace {

conflict::WriteContext Context(std::mt19937_64& rng, ReplicaId replica, uint64_t step) {
  // Clocks skewed by up to a second either way, so timestamps often disagree with causality.
  int64_t skew = std::uniform_int_distribution<int64_t>(-1000, 1000)(rng);
  uint64_t millis = static_cast<uint64_t>(1'000'000 + static_cast<int64_t>(step) * 10 + skew);
  return conflict::WriteContext{replica, HlcTimestamp{millis, 0}, Dot{replica, step + 1}};
}

std::string SmallValue(std::mt19937_64& rng) {
  return "v" + std::to_string(std::uniform_int_distribution<int>(0, 9)(rng));
}

}  // namespace

Mutator BuiltinMutator(std::string_view resolver_name) {
  if (resolver_name == "lww") {
    return [](std::mt19937_64& rng, ReplicaId replica, uint64_t step, const std::string& state) -> Result<std::string> {
      SYNCLINE_ASSIGN_OR_RETURN(conflict::LwwRegister r, conflict::LwwRegister::Decode(state));
      bool del = std::bernoulli_distribution(0.2)(rng);
      return r.Write(Context(rng, replica, step), del ? std::nullopt : std::optional<std::string>(SmallValue(rng)))
          .Encode();
    };
  }
  if (resolver_name == "mv") {
    return [](std::mt19937_64& rng, ReplicaId replica, uint64_t step, const std::string& state) -> Result<std::string> {
      SYNCLINE_ASSIGN_OR_RETURN(conflict::MvRegister r, conflict::MvRegister::Decode(state));
      // A fresh token, a blind write, or a delete.
      VersionVector token = std::bernoulli_distribution(0.7)(rng) ? r.Token() : VersionVector();
      bool del = std::bernoulli_distribution(0.15)(rng);
      return r.Write(Context(rng, replica, step), token, del ? std::nullopt : std::optional<std::string>(SmallValue(rng)))
          .Encode();
    };
  }
  if (resolver_name == "counter") {
    return [](std::mt19937_64& rng, ReplicaId replica, uint64_t, const std::string& state) -> Result<std::string> {
      SYNCLINE_ASSIGN_OR_RETURN(conflict::PnCounter c, conflict::PnCounter::Decode(state));
      int64_t amount = std::uniform_int_distribution<int64_t>(-5, 9)(rng);
      SYNCLINE_ASSIGN_OR_RETURN(conflict::PnCounter delta, c.Add(replica, amount));
      return delta.Encode();
    };
  }
  if (resolver_name == "set") {
    return [](std::mt19937_64& rng, ReplicaId replica, uint64_t step, const std::string& state) -> Result<std::string> {
      SYNCLINE_ASSIGN_OR_RETURN(conflict::OrSet s, conflict::OrSet::Decode(state));
      std::string element = "e" + std::to_string(std::uniform_int_distribution<int>(0, 4)(rng));
      bool remove = std::bernoulli_distribution(0.35)(rng);
      // Mostly with log dots (as collection needs), sometimes without.
      if (std::bernoulli_distribution(0.2)(rng)) return remove ? s.Remove(element).Encode() : s.Add(replica, element).Encode();
      conflict::WriteContext ctx = Context(rng, replica, step);
      return remove ? s.Remove(ctx, element).Encode() : s.Add(ctx, element).Encode();
    };
  }
  if (resolver_name == "map") {
    return [](std::mt19937_64& rng, ReplicaId replica, uint64_t step, const std::string& state) -> Result<std::string> {
      using conflict::Field;
      SYNCLINE_ASSIGN_OR_RETURN(conflict::OrMap m, conflict::OrMap::Decode(state));
      const conflict::FieldPath nested = {Field::Map("profile")};
      const conflict::FieldPath reg = {Field::Map("profile"), Field::Register("name")};
      const conflict::FieldPath cnt = {Field::Map("profile"), Field::Counter("visits")};
      const conflict::FieldPath top_reg = {Field::Register("title")};
      const conflict::FieldPath set = {Field::Set("tags")};
      std::string element = "t" + std::to_string(std::uniform_int_distribution<int>(0, 2)(rng));
      Result<conflict::OrMap> delta = Status::Internal("unset");
      // Mostly with log dots (as collection needs), sometimes without.
      bool logged = std::bernoulli_distribution(0.8)(rng);
      conflict::WriteContext ctx = Context(rng, replica, step);
      int64_t amount = std::uniform_int_distribution<int64_t>(-3, 5)(rng);
      switch (std::uniform_int_distribution<int>(0, 7)(rng)) {
        case 0: delta = m.SetRegister(reg, ctx, SmallValue(rng)); break;
        case 1: delta = m.SetRegister(top_reg, ctx, SmallValue(rng)); break;
        case 2: delta = logged ? m.Increment(cnt, ctx, amount) : m.Increment(cnt, replica, amount); break;
        case 3: delta = logged ? m.AddElement(set, ctx, element) : m.AddElement(set, replica, element); break;
        case 4: delta = logged ? m.RemoveElement(set, ctx, element) : m.RemoveElement(set, element); break;
        case 5: delta = logged ? m.RemoveField(nested, ctx) : m.RemoveField(nested); break;
        case 6: delta = logged ? m.RemoveField(set, ctx) : m.RemoveField(set); break;
        default: delta = logged ? m.RemoveField(top_reg, ctx) : m.RemoveField(top_reg); break;
      }
      if (!delta.ok()) return delta.status();
      return delta->Encode();
    };
  }
  return nullptr;
}

Mutator ValueMutator(std::function<std::string(std::mt19937_64&)> make_value) {
  return [make_value](std::mt19937_64& rng, ReplicaId replica, uint64_t step,
                      const std::string& state) -> Result<std::string> {
    SYNCLINE_ASSIGN_OR_RETURN(conflict::MvRegister r, conflict::MvRegister::Decode(state));
    VersionVector token = std::bernoulli_distribution(0.6)(rng) ? r.Token() : VersionVector();
    return r.Write(Context(rng, replica, step), token, make_value(rng)).Encode();
  };
}

}  // namespace syncline::testing
