#include <algorithm>

#include "snapshot_codec.h"
#include "syncline/replication/snapshot.h"
#include "syncline/replication/v1/snapshot.pb.h"

namespace syncline::replication {

SnapshotReceiver::SnapshotReceiver(SnapshotOptions options, int64_t now_millis)
    : options_(options), last_heard_(now_millis), retry_at_(now_millis) {
  options_.window_chunks = std::max<size_t>(1, options_.window_chunks);
}

void SnapshotReceiver::Restore(bool installing, std::string next_begin, uint64_t keys, uint64_t bytes,
                               uint64_t chunks) {
  wanted_ = installing;
  status_.installing = installing;
  resume_ = std::move(next_begin);
  status_.keys_installed = keys;
  status_.bytes_installed = bytes;
  status_.chunks_installed = chunks;
}

void SnapshotReceiver::OnPeerUp(const std::string& peer, int64_t now_millis, SnapshotReceiverOutput* out) {
  peers_.insert(peer);
  MaybeStart(now_millis, out);
}

void SnapshotReceiver::OnPeerDown(const std::string& peer, int64_t now_millis, SnapshotReceiverOutput* out) {
  peers_.erase(peer);
  if (active_ && peer_ == peer) {
    Abandon(now_millis);
    retry_at_ = now_millis;
  }
  MaybeStart(now_millis, out);
}

void SnapshotReceiver::Abandon(int64_t now_millis) {
  active_ = false;
  status_.transferring = false;
  expected_seq_ = 1;
  ahead_.clear();
  // Ask another peer first next time: this one failed us.
  auto it = peers_.upper_bound(peer_);
  preferred_ = it != peers_.end() ? *it : (peers_.empty() ? std::string() : *peers_.begin());
  retry_at_ = now_millis + options_.retry_millis;
}

void SnapshotReceiver::MaybeStart(int64_t now_millis, SnapshotReceiverOutput* out) {
  if (!wanted_ || active_ || pending_installs_ > 0 || now_millis < retry_at_ || peers_.empty()) return;
  std::string peer = peers_.count(preferred_) > 0 ? preferred_ : *peers_.begin();
  active_ = true;
  status_.transferring = true;
  peer_ = peer;
  status_.source = peer;
  transfer_id_ = next_transfer_id_++;
  expected_seq_ = 1;
  ahead_.clear();
  handed_begin_ = resume_;
  last_heard_ = now_millis;
  ++status_.transfers;
  v1::SnapshotRequest req;
  req.set_transfer_id(transfer_id_);
  req.set_begin(resume_);
  req.set_packed(options_.request_packed);
  out->frames.emplace_back(peer, OutFrame{MessageType::kSnapshotRequest, req.SerializeAsString()});
}

Status SnapshotReceiver::OnFrame(const std::string& peer, const Frame& frame, const VersionVector& node_vv,
                                 int64_t now_millis, SnapshotReceiverOutput* out) {
  switch (frame.type) {
    case MessageType::kSnapshotNeeded: {
      v1::SnapshotNeeded msg;
      if (!msg.ParseFromArray(frame.payload.data(), static_cast<int>(frame.payload.size()))) {
        return Status::Corruption("SnapshotNeeded message from " + peer + " does not parse");
      }
      auto judged = VersionVector::Decode(msg.judged());
      if (!judged.ok()) return judged.status().WithContext("SnapshotNeeded from " + peer);
      // Judged on a vector older than what our last install gave us: the answer to a subscription
      // sent before that install; the next subscription gets a fresh judgement.
      if (completed_vv_.has_value() && !judged->Dominates(*completed_vv_)) return Status::Ok();
      (void)node_vv;
      if (!wanted_) {
        wanted_ = true;
        preferred_ = peer;
        retry_at_ = now_millis;
      }
      MaybeStart(now_millis, out);
      return Status::Ok();
    }
    case MessageType::kSnapshotRefused: {
      v1::SnapshotRefused msg;
      if (!msg.ParseFromArray(frame.payload.data(), static_cast<int>(frame.payload.size()))) {
        return Status::Corruption("SnapshotRefused message from " + peer + " does not parse");
      }
      if (active_ && peer == peer_ && msg.transfer_id() == transfer_id_) {
        ++status_.refusals;
        Abandon(now_millis);
      }
      return Status::Ok();
    }
    case MessageType::kSnapshotChunk:
      return HandleChunk(peer, frame, now_millis, out);
    default:
      return Status::Corruption("snapshot receiver got an unexpected message type " +
                                std::to_string(static_cast<int>(frame.type)) + " from " + peer);
  }
}

Status SnapshotReceiver::HandleChunk(const std::string& peer, const Frame& frame, int64_t now_millis,
                                     SnapshotReceiverOutput* out) {
  auto parsed = internal::DecodeSnapshotChunk(frame.payload, options_.max_chunk_entries);
  if (!parsed.ok()) {
    // A chunk damaged so badly it does not even parse is refused like one failing its checksum.
    if (active_ && peer == peer_) {
      ++status_.corrupt_chunks;
      Abandon(now_millis);
    }
    return Status::Ok();
  }
  internal::DecodedChunk decoded = std::move(parsed).value();
  if (!active_ || peer != peer_ || decoded.transfer_id != transfer_id_) return Status::Ok();  // an old transfer's
  if (!decoded.checksum_ok) {
    // Refuse it and everything after it; ask again from the last installed key.
    ++status_.corrupt_chunks;
    Abandon(now_millis);
    return Status::Ok();
  }
  last_heard_ = now_millis;
  if (decoded.seq < expected_seq_) return Status::Ok();  // a duplicate
  if (check_) {
    std::string why = check_(decoded.chunk.context);
    if (!why.empty()) {
      ++status_.voided_chunks;
      last_refusal_ = "snapshot chunk " + std::to_string(decoded.seq) + " from " + peer + " refused: " + why;
      Abandon(now_millis);
      return Status::Ok();
    }
  }
  if (decoded.seq == 1 && !status_.installing && pending_installs_ == 0 && may_begin_ && !may_begin_()) {
    ++status_.deferred;
    Abandon(now_millis);
    return Status::Ok();
  }
  if (decoded.seq - expected_seq_ >= options_.window_chunks) {
    ++status_.corrupt_chunks;  // beyond any window: the sender is broken or confused
    Abandon(now_millis);
    return Status::Ok();
  }
  SnapshotInstall& slot = ahead_[decoded.seq];
  slot.peer = peer;
  slot.transfer_id = decoded.transfer_id;
  slot.seq = decoded.seq;
  slot.chunk = std::move(decoded.chunk);
  // Hand over every chunk that is next in order (a network may reorder; TCP does not).
  for (auto it = ahead_.find(expected_seq_); it != ahead_.end(); it = ahead_.find(expected_seq_)) {
    SnapshotInstall install = std::move(it->second);
    ahead_.erase(it);
    install.begin = handed_begin_;
    handed_begin_ = install.chunk.next_begin;
    ++expected_seq_;
    ++pending_installs_;
    handed_[install.seq] = HandedChunk{install.chunk.next_begin, install.chunk.last,
                                       install.chunk.keys(), install.chunk.bytes};
    out->installs.push_back(std::move(install));
  }
  return Status::Ok();
}

void SnapshotReceiver::OnInstalled(uint64_t transfer_id, uint64_t seq, const Status& status,
                                   const VersionVector& node_vv, int64_t now_millis, SnapshotReceiverOutput* out) {
  if (pending_installs_ > 0) --pending_installs_;
  HandedChunk handed;
  bool known = false;
  if (transfer_id == transfer_id_) {
    auto it = handed_.find(seq);
    if (it != handed_.end()) {
      handed = it->second;
      known = true;
      handed_.erase(it);
    }
  }
  if (!status.ok()) {
    ++status_.install_errors;
    if (active_ && transfer_id == transfer_id_) Abandon(now_millis);
    handed_.clear();
    MaybeStart(now_millis, out);
    return;
  }
  if (known) {
    status_.installing = true;
    ++status_.chunks_installed;
    status_.keys_installed += handed.keys;
    status_.bytes_installed += handed.bytes;
    resume_ = handed.next_begin;
    if (handed.last) {
      wanted_ = false;
      active_ = false;
      status_.transferring = false;
      status_.installing = false;
      ++status_.completed;
      completed_vv_ = node_vv;
      resume_.clear();
      handed_.clear();
      ahead_.clear();
      out->completed = true;
      if (!peer_.empty()) {
        v1::SnapshotChunkAck ack;
        ack.set_transfer_id(transfer_id);
        ack.set_seq(seq);
        out->frames.emplace_back(peer_, OutFrame{MessageType::kSnapshotChunkAck, ack.SerializeAsString()});
      }
      return;
    }
    if (active_) {
      v1::SnapshotChunkAck ack;
      ack.set_transfer_id(transfer_id);
      ack.set_seq(seq);
      out->frames.emplace_back(peer_, OutFrame{MessageType::kSnapshotChunkAck, ack.SerializeAsString()});
    }
  }
  MaybeStart(now_millis, out);
}

void SnapshotReceiver::OnTick(int64_t now_millis, SnapshotReceiverOutput* out) {
  if (active_ && now_millis - last_heard_ >= options_.stall_millis) {
    Abandon(now_millis);
    retry_at_ = now_millis;
  }
  MaybeStart(now_millis, out);
}

}  // namespace syncline::replication
