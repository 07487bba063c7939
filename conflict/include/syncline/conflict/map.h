// map: a map whose fields are lww registers, counters, add-wins sets or maps, nested to any
// depth (up to kMaxDepth), with add-wins field presence.
//
// The whole map is a tree of dot stores sharing one DotContext (Almeida, Shoker, Baquero,
// "Delta State Replicated Data Types", 2018). A field is present while its subtree holds at
// least one live dot. Every update of a field makes a new dot inside it, so an update
// concurrent with a removal of the field keeps the field (add-wins); a removal supersedes
// exactly the dots it observed, so it only affects the updates it saw.
//
// Fields are addressed by a path of field keys made with Field::*: a key names the field and
// its type, so "score" as a counter and "score" as a register are different fields.
//
//  - register field: each write supersedes the register's current dots; concurrent writes
//    keep one entry each and a read returns the highest (HLC timestamp, replica id), with
//    writes stamped above what they saw, as in lww.h.
//  - counter field: one entry per replica holding its running totals (the causal counter of
//    the paper). A removal concurrent with an increment keeps the incrementing replica's
//    running total, including what it had counted before the removal: counters in maps
//    "reset" only what the removal observed of replicas that did not increment concurrently.
//  - set field: an add-wins set (or_set.h) whose elements are children of the field.
//  - map field: a nested map.
//
// Size: an update's delta holds the path to the updated field and O(1) dots; ApplyDelta visits
// only the delta's paths and the fields whose dots the delta supersedes (found through a dot
// index), so an update of a large map or of a large set inside a map costs O(delta · depth ·
// log n). Removing a whole field carries the dots of that field's subtree.
//
// Collection: as for sets (or_set.h), the map keeps a log clock, filled by the updates that take
// a WriteContext with a log dot (the others mark the key unlogged, never collected), and
// Collect removes an empty map whose every change is stable. Removed fields leave nothing
// behind; the live fields' dots are what later removals and writes observe, so none of them
// can be dropped at one replica alone.
//
// Thread-safety: value type.
#ifndef SYNCLINE_CONFLICT_MAP_H_
#define SYNCLINE_CONFLICT_MAP_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "syncline/conflict/lww.h"
#include "syncline/conflict/resolver.h"
#include "syncline/core/dot_context.h"

namespace syncline::conflict {

struct Field {
  static std::string Register(std::string_view name) { return "r:" + std::string(name); }
  static std::string Counter(std::string_view name) { return "c:" + std::string(name); }
  static std::string Set(std::string_view name) { return "s:" + std::string(name); }
  static std::string Map(std::string_view name) { return "m:" + std::string(name); }
};

using FieldPath = std::vector<std::string>;

class OrMap {
 public:
  static constexpr size_t kMaxDepth = 16;

  // Updates; each applies itself and returns the delta. InvalidArgument if the path is empty,
  // too deep, has a non-map field before its last key, or ends in a field of another type.
  // `ctx` names the replica and the log dot of the change (ctx.now only stamps registers); the
  // first dot of a replica in this key is its log counter (see OrSet::Collect).
  Result<OrMap> SetRegister(const FieldPath& path, const WriteContext& ctx, std::string value);
  Result<OrMap> Increment(const FieldPath& path, const WriteContext& ctx, int64_t amount);
  Result<OrMap> AddElement(const FieldPath& path, const WriteContext& ctx, std::string element);
  Result<OrMap> RemoveElement(const FieldPath& path, const WriteContext& ctx, const std::string& element);
  Result<OrMap> RemoveField(const FieldPath& path, const WriteContext& ctx);
  // The same without a log dot: the key becomes unlogged and is never collected.
  Result<OrMap> Increment(const FieldPath& path, ReplicaId replica, int64_t amount);
  Result<OrMap> AddElement(const FieldPath& path, ReplicaId replica, std::string element);
  Result<OrMap> RemoveElement(const FieldPath& path, const std::string& element);
  Result<OrMap> RemoveField(const FieldPath& path);

  // Removes an empty map (no field left) whose every change is stable under `horizon` (a
  // causal-stability horizon, see Resolver::Collect); the state becomes the bottom state and the
  // result says remove_key. Safe for the reasons given at OrSet::Collect: every replica has
  // applied every change of the key, so re-deliveries are duplicates the node skips and no
  // other replica holds a live field either, and later changes carry dots no replica had, so
  // replicas that keep the old context treat them alike (only the horizon's first property is
  // needed). Anything else is unchanged. After a key was removed, writes to it must carry log
  // dots (the node's always do).
  CollectResult Collect(const VersionVector& horizon);

  // Whether a replica whose context covers `seen` applied every change of this key
  // (Resolver::SeenBy): none was unlogged and `seen` covers the log clock of every replica
  // with a dot here. Never for the bottom state.
  bool SeenBy(const VersionVector& seen) const;

  void Join(const OrMap& other, MergeOutcome* outcome);
  // As Join for a delta made by the updates above, visiting only what the delta touches.
  void ApplyDelta(const OrMap& delta, MergeOutcome* outcome);

  // Reads. NotFound when the field is absent.
  Result<std::string> GetRegister(const FieldPath& path) const;
  Result<int64_t> GetCounter(const FieldPath& path) const;
  Result<std::vector<std::string>> GetSet(const FieldPath& path) const;
  // The present field keys of the map at `path` (empty path: the top level).
  std::vector<std::string> Keys(const FieldPath& path = {}) const;
  // Canonical rendering of the whole map, e.g. {c:visits=3, r:name=ada, s:tags={x}}.
  std::string Render() const;

  const DotContext& context() const { return context_; }
  // Per replica, the log counter of its latest logged change of this key.
  const VersionVector& log_clock() const { return log_clock_; }
  // Some change was made without a log dot.
  bool unlogged() const { return unlogged_; }

  std::string Encode() const;
  static Result<OrMap> Decode(std::string_view bytes);

  friend bool operator==(const OrMap& a, const OrMap& b);

  struct Entry {
    HlcTimestamp ts;
    std::string value;
    uint64_t increments = 0;
    uint64_t decrements = 0;
    friend bool operator==(const Entry&, const Entry&) = default;
  };
  struct Node {
    std::map<Dot, Entry> entries;
    std::map<std::string, Node, std::less<>> children;
    bool empty() const { return entries.empty() && children.empty(); }
    friend bool operator==(const Node&, const Node&) = default;
  };
  // Paths a delta touches, as a trie.
  struct Touched {
    std::map<std::string, Touched, std::less<>> children;
  };

 private:
  Status CheckPath(const FieldPath& path, char last_type) const;
  const Node* Find(const FieldPath& path) const;
  // Builds a delta holding `entry` (under a new dot of ctx.replica) at `path` and superseding
  // `superseded`, stamped with ctx's log dot, then applies it.
  OrMap MakeDelta(const FieldPath& path, std::optional<Entry> entry, const std::vector<Dot>& superseded,
                  const WriteContext& ctx);
  void JoinNode(Node& mine, const Node* theirs, const DotContext& their_context, const Touched* touched,
                FieldPath& path, MergeOutcome* outcome);
  void IndexNode(const Node& node, FieldPath& path);

  Node root_;
  DotContext context_;
  VersionVector log_clock_;
  bool unlogged_ = false;
  std::map<Dot, FieldPath> dot_index_;  // live dot -> path of the node holding it (derived)
};

class MapResolver final : public Resolver {
 public:
  std::string_view name() const override { return "map"; }
  Status Join(std::string* state, std::string_view other, MergeOutcome* outcome) const override;
  Result<std::string> Render(std::string_view state) const override;
  Result<CollectResult> Collect(std::string* state, const VersionVector& horizon) const override;
  Result<bool> SeenBy(std::string_view state, const VersionVector& seen) const override;
};

}  // namespace syncline::conflict

#endif  // SYNCLINE_CONFLICT_MAP_H_
