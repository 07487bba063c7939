// syncline get COLLECTION KEY [--after ORIGIN:COUNTER [--wait-ms MS]]: reads a key of any type
// and prints its value (siblings of an mv register, a counter's value, a set's elements, a map's
// fields). --after makes it a read-your-writes read: the node answers once it holds that change
// (what `put` and the other writes print as "change ORIGIN:COUNTER"), or fails after the wait.
#include <cstdio>
#include <string>

#include "cli.h"

namespace syncline::cli {

// "ORIGIN:COUNTER" (origin in hex, as writes print it) as a dot; InvalidArgument naming the text.
Result<Dot> ParseChange(const std::string& text) {
  size_t colon = text.find(':');
  auto bad = [&text](const std::string& why) {
    return Status::InvalidArgument("--after '" + text + "': " + why + " (expected ORIGIN:COUNTER, e.g. 3f2a9c0e1b7d4a55:12)");
  };
  if (colon == std::string::npos) return bad("no ':'");
  auto origin = ReplicaId::Parse(text.substr(0, colon));
  if (!origin.ok() || !origin->valid()) return bad("the origin is not a replica id");
  std::string digits = text.substr(colon + 1);
  if (digits.empty() || digits.size() > 19 || digits.find_first_not_of("0123456789") != std::string::npos) {
    return bad("the counter is not a number");
  }
  uint64_t counter = std::stoull(digits);
  if (counter == 0) return bad("the counter starts at 1");
  return Dot{*origin, counter};
}

void RegisterGet(CLI::App& app, Globals& g, int* exit_code) {
  auto* cmd = app.add_subcommand("get", "read a key");
  auto collection = std::make_shared<std::string>();
  auto key = std::make_shared<std::string>();
  auto after = std::make_shared<std::string>();
  auto wait_ms = std::make_shared<int64_t>(5000);
  cmd->add_option("collection", *collection, "collection")->required();
  cmd->add_option("key", *key, "key")->required();
  cmd->add_option("--after", *after,
                  "read-your-writes: answer once the node holds this change (ORIGIN:COUNTER, as a write prints it)");
  cmd->add_option("--wait-ms", *wait_ms, "with --after: how long the node may wait for it (at most 60000)")
      ->check(CLI::Range(int64_t{1}, int64_t{60000}));
  cmd->callback([&g, exit_code, collection, key, after, wait_ms] {
    ReadOptions options;
    if (!after->empty()) {
      auto dot = ParseChange(*after);
      if (!dot.ok()) {
        std::fprintf(stderr, "syncline: %s\n", dot.status().message().c_str());
        *exit_code = kExitUsage;
        return;
      }
      options.min_version = *dot;
      options.wait_millis = *wait_ms;
    }
    *exit_code = RunRead(g, *collection, *key, options);
  });
}

}  // namespace syncline::cli
