// syncline put COLLECTION KEY VALUE: writes a register (lww, mv or a value resolver). For mv the
// write replaces the siblings the node holds now (it reads the context token first), unless
// --blind, which adds a sibling concurrent with them.
#include "cli.h"

namespace syncline::cli {

void RegisterPut(CLI::App& app, Globals& g, int* exit_code) {
  auto* cmd = app.add_subcommand("put", "write a value to a register (lww, mv, custom)");
  auto collection = std::make_shared<std::string>();
  auto key = std::make_shared<std::string>();
  auto value = std::make_shared<std::string>();
  auto blind = std::make_shared<bool>(false);
  cmd->add_option("collection", *collection, "collection")->required();
  cmd->add_option("key", *key, "key")->required();
  cmd->add_option("value", *value, "value")->required();
  cmd->add_flag("--blind", *blind, "mv: do not resolve the current siblings");
  cmd->callback([&g, exit_code, collection, key, value, blind] {
    VersionVector token;
    if (!*blind) {
      auto client = ConnectOne(g);
      if (!client.ok()) {
        *exit_code = Fail("connect", client.status());
        return;
      }
      auto r = (*client)->Read(*collection, *key);
      if (!r.ok()) {
        *exit_code = Fail("read " + *collection + "/" + *key, r.status());
        return;
      }
      token = r->token;
    }
    *exit_code = RunWrite(g, *collection, *key, replication::WriteOp::Put(*value, token));
  });
}

}  // namespace syncline::cli
