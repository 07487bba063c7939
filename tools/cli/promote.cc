// syncline promote [--mode leader-follower|multi-leader]: makes the node --node names the leader of
// a new epoch (docs/leader-follower.md). Exit codes: 0 it leads, 1 usage, 2 refused (not applied),
// 3 unknown (a majority did not catch up in time, or the answer was lost: the node may be a
// candidate; check `syncline status` and promote again).
#include "cli.h"

namespace syncline::cli {

void RegisterPromote(CLI::App& app, Globals& g, int* exit_code) {
  auto* cmd = app.add_subcommand("promote", "make a node the leader of a new epoch (or switch the cluster's mode)");
  auto mode = std::make_shared<std::string>("leader-follower");
  cmd->add_option("--mode", *mode, "the mode of the new epoch")
      ->check(CLI::IsMember({"leader-follower", "multi-leader"}))
      ->capture_default_str();
  cmd->callback([&g, exit_code, mode] {
    if (g.node.empty()) {
      std::fprintf(stderr, "syncline: promote: name the node to promote with --node ID|HOST:PORT\n");
      *exit_code = kExitUsage;
      return;
    }
    // Promotion waits for a majority to catch up: allow the node its own timeout and some.
    Globals local = g;
    local.timeout_millis = std::max<int64_t>(g.timeout_millis, 15000);
    auto client = ConnectOne(local);
    if (!client.ok()) {
      *exit_code = Fail("connect", client.status());
      return;
    }
    auto r = (*client)->Promote(*mode);
    if (!r.ok()) {
      *exit_code = Fail("promote " + g.node, r.status());
      return;
    }
    if (g.json) {
      std::printf("{\"ok\":true,\"epoch\":%llu,\"leader\":%s,\"mode\":%s}\n", static_cast<unsigned long long>(r->epoch),
                  JsonString(r->leader).c_str(), JsonString(r->mode).c_str());
    } else if (r->mode == "multi-leader") {
      std::printf("epoch %llu: every node leads (multi-leader)\n", static_cast<unsigned long long>(r->epoch));
    } else {
      std::printf("epoch %llu: %s leads\n", static_cast<unsigned long long>(r->epoch), r->leader.c_str());
    }
    *exit_code = kExitOk;
  });
}

}  // namespace syncline::cli
