// syncline set add|remove COLLECTION KEY ELEMENT: changes an add-wins set.
#include "cli.h"

namespace syncline::cli {

void RegisterSet(CLI::App& app, Globals& g, int* exit_code) {
  auto* cmd = app.add_subcommand("set", "change a set");
  cmd->require_subcommand(1);
  for (const char* verb : {"add", "remove"}) {
    auto* sub = cmd->add_subcommand(verb, std::string(verb) == "add" ? "add an element" : "remove an element");
    auto collection = std::make_shared<std::string>();
    auto key = std::make_shared<std::string>();
    auto element = std::make_shared<std::string>();
    sub->add_option("collection", *collection, "collection")->required();
    sub->add_option("key", *key, "key")->required();
    sub->add_option("element", *element, "element")->required();
    bool add = std::string(verb) == "add";
    sub->callback([&g, exit_code, collection, key, element, add] {
      *exit_code = RunWrite(g, *collection, *key,
                            add ? replication::WriteOp::AddElement(*element) : replication::WriteOp::RemoveElement(*element));
    });
  }
}

}  // namespace syncline::cli
