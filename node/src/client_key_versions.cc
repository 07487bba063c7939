// Client-protocol handler of KeyVersionsRequest (see client_key_versions.h).
#include "client_key_versions.h"

#include <algorithm>

#include "client_codec.h"

namespace syncline::node {

void HandleKeyVersions(Node& node, const v1::KeyVersionsRequest& req, v1::Response* resp) {
  replication::KeyVersionQuery q;
  q.collection = req.collection();
  q.after_collection = req.after_collection();
  q.after_key = req.after_key();
  q.limit = req.limit() == 0 ? kDefaultKeyVersions : std::min(req.limit(), kMaxKeyVersions);
  q.max_bytes = kKeyVersionPageBytes;
  std::vector<replication::KeyVersion> versions;
  bool more = false;
  Status s = replication::ReadKeyVersions(node.replica(), q, &versions, &more);
  if (!s.ok()) {
    SetError(s.WithContext("reading key versions"), resp);
    return;
  }
  auto* out = resp->mutable_key_versions();
  for (const auto& v : versions) {
    auto* e = out->add_entries();
    e->set_collection(v.collection);
    e->set_key(v.key);
    e->set_digest(v.digest);
    e->set_context(v.context.Encode());
    e->set_tombstone(v.tombstone);
    e->set_siblings(v.siblings);
    e->set_value_hash(v.value_hash);
  }
  out->set_more(more);
}

Status DecodeKeyVersions(const v1::KeyVersionsResult& in, std::vector<replication::KeyVersion>* out) {
  for (const auto& e : in.entries()) {
    auto where = [&] { return "key version of '" + e.key() + "' in collection '" + e.collection() + "'"; };
    if (e.digest().size() != replication::kKeyDigestBytes || e.value_hash().size() != replication::kKeyDigestBytes) {
      return Status::Corruption(where() + " has a digest of " + std::to_string(e.digest().size()) +
                                " bytes or a value hash of " + std::to_string(e.value_hash().size()) +
                                " bytes (16 expected)");
    }
    auto context = DotContext::Decode(e.context());
    if (!context.ok()) return context.status().WithContext(where());
    replication::KeyVersion v;
    v.collection = e.collection();
    v.key = e.key();
    v.digest = e.digest();
    v.context = std::move(context).value();
    v.tombstone = e.tombstone();
    v.siblings = e.siblings();
    v.value_hash = e.value_hash();
    out->push_back(std::move(v));
  }
  return Status::Ok();
}

}  // namespace syncline::node
