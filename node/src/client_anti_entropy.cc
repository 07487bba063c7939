#include "client_anti_entropy.h"

#include <string>

namespace syncline::node {

void EncodeAntiEntropyRuns(const std::vector<replication::AntiEntropyRun>& runs, v1::AntiEntropyResult* out) {
  for (const auto& r : runs) {
    auto* s = out->add_sessions();
    s->set_peer(r.peer);
    s->set_code(static_cast<uint32_t>(r.status.code()));
    s->set_message(r.status.message());
    s->set_session_id(r.session_id);
    s->set_need(r.need);
    s->set_have(r.have);
    s->set_keys_fetched(r.keys_fetched);
    s->set_keys_sent(r.keys_sent);
    s->set_peer_keys_fetched(r.peer_keys_fetched);
    s->set_ranges_compared(r.ranges_compared);
    s->set_bytes_sent(r.bytes_sent);
    s->set_bytes_received(r.bytes_received);
    s->set_duration_millis(r.duration_millis);
  }
}

Result<std::vector<replication::AntiEntropyRun>> DecodeAntiEntropyRuns(const v1::AntiEntropyResult& in) {
  std::vector<replication::AntiEntropyRun> out;
  out.reserve(static_cast<size_t>(in.sessions_size()));
  for (const auto& s : in.sessions()) {
    if (s.code() > static_cast<uint32_t>(StatusCode::kInternal)) {
      return Status::Corruption("anti-entropy session with peer '" + s.peer() + "' has unknown status code " +
                                std::to_string(s.code()));
    }
    replication::AntiEntropyRun r;
    r.peer = s.peer();
    r.status = s.code() == 0 ? Status::Ok() : Status(static_cast<StatusCode>(s.code()), s.message());
    r.session_id = s.session_id();
    r.need = s.need();
    r.have = s.have();
    r.keys_fetched = s.keys_fetched();
    r.keys_sent = s.keys_sent();
    r.peer_keys_fetched = s.peer_keys_fetched();
    r.ranges_compared = s.ranges_compared();
    r.bytes_sent = s.bytes_sent();
    r.bytes_received = s.bytes_received();
    r.duration_millis = s.duration_millis();
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace syncline::node
