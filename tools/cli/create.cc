// syncline create COLLECTION RESOLVER: creates a collection on a node (it reaches the others with
// its first change; create it on every node that takes writes for it before writing there).
#include "cli.h"

namespace syncline::cli {

void RegisterCreate(CLI::App& app, Globals& g, int* exit_code) {
  auto* cmd = app.add_subcommand("create", "create a collection (lww, mv, counter, set, map or a custom resolver)");
  auto name = std::make_shared<std::string>();
  auto resolver = std::make_shared<std::string>();
  auto all = std::make_shared<bool>(false);
  cmd->add_option("collection", *name, "collection name")->required();
  cmd->add_option("resolver", *resolver, "resolver")->required();
  cmd->add_flag("--all", *all, "create it on every node of the cluster file");
  cmd->callback([&g, exit_code, name, resolver, all] {
    auto targets = Targets(g, *all);
    if (!targets.ok()) {
      *exit_code = Fail("targets", targets.status());
      return;
    }
    for (const auto& t : *targets) {
      auto client = Client::Connect(t.client, g.timeout_millis);
      if (!client.ok()) {
        *exit_code = Fail("connect to " + t.id, client.status());
        return;
      }
      Status s = (*client)->CreateCollection(*name, *resolver);
      if (!s.ok()) {
        *exit_code = Fail("create " + *name + " on " + t.id, s);
        return;
      }
    }
    if (!g.json) std::printf("ok\n");
    if (g.json) std::printf("{\"ok\":true}\n");
    *exit_code = kExitOk;
  });
}

}  // namespace syncline::cli
