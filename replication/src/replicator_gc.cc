// Replicator: the stability horizon, fencing of long-absent peers, and garbage collection passes
// (gc.h). io_context thread, except Gc().
#include <algorithm>
#include <chrono>

#include "syncline/core/varint.h"
#include "syncline/replication/replicator.h"

namespace syncline::replication {

namespace {

int64_t WallClockMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Table peers: "seen/<node id>" -> fixed64 wall-clock millis the peer was last connected.
constexpr std::string_view kSeenPrefix = "seen/";

}  // namespace

Result<std::optional<VersionVector>> Replicator::StabilityHorizonNow(int64_t now, bool for_gc) {
  // Every peer this node ever heard from counts: its last persisted acknowledgement, or what its
  // live session says now; except peers fenced for staying away too long.
  std::map<std::string, VersionVector> acks;
  Status read = replica_->store()->Read([&](core::ReadView& view) -> Status {
    return view.Scan(core::Table::kPeers, "ack/", "ack0", [&](std::string_view k, std::string_view v) {
      auto ctx = DotContext::Decode(v);
      if (ctx.ok()) acks[std::string(k.substr(4))] = ctx->vv();
      return true;
    });
  });
  if (!read.ok()) return read.WithContext("reading the peers' acknowledgements");
  // What connected peers acknowledged is remembered here too: it may not be persisted yet
  // (PersistAcks runs at an interval) when the peer goes away.
  for (auto& [id, peer] : peers_) {
    gc_last_heard_[id] = now;
    if (peer.session->peer_subscribed()) gc_acks_[id] = peer.session->peer_context().vv();
  }
  for (auto& [id, vv] : gc_acks_) {
    if (!vv.empty() || acks.count(id) == 0) acks[id] = vv;
  }
  std::vector<VersionVector> counted;
  VersionVector own = replica_->Context().vv();
  std::string held_back;
  for (auto& [id, vv] : acks) {
    // A peer not heard from since this node started is timed from the start.
    auto heard = gc_last_heard_.emplace(id, now).first->second;
    bool connected = peers_.count(id) != 0;
    int64_t limit = options_.gc.fence_after_millis;
    if (!connected && limit > 0 && now - heard >= limit) {
      if (gc_.fenced.emplace(id, WallClockMillis()).second) {
        ++gc_.fenced_total;
        Log("peer '" + id + "' was not heard from for " + std::to_string((now - heard) / 1000) +
            " s: fenced; the stability horizon no longer waits for it, and it re-bootstraps from a snapshot "
            "when it returns");
      }
      continue;
    }
    if (gc_.fenced.erase(id) != 0) Log("peer '" + id + "' is back: no longer fenced");
    counted.push_back(vv);
    if (for_gc && held_back.empty()) {
      // The horizon's second property (conflict-model.md, "Tombstones and collection"): a change
      // not applied here yet must have been made by a replica that had applied the horizon. The
      // peer's own changes up to what its acknowledgement reports for it were made before it; once
      // we hold those, any other change of it comes after the acknowledgement.
      auto rid = gc_replica_ids_.find(id);
      if (rid == gc_replica_ids_.end()) {
        held_back = "peer '" + id + "' has not connected since this node started";
      } else if (own.Get(rid->second) < vv.Get(rid->second)) {
        held_back = "waiting for peer '" + id + "''s own changes up to " + std::to_string(vv.Get(rid->second)) +
                    " (held here: " + std::to_string(own.Get(rid->second)) + ")";
      }
    }
  }
  if (for_gc) gc_.held_back = held_back;
  if (!held_back.empty()) return std::optional<VersionVector>();
  std::optional<VersionVector> horizon = StabilityHorizon(counted);
  // A node without peers (none configured, none ever heard from, and no other origin in its
  // vector: changes from elsewhere mean replicas it has not heard from), or whose every peer is
  // fenced, is the only replica that counts.
  bool only_own_changes = true;
  for (const auto& [origin, counter] : own.entries()) {
    if (origin != replica_->id() && counter > 0) only_own_changes = false;
  }
  bool alone = acks.empty() ? gc_last_heard_.empty() && options_.peers.empty() && only_own_changes : counted.empty();
  if (for_gc && !horizon.has_value() && alone) horizon = own;
  return horizon;
}

void Replicator::GcPeerUp(const std::string& node_id, ReplicaId replica_id) {
  gc_replica_ids_[node_id] = replica_id;
  // A peer is a replica from the moment it connects: until it acknowledges something, it counts
  // as holding nothing (the horizon stays empty), so nothing is collected that it may still hold.
  gc_last_heard_[node_id] = NowMillis();
  gc_acks_.emplace(node_id, VersionVector());
}

void Replicator::GcPeerDown(const std::string& node_id) {
  gc_last_heard_[node_id] = NowMillis();
  gc_seen_stored_.erase(node_id);
  auto it = peers_.find(node_id);
  if (it != peers_.end() && it->second.session->peer_subscribed()) {
    gc_acks_[node_id] = it->second.session->peer_context().vv();
  }
}

void Replicator::GcLoadLastHeard() {
  int64_t now = NowMillis();
  int64_t wall = WallClockMillis();
  std::vector<std::string> bad;
  Status read = replica_->store()->Read([&](core::ReadView& view) -> Status {
    return view.Scan(core::Table::kPeers, kSeenPrefix, "seen0", [&](std::string_view k, std::string_view v) {
      uint64_t seen = 0;
      std::string id(k.substr(kSeenPrefix.size()));
      if (!core::GetFixed64(&v, &seen) || !v.empty()) {
        bad.push_back(id);
        return true;
      }
      // Absent since then (a wall clock that went back counts as no absence), on this
      // process's monotonic clock.
      int64_t absent = std::max<int64_t>(0, wall - static_cast<int64_t>(seen));
      gc_last_heard_.emplace(id, now - absent);
      gc_.last_heard[id] = static_cast<int64_t>(seen);
      gc_seen_stored_.insert(id);
      return true;
    });
  });
  if (!read.ok()) Log("reading when peers were last heard from failed (their absence is timed from now): " + read.ToString());
  for (const auto& id : bad) {
    Log("peers record 'seen/" + id + "' is not an 8-byte time; peer '" + id + "' is timed from now");
  }
  PublishGc();
}

std::vector<std::pair<std::string, std::string>> Replicator::GcLastHeardRecords(int64_t now) {
  for (const auto& [id, peer] : peers_) gc_last_heard_[id] = now;
  int64_t wall = WallClockMillis();
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& [id, heard] : gc_last_heard_) {
    // A peer that is away keeps the moment it left: written once.
    bool away = peers_.count(id) == 0;
    if (away && !gc_seen_stored_.insert(id).second) continue;
    int64_t seen = wall - (now - heard);
    gc_.last_heard[id] = seen;
    std::string v;
    core::PutFixed64(&v, static_cast<uint64_t>(seen));
    out.emplace_back(std::string(kSeenPrefix) + id, std::move(v));
  }
  PublishGc();
  return out;
}

void Replicator::GcTick(int64_t now) {
  if (options_.gc.interval_millis <= 0 || gc_.running) return;
  if (last_gc_ == 0) {
    last_gc_ = now;  // the first pass comes one interval after the start, as every later one
    return;
  }
  if (now - last_gc_ < options_.gc.interval_millis) return;
  last_gc_ = now;
  auto horizon = StabilityHorizonNow(now, /*for_gc=*/true);
  if (!horizon.ok()) {
    gc_.last_error = horizon.status().ToString();
    PublishGc();
    return;
  }
  if (!horizon->has_value()) {
    PublishGc();
    return;  // no peer acknowledged anything yet: nothing is known to be stable
  }
  gc_.running = true;
  gc_.have_horizon = true;
  gc_.horizon = std::move(**horizon);
  PublishGc();
  GcStep(std::string());
}

void Replicator::GcStep(std::string begin) {
  auto alive = alive_;
  replica_->CollectGarbageAsync(gc_.horizon, std::move(begin), options_.gc.max_keys_per_txn,
                                [this, alive](Result<GcReport> report) {
                                  // Writer thread: hand the outcome to the io_context.
                                  asio::post(io_, [this, alive, report = std::move(report)]() mutable {
                                    if (!alive->load()) return;
                                    if (!report.ok()) {
                                      gc_.running = false;
                                      gc_.last_error = report.status().ToString();
                                      Log("garbage collection failed: " + gc_.last_error);
                                      PublishGc();
                                      return;
                                    }
                                    ++gc_.txns;
                                    gc_.scanned_total += report->scanned;
                                    gc_.removed_total += report->removed;
                                    gc_.dropped_total += report->dropped;
                                    gc_.last_error.clear();
                                    if (!report->next.empty() && !stopped_.load()) {
                                      PublishGc();
                                      GcStep(std::move(report->next));
                                      return;
                                    }
                                    gc_.running = false;
                                    ++gc_.passes;
                                    PublishGc();
                                  });
                                });
}

void Replicator::PublishGc() {
  std::lock_guard<std::mutex> lock(snapshot_mu_);
  gc_status_ = gc_;
}

GcStatus Replicator::Gc() const {
  std::lock_guard<std::mutex> lock(snapshot_mu_);
  return gc_status_;
}

}  // namespace syncline::replication
