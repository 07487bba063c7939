// Handshake: the I/O-free engine that authenticates a peer connection before anything else
// (docs/protocol-v1.md, "Handshake").
//
// The protocol is symmetric. Each side sends Hello (versions, cluster id, node id, replica id,
// mode, epoch, advertised address and a fresh 32-byte nonce). On the peer's Hello each side checks
// the cluster id, the major version and that the peer is not itself, then sends Proof: an
// HMAC-SHA256 under the shared cluster secret over its own node id, both nonces (the peer's first)
// and the cluster id. The secret never travels; a proof is bound to both nonces and to its sender,
// so it can be neither replayed on another connection nor reflected back. On the peer's Proof each
// side verifies it in constant time and asks `admit` (the transport refuses a node id that is
// already connected). A refusal sends Refuse with a code and a reason, so both sides log why.
//
// Thread-safety: not thread-safe; one connection's thread drives it.
#ifndef SYNCLINE_REPLICATION_HANDSHAKE_H_
#define SYNCLINE_REPLICATION_HANDSHAKE_H_

#include <cstdint>
#include <functional>
#include <string>

#include "syncline/core/ids.h"
#include "syncline/core/status.h"
#include "syncline/replication/frame.h"

namespace syncline::replication {

inline constexpr uint32_t kProtocolMajor = 1;
// 1.1 added the anti-entropy frames (types 64 to 67), sent only to peers that negotiated 1.1.
inline constexpr uint32_t kProtocolMinor = 1;
inline constexpr uint32_t kAntiEntropyMinMinor = 1;
inline constexpr size_t kMaxHandshakeMessageBytes = 4096;

struct HandshakeConfig {
  std::string cluster_id;          // 1..64 bytes
  std::string node_id;             // 1..64 bytes, the stable name of this node
  ReplicaId replica_id;            // this node's store replica id
  std::string mode;                // "multi-leader" or "leader-follower"
  uint64_t epoch = 0;
  std::string secret;              // the shared cluster secret (never sent)
  std::string advertised_address;  // host:port peers and clients can reach us on (may be empty)
  int64_t timeout_millis = 5000;
};

struct PeerInfo {
  std::string node_id;
  ReplicaId replica_id;
  std::string mode;
  uint64_t epoch = 0;
  uint32_t major = 0;
  uint32_t minor = 0;  // negotiated: the lower of both sides' minor versions
  std::string advertised_address;
  // Both Hello nonces of this connection (32 bytes each), kept for keys derived per connection
  // (anti-entropy session keys, anti_entropy.h). Not secret: both travelled in the clear.
  std::string local_nonce;
  std::string peer_nonce;
};

class Handshake {
 public:
  // `random` fills nonces (default: OpenSSL's RAND_bytes). `admit` is asked once the peer proved
  // itself; a non-OK status refuses the peer with that reason.
  Handshake(HandshakeConfig config, int64_t now_millis, std::function<void(uint8_t*, size_t)> random = {},
            std::function<Status(const PeerInfo&)> admit = {});

  // Appends our Hello to *out.
  void Start(std::string* out);
  // Handles one received frame, appending frames to send to *out. A non-OK status ends the
  // handshake: PermissionDenied-like FailedPrecondition when we refuse the peer (a Refuse frame is
  // appended first), Unavailable with the peer's reason when it refused us, Corruption for a
  // message that does not decode.
  Status OnFrame(const Frame& frame, std::string* out);
  // DeadlineExceeded once timeout_millis passed without completing.
  Status OnTick(int64_t now_millis);

  bool done() const { return done_; }
  bool hello_received() const { return have_peer_; }
  const PeerInfo& peer() const { return peer_; }

 private:
  Status Refuse(int code, const std::string& reason, std::string* out);
  std::string Mac(const std::string& sender_node_id, const std::string& receiver_nonce,
                  const std::string& sender_nonce) const;

  HandshakeConfig config_;
  int64_t started_;
  std::function<Status(const PeerInfo&)> admit_;
  std::string nonce_;
  std::string peer_nonce_;
  PeerInfo peer_;
  bool have_peer_ = false;
  bool sent_proof_ = false;
  bool done_ = false;
  Status failed_;
};

}  // namespace syncline::replication

#endif  // SYNCLINE_REPLICATION_HANDSHAKE_H_
