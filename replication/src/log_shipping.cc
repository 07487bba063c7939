#include "syncline/replication/log_shipping.h"

#include <algorithm>

#include "syncline/replication/v1/shipping.pb.h"
#include "syncline/replication/v1/snapshot.pb.h"

namespace syncline::replication {

namespace {

template <typename Message>
Status ParseMessage(const Frame& frame, Message* msg, const char* what) {
  if (!msg->ParseFromArray(frame.payload.data(), static_cast<int>(frame.payload.size()))) {
    return Status::Corruption(std::string(what) + " message of " + std::to_string(frame.payload.size()) +
                              " bytes does not parse");
  }
  return Status::Ok();
}

Result<DotContext> DecodeContext(const std::string& bytes, const char* what) {
  auto ctx = DotContext::Decode(bytes);
  if (!ctx.ok()) return ctx.status().WithContext(std::string("context in ") + what);
  return ctx;
}

}  // namespace

Status ChangeSource::ReadLogEncoded(ReplicaId origin, uint64_t from, size_t max_changes, size_t max_bytes,
                                    std::vector<core::EncodedChange>* out) {
  std::vector<core::Change> changes;
  SYNCLINE_RETURN_IF_ERROR(ReadLog(origin, from, max_changes, max_bytes, &changes));
  for (const core::Change& c : changes) out->push_back(core::EncodedChange{c.dot, core::EncodeChange(c)});
  return Status::Ok();
}

ShippingSession::ShippingSession(ShippingOptions options, ChangeSource* source, int64_t now_millis, EpochGate* gate)
    : options_(options), source_(source), gate_(gate), last_progress_(now_millis), last_heard_(now_millis) {
  options_.window_batches = std::max<size_t>(1, options_.window_batches);
  options_.batch_max_changes = std::max<size_t>(1, options_.batch_max_changes);
}

void ShippingSession::Start(int64_t now_millis, SessionOutput* out) { SendSubscribe(now_millis, out); }

void ShippingSession::SendSubscribe(int64_t now_millis, SessionOutput* out) {
  v1::Subscribe msg;
  msg.set_context(source_->Context().Encode());
  last_context_sent_ = msg.context();
  for (ReplicaId r : my_direct_) msg.add_direct_origins(r.value());
  if (gate_ != nullptr) {
    msg.set_epoch(gate_->epoch());
    msg.set_epoch_record(gate_->LocalRecord());
  }
  out->frames.push_back(OutFrame{MessageType::kSubscribe, msg.SerializeAsString()});
  last_heard_ = now_millis;
}

void ShippingSession::SetDirectOrigins(std::vector<ReplicaId> origins, int64_t now_millis, SessionOutput* out) {
  std::sort(origins.begin(), origins.end());
  if (origins == my_direct_) return;
  my_direct_ = std::move(origins);
  SendSubscribe(now_millis, out);
}

Status ShippingSession::OnFrame(const Frame& frame, int64_t now_millis, SessionOutput* out) {
  switch (frame.type) {
    case MessageType::kSubscribe: return HandleSubscribe(frame, now_millis, out);
    case MessageType::kBatch: return HandleBatch(frame, now_millis, out);
    case MessageType::kAck: return HandleAck(frame, now_millis, out);
    case MessageType::kHeartbeat:
      last_heard_ = now_millis;
      return Status::Ok();
    default:
      return Status::Corruption("log shipping got an unexpected message type " +
                                std::to_string(static_cast<int>(frame.type)));
  }
}

Status ShippingSession::HandleSubscribe(const Frame& frame, int64_t now_millis, SessionOutput* out) {
  v1::Subscribe msg;
  SYNCLINE_RETURN_IF_ERROR(ParseMessage(frame, &msg, "Subscribe"));
  SYNCLINE_ASSIGN_OR_RETURN(DotContext ctx, DecodeContext(msg.context(), "Subscribe"));
  if (msg.direct_origins_size() > 4096) {
    return Status::Corruption("Subscribe names " + std::to_string(msg.direct_origins_size()) + " direct origins");
  }
  peer_epoch_ = msg.epoch();
  // A newer epoch record is adopted before anything else of the peer's is looked at.
  bool peer_behind = gate_ != nullptr && !msg.epoch_record().empty() && gate_->OnPeerRecord(msg.epoch_record());
  peer_direct_.clear();
  for (uint64_t r : msg.direct_origins()) peer_direct_.push_back(ReplicaId(r));
  std::sort(peer_direct_.begin(), peer_direct_.end());
  // Start over from what the peer says it holds; anything in flight is either held already or
  // will be sent again.
  known_ = std::move(ctx);
  needs_snapshot_ = false;
  cursor_.clear();
  in_flight_.clear();
  subscribed_ = true;
  last_progress_ = now_millis;
  if (peer_behind) SendSubscribe(now_millis, out);
  Pump(now_millis, out);
  return Status::Ok();
}

Status ShippingSession::HandleBatch(const Frame& frame, int64_t now_millis, SessionOutput* out) {
  v1::Batch msg;
  SYNCLINE_RETURN_IF_ERROR(ParseMessage(frame, &msg, "Batch"));
  if (static_cast<size_t>(msg.changes_size()) > options_.max_received_batch_changes) {
    return Status::Corruption("Batch of " + std::to_string(msg.changes_size()) + " changes is above the limit of " +
                              std::to_string(options_.max_received_batch_changes));
  }
  if (gate_ != nullptr && msg.epoch() != gate_->epoch()) {
    // A stream from another epoch is never applied (a deposed leader's, or one from before we
    // adopted a newer epoch); not acknowledged, the publisher resends once epochs agree. Our
    // Subscribe tells the publisher our epoch record (it adopts it, or answers with its newer one);
    // at most once per context_update_millis.
    ++stats_.epoch_refused;
    if (now_millis - last_epoch_resubscribe_ >= options_.context_update_millis) {
      last_epoch_resubscribe_ = now_millis;
      SendSubscribe(now_millis, out);
    }
    return Status::Ok();
  }
  ApplyRequest req;
  req.seq = msg.seq();
  req.changes.reserve(msg.changes_size());
  req.encoded.reserve(msg.changes_size());
  for (int i = 0; i < msg.changes_size(); ++i) {
    auto change = core::DecodeChange(msg.changes(i), frame.payload.size());
    if (!change.ok()) {
      return change.status().WithContext("change " + std::to_string(i) + " of batch " + std::to_string(msg.seq()));
    }
    if (gate_ != nullptr && !gate_->Admit(*change)) continue;
    req.changes.push_back(std::move(change).value());
    req.encoded.push_back(std::move(*msg.mutable_changes(i)));
  }
  last_heard_ = now_millis;
  ++stats_.batches_received;
  stats_.changes_received += req.changes.size();
  out->applies.push_back(std::move(req));
  return Status::Ok();
}

Status ShippingSession::HandleAck(const Frame& frame, int64_t now_millis, SessionOutput* out) {
  v1::Ack msg;
  SYNCLINE_RETURN_IF_ERROR(ParseMessage(frame, &msg, "Ack"));
  SYNCLINE_ASSIGN_OR_RETURN(DotContext ctx, DecodeContext(msg.context(), "Ack"));
  ++stats_.acks_received;
  // An acknowledgement sent after the peer moved to a newer epoch does not count for ours.
  if (msg.epoch() > peer_epoch_) peer_epoch_ = msg.epoch();
  known_.Merge(ctx);
  auto it = std::find(in_flight_.begin(), in_flight_.end(), msg.seq());
  if (it != in_flight_.end()) {
    in_flight_.erase(it);
    last_progress_ = now_millis;
  }
  Pump(now_millis, out);
  return Status::Ok();
}

void ShippingSession::OnApplied(uint64_t seq, const Status& status, int64_t now_millis, SessionOutput* out) {
  if (!status.ok()) {
    ++stats_.apply_errors;
    return;
  }
  v1::Ack msg;
  msg.set_seq(seq);
  msg.set_context(source_->Context().Encode());
  if (gate_ != nullptr) msg.set_epoch(gate_->epoch());
  last_context_sent_ = msg.context();
  last_context_update_ = now_millis;
  out->frames.push_back(OutFrame{MessageType::kAck, msg.SerializeAsString()});
}

void ShippingSession::OnLocalChanges(int64_t now_millis, SessionOutput* out) { Pump(now_millis, out); }

void ShippingSession::OnTick(int64_t now_millis, SessionOutput* out) {
  if (subscribed_ && !in_flight_.empty() && now_millis - last_progress_ >= options_.retransmit_millis) {
    // Acknowledgements stopped: go back to what the peer acknowledged and send again.
    ++stats_.rewinds;
    cursor_.clear();
    in_flight_.clear();
    last_progress_ = now_millis;
    Pump(now_millis, out);
  }
  if (now_millis - last_heard_ >= options_.resubscribe_millis) {
    ++stats_.resubscribes;
    SendSubscribe(now_millis, out);
  }
  if (now_millis - last_context_update_ >= options_.context_update_millis) {
    // An Ack with sequence 0 acknowledges no batch; it only refreshes the publisher's view.
    last_context_update_ = now_millis;
    std::string ctx = source_->Context().Encode();
    if (ctx != last_context_sent_) {
      v1::Ack msg;
      msg.set_seq(0);
      msg.set_context(ctx);
      if (gate_ != nullptr) msg.set_epoch(gate_->epoch());
      last_context_sent_ = std::move(ctx);
      out->frames.push_back(OutFrame{MessageType::kAck, msg.SerializeAsString()});
    }
  }
  if (deferred_) Pump(now_millis, out);
}

uint64_t ShippingSession::NextToSend(ReplicaId origin) const {
  // The cursor is where we stopped reading; the peer's acknowledged context may be past it, above
  // all for an origin it gets directly (whose relay we hold back, so our cursor trails): it holds
  // that prefix, so neither resend it nor judge it behind the log's floor because of our cursor.
  uint64_t acknowledged_next = known_.vv().Get(origin) + 1;
  auto cur = cursor_.find(origin);
  return cur != cursor_.end() ? std::max(cur->second, acknowledged_next) : acknowledged_next;
}

bool ShippingSession::CheckSnapshotNeeded(const DotContext& mine, SessionOutput* out) {
  std::string reason;
  if (known_.vv().empty()) {
    uint64_t lacking = 0;
    for (const auto& e : mine.vv().entries()) lacking += e.second;
    if (lacking >= options_.bootstrap_min_changes && lacking > 0) {
      reason = "the subscriber holds nothing and lacks " + std::to_string(lacking) + " changes";
    }
  }
  if (reason.empty()) {
    const VersionVector floors = source_->LogFloor();
    for (const auto& [origin, floor] : floors.entries()) {
      uint64_t from = NextToSend(origin);
      if (from <= floor && from <= mine.vv().Get(origin)) {
        reason = "the subscriber lacks change " + std::to_string(from) + " of origin " + origin.ToString() +
                 ", below what the log keeps (up to " + std::to_string(floor) + " may be missing)";
        break;
      }
    }
  }
  if (reason.empty()) return false;
  v1::SnapshotNeeded msg;
  msg.set_reason(reason);
  msg.set_judged(known_.vv().Encode());
  out->frames.push_back(OutFrame{MessageType::kSnapshotNeeded, msg.SerializeAsString()});
  needs_snapshot_ = true;
  ++stats_.snapshot_needed;
  return true;
}

void ShippingSession::Pump(int64_t now_millis, SessionOutput* out) {
  if (!subscribed_) return;
  // Nothing is published while we install a snapshot, nor to a peer told to bootstrap (until it
  // subscribes again).
  if (needs_snapshot_ || !source_->Serving()) return;
  DotContext mine;
  bool have_mine = false;
  while (in_flight_.size() < options_.window_batches) {
    if (!have_mine) {
      mine = source_->Context();
      have_mine = true;
      if (CheckSnapshotNeeded(mine, out)) return;
    }
    // Origins we hold changes of. Only each origin's contiguous prefix (the vector, not the dot
    // cloud) is streamed: a change that arrived here out of order waits until the gap before it
    // fills, so the cursor never moves past a change we do not hold yet and will receive later.
    std::vector<ReplicaId> origins;
    for (const auto& e : mine.vv().entries()) origins.push_back(e.first);
    if (origins.empty()) return;

    v1::Batch batch;
    size_t count = 0, bytes = 0;
    deferred_ = false;
    size_t start = rotate_++ % origins.size();
    for (size_t i = 0; i < origins.size() && count < options_.batch_max_changes && bytes < options_.batch_max_bytes; ++i) {
      ReplicaId origin = origins[(start + i) % origins.size()];
      uint64_t from = NextToSend(origin);
      uint64_t highest = mine.vv().Get(origin);
      if (origin == peer_origin_ || std::binary_search(peer_direct_.begin(), peer_direct_.end(), origin)) {
        // The peer gets this origin's changes directly (or is the origin): relay only what we
        // held for a while.
        auto& held = held_since_[origin];
        if (held.empty() || held.back().first < highest) held.emplace_back(highest, now_millis);
        int64_t cutoff = now_millis - options_.relay_delay_millis;
        while (held.size() >= 2 && held[1].second <= cutoff) held.pop_front();
        uint64_t ripe = !held.empty() && held.front().second <= cutoff ? held.front().first : 0;
        if (ripe < highest && from <= highest) deferred_ = true;
        highest = ripe;
      }
      if (from > highest) continue;
      std::vector<core::EncodedChange> changes;
      Status s = source_->ReadLogEncoded(origin, from, options_.batch_max_changes - count,
                                         options_.batch_max_bytes - bytes, &changes);
      if (!s.ok()) {
        // The log cannot be read now; try again on the next tick or commit.
        ++stats_.apply_errors;
        return;
      }
      uint64_t next = from;
      for (core::EncodedChange& c : changes) {
        if (c.dot.counter > highest) break;
        next = c.dot.counter + 1;
        if (known_.Contains(c.dot)) continue;
        if (gate_ != nullptr && !gate_->AdmitsDot(c.dot)) {
          // Leader-follower mode looks at the change itself; a log entry that does not decode
          // is not shipped (the receiver would refuse the whole batch for it).
          auto decoded = core::DecodeChange(c.bytes);
          if (!decoded.ok()) {
            ++stats_.apply_errors;
            return;
          }
          if (!gate_->Admit(*decoded)) continue;
        }
        bytes += c.bytes.size();
        *batch.add_changes() = std::move(c.bytes);
        ++count;
      }
      // Nothing left of this origin in the log below `highest` (e.g. truncated): move past it.
      if (changes.empty()) next = highest + 1;
      cursor_[origin] = next;
    }
    if (count == 0) return;
    batch.set_seq(next_seq_++);
    if (gate_ != nullptr) batch.set_epoch(gate_->epoch());
    if (in_flight_.empty()) last_progress_ = now_millis;
    in_flight_.push_back(batch.seq());
    ++stats_.batches_sent;
    stats_.changes_sent += count;
    stats_.payload_bytes_sent += bytes;
    out->frames.push_back(OutFrame{MessageType::kBatch, batch.SerializeAsString()});
  }
}

}  // namespace syncline::replication
