// Conversions between the client protocol's messages (syncline.node.v1) and the library's types,
// shared by the client and the server. Private to the node module.
#ifndef SYNCLINE_NODE_SRC_CLIENT_CODEC_H_
#define SYNCLINE_NODE_SRC_CLIENT_CODEC_H_

#include <string>
#include <utility>

#include "syncline/node/client.h"
#include "syncline/node/node.h"
#include "syncline/node/v1/client.pb.h"

namespace syncline::node {

// "host:port" -> (host, port). InvalidArgument naming the address when malformed.
Result<std::pair<std::string, uint16_t>> SplitHostPort(const std::string& address);

void EncodeWrite(const std::string& collection, const std::string& key, const replication::WriteOp& op,
                 v1::Write* out);
// InvalidArgument for an unknown kind or a bad token.
Result<replication::WriteOp> DecodeWriteOp(const v1::Write& in);

void EncodeReadResult(const replication::ReadResult& in, v1::ReadResult* out);
Result<replication::ReadResult> DecodeReadResult(const v1::ReadResult& in);

void EncodeStatus(const NodeStatus& in, const std::map<std::string, std::string>& collections,
                  const std::string& client_address, v1::NodeStatus* out);
RemoteStatus DecodeStatus(const v1::NodeStatus& in);

void SetError(const Status& s, v1::Response* out);
Status ResponseStatus(const v1::Response& resp);

}  // namespace syncline::node

#endif  // SYNCLINE_NODE_SRC_CLIENT_CODEC_H_
