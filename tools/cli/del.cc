// syncline del COLLECTION KEY: deletes a register (a timestamped tombstone for lww; for mv, a
// delete of the siblings the node holds now).
#include "cli.h"

namespace syncline::cli {

void RegisterDel(CLI::App& app, Globals& g, int* exit_code) {
  auto* cmd = app.add_subcommand("del", "delete a register");
  auto collection = std::make_shared<std::string>();
  auto key = std::make_shared<std::string>();
  cmd->add_option("collection", *collection, "collection")->required();
  cmd->add_option("key", *key, "key")->required();
  cmd->callback([&g, exit_code, collection, key] {
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
    *exit_code = RunWrite(g, *collection, *key, replication::WriteOp::Delete(r->token));
  });
}

}  // namespace syncline::cli
