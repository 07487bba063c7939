#include "syncline/conflict/resolver.h"

#include "syncline/conflict/counter.h"
#include "syncline/conflict/lww.h"
#include "syncline/conflict/map.h"
#include "syncline/conflict/mv.h"
#include "syncline/conflict/or_set.h"

namespace syncline::conflict {

ResolverRegistry ResolverRegistry::WithBuiltins() {
  ResolverRegistry r;
  for (std::shared_ptr<const Resolver> builtin :
       std::initializer_list<std::shared_ptr<const Resolver>>{
           std::make_shared<LwwResolver>(), std::make_shared<MvResolver>(),
           std::make_shared<CounterResolver>(), std::make_shared<SetResolver>(),
           std::make_shared<MapResolver>()}) {
    r.by_name_.emplace(std::string(builtin->name()), builtin);
  }
  return r;
}

Status ResolverRegistry::Register(std::shared_ptr<const Resolver> resolver) {
  if (!resolver) return Status::InvalidArgument("cannot register a null resolver");
  std::string name(resolver->name());
  if (name.empty() || name.size() > 64) {
    return Status::InvalidArgument("resolver name '" + name + "' must be 1 to 64 characters");
  }
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-')) {
      return Status::InvalidArgument("resolver name '" + name + "' may only hold [a-z0-9_.-]");
    }
  }
  if (!by_name_.emplace(name, std::move(resolver)).second) {
    return Status::AlreadyExists("a resolver named '" + name + "' is already registered");
  }
  return Status::Ok();
}

Result<std::shared_ptr<const Resolver>> ResolverRegistry::Find(std::string_view name) const {
  auto it = by_name_.find(name);
  if (it == by_name_.end()) {
    std::string known;
    for (const auto& entry : by_name_) known += (known.empty() ? "" : ", ") + entry.first;
    return Status::NotFound("no resolver named '" + std::string(name) + "' (known: " + known + ")");
  }
  return it->second;
}

std::vector<std::string> ResolverRegistry::Names() const {
  std::vector<std::string> out;
  for (const auto& entry : by_name_) out.push_back(entry.first);
  return out;
}

}  // namespace syncline::conflict
