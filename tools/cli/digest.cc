// syncline digest: the state digest of every node of the cluster file (or --node); equal digests
// mean equal logical state. Exit 0 when all that answered agree, 2 when they differ or one failed.
#include "cli.h"

namespace syncline::cli {

void RegisterDigest(CLI::App& app, Globals& g, int* exit_code) {
  auto* cmd = app.add_subcommand("digest", "print each node's state digest");
  cmd->callback([&g, exit_code] {
    auto targets = Targets(g, true);
    if (!targets.ok()) {
      *exit_code = Fail("targets", targets.status());
      return;
    }
    std::vector<std::vector<std::string>> rows;
    std::string json = "[";
    std::set<std::string> distinct;
    int code = kExitOk;
    for (const auto& t : *targets) {
      auto client = Client::Connect(t.client, g.timeout_millis);
      Result<std::string> d = client.ok() ? (*client)->Digest() : Result<std::string>(client.status());
      std::string text = d.ok() ? *d : "error: " + d.status().ToString();
      if (d.ok()) {
        distinct.insert(*d);
      } else {
        code = std::max(code, ExitCode(d.status()));
      }
      rows.push_back({t.id, text});
      json += (json.size() > 1 ? "," : "") + std::string("{\"node_id\":") + JsonString(t.id) + ",\"digest\":" + JsonString(text) + "}";
    }
    if (distinct.size() > 1) code = std::max(code, kExitFailed);
    if (g.json) {
      std::printf("%s]\n", json.c_str());
    } else {
      PrintTable({"NODE", "DIGEST"}, rows);
      std::printf("%s\n", distinct.size() == 1 && code == kExitOk ? "all equal" : "DIFFERENT");
    }
    *exit_code = code;
  });
}

}  // namespace syncline::cli
