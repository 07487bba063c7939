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

std::string BootstrapJson(const replication::BootstrapStatus& b) {
  std::ostringstream o;
  o << "{\"installing\":" << (b.installing ? "true" : "false") << ",\"transferring\":"
    << (b.transferring ? "true" : "false") << ",\"source\":" << Quote(b.source)
    << ",\"keys_installed\":" << b.keys_installed << ",\"bytes_installed\":" << b.bytes_installed
    << ",\"chunks_installed\":" << b.chunks_installed << ",\"transfers\":" << b.transfers
    << ",\"corrupt_chunks\":" << b.corrupt_chunks << ",\"voided_chunks\":" << b.voided_chunks << ",\"deferred\":" << b.deferred << ",\"refusals\":" << b.refusals
    << ",\"install_errors\":" << b.install_errors << ",\"completed\":" << b.completed << "}";
  return o.str();
}

std::string RetentionJson(const replication::RetentionStatus& r) {
  std::ostringstream o;
  o << "{\"interval_ms\":" << r.options.interval_millis << ",\"log_segment_changes\":" << r.options.log_segment_changes
    << ",\"max_changes_per_origin\":" << r.options.max_changes_per_origin
    << ",\"horizon\":" << (r.have_horizon ? Quote(r.horizon.ToString()) : std::string("null"))
    << ",\"floor\":" << Quote(r.log.floor.ToString()) << ",\"runs\":" << r.runs
    << ",\"truncated_total\":" << r.truncated_total << ",\"segments_dropped_total\":" << r.segments_dropped_total
    << ",\"held_by_feed\":" << r.log.held_by_feed
    << ",\"last_error\":" << Quote(r.last_error) << ",\"log\":[";
  for (size_t i = 0; i < r.log.origins.size(); ++i) {
    const auto& b = r.log.origins[i];
    o << (i > 0 ? "," : "") << "{\"origin\":" << Quote(b.origin.ToString()) << ",\"low\":" << b.low
      << ",\"high\":" << b.high << ",\"floor\":" << b.floor << "}";
  }
  o << "]}";
  return o.str();
}

std::string GcJson(const replication::GcStatus& g, const replication::ReplicaStats& r) {
  std::ostringstream o;
  o << "{\"horizon\":" << (g.have_horizon ? Quote(g.horizon.ToString()) : std::string("null"))
    << ",\"running\":" << (g.running ? "true" : "false") << ",\"passes\":" << g.passes << ",\"txns\":" << g.txns
    << ",\"scanned_total\":" << g.scanned_total << ",\"removed_total\":" << g.removed_total
    << ",\"dropped_total\":" << g.dropped_total << ",\"stale_states_skipped\":" << r.stale_states_skipped
    << ",\"stale_keys_dropped\":" << r.stale_keys_dropped << ",\"fenced_total\":" << g.fenced_total
    << ",\"held_back\":" << Quote(g.held_back) << ",\"last_error\":" << Quote(g.last_error) << ",\"fenced\":[";
  size_t i = 0;
  for (const auto& [peer, since] : g.fenced) {
    o << (i++ > 0 ? "," : "") << "{\"peer\":" << Quote(peer) << ",\"since_unix_millis\":" << since << "}";
  }
  o << "],\"last_heard_unix_millis\":{";
  i = 0;
  for (const auto& [peer, when] : g.last_heard) o << (i++ > 0 ? "," : "") << Quote(peer) << ":" << when;
  o << "}}";
  return o.str();
}

std::string AntiEntropyJson(const replication::AntiEntropyPeerStatus& a) {
  std::ostringstream o;
  o << "{\"peer\":" << Quote(a.node_id) << ",\"active\":" << (a.active ? "true" : "false")
    << ",\"sessions_started\":" << a.sessions_started << ",\"sessions_completed\":" << a.sessions_completed
    << ",\"sessions_failed\":" << a.sessions_failed << ",\"ranges_compared\":" << a.ranges_compared
    << ",\"keys_fetched\":" << a.keys_fetched << ",\"keys_sent\":" << a.keys_sent << ",\"bytes_sent\":" << a.bytes_sent
    << ",\"bytes_received\":" << a.bytes_received << ",\"bad_frames\":" << a.bad_frames
    << ",\"last_session_unix_millis\":" << a.last_session_unix_millis
    << ",\"last_duration_millis\":" << a.last_duration_millis << ",\"last_need\":" << a.last_need
    << ",\"last_have\":" << a.last_have << ",\"divergence\":" << a.divergence
    << ",\"last_error\":" << Quote(a.last_error) << "}";
  return o.str();
}

std::string AntiEntropyRunsJson(const Result<std::vector<replication::AntiEntropyRun>>& runs) {
  std::ostringstream o;
  if (!runs.ok()) {
    o << "{\"ok\":false,\"error\":" << Quote(runs.status().ToString()) << "}";
    return o.str();
  }
  bool all_ok = true;
  for (const auto& r : *runs) all_ok = all_ok && r.status.ok();
  o << "{\"ok\":" << (all_ok ? "true" : "false") << ",\"sessions\":[";
  for (size_t i = 0; i < runs->size(); ++i) {
    const auto& r = (*runs)[i];
    o << (i > 0 ? "," : "") << "{\"peer\":" << Quote(r.peer) << ",\"ok\":" << (r.status.ok() ? "true" : "false")
      << ",\"error\":" << Quote(r.status.ok() ? std::string() : r.status.ToString()) << ",\"session_id\":" << r.session_id
      << ",\"need\":" << r.need << ",\"have\":" << r.have << ",\"keys_fetched\":" << r.keys_fetched
      << ",\"keys_sent\":" << r.keys_sent << ",\"peer_keys_fetched\":" << r.peer_keys_fetched
      << ",\"ranges_compared\":" << r.ranges_compared << ",\"bytes_sent\":" << r.bytes_sent
      << ",\"bytes_received\":" << r.bytes_received << ",\"duration_millis\":" << r.duration_millis << "}";
  }
  o << "]}";
  return o.str();
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
    << ",\"bootstrap\":" << BootstrapJson(st.bootstrap) << ",\"retention\":" << RetentionJson(st.retention)
    << ",\"gc\":" << GcJson(st.gc, st.replica)
    << ",\"anti_entropy\":[";
  for (size_t i = 0; i < st.anti_entropy.size(); ++i) o << (i > 0 ? "," : "") << AntiEntropyJson(st.anti_entropy[i]);
  o << "],\"peers\":[";
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
  gauge("syncline_snapshot_installing", "1 while a snapshot is partly installed (the node serves nothing).",
        st.bootstrap.installing ? 1 : 0);
  gauge("syncline_snapshot_installed_keys", "Keys installed by the current or last snapshot install.",
        st.bootstrap.keys_installed);
  counter("syncline_snapshot_corrupt_chunks_total", "Snapshot chunks refused and fetched again.",
          st.bootstrap.corrupt_chunks);
  counter("syncline_snapshot_voided_chunks_total",
          "Snapshot chunks refused because their source holds changes the current epoch voids.",
          st.bootstrap.voided_chunks);
  counter("syncline_snapshots_completed_total", "Snapshots fully installed since start.", st.bootstrap.completed);
  counter("syncline_log_truncated_changes_total", "Changes dropped from the log by retention.",
          st.retention.truncated_total);
  o << "# HELP syncline_log_low_counter Lowest counter of an origin still in the log.\n"
       "# TYPE syncline_log_low_counter gauge\n";
  for (const auto& b : st.retention.log.origins) {
    o << "syncline_log_low_counter{origin=\"" << b.origin.ToString() << "\"} " << b.low << "\n";
  }
  o << "# HELP syncline_retention_horizon Stability horizon per origin: counters every known peer acknowledged.\n"
       "# TYPE syncline_retention_horizon gauge\n";
  for (const auto& [origin, counter_value] : st.retention.horizon.entries()) {
    o << "syncline_retention_horizon{origin=\"" << origin.ToString() << "\"} " << counter_value << "\n";
  }
  o << "# HELP syncline_gc_horizon Stability horizon of the last garbage collection, per origin.\n"
       "# TYPE syncline_gc_horizon gauge\n";
  for (const auto& [origin, counter_value] : st.gc.horizon.entries()) {
    o << "syncline_gc_horizon{origin=\"" << origin.ToString() << "\"} " << counter_value << "\n";
  }
  counter("syncline_gc_passes_total", "Garbage collection passes completed over the data table.", st.gc.passes);
  counter("syncline_gc_keys_scanned_total", "Keys looked at by garbage collection.", st.gc.scanned_total);
  counter("syncline_gc_keys_removed_total", "Tombstones and empty states removed below the stability horizon.",
          st.gc.removed_total);
  counter("syncline_gc_metadata_dropped_total", "Pieces of causal metadata dropped from kept states.",
          st.gc.dropped_total);
  counter("syncline_gc_stale_states_skipped_total",
          "Peer states for keys collected here, recognised as stale and not merged back.",
          st.replica.stale_states_skipped);
  counter("syncline_gc_stale_keys_dropped_total",
          "Local keys a snapshot install dropped: the source had seen all their changes and collected them.",
          st.replica.stale_keys_dropped);
  gauge("syncline_gc_fenced_peers", "Peers fenced for staying away longer than the horizon waits.", st.gc.fenced.size());
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
  auto per_peer_ae = [&](const char* name, const char* type, const char* help, auto field) {
    o << "# HELP " << name << " " << help << "\n# TYPE " << name << " " << type << "\n";
    for (const auto& a : st.anti_entropy) o << name << "{peer=\"" << Label(a.node_id) << "\"} " << field(a) << "\n";
  };
  using Ae = replication::AntiEntropyPeerStatus;
  per_peer_ae("syncline_anti_entropy_sessions_total", "counter", "Anti-entropy sessions completed with the peer.",
              [](const Ae& a) { return a.sessions_completed; });
  per_peer_ae("syncline_anti_entropy_sessions_failed_total", "counter",
              "Anti-entropy sessions with the peer that failed (timeout, refusal, bad frame, disconnect).",
              [](const Ae& a) { return a.sessions_failed; });
  per_peer_ae("syncline_anti_entropy_ranges_compared_total", "counter", "Range fingerprints compared with the peer.",
              [](const Ae& a) { return a.ranges_compared; });
  per_peer_ae("syncline_anti_entropy_keys_fetched_total", "counter", "States fetched from the peer and merged here.",
              [](const Ae& a) { return a.keys_fetched; });
  per_peer_ae("syncline_anti_entropy_keys_sent_total", "counter", "States sent to the peer for its repair.",
              [](const Ae& a) { return a.keys_sent; });
  per_peer_ae("syncline_anti_entropy_sent_bytes_total", "counter", "Anti-entropy payload bytes sent to the peer.",
              [](const Ae& a) { return a.bytes_sent; });
  per_peer_ae("syncline_anti_entropy_received_bytes_total", "counter",
              "Anti-entropy payload bytes received from the peer.", [](const Ae& a) { return a.bytes_received; });
  per_peer_ae("syncline_anti_entropy_bad_frames_total", "counter", "Anti-entropy frames from the peer refused.",
              [](const Ae& a) { return a.bad_frames; });
  per_peer_ae("syncline_anti_entropy_divergence_keys", "gauge",
              "Keys found different by the last completed session with the peer (need + have).",
              [](const Ae& a) { return a.divergence; });
  per_peer_ae("syncline_anti_entropy_last_session_timestamp_seconds", "gauge",
              "Unix time the last completed anti-entropy session with the peer ended (0: never).",
              [](const Ae& a) { return a.last_session_unix_millis / 1000; });
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
  // Runs an anti-entropy session now with every connected peer, or with ?peer=<node id>, and
  // answers when they ended: 200 when every session completed, 502 otherwise (the JSON says why).
  server->Post("/anti-entropy", [node](const httplib::Request& req, httplib::Response& res) {
    auto runs = node->RunAntiEntropy(req.has_param("peer") ? req.get_param_value("peer") : std::string());
    bool ok = runs.ok();
    if (ok) {
      for (const auto& r : *runs) ok = ok && r.status.ok();
    }
    res.status = ok ? 200 : 502;
    res.set_content(AntiEntropyRunsJson(runs) + "\n", "application/json");
  });
}

}  // namespace syncline::daemon
