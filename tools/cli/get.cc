// syncline get COLLECTION KEY: reads a key of any type and prints its value (siblings of an mv
// register, a counter's value, a set's elements, a map's fields).
#include "cli.h"

namespace syncline::cli {

void RegisterGet(CLI::App& app, Globals& g, int* exit_code) {
  auto* cmd = app.add_subcommand("get", "read a key");
  auto collection = std::make_shared<std::string>();
  auto key = std::make_shared<std::string>();
  cmd->add_option("collection", *collection, "collection")->required();
  cmd->add_option("key", *key, "key")->required();
  cmd->callback([&g, exit_code, collection, key] { *exit_code = RunRead(g, *collection, *key); });
}

}  // namespace syncline::cli
