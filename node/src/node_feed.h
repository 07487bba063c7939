// The change-feed parts of Node (node_feed.cc), used by node.cc. Private to the node module.
#ifndef SYNCLINE_NODE_SRC_NODE_FEED_H_
#define SYNCLINE_NODE_SRC_NODE_FEED_H_

#include "syncline/core/store.h"
#include "syncline/node/node.h"

namespace syncline::node {

// Stores the feed retention of `options` (and prunes to it). Run once by Node::Open.
Status ConfigureFeed(core::Store& store, const NodeOptions& options);
// Fills the feed fields of `status`; a read error leaves them empty (status never fails).
void FillFeedStatus(core::Store& store, NodeStatus* status);

}  // namespace syncline::node

#endif  // SYNCLINE_NODE_SRC_NODE_FEED_H_
