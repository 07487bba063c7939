// Replicator: anti-entropy sessions with the peers (docs/anti-entropy.md, "Running sessions").
//
// One session per peer at a time. Both sides read the item index the replica keeps in its store
// (Replica::WithItemIndex: one read transaction per Reconciler call, AeSession::index). The
// initiator derives the session key from both handshake nonces and sends the Reconciler's first
// message; the peer answers. When its Reconciler is done, each side
// fetches the states of its need() keys from the other (at most max_keys_per_session, fetch by
// fetch, under the repair throttle) and merges them through the resolvers (Replica::MergeStates);
// a fetch is answered by whoever receives it, statelessly. The responder ends with AntiEntropyEnd
// (ok) once its repair is merged; the initiator's session completes when its own repair is merged
// and that End arrived. A frame that does not parse, breaks a bound or does not fit the session
// is refused: counted, logged, answered with AntiEntropyEnd (not ok), and the session (if any)
// fails; the connection and log shipping go on.
#include <random>
#include <set>

#include "syncline/replication/replicator.h"
#include "syncline/replication/v1/anti_entropy.pb.h"

namespace syncline::replication {

struct Replicator::AeSession {
  bool initiator = false;
  int64_t started = 0;
  int64_t last_heard = 0;
  BoundItemIndex index;  // the Reconciler reads through it; the session's address is stable
  std::unique_ptr<Reconciler> rec;
  bool reconciled = false;
  std::vector<std::string> to_fetch;
  // Keys only here, asked for too: the peer answers them missing, and with its version vector
  // tells whether it collected them (then they are stale here: Replica::DropStale).
  std::set<std::string> probes;
  size_t next_fetch = 0;
  uint64_t fetch_id = 0;              // the fetch in flight (0: none)
  std::set<std::string> fetch_keys;   // its keys
  bool merging = false;
  bool local_done = false;
  bool peer_done = false;
  AntiEntropyRun run;
  std::vector<std::function<void(AntiEntropyRun)>> waiters;
};

namespace {

int64_t WallMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string EndPayload(uint64_t session_id, bool ok, const std::string& reason, const AntiEntropyRun* run) {
  v1::AntiEntropyEnd end;
  end.set_session_id(session_id);
  end.set_ok(ok);
  end.set_reason(reason.substr(0, 512));
  if (run != nullptr) {
    end.set_keys_fetched(run->keys_fetched);
    end.set_need(run->need);
    end.set_have(run->have);
  }
  return end.SerializeAsString();
}

}  // namespace

void Replicator::AeInit() {
  std::random_device rd;
  // Session ids only tell this node's sessions apart on one connection; random start values keep
  // a restarted node from reusing the ids of its previous life.
  ae_next_id_ = ((static_cast<uint64_t>(rd()) << 32) ^ rd()) >> 1;
  ae_next_id_ += 1;
  ae_last_run_ = NowMillis();
  ae_tokens_at_ = ae_last_run_;
  ae_tokens_ = static_cast<double>(options_.anti_entropy.repair_bytes_per_second);
}

bool Replicator::AeSend(const std::string& node_id, MessageType type, const std::string& payload) {
  Status s = transport_->Send(node_id, type, payload);
  if (!s.ok()) {
    Log("sending an anti-entropy message to " + node_id + " failed: " + s.ToString());
    return false;
  }
  ae_status_[node_id].bytes_sent += payload.size();
  auto it = ae_sessions_.find(node_id);
  if (it != ae_sessions_.end()) it->second->run.bytes_sent += payload.size();
  return true;
}

Status Replicator::AeAllowed(const std::string& node_id) const {
  auto it = peers_.find(node_id);
  if (it == peers_.end()) return Status::NotFound("peer '" + node_id + "' is not connected");
  if (it->second.info.minor < kAntiEntropyMinMinor) {
    return Status::FailedPrecondition("peer '" + node_id + "' speaks peer protocol " +
                                      std::to_string(it->second.info.major) + "." +
                                      std::to_string(it->second.info.minor) + ", anti-entropy needs 1." +
                                      std::to_string(kAntiEntropyMinMinor) + "; upgrade it");
  }
  if (!replica_->Serving()) {
    return Status::Unavailable("this node is installing a snapshot; anti-entropy waits until it is complete");
  }
  if (options_.leadership != nullptr) {
    EpochState st = options_.leadership->state();
    if (st.leader_follower()) {
      // Once the peer subscribed, its epoch tag (epoch and leader, EpochState::Tag) is known;
      // before, the epoch of its Hello.
      const Peer& p = it->second;
      bool subscribed = p.session->peer_subscribed();
      uint64_t peer_epoch = subscribed ? p.session->peer_epoch() >> 16 : p.info.epoch;
      bool same = subscribed ? p.session->peer_epoch() == options_.leadership->epoch() : p.info.epoch == st.epoch;
      if (!same) {
        return Status::FailedPrecondition("peer '" + node_id + "' is at epoch " + std::to_string(peer_epoch) +
                                          " and this node at " + std::to_string(st.epoch) + " (leader '" + st.leader +
                                          "'); in leader-follower mode anti-entropy runs only within one epoch");
      }
    }
  }
  return Status::Ok();
}

Status Replicator::AeStart(const std::string& node_id, std::function<void(AntiEntropyRun)> waiter) {
  auto existing = ae_sessions_.find(node_id);
  if (existing != ae_sessions_.end()) {
    // One session per peer: an on-demand run joins the one already running.
    if (waiter) existing->second->waiters.push_back(std::move(waiter));
    return Status::Ok();
  }
  SYNCLINE_RETURN_IF_ERROR(AeAllowed(node_id));
  auto s = std::make_shared<AeSession>();
  s->initiator = true;
  s->started = s->last_heard = NowMillis();
  s->run.peer = node_id;
  s->run.session_id = ae_next_id_++;
  if (waiter) s->waiters.push_back(std::move(waiter));
  ae_sessions_[node_id] = s;
  AntiEntropyPeerStatus& st = ae_status_[node_id];
  st.node_id = node_id;
  ++st.sessions_started;
  AeSession& session = *s;
  auto peer = peers_.find(node_id);
  AntiEntropyKey key =
      DeriveSessionKey(replica_->index_key(), peer->second.info.local_nonce, peer->second.info.peer_nonce);
  auto rec = Reconciler::Create(&session.index, key, options_.anti_entropy.reconcile);
  Status ok = rec.status();
  std::string first;
  if (ok.ok()) {
    session.rec = std::move(rec).value();
    ok = replica_->CallWithItemIndex(session.index, [&]() -> Status {
      SYNCLINE_ASSIGN_OR_RETURN(first, session.rec->Initiate());
      return Status::Ok();
    });
  }
  if (!ok.ok()) {
    Status err = ok.WithContext("starting anti-entropy with '" + node_id + "'");
    AeFinish(node_id, err);  // its waiters hear of it
    AePublish();
    return Status::Ok();
  }
  v1::AntiEntropyMessage msg;
  msg.set_session_id(session.run.session_id);
  msg.set_message(std::move(first));
  msg.set_first(true);
  if (!AeSend(node_id, MessageType::kAntiEntropy, msg.SerializeAsString())) {
    AeFinish(node_id, Status::Unavailable("could not send the first anti-entropy message to '" + node_id + "'"));
  }
  AePublish();
  return Status::Ok();
}

void Replicator::AeFrame(const std::string& node_id, const Frame& frame) {
  AntiEntropyPeerStatus& st = ae_status_[node_id];
  st.node_id = node_id;
  st.bytes_received += frame.payload.size();
  auto it = ae_sessions_.find(node_id);
  if (it != ae_sessions_.end()) {
    it->second->run.bytes_received += frame.payload.size();
    it->second->last_heard = NowMillis();
  }
  switch (frame.type) {
    case MessageType::kAntiEntropy: AeOnMessage(node_id, frame); break;
    case MessageType::kAntiEntropyFetch: AeOnFetch(node_id, frame); break;
    case MessageType::kAntiEntropyStates: AeOnStates(node_id, frame); break;
    default: AeOnEnd(node_id, frame); break;
  }
  AePublish();
}

void Replicator::AeRefuse(const std::string& node_id, const std::string& what, uint64_t session_id, const Status& why) {
  AntiEntropyPeerStatus& st = ae_status_[node_id];
  st.node_id = node_id;
  ++st.bad_frames;
  Status err = why.WithContext("anti-entropy: refused " + what + " from peer '" + node_id + "'");
  st.last_error = err.ToString();
  Log(err.ToString() + "; ending the session, keeping the connection");
  (void)AeSend(node_id, MessageType::kAntiEntropyEnd, EndPayload(session_id, false, err.message(), nullptr));
  auto it = ae_sessions_.find(node_id);
  if (it != ae_sessions_.end() && (session_id == 0 || it->second->run.session_id == session_id)) AeFinish(node_id, err);
}

void Replicator::AeOnMessage(const std::string& node_id, const Frame& frame) {
  v1::AntiEntropyMessage msg;
  auto it = ae_sessions_.find(node_id);
  uint64_t current = it != ae_sessions_.end() ? it->second->run.session_id : 0;
  if (!msg.ParseFromString(frame.payload) || msg.session_id() == 0) {
    AeRefuse(node_id, "an AntiEntropy frame", current,
             Status::Corruption("AntiEntropy frame of " + std::to_string(frame.payload.size()) +
                                " bytes does not parse or names no session"));
    return;
  }
  uint64_t id = msg.session_id();
  bool known = it != ae_sessions_.end() && it->second->run.session_id == id;
  if (!known && !msg.first()) {
    AeRefuse(node_id, "an AntiEntropy frame", id,
             Status::FailedPrecondition("a message of session " + std::to_string(id) +
                                        ", which is not running here (it ended or never started)"));
    return;
  }
  if (it != ae_sessions_.end() && it->second->run.session_id != id) {
    AeSession& mine = *it->second;
    if (mine.initiator && (mine.rec == nullptr || mine.rec->stats().messages_received == 0)) {
      // Both sides started a session at once: the one started by the smaller node id goes on.
      if (options_.transport.handshake.node_id < node_id) return;
      auto waiters = std::move(mine.waiters);
      ae_sessions_.erase(it);
      ae_status_[node_id].sessions_started -= 1;
      it = ae_sessions_.end();
      // Our waiters follow the peer's session instead.
      auto s = std::make_shared<AeSession>();
      s->waiters = std::move(waiters);
      ae_sessions_[node_id] = s;
      it = ae_sessions_.find(node_id);
    } else {
      // The peer starts a session only when it runs none with us, so ours is over on its side
      // (it timed out or failed there): end it here too and answer the new one.
      AeFinish(node_id, Status::Unavailable("peer '" + node_id + "' started anti-entropy session " +
                                            std::to_string(id) + ", so session " +
                                            std::to_string(mine.run.session_id) + " is over on its side"));
      it = ae_sessions_.end();
    }
  }
  if (it == ae_sessions_.end() || it->second->rec == nullptr) {
    // A new session: we respond.
    Status allowed = AeAllowed(node_id);
    std::shared_ptr<AeSession> s = it != ae_sessions_.end() ? it->second : std::make_shared<AeSession>();
    auto refuse_start = [&](const Status& why) {
      Log("anti-entropy session " + std::to_string(id) + " from '" + node_id + "' refused: " + why.ToString());
      (void)AeSend(node_id, MessageType::kAntiEntropyEnd, EndPayload(id, false, why.message(), nullptr));
      if (it != ae_sessions_.end()) {
        s->run.peer = node_id;
        s->run.session_id = id;
        AeFinish(node_id, why);
      }
    };
    if (!allowed.ok()) return refuse_start(allowed);
    s->initiator = false;
    s->started = s->last_heard = NowMillis();
    s->run.peer = node_id;
    s->run.session_id = id;
    s->run.bytes_received += frame.payload.size();
    ae_sessions_[node_id] = s;
    AntiEntropyPeerStatus& st = ae_status_[node_id];
    st.node_id = node_id;
    ++st.sessions_started;
    auto peer = peers_.find(node_id);
    AntiEntropyKey key =
        DeriveSessionKey(replica_->index_key(), peer->second.info.peer_nonce, peer->second.info.local_nonce);
    auto rec = Reconciler::Create(&s->index, key, options_.anti_entropy.reconcile);
    if (!rec.ok()) {
      Log("anti-entropy session " + std::to_string(id) + " from '" + node_id + "' refused: " + rec.status().ToString());
      (void)AeSend(node_id, MessageType::kAntiEntropyEnd, EndPayload(id, false, rec.status().message(), nullptr));
      AeFinish(node_id, rec.status());
      return;
    }
    s->rec = std::move(rec).value();
  }
  AeHandleMessage(node_id, id, msg.message());
}

void Replicator::AeHandleMessage(const std::string& node_id, uint64_t id, const std::string& message) {
  AeSession& s = *ae_sessions_.at(node_id);
  if (s.rec->done()) {
    AeRefuse(node_id, "an AntiEntropy frame", id,
             Status::FailedPrecondition("a message of session " + std::to_string(id) + " after it was reconciled"));
    return;
  }
  Result<std::optional<std::string>> reply = std::optional<std::string>();
  Status read = replica_->CallWithItemIndex(s.index, [&]() -> Status {
    reply = s.rec->HandleMessage(message);
    return Status::Ok();
  });
  if (!read.ok()) reply = read;
  if (!reply.ok()) {
    AeRefuse(node_id, "AntiEntropy message of session " + std::to_string(id), id, reply.status());
    return;
  }
  if (reply->has_value()) {
    v1::AntiEntropyMessage out;
    out.set_session_id(id);
    out.set_message(std::move(**reply));
    if (!AeSend(node_id, MessageType::kAntiEntropy, out.SerializeAsString())) {
      AeFinish(node_id, Status::Unavailable("could not send an anti-entropy message to '" + node_id + "'"));
      return;
    }
  }
  if (s.rec->done() && !s.reconciled) {
    s.reconciled = true;
    std::vector<std::string> need = s.rec->need();
    std::vector<std::string> have = s.rec->have();
    s.run.need = need.size();
    s.run.have = have.size();
    size_t bound = options_.anti_entropy.max_keys_per_session;
    if (need.size() > bound) need.resize(bound);
    // A key whose states differ is in both lists; one in have() alone is held only here.
    std::set<std::string> needed(need.begin(), need.end());
    for (auto& k : have) {
      if (need.size() >= bound) break;
      if (needed.count(k) != 0) continue;
      s.probes.insert(k);
      need.push_back(std::move(k));
    }
    s.to_fetch = std::move(need);
    AePump(node_id);
  }
}

void Replicator::AeOnFetch(const std::string& node_id, const Frame& frame) {
  v1::AntiEntropyFetch fetch;
  if (!fetch.ParseFromString(frame.payload)) {
    AeRefuse(node_id, "an AntiEntropyFetch frame", 0,
             Status::Corruption("AntiEntropyFetch frame of " + std::to_string(frame.payload.size()) +
                                " bytes does not parse"));
    return;
  }
  const AntiEntropyOptions& o = options_.anti_entropy;
  if (static_cast<size_t>(fetch.item_keys_size()) > o.max_fetch_keys_accepted || fetch.item_keys_size() == 0) {
    AeRefuse(node_id, "an AntiEntropyFetch frame", fetch.session_id(),
             Status::Corruption("AntiEntropyFetch names " + std::to_string(fetch.item_keys_size()) +
                                " keys; 1 to " + std::to_string(o.max_fetch_keys_accepted) + " are accepted"));
    return;
  }
  std::vector<std::string> keys;
  keys.reserve(fetch.item_keys_size());
  for (const auto& k : fetch.item_keys()) {
    if (k.size() > o.reconcile.max_key_bytes) {
      AeRefuse(node_id, "an AntiEntropyFetch frame", fetch.session_id(),
               Status::Corruption("AntiEntropyFetch names a key of " + std::to_string(k.size()) +
                                  " bytes, above the limit of " + std::to_string(o.reconcile.max_key_bytes)));
      return;
    }
    keys.push_back(k);
  }
  SnapshotChunkData data;
  std::vector<std::string> missing;
  size_t budget = o.states_max_bytes;
  if (fetch.max_bytes() > 0 && fetch.max_bytes() < budget) budget = static_cast<size_t>(fetch.max_bytes());
  Status read = replica_->ReadStates(keys, budget, &data, &missing);
  if (!read.ok()) {
    if (read.code() == StatusCode::kCorruption) {
      AeRefuse(node_id, "an AntiEntropyFetch frame", fetch.session_id(), read);
    } else {
      Log("anti-entropy: reading states for '" + node_id + "' failed: " + read.ToString());
      (void)AeSend(node_id, MessageType::kAntiEntropyEnd, EndPayload(fetch.session_id(), false, read.message(), nullptr));
    }
    return;
  }
  v1::AntiEntropyStates out;
  out.set_session_id(fetch.session_id());
  out.set_fetch_id(fetch.fetch_id());
  out.set_context(data.context.Encode());
  for (const auto& [name, resolver] : data.collections) {
    auto* c = out.add_collections();
    c->set_name(name);
    c->set_resolver(resolver);
  }
  for (SnapshotEntry& e : data.entries) {
    auto* m = out.add_entries();
    m->set_collection(std::move(e.collection));
    m->set_key(std::move(e.key));
    m->set_state(std::move(e.state));
  }
  for (auto& m : missing) out.add_missing(std::move(m));
  if (AeSend(node_id, MessageType::kAntiEntropyStates, out.SerializeAsString())) {
    ae_status_[node_id].keys_sent += data.entries.size();
    auto it = ae_sessions_.find(node_id);
    if (it != ae_sessions_.end() && it->second->run.session_id == fetch.session_id()) {
      it->second->run.keys_sent += data.entries.size();
    }
  }
}

void Replicator::AeOnStates(const std::string& node_id, const Frame& frame) {
  v1::AntiEntropyStates msg;
  if (!msg.ParseFromString(frame.payload)) {
    AeRefuse(node_id, "an AntiEntropyStates frame", 0,
             Status::Corruption("AntiEntropyStates frame of " + std::to_string(frame.payload.size()) +
                                " bytes does not parse"));
    return;
  }
  auto it = ae_sessions_.find(node_id);
  if (it == ae_sessions_.end() || it->second->run.session_id != msg.session_id() || it->second->fetch_id == 0 ||
      it->second->fetch_id != msg.fetch_id()) {
    AeRefuse(node_id, "an AntiEntropyStates frame", msg.session_id(),
             Status::FailedPrecondition("states of session " + std::to_string(msg.session_id()) + ", fetch " +
                                        std::to_string(msg.fetch_id()) + " were not asked for"));
    return;
  }
  AeSession& s = *it->second;
  uint64_t id = s.run.session_id;
  size_t answered = static_cast<size_t>(msg.entries_size()) + static_cast<size_t>(msg.missing_size());
  if (answered == 0 || answered > s.fetch_keys.size() ||
      static_cast<size_t>(msg.collections_size()) > static_cast<size_t>(msg.entries_size())) {
    AeRefuse(node_id, "an AntiEntropyStates frame", id,
             Status::Corruption("AntiEntropyStates answers " + std::to_string(answered) + " keys with " +
                                std::to_string(msg.collections_size()) + " collections to a fetch of " +
                                std::to_string(s.fetch_keys.size())));
    return;
  }
  auto vv = VersionVector::Decode(msg.context());
  if (!vv.ok()) {
    AeRefuse(node_id, "an AntiEntropyStates frame", id, vv.status().WithContext("context of AntiEntropyStates"));
    return;
  }
  if (options_.leadership != nullptr) {
    // A deposed leader still holds (or keeps the dots of) writes the promotion voided: merging its
    // states (a join) could bring them back, so it is no repair source in this epoch.
    std::string voided = options_.leadership->state().VoidedIn(*vv);
    if (!voided.empty()) {
      Status why = Status::FailedPrecondition("states from '" + node_id + "' refused: " + voided);
      Log("anti-entropy: " + why.message());
      (void)AeSend(node_id, MessageType::kAntiEntropyEnd, EndPayload(id, false, why.message(), nullptr));
      AeFinish(node_id, why);
      return;
    }
  }
  std::set<std::string> pending = s.fetch_keys;
  SnapshotChunkData data;
  for (const auto& c : msg.collections()) data.collections[c.name()] = c.resolver();
  for (auto& e : *msg.mutable_entries()) {
    auto item = MakeItemKey(e.collection(), e.key());
    if (!item.ok() || pending.erase(*item) == 0) {
      AeRefuse(node_id, "an AntiEntropyStates frame", id,
               Status::Corruption("AntiEntropyStates holds a key that was not asked for (or twice)"));
      return;
    }
    data.bytes += e.key().size() + e.state().size();
    data.entries.push_back(SnapshotEntry{std::move(*e.mutable_collection()), std::move(*e.mutable_key()),
                                         std::move(*e.mutable_state())});
  }
  std::vector<std::string> gone;
  for (const auto& m : msg.missing()) {
    if (pending.erase(m) == 0) {
      AeRefuse(node_id, "an AntiEntropyStates frame", id,
               Status::Corruption("AntiEntropyStates reports a key missing that was not asked for (or twice)"));
      return;
    }
    if (s.probes.count(m) != 0) gone.push_back(m);
  }
  if (!gone.empty()) {
    // Ordered before the merge below on the store's single writer.
    auto alive = alive_;
    replica_->DropStale(std::move(gone), *vv, [this, alive, node_id](Result<uint64_t> dropped) {
      asio::post(io_, [this, alive, node_id, dropped]() {
        if (!alive->load()) return;
        if (!dropped.ok()) {
          Log("anti-entropy: dropping keys '" + node_id + "' collected failed: " + dropped.status().ToString());
        } else if (*dropped > 0) {
          Log("anti-entropy: " + std::to_string(*dropped) + " keys held here were collected by '" + node_id +
              "' (it had seen every change of them): removed here too");
        }
      });
    });
  }
  // Keys left out (the answer's byte budget) are asked for again.
  for (const auto& k : pending) s.to_fetch.push_back(k);
  s.fetch_id = 0;
  s.fetch_keys.clear();
  ae_tokens_ -= static_cast<double>(frame.payload.size());
  if (data.entries.empty()) {
    AePump(node_id);
    return;
  }
  s.merging = true;
  auto alive = alive_;
  replica_->MergeStates(node_id, std::move(data), [this, alive, node_id, id](Result<uint64_t> merged) {
    // Writer thread: hand the outcome to the io_context.
    asio::post(io_, [this, alive, node_id, id, merged]() {
      if (!alive->load()) return;
      auto found = ae_sessions_.find(node_id);
      if (found == ae_sessions_.end() || found->second->run.session_id != id) return;
      found->second->merging = false;
      if (!merged.ok()) {
        Status err = merged.status().WithContext("anti-entropy: merging states from '" + node_id + "'");
        Log(err.ToString());
        (void)AeSend(node_id, MessageType::kAntiEntropyEnd, EndPayload(id, false, err.message(), nullptr));
        AeFinish(node_id, err);
        AePublish();
        return;
      }
      found->second->run.keys_fetched += *merged;
      ae_status_[node_id].keys_fetched += *merged;
      AePump(node_id);
      AePublish();
    });
  });
}

void Replicator::AeOnEnd(const std::string& node_id, const Frame& frame) {
  v1::AntiEntropyEnd end;
  auto it = ae_sessions_.find(node_id);
  if (!end.ParseFromString(frame.payload)) {
    // Never answered with another End, so two sides cannot bounce Ends forever.
    AntiEntropyPeerStatus& st = ae_status_[node_id];
    ++st.bad_frames;
    st.last_error = "anti-entropy: an AntiEntropyEnd frame from '" + node_id + "' does not parse";
    Log(st.last_error);
    if (it != ae_sessions_.end()) AeFinish(node_id, Status::Corruption(st.last_error));
    return;
  }
  if (it == ae_sessions_.end() || it->second->run.session_id != end.session_id()) return;
  AeSession& s = *it->second;
  if (!end.ok()) {
    Log("anti-entropy session " + std::to_string(end.session_id()) + " ended by '" + node_id + "': " + end.reason());
    AeFinish(node_id, Status::Unavailable("peer '" + node_id + "' ended anti-entropy session " +
                                          std::to_string(end.session_id()) + ": " + end.reason()));
    return;
  }
  s.peer_done = true;
  s.run.peer_keys_fetched = end.keys_fetched();
  if (s.initiator && s.local_done) AeFinish(node_id, Status::Ok());
}

void Replicator::AePump(const std::string& node_id) {
  auto it = ae_sessions_.find(node_id);
  if (it == ae_sessions_.end()) return;
  AeSession& s = *it->second;
  if (!s.reconciled || s.merging || s.fetch_id != 0 || s.local_done) return;
  const AntiEntropyOptions& o = options_.anti_entropy;
  if (s.next_fetch < s.to_fetch.size()) {
    v1::AntiEntropyFetch fetch;
    if (o.repair_bytes_per_second > 0) {
      if (ae_tokens_ <= 0) {
        // Waiting for our own throttle is not the peer's silence; the tick resumes the fetches.
        s.last_heard = NowMillis();
        return;
      }
      // Ask for no more than the budget holds, so a large answer cannot overdraw it by much
      // (the answer still holds at least one key).
      fetch.set_max_bytes(static_cast<uint64_t>(ae_tokens_) + 1);
    }
    fetch.set_session_id(s.run.session_id);
    s.fetch_id = ae_next_fetch_++;
    fetch.set_fetch_id(s.fetch_id);
    size_t n = std::min(std::max<size_t>(o.fetch_keys, 1), s.to_fetch.size() - s.next_fetch);
    for (size_t i = 0; i < n; ++i) {
      const std::string& k = s.to_fetch[s.next_fetch + i];
      if (s.fetch_keys.insert(k).second) fetch.add_item_keys(k);
    }
    s.next_fetch += n;
    if (!AeSend(node_id, MessageType::kAntiEntropyFetch, fetch.SerializeAsString())) {
      AeFinish(node_id, Status::Unavailable("could not send an anti-entropy fetch to '" + node_id + "'"));
    }
    return;
  }
  s.local_done = true;
  if (s.initiator) {
    if (s.peer_done) AeFinish(node_id, Status::Ok());
    return;
  }
  // Finished (and counted) before the peer hears it, so status read after the initiator's
  // completion includes this side too.
  std::string end = EndPayload(s.run.session_id, true, "", &s.run);
  AeFinish(node_id, Status::Ok());
  (void)AeSend(node_id, MessageType::kAntiEntropyEnd, end);
}

void Replicator::AeFinish(const std::string& node_id, Status status) {
  auto it = ae_sessions_.find(node_id);
  if (it == ae_sessions_.end()) return;
  std::shared_ptr<AeSession> s = it->second;
  ae_sessions_.erase(it);
  int64_t now = NowMillis();
  s->run.status = status;
  s->run.duration_millis = now - s->started;
  if (s->rec != nullptr) s->run.ranges_compared = s->rec->stats().ranges_compared;
  AntiEntropyPeerStatus& st = ae_status_[node_id];
  st.node_id = node_id;
  st.ranges_compared += s->run.ranges_compared;
  if (status.ok()) {
    ++st.sessions_completed;
    st.last_session_unix_millis = WallMillis();
    st.last_duration_millis = s->run.duration_millis;
    st.last_need = s->run.need;
    st.last_have = s->run.have;
    st.divergence = s->run.need + s->run.have;
    Log("anti-entropy session " + std::to_string(s->run.session_id) + " with '" + node_id + "' done: need " +
        std::to_string(s->run.need) + ", have " + std::to_string(s->run.have) + ", fetched " +
        std::to_string(s->run.keys_fetched));
  } else {
    ++st.sessions_failed;
    st.last_error = status.ToString();
  }
  // Status first, so a waiter that reads it sees this session counted.
  AePublish();
  for (auto& w : s->waiters) w(s->run);
}

void Replicator::AeTick(int64_t now) {
  const AntiEntropyOptions& o = options_.anti_entropy;
  if (o.repair_bytes_per_second > 0) {
    double rate = static_cast<double>(o.repair_bytes_per_second);
    ae_tokens_ = std::min(rate, ae_tokens_ + rate * static_cast<double>(now - ae_tokens_at_) / 1000.0);
  }
  ae_tokens_at_ = now;
  std::vector<std::string> ids;
  for (auto& [id, s] : ae_sessions_) ids.push_back(id);
  for (const auto& id : ids) {
    auto it = ae_sessions_.find(id);
    if (it == ae_sessions_.end()) continue;
    if (now - it->second->last_heard > o.session_timeout_millis) {
      uint64_t sid = it->second->run.session_id;
      (void)AeSend(id, MessageType::kAntiEntropyEnd, EndPayload(sid, false, "timed out", nullptr));
      AeFinish(id, Status::DeadlineExceeded("anti-entropy session " + std::to_string(sid) + " with '" + id +
                                            "' heard nothing for " + std::to_string(o.session_timeout_millis) +
                                            " ms"));
      continue;
    }
    AePump(id);
  }
  if (o.interval_millis > 0 && now - ae_last_run_ >= o.interval_millis) {
    ae_last_run_ = now;
    for (auto& [id, peer] : peers_) {
      if (!(options_.transport.handshake.node_id < id) || ae_sessions_.count(id) > 0) continue;
      Status s = AeStart(id, {});
      if (!s.ok()) Log("background anti-entropy with '" + id + "' not started: " + s.ToString());
    }
  }
  AePublish();
}

void Replicator::AePeerDown(const std::string& node_id) {
  if (ae_sessions_.count(node_id) == 0) return;
  AeFinish(node_id, Status::Unavailable("peer '" + node_id + "' disconnected during an anti-entropy session; "
                                        "the next session starts over"));
  AePublish();
}

void Replicator::AeStopAll() {
  std::vector<std::string> ids;
  for (auto& [id, s] : ae_sessions_) ids.push_back(id);
  for (const auto& id : ids) AeFinish(id, Status::Unavailable("the node is stopping; anti-entropy session abandoned"));
  AePublish();
}

void Replicator::AePublish() {
  std::vector<AntiEntropyPeerStatus> snap;
  for (auto& [id, st] : ae_status_) {
    snap.push_back(st);
    snap.back().active = ae_sessions_.count(id) > 0;
  }
  std::lock_guard<std::mutex> lock(snapshot_mu_);
  ae_snapshot_ = std::move(snap);
}

std::vector<AntiEntropyPeerStatus> Replicator::AntiEntropy() const {
  std::lock_guard<std::mutex> lock(snapshot_mu_);
  return ae_snapshot_;
}

void Replicator::RunAntiEntropy(std::string peer_node_id, AntiEntropyDone done) {
  auto alive = alive_;
  asio::post(io_, [this, alive, peer = std::move(peer_node_id), done = std::move(done)]() mutable {
    if (!alive->load() || stopped_) {
      done(Status::Unavailable("the node is stopping; anti-entropy not started"));
      return;
    }
    std::vector<std::string> ids;
    if (peer.empty()) {
      for (auto& [id, p] : peers_) ids.push_back(id);
      if (ids.empty()) {
        done(Status::NotFound("no peer is connected; anti-entropy needs a connected peer"));
        return;
      }
    } else {
      ids.push_back(peer);
    }
    struct Gather {
      std::vector<AntiEntropyRun> runs;
      size_t pending = 0;
      AntiEntropyDone done;
    };
    auto g = std::make_shared<Gather>();
    g->pending = ids.size() + 1;  // +1 until every session was started
    g->done = std::move(done);
    auto one = [g](AntiEntropyRun run) {
      g->runs.push_back(std::move(run));
      if (--g->pending == 0) g->done(std::move(g->runs));
    };
    for (const auto& id : ids) {
      Status s = AeStart(id, one);
      if (!s.ok()) {
        AntiEntropyRun run;
        run.peer = id;
        run.status = s.WithContext("anti-entropy with '" + id + "' not started");
        one(std::move(run));
      }
    }
    if (--g->pending == 0) g->done(std::move(g->runs));  // releases the guard
  });
}

}  // namespace syncline::replication
