#include "syncline/replication/key_versions.h"

#include <xxhash.h>

#include <algorithm>
#include <map>
#include <memory>

#include "state_access.h"
#include "syncline/conflict/counter.h"
#include "syncline/conflict/lww.h"
#include "syncline/conflict/map.h"
#include "syncline/conflict/mv.h"
#include "syncline/conflict/or_set.h"
#include "syncline/replication/replica.h"

namespace syncline::replication {

namespace {

std::string Hash128(std::string_view bytes) {
  XXH128_hash_t h = XXH3_128bits(bytes.data(), bytes.size());
  std::string out(kKeyDigestBytes, '\0');
  for (int i = 0; i < 8; ++i) {
    out[static_cast<size_t>(i)] = static_cast<char>(h.high64 >> (56 - 8 * i));
    out[static_cast<size_t>(8 + i)] = static_cast<char>(h.low64 >> (56 - 8 * i));
  }
  return out;
}

void FromMv(const conflict::MvRegister& reg, KeyVersion* out) {
  out->context = DotContext(reg.context());
  out->siblings = static_cast<uint32_t>(reg.siblings().size());
  out->tombstone = reg.siblings().empty();
}

}  // namespace

Result<KeyVersion> DescribeKeyState(CollectionType type, const conflict::Resolver& resolver,
                                    std::string_view collection, std::string_view key, std::string_view state) {
  KeyVersion out;
  out.collection = std::string(collection);
  out.key = std::string(key);
  out.digest = Hash128(state);
  auto where = [&] { return "key '" + std::string(key) + "' of collection '" + std::string(collection) + "'"; };
  auto rendered = resolver.Render(state);
  if (!rendered.ok()) return rendered.status().WithContext(where());
  out.value_hash = Hash128(*rendered);
  switch (type) {
    case CollectionType::kLww: {
      auto reg = conflict::LwwRegister::Decode(state);
      if (!reg.ok()) return reg.status().WithContext(where());
      out.context = DotContext(reg->context());
      out.tombstone = reg->deleted();
      out.siblings = out.tombstone ? 0 : 1;
      break;
    }
    case CollectionType::kMv: {
      auto reg = conflict::MvRegister::Decode(state);
      if (!reg.ok()) return reg.status().WithContext(where());
      FromMv(*reg, &out);
      break;
    }
    case CollectionType::kCounter: {
      auto counter = conflict::PnCounter::Decode(state);
      if (!counter.ok()) return counter.status().WithContext(where());
      VersionVector vv;
      for (const auto& e : counter->entries()) {
        // Saturates: a total this large says "at least as far as any other" either way.
        uint64_t total = e.increments + e.decrements;
        if (total < e.increments) total = UINT64_MAX;
        if (total != 0) vv.Set(e.replica, total);
      }
      out.context = DotContext(std::move(vv));
      out.siblings = 1;
      break;
    }
    case CollectionType::kSet: {
      auto set = conflict::OrSet::Decode(state);
      if (!set.ok()) return set.status().WithContext(where());
      out.context = set->context();
      out.tombstone = set->elements_with_dots().empty();
      out.siblings = out.tombstone ? 0 : 1;
      break;
    }
    case CollectionType::kMap: {
      auto map = conflict::OrMap::Decode(state);
      if (!map.ok()) return map.status().WithContext(where());
      out.context = map->context();
      out.tombstone = map->Keys().empty();
      out.siblings = out.tombstone ? 0 : 1;
      break;
    }
    case CollectionType::kCustom: {
      // Value resolvers keep the mv layout; full resolvers have no causal metadata we can read.
      auto reg = conflict::MvRegister::Decode(state);
      if (reg.ok()) {
        FromMv(*reg, &out);
      } else {
        out.siblings = 1;
      }
      break;
    }
  }
  return out;
}

Status ReadKeyVersions(Replica& replica, const KeyVersionQuery& query, std::vector<KeyVersion>* out, bool* more) {
  *more = false;
  if (!replica.Serving()) {
    return Status::Unavailable("the node is installing a snapshot; key versions are served once it completes");
  }
  std::string begin, end;
  if (!query.after_collection.empty()) {
    // Every sub-key of a key sorts below 0xff, so this starts right after the key's records.
    begin = internal::DataKeyPrefix(query.after_collection, query.after_key) + "\xff";
  } else if (!query.collection.empty()) {
    begin = query.collection + std::string(1, '\0');
  }
  if (!query.collection.empty()) end = query.collection + std::string(1, '\x01');
  struct Known {
    CollectionType type;
    std::shared_ptr<const conflict::Resolver> resolver;
  };
  std::map<std::string, Known, std::less<>> known;
  auto find = [&](std::string_view coll) -> Result<Known> {
    auto it = known.find(coll);
    if (it != known.end()) return it->second;
    SYNCLINE_ASSIGN_OR_RETURN(std::string name, replica.ResolverOf(coll));
    SYNCLINE_ASSIGN_OR_RETURN(auto impl, replica.registry().Find(name));
    Known k{TypeOfResolver(name), std::move(impl)};
    known.emplace(std::string(coll), k);
    return k;
  };
  auto type_of = [&](std::string_view coll) -> Result<CollectionType> {
    SYNCLINE_ASSIGN_OR_RETURN(Known k, find(coll));
    return k.type;
  };
  size_t limit = std::max<size_t>(query.limit, 1);
  size_t bytes = 0;
  bool stop = false;
  return replica.store()->Read([&](core::ReadView& view) -> Status {
    return internal::ForEachState(
        view, type_of,
        [&](std::string_view coll, std::string_view key, std::string_view state) -> Status {
          if (out->size() >= limit || (!out->empty() && bytes >= query.max_bytes)) {
            *more = true;
            stop = true;
            return Status::Ok();
          }
          SYNCLINE_ASSIGN_OR_RETURN(Known k, find(coll));
          SYNCLINE_ASSIGN_OR_RETURN(KeyVersion v, DescribeKeyState(k.type, *k.resolver, coll, key, state));
          bytes += coll.size() + key.size() + 2 * kKeyDigestBytes + 16 + v.context.vv().size() * 20 +
                   v.context.cloud_size() * 4;
          out->push_back(std::move(v));
          return Status::Ok();
        },
        begin, end, &stop);
  });
}

bool ContextCovers(const DotContext& a, const DotContext& b) {
  // Both are canonical (the cloud holds no dot the vector covers or that is right above it), so
  // a vector entry of b above a's means a lacks the dot right above its own entry.
  for (const auto& [replica, counter] : b.vv().entries()) {
    if (a.vv().Get(replica) < counter) return false;
  }
  if (b.cloud_size() == 0) return true;
  for (const Dot& d : b.CloudDots()) {
    if (!a.Contains(d)) return false;
  }
  return true;
}

}  // namespace syncline::replication
