// syncline dump [COLLECTION]: every key of a node (of one collection, or all) in canonical sorted
// order with its resolved value. Two converged nodes print the same dump.
#include "cli.h"

namespace syncline::cli {

void RegisterDump(CLI::App& app, Globals& g, int* exit_code) {
  auto* cmd = app.add_subcommand("dump", "print every key and value of a node, sorted");
  auto collection = std::make_shared<std::string>();
  cmd->add_option("collection", *collection, "only this collection");
  cmd->callback([&g, exit_code, collection] {
    auto client = ConnectOne(g);
    if (!client.ok()) {
      *exit_code = Fail("connect", client.status());
      return;
    }
    std::vector<DumpEntry> entries;
    Status s = (*client)->Dump(*collection, &entries);
    if (!s.ok()) {
      *exit_code = Fail("dump", s);
      return;
    }
    if (g.json) {
      std::string out = "[";
      for (size_t i = 0; i < entries.size(); ++i) {
        out += (i ? "," : "") + std::string("{\"collection\":") + JsonString(entries[i].collection) +
               ",\"key\":" + JsonString(entries[i].key) + ",\"value\":" + JsonString(entries[i].rendered) + "}";
      }
      std::printf("%s]\n", out.c_str());
    } else {
      for (const auto& e : entries) std::printf("%s\t%s\t%s\n", e.collection.c_str(), e.key.c_str(), e.rendered.c_str());
    }
    *exit_code = kExitOk;
  });
}

}  // namespace syncline::cli
