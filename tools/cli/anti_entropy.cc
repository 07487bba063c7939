// syncline anti-entropy [--peer ID]: runs an anti-entropy session now on every node of the cluster
// file (or --node) with each of its connected peers (or --peer), and prints what each session
// compared and repaired (docs/anti-entropy.md). Exit 0 when every session completed, 2 when one
// failed or a node could not run any (no peer connected), 3 when a node did not answer in time.
#include <algorithm>

#include "cli.h"

namespace syncline::cli {

namespace {

// A session compares fingerprints over ranges, then pulls what differs; it may take long, and
// the node gives up on a silent peer after anti_entropy.session_timeout_millis (30 s by default).
constexpr int64_t kMinWaitMillis = 65000;

std::string RunJson(const replication::AntiEntropyRun& r) {
  return "{\"peer\":" + JsonString(r.peer) + ",\"ok\":" + (r.status.ok() ? "true" : "false") +
         ",\"error\":" + JsonString(r.status.ok() ? std::string() : r.status.ToString()) +
         ",\"session_id\":" + std::to_string(r.session_id) + ",\"need\":" + std::to_string(r.need) +
         ",\"have\":" + std::to_string(r.have) + ",\"keys_fetched\":" + std::to_string(r.keys_fetched) +
         ",\"keys_sent\":" + std::to_string(r.keys_sent) + ",\"peer_keys_fetched\":" + std::to_string(r.peer_keys_fetched) +
         ",\"ranges_compared\":" + std::to_string(r.ranges_compared) + ",\"bytes_sent\":" + std::to_string(r.bytes_sent) +
         ",\"bytes_received\":" + std::to_string(r.bytes_received) +
         ",\"duration_millis\":" + std::to_string(r.duration_millis) + "}";
}

int Run(const Globals& g, const std::string& peer) {
  auto targets = Targets(g, true);
  if (!targets.ok()) return Fail("targets", targets.status());
  std::vector<std::vector<std::string>> rows;
  std::string json = "[";
  int code = kExitOk;
  for (const auto& t : *targets) {
    auto client = Client::Connect(t.client, std::max(g.timeout_millis, kMinWaitMillis));
    auto runs = client.ok() ? (*client)->RunAntiEntropy(peer)
                            : Result<std::vector<replication::AntiEntropyRun>>(client.status());
    json += (json.size() > 1 ? "," : "") + std::string("{\"node_id\":") + JsonString(t.id);
    if (!runs.ok()) {
      code = std::max(code, ExitCode(runs.status()));
      rows.push_back({t.id, "-", "error: " + runs.status().ToString(), "", "", "", "", "", "", ""});
      json += ",\"error\":" + JsonString(runs.status().ToString()) + ",\"sessions\":[]}";
      continue;
    }
    json += ",\"sessions\":[";
    for (size_t i = 0; i < runs->size(); ++i) {
      const auto& r = (*runs)[i];
      if (!r.status.ok()) code = std::max(code, ExitCode(r.status));
      rows.push_back({t.id, r.peer, r.status.ok() ? "completed" : "failed: " + r.status.ToString(),
                      std::to_string(r.need), std::to_string(r.have), std::to_string(r.keys_fetched),
                      std::to_string(r.keys_sent), std::to_string(r.ranges_compared),
                      std::to_string(r.bytes_sent + r.bytes_received), std::to_string(r.duration_millis)});
      json += (i ? "," : "") + RunJson(r);
    }
    json += "]}";
  }
  if (g.json) {
    std::printf("%s]\n", json.c_str());
  } else {
    PrintTable({"NODE", "PEER", "SESSION", "NEED", "HAVE", "FETCHED", "SENT", "RANGES", "BYTES", "MS"}, rows);
  }
  return code;
}

}  // namespace

void RegisterAntiEntropy(CLI::App& app, Globals& g, int* exit_code) {
  auto* cmd = app.add_subcommand(
      "anti-entropy",
      "run an anti-entropy session now on each node (or --node) with its connected peers: compare, repair, report");
  auto peer = std::make_shared<std::string>();
  cmd->add_option("--peer", *peer, "only the session with this peer (a node id)");
  cmd->callback([&g, exit_code, peer] { *exit_code = Run(g, *peer); });
}

}  // namespace syncline::cli
