// Node: the change feed, its consumer cursors and the transactional outbox (see node.h and
// syncline/node/feed.h).
#include "node_feed.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>

#include "syncline/core/feed.h"
#include "syncline/replication/leader_follower.h"
#include "syncline/replication/replica.h"

namespace syncline {

namespace {

// Most bytes of changes one feed read gathers (at least one change is always returned).
constexpr size_t kFeedReadMaxBytes = size_t{4} << 20;

Result<FeedBatch> ReadBatch(core::Store& store, const replication::Replica& replica, bool by_cursor,
                            std::string_view name, uint64_t after, size_t max_entries) {
  FeedBatch batch;
  std::vector<core::FeedEntry> entries;
  Status s = store.Read([&](core::ReadView& view) -> Status {
    if (by_cursor) {
      SYNCLINE_ASSIGN_OR_RETURN(after, core::GetFeedCursor(view, name));
    }
    SYNCLINE_ASSIGN_OR_RETURN(core::FeedBounds b, core::GetFeedBounds(view));
    batch.head = b.head;
    batch.pruned_through = b.pruned_through;
    batch.after = after;
    return core::ReadFeed(view, after, std::min(max_entries, kMaxFeedReadEntries), kFeedReadMaxBytes, &entries);
  });
  if (!s.ok()) {
    return by_cursor ? s.WithContext("reading the change feed for consumer '" + std::string(name) + "'")
                     : s.WithContext("reading the change feed after " + std::to_string(after));
  }
  for (core::FeedEntry& e : entries) {
    FeedChange c;
    c.seq = e.seq;
    c.collection = std::move(e.change.collection);
    c.key = std::move(e.change.key);
    c.dot = e.change.dot;
    c.hlc = e.change.hlc;
    c.resolver = std::move(e.change.resolver);
    bool uncopied = e.change.kind == core::kFeedUncopiedStateKind;
    c.state = e.change.kind == core::kFeedStateKind || uncopied;
    c.dropped = e.change.kind == core::kFeedStateKind && e.change.payload.empty();
    c.local = !c.state && c.dot.replica == replica.id();
    c.delta = std::move(e.change.payload);
    auto impl = replica.registry().Find(c.resolver);
    if (e.change.kind == replication::kVoidChangeKind) {
      c.rendered = "<void>";  // a change a promotion took back (leader_follower.h)
    } else if (uncopied) {
      c.rendered = "<state not copied: read the key>";
    } else if (c.dropped) {
      c.rendered = "<dropped>";
    } else if (!impl.ok()) {
      c.rendered = "<resolver '" + c.resolver + "' unknown here>";
    } else {
      auto r = (*impl)->Render(c.delta);
      c.rendered = r.ok() ? std::move(r).value() : "<delta does not render: " + r.status().message() + ">";
    }
    batch.changes.push_back(std::move(c));
  }
  return batch;
}

}  // namespace

namespace node {

Status ConfigureFeed(core::Store& store, const NodeOptions& options) {
  uint64_t retain = options.feed_retain_entries;
  return store.WriteAndWait([retain](core::WriteTxn& txn) -> Status {
    SYNCLINE_ASSIGN_OR_RETURN(core::FeedBounds b, core::GetFeedBounds(txn));
    if (b.retain_entries == retain) return Status::Ok();
    return core::SetFeedRetention(txn, retain);
  });
}

void FillFeedStatus(core::Store& store, NodeStatus* status) {
  core::FeedBounds bounds;
  std::vector<core::FeedConsumer> consumers;
  Status s = store.Read([&](core::ReadView& view) -> Status {
    SYNCLINE_ASSIGN_OR_RETURN(bounds, core::GetFeedBounds(view));
    SYNCLINE_ASSIGN_OR_RETURN(consumers, core::ListFeedConsumers(view));
    return Status::Ok();
  });
  if (!s.ok()) return;
  status->feed = bounds;
  status->feed_consumers = std::move(consumers);
}

}  // namespace node

struct Node::FeedSignal {
  std::mutex mu;
  std::condition_variable cv;
  uint64_t commits = 0;  // bumped by the listener after every commit
};

Result<FeedBatch> Node::WaitFeed(uint64_t after, size_t max_entries, int64_t timeout_millis) {
  if (!store_) return Status::Unavailable("node '" + options_.node_id + "' is stopped");
  std::call_once(feed_signal_once_, [this] {
    feed_signal_ = std::make_shared<FeedSignal>();
    replica_->AddCommitListener([signal = feed_signal_] {
      {
        std::lock_guard<std::mutex> lock(signal->mu);
        ++signal->commits;
      }
      signal->cv.notify_all();
    });
  });
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(std::max<int64_t>(timeout_millis, 0));
  while (true) {
    uint64_t seen;
    {
      std::lock_guard<std::mutex> lock(feed_signal_->mu);
      seen = feed_signal_->commits;
    }
    // A commit after `seen` was read is not missed: it changes the count the wait checks.
    Result<FeedBatch> batch = ReadFeed(after, max_entries);
    if (!batch.ok() || !batch->changes.empty()) return batch;
    std::unique_lock<std::mutex> lock(feed_signal_->mu);
    if (!feed_signal_->cv.wait_until(lock, deadline, [&] { return feed_signal_->commits != seen; })) return batch;
  }
}

uint64_t Node::AddFeedListener(std::function<void()> listener) {
  if (!replica_) return 0;
  return replica_->AddCommitListener(std::move(listener));
}

void Node::RemoveFeedListener(uint64_t id) {
  if (replica_) replica_->RemoveCommitListener(id);
}

Result<FeedBatch> Node::ReadFeed(uint64_t after, size_t max_entries) {
  if (!store_) return Status::Unavailable("node '" + options_.node_id + "' is stopped");
  return ReadBatch(*store_, *replica_, false, "", after, max_entries);
}

Result<FeedBatch> Node::ReadFeedFor(std::string_view name, size_t max_entries) {
  if (!store_) return Status::Unavailable("node '" + options_.node_id + "' is stopped");
  return ReadBatch(*store_, *replica_, true, name, 0, max_entries);
}

Status Node::CommitFeedCursor(std::string_view name, uint64_t seq) {
  if (!store_) return Status::Unavailable("node '" + options_.node_id + "' is stopped");
  std::string n(name);
  return store_->WriteAndWait([n, seq](core::WriteTxn& txn) { return core::SetFeedCursor(txn, n, seq); });
}

Status Node::RemoveFeedConsumer(std::string_view name) {
  if (!store_) return Status::Unavailable("node '" + options_.node_id + "' is stopped");
  std::string n(name);
  return store_->WriteAndWait([n](core::WriteTxn& txn) { return core::RemoveFeedCursor(txn, n); });
}

Result<uint64_t> Node::FeedSourcePosition(std::string_view name) {
  if (!store_) return Status::Unavailable("node '" + options_.node_id + "' is stopped");
  uint64_t pos = 0;
  SYNCLINE_RETURN_IF_ERROR(store_->Read([&](core::ReadView& view) -> Status {
    SYNCLINE_ASSIGN_OR_RETURN(pos, core::GetSourcePosition(view, name));
    return Status::Ok();
  }));
  return pos;
}

Result<std::vector<replication::WriteResult>> Node::WriteWithCursor(std::vector<replication::KeyedWrite> writes,
                                                                    FeedCommit commit) {
  if (!store_) return Status::Unavailable("node '" + options_.node_id + "' is stopped");
  SYNCLINE_RETURN_IF_ERROR(core::ValidateFeedName(commit.name));
  if (commit.to < commit.from) {
    return Status::InvalidArgument("feed position '" + commit.name + "' cannot move from " +
                                   std::to_string(commit.from) + " back to " + std::to_string(commit.to));
  }
  // Writes follow the epoch rules (a follower redirects to the leader); a batch that only moves
  // the position writes nothing replicated and is allowed anywhere. The outbox acknowledges
  // locally: a projection's writes are its own service's, not the cluster's.
  if (!writes.empty() && leadership_) SYNCLINE_RETURN_IF_ERROR(leadership_->CheckWrite());
  auto also = [commit](core::WriteTxn& txn) -> Status {
    if (commit.kind == FeedCommit::Kind::kSource) {
      return core::AdvanceSourcePosition(txn, commit.name, commit.from, commit.to);
    }
    // A consumer of this node's own feed: the same compare-and-set on its registered cursor.
    SYNCLINE_ASSIGN_OR_RETURN(uint64_t cur, core::GetFeedCursor(txn, commit.name));
    if (cur != commit.from) {
      return Status::FailedPrecondition("feed consumer '" + commit.name + "' is at " + std::to_string(cur) +
                                        ", not at " + std::to_string(commit.from) +
                                        "; these entries were applied already (or a batch was skipped)");
    }
    return core::SetFeedCursor(txn, commit.name, commit.to);
  };
  return replica_->WriteBatchAndWait(std::move(writes), std::move(also));
}

}  // namespace syncline
