// Inspection of a store for diagnostics (see inspect.h): reuses Replica::Open, LogReport, the
// state walk (state_access.h), the type decoders and the journal's List; writes nothing.
#include "syncline/replication/inspect.h"

#include <bit>

#include "item_index_table.h"
#include "state_access.h"
#include "syncline/conflict/counter.h"
#include "syncline/conflict/journal.h"
#include "syncline/conflict/lww.h"
#include "syncline/conflict/map.h"
#include "syncline/conflict/mv.h"
#include "syncline/conflict/or_set.h"
#include "syncline/core/lmdb_store.h"
#include "syncline/replication/anti_entropy.h"
#include "syncline/replication/replica.h"

namespace syncline::replication {

namespace {

constexpr std::string_view kCollectionMetaPrefix = "collection/";
constexpr size_t kJournalBatch = 1024;

// Stands in for a custom resolver the inspecting registry lacks, so that Replica::Open accepts
// the directory; its states are counted but never merged.
class OpaqueResolver final : public conflict::Resolver {
 public:
  explicit OpaqueResolver(std::string name) : name_(std::move(name)) {}
  std::string_view name() const override { return name_; }
  Status Join(std::string*, std::string_view, conflict::MergeOutcome*) const override {
    return Status::FailedPrecondition("resolver '" + name_ + "' is not known to this tool; its states are opaque");
  }
  Result<std::string> Render(std::string_view state) const override {
    return "<" + std::to_string(state.size()) + " bytes of resolver '" + name_ + "'>";
  }

 private:
  std::string name_;
};

const char* TypeName(CollectionType type) {
  switch (type) {
    case CollectionType::kLww: return "lww";
    case CollectionType::kMv: return "mv";
    case CollectionType::kCounter: return "counter";
    case CollectionType::kSet: return "set";
    case CollectionType::kMap: return "map";
    case CollectionType::kCustom: return "custom";
  }
  return "custom";
}

// What a read of one key's state returns (see the definitions in inspect.h).
struct KeyFacts {
  bool live = false;
  uint64_t values = 0;
  uint64_t value_bytes = 0;
};

template <typename Strings>
void CountValues(const Strings& values, KeyFacts* f) {
  f->values = values.size();
  f->live = !values.empty();
  for (const auto& v : values) f->value_bytes += v.size();
}

Result<KeyFacts> FactsOf(CollectionType type, std::string_view state) {
  KeyFacts f;
  switch (type) {
    case CollectionType::kLww: {
      SYNCLINE_ASSIGN_OR_RETURN(auto reg, conflict::LwwRegister::Decode(state));
      auto v = reg.value();
      if (v.has_value()) CountValues(std::vector<std::string>{std::move(*v)}, &f);
      break;
    }
    case CollectionType::kMv: {
      SYNCLINE_ASSIGN_OR_RETURN(auto reg, conflict::MvRegister::Decode(state));
      CountValues(reg.Values(), &f);
      break;
    }
    case CollectionType::kCounter: {
      SYNCLINE_RETURN_IF_ERROR(conflict::PnCounter::Decode(state).status());
      f.live = true;
      f.values = 1;
      break;
    }
    case CollectionType::kSet: {
      SYNCLINE_ASSIGN_OR_RETURN(auto set, conflict::OrSet::Decode(state));
      CountValues(set.Elements(), &f);
      break;
    }
    case CollectionType::kMap: {
      SYNCLINE_ASSIGN_OR_RETURN(auto map, conflict::OrMap::Decode(state));
      CountValues(map.Keys(), &f);
      break;
    }
    case CollectionType::kCustom: {
      // Value resolvers keep the mv layout; other custom states are opaque and count as live.
      auto reg = conflict::MvRegister::Decode(state);
      if (reg.ok()) {
        CountValues(reg->Values(), &f);
      } else {
        f.live = true;
        f.values = 1;
      }
      break;
    }
  }
  return f;
}

size_t SiblingBucket(uint64_t n) {
  if (n <= 1) return 0;
  if (n == 2) return 1;
  if (n <= 4) return 2;
  if (n <= 8) return 3;
  return 4;
}

}  // namespace

const char* SiblingBucketName(size_t bucket) {
  static const char* kNames[kSiblingBuckets] = {"1", "2", "3-4", "5-8", "9+"};
  return bucket < kSiblingBuckets ? kNames[bucket] : "?";
}

Result<InspectReport> Inspect(core::Store* store, const InspectOptions& options) {
  if (store == nullptr) return Status::InvalidArgument("Inspect: no store given");
  InspectReport report;
  auto registry = std::make_shared<conflict::ResolverRegistry>(
      options.registry ? *options.registry : conflict::ResolverRegistry::WithBuiltins());

  // Meta first: identity, and the resolvers the collections name (unknown ones become opaque).
  std::map<std::string, std::string> stored_collections;
  Status meta_read = store->Read([&](core::ReadView& view) -> Status {
    auto format = view.Get(core::Table::kMeta, core::kStoreFormatMetaKey);
    if (format.ok()) {
      report.store_format = *format;
    } else if (!format.status().IsNotFound()) {
      return format.status();
    }
    auto cluster = view.Get(core::Table::kMeta, "cluster_id");
    if (cluster.ok()) {
      report.cluster_id = *cluster;
    } else if (!cluster.status().IsNotFound()) {
      return cluster.status();
    }
    std::string begin(kCollectionMetaPrefix);
    std::string end = begin;
    end.back() = static_cast<char>(end.back() + 1);
    return view.Scan(core::Table::kMeta, begin, end, [&](std::string_view k, std::string_view v) {
      stored_collections.emplace(std::string(k.substr(kCollectionMetaPrefix.size())), std::string(v));
      return true;
    });
  });
  SYNCLINE_RETURN_IF_ERROR(meta_read);
  for (const auto& [name, resolver] : stored_collections) {
    if (registry->Find(resolver).ok()) continue;
    SYNCLINE_RETURN_IF_ERROR(registry->Register(std::make_shared<OpaqueResolver>(resolver)));
  }

  ReplicaOptions ro;
  ro.registry = registry;
  ro.build_item_index = false;  // read-only: the index is neither checked nor built
  SYNCLINE_ASSIGN_OR_RETURN(auto replica, Replica::Open(store, ro));
  report.replica_id = replica->id();
  report.context = replica->Context();
  report.snapshot_installing = !replica->Serving();
  SYNCLINE_ASSIGN_OR_RETURN(report.log, replica->LogReport());

  struct Known {
    CollectionType type;
    std::shared_ptr<const conflict::Resolver> impl;
    bool opaque;
  };
  std::map<std::string, Known, std::less<>> known;
  for (const auto& [name, resolver] : replica->Collections()) {
    CollectionInspection& c = report.collections[name];
    c.resolver = resolver;
    CollectionType type = TypeOfResolver(resolver);
    c.type = TypeName(type);
    SYNCLINE_ASSIGN_OR_RETURN(auto impl, registry->Find(resolver));
    bool opaque = dynamic_cast<const OpaqueResolver*>(impl.get()) != nullptr;
    c.resolver_known = !opaque;
    known.emplace(name, Known{type, impl, opaque});
  }

  // Peers' acknowledgements, as the retention code reads them, and the horizon they give.
  Status peers = store->Read([&](core::ReadView& view) -> Status {
    Status bad;
    SYNCLINE_RETURN_IF_ERROR(view.Scan(core::Table::kPeers, "ack/", "ack0", [&](std::string_view k, std::string_view v) {
      auto ctx = DotContext::Decode(v);
      if (!ctx.ok()) {
        bad = ctx.status().WithContext("peers record '" + std::string(k) + "'");
        return false;
      }
      report.peer_acks[std::string(k.substr(4))] = ctx->vv();
      return true;
    }));
    return bad;
  });
  SYNCLINE_RETURN_IF_ERROR(peers);
  std::vector<VersionVector> acks;
  for (const auto& [id, vv] : report.peer_acks) acks.push_back(vv);
  report.horizon = StabilityHorizon(acks);

  // Every key's merged state, as Digest and Dump walk them.
  auto type_of = [&known](std::string_view coll) -> Result<CollectionType> {
    auto it = known.find(coll);
    if (it == known.end()) {
      return Status::Corruption("the data table holds keys of collection '" + std::string(coll) +
                                "', which the meta table does not name");
    }
    return it->second.type;
  };
  Status walk = store->Read([&](core::ReadView& view) -> Status {
    return internal::ForEachState(view, type_of, [&](std::string_view coll, std::string_view key,
                                                     std::string_view state) -> Status {
      const Known& k = known.find(coll)->second;
      CollectionInspection& c = report.collections[std::string(coll)];
      auto facts = FactsOf(k.type, state);
      if (!facts.ok()) {
        return facts.status().WithContext("state of key '" + std::string(key) + "' in collection '" +
                                          std::string(coll) + "'");
      }
      ++c.keys;
      c.values += facts->values;
      if (facts->live) {
        ++c.live;
        if (k.type == CollectionType::kLww || k.type == CollectionType::kMv || k.type == CollectionType::kCustom) {
          ++report.siblings[SiblingBucket(facts->values)];
        }
      } else {
        ++c.tombstones;
        if (report.horizon.has_value() && !k.opaque) {
          std::string copy(state);
          auto collected = k.impl->Collect(&copy, *report.horizon);
          if (collected.ok() && collected->remove_key) ++c.collectable;
        }
      }
      uint64_t meta = state.size() > facts->value_bytes ? state.size() - facts->value_bytes : 0;
      ++report.metadata_bytes[meta == 0 ? 0 : static_cast<int>(std::bit_width(meta))];
      return Status::Ok();
    });
  });
  SYNCLINE_RETURN_IF_ERROR(walk.WithContext("walking the data table"));

  // The conflict journal, in batches, on one snapshot.
  conflict::ConflictJournal journal;
  Status listed = store->Read([&](core::ReadView& view) -> Status {
    uint64_t from = 1;
    while (true) {
      std::vector<conflict::JournalEntry> batch;
      SYNCLINE_RETURN_IF_ERROR(journal.List(view, from, kJournalBatch, &batch));
      for (const auto& e : batch) {
        ++report.journal_entries;
        auto it = report.collections.find(e.collection);
        if (it != report.collections.end()) ++it->second.journal_entries;
      }
      if (batch.size() < kJournalBatch) return Status::Ok();
      from = batch.back().sequence + 1;
    }
  });
  SYNCLINE_RETURN_IF_ERROR(listed.WithContext("reading the conflict journal"));

  if (options.cluster_secret.has_value()) {
    const AntiEntropyKey index_key = DeriveIndexKey(*options.cluster_secret);
    Status checked = store->Read([&](core::ReadView& view) -> Status {
      auto present = view.Get(core::Table::kIndex, internal::kItemIndexMetaKey);
      if (present.status().IsNotFound()) {
        report.index_check = InspectReport::IndexCheck::kAbsent;
        return Status::Ok();
      }
      SYNCLINE_RETURN_IF_ERROR(present.status());
      SYNCLINE_ASSIGN_OR_RETURN(bool current, internal::ItemIndexCurrent(view, index_key));
      if (!current) {
        report.index_check = InspectReport::IndexCheck::kOtherSecret;
        return Status::Ok();
      }
      Status s = internal::CheckItemIndex(view, index_key);
      if (s.ok()) {
        report.index_check = InspectReport::IndexCheck::kMatches;
      } else if (s.code() == StatusCode::kCorruption) {
        report.index_check = InspectReport::IndexCheck::kMismatch;
        report.index_detail = s.message();
      } else {
        return s;
      }
      return Status::Ok();
    });
    SYNCLINE_RETURN_IF_ERROR(checked.WithContext("checking the item index"));
  }
  return report;
}

const char* IndexCheckName(InspectReport::IndexCheck check) {
  switch (check) {
    case InspectReport::IndexCheck::kNotChecked: return "not checked";
    case InspectReport::IndexCheck::kAbsent: return "absent";
    case InspectReport::IndexCheck::kOtherSecret: return "built with another secret";
    case InspectReport::IndexCheck::kMatches: return "matches the data";
    case InspectReport::IndexCheck::kMismatch: return "does not match the data";
  }
  return "?";
}

}  // namespace syncline::replication
