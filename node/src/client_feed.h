// Client-protocol handlers of the change feed (FeedRequest, CommitCursorRequest) and the codec of
// its messages, shared by the server and the client. Private to the node module.
#ifndef SYNCLINE_NODE_SRC_CLIENT_FEED_H_
#define SYNCLINE_NODE_SRC_CLIENT_FEED_H_

#include "syncline/node/feed.h"
#include "syncline/node/node.h"
#include "syncline/node/v1/client.pb.h"

namespace syncline::node {

// Answers `req` into `resp` (an error sets its code and message).
void HandleFeed(Node& node, const v1::FeedRequest& req, v1::Response* resp);
void HandleCommitCursor(Node& node, const v1::CommitCursorRequest& req, v1::Response* resp);

void EncodeFeedBatch(const FeedBatch& in, v1::FeedResult* out);
FeedBatch DecodeFeedBatch(const v1::FeedResult& in);

}  // namespace syncline::node

#endif  // SYNCLINE_NODE_SRC_CLIENT_FEED_H_
