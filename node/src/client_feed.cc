// Client-protocol handlers of the change feed (see client_feed.h, docs/change-feed.md).
#include "client_feed.h"

#include <algorithm>

#include "client_codec.h"

namespace syncline::node {

namespace {
constexpr size_t kDefaultFeedEntries = 1000;
}  // namespace

void EncodeFeedBatch(const FeedBatch& in, v1::FeedResult* out) {
  out->set_after(in.after);
  out->set_head(in.head);
  out->set_pruned_through(in.pruned_through);
  for (const FeedChange& c : in.changes) {
    auto* e = out->add_changes();
    e->set_seq(c.seq);
    e->set_collection(c.collection);
    e->set_key(c.key);
    e->set_origin(c.dot.replica.value());
    e->set_counter(c.dot.counter);
    e->set_hlc(c.hlc.Pack());
    e->set_resolver(c.resolver);
    e->set_delta(c.delta);
    e->set_rendered(c.rendered);
    e->set_local(c.local);
    e->set_state(c.state);
    e->set_dropped(c.dropped);
  }
}

FeedBatch DecodeFeedBatch(const v1::FeedResult& in) {
  FeedBatch out;
  out.after = in.after();
  out.head = in.head();
  out.pruned_through = in.pruned_through();
  for (const auto& e : in.changes()) {
    FeedChange c;
    c.seq = e.seq();
    c.collection = e.collection();
    c.key = e.key();
    c.dot = Dot{ReplicaId(e.origin()), e.counter()};
    c.hlc = HlcTimestamp::Unpack(e.hlc());
    c.resolver = e.resolver();
    c.delta = e.delta();
    c.rendered = e.rendered();
    c.local = e.local();
    c.state = e.state();
    c.dropped = e.dropped();
    out.changes.push_back(std::move(c));
  }
  return out;
}

void HandleFeed(Node& node, const v1::FeedRequest& req, v1::Response* resp) {
  size_t max = req.max_entries() == 0 ? kDefaultFeedEntries : std::min<size_t>(req.max_entries(), kMaxFeedReadEntries);
  Result<FeedBatch> batch = Status::Internal("unreachable");
  if (!req.cursor().empty()) {
    batch = node.ReadFeedFor(req.cursor(), max);
  } else if (req.from_oldest()) {
    auto oldest = [&node]() -> Result<uint64_t> {
      core::FeedBounds b;
      SYNCLINE_RETURN_IF_ERROR(node.store().Read([&b](core::ReadView& view) -> Status {
        SYNCLINE_ASSIGN_OR_RETURN(b, core::GetFeedBounds(view));
        return Status::Ok();
      }));
      return b.pruned_through;
    };
    // Retention may prune between the two reads; then start again from the new oldest.
    for (int attempt = 0; attempt < 2; ++attempt) {
      Result<uint64_t> after = oldest();
      batch = after.ok() ? node.ReadFeed(*after, max) : Result<FeedBatch>(after.status());
      if (batch.ok() || batch.status().code() != StatusCode::kFailedPrecondition) break;
    }
  } else {
    batch = node.ReadFeed(req.after(), max);
  }
  if (!batch.ok()) {
    SetError(batch.status(), resp);
    return;
  }
  EncodeFeedBatch(*batch, resp->mutable_feed());
}

void HandleCommitCursor(Node& node, const v1::CommitCursorRequest& req, v1::Response* resp) {
  Status s = req.remove() ? node.RemoveFeedConsumer(req.name()) : node.CommitFeedCursor(req.name(), req.seq());
  if (!s.ok()) SetError(s, resp);
}

}  // namespace syncline::node
