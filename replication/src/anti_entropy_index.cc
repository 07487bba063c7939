// MemoryItemIndex: a treap of items ordered by item key, each node carrying the RangeSum of its
// subtree, in one vector of nodes addressed by 32-bit indices (half the pointer overhead, and
// one allocation pattern for a million items).
#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "syncline/replication/anti_entropy.h"

namespace syncline::replication {

class MemoryItemIndex::Tree {
 public:
  static constexpr uint32_t kNil = std::numeric_limits<uint32_t>::max();

  struct Node {
    std::string key;
    StateDigest digest{};
    RangeSum hash;  // this item's keyed hash (count 1)
    RangeSum sum;   // the subtree's
    uint32_t left = kNil;
    uint32_t right = kNil;
    uint64_t priority = 0;
  };

  explicit Tree(uint64_t seed) : rng_(seed) {}

  uint64_t size() const { return root_ == kNil ? 0 : nodes_[root_].sum.count; }

  const Node* Find(std::string_view key) const {
    uint32_t t = root_;
    while (t != kNil) {
      const Node& n = nodes_[t];
      int c = key.compare(n.key);
      if (c == 0) return &n;
      t = c < 0 ? n.left : n.right;
    }
    return nullptr;
  }

  void Insert(std::string key, const StateDigest& digest, const RangeSum& hash) {
    uint32_t id = Allocate();
    Node& n = nodes_[id];
    n.key = std::move(key);
    n.digest = digest;
    n.hash = hash;
    n.sum = hash;
    n.left = n.right = kNil;
    n.priority = NextRandom();
    root_ = InsertAt(root_, id);
  }

  // Replaces the digest of an existing key; the sums on its path are recomputed.
  void Replace(std::string_view key, const StateDigest& digest, const RangeSum& hash) {
    root_ = ReplaceAt(root_, key, digest, hash);
  }

  bool Erase(std::string_view key) {
    bool erased = false;
    root_ = EraseAt(root_, key, &erased);
    return erased;
  }

  uint64_t Rank(std::string_view key) const {
    uint64_t rank = 0;
    uint32_t t = root_;
    while (t != kNil) {
      const Node& n = nodes_[t];
      if (n.key < key) {
        rank += Count(n.left) + 1;
        t = n.right;
      } else {
        t = n.left;
      }
    }
    return rank;
  }

  RangeSum PrefixSum(uint64_t rank) const {
    RangeSum acc;
    uint32_t t = root_;
    while (t != kNil && rank > 0) {
      const Node& n = nodes_[t];
      uint64_t left = Count(n.left);
      if (rank <= left) {
        t = n.left;
        continue;
      }
      if (n.left != kNil) acc.Add(nodes_[n.left].sum);
      acc.Add(n.hash);
      rank -= left + 1;
      t = n.right;
    }
    return acc;
  }

  const Node& At(uint64_t rank) const {
    uint32_t t = root_;
    for (;;) {
      const Node& n = nodes_[t];
      uint64_t left = Count(n.left);
      if (rank < left) {
        t = n.left;
      } else if (rank == left) {
        return n;
      } else {
        rank -= left + 1;
        t = n.right;
      }
    }
  }

  // In-order walk of ranks [begin, end) with an explicit stack of the path.
  void List(uint64_t begin, uint64_t end, std::vector<IndexedItem>* out) const {
    if (begin >= end) return;
    std::vector<uint32_t> stack;
    uint32_t t = root_;
    uint64_t rank = begin;
    while (t != kNil) {  // descend to `begin`, keeping the nodes still to visit
      const Node& n = nodes_[t];
      uint64_t left = Count(n.left);
      if (rank < left) {
        stack.push_back(t);
        t = n.left;
      } else if (rank == left) {
        stack.push_back(t);
        break;
      } else {
        rank -= left + 1;
        t = n.right;
      }
    }
    for (uint64_t produced = 0; produced < end - begin && !stack.empty(); ++produced) {
      uint32_t id = stack.back();
      stack.pop_back();
      const Node& n = nodes_[id];
      out->push_back(IndexedItem{n.key, n.digest});
      for (uint32_t c = n.right; c != kNil; c = nodes_[c].left) stack.push_back(c);
    }
  }

 private:
  uint64_t Count(uint32_t t) const { return t == kNil ? 0 : nodes_[t].sum.count; }

  void Pull(uint32_t t) {
    Node& n = nodes_[t];
    RangeSum s = n.hash;
    if (n.left != kNil) s.Add(nodes_[n.left].sum);
    if (n.right != kNil) s.Add(nodes_[n.right].sum);
    n.sum = s;
  }

  uint32_t RotateRight(uint32_t t) {
    uint32_t l = nodes_[t].left;
    nodes_[t].left = nodes_[l].right;
    nodes_[l].right = t;
    Pull(t);
    Pull(l);
    return l;
  }

  uint32_t RotateLeft(uint32_t t) {
    uint32_t r = nodes_[t].right;
    nodes_[t].right = nodes_[r].left;
    nodes_[r].left = t;
    Pull(t);
    Pull(r);
    return r;
  }

  uint32_t InsertAt(uint32_t t, uint32_t id) {
    if (t == kNil) return id;
    if (nodes_[id].key < nodes_[t].key) {
      uint32_t l = InsertAt(nodes_[t].left, id);
      nodes_[t].left = l;
      if (nodes_[l].priority > nodes_[t].priority) return RotateRight(t);
    } else {
      uint32_t r = InsertAt(nodes_[t].right, id);
      nodes_[t].right = r;
      if (nodes_[r].priority > nodes_[t].priority) return RotateLeft(t);
    }
    Pull(t);
    return t;
  }

  uint32_t ReplaceAt(uint32_t t, std::string_view key, const StateDigest& digest,
                     const RangeSum& hash) {
    if (t == kNil) return t;
    int c = key.compare(nodes_[t].key);
    if (c == 0) {
      nodes_[t].digest = digest;
      nodes_[t].hash = hash;
    } else if (c < 0) {
      nodes_[t].left = ReplaceAt(nodes_[t].left, key, digest, hash);
    } else {
      nodes_[t].right = ReplaceAt(nodes_[t].right, key, digest, hash);
    }
    Pull(t);
    return t;
  }

  // Joins two treaps whose keys are all ordered a < b.
  uint32_t Join(uint32_t a, uint32_t b) {
    if (a == kNil) return b;
    if (b == kNil) return a;
    if (nodes_[a].priority > nodes_[b].priority) {
      nodes_[a].right = Join(nodes_[a].right, b);
      Pull(a);
      return a;
    }
    nodes_[b].left = Join(a, nodes_[b].left);
    Pull(b);
    return b;
  }

  uint32_t EraseAt(uint32_t t, std::string_view key, bool* erased) {
    if (t == kNil) return t;
    int c = key.compare(nodes_[t].key);
    if (c == 0) {
      uint32_t joined = Join(nodes_[t].left, nodes_[t].right);
      Free(t);
      *erased = true;
      return joined;
    }
    if (c < 0) {
      nodes_[t].left = EraseAt(nodes_[t].left, key, erased);
    } else {
      nodes_[t].right = EraseAt(nodes_[t].right, key, erased);
    }
    if (*erased) Pull(t);
    return t;
  }

  uint32_t Allocate() {
    if (!free_.empty()) {
      uint32_t id = free_.back();
      free_.pop_back();
      return id;
    }
    nodes_.emplace_back();
    return static_cast<uint32_t>(nodes_.size() - 1);
  }

  void Free(uint32_t id) {
    nodes_[id].key = std::string();
    free_.push_back(id);
  }

  uint64_t NextRandom() {  // splitmix64: cheap, seeded, no global state
    uint64_t z = (rng_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }

  std::vector<Node> nodes_;
  std::vector<uint32_t> free_;
  uint32_t root_ = kNil;
  uint64_t rng_;
};

MemoryItemIndex::MemoryItemIndex(const AntiEntropyKey& index_key, uint64_t seed)
    : index_key_(index_key), tree_(std::make_unique<Tree>(seed)) {}

MemoryItemIndex::~MemoryItemIndex() = default;

bool MemoryItemIndex::Upsert(std::string_view item_key, const StateDigest& digest) {
  const Tree::Node* existing = tree_->Find(item_key);
  if (existing != nullptr && existing->digest == digest) return false;
  RangeSum hash = HashItem(index_key_, item_key, digest);
  if (existing != nullptr) {
    tree_->Replace(item_key, digest, hash);
  } else {
    tree_->Insert(std::string(item_key), digest, hash);
  }
  return true;
}

bool MemoryItemIndex::Erase(std::string_view item_key) { return tree_->Erase(item_key); }

std::optional<StateDigest> MemoryItemIndex::Find(std::string_view item_key) const {
  const Tree::Node* n = tree_->Find(item_key);
  if (n == nullptr) return std::nullopt;
  return n->digest;
}

Result<uint64_t> MemoryItemIndex::Size() const { return tree_->size(); }

Result<uint64_t> MemoryItemIndex::Rank(std::string_view key) const { return tree_->Rank(key); }

Result<RangeSum> MemoryItemIndex::PrefixSum(uint64_t rank) const {
  if (rank > tree_->size()) {
    return Status::InvalidArgument("item index: prefix of rank " + std::to_string(rank) +
                                   " asked of an index of " + std::to_string(tree_->size()) +
                                   " items");
  }
  return tree_->PrefixSum(rank);
}

Result<IndexedItem> MemoryItemIndex::ItemAt(uint64_t rank) const {
  if (rank >= tree_->size()) {
    return Status::InvalidArgument("item index: item of rank " + std::to_string(rank) +
                                   " asked of an index of " + std::to_string(tree_->size()) +
                                   " items");
  }
  const Tree::Node& n = tree_->At(rank);
  return IndexedItem{n.key, n.digest};
}

Status MemoryItemIndex::ListItems(uint64_t begin, uint64_t end,
                                  std::vector<IndexedItem>* out) const {
  if (begin > end || end > tree_->size()) {
    return Status::InvalidArgument("item index: ranks [" + std::to_string(begin) + ", " +
                                   std::to_string(end) + ") asked of an index of " +
                                   std::to_string(tree_->size()) + " items");
  }
  tree_->List(begin, end, out);
  return Status::Ok();
}

}  // namespace syncline::replication
