#include "syncline/conflict/value_resolver.h"

#include "syncline/conflict/mv.h"

namespace syncline::conflict {

namespace {

class CustomResolver final : public Resolver {
 public:
  explicit CustomResolver(std::shared_ptr<const ValueResolver> values) : values_(std::move(values)) {}

  std::string_view name() const override { return values_->name(); }

  Status Join(std::string* state, std::string_view other, MergeOutcome* outcome) const override {
    SYNCLINE_ASSIGN_OR_RETURN(MvRegister mine, MvRegister::Decode(*state));
    SYNCLINE_ASSIGN_OR_RETURN(MvRegister theirs, MvRegister::Decode(other));
    MergeOutcome mv;
    mine.Join(theirs, &mv);
    if (outcome && mv.concurrent) {
      outcome->concurrent = true;
      outcome->description = std::string(values_->name()) + ": " + std::to_string(mine.siblings().size()) +
                             " concurrent versions resolved by the custom resolver";
    }
    *state = mine.Encode();
    return Status::Ok();
  }

  // The mv layout's collection; Resolve is not involved (the versions stay as they are).
  Result<CollectResult> Collect(std::string* state, const VersionVector& horizon) const override {
    SYNCLINE_ASSIGN_OR_RETURN(MvRegister r, MvRegister::Decode(*state));
    CollectResult result = r.Collect(horizon);
    *state = r.Encode();
    return result;
  }

  Result<bool> SeenBy(std::string_view state, const VersionVector& seen) const override {
    SYNCLINE_ASSIGN_OR_RETURN(MvRegister r, MvRegister::Decode(state));
    return r.SeenBy(seen);
  }

  Result<std::string> Render(std::string_view state) const override {
    auto v = ResolvedValue(*values_, state);
    if (!v.ok() && v.status().IsNotFound()) return std::string("<absent>");
    if (!v.ok()) return v.status();
    return values_->Render(*v);
  }

 private:
  std::shared_ptr<const ValueResolver> values_;
};

}  // namespace

std::shared_ptr<const Resolver> MakeCustomResolver(std::shared_ptr<const ValueResolver> values) {
  return std::make_shared<CustomResolver>(std::move(values));
}

Result<std::string> ResolvedValue(const ValueResolver& values, std::string_view state) {
  SYNCLINE_ASSIGN_OR_RETURN(MvRegister r, MvRegister::Decode(state));
  std::vector<std::string> versions = r.Values();
  if (versions.empty()) return Status::NotFound("no value");
  std::string folded = versions[0];
  for (size_t i = 1; i < versions.size(); ++i) folded = values.Resolve(folded, versions[i]);
  return folded;
}

}  // namespace syncline::conflict
