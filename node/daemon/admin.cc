#include "admin.h"

#include <httplib.h>

#include <algorithm>
#include <cstdio>
#include <sstream>

#include "syncline/node/node.h"

namespace syncline::daemon {

namespace {

std::string Quote(std::string_view s) {
  std::string out = "\"";
  for (char ch : s) {
    switch (ch) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      default:
        if (static_cast<unsigned char>(ch) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", ch);
          out += buf;
        } else {
          out += ch;
        }
    }
  }
  return out + "\"";
}

std::string Label(std::string_view s) {
  std::string out;
  for (char ch : s) {
    if (ch == '"' || ch == '\\') out += '\\';
    if (ch == '\n') {
      out += "\\n";
      continue;
    }
    out += ch;
  }
  return out;
}

}  // namespace

std::string StatusJson(const NodeStatus& st) {
  std::ostringstream o;
  o << "{\"node_id\":" << Quote(st.node_id) << ",\"replica_id\":" << Quote(st.replica_id.ToString())
    << ",\"mode\":" << Quote(st.mode) << ",\"role\":" << Quote(st.role) << ",\"epoch\":" << st.epoch
    << ",\"leader\":" << Quote(st.leader) << ",\"leader_client\":" << Quote(st.leader_client)
    << ",\"behind_leader\":" << st.behind_leader << ",\"leader_connected\":" << (st.leader_connected ? "true" : "false")
    << ",\"pending_acks\":" << st.pending_acks << ",\"orphaned\":" << st.replica.orphaned
    << ",\"peer_address\":" << Quote(st.peer_address) << ",\"context\":" << Quote(st.context.ToString())
    << ",\"local_writes\":" << st.replica.local_writes << ",\"changes_applied\":" << st.replica.changes_applied
    << ",\"conflicts\":" << st.replica.conflicts << ",\"duplicates\":" << st.replica.duplicates
    << ",\"write_errors\":" << st.replica.write_errors << ",\"store_queue_depth\":" << st.store.queue_depth
    << ",\"peers\":[";
  for (size_t i = 0; i < st.peers.size(); ++i) {
    const auto& p = st.peers[i];
    if (i > 0) o << ",";
    o << "{\"node_id\":" << Quote(p.node_id) << ",\"address\":" << Quote(p.address)
      << ",\"subscribed\":" << (p.subscribed ? "true" : "false") << ",\"lag_changes\":" << p.lag_changes
      << ",\"lag_millis\":" << p.lag_millis << ",\"lag_bytes\":" << p.lag_bytes
      << ",\"acknowledged\":" << Quote(p.acknowledged.ToString()) << ",\"changes_sent\":" << p.stats.changes_sent
      << ",\"changes_received\":" << p.stats.changes_received << ",\"queued_bytes\":" << p.queued_bytes << "}";
  }
  o << "],\"feed\":{\"head\":" << st.feed.head << ",\"pruned_through\":" << st.feed.pruned_through
    << ",\"retain_entries\":" << st.feed.retain_entries << ",\"consumers\":[";
  for (size_t i = 0; i < st.feed_consumers.size(); ++i) {
    const auto& c = st.feed_consumers[i];
    o << (i > 0 ? "," : "") << "{\"name\":" << Quote(c.name) << ",\"cursor\":" << c.cursor << ",\"lag\":" << c.lag << "}";
  }
  o << "]}}";
  return o.str();
}

std::string MetricsText(const NodeStatus& st) {
  std::ostringstream o;
  auto counter = [&](const char* name, const char* help, uint64_t v) {
    o << "# HELP " << name << " " << help << "\n# TYPE " << name << " counter\n" << name << " " << v << "\n";
  };
  auto gauge = [&](const char* name, const char* help, uint64_t v) {
    o << "# HELP " << name << " " << help << "\n# TYPE " << name << " gauge\n" << name << " " << v << "\n";
  };
  counter("syncline_writes_total", "Local writes committed.", st.replica.local_writes);
  counter("syncline_merges_total", "Changes from peers merged.", st.replica.changes_applied);
  counter("syncline_conflicts_total", "Merges that settled a concurrency (journaled).", st.replica.conflicts);
  counter("syncline_duplicates_total", "Changes received that were already held.", st.replica.duplicates);
  o << "# HELP syncline_errors_total Errors by kind: failed writes, client requests answered with an error, "
       "client connections closed for garbage, remote timestamps beyond the drift bound.\n"
       "# TYPE syncline_errors_total counter\n"
    << "syncline_errors_total{kind=\"write\"} " << st.replica.write_errors << "\n"
    << "syncline_errors_total{kind=\"client_request\"} " << st.client_errors << "\n"
    << "syncline_errors_total{kind=\"client_bad_input\"} " << st.client_bad_input << "\n"
    << "syncline_errors_total{kind=\"hlc_refused\"} " << st.replica.hlc_refused << "\n";
  counter("syncline_client_requests_total", "Client requests received.", st.client_requests);
  gauge("syncline_store_queue_depth", "Writes waiting for the store's writer.", st.store.queue_depth);
  counter("syncline_store_groups_committed_total", "Store transactions committed.", st.store.groups_committed);
  gauge("syncline_peers_connected", "Peers connected.", st.peers.size());
  gauge("syncline_epoch", "The cluster epoch this node runs.", st.epoch);
  gauge("syncline_behind_leader_changes", "Followers: changes the leader holds that this node lacks.", st.behind_leader);
  gauge("syncline_pending_acks", "Writes waiting for followers' acknowledgements.", st.pending_acks);
  counter("syncline_orphaned_total", "Changes taken back after a promotion left them behind (journaled).", st.replica.orphaned);
  o << "# HELP syncline_peer_lag_changes Changes held here that the peer has not acknowledged.\n"
       "# TYPE syncline_peer_lag_changes gauge\n";
  for (const auto& p : st.peers) o << "syncline_peer_lag_changes{peer=\"" << Label(p.node_id) << "\"} " << p.lag_changes << "\n";
  o << "# HELP syncline_peer_lag_milliseconds Milliseconds since the peer last held everything held here.\n"
       "# TYPE syncline_peer_lag_milliseconds gauge\n";
  for (const auto& p : st.peers) o << "syncline_peer_lag_milliseconds{peer=\"" << Label(p.node_id) << "\"} " << p.lag_millis << "\n";
  o << "# HELP syncline_peer_lag_bytes Estimated bytes of the changes the peer lacks.\n"
       "# TYPE syncline_peer_lag_bytes gauge\n";
  for (const auto& p : st.peers) o << "syncline_peer_lag_bytes{peer=\"" << Label(p.node_id) << "\"} " << p.lag_bytes << "\n";
  o << "# HELP syncline_peer_sent_bytes_total Change bytes shipped to the peer.\n"
       "# TYPE syncline_peer_sent_bytes_total counter\n";
  for (const auto& p : st.peers) o << "syncline_peer_sent_bytes_total{peer=\"" << Label(p.node_id) << "\"} " << p.stats.payload_bytes_sent << "\n";
  o << "# HELP syncline_peer_queue_bytes Bytes waiting in the send queue to the peer.\n"
       "# TYPE syncline_peer_queue_bytes gauge\n";
  for (const auto& p : st.peers) o << "syncline_peer_queue_bytes{peer=\"" << Label(p.node_id) << "\"} " << p.queued_bytes << "\n";
  o << "# HELP syncline_peer_rewinds_total Publisher resends after acknowledgements stopped.\n"
       "# TYPE syncline_peer_rewinds_total counter\n";
  for (const auto& p : st.peers) o << "syncline_peer_rewinds_total{peer=\"" << Label(p.node_id) << "\"} " << p.stats.rewinds << "\n";
  gauge("syncline_feed_head", "Newest sequence number of the change feed.", st.feed.head);
  gauge("syncline_feed_retained_entries", "Change-feed entries kept (head minus pruned-through).",
        st.feed.head - std::min(st.feed.head, st.feed.pruned_through));
  o << "# HELP syncline_feed_consumer_lag Change-feed entries a registered consumer has not processed.\n"
       "# TYPE syncline_feed_consumer_lag gauge\n";
  for (const auto& c : st.feed_consumers) o << "syncline_feed_consumer_lag{consumer=\"" << Label(c.name) << "\"} " << c.lag << "\n";
  return o.str();
}

void InstallAdminRoutes(httplib::Server* server, Node* node) {
  server->Get("/healthz", [](const httplib::Request&, httplib::Response& res) { res.set_content("ok\n", "text/plain"); });
  server->Get("/status", [node](const httplib::Request&, httplib::Response& res) {
    res.set_content(StatusJson(node->GetStatus()) + "\n", "application/json");
  });
  server->Get("/metrics", [node](const httplib::Request&, httplib::Response& res) {
    res.set_content(MetricsText(node->GetStatus()), "text/plain; version=0.0.4");
  });
}

}  // namespace syncline::daemon
