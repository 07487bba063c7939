// syncline verify [NODE...] [--wait SECONDS]: whether every node (of the cluster file, or the ids
// and host:port endpoints given as arguments or with --node) reaches the same state digest within
// --wait, polling the digests. If they do not, the nodes are grouped by digest; the first node of
// the largest group (ties: the group holding the earliest node) is the reference, and each node
// outside its group is compared with it key by key (as `syncline diff`): the differing keys per
// class (at most --max-keys of them per node) and always the counts. docs/diagnostics.md.
//
// Exit codes: 0 every node answered the same digest in time; 2 they did not (or a node could not
// be reached); 1 usage.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <thread>

#include "diff_report.h"

namespace syncline::cli {

namespace {

struct Polled {
  std::vector<std::string> answer;  // per node: its digest, or "error: ..." when it did not answer
  bool equal = false;
};

Polled PollDigests(const std::vector<ClusterNode>& nodes, int64_t timeout_millis) {
  Polled p;
  std::set<std::string> distinct;
  bool all_ok = true;
  for (const auto& n : nodes) {
    auto client = Client::Connect(n.client, timeout_millis);
    Result<std::string> d = client.ok() ? (*client)->Digest() : Result<std::string>(client.status());
    all_ok = all_ok && d.ok();
    if (d.ok()) distinct.insert(*d);
    p.answer.push_back(d.ok() ? *d : "error: " + d.status().ToString());
  }
  p.equal = all_ok && distinct.size() == 1;
  return p;
}

}  // namespace

void RegisterVerify(CLI::App& app, Globals& g, int* exit_code) {
  auto* cmd = app.add_subcommand("verify", "check that every node reaches the same state; show what differs if not");
  auto names = std::make_shared<std::vector<std::string>>();
  auto wait = std::make_shared<double>(10.0);
  auto max_keys = std::make_shared<uint64_t>(20);
  cmd->add_option("nodes", *names, "nodes to check (ids of the cluster file or HOST:PORT); default: every node of the cluster file");
  cmd->add_option("--wait", *wait, "how long the nodes may take to agree, in seconds (digests polled meanwhile)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--max-keys", *max_keys, "differing keys listed per node (0: all); the counts are always complete")
      ->capture_default_str();
  cmd->callback([&g, exit_code, names, wait, max_keys] {
    std::vector<ClusterNode> nodes;
    std::vector<std::string> wanted = *names;
    if (!g.node.empty()) wanted.push_back(g.node);
    if (wanted.empty()) {
      auto all = Targets(g, true);
      if (!all.ok()) {
        Fail("verify", all.status());
        *exit_code = kExitFailed;
        return;
      }
      nodes = std::move(all).value();
    } else {
      for (const auto& w : wanted) {
        auto n = ResolveNode(g, w);
        if (!n.ok()) {
          Fail("verify", n.status());
          *exit_code = kExitFailed;
          return;
        }
        nodes.push_back(std::move(n).value());
      }
    }
    auto start = std::chrono::steady_clock::now();
    auto deadline = start + std::chrono::milliseconds(static_cast<int64_t>(*wait * 1000));
    Polled p = PollDigests(nodes, g.timeout_millis);
    while (!p.equal && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      p = PollDigests(nodes, g.timeout_millis);
    }
    auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();

    // Groups by answer, in the order of the nodes' first appearance.
    std::vector<std::pair<std::string, std::vector<size_t>>> groups;
    for (size_t i = 0; i < nodes.size(); ++i) {
      auto it = std::find_if(groups.begin(), groups.end(), [&](const auto& gr) { return gr.first == p.answer[i]; });
      if (it == groups.end()) {
        groups.push_back({p.answer[i], {i}});
      } else {
        it->second.push_back(i);
      }
    }
    // The reference: the largest group of nodes that answered (ties: the earliest).
    const std::vector<size_t>* reference = nullptr;
    for (const auto& gr : groups) {
      if (gr.first.rfind("error: ", 0) == 0) continue;
      if (reference == nullptr || gr.second.size() > reference->size()) reference = &gr.second;
    }

    std::string groups_json;
    for (const auto& gr : groups) {
      std::string members;
      for (size_t i : gr.second) members += (members.empty() ? "" : ",") + JsonString(nodes[i].id);
      groups_json += (groups_json.empty() ? "" : ",") + std::string("{\"digest\":") + JsonString(gr.first) +
                     ",\"nodes\":[" + members + "]}";
    }
    if (p.equal) {
      if (g.json) {
        std::printf("{\"converged\":true,\"waited_ms\":%lld,\"groups\":[%s],\"differing_nodes\":[],\"diffs\":[]}\n",
                    static_cast<long long>(waited), groups_json.c_str());
      } else {
        std::printf("converged: %zu nodes at digest %s\n", nodes.size(), p.answer.front().c_str());
      }
      *exit_code = kExitOk;
      return;
    }

    std::vector<size_t> differing;
    for (size_t i = 0; i < nodes.size(); ++i) {
      if (reference == nullptr || std::find(reference->begin(), reference->end(), i) == reference->end()) {
        differing.push_back(i);
      }
    }
    std::string differing_json;
    for (size_t i : differing) differing_json += (differing_json.empty() ? "" : ",") + JsonString(nodes[i].id);
    if (g.json) {
      std::printf("{\"converged\":false,\"waited_ms\":%lld,\"groups\":[%s],\"reference\":%s,\"differing_nodes\":[%s],\"diffs\":[",
                  static_cast<long long>(waited), groups_json.c_str(),
                  reference == nullptr ? "null" : JsonString(nodes[reference->front()].id).c_str(), differing_json.c_str());
    } else {
      std::printf("NOT CONVERGED after %.1f s: %zu digest groups\n", static_cast<double>(waited) / 1000.0, groups.size());
      std::vector<std::vector<std::string>> rows;
      for (const auto& gr : groups) {
        std::string members;
        for (size_t i : gr.second) members += (members.empty() ? "" : " ") + nodes[i].id;
        rows.push_back({gr.first, members});
      }
      PrintTable({"DIGEST", "NODES"}, rows);
    }
    bool first = true;
    if (reference != nullptr) {
      const ClusterNode& ref = nodes[reference->front()];
      auto ref_client = Client::Connect(ref.client, g.timeout_millis);
      for (size_t i : differing) {
        if (p.answer[i].rfind("error: ", 0) == 0) continue;  // nothing to compare with
        if (!g.json) std::printf("\n%s differs from %s:\n", nodes[i].id.c_str(), ref.id.c_str());
        auto other = Client::Connect(nodes[i].client, g.timeout_millis);
        Status s = ref_client.ok() ? Status::Ok() : ref_client.status();
        if (s.ok()) s = other.ok() ? Status::Ok() : other.status();
        if (g.json) std::printf("%s", first ? "" : ",");
        first = false;
        if (!s.ok()) {
          if (g.json) {
            std::printf("{\"a\":%s,\"b\":%s,\"error\":%s}", JsonString(ref.id).c_str(), JsonString(nodes[i].id).c_str(),
                        JsonString(s.ToString()).c_str());
          } else {
            std::printf("  cannot compare: %s\n", s.ToString().c_str());
          }
          continue;
        }
        DiffSummary summary;
        s = PrintDiff(**ref_client, **other, ref.id, nodes[i].id, "", *max_keys, g.json, &summary);
        if (!s.ok() && !g.json) std::printf("  comparison stopped: %s\n", s.ToString().c_str());
        // A broken connection to the reference cannot be reused for the next node.
        if (!s.ok()) ref_client = Client::Connect(ref.client, g.timeout_millis);
      }
    }
    if (g.json) std::printf("]}\n");
    *exit_code = kExitFailed;
  });
}

}  // namespace syncline::cli
