#include "syncline/conflict/map.h"

#include <algorithm>
#include <limits>

#include "codec.h"
#include "log_clock.h"

namespace syncline::conflict {

namespace {

using Node = OrMap::Node;
using Entry = OrMap::Entry;

HlcTimestamp After(HlcTimestamp t) {
  return t.logical < HlcTimestamp::kMaxLogical ? HlcTimestamp{t.millis, t.logical + 1}
                                               : HlcTimestamp{t.millis + 1, 0};
}

char TypeOf(std::string_view key) { return key.size() >= 2 && key[1] == ':' ? key[0] : '\0'; }

void CollectDots(const Node& node, std::vector<Dot>* out) {
  for (const auto& entry : node.entries) out->push_back(entry.first);
  for (const auto& child : node.children) CollectDots(child.second, out);
}

// The winning register entry: highest (timestamp, replica, dot).
const std::pair<const Dot, Entry>* Winner(const Node& node) {
  const std::pair<const Dot, Entry>* best = nullptr;
  for (const auto& e : node.entries) {
    if (!best || std::tie(e.second.ts, e.first.replica, e.first) > std::tie(best->second.ts, best->first.replica, best->first)) {
      best = &e;
    }
  }
  return best;
}

int64_t CounterValue(const Node& node) {
  long double sum = 0;  // wide enough for any sum of 64-bit totals before saturation
  for (const auto& e : node.entries) {
    sum += static_cast<long double>(e.second.increments) - static_cast<long double>(e.second.decrements);
  }
  if (sum >= static_cast<long double>(std::numeric_limits<int64_t>::max())) return std::numeric_limits<int64_t>::max();
  if (sum <= static_cast<long double>(std::numeric_limits<int64_t>::min())) return std::numeric_limits<int64_t>::min();
  return static_cast<int64_t>(sum);
}

void RenderNode(const Node& node, char type, std::string* out) {
  switch (type) {
    case 'r': {
      const auto* w = Winner(node);
      *out += w ? w->second.value : "";
      return;
    }
    case 'c':
      *out += std::to_string(CounterValue(node));
      return;
    case 's': {
      *out += "{";
      bool first = true;
      for (const auto& child : node.children) {
        if (!first) *out += ", ";
        first = false;
        *out += child.first;
      }
      *out += "}";
      return;
    }
    default: {
      *out += "{";
      bool first = true;
      for (const auto& child : node.children) {
        if (!first) *out += ", ";
        first = false;
        *out += child.first + "=";
        RenderNode(child.second, TypeOf(child.first), out);
      }
      *out += "}";
    }
  }
}

void InsertPath(OrMap::Touched* trie, const FieldPath& path) {
  for (const std::string& key : path) trie = &trie->children[key];
}

void TouchTree(const Node& node, OrMap::Touched* trie) {
  for (const auto& child : node.children) TouchTree(child.second, &trie->children[child.first]);
}

void ToProto(const Node& node, v1::MapNode* out) {
  for (const auto& [dot, e] : node.entries) {
    v1::MapEntry* pe = out->add_entries();
    conflict::ToProto(dot, pe->mutable_dot());
    if (!e.ts.IsZero()) pe->set_hlc(e.ts.Pack());
    pe->set_value(e.value);
    pe->set_increments(e.increments);
    pe->set_decrements(e.decrements);
  }
  for (const auto& [key, child] : node.children) {
    v1::MapChild* pc = out->add_children();
    pc->set_key(key);
    ToProto(child, pc->mutable_node());
  }
}

}  // namespace

Status OrMap::CheckPath(const FieldPath& path, char last_type) const {
  if (path.empty() || path.size() > kMaxDepth) {
    return Status::InvalidArgument("map field path must have 1 to " + std::to_string(kMaxDepth) + " keys");
  }
  for (size_t i = 0; i < path.size(); ++i) {
    char t = TypeOf(path[i]);
    bool last = i + 1 == path.size();
    if (t != 'r' && t != 'c' && t != 's' && t != 'm') {
      return Status::InvalidArgument("map field key '" + path[i] + "' must start with r:, c:, s: or m:");
    }
    if (!last && t != 'm') {
      return Status::InvalidArgument("map field key '" + path[i] + "' is not a map, so it cannot hold fields");
    }
    if (last && last_type != '\0' && t != last_type) {
      return Status::InvalidArgument("map field '" + path[i] + "' has another type than this operation needs");
    }
  }
  return Status::Ok();
}

const Node* OrMap::Find(const FieldPath& path) const {
  const Node* node = &root_;
  for (const std::string& key : path) {
    auto it = node->children.find(key);
    if (it == node->children.end()) return nullptr;
    node = &it->second;
  }
  return node;
}

OrMap OrMap::MakeDelta(const FieldPath& path, std::optional<Entry> entry, const std::vector<Dot>& superseded,
                       const WriteContext& ctx) {
  OrMap delta;
  for (const Dot& d : superseded) delta.context_.Add(d);
  if (entry) {
    Node* node = &delta.root_;
    for (const std::string& key : path) node = &node->children[key];
    internal::FreshDot fresh = internal::NewDot(context_, ctx.replica, ctx.log_dot);
    internal::ClaimDot(&delta.context_, fresh);
    node->entries.emplace(fresh.dot, std::move(*entry));
  }
  if (internal::Logged(ctx.replica, ctx.log_dot)) {
    delta.log_clock_.Advance(ctx.replica, ctx.log_dot.counter);
  } else {
    delta.unlogged_ = true;
  }
  ApplyDelta(delta, nullptr);
  return delta;
}

CollectResult OrMap::Collect(const VersionVector& horizon) {
  CollectResult result;
  if (!root_.empty() || !internal::KeyStable(context_, log_clock_, unlogged_, horizon)) return result;
  *this = OrMap();
  result.remove_key = true;
  return result;
}

Result<OrMap> OrMap::SetRegister(const FieldPath& path, const WriteContext& ctx, std::string value) {
  SYNCLINE_RETURN_IF_ERROR(CheckPath(path, 'r'));
  std::vector<Dot> superseded;
  HlcTimestamp ts = ctx.now;
  if (const Node* node = Find(path)) {
    for (const auto& e : node->entries) {
      superseded.push_back(e.first);
      ts = std::max(ts, After(e.second.ts));  // stamped above what it replaces
    }
  }
  return MakeDelta(path, Entry{ts, std::move(value), 0, 0}, superseded, ctx);
}

Result<OrMap> OrMap::Increment(const FieldPath& path, ReplicaId replica, int64_t amount) {
  return Increment(path, WriteContext{replica, HlcTimestamp{}, Dot{}}, amount);
}
Result<OrMap> OrMap::AddElement(const FieldPath& path, ReplicaId replica, std::string element) {
  return AddElement(path, WriteContext{replica, HlcTimestamp{}, Dot{}}, std::move(element));
}
Result<OrMap> OrMap::RemoveElement(const FieldPath& path, const std::string& element) {
  return RemoveElement(path, WriteContext{}, element);
}
Result<OrMap> OrMap::RemoveField(const FieldPath& path) { return RemoveField(path, WriteContext{}); }

Result<OrMap> OrMap::Increment(const FieldPath& path, const WriteContext& ctx, int64_t amount) {
  SYNCLINE_RETURN_IF_ERROR(CheckPath(path, 'c'));
  const ReplicaId replica = ctx.replica;
  Entry next;
  std::vector<Dot> superseded;
  if (const Node* node = Find(path)) {
    for (const auto& [dot, e] : node->entries) {
      if (dot.replica != replica) continue;
      superseded.push_back(dot);
      next.increments = std::max(next.increments, e.increments);
      next.decrements = std::max(next.decrements, e.decrements);
    }
  }
  uint64_t magnitude = amount < 0 ? uint64_t{0} - static_cast<uint64_t>(amount) : static_cast<uint64_t>(amount);
  uint64_t& total = amount < 0 ? next.decrements : next.increments;
  if (total > std::numeric_limits<uint64_t>::max() - magnitude) {
    return Status::InvalidArgument("counter field '" + path.back() + "' of replica " + replica.ToString() +
                                   " would overflow");
  }
  total += magnitude;
  return MakeDelta(path, next, superseded, ctx);
}

Result<OrMap> OrMap::AddElement(const FieldPath& path, const WriteContext& ctx, std::string element) {
  SYNCLINE_RETURN_IF_ERROR(CheckPath(path, 's'));
  FieldPath element_path = path;
  element_path.push_back(std::move(element));
  std::vector<Dot> superseded;
  if (const Node* node = Find(element_path)) CollectDots(*node, &superseded);
  return MakeDelta(element_path, Entry{}, superseded, ctx);
}

Result<OrMap> OrMap::RemoveElement(const FieldPath& path, const WriteContext& ctx, const std::string& element) {
  SYNCLINE_RETURN_IF_ERROR(CheckPath(path, 's'));
  FieldPath element_path = path;
  element_path.push_back(element);
  std::vector<Dot> superseded;
  if (const Node* node = Find(element_path)) CollectDots(*node, &superseded);
  return MakeDelta(element_path, std::nullopt, superseded, ctx);
}

Result<OrMap> OrMap::RemoveField(const FieldPath& path, const WriteContext& ctx) {
  SYNCLINE_RETURN_IF_ERROR(CheckPath(path, '\0'));
  std::vector<Dot> superseded;
  if (const Node* node = Find(path)) CollectDots(*node, &superseded);
  return MakeDelta(path, std::nullopt, superseded, ctx);
}

void OrMap::JoinNode(Node& mine, const Node* theirs, const DotContext& their_context, const Touched* touched,
                     FieldPath& path, MergeOutcome* outcome) {
  static const Node kEmpty;
  const Node& other = theirs ? *theirs : kEmpty;
  bool had_entries = !mine.entries.empty();
  bool gained = false;
  for (auto it = mine.entries.begin(); it != mine.entries.end();) {
    if (other.entries.count(it->first) == 0 && their_context.Contains(it->first)) {
      dot_index_.erase(it->first);
      it = mine.entries.erase(it);
    } else {
      ++it;
    }
  }
  for (const auto& [dot, entry] : other.entries) {
    if (!context_.Contains(dot) && mine.entries.count(dot) == 0) {
      mine.entries.emplace(dot, entry);
      dot_index_[dot] = path;
      gained = true;
    }
  }
  if (outcome && gained && had_entries && mine.entries.size() > 1 && !path.empty() && TypeOf(path.back()) == 'r') {
    outcome->concurrent = true;
    outcome->description = "map: concurrent writes of register '" + path.back() + "'; the highest timestamp reads";
  }
  auto visit = [&](const std::string& key, const Touched* child_touched) {
    auto theirs_it = other.children.find(key);
    const Node* their_child = theirs_it == other.children.end() ? nullptr : &theirs_it->second;
    auto mine_it = mine.children.find(key);
    if (mine_it == mine.children.end()) {
      if (!their_child) return;
      mine_it = mine.children.emplace(key, Node{}).first;
    }
    path.push_back(key);
    JoinNode(mine_it->second, their_child, their_context, child_touched, path, outcome);
    path.pop_back();
    if (mine_it->second.empty()) mine.children.erase(mine_it);
  };
  if (touched) {
    for (const auto& [key, child_touched] : touched->children) visit(key, &child_touched);
  } else {
    std::vector<std::string> keys;
    for (const auto& c : mine.children) keys.push_back(c.first);
    for (const auto& c : other.children) keys.push_back(c.first);
    std::sort(keys.begin(), keys.end());
    keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
    for (const std::string& key : keys) visit(key, nullptr);
  }
}

void OrMap::Join(const OrMap& other, MergeOutcome* outcome) {
  FieldPath path;
  JoinNode(root_, &other.root_, other.context_, nullptr, path, outcome);
  context_.Merge(other.context_);
  log_clock_.Merge(other.log_clock_);
  unlogged_ = unlogged_ || other.unlogged_;
}

void OrMap::ApplyDelta(const OrMap& delta, MergeOutcome* outcome) {
  if (delta.context_.cloud_size() > (uint64_t{1} << 16)) {
    Join(delta, outcome);
    return;
  }
  Touched touched;
  TouchTree(delta.root_, &touched);
  // A vector range of the delta's context visits only the live dots inside it, so a range
  // claimed by a first write (NewDot) costs what it holds.
  for (const auto& [replica, top] : delta.context_.vv().entries()) {
    for (auto it = dot_index_.lower_bound(Dot{replica, 1});
         it != dot_index_.end() && it->first.replica == replica && it->first.counter <= top; ++it) {
      InsertPath(&touched, it->second);
    }
  }
  for (const Dot& d : delta.context_.CloudDots()) {
    auto it = dot_index_.find(d);
    if (it != dot_index_.end()) InsertPath(&touched, it->second);
  }
  FieldPath path;
  JoinNode(root_, &delta.root_, delta.context_, &touched, path, outcome);
  context_.Merge(delta.context_);
  log_clock_.Merge(delta.log_clock_);
  unlogged_ = unlogged_ || delta.unlogged_;
}

Result<std::string> OrMap::GetRegister(const FieldPath& path) const {
  SYNCLINE_RETURN_IF_ERROR(CheckPath(path, 'r'));
  const Node* node = Find(path);
  const auto* w = node ? Winner(*node) : nullptr;
  if (!w) return Status::NotFound("map field '" + path.back() + "' is absent");
  return w->second.value;
}

Result<int64_t> OrMap::GetCounter(const FieldPath& path) const {
  SYNCLINE_RETURN_IF_ERROR(CheckPath(path, 'c'));
  const Node* node = Find(path);
  if (!node) return Status::NotFound("map field '" + path.back() + "' is absent");
  return CounterValue(*node);
}

Result<std::vector<std::string>> OrMap::GetSet(const FieldPath& path) const {
  SYNCLINE_RETURN_IF_ERROR(CheckPath(path, 's'));
  const Node* node = Find(path);
  if (!node) return Status::NotFound("map field '" + path.back() + "' is absent");
  std::vector<std::string> out;
  for (const auto& child : node->children) out.push_back(child.first);
  return out;
}

std::vector<std::string> OrMap::Keys(const FieldPath& path) const {
  std::vector<std::string> out;
  const Node* node = path.empty() ? &root_ : Find(path);
  if (node && (path.empty() || TypeOf(path.back()) == 'm')) {
    for (const auto& child : node->children) out.push_back(child.first);
  }
  return out;
}

std::string OrMap::Render() const {
  std::string out;
  RenderNode(root_, 'm', &out);
  return out;
}

bool operator==(const OrMap& a, const OrMap& b) {
  return a.root_ == b.root_ && a.context_ == b.context_ && a.log_clock_ == b.log_clock_ && a.unlogged_ == b.unlogged_;
}

std::string OrMap::Encode() const {
  if (root_.empty() && context_.DotCount() == 0 && log_clock_.empty() && !unlogged_) return std::string();
  v1::MapState pb;
  ToProto(root_, pb.mutable_root());
  pb.set_context(context_.Encode());
  if (!log_clock_.empty()) pb.set_log_clock(log_clock_.Encode());
  pb.set_unlogged(unlogged_);
  return pb.SerializeAsString();
}

namespace {

// Rebuilds a node from its encoding, checking canonical form, types and dots as it goes.
Status FromProto(const v1::MapNode& pb, char type, size_t depth, const DotContext& ctx, FieldPath& path,
                 std::map<Dot, FieldPath>* index, Node* out) {
  if (depth > OrMap::kMaxDepth + 1) return Status::Corruption("map state nests deeper than allowed");
  bool may_have_entries = depth > 0 && type != 'm';
  bool may_have_children = depth == 0 || type == 'm' || type == 's';
  if (!may_have_entries && pb.entries_size() > 0) return Status::Corruption("map state: entries on a map node");
  if (!may_have_children && pb.children_size() > 0) return Status::Corruption("map state: children under a register or counter");
  const Dot* prev = nullptr;
  for (const v1::MapEntry& pe : pb.entries()) {
    Dot dot = conflict::FromProto(pe.dot());
    if (!dot.valid() || !ctx.Contains(dot) || (prev && !(*prev < dot))) {
      return Status::Corruption("map state: entry dots invalid, unsorted or outside the context");
    }
    if (!index->emplace(dot, path).second) return Status::Corruption("map state: a dot appears twice");
    auto it = out->entries.emplace(dot, Entry{HlcTimestamp::Unpack(pe.hlc()), pe.value(), pe.increments(), pe.decrements()}).first;
    prev = &it->first;
  }
  const std::string* prev_key = nullptr;
  for (const v1::MapChild& pc : pb.children()) {
    if (prev_key && !(*prev_key < pc.key())) return Status::Corruption("map state: field keys not ascending");
    char child_type = type == 's' ? 'e' : TypeOf(pc.key());
    if (type != 's' && child_type != 'r' && child_type != 'c' && child_type != 's' && child_type != 'm') {
      return Status::Corruption("map state: field key without a type tag");
    }
    path.push_back(pc.key());
    Node child;
    Status st = FromProto(pc.node(), child_type, depth + 1, ctx, path, index, &child);
    path.pop_back();
    SYNCLINE_RETURN_IF_ERROR(st);
    if (child.empty()) return Status::Corruption("map state: an empty field is stored");
    if (type == 's' && !child.children.empty()) return Status::Corruption("map state: set elements hold children");
    auto it = out->children.emplace(pc.key(), std::move(child)).first;
    prev_key = &it->first;
  }
  return Status::Ok();
}

}  // namespace

Result<OrMap> OrMap::Decode(std::string_view bytes) {
  OrMap m;
  if (bytes.empty()) return m;
  v1::MapState pb;
  SYNCLINE_RETURN_IF_ERROR(ParseBounded(bytes, "map state", &pb));
  auto ctx = DotContext::Decode(pb.context());
  if (!ctx.ok()) return ctx.status().WithContext("map state context");
  m.context_ = std::move(ctx).value();
  if (!pb.log_clock().empty()) {
    auto log_clock = VersionVector::Decode(pb.log_clock());
    if (!log_clock.ok()) return log_clock.status().WithContext("map state log clock");
    if (log_clock->empty()) return Status::Corruption("map state: an empty log clock is encoded (not canonical)");
    m.log_clock_ = std::move(log_clock).value();
  }
  m.unlogged_ = pb.unlogged();
  FieldPath path;
  SYNCLINE_RETURN_IF_ERROR(FromProto(pb.root(), 'm', 0, m.context_, path, &m.dot_index_, &m.root_));
  return m;
}

Status MapResolver::Join(std::string* state, std::string_view other, MergeOutcome* outcome) const {
  SYNCLINE_ASSIGN_OR_RETURN(OrMap mine, OrMap::Decode(*state));
  SYNCLINE_ASSIGN_OR_RETURN(OrMap theirs, OrMap::Decode(other));
  mine.Join(theirs, outcome);
  *state = mine.Encode();
  return Status::Ok();
}

bool OrMap::SeenBy(const VersionVector& seen) const {
  return internal::KeyStable(context_, log_clock_, unlogged_, seen);
}

Result<bool> MapResolver::SeenBy(std::string_view state, const VersionVector& seen) const {
  SYNCLINE_ASSIGN_OR_RETURN(OrMap m, OrMap::Decode(state));
  return m.SeenBy(seen);
}

Result<CollectResult> MapResolver::Collect(std::string* state, const VersionVector& horizon) const {
  SYNCLINE_ASSIGN_OR_RETURN(OrMap m, OrMap::Decode(*state));
  CollectResult result = m.Collect(horizon);
  if (result.remove_key) state->clear();
  return result;
}

Result<std::string> MapResolver::Render(std::string_view state) const {
  SYNCLINE_ASSIGN_OR_RETURN(OrMap m, OrMap::Decode(state));
  return m.Render();
}

}  // namespace syncline::conflict
