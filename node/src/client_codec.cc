#include "client_codec.h"

#include <charconv>

namespace syncline::node {

using replication::WriteOp;
using Kind = replication::WriteOp::Kind;

Result<std::pair<std::string, uint16_t>> SplitHostPort(const std::string& address) {
  size_t colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == address.size()) {
    return Status::InvalidArgument("address '" + address + "' is not of the form host:port");
  }
  std::string host = address.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  unsigned port = 0;
  const char* begin = address.data() + colon + 1;
  const char* end = address.data() + address.size();
  auto [ptr, ec] = std::from_chars(begin, end, port);
  if (ec != std::errc() || ptr != end || port == 0 || port > 65535) {
    return Status::InvalidArgument("address '" + address + "' has a bad port (1..65535)");
  }
  return std::make_pair(host, static_cast<uint16_t>(port));
}

namespace {

v1::Write::Kind KindToProto(Kind k) {
  switch (k) {
    case Kind::kPut: return v1::Write::PUT;
    case Kind::kDelete: return v1::Write::DELETE;
    case Kind::kAdd: return v1::Write::ADD;
    case Kind::kAddElement: return v1::Write::ADD_ELEMENT;
    case Kind::kRemoveElement: return v1::Write::REMOVE_ELEMENT;
    case Kind::kSetField: return v1::Write::SET_FIELD;
    case Kind::kIncrementField: return v1::Write::INCREMENT_FIELD;
    case Kind::kAddToField: return v1::Write::ADD_TO_FIELD;
    case Kind::kRemoveFromField: return v1::Write::REMOVE_FROM_FIELD;
    case Kind::kRemoveField: return v1::Write::REMOVE_FIELD;
    case Kind::kMergeDelta: return v1::Write::MERGE_DELTA;
  }
  return v1::Write::KIND_UNSPECIFIED;
}

}  // namespace

void EncodeWrite(const std::string& collection, const std::string& key, const WriteOp& op, v1::Write* out) {
  out->set_collection(collection);
  out->set_key(key);
  out->set_kind(KindToProto(op.kind));
  out->set_value(op.value);
  out->set_amount(op.amount);
  for (const auto& p : op.path) out->add_path(p);
  if (!op.token.empty()) out->set_token(op.token.Encode());
}

Result<WriteOp> DecodeWriteOp(const v1::Write& in) {
  WriteOp op;
  switch (in.kind()) {
    case v1::Write::PUT: op.kind = Kind::kPut; break;
    case v1::Write::DELETE: op.kind = Kind::kDelete; break;
    case v1::Write::ADD: op.kind = Kind::kAdd; break;
    case v1::Write::ADD_ELEMENT: op.kind = Kind::kAddElement; break;
    case v1::Write::REMOVE_ELEMENT: op.kind = Kind::kRemoveElement; break;
    case v1::Write::SET_FIELD: op.kind = Kind::kSetField; break;
    case v1::Write::INCREMENT_FIELD: op.kind = Kind::kIncrementField; break;
    case v1::Write::ADD_TO_FIELD: op.kind = Kind::kAddToField; break;
    case v1::Write::REMOVE_FROM_FIELD: op.kind = Kind::kRemoveFromField; break;
    case v1::Write::REMOVE_FIELD: op.kind = Kind::kRemoveField; break;
    case v1::Write::MERGE_DELTA: op.kind = Kind::kMergeDelta; break;
    default: return Status::InvalidArgument("write has unknown kind " + std::to_string(in.kind()));
  }
  op.value = in.value();
  op.amount = in.amount();
  if (in.path_size() > 16) return Status::InvalidArgument("map path of " + std::to_string(in.path_size()) + " fields is deeper than 16");
  for (const auto& p : in.path()) op.path.push_back(p);
  if (!in.token().empty()) {
    auto token = VersionVector::Decode(in.token());
    if (!token.ok()) return token.status().WithContext("write token");
    op.token = std::move(token).value();
  }
  return op;
}

void EncodeReadResult(const replication::ReadResult& in, v1::ReadResult* out) {
  out->set_found(in.found);
  for (const auto& v : in.values) out->add_values(v);
  out->set_counter(in.counter);
  out->set_rendered(in.rendered);
  if (!in.token.empty()) out->set_token(in.token.Encode());
}

Result<replication::ReadResult> DecodeReadResult(const v1::ReadResult& in) {
  replication::ReadResult out;
  out.found = in.found();
  for (const auto& v : in.values()) out.values.push_back(v);
  out.counter = in.counter();
  out.rendered = in.rendered();
  if (!in.token().empty()) {
    auto token = VersionVector::Decode(in.token());
    if (!token.ok()) return token.status().WithContext("read token");
    out.token = std::move(token).value();
  }
  return out;
}

void EncodeStatus(const NodeStatus& in, const std::map<std::string, std::string>& collections,
                  const std::string& client_address, v1::NodeStatus* out) {
  out->set_node_id(in.node_id);
  out->set_replica_id(in.replica_id.value());
  out->set_mode(in.mode);
  out->set_role(in.role);
  out->set_epoch(in.epoch);
  out->set_leader(in.leader);
  out->set_leader_client(in.leader_client);
  out->set_orphaned(in.replica.orphaned);
  out->set_behind_leader(in.behind_leader);
  out->set_pending_acks(in.pending_acks);
  out->set_installing(in.bootstrap.installing);
  out->set_snapshot_source(in.bootstrap.source);
  out->set_snapshot_keys_installed(in.bootstrap.keys_installed);
  out->set_snapshots_completed(in.bootstrap.completed);
  out->set_snapshot_corrupt_chunks(in.bootstrap.corrupt_chunks);
  if (in.retention.have_horizon) out->set_retention_horizon(in.retention.horizon.ToString());
  out->set_log_truncated(in.retention.truncated_total);
  if (in.gc.have_horizon) out->set_gc_horizon(in.gc.horizon.ToString());
  out->set_gc_passes(in.gc.passes);
  out->set_gc_removed(in.gc.removed_total);
  out->set_gc_stale_skipped(in.replica.stale_states_skipped);
  out->set_gc_stale_dropped(in.replica.stale_keys_dropped);
  for (const auto& [peer, since] : in.gc.fenced) out->add_fenced_peers(peer);
  for (const auto& a : in.anti_entropy) {
    auto* e = out->add_anti_entropy();
    e->set_node_id(a.node_id);
    e->set_active(a.active);
    e->set_sessions_started(a.sessions_started);
    e->set_sessions_completed(a.sessions_completed);
    e->set_sessions_failed(a.sessions_failed);
    e->set_ranges_compared(a.ranges_compared);
    e->set_keys_fetched(a.keys_fetched);
    e->set_keys_sent(a.keys_sent);
    e->set_bytes_sent(a.bytes_sent);
    e->set_bytes_received(a.bytes_received);
    e->set_bad_frames(a.bad_frames);
    e->set_last_session_unix_millis(a.last_session_unix_millis);
    e->set_last_duration_millis(a.last_duration_millis);
    e->set_last_need(a.last_need);
    e->set_last_have(a.last_have);
    e->set_divergence(a.divergence);
    e->set_last_error(a.last_error);
  }
  for (const auto& b : in.retention.log.origins) {
    auto* l = out->add_log();
    l->set_origin(b.origin.value());
    l->set_low(b.low);
    l->set_high(b.high);
    l->set_floor(b.floor);
  }
  out->set_context(in.context.ToString());
  out->set_local_writes(in.replica.local_writes);
  out->set_changes_applied(in.replica.changes_applied);
  out->set_conflicts(in.replica.conflicts);
  out->set_duplicates(in.replica.duplicates);
  out->set_peer_address(in.peer_address);
  out->set_client_address(client_address);
  for (const auto& [k, v] : collections) (*out->mutable_collections())[k] = v;
  out->set_feed_head(in.feed.head);
  out->set_feed_pruned_through(in.feed.pruned_through);
  for (const auto& c : in.feed_consumers) {
    auto* fc = out->add_feed_consumers();
    fc->set_name(c.name);
    fc->set_cursor(c.cursor);
    fc->set_lag(c.lag);
  }
  for (const auto& p : in.peers) {
    auto* ps = out->add_peers();
    ps->set_node_id(p.node_id);
    ps->set_replica_id(p.replica_id.value());
    ps->set_address(p.address);
    ps->set_subscribed(p.subscribed);
    ps->set_acknowledged(p.acknowledged.ToString());
    ps->set_lag_changes(p.lag_changes);
    ps->set_changes_sent(p.stats.changes_sent);
    ps->set_changes_received(p.stats.changes_received);
    ps->set_queued_bytes(p.queued_bytes);
  }
}

RemoteStatus DecodeStatus(const v1::NodeStatus& in) {
  RemoteStatus out;
  out.node_id = in.node_id();
  out.replica_id = ReplicaId(in.replica_id()).ToString();
  out.mode = in.mode();
  out.role = in.role();
  out.epoch = in.epoch();
  out.context = in.context();
  out.local_writes = in.local_writes();
  out.changes_applied = in.changes_applied();
  out.conflicts = in.conflicts();
  out.duplicates = in.duplicates();
  out.leader = in.leader();
  out.leader_client = in.leader_client();
  out.orphaned = in.orphaned();
  out.behind_leader = in.behind_leader();
  out.pending_acks = in.pending_acks();
  out.installing = in.installing();
  out.snapshot_source = in.snapshot_source();
  out.snapshot_keys_installed = in.snapshot_keys_installed();
  out.snapshots_completed = in.snapshots_completed();
  out.snapshot_corrupt_chunks = in.snapshot_corrupt_chunks();
  out.retention_horizon = in.retention_horizon();
  out.log_truncated = in.log_truncated();
  out.gc_horizon = in.gc_horizon();
  out.gc_passes = in.gc_passes();
  out.gc_removed = in.gc_removed();
  out.gc_stale_skipped = in.gc_stale_skipped();
  out.gc_stale_dropped = in.gc_stale_dropped();
  for (const auto& p : in.fenced_peers()) out.fenced_peers.push_back(p);
  for (const auto& e : in.anti_entropy()) {
    replication::AntiEntropyPeerStatus a;
    a.node_id = e.node_id();
    a.active = e.active();
    a.sessions_started = e.sessions_started();
    a.sessions_completed = e.sessions_completed();
    a.sessions_failed = e.sessions_failed();
    a.ranges_compared = e.ranges_compared();
    a.keys_fetched = e.keys_fetched();
    a.keys_sent = e.keys_sent();
    a.bytes_sent = e.bytes_sent();
    a.bytes_received = e.bytes_received();
    a.bad_frames = e.bad_frames();
    a.last_session_unix_millis = e.last_session_unix_millis();
    a.last_duration_millis = e.last_duration_millis();
    a.last_need = e.last_need();
    a.last_have = e.last_have();
    a.divergence = e.divergence();
    a.last_error = e.last_error();
    out.anti_entropy.push_back(std::move(a));
  }
  for (const auto& l : in.log()) {
    out.log.push_back(RemoteStatus::OriginLog{ReplicaId(l.origin()).ToString(), l.low(), l.high(), l.floor()});
  }
  out.peer_address = in.peer_address();
  out.client_address = in.client_address();
  for (const auto& [k, v] : in.collections()) out.collections[k] = v;
  out.feed_head = in.feed_head();
  out.feed_pruned_through = in.feed_pruned_through();
  for (const auto& c : in.feed_consumers()) {
    out.feed_consumers.push_back(core::FeedConsumer{c.name(), c.cursor(), c.lag()});
  }
  for (const auto& p : in.peers()) {
    RemotePeer rp;
    rp.node_id = p.node_id();
    rp.address = p.address();
    rp.subscribed = p.subscribed();
    rp.acknowledged = p.acknowledged();
    rp.lag_changes = p.lag_changes();
    rp.changes_sent = p.changes_sent();
    rp.changes_received = p.changes_received();
    rp.queued_bytes = p.queued_bytes();
    out.peers.push_back(std::move(rp));
  }
  return out;
}

void SetError(const Status& s, v1::Response* out) {
  out->set_code(static_cast<uint32_t>(s.code()));
  out->set_message(s.message());
}

Status ResponseStatus(const v1::Response& resp) {
  if (resp.code() == 0) return Status::Ok();
  if (resp.code() > static_cast<uint32_t>(StatusCode::kInternal)) {
    return Status::Internal("node answered with unknown error code " + std::to_string(resp.code()) + ": " + resp.message());
  }
  return Status(static_cast<StatusCode>(resp.code()), resp.message());
}

}  // namespace syncline::node
