// syncline status: node, mode, role, epoch, version vector, counters and per-peer lag of every node
// of the cluster file (or the one --node names), with log, collection, anti-entropy and feed
// tables when they have something to say.
#include <algorithm>
#include <chrono>

#include "cli.h"

namespace syncline::cli {

namespace {

std::string StatusJson(const RemoteStatus& s) {
  std::string o = "{\"node_id\":" + JsonString(s.node_id) + ",\"replica_id\":" + JsonString(s.replica_id) +
                  ",\"mode\":" + JsonString(s.mode) + ",\"role\":" + JsonString(s.role) +
                  ",\"epoch\":" + std::to_string(s.epoch) + ",\"leader\":" + JsonString(s.leader) +
                  ",\"leader_client\":" + JsonString(s.leader_client) + ",\"behind_leader\":" + std::to_string(s.behind_leader) +
                  ",\"orphaned\":" + std::to_string(s.orphaned) + ",\"pending_acks\":" + std::to_string(s.pending_acks) +
                  ",\"context\":" + JsonString(s.context) +
                  ",\"local_writes\":" + std::to_string(s.local_writes) +
                  ",\"changes_applied\":" + std::to_string(s.changes_applied) +
                  ",\"conflicts\":" + std::to_string(s.conflicts) + ",\"duplicates\":" + std::to_string(s.duplicates) +
                  ",\"peer_address\":" + JsonString(s.peer_address) + ",\"client_address\":" + JsonString(s.client_address) +
                  ",\"collections\":{";
  bool first = true;
  for (const auto& [k, v] : s.collections) {
    o += (first ? "" : ",") + JsonString(k) + ":" + JsonString(v);
    first = false;
  }
  o += "},\"peers\":[";
  for (size_t i = 0; i < s.peers.size(); ++i) {
    const auto& p = s.peers[i];
    o += (i ? "," : "") + std::string("{\"node_id\":") + JsonString(p.node_id) + ",\"address\":" + JsonString(p.address) +
         ",\"subscribed\":" + (p.subscribed ? "true" : "false") + ",\"lag_changes\":" + std::to_string(p.lag_changes) +
         ",\"acknowledged\":" + JsonString(p.acknowledged) + ",\"changes_sent\":" + std::to_string(p.changes_sent) +
         ",\"changes_received\":" + std::to_string(p.changes_received) + "}";
  }
  o += "],\"bootstrap\":{\"installing\":" + std::string(s.installing ? "true" : "false") +
       ",\"source\":" + JsonString(s.snapshot_source) +
       ",\"keys_installed\":" + std::to_string(s.snapshot_keys_installed) +
       ",\"completed\":" + std::to_string(s.snapshots_completed) +
       ",\"corrupt_chunks\":" + std::to_string(s.snapshot_corrupt_chunks) + "},\"retention\":{\"horizon\":" +
       (s.retention_horizon.empty() ? std::string("null") : JsonString(s.retention_horizon)) +
       ",\"truncated\":" + std::to_string(s.log_truncated) + ",\"log\":[";
  for (size_t i = 0; i < s.log.size(); ++i) {
    const auto& l = s.log[i];
    o += (i ? "," : "") + std::string("{\"origin\":") + JsonString(l.origin) + ",\"low\":" + std::to_string(l.low) +
         ",\"high\":" + std::to_string(l.high) + ",\"floor\":" + std::to_string(l.floor) + "}";
  }
  o += "]},\"gc\":{\"horizon\":" + (s.gc_horizon.empty() ? std::string("null") : JsonString(s.gc_horizon)) +
       ",\"passes\":" + std::to_string(s.gc_passes) + ",\"removed\":" + std::to_string(s.gc_removed) +
       ",\"stale_skipped\":" + std::to_string(s.gc_stale_skipped) +
       ",\"stale_dropped\":" + std::to_string(s.gc_stale_dropped) + ",\"fenced\":[";
  for (size_t i = 0; i < s.fenced_peers.size(); ++i) o += (i ? "," : "") + JsonString(s.fenced_peers[i]);
  o += "]},\"anti_entropy\":[";
  for (size_t i = 0; i < s.anti_entropy.size(); ++i) {
    const auto& a = s.anti_entropy[i];
    o += (i ? "," : "") + std::string("{\"peer\":") + JsonString(a.node_id) + ",\"active\":" + (a.active ? "true" : "false") +
         ",\"sessions_started\":" + std::to_string(a.sessions_started) +
         ",\"sessions_completed\":" + std::to_string(a.sessions_completed) +
         ",\"sessions_failed\":" + std::to_string(a.sessions_failed) + ",\"keys_fetched\":" + std::to_string(a.keys_fetched) +
         ",\"keys_sent\":" + std::to_string(a.keys_sent) + ",\"bad_frames\":" + std::to_string(a.bad_frames) +
         ",\"last_session_unix_millis\":" + std::to_string(a.last_session_unix_millis) +
         ",\"last_need\":" + std::to_string(a.last_need) + ",\"last_have\":" + std::to_string(a.last_have) +
         ",\"last_error\":" + JsonString(a.last_error) + "}";
  }
  o += "],\"feed\":{\"head\":" + std::to_string(s.feed_head) +
       ",\"pruned_through\":" + std::to_string(s.feed_pruned_through) + ",\"consumers\":[";
  for (size_t i = 0; i < s.feed_consumers.size(); ++i) {
    const auto& c = s.feed_consumers[i];
    o += (i ? "," : "") + std::string("{\"name\":") + JsonString(c.name) + ",\"cursor\":" + std::to_string(c.cursor) +
         ",\"lag\":" + std::to_string(c.lag) + "}";
  }
  return o + "]}}";
}

}  // namespace

void RegisterStatus(CLI::App& app, Globals& g, int* exit_code) {
  auto* cmd = app.add_subcommand("status", "show node, mode, role, epoch, version vector and per-peer lag");
  cmd->callback([&g, exit_code] {
    auto targets = Targets(g, true);
    if (!targets.ok()) {
      *exit_code = Fail("targets", targets.status());
      return;
    }
    std::vector<std::string> json;
    std::vector<std::vector<std::string>> rows, peer_rows, feed_rows, log_rows, gc_rows, ae_rows;
    const int64_t now_millis = std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count();
    int code = kExitOk;
    for (const auto& t : *targets) {
      auto client = Client::Connect(t.client, g.timeout_millis);
      Result<RemoteStatus> st = client.ok() ? (*client)->GetStatus() : Result<RemoteStatus>(client.status());
      if (!st.ok()) {
        code = std::max(code, ExitCode(st.status()));
        if (g.json) {
          json.push_back("{\"node_id\":" + JsonString(t.id) + ",\"error\":" + JsonString(st.status().ToString()) + "}");
        } else {
          rows.push_back({t.id, "unreachable: " + st.status().message(), "", "", "", "", "", "", "", ""});
        }
        continue;
      }
      if (g.json) {
        json.push_back(StatusJson(*st));
        continue;
      }
      std::string leader = st->leader.empty() ? "-" : st->leader;
      std::string behind = st->role == "follower" ? std::to_string(st->behind_leader) : "-";
      rows.push_back({st->node_id, st->mode, st->role, std::to_string(st->epoch), leader, behind,
                      std::to_string(st->local_writes), std::to_string(st->changes_applied),
                      std::to_string(st->conflicts) + (st->orphaned > 0 ? " (" + std::to_string(st->orphaned) + " orphaned)" : ""),
                      st->context});
      for (const auto& l : st->log) {
        log_rows.push_back({st->node_id, l.origin, std::to_string(l.low), std::to_string(l.high), std::to_string(l.floor),
                            st->retention_horizon.empty() ? "-" : st->retention_horizon});
      }
      if (st->installing) {
        log_rows.push_back({st->node_id, "(installing a snapshot from " + st->snapshot_source + ": " +
                                             std::to_string(st->snapshot_keys_installed) + " keys; serves nothing)",
                            "", "", "", ""});
      }
      if (!st->gc_horizon.empty() || !st->fenced_peers.empty()) {
        std::string fenced;
        for (const auto& p : st->fenced_peers) fenced += (fenced.empty() ? "" : ",") + p;
        gc_rows.push_back({st->node_id, st->gc_horizon.empty() ? "-" : st->gc_horizon, std::to_string(st->gc_passes),
                           std::to_string(st->gc_removed),
                           std::to_string(st->gc_stale_skipped) + "/" + std::to_string(st->gc_stale_dropped),
                           fenced.empty() ? "-" : fenced});
      }
      for (const auto& a : st->anti_entropy) {
        if (a.sessions_started == 0 && a.bad_frames == 0) continue;
        std::string last = a.last_session_unix_millis == 0
                               ? "-"
                               : std::to_string(std::max<int64_t>(0, now_millis - a.last_session_unix_millis) / 1000) +
                                     " s ago";
        ae_rows.push_back({st->node_id, a.node_id + (a.active ? " (running)" : ""),
                           std::to_string(a.sessions_completed) + "/" + std::to_string(a.sessions_failed), last,
                           a.last_session_unix_millis == 0 ? "-"
                                                           : std::to_string(a.last_need) + "/" + std::to_string(a.last_have),
                           std::to_string(a.keys_fetched) + "/" + std::to_string(a.keys_sent), std::to_string(a.bad_frames),
                           a.last_error.empty() ? "-" : a.last_error});
      }
      for (const auto& c : st->feed_consumers) {
        feed_rows.push_back({st->node_id, c.name, std::to_string(c.cursor), std::to_string(st->feed_head),
                             std::to_string(c.lag)});
      }
      for (const auto& p : st->peers) {
        peer_rows.push_back({st->node_id, p.node_id, p.subscribed ? "yes" : "no", std::to_string(p.lag_changes),
                             std::to_string(p.changes_sent), std::to_string(p.changes_received)});
      }
    }
    if (g.json) {
      std::string out = "[";
      for (size_t i = 0; i < json.size(); ++i) out += (i ? "," : "") + json[i];
      std::printf("%s]\n", out.c_str());
    } else {
      PrintTable({"NODE", "MODE", "ROLE", "EPOCH", "LEADER", "BEHIND", "WRITES", "APPLIED", "CONFLICTS", "VERSION VECTOR"},
                 rows);
      if (!peer_rows.empty()) {
        std::printf("\n");
        PrintTable({"NODE", "PEER", "SUBSCRIBED", "LAG (changes)", "SENT", "RECEIVED"}, peer_rows);
      }
      if (!log_rows.empty()) {
        std::printf("\n");
        PrintTable({"NODE", "LOG ORIGIN", "LOW", "HIGH", "FLOOR", "HORIZON"}, log_rows);
      }
      if (!gc_rows.empty()) {
        std::printf("\n");
        PrintTable({"NODE", "GC HORIZON", "PASSES", "REMOVED", "STALE SKIPPED/DROPPED", "FENCED"}, gc_rows);
      }
      if (!ae_rows.empty()) {
        std::printf("\n");
        PrintTable({"NODE", "ANTI-ENTROPY PEER", "COMPLETED/FAILED", "LAST", "NEED/HAVE", "FETCHED/SENT", "BAD FRAMES",
                    "LAST ERROR"},
                   ae_rows);
      }
      if (!feed_rows.empty()) {
        std::printf("\n");
        PrintTable({"NODE", "FEED CONSUMER", "CURSOR", "HEAD", "LAG (changes)"}, feed_rows);
      }
    }
    *exit_code = code;
  });
}

}  // namespace syncline::cli
