// syncline watch: prints a node's change feed in the node's commit order, one change per line
// (or one JSON object per line with --json), from the oldest kept entry, a position (--from) or a
// registered consumer's cursor (--cursor, advanced after each batch); --follow keeps polling.
#include <cstdio>
#include <string>

#include "cli.h"

namespace syncline::cli {

namespace {

std::string ChangeJson(const FeedChange& c) {
  return "{\"seq\":" + std::to_string(c.seq) + ",\"collection\":" + JsonString(c.collection) +
         ",\"key\":" + JsonString(c.key) + ",\"origin\":" + JsonString(c.dot.replica.ToString()) +
         ",\"counter\":" + std::to_string(c.dot.counter) + ",\"hlc\":" + std::to_string(c.hlc.Pack()) +
         ",\"resolver\":" + JsonString(c.resolver) + ",\"local\":" + (c.local ? "true" : "false") +
         ",\"value\":" + JsonString(c.rendered) + ",\"state\":" + (c.state ? "true" : "false") +
         ",\"dropped\":" + (c.dropped ? "true" : "false") + "}";
}

}  // namespace

void RegisterWatch(CLI::App& app, Globals& g, int* exit_code) {
  auto* cmd = app.add_subcommand("watch", "print the change feed of a node in commit order");
  auto opts = std::make_shared<WatchOptions>();
  auto from = std::make_shared<uint64_t>(0);
  auto* from_opt = cmd->add_option("--from", *from, "start after this feed position (default: the oldest kept)");
  auto* cursor_opt = cmd->add_option("--cursor", opts->cursor, "read after this consumer's cursor and advance it (registers it if new)");
  cmd->add_flag("--follow,-f", opts->follow, "keep printing new changes");
  cmd->add_option("--limit", opts->limit, "stop after this many changes");
  cmd->add_option("--poll-ms", opts->poll_millis, "wait between polls when caught up")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--batch", opts->batch_entries, "changes per request")->capture_default_str()->check(CLI::Range(1, 10000));
  from_opt->excludes(cursor_opt);
  cmd->callback([&g, exit_code, opts, from, from_opt] {
    WatchOptions o = *opts;
    if (from_opt->count() > 0) {
      o.from_oldest = false;
      o.after = *from;
    }
    auto client = ConnectOne(g);
    if (!client.ok()) {
      *exit_code = Fail("connect", client.status());
      return;
    }
    bool json = g.json;
    Status s = WatchFeed(**client, o, [json](const FeedChange& c) {
      if (json) {
        std::printf("%s\n", ChangeJson(c).c_str());
      } else {
        // A state entry has no dot: it names where it came from instead.
        std::string dot = c.state ? std::string("merged")
                                  : c.dot.replica.ToString() + ":" + std::to_string(c.dot.counter);
        std::printf("%llu\t%s\t%s\t%s\t%s%s\n", static_cast<unsigned long long>(c.seq), dot.c_str(),
                    c.collection.c_str(), c.key.c_str(), c.rendered.c_str(),
                    c.dropped ? "\t(dropped: collected at its source)"
                    : c.state ? "\t(state merged from a peer)"
                    : c.local ? ""
                              : "\t(replicated)");
      }
      std::fflush(stdout);
      return true;
    });
    if (!s.ok()) {
      *exit_code = Fail("watch " + (*client)->address(), s);
      return;
    }
    *exit_code = kExitOk;
  });
}

}  // namespace syncline::cli
