#include "syncline/replication/handshake.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <algorithm>

#include "syncline/replication/v1/handshake.pb.h"

namespace syncline::replication {

namespace {

constexpr size_t kNonceBytes = 32;
constexpr size_t kMaxReasonBytes = 512;
constexpr size_t kMaxIdBytes = 64;

void AppendLengthPrefixed(std::string* out, std::string_view s) {
  uint32_t n = static_cast<uint32_t>(s.size());
  for (int i = 0; i < 4; ++i) out->push_back(static_cast<char>(n >> (8 * i)));
  out->append(s);
}

}  // namespace

Handshake::Handshake(HandshakeConfig config, int64_t now_millis, std::function<void(uint8_t*, size_t)> random,
                     std::function<Status(const PeerInfo&)> admit)
    : config_(std::move(config)), started_(now_millis), admit_(std::move(admit)) {
  nonce_.resize(kNonceBytes);
  auto* bytes = reinterpret_cast<uint8_t*>(nonce_.data());
  if (random) {
    random(bytes, kNonceBytes);
  } else if (RAND_bytes(bytes, static_cast<int>(kNonceBytes)) != 1) {
    // No randomness: fail every later step rather than use a predictable nonce.
    failed_ = Status::Internal("the system's random generator failed; cannot make a handshake nonce");
  }
}

std::string Handshake::Mac(const std::string& sender_node_id, const std::string& receiver_nonce,
                           const std::string& sender_nonce) const {
  std::string msg = "syncline-v1 proof";
  AppendLengthPrefixed(&msg, sender_node_id);
  AppendLengthPrefixed(&msg, receiver_nonce);
  AppendLengthPrefixed(&msg, sender_nonce);
  AppendLengthPrefixed(&msg, config_.cluster_id);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), config_.secret.data(), static_cast<int>(config_.secret.size()),
       reinterpret_cast<const unsigned char*>(msg.data()), msg.size(), mac, &len);
  return std::string(reinterpret_cast<char*>(mac), len);
}

void Handshake::Start(std::string* out) {
  v1::Hello hello;
  hello.set_major(kProtocolMajor);
  hello.set_minor(kProtocolMinor);
  hello.set_cluster_id(config_.cluster_id);
  hello.set_node_id(config_.node_id);
  hello.set_replica_id(config_.replica_id.value());
  hello.set_mode(config_.mode);
  hello.set_epoch(config_.epoch);
  hello.set_advertised_address(config_.advertised_address);
  hello.set_nonce(nonce_);
  AppendFrame(MessageType::kHello, hello.SerializeAsString(), out);
}

Status Handshake::Refuse(int code, const std::string& reason, std::string* out) {
  v1::Refuse refuse;
  refuse.set_code(static_cast<v1::Refuse::Code>(code));
  refuse.set_reason(reason.substr(0, kMaxReasonBytes));
  AppendFrame(MessageType::kRefuse, refuse.SerializeAsString(), out);
  failed_ = Status::FailedPrecondition("refused peer" + (have_peer_ ? " '" + peer_.node_id + "'" : std::string()) + ": " + reason);
  return failed_;
}

Status Handshake::OnFrame(const Frame& frame, std::string* out) {
  if (!failed_.ok()) return failed_;
  if (frame.payload.size() > kMaxHandshakeMessageBytes) {
    return Refuse(v1::Refuse::PROTOCOL_VIOLATION,
                  "handshake message of " + std::to_string(frame.payload.size()) + " bytes is too large", out);
  }
  switch (frame.type) {
    case MessageType::kHello: {
      if (have_peer_) return Refuse(v1::Refuse::PROTOCOL_VIOLATION, "a second Hello", out);
      v1::Hello hello;
      if (!hello.ParseFromString(frame.payload)) return Refuse(v1::Refuse::PROTOCOL_VIOLATION, "Hello does not parse", out);
      peer_.node_id = hello.node_id();
      peer_.replica_id = ReplicaId(hello.replica_id());
      peer_.mode = hello.mode();
      peer_.epoch = hello.epoch();
      peer_.major = hello.major();
      peer_.minor = std::min(hello.minor(), kProtocolMinor);
      peer_.advertised_address = hello.advertised_address();
      have_peer_ = true;
      if (hello.node_id().empty() || hello.node_id().size() > kMaxIdBytes || hello.cluster_id().size() > kMaxIdBytes ||
          hello.mode().size() > kMaxIdBytes || hello.advertised_address().size() > 256) {
        return Refuse(v1::Refuse::PROTOCOL_VIOLATION, "Hello has a field out of bounds", out);
      }
      if (hello.nonce().size() != kNonceBytes) {
        return Refuse(v1::Refuse::PROTOCOL_VIOLATION, "Hello nonce must be 32 bytes", out);
      }
      if (hello.major() != kProtocolMajor) {
        return Refuse(v1::Refuse::VERSION_MISMATCH,
                      "protocol version " + std::to_string(hello.major()) + "." + std::to_string(hello.minor()) +
                          " is not compatible with ours (" + std::to_string(kProtocolMajor) + "." +
                          std::to_string(kProtocolMinor) + ")",
                      out);
      }
      if (hello.cluster_id() != config_.cluster_id) {
        return Refuse(v1::Refuse::CLUSTER_MISMATCH,
                      "cluster id mismatch: we are '" + config_.cluster_id + "', peer says '" + hello.cluster_id() + "'", out);
      }
      if (hello.node_id() == config_.node_id) {
        return Refuse(v1::Refuse::SAME_NODE, "peer has our own node id '" + config_.node_id + "'", out);
      }
      if (hello.nonce() == nonce_) return Refuse(v1::Refuse::PROTOCOL_VIOLATION, "peer echoed our nonce", out);
      peer_nonce_ = hello.nonce();
      peer_.local_nonce = nonce_;
      peer_.peer_nonce = peer_nonce_;
      v1::Proof proof;
      proof.set_mac(Mac(config_.node_id, peer_nonce_, nonce_));
      AppendFrame(MessageType::kProof, proof.SerializeAsString(), out);
      sent_proof_ = true;
      return Status::Ok();
    }
    case MessageType::kProof: {
      if (!have_peer_ || !sent_proof_) return Refuse(v1::Refuse::PROTOCOL_VIOLATION, "Proof before Hello", out);
      if (done_) return Refuse(v1::Refuse::PROTOCOL_VIOLATION, "a second Proof", out);
      v1::Proof proof;
      if (!proof.ParseFromString(frame.payload)) return Refuse(v1::Refuse::PROTOCOL_VIOLATION, "Proof does not parse", out);
      std::string expected = Mac(peer_.node_id, nonce_, peer_nonce_);
      if (proof.mac().size() != expected.size() ||
          CRYPTO_memcmp(proof.mac().data(), expected.data(), expected.size()) != 0) {
        return Refuse(v1::Refuse::AUTHENTICATION_FAILED, "authentication failed (the cluster secrets differ)", out);
      }
      if (admit_) {
        Status s = admit_(peer_);
        if (!s.ok()) return Refuse(v1::Refuse::DUPLICATE_NODE, s.message(), out);
      }
      done_ = true;
      return Status::Ok();
    }
    case MessageType::kRefuse: {
      v1::Refuse refuse;
      std::string reason = refuse.ParseFromString(frame.payload) ? refuse.reason().substr(0, kMaxReasonBytes)
                                                                 : std::string("(unparseable refusal)");
      failed_ = Status::Unavailable("peer" + (have_peer_ ? " '" + peer_.node_id + "'" : std::string()) +
                                    " refused us: " + reason);
      return failed_;
    }
    default:
      return Refuse(v1::Refuse::PROTOCOL_VIOLATION,
                    "message type " + std::to_string(static_cast<int>(frame.type)) + " before the handshake completed",
                    out);
  }
}

Status Handshake::OnTick(int64_t now_millis) {
  if (!failed_.ok()) return failed_;
  if (!done_ && now_millis - started_ >= config_.timeout_millis) {
    failed_ = Status::DeadlineExceeded("handshake did not complete within " + std::to_string(config_.timeout_millis) + " ms");
    return failed_;
  }
  return Status::Ok();
}

}  // namespace syncline::replication
