#include "syncline/node/diff.h"

#include <tuple>
#include <vector>

namespace syncline {

using replication::KeyVersion;

std::string_view DiffClassName(DiffClass c) {
  switch (c) {
    case DiffClass::kOnlyOnA: return "only-on-a";
    case DiffClass::kOnlyOnB: return "only-on-b";
    case DiffClass::kTombstoneVsLive: return "tombstone-vs-live";
    case DiffClass::kSameValueDifferentMetadata: return "same-value-different-metadata";
    case DiffClass::kADominates: return "a-dominates";
    case DiffClass::kBDominates: return "b-dominates";
    case DiffClass::kConcurrent: return "concurrent";
  }
  return "unknown";
}

std::optional<DiffClass> ClassifyKey(const KeyVersion* a, const KeyVersion* b) {
  if (a == nullptr && b == nullptr) return std::nullopt;
  if (b == nullptr) return DiffClass::kOnlyOnA;
  if (a == nullptr) return DiffClass::kOnlyOnB;
  if (a->digest == b->digest) return std::nullopt;
  if (a->tombstone != b->tombstone) return DiffClass::kTombstoneVsLive;
  if (a->value_hash == b->value_hash) return DiffClass::kSameValueDifferentMetadata;
  bool a_covers = replication::ContextCovers(a->context, b->context);
  bool b_covers = replication::ContextCovers(b->context, a->context);
  if (a_covers && !b_covers) return DiffClass::kADominates;
  if (b_covers && !a_covers) return DiffClass::kBDominates;
  return DiffClass::kConcurrent;
}

namespace {

// One node's key versions, read page by page.
class PagedKeys {
 public:
  PagedKeys(Client& client, const DiffOptions& options, uint64_t* requests)
      : client_(client), options_(options), requests_(requests) {}

  // The current key, or null at the end. Fetches the next page when the current one is used up.
  Result<const KeyVersion*> Peek() {
    while (pos_ == page_.size()) {
      if (!more_) return static_cast<const KeyVersion*>(nullptr);
      std::string after_collection, after_key;
      if (!page_.empty()) {
        after_collection = page_.back().collection;
        after_key = page_.back().key;
      }
      bool more = false;
      ++*requests_;
      auto next = client_.KeyVersions(options_.collection, after_collection, after_key, options_.page_keys, &more);
      if (!next.ok()) return next.status().WithContext("key versions of " + client_.address());
      // Keys must come strictly after the last one seen, or the merge would loop or misorder.
      if (!next->empty() && !page_.empty() &&
          !(std::tie(page_.back().collection, page_.back().key) < std::tie(next->front().collection, next->front().key))) {
        return Status::Corruption("node " + client_.address() + " answered a page of key versions out of order");
      }
      page_ = std::move(next).value();
      pos_ = 0;
      more_ = more;
    }
    return &page_[pos_];
  }
  void Next() { ++pos_; }

 private:
  Client& client_;
  const DiffOptions& options_;
  uint64_t* requests_;
  std::vector<KeyVersion> page_;
  size_t pos_ = 0;
  bool more_ = true;
};

}  // namespace

Status DiffNodes(Client& a, Client& b, const DiffOptions& options,
                 const std::function<void(const KeyDifference&)>& visit, DiffSummary* summary) {
  *summary = DiffSummary{};
  uint64_t a_before = a.bytes_sent() + a.bytes_received();
  uint64_t b_before = b.bytes_sent() + b.bytes_received();
  PagedKeys pa(a, options, &summary->requests);
  PagedKeys pb(b, options, &summary->requests);
  auto account = [&] {
    summary->bytes_a = a.bytes_sent() + a.bytes_received() - a_before;
    summary->bytes_b = b.bytes_sent() + b.bytes_received() - b_before;
  };
  Status status;
  while (true) {
    auto ka = pa.Peek();
    if (!ka.ok()) {
      status = ka.status();
      break;
    }
    auto kb = pb.Peek();
    if (!kb.ok()) {
      status = kb.status();
      break;
    }
    const KeyVersion* va = *ka;
    const KeyVersion* vb = *kb;
    if (va == nullptr && vb == nullptr) break;
    if (va != nullptr && vb != nullptr) {
      int order = va->collection.compare(vb->collection);
      if (order == 0) order = va->key.compare(vb->key);
      if (order < 0) vb = nullptr;
      if (order > 0) va = nullptr;
    }
    if (va != nullptr) ++summary->keys_a;
    if (vb != nullptr) ++summary->keys_b;
    std::optional<DiffClass> kind = ClassifyKey(va, vb);
    if (kind.has_value()) {
      ++summary->counts[static_cast<size_t>(*kind)];
      ++summary->differing;
      KeyDifference d;
      d.kind = *kind;
      d.collection = va != nullptr ? va->collection : vb->collection;
      d.key = va != nullptr ? va->key : vb->key;
      if (va != nullptr) d.a = *va;
      if (vb != nullptr) d.b = *vb;
      visit(d);
    }
    if (va != nullptr) pa.Next();
    if (vb != nullptr) pb.Next();
  }
  account();
  return status;
}

}  // namespace syncline
