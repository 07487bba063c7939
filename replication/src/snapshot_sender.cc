#include <algorithm>

#include "snapshot_codec.h"
#include "syncline/replication/snapshot.h"
#include "syncline/replication/v1/snapshot.pb.h"

namespace syncline::replication {

SnapshotSender::SnapshotSender(SnapshotOptions options, SnapshotSource* source)
    : options_(options), source_(source) {
  options_.window_chunks = std::max<size_t>(1, options_.window_chunks);
  options_.chunk_max_bytes = std::max<size_t>(1, options_.chunk_max_bytes);
}

Status SnapshotSender::OnFrame(const Frame& frame, int64_t now_millis, std::vector<OutFrame>* out) {
  if (frame.type == MessageType::kSnapshotRequest) {
    v1::SnapshotRequest msg;
    if (!msg.ParseFromArray(frame.payload.data(), static_cast<int>(frame.payload.size()))) {
      return Status::Corruption("SnapshotRequest message of " + std::to_string(frame.payload.size()) +
                                " bytes does not parse");
    }
    if (!source_->Serving()) {
      ++stats_.refused;
      active_ = false;
      v1::SnapshotRefused refused;
      refused.set_transfer_id(msg.transfer_id());
      refused.set_reason("this node is installing a snapshot itself and serves nothing until it is done");
      out->push_back(OutFrame{MessageType::kSnapshotRefused, refused.SerializeAsString()});
      return Status::Ok();
    }
    // A new request replaces any transfer in progress: the receiver gave up on it.
    ++stats_.transfers;
    active_ = true;
    done_ = false;
    transfer_id_ = msg.transfer_id();
    cursor_ = msg.begin();
    packed_ = msg.packed();
    next_seq_ = 1;
    in_flight_.clear();
    last_progress_ = now_millis;
    Pump(now_millis, out);
    return Status::Ok();
  }
  if (frame.type == MessageType::kSnapshotChunkAck) {
    v1::SnapshotChunkAck msg;
    if (!msg.ParseFromArray(frame.payload.data(), static_cast<int>(frame.payload.size()))) {
      return Status::Corruption("SnapshotChunkAck message of " + std::to_string(frame.payload.size()) +
                                " bytes does not parse");
    }
    if (!active_ || msg.transfer_id() != transfer_id_) return Status::Ok();  // an older transfer's
    if (in_flight_.erase(msg.seq()) > 0) last_progress_ = now_millis;
    if (done_ && in_flight_.empty()) {
      active_ = false;
      return Status::Ok();
    }
    Pump(now_millis, out);
    return Status::Ok();
  }
  return Status::Corruption("snapshot sender got an unexpected message type " +
                            std::to_string(static_cast<int>(frame.type)));
}

void SnapshotSender::OnWritable(int64_t now_millis, std::vector<OutFrame>* out) { Pump(now_millis, out); }

void SnapshotSender::OnTick(int64_t now_millis, std::vector<OutFrame>* out) {
  if (active_ && now_millis - last_progress_ >= options_.stall_millis) {
    // The receiver stopped acknowledging; it asks again from where it stopped when it can.
    ++stats_.abandoned;
    active_ = false;
    in_flight_.clear();
  }
  // A throttled transfer goes on as the budget refills.
  if (options_.max_bytes_per_second > 0) Pump(now_millis, out);
}

bool SnapshotSender::Throttled(int64_t now_millis) {
  if (options_.max_bytes_per_second == 0) return false;
  double rate = static_cast<double>(options_.max_bytes_per_second);
  // At most a tenth of a second's worth (and at least one chunk) accumulates while idle.
  double cap = std::max(rate / 10, static_cast<double>(options_.chunk_max_bytes));
  if (budget_at_ < 0) {
    budget_ = cap;
  } else if (now_millis > budget_at_) {
    budget_ = std::min(cap, budget_ + rate * static_cast<double>(now_millis - budget_at_) / 1000.0);
  }
  budget_at_ = now_millis;
  return budget_ <= 0;
}

void SnapshotSender::Pump(int64_t now_millis, std::vector<OutFrame>* out) {
  while (active_ && !done_ && in_flight_.size() < options_.window_chunks) {
    if (Throttled(now_millis)) {
      ++stats_.throttled;
      return;
    }
    if (!source_->Serving()) {
      ++stats_.refused;
      active_ = false;
      v1::SnapshotRefused refused;
      refused.set_transfer_id(transfer_id_);
      refused.set_reason("this node started installing a snapshot itself");
      out->push_back(OutFrame{MessageType::kSnapshotRefused, refused.SerializeAsString()});
      return;
    }
    SnapshotChunkData chunk;
    Status s = packed_ ? source_->ReadSnapshotRecords(cursor_, options_.chunk_max_bytes, &chunk)
                       : source_->ReadSnapshotChunk(cursor_, options_.chunk_max_bytes, &chunk);
    if (!s.ok()) {
      ++stats_.refused;
      active_ = false;
      v1::SnapshotRefused refused;
      refused.set_transfer_id(transfer_id_);
      refused.set_reason("reading the snapshot failed: " + s.ToString());
      out->push_back(OutFrame{MessageType::kSnapshotRefused, refused.SerializeAsString()});
      return;
    }
    uint64_t seq = next_seq_++;
    if (in_flight_.empty()) last_progress_ = now_millis;
    in_flight_.insert(seq);
    ++stats_.chunks_sent;
    stats_.bytes_sent += chunk.bytes;
    if (options_.max_bytes_per_second > 0) budget_ -= static_cast<double>(chunk.bytes);
    cursor_ = chunk.next_begin;
    done_ = chunk.last;
    out->push_back(OutFrame{MessageType::kSnapshotChunk, internal::EncodeSnapshotChunk(transfer_id_, seq, chunk)});
  }
}

}  // namespace syncline::replication
