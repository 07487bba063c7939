// syncline counter add|sub COLLECTION KEY AMOUNT: changes a PN-counter.
#include "cli.h"

namespace syncline::cli {

void RegisterCounter(CLI::App& app, Globals& g, int* exit_code) {
  auto* cmd = app.add_subcommand("counter", "change a counter");
  cmd->require_subcommand(1);
  for (const char* verb : {"add", "sub"}) {
    auto* sub = cmd->add_subcommand(verb, std::string(verb) == "add" ? "increment" : "decrement");
    auto collection = std::make_shared<std::string>();
    auto key = std::make_shared<std::string>();
    auto amount = std::make_shared<int64_t>(1);
    sub->add_option("collection", *collection, "collection")->required();
    sub->add_option("key", *key, "key")->required();
    sub->add_option("amount", *amount, "amount (default 1)")->check(CLI::PositiveNumber);
    bool negate = std::string(verb) == "sub";
    sub->callback([&g, exit_code, collection, key, amount, negate] {
      *exit_code = RunWrite(g, *collection, *key, replication::WriteOp::Add(negate ? -*amount : *amount));
    });
  }
}

}  // namespace syncline::cli
