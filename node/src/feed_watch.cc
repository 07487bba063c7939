// WatchFeed: follows a node's change feed over the client protocol (see client.h).
#include <chrono>
#include <thread>

#include "syncline/node/client.h"

namespace syncline {

Status WatchFeed(Client& client, const WatchOptions& options, const std::function<bool(const FeedChange&)>& visit) {
  FeedQuery q;
  q.max_entries = options.batch_entries;
  if (!options.cursor.empty()) {
    q.cursor = options.cursor;
    // A new consumer is registered where the caller asked to start.
    FeedQuery probe = q;
    probe.max_entries = 1;
    auto first = client.ReadFeed(probe);
    if (!first.ok() && first.status().code() == StatusCode::kNotFound) {
      uint64_t start = options.after;
      if (options.from_oldest) {
        auto st = client.GetStatus();
        SYNCLINE_RETURN_IF_ERROR(st.status());
        start = st->feed_pruned_through;
      }
      SYNCLINE_RETURN_IF_ERROR(client.CommitFeedCursor(options.cursor, start));
    } else if (!first.ok()) {
      return first.status();
    }
  } else if (options.from_oldest) {
    q.from_oldest = true;
  } else {
    q.after = options.after;
  }
  uint64_t seen = 0;
  while (true) {
    SYNCLINE_ASSIGN_OR_RETURN(FeedBatch batch, client.ReadFeed(q));
    for (const FeedChange& c : batch.changes) {
      bool more = visit(c);
      ++seen;
      if (!more || (options.limit != 0 && seen >= options.limit)) {
        if (!options.cursor.empty()) return client.CommitFeedCursor(options.cursor, c.seq);
        return Status::Ok();
      }
    }
    if (!options.cursor.empty() && !batch.changes.empty()) {
      SYNCLINE_RETURN_IF_ERROR(client.CommitFeedCursor(options.cursor, batch.next()));
    }
    if (q.cursor.empty()) {
      q.from_oldest = false;
      q.after = batch.next();
    }
    if (batch.changes.empty()) {
      if (!options.follow) return Status::Ok();
      std::this_thread::sleep_for(std::chrono::milliseconds(options.poll_millis));
    }
  }
}

}  // namespace syncline
